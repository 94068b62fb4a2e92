"""``Identity()``: returns its input, unchanged and the same tensor (PyTorch's ``nn.Identity``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .. import extend as ext
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module

__all__ = ["Identity"]

S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)


class Identity(Module):
    """A placeholder layer: ``forward(x)`` is ``x`` itself (any shape, dtype and tape; no copy, nothing recorded).

    Useful where a model's structure wants a layer that does nothing (a ``Residual`` shortcut, a removed head).
    The gradient flows straight through: x is the output.
    """

    def forward(self, x: Tensor[S, E, T]) -> Tensor[S, E, T]:
        """x itself."""
        return ext.tensor_arg(x, "Identity")

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward
