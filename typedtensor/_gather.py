"""``tt.gather(x, axis, index)``: ``torch.gather``'s argument order for ``x.take_along_axis(index, axis)``.

One kernel for both (``typedtensor._ops.index.take_along_axis``). Where torch.gather would read a corner of
``x`` (an index smaller than ``x`` in a dim other than ``axis``) and NumPy would broadcast a size-1 dim, gather
refuses: every dim of ``index`` but ``axis`` must equal x's, so the result is the same in all three and has the
index's shape.
"""

from __future__ import annotations

from typing import Any, overload

from ._check import checked
from ._shapes import E, S, T
from ._tape import NoneTape, OwnedTape
from ._tensor import Ix, Tensor, _gather, _tensor_arg

__all__ = ["gather"]


@overload
def gather(x: Tensor[Any, E, T], axis: int, index: Tensor[S, Ix, NoneTape]) -> Tensor[S, E, T]: ...
@overload
def gather(x: Tensor[Any, E, Any], axis: int, index: Tensor[S, Ix, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
@overload
def gather(x: Tensor[Any, E, T], axis: int, index: Tensor[S, Ix, T]) -> Tensor[S, E, T]: ...
@checked
def gather(x: Tensor[Any, E, Any], axis: int, index: Tensor[S, Ix, Any]) -> Tensor[S, E, Any]:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` for ``axis=1`` (torch.gather): integer ``index`` of x's rank,
    equal to x in every dim but ``axis``, each value in ``[0, x.shape[axis])`` (a ShapeError naming the first
    bad one otherwise). The gradient scatters back into x, repeated indices accumulating; the result carries
    the index's tape too."""
    return _gather(_tensor_arg(x, "gather: x"), index, axis, "gather", exact=True)
