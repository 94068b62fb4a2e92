"""Accept corpus: SyncBatchNorm2D/1D have BatchNorm's train/infer split, channel dims and options."""

from __future__ import annotations

from typing import Literal as L
from typing import assert_type

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import (
    BatchNorm1D,
    BatchNorm2D,
    Module,
    SyncBatchNorm1D,
    SyncBatchNorm2D,
    convert_sync_batchnorm,
)

F32 = np.float32
bn = SyncBatchNorm2D[L[3]](3, comm=None, eps=1e-5, momentum=0.1, affine=True, dtype=np.float32)
x: Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 3, 8, 8))
assert_type(bn.forward(x), Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape])
assert_type(bn.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[3], L[8], L[8]], F32, OwnedTape])
unbatched: Tensor[tuple[L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((3, 8, 8))
assert_type(bn.forward(unbatched), Tensor[tuple[L[3], L[8], L[8]], F32, NoneTape])
assert_type(bn.num_batches_tracked, int | None)
mge = SyncBatchNorm2D[L[3]](3, momentum=0.9, momentum_convention="megengine", freeze=True)

# from_batchnorm keeps the channel dim; the result is a BatchNorm2D where one is expected
plain = BatchNorm2D[L[3]](3)
synced = SyncBatchNorm2D.from_batchnorm(plain, comm=None)
assert_type(synced, SyncBatchNorm2D[L[3]])
as_plain: BatchNorm2D[L[3]] = synced
assert_type(synced.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[3], L[8], L[8]], F32, OwnedTape])

bn1 = SyncBatchNorm1D[L[4]](4)
flat: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
seq: Tensor[tuple[int, L[4], L[7]], F32, NoneTape] = tt.zeros((5, 4, 7))
assert_type(bn1.forward(flat), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(bn1.forward_mut(seq.leaky_trace()), Tensor[tuple[int, L[4], L[7]], F32, OwnedTape])
assert_type(SyncBatchNorm1D.from_batchnorm(BatchNorm1D[L[4]](4)), SyncBatchNorm1D[L[4]])


class Net(Module):
    def __init__(self) -> None:
        self.bn = BatchNorm2D[L[3]](3)


# the model-wide converter returns the model's own type: its attributes keep their annotations
net = convert_sync_batchnorm(Net())
assert_type(net, Net)
assert_type(net.bn.forward(x), Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape])
