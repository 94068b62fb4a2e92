"""Accept corpus: ``x.retaped(like)`` puts an untraced tensor (integer ids or floats) on a traced tensor's tape."""

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

a: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3))
at = a.trace(Gradients())
pos: Tensor[tuple[L[3]], np.int64, NoneTape] = tt.tensor(np.arange(3), np.int64)
wide: Tensor[tuple[L[4], L[5]], np.float64, NoneTape] = tt.zeros((4, 5), np.float64)

# the shape and dtype are self's, the tape is like's (any shape, any dtype: integer ids too)
assert_type(pos.retaped(at), Tensor[tuple[L[3]], np.int64, OwnedTape])
assert_type(wide.retaped(at), Tensor[tuple[L[4], L[5]], np.float64, OwnedTape])
assert_type(a.retaped(pos.leaky_trace()), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
# a retaped tensor is traced like any other: it meets like's ops and backward runs from there
assert_type((a.retaped(at) + at).sum().backward(), Gradients)

# retaped ids into an Embedding: the output carries the tape, so forward_mut trains the table
emb = nn.Embedding[L[19], L[16]](19, 16)
assert_type(emb.forward_mut(pos.retaped(at)), Tensor[tuple[L[3], L[16]], Any, OwnedTape])


# the positions of a traced (B, T, D) batch, added like PyTorch's x + pos(torch.arange(T))
def add_positions(
    table: nn.Embedding[Any, D], x: Tensor[tuple[B, T, D], F32, OwnedTape]
) -> Tensor[tuple[B, T, D], F32, OwnedTape]:
    t = x.shape[1]
    ids = tt.tensor(np.arange(t), np.int64).realize((t,)).retaped(x)
    assert_type(ids, Tensor[tuple[T], np.int64, OwnedTape])
    return x + table.forward_mut(ids).broadcast_to(x.shape)
