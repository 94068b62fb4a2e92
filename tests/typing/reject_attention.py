"""Reject corpus: MultiHeadAttention[D] fed a mask of the wrong shape, inputs of another width, the wrong tape."""

from __future__ import annotations

from typing import Literal as L
from typing import TypeVar

import numpy as np

import typedtensor as tt
from typedtensor import Gradients, NoneTape, OwnedTape, Tensor, nn
from typedtensor.nn import functional as F

F32 = np.float32
Bool = np.bool_
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
S = TypeVar("S", bound=int)
D = TypeVar("D", bound=int)
H = TypeVar("H", bound=int)
Dh = TypeVar("Dh", bound=int)

mha = nn.MultiHeadAttention[L[16]](16, 4)
x: Tensor[tuple[int, L[10], L[16]], F32, NoneTape] = tt.zeros((2, 10, 16))
x8: Tensor[tuple[int, L[10], L[8]], F32, NoneTape] = tt.zeros((2, 10, 8))
xt = x.trace(Gradients())

# a width other than D
mha.forward(x8)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# inference takes untraced inputs, a training step a traced query
mha.forward(xt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
mha.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the output keeps the query's tape
y: Tensor[tuple[int, L[10], L[16]], F32, OwnedTape] = mha.forward(x)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# a mask of the wrong kind: float, not bool
mha.forward(x, attn_mask=tt.zeros((10, 10)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# a mask of another length
mha.forward(x, attn_mask=tt.zeros((10, 9)) > 0)  # type: ignore[arg-type, misc, unused-ignore]  # pyright: ignore[reportArgumentType]


# a key-padding mask (B, S) passed as attn_mask: (T, S) or (B, T, S) expected
def padded(
    layer: nn.MultiHeadAttention[D],
    q: Tensor[tuple[B, T, D], F32, NoneTape],
    kv: Tensor[tuple[B, S, D], F32, NoneTape],
    pad: Tensor[tuple[B, S], Bool, NoneTape],
) -> None:
    layer.forward(q, kv, kv, pad)  # type: ignore[misc]  # pyright: ignore[reportArgumentType, reportCallIssue]


# keys of another width than the queries
def widths(layer: nn.MultiHeadAttention[D], q: Tensor[tuple[B, T, D], F32, NoneTape], kv: Tensor[tuple[B, S, H], F32, NoneTape]) -> None:  # fmt: skip
    layer.forward(q, kv, kv)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]


# merging heads that were never split: (B, T, H, Dh) read as (B, H, T, Dh) gives (B, H, D), not (B, T, D)
def merged(x: Tensor[tuple[B, T, H, Dh], F32, NoneTape], d: D) -> Tensor[tuple[B, T, D], F32, NoneTape]:
    return F.merge_heads(x, d)  # type: ignore[arg-type]  # pyright: ignore[reportReturnType]


# the block: another width, the wrong tape
block = nn.TransformerBlock[L[16]](16, 4)
block.forward(x8)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
block.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the block's mask is (T, T): a (T, S) mask of another length
block.forward(x, tt.zeros((10, 7)) > 0)  # type: ignore[arg-type, misc, unused-ignore]  # pyright: ignore[reportArgumentType]


# queries and keys with different head sizes
def sdpa(q: Tensor[tuple[B, H, T, Dh], F32, NoneTape], k: Tensor[tuple[B, H, S, D], F32, NoneTape]) -> None:
    F.scaled_dot_product_attention(q, k, k)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]


# the type argument and the constructor disagree; num_heads is an int
nn.MultiHeadAttention[L[16]](8, 2)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.TransformerBlock[L[16]](8, 2)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
nn.MultiHeadAttention[L[16]](16, 2.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
