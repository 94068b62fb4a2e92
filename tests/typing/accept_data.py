"""Accept corpus: tt.data yields tensors of the columns' declared types (batch dim int, Literal item dims from the
column's type), the split keeps the arrays' types, and the metrics take logits of either tape and return float."""

from __future__ import annotations

from typing import Literal as L
from typing import assert_type

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn
from typedtensor.data import Batches, Column, batches, split_indices, train_val_split

F32 = np.float32

x_all: NDArray[np.float32] = np.zeros((10, 1, 8, 8), F32)
y_all: NDArray[np.int64] = np.zeros(10, np.int64)

# the split: sklearn's order, each part of its array's type; indices are intp arrays
x_tr, x_val, y_tr, y_val = train_val_split(x_all, y_all, val=0.2, seed=0, stratify=y_all)
assert_type(x_tr, NDArray[np.float32])
assert_type(y_val, NDArray[np.int64])
only_tr, only_val = train_val_split(y_all, val=3)
assert_type(only_val, NDArray[np.int64])
train_idx, val_idx = split_indices(10, 0.2, seed=1)
assert_type(val_idx, NDArray[np.intp])

# columns: Literal dims by explicit type application or an annotated target; scalars have item shape ()
images = Column[F32, L[1], L[8], L[8]](x_tr, (1, 8, 8), F32)
labels = Column(y_tr, (), np.int64)
assert_type(labels, Column[np.int64])
annotated: Column[F32, L[1], L[8], L[8]] = Column(x_tr, (1, 8, 8), F32)
plain: Column[F32, int, int, int] = Column(x_tr, (1, 8, 8), F32)

loader = batches(images, labels, batch_size=4, seed=0, drop_last=True)
assert_type(
    loader,
    Batches[tuple[Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape], Tensor[tuple[int], np.int64, NoneTape]]],
)
for xb, yb in loader:
    assert_type(xb, Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape])
    assert_type(yb, Tensor[tuple[int], np.int64, NoneTape])
for (one,) in batches(annotated, batch_size=2, shuffle=False):
    assert_type(one, Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape])
for a, b, c in batches(plain, labels, annotated, batch_size=2):
    assert_type(a, Tensor[tuple[int, int, int, int], F32, NoneTape])
    assert_type(b, Tensor[tuple[int], np.int64, NoneTape])
    assert_type(c, Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape])
assert_type(len(loader), int)
assert_type(loader.epoch, int)
loader.set_epoch(3)
for idx in loader.index_batches():
    assert_type(idx, NDArray[np.intp])

# the yielded tensors feed typed layers: a Linear over the flattened item
fc = nn.Linear[L[3], L[5]](3, 5)
feats = Column[F32, L[3]](np.zeros((6, 3), F32), (3,), F32)
for (f,) in batches(feats, batch_size=2):
    logits = fc.forward_mut(f.trace(fc.alloc_grads()))
    assert_type(logits, Tensor[tuple[int, L[5]], F32, OwnedTape])

# metrics: either tape, any integer labels, a float back
z: Tensor[tuple[int, L[5]], F32, NoneTape] = tt.zeros((4, 5))
lab: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(np.zeros(4), np.int64)
lab32: Tensor[tuple[int], np.int32, OwnedTape] = tt.tensor(np.zeros(4), np.int32).trace(fc.alloc_grads())
assert_type(nn.accuracy(z, lab), float)
assert_type(nn.accuracy(z, lab32, "sum"), float)
assert_type(nn.top_k_accuracy(z, lab, 2), float)
assert_type(nn.top_k_accuracy(z.trace(fc.alloc_grads()), lab, k=3, reduction="sum"), float)
z64: Tensor[tuple[L[4], L[5]], np.float64, NoneTape] = tt.zeros((4, 5), np.float64)
lab4: Tensor[tuple[L[4]], np.int64, NoneTape] = tt.tensor(np.zeros(4), np.int64).realize((4,))
assert_type(nn.accuracy(z64, lab4), float)
