"""Accept corpus: Linear, activations, Dropout, losses and pipe infer exact types."""

from __future__ import annotations

from typing import Literal as L
from typing import assert_type

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32

fc = nn.Linear[L[4], L[3]](4, 3)
bn = nn.BatchNorm1D[L[3]](3)
head = nn.Linear[L[3], L[2]](3, 2)
relu = nn.ReLU()
drop = nn.Dropout(0.1)
x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
v: Tensor[tuple[L[4]], F32, NoneTape] = tt.zeros((4,))
grads = fc.alloc_grads()
xt = x.trace(grads)

assert_type(fc.forward(x), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(fc.forward(v), Tensor[tuple[L[3]], F32, NoneTape])
assert_type(fc.forward_mut(xt), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(fc.forward(xt), Tensor[tuple[int, L[3]], F32, OwnedTape])  # no train/infer difference
assert_type(relu.forward(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.GELU().forward(x), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(drop.forward(x), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(drop.forward_mut(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])

# pipe: every link checked, the result type exact
assert_type(nn.pipe(x, fc.forward, bn.forward, relu.forward, head.forward), Tensor[tuple[int, L[2]], F32, NoneTape])
assert_type(
    nn.pipe(xt, fc.forward_mut, bn.forward_mut, drop.forward_mut, head.forward_mut),
    Tensor[tuple[int, L[2]], F32, OwnedTape],
)

# losses: rank-0 results ready for backward()
logits = nn.pipe(xt, fc.forward_mut, head.forward_mut)
labels: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(np.array([0, 1, 1, 0, 1]), np.int64)
loss = nn.cross_entropy(logits, labels)
assert_type(loss, Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.cross_entropy(logits, labels, "none"), Tensor[tuple[int], F32, OwnedTape])
assert_type(loss.backward(), tt.Gradients)
# labels cut from traced token ids carry the ids' tape: accepted, never given a gradient; the loss has the logits' tape
traced_labels = labels.trace(grads)
assert_type(nn.cross_entropy(logits, traced_labels), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.cross_entropy(fc.forward(x), traced_labels, "none"), Tensor[tuple[int], F32, NoneTape])
target: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((5, 3))
assert_type(nn.mse_loss(fc.forward(x), target), Tensor[tuple[()], F32, NoneTape])
assert_type(nn.mse_loss(fc.forward_mut(xt), target, "sum"), Tensor[tuple[()], F32, OwnedTape])

# module utilities keep the module's type
assert_type(fc.to_dtype(np.float64), nn.Linear[L[4], L[3]])

# fold_batchnorm keeps the conv's channel types
conv = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3)
assert_type(nn.fold_batchnorm(conv, nn.BatchNorm2D[L[16]](16)), nn.Conv2D[L[1], L[16]])

# Flatten keeps the batch dim; Residual keeps the shape; the activations keep everything
img: Tensor[tuple[int, L[2], L[3], L[3]], F32, NoneTape] = tt.zeros((5, 2, 3, 3))
assert_type(nn.Flatten().forward(img), Tensor[tuple[int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(nn.Flatten().forward(img), Tensor[tuple[int, L[18]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.Residual(nn.Linear[L[4], L[4]](4, 4)).forward(x), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(nn.Tanh().forward_mut(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.Sigmoid().forward(x), Tensor[tuple[int, L[4]], F32, NoneTape])
