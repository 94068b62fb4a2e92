"""Reject corpus: BatchNorm with the wrong tape (train/infer), channels, constructor or rank."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D

F32 = np.float32
bn = BatchNorm2D[L[3]](3)
x: Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 3, 8, 8))
x4: Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 4, 8, 8))
flat: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((2, 3))

# the forgotten model.eval(): training input to inference, inference input to training
bn.forward(x.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
bn.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# wrong channel count
bn.forward(x4)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
bn.forward_mut(x4.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# the type argument and the constructor disagree
BatchNorm2D[L[3]](5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# wrong rank: BatchNorm2D needs (..., C, H, W)
bn.forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# BatchNorm1D: channels are dim 1
bn1 = BatchNorm1D[L[4]](4)
bn1.forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
bn1.forward_mut(flat.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# fused: the addend has x's shape
fused = FusedBatchNorm2D[L[3]](3)
fused.forward(x, x4)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
fused.forward(x, x.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# unknown option values
BatchNorm2D[L[3]](3, momentum_convention="keras")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# rank 5 into BatchNorm2D, rank 4 into BatchNorm1D
x5: Tensor[tuple[int, int, L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((1, 2, 3, 8, 8))
bn.forward(x5)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
bn1.forward(x4)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
