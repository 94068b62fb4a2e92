"""Accept corpus: LayerNorm[D] keeps the shape and the tape, and is generic in D."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)

ln = nn.LayerNorm[L[8]](8)
x: Tensor[tuple[int, L[5], L[8]], F32, NoneTape] = tt.zeros((2, 5, 8))
vec: Tensor[tuple[L[8]], F32, NoneTape] = tt.zeros((8,))

# the shape and the tape are the input's (no train/infer difference), for any number of leading dims
assert_type(ln.forward(x), Tensor[tuple[int, L[5], L[8]], F32, NoneTape])
assert_type(ln.forward(x.leaky_trace()), Tensor[tuple[int, L[5], L[8]], F32, OwnedTape])
assert_type(ln.forward_mut(x.leaky_trace()), Tensor[tuple[int, L[5], L[8]], F32, OwnedTape])
assert_type(ln.forward_mut(x), Tensor[tuple[int, L[5], L[8]], F32, NoneTape])
assert_type(ln.forward(vec), Tensor[tuple[L[8]], F32, NoneTape])
assert_type(ln.weight, Tensor[tuple[L[8]], Any, NoneTape] | None)
assert_type(ln.bias, Tensor[tuple[L[8]], Any, NoneTape] | None)

# every option, PyTorch's names
nn.LayerNorm[L[8]](8, eps=1e-6, elementwise_affine=False, bias=False, dtype=np.float64)
nn.LayerNorm[L[8]](8, 1e-6, True, True)

# a Linear on the normalised features: D flows into I
up = nn.Linear[L[8], L[32]](8, 32)
assert_type(up.forward(ln.forward(x)), Tensor[tuple[int, L[5], L[32]], F32, NoneTape])


# generic in D: a pre-norm residual over (B, T, D)
def pre_norm(norm: nn.LayerNorm[D], mix: nn.Linear[D, D], h: Tensor[tuple[B, T, D], F32, OwnedTape]) -> Tensor[tuple[B, T, D], F32, OwnedTape]:  # fmt: skip
    return h + mix.forward_mut(norm.forward_mut(h))


assert_type(pre_norm(ln, nn.Linear[L[8], L[8]](8, 8), x.leaky_trace()), Tensor[tuple[int, L[5], L[8]], F32, OwnedTape])
