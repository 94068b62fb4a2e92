"""``Flatten``: (B, d1, d2, ...) -> (B, d1*d2*...), the usual bridge from conv to linear layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, TypeVarTuple

import numpy as np

from .. import extend as ext
from .._errors import ShapeError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module

__all__ = ["Flatten"]

B = TypeVar("B", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Rest = TypeVarTuple("Rest")


class Flatten(Module):
    """Keep the first (batch) dim, merge the others; the merged dim is typed ``int``.

    Give it a constant type with ``realize``: ``Flatten().forward(x).realize((b, 64))``.
    """

    def forward(self, x: Tensor[tuple[B, *Rest], E, T]) -> Tensor[tuple[B, int], E, T]:
        """(B, ...) -> (B, product of the other dims)."""
        return _flatten(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward


def _flatten(x: Tensor[tuple[B, *Rest], E, T]) -> Tensor[tuple[B, int], E, T]:
    shape: tuple[int, ...] = ext.data(ext.tensor_arg(x, "Flatten")).shape
    if len(shape) < 1:
        raise ShapeError("Flatten: expected an input with a batch dim, got a rank-0 tensor")
    rest = 1
    for d in shape[1:]:
        rest *= d
    return x.reshape((shape[0], rest))  # type: ignore[arg-type]
