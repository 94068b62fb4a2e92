"""Reject corpus: nn.fold_batchnorms takes a Module and an untraced example, and returns the model's class."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F32 = np.float32

conv = nn.Conv2D[L[1], L[4]](1, 4, kernel_size=3)
fc = nn.Linear[L[4], L[3]](4, 3)
x: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 1, 8, 8))
xt = x.trace(conv.alloc_grads())

nn.fold_batchnorms(3, x)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
nn.fold_batchnorms(conv, np.zeros((2, 1, 8, 8), np.float32))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.fold_batchnorms(conv, xt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.fold_batchnorms(conv)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
wrong: nn.Linear[L[4], L[3]] = nn.fold_batchnorms(conv, x)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
nn.folded_batchnorms(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
