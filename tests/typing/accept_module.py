"""Accept corpus: module-level dims and generic tape code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import Module

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
T = TypeVar("T", NoneTape, OwnedTape)
F32 = np.float32


class Scale(Module, Generic[C]):
    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels
        self.weight: Tensor[tuple[C], F32, NoneTape] = tt.ones((channels,))

    def forward(self, x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:
        return x * self.weight.broadcast_to(x.shape)

    def forward_mut(self, x: Tensor[tuple[B, C], F32, OwnedTape]) -> Tensor[tuple[B, C], F32, OwnedTape]:
        return x * self.weight.broadcast_to(x.shape)


m = Scale[L[3]](3)
x: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((4, 3))
assert_type(m.forward(x), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(m.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[3]], F32, OwnedTape])


def layer(
    x: Tensor[tuple[B, L[3]], F32, T], w: Tensor[tuple[L[3], L[5]], F32, NoneTape]
) -> Tensor[tuple[B, L[5]], F32, T]:
    """Generic in the tape: the same code runs in training and in inference."""
    return (x @ w).relu()


w: Tensor[tuple[L[3], L[5]], F32, NoneTape] = tt.randn((3, 5), seed=0)
assert_type(layer(x, w), Tensor[tuple[int, L[5]], F32, NoneTape])
assert_type(layer(x.leaky_trace(), w), Tensor[tuple[int, L[5]], F32, OwnedTape])
