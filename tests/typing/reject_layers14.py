"""Reject corpus: issue 14's layers (Identity, LeakyReLU, SiLU, Softplus): options, shapes and non-tensors."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F64 = np.float64

h: Tensor[tuple[L[4], L[32]], F64, NoneTape] = tt.zeros((4, 32), F64)

# options of the wrong type
nn.LeakyReLU("0.1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Softplus(beta="2")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Softplus(threshold=None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the output keeps the input's shape: another shape is an error
bad: Tensor[tuple[L[4], L[16]], F64, NoneTape] = nn.SiLU().forward(h)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
bad2: Tensor[tuple[L[4], L[16]], F64, NoneTape] = nn.Identity().forward(h)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# a Linear after an activation still checks the feature dim
nn.Linear[L[16], L[8]](16, 8, dtype=F64).forward(nn.LeakyReLU().forward(h))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# a NumPy array is not a tensor
nn.Identity().forward(np.zeros((4, 32)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Softplus().forward(np.zeros((4, 32)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

# AdaptiveAvgPool2D: a size that contradicts the type arguments, a wrong output type, a rank-2 input
x: Tensor[tuple[int, L[16], L[8], L[8]], np.float32, NoneTape] = tt.zeros((4, 16, 8, 8))
flat: Tensor[tuple[int, L[16]], np.float32, NoneTape] = tt.zeros((4, 16))
nn.AdaptiveAvgPool2D[L[2], L[2]](3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.AdaptiveAvgPool2D[L[2], L[3]]((2, 4))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.AdaptiveAvgPool2D("7")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
wrong: Tensor[tuple[int, L[16], L[2], L[2]], np.float32, NoneTape] = nn.AdaptiveAvgPool2D[L[1], L[1]](1).forward(x)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
nn.AdaptiveAvgPool2D[L[1], L[1]](1).forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]

# GroupNorm[C]: channels that differ from C, a size contradicting the type argument, an input without channels
gn8 = nn.GroupNorm[L[8]](2, 8)
gn8.forward(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
gn8.forward_mut(x.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.GroupNorm[L[8]](2, 16)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.GroupNorm[L[8]](2, 8, eps="small")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
gn8.forward(tt.zeros((8,)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

# Upsample: an unknown mode, options of the wrong type, an input that is not (B, C, H, W), a typed H kept
nn.Upsample(scale_factor=2.0, mode="bicubic")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Upsample(size="16")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Upsample(scale_factor=2.0, align_corners="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Upsample(scale_factor=2.0).forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
kept: Tensor[tuple[int, L[16], L[8], L[8]], np.float32, NoneTape] = nn.Upsample(size=8).forward(x)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# Conv1D[I, O]: channels that differ from I, chained layers that disagree, options of the wrong type, an image
seq8: Tensor[tuple[int, L[8], int], np.float32, NoneTape] = tt.zeros((2, 8, 10))
seq16: Tensor[tuple[int, L[16], int], np.float32, NoneTape] = tt.zeros((2, 16, 10))
conv16 = nn.Conv1D[L[16], L[32]](16, 32, 3)
conv16.forward(seq8)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
conv16.forward_mut(seq8.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.Conv1D[L[16], L[8]](16, 8, 3).forward(conv16.forward(seq16))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.Conv1D[L[16], L[32]](8, 32, 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Conv1D[L[16], L[32]](16, 32, (3,))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Conv1D[L[16], L[32]](16, 32, 3, padding="full")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
conv16.forward(x)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
