"""Accept corpus: issue 14's layers (Identity, LeakyReLU, SiLU, Softplus) keep shape, dtype and tape."""

from __future__ import annotations

from typing import Any, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
F64 = np.float64

x: Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape] = tt.zeros((4, 16, 8, 8))
h: Tensor[tuple[L[4], L[32]], F64, NoneTape] = tt.zeros((4, 32), F64)
xt = x.leaky_trace()

# activations keep the shape, dtype and tape of their input, in both modes
assert_type(nn.LeakyReLU().forward(x), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape])
assert_type(nn.LeakyReLU(0.2).forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(nn.LeakyReLU(negative_slope=0.1).forward(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(nn.SiLU().forward(h), Tensor[tuple[L[4], L[32]], F64, NoneTape])
assert_type(nn.SiLU().forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(nn.Softplus().forward(h), Tensor[tuple[L[4], L[32]], F64, NoneTape])
assert_type(
    nn.Softplus(beta=2.0, threshold=10.0).forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape]
)
assert_type(nn.Softplus(2, 10).forward(h), Tensor[tuple[L[4], L[32]], F64, NoneTape])

# Identity: the input's type itself
assert_type(nn.Identity().forward(h), Tensor[tuple[L[4], L[32]], F64, NoneTape])
assert_type(nn.Identity().forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])

# chained into a typed Linear: the feature dim stays a constant
y: Tensor[tuple[L[4], L[8]], F64, NoneTape] = nn.Linear[L[32], L[8]](32, 8, dtype=F64).forward(
    nn.SiLU().forward(nn.Identity().forward(h))
)

# AdaptiveAvgPool2D: the output's height and width are the layer's type parameters; batch and channels kept
pool1 = nn.AdaptiveAvgPool2D[L[1], L[1]](1)
pool_hw = nn.AdaptiveAvgPool2D[L[3], L[5]]((3, 5))
image: Tensor[tuple[L[16], L[9], L[9]], F32, NoneTape] = tt.zeros((16, 9, 9))
assert_type(pool1.forward(x), Tensor[tuple[int, L[16], L[1], L[1]], F32, NoneTape])
assert_type(pool1.forward_mut(xt), Tensor[tuple[int, L[16], L[1], L[1]], F32, OwnedTape])
assert_type(pool_hw.forward(x), Tensor[tuple[int, L[16], L[3], L[5]], F32, NoneTape])
assert_type(pool_hw.forward(image), Tensor[tuple[L[16], L[3], L[5]], F32, NoneTape])
assert_type(pool_hw.forward_mut(xt), Tensor[tuple[int, L[16], L[3], L[5]], F32, OwnedTape])
sized: nn.AdaptiveAvgPool2D[int, int] = nn.AdaptiveAvgPool2D((7, 7))
square: nn.AdaptiveAvgPool2D[int, int] = nn.AdaptiveAvgPool2D(7)
assert_type(sized.forward(x), Tensor[tuple[int, L[16], int, int], F32, NoneTape])

# GroupNorm[C]: (B, C, *spatial) kept, any number of spatial dims
gn = nn.GroupNorm[L[16]](4, 16)
seq: Tensor[tuple[int, L[16], int], F32, NoneTape] = tt.zeros((2, 16, 10))
assert_type(gn.forward(x), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape])
assert_type(gn.forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(gn.forward(seq), Tensor[tuple[int, L[16], int], F32, NoneTape])
assert_type(
    nn.GroupNorm[L[16]](16, 16, eps=1e-3, affine=False).forward(x), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape]
)
assert_type(gn.weight, Tensor[tuple[L[16]], Any, NoneTape] | None)

# Upsample: batch and channels kept, the new height and width typed int
up = nn.Upsample(scale_factor=2.0)
assert_type(up.forward(x), Tensor[tuple[int, L[16], int, int], F32, NoneTape])
assert_type(up.forward_mut(xt), Tensor[tuple[int, L[16], int, int], F32, OwnedTape])
assert_type(
    nn.Upsample(size=(16, 16), mode="bilinear", align_corners=True).forward(x),
    Tensor[tuple[int, L[16], int, int], F32, NoneTape],
)
assert_type(nn.Upsample(size=16, mode="bilinear").forward(x), Tensor[tuple[int, L[16], int, int], F32, NoneTape])
assert_type(nn.Upsample(scale_factor=(2, 1.5)).forward(x), Tensor[tuple[int, L[16], int, int], F32, NoneTape])

# Conv1D[I, O]: (B, I, L) -> (B, O, int), unbatched (I, L) -> (O, int); the weight (O, I / groups, K)
conv = nn.Conv1D[L[16], L[32]](16, 32, 3, padding=1)
tokens: Tensor[tuple[L[16], int], F32, NoneTape] = tt.zeros((16, 10))
assert_type(conv.forward(seq), Tensor[tuple[int, L[32], int], F32, NoneTape])
assert_type(conv.forward_mut(seq.leaky_trace()), Tensor[tuple[int, L[32], int], F32, OwnedTape])
assert_type(conv.forward(tokens), Tensor[tuple[L[32], int], F32, NoneTape])
assert_type(conv.weight, Tensor[tuple[L[32], int, int], Any, NoneTape])
assert_type(
    nn.Conv1D[L[32], L[8]](32, 8, 5, stride=2, padding="valid", dilation=2, groups=4, bias=False).forward(
        conv.forward(seq)
    ),
    Tensor[tuple[int, L[8], int], F32, NoneTape],
)
assert_type(
    nn.Conv1D[L[32], L[8]](32, 8, 3, padding="same").forward(conv.forward(seq)),
    Tensor[tuple[int, L[8], int], F32, NoneTape],
)
