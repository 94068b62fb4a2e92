"""Reject corpus: Linear feature mismatch, Dropout tape misuse, broken pipe links, bad labels."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F32 = np.float32

fc = nn.Linear[L[4], L[3]](4, 3)
bn = nn.BatchNorm1D[L[3]](3)
head = nn.Linear[L[3], L[2]](3, 2)
drop = nn.Dropout(0.1)
x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
x3: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((5, 3))
xt = x.trace(fc.alloc_grads())

nn.Linear[L[4], L[3]](4, 5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
fc.forward(x3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
head.forward(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
drop.forward(xt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
drop.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.pipe(x, head.forward)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.pipe(x, fc.forward, head.forward, fc.forward)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
nn.pipe(x, fc.forward, bn.forward_mut)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
nn.pipe(xt, fc.forward_mut, bn.forward)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
float_labels: Tensor[tuple[int], F32, NoneTape] = tt.zeros((5,))
nn.cross_entropy(fc.forward(x), float_labels)  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
labels_2d: Tensor[tuple[int, int], np.int64, NoneTape] = tt.tensor(np.zeros((5, 1)), np.int64)
nn.cross_entropy(fc.forward(x), labels_2d)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.mse_loss(fc.forward(x), x)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
conv = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3)
nn.fold_batchnorm(conv, nn.BatchNorm2D[L[8]](8))  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
nn.Residual(fc).forward(xt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.Residual(fc).forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
