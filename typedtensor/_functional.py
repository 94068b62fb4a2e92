"""Functions over several tensors: concat, stack, where, maximum.

Statically, the inputs of ``concat``/``stack`` share one tape kind (trace all or none); at run time
mixed inputs are accepted and their tapes merge. With mypy, pass inputs whose first dims differ as a
tuple, ``tt.concat((a, b))``: mypy joins a list display of different types to ``object``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

from ._check import checked
from ._errors import DTypeError, ShapeError, TypedTensorError
from ._ops import elementwise as _ew
from ._ops import shape as _sh
from ._shapes import E, Rest, S, T
from ._tape import NoneTape, OwnedTape
from ._tensor import Tensor, _apply, _axis, _binary, _index, _mask, _scalar, _tensor_arg

__all__ = ["concat", "maximum", "stack", "where"]


def _same(tensors: Sequence[Tensor[Any, Any, Any]], where: str, axis: int | None) -> list[np.ndarray[Any, Any]]:
    if len(tensors) == 0:
        raise TypedTensorError(f"{where}: needs at least one tensor")
    arrays = [_tensor_arg(t, f"{where}: item {i}")._data for i, t in enumerate(tensors)]
    first = arrays[0]
    for i, a in enumerate(arrays[1:], 1):
        if a.dtype != first.dtype:
            raise DTypeError(f"{where}: tensor {i} has dtype {a.dtype.name}, tensor 0 has {first.dtype.name}")
        other = list(a.shape)
        ref = list(first.shape)
        if axis is not None and len(other) == len(ref):
            other[axis] = ref[axis] = -1
        if other != ref:
            what = "all dims but the axis" if axis is not None else "the same shape"
            raise ShapeError(f"{where}: tensor {i} has shape {a.shape}, tensor 0 has {first.shape}; need {what}")
    return arrays


@overload
def concat(
    tensors: Sequence[Tensor[tuple[Any, *Rest], E, T]], axis: Literal[0] = 0
) -> Tensor[tuple[int, *Rest], E, T]: ...
@overload
def concat(tensors: Sequence[Tensor[Any, E, T]], axis: int) -> Tensor[tuple[Any, ...], E, T]: ...
@checked
def concat(tensors: Sequence[Tensor[Any, E, Any]], axis: int = 0) -> Tensor[Any, E, Any]:
    """Join tensors of one dtype (bool masks and integer tensors too) along ``axis`` (typed for axis 0; other axes
    are checked at run time)."""
    ax = _axis(_tensor_arg(tensors[0], "concat: item 0"), axis) if tensors else 0
    arrays = _same(tensors, "concat", ax)
    return _apply(_sh.concat(arrays, ax), tuple(tensors), keep_dtype=False)  # moves values: masks too


@overload
def stack(tensors: Sequence[Tensor[tuple[*Rest], E, T]], axis: Literal[0] = 0) -> Tensor[tuple[int, *Rest], E, T]: ...
@overload
def stack(tensors: Sequence[Tensor[Any, E, T]], axis: int) -> Tensor[tuple[Any, ...], E, T]: ...
@checked
def stack(tensors: Sequence[Tensor[Any, E, Any]], axis: int = 0) -> Tensor[Any, E, Any]:
    """Stack same-shaped tensors of one dtype (bool masks and integer tensors too) along a new ``axis``."""
    arrays = _same(tensors, "stack", None)
    nd = arrays[0].ndim + 1
    axis = _index(axis, "stack: axis")
    if not -nd <= axis < nd:
        raise ShapeError(f"stack: axis {axis} is out of range for rank-{nd} output")
    return _apply(_sh.stack(arrays, axis % nd), tuple(tensors), keep_dtype=False)  # one dtype (_same): masks too


@overload
def where(
    cond: Tensor[S, np.bool_, Any], a: Tensor[S, E, T] | float, b: Tensor[S, E, NoneTape] | float
) -> Tensor[S, E, T]: ...
@overload
def where(
    cond: Tensor[S, np.bool_, Any], a: Tensor[S, E, Any] | float, b: Tensor[S, E, OwnedTape]
) -> Tensor[S, E, OwnedTape]: ...
@overload
def where(cond: Tensor[S, np.bool_, Any], a: Tensor[S, E, T], b: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
@checked
def where(
    cond: Tensor[S, np.bool_, Any], a: Tensor[S, E, Any] | float, b: Tensor[S, E, Any] | float
) -> Tensor[S, E, Any]:
    """``a`` where ``cond`` is True, else ``b``; gradients flow to the chosen places."""
    ta, tb = (a if isinstance(a, Tensor) else None), (b if isinstance(b, Tensor) else None)
    tensors = tuple(x for x in (ta, tb) if x is not None)
    if not tensors:
        raise TypedTensorError("where: at least one of a and b must be a tensor (it sets the dtype)")
    if len(tensors) == 2:
        _same(tensors, "where", None)
    mask = _mask(cond, tensors[0], "where")
    dt = tensors[0]._data.dtype  # a scalar must fit it (1e5 is no float16)
    av = _scalar(a, dt) if ta is None else ta._data
    bv = _scalar(b, dt) if tb is None else tb._data
    return _apply(_ew.where(mask, av, bv), (ta, tb, cond))


@overload
def maximum(a: Tensor[S, E, T], b: Tensor[S, E, NoneTape] | float) -> Tensor[S, E, T]: ...
@overload
def maximum(a: Tensor[S, E, Any], b: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
@overload
def maximum(a: Tensor[S, E, T], b: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
@checked
def maximum(a: Tensor[S, E, Any], b: Tensor[S, E, Any] | float) -> Tensor[S, E, Any]:
    """The elementwise larger of ``a`` and ``b`` (a tensor of the same shape and dtype, or a number), as
    ``torch.maximum``: a NaN propagates; the gradient goes to the larger, half to each at a tie."""
    return _binary(_tensor_arg(a, "maximum: a"), b, _ew.maximum)
