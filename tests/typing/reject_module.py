"""Reject corpus: module channel mismatch, train/infer tape misuse, tape-generic misuse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic, TypeVar
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import Module

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
F32 = np.float32


class Scale(Module, Generic[C]):
    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels

    def forward(self, x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:
        return x

    def forward_mut(self, x: Tensor[tuple[B, C], F32, OwnedTape]) -> Tensor[tuple[B, C], F32, OwnedTape]:
        return x


m = Scale[L[3]](3)
x4: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((2, 4))
x3: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((2, 3))

Scale[L[3]](5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
m.forward(x4)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
m.forward(x3.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
m.forward_mut(x3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
m.forward_mut(x4.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

# dtype mismatch through matmul and where, shape mismatch through where
w64: Tensor[tuple[L[3], L[5]], np.float64, NoneTape] = tt.zeros((3, 5), np.float64)
x3 @ w64  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
tt.where(x3 > 0.0, x3, x4)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
# batched matmul with batch dims that do not broadcast (2 vs 5): the declared types accept batch dims
# that differ (they may broadcast), the plugin sees these do not
p: Tensor[tuple[L[2], L[4], L[3]], F32, NoneTape] = tt.zeros((2, 4, 3))
q: Tensor[tuple[L[5], L[3], L[4]], F32, NoneTape] = tt.zeros((5, 3, 4))
p @ q  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# a reduction keeps the tape: a traced loss cannot become untraced by reducing
n: Tensor[tuple[()], F32, NoneTape] = x3.leaky_trace().sum()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# grads.get keeps the shape type
g: Tensor[tuple[L[3], L[2]], F32, NoneTape] = tt.Gradients().get(x3)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
