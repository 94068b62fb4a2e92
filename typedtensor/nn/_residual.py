"""``Residual``: ``x + block(x)`` for a shape-preserving block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np

from .._errors import ShapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from . import _call
from ._module import Module

__all__ = ["Residual"]

S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)


class _Block(Protocol):
    def forward(self, x: Any, /) -> Any: ...
    def forward_mut(self, x: Any, /) -> Any: ...


class Residual(Module):
    """Residual addition around ``block``: ``forward(x) = x + block.forward(x)``.

    The block must keep the shape; the type checkers cannot prove that of an arbitrary block, so it
    is checked at run time. Written inline, ``x + block.forward(x)`` is checked statically too.
    """

    def __init__(self, block: Module) -> None:
        if not isinstance(cast("object", block), Module) or not callable(getattr(block, "forward", None)):
            raise TypedTensorError(f"Residual needs a Module with forward/forward_mut, got {type(block).__name__}")
        self.block = block

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)

        def __call__(self, x: Tensor[S, E, Tape]) -> Tensor[S, E, Tape]: ...

    def forward(self, x: Tensor[S, E, NoneTape]) -> Tensor[S, E, NoneTape]:
        """Inference: x + block.forward(x)."""
        b: _Block = self.block  # type: ignore[assignment]
        return x + _same_shape(x, _call.method(b, False)(x))

    def forward_mut(self, x: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]:
        """Training: x + block.forward_mut(x)."""
        b: _Block = self.block  # type: ignore[assignment]
        return x + _same_shape(x, _call.method(b, True)(x))


def _same_shape(x: Tensor[S, E, Any], y: Any) -> Tensor[S, E, Any]:
    shape: object = getattr(y, "shape", None)
    if y.__class__ is not Tensor or shape != x.shape:
        got = type(y).__name__ if shape is None else shape
        raise ShapeError(f"Residual: the block must keep the shape {x.shape} but returned {got}")
    return cast("Tensor[S, E, Any]", y)
