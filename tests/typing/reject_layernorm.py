"""Reject corpus: LayerNorm[D] on the wrong last dim, the wrong axis, or built with mismatched arguments."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F32 = np.float32
ln = nn.LayerNorm[L[8]](8)
x4: Tensor[tuple[int, L[5], L[4]], F32, NoneTape] = tt.zeros((2, 5, 4))
channels_first: Tensor[tuple[int, L[8], L[5]], F32, NoneTape] = tt.zeros((2, 8, 5))
x: Tensor[tuple[int, L[5], L[8]], F32, NoneTape] = tt.zeros((2, 5, 8))

# the last dim is not D
ln.forward(x4)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ln.forward_mut(x4.leaky_trace())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# D is on another axis: LayerNorm normalises over the last dim only (transpose first)
ln.forward(channels_first)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the result keeps D: it is not some other width
y: Tensor[tuple[int, L[5], L[4]], F32, NoneTape] = ln.forward(x)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# the type argument and the constructor disagree
nn.LayerNorm[L[8]](4)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# PyTorch's list/tuple normalized_shape: here D is one int (the last dim)
nn.LayerNorm((8,))  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
# options of the wrong kind
nn.LayerNorm[L[8]](8, eps="small")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.LayerNorm[L[8]](8, elementwise_affine=None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# a normalised (B, T, 8) into a Linear expecting 16 features
nn.Linear[L[16], L[4]](16, 4).forward(ln.forward(x))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
