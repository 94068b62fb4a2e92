"""Accept corpus: ``nn.Sequential`` (issue 14 item 4). Given the input's type first, the checkers check every
link of the chain through the layers' ``__call__`` types and know the output; without it a Sequential is
``Sequential[Any, Any, Any, Any]`` (checked at run time only)."""

from __future__ import annotations

from typing import Any, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32

x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((3, 4))
mlp = nn.Sequential(
    Tensor[tuple[int, L[4]], F32, Any],
    nn.Linear[L[4], L[16]](4, 16),
    nn.LayerNorm[L[16]](16),
    nn.GELU(),
    nn.Dropout(0.1),
    nn.Linear[L[16], L[3]](16, 3),
)
assert_type(mlp, nn.Sequential[tuple[int, L[4]], F32, tuple[int, L[3]], F32])
grads = mlp.alloc_grads()
xt = x.trace(grads)
assert_type(mlp(x), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(mlp(xt), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(mlp.forward(x), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(mlp.forward_mut(xt), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(len(mlp), int)
assert_type(mlp[0], nn.Module)
labels: Tensor[tuple[int], np.int64, NoneTape] = tt.zeros((3,), np.int64)
assert_type(nn.cross_entropy(mlp(xt), labels), Tensor[tuple[()], F32, OwnedTape])

# a Sequential is a layer of another one (its __call__ is one signature)
deep = nn.Sequential(Tensor[tuple[int, L[4]], F32, Any], mlp, nn.ReLU(), nn.Linear[L[3], L[1]](3, 1))
assert_type(deep(xt), Tensor[tuple[int, L[1]], F32, OwnedTape])
# token ids in, through an embedding
ids: Tensor[tuple[int, int], np.int64, NoneTape] = tt.zeros((2, 5), np.int64)
emb = nn.Sequential(
    Tensor[tuple[int, int], np.int64, Any], nn.Embedding[L[10], L[8]](10, 8), nn.Linear[L[8], L[2]](8, 2)
)
assert_type(emb(ids), Tensor[tuple[int, int, L[2]], Any, NoneTape])
# eight layers: the most the overloads type
eight = nn.Sequential(
    Tensor[tuple[int, L[4]], F32, Any],
    nn.Linear[L[4], L[4]](4, 4),
    nn.ReLU(),
    nn.Linear[L[4], L[4]](4, 4),
    nn.Tanh(),
    nn.Linear[L[4], L[4]](4, 4),
    nn.SiLU(),
    nn.Identity(),
    nn.Linear[L[4], L[2]](4, 2),
)
assert_type(eight(x), Tensor[tuple[int, L[2]], F32, NoneTape])

# without the input's type (a CNN: overloaded layers, which no checker solves in a chain): Any shapes, the tape kept
m: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 1, 8, 8))
cnn = nn.Sequential(nn.Conv2D[L[1], L[4]](1, 4, 3, padding=1), nn.BatchNorm2D[L[4]](4), nn.ReLU(), nn.Flatten())
assert_type(cnn, nn.Sequential[Any, Any, Any, Any])
assert_type(cnn(m), Tensor[Any, Any, NoneTape])
assert_type(cnn(m.trace(cnn.alloc_grads())), Tensor[Any, Any, OwnedTape])
head: Tensor[tuple[int, int], F32, NoneTape] = cnn(m)  # an annotated target takes the Any shapes
