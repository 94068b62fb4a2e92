"""Accept corpus: MultiHeadAttention[D] and TransformerBlock[D] on (B, T, D), generic in every dim.

``forward`` takes untraced inputs, ``forward_mut`` a traced query (keys and values of any tape); the mask is
``AttnMask[B, T, S]``: a bool tensor (T, S) or (B, T, S). The attention's own steps (``split_heads``,
``scaled_dot_product_attention``, ``merge_heads``) are typed with TypeVars.
"""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

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
mem: Tensor[tuple[int, L[7], L[16]], F32, NoneTape] = tt.zeros((2, 7, 16))
square: Tensor[tuple[L[10], L[10]], Bool, NoneTape] = (tt.zeros((10, 10)) > 0).realize((10, 10))
cross: Tensor[tuple[L[10], L[7]], Bool, NoneTape] = (tt.zeros((10, 7)) > 0).realize((10, 7))

# self-attention, cross-attention (S = 7), masks of both shapes, both tapes
assert_type(mha.forward(x), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
assert_type(mha.forward(x, attn_mask=square), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
assert_type(mha.forward(x, mem, mem), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
assert_type(mha.forward(x, mem, mem, cross), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
xt = x.trace(Gradients())
assert_type(mha.forward_mut(xt), Tensor[tuple[int, L[10], L[16]], F32, OwnedTape])
assert_type(mha.forward_mut(xt, mem, mem, cross), Tensor[tuple[int, L[10], L[16]], F32, OwnedTape])
assert_type(mha.out_proj, nn.Linear[L[16], L[16]])

# every option, PyTorch's names
nn.MultiHeadAttention[L[16]](16, 4, causal=True, dropout=0.1, bias=False, dtype=np.float64, seed=0)
block = nn.TransformerBlock[L[16]](16, 4, mlp_ratio=2, dropout=0.1, causal=True, seed=0)
assert_type(block.forward(x), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
assert_type(block.forward(x, square), Tensor[tuple[int, L[10], L[16]], F32, NoneTape])
assert_type(block.forward_mut(xt), Tensor[tuple[int, L[10], L[16]], F32, OwnedTape])
assert_type(block.self_attn, nn.MultiHeadAttention[L[16]])


# generic in every dim: a batch of B sequences of T tokens, D features, a (B, T, S) mask
def attend(
    layer: nn.MultiHeadAttention[D],
    q: Tensor[tuple[B, T, D], F32, OwnedTape],
    kv: Tensor[tuple[B, S, D], F32, NoneTape],
    mask: Tensor[tuple[B, T, S], Bool, NoneTape],
) -> Tensor[tuple[B, T, D], F32, OwnedTape]:
    return layer.forward_mut(q, kv, kv, mask)


def blocks(stack: list[nn.TransformerBlock[D]], h: Tensor[tuple[B, T, D], F32, OwnedTape]) -> Tensor[tuple[B, T, D], F32, OwnedTape]:  # fmt: skip
    for b in stack:
        h = b.forward_mut(h)
    return h


# the attention's steps, generic: (B, T, D) -> (B, H, T, Dh) -> (B, T, D)
def split(q: Tensor[tuple[B, T, D], F32, NoneTape], h: H, dh: Dh) -> Tensor[tuple[B, H, T, Dh], F32, NoneTape]:
    return F.split_heads(q, h, dh)


def heads(
    qh: Tensor[tuple[B, H, T, Dh], F32, NoneTape], kh: Tensor[tuple[B, H, S, Dh], F32, NoneTape], d: D
) -> Tensor[tuple[B, T, D], F32, NoneTape]:
    out = F.scaled_dot_product_attention(qh, kh, kh, causal=True)
    assert_type(out, Tensor[tuple[B, H, T, Dh], F32, NoneTape])
    return F.merge_heads(out, d)


any_mask: Any = None
mha.forward(x, attn_mask=any_mask)
