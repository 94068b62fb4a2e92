"""Reject corpus: misuse of tt.data and the metrics that the checkers catch before anything runs."""

from __future__ import annotations

from typing import Literal as L

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn
from typedtensor.data import Column, batches, train_val_split

F32 = np.float32
x_all: NDArray[np.float32] = np.zeros((10, 1, 8, 8), F32)
y_all: NDArray[np.int64] = np.zeros(10, np.int64)

# the declared item shape must match the column's type
Column[F32, L[1], L[8], L[8]](x_all, (1, 8, 9), F32)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the dtype argument must be the column's dtype
Column[F32, L[1]](x_all, (1,), np.int64)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# item_shape is a tuple, not a list
Column(x_all, [1, 8, 8], F32)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

images = Column[F32, L[1], L[8], L[8]](x_all, (1, 8, 8), F32)
labels = Column(y_all, (), np.int64)
# raw arrays are not columns
batches(x_all, batch_size=4)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
# batch_size is keyword-only and required
batches(images, labels, 4)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
batches(images)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]

# the yielded tensors keep their declared types: not another item shape, not another dtype
for xb, yb in batches(images, labels, batch_size=4):
    wrong: Tensor[tuple[int, L[1], L[8], L[7]], F32, NoneTape] = xb  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    floats: Tensor[tuple[int], F32, NoneTape] = yb  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]

# train_val_split needs the fraction or count by keyword
train_val_split(x_all, 0.2)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]

# metrics: integer labels (not floats), float logits, (B,) labels of the logits' batch, an int k
z: Tensor[tuple[L[4], L[5]], F32, NoneTape] = tt.zeros((4, 5))
lab: Tensor[tuple[L[4]], np.int64, NoneTape] = tt.tensor(np.zeros(4), np.int64).realize((4,))
flab: Tensor[tuple[L[4]], F32, NoneTape] = tt.zeros((4,))
nn.accuracy(z, flab)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
other: Tensor[tuple[L[3]], np.int64, NoneTape] = tt.tensor(np.zeros(3), np.int64).realize((3,))
nn.accuracy(z, other)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
nn.top_k_accuracy(z, lab, 2.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.top_k_accuracy(z, lab)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
nn.accuracy(z, lab, "none")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ilog: Tensor[tuple[L[4], L[5]], np.int64, NoneTape] = tt.tensor(np.zeros((4, 5)), np.int64).realize((4, 5))
nn.accuracy(ilog, lab)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
