"""Reject corpus: SyncBatchNorm with the wrong tape (train/infer), channels, source layer, option or rank."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, SyncBatchNorm1D, SyncBatchNorm2D

F32 = np.float32
bn = SyncBatchNorm2D[L[3]](3)
x: Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 3, 8, 8))
x4: Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 4, 8, 8))
flat: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((2, 3))

# the forgotten model.eval(): training input to inference, inference input to training
bn.forward(x.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
bn.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# wrong channel count
bn.forward_mut(x4.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# the type argument and the constructor disagree
SyncBatchNorm2D[L[3]](5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# wrong rank: SyncBatchNorm2D needs (..., C, H, W)
bn.forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# unknown option names and values
SyncBatchNorm2D[L[3]](3, momentum_convention="keras")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
SyncBatchNorm2D[L[3]](3, group=None)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
# from_batchnorm: the matching BatchNorm only, and it keeps the channel dim
SyncBatchNorm2D.from_batchnorm(BatchNorm1D[L[3]](3))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
SyncBatchNorm2D.from_batchnorm(FusedBatchNorm2D[L[3]](3))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
SyncBatchNorm1D.from_batchnorm(BatchNorm2D[L[3]](3))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
four: SyncBatchNorm2D[L[4]] = SyncBatchNorm2D.from_batchnorm(BatchNorm2D[L[3]](3))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
