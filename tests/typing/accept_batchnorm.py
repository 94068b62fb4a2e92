"""Accept corpus: BatchNorm's train/infer split and channel dims."""

from __future__ import annotations

from typing import Any, assert_type
from typing import Literal as L

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D

F32 = np.float32
bn = BatchNorm2D[L[3]](3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=np.float32)
x: Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 3, 8, 8))
assert_type(bn.forward(x), Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape])
assert_type(bn.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[3], L[8], L[8]], F32, OwnedTape])
unbatched: Tensor[tuple[L[3], L[8], L[8]], F32, NoneTape] = tt.zeros((3, 8, 8))
assert_type(bn.forward(unbatched), Tensor[tuple[L[3], L[8], L[8]], F32, NoneTape])
assert_type(bn.num_batches_tracked, int | None)
assert_type(bn.state_dict(), dict[str, NDArray[Any]])
mge = BatchNorm2D[L[3]](3, momentum=0.9, momentum_convention="megengine", freeze=True)
puzzle = BatchNorm2D[L[3]](3, init_factor=1.0, min_factor=0.1, sscale=0.02, seed=0, inplace=True)

fused = FusedBatchNorm2D[L[3]](3)
assert_type(fused.forward(x, x), Tensor[tuple[int, L[3], L[8], L[8]], F32, NoneTape])
assert_type(fused.forward_mut(x.leaky_trace(), x), Tensor[tuple[int, L[3], L[8], L[8]], F32, OwnedTape])
assert_type(fused.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[3], L[8], L[8]], F32, OwnedTape])

bn1 = BatchNorm1D[L[4]](4)
flat: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
seq: Tensor[tuple[int, L[4], L[7]], F32, NoneTape] = tt.zeros((5, 4, 7))
assert_type(bn1.forward(flat), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(bn1.forward_mut(seq.leaky_trace()), Tensor[tuple[int, L[4], L[7]], F32, OwnedTape])
