"""Reject corpus: Conv2D channel mismatches, wrong ranks and options, pooling and functional misuse."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn
from typedtensor.nn import functional as F

F32 = np.float32

conv = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3, padding=1)
x3: Tensor[tuple[int, L[3], int, int], F32, NoneTape] = tt.zeros((4, 3, 8, 8))
image3: Tensor[tuple[L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((3, 8, 8))
flat: Tensor[tuple[int, L[1]], F32, NoneTape] = tt.zeros((4, 1))
x5: Tensor[tuple[int, int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 4, 1, 8, 8))

# wrong channel count: 3 channels into a 1-channel convolution
conv.forward(x3)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
conv.forward_mut(x3.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
conv.forward(image3)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# layers chained with mismatched channels: 16 out, 32 expected
conv32 = nn.Conv2D[L[32], L[8]](32, 8, 3)
x1: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((4, 1, 8, 8))
conv32.forward(conv.forward(x1))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# the type arguments and the constructor disagree
nn.Conv2D[L[1], L[16]](3, 16, 3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.Conv2D[L[1], L[16]](1, 8, 3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
# wrong rank: Conv2D needs (B, C, H, W) or (C, H, W)
conv.forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
conv.forward(x5)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# options of the wrong kind
nn.Conv2D[L[1], L[16]](1, 16, 3, padding="full")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.Conv2D[L[1], L[16]](1, 16, 3, stride=1.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.Conv2D[L[1], L[16]](1, 16, (3, 3, 3))  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
# a resizing convolution's spatial dims are int: not assignable to constant dims without realize() (the
# plugin computes 4 x 4)
down1 = nn.Conv2D[L[1], L[16]](1, 16, 3, stride=2, padding=1)
y: Tensor[tuple[int, L[16], L[4], L[4]], F32, NoneTape] = down1.forward(x1)  # type: ignore[assignment, unused-ignore]  # pyright: ignore[reportAssignmentType]  # accept: mypy+plugin
# a stride-2 convolution does not keep the size, in any checker
y2: Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape] = down1.forward(x1)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# pooling: rank 2 has no spatial dims; global pooling drops H and W
nn.MaxPool2D(2).forward(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.AvgPool2D(2).forward_mut(flat.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
g: Tensor[tuple[int, L[1], int, int], F32, NoneTape] = nn.GlobalAvgPool2D().forward(x1)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
nn.MaxPool2D(2, padding="same")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
# functional: the bias must have the weight's out-channels and dtype
w: Tensor[tuple[L[16], L[1], L[3], L[3]], F32, NoneTape] = tt.zeros((16, 1, 3, 3))
b8: Tensor[tuple[L[8]], F32, NoneTape] = tt.zeros((8,))
b64: Tensor[tuple[L[16]], np.float64, NoneTape] = tt.zeros((16,), np.float64)
F.conv2d(x1, w, b8)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
F.conv2d(x1, w, b64)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
F.conv2d(flat, w)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
F.global_avg_pool2d(flat)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
# GELU.forward_inplace overwrites its input: a traced tensor (the tape reads it in the backward) is refused
nn.GELU("tanh").forward_inplace(x3.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
