"""Reject corpus: pooling ceil_mode, count_include_pad and divisor_override misuse."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn
from typedtensor.nn import functional as F

F32 = np.float32

x7: Tensor[tuple[int, L[3], L[7], L[7]], F32, NoneTape] = tt.zeros((2, 3, 7, 7))
x3: Tensor[tuple[int, L[3], L[3], L[3]], F32, NoneTape] = tt.zeros((2, 3, 3, 3))

# max pooling has no divisor
nn.MaxPool2D(2, count_include_pad=False)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
nn.MaxPool2D(2, divisor_override=4)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
F.max_pool2d(x7, 2, count_include_pad=False)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
# the options are keyword-only (PyTorch's MaxPool2d has dilation where AvgPool2d has ceil_mode)
nn.AvgPool2D(2, 2, 0, True)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
F.max_pool2d(x7, 2, 2, 0, True)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
# flags are bools, the divisor an int
nn.MaxPool2D(2, ceil_mode=1)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.AvgPool2D(2, count_include_pad="no")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.AvgPool2D(2, divisor_override=2.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
F.avg_pool2d(x7, 2, divisor_override=2.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
# fixed once built, and typed
avg = nn.AvgPool2D(2, ceil_mode=True)
avg.ceil_mode = 1  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
# a ceil-mode output is not the floor-mode size: 4 x 4 from 7 x 7, not 3 x 3
floor_dims: Tensor[tuple[int, L[3], L[3], L[3]], F32, NoneTape] = nn.MaxPool2D(2, ceil_mode=True).forward(x7)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# floor mode: a 5 x 5 window does not fit 3 x 3 (ceil mode takes it: accept_pool_modes.py)
nn.AvgPool2D(5).forward(x3)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
