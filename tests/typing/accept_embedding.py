"""Accept corpus: Embedding[N, D] maps integer ids (*S) to (*S, D), carries the ids' tape, and is generic in D."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import Gradients, NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)

emb = nn.Embedding[L[100], L[16]](100, 16)
ids: Tensor[tuple[int, L[10]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 10)), np.int64)
flat: Tensor[tuple[int], np.int32, NoneTape] = tt.tensor([1, 2], np.int32)

# (*S) -> (*S, D) for any rank and integer dtype; the output has the weight's dtype (Any) and the ids' tape
assert_type(emb.forward(ids), Tensor[tuple[int, L[10], L[16]], Any, NoneTape])
assert_type(emb.forward(flat), Tensor[tuple[int, L[16]], Any, NoneTape])
assert_type(emb.forward_mut(ids.trace(Gradients())), Tensor[tuple[int, L[10], L[16]], Any, OwnedTape])
assert_type(emb.forward_mut(ids.leaky_trace()), Tensor[tuple[int, L[10], L[16]], Any, OwnedTape])
assert_type(emb.weight, Tensor[tuple[L[100], L[16]], Any, NoneTape])

# every option, PyTorch's names
nn.Embedding[L[100], L[16]](100, 16, padding_idx=0, dtype=np.float64, seed=1)
nn.Embedding[L[100], L[16]](100, 16, -1)

# the embedded tokens into a LayerNorm and a Linear: D flows on (annotate the dtype the layer was built with)
h: Tensor[tuple[int, L[10], L[16]], F32, OwnedTape] = emb.forward_mut(ids.leaky_trace())
up = nn.Linear[L[16], L[32]](16, 32)
assert_type(up.forward_mut(nn.LayerNorm[L[16]](16).forward_mut(h)), Tensor[tuple[int, L[10], L[32]], F32, OwnedTape])


# generic in D: token embeddings plus position embeddings of the same width
def embed(tok: nn.Embedding[Any, D], pos: Tensor[tuple[B, T, D], F32, NoneTape], x: Tensor[tuple[B, T], np.int64, OwnedTape]) -> Tensor[tuple[B, T, D], F32, OwnedTape]:  # fmt: skip
    out: Tensor[tuple[B, T, D], F32, OwnedTape] = tok.forward_mut(x)
    return out + pos


pos16: Tensor[tuple[int, L[10], L[16]], F32, NoneTape] = tt.zeros((2, 10, 16))
assert_type(embed(emb, pos16, ids.leaky_trace()), Tensor[tuple[int, L[10], L[16]], F32, OwnedTape])
