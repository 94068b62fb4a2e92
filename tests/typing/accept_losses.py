"""Accept corpus: the losses keep the tape (logits' or prediction's; the target's when only it is traced) and give
rank-0 results for "mean"/"sum" (kl_div's "batchmean" too) and the batch shape for "none"."""

from __future__ import annotations

from typing import Literal as L
from typing import assert_type

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
F64 = np.float64

fc = nn.Linear[L[4], L[3]](4, 3)
x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
xt = x.trace(fc.alloc_grads())
logits = fc.forward_mut(xt)
labels: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(np.zeros(5), np.int64)
probs: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((5, 3))
weight: Tensor[tuple[L[3]], F32, NoneTape] = tt.ones((3,))

# cross_entropy: class indices or probabilities, class weights, ignore_index
assert_type(nn.cross_entropy(logits, labels, weight=weight, ignore_index=0), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.cross_entropy(logits, labels, "none", weight=weight), Tensor[tuple[int], F32, OwnedTape])
assert_type(nn.cross_entropy(logits, probs), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.cross_entropy(logits, probs, "sum", label_smoothing=0.1), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.cross_entropy(fc.forward(x), probs, "none", weight=weight), Tensor[tuple[int], F32, NoneTape])

# nll_loss on log-probabilities
logp = logits.log_softmax(-1)
assert_type(nn.nll_loss(logp, labels), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.nll_loss(logp, labels, "none", ignore_index=-1, weight=weight), Tensor[tuple[int], F32, OwnedTape])
assert_type(nn.nll_loss(fc.forward(x), labels, "sum"), Tensor[tuple[()], F32, NoneTape])

# pointwise losses: "none" keeps the prediction's shape
target: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((5, 3))
pos_weight: Tensor[tuple[L[3]], F32, NoneTape] = tt.ones((3,))
assert_type(nn.binary_cross_entropy_with_logits(logits, target), Tensor[tuple[()], F32, OwnedTape])
assert_type(
    nn.binary_cross_entropy_with_logits(logits, target, "none", pos_weight=pos_weight),
    Tensor[tuple[int, L[3]], F32, OwnedTape],
)
assert_type(nn.l1_loss(logits, target), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.l1_loss(fc.forward(x), target, "none"), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(nn.smooth_l1_loss(logits, target, beta=0.5), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.smooth_l1_loss(logits, target, "none"), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(nn.huber_loss(logits, target, "sum", delta=2.0), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.huber_loss(logits, target, "none"), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(nn.kl_div(logp, target, "batchmean"), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.kl_div(logp, target, "none", log_target=True), Tensor[tuple[int, L[3]], F32, OwnedTape])
# only the target traced: the loss carries its tape
assert_type(nn.l1_loss(target, logits), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.kl_div(target, logp, "none"), Tensor[tuple[int, L[3]], F32, OwnedTape])
# float64 throughout
p64: Tensor[tuple[int, int], F64, NoneTape] = tt.zeros((2, 2), F64)
assert_type(nn.huber_loss(p64, p64), Tensor[tuple[()], F64, NoneTape])
assert_type(nn.l1_loss(p64, p64, "none"), Tensor[tuple[int, int], F64, NoneTape])
assert_type(nn.binary_cross_entropy_with_logits(logits, target).backward(), tt.Gradients)

# K-dimensional scores (B, K, d1, ..., dk): labels (B, d1, ..., dk) or probabilities of the scores' shape;
# "none" gives the labels' shape, the other reductions rank 0
seg: Tensor[tuple[int, L[3], int, int], F32, NoneTape] = tt.zeros((2, 3, 4, 5))
seg_labels: Tensor[tuple[int, int, int], np.int64, NoneTape] = tt.tensor(np.zeros((2, 4, 5)), np.int64)
seg_probs: Tensor[tuple[int, L[3], int, int], F32, NoneTape] = tt.zeros((2, 3, 4, 5))
assert_type(nn.cross_entropy(seg, seg_labels), Tensor[tuple[()], F32, NoneTape])
assert_type(nn.cross_entropy(seg, seg_labels, "none", weight=weight), Tensor[tuple[int, int, int], F32, NoneTape])
assert_type(nn.cross_entropy(seg, seg_probs, "none", label_smoothing=0.1), Tensor[tuple[int, int, int], F32, NoneTape])
seq: Tensor[tuple[int, L[3], L[7]], F32, NoneTape] = tt.zeros((2, 3, 7))
seq_labels: Tensor[tuple[int, L[7]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 7)), np.int64)
seq_t = seq.trace(fc.alloc_grads())
assert_type(nn.cross_entropy(seq_t, seq_labels, "none"), Tensor[tuple[int, L[7]], F32, OwnedTape])
assert_type(nn.cross_entropy(seq_t, seq_labels, "sum", ignore_index=0), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.nll_loss(seq.log_softmax(1), seq_labels, "none"), Tensor[tuple[int, L[7]], F32, NoneTape])
assert_type(nn.nll_loss(seg, seg_labels, weight=weight), Tensor[tuple[()], F32, NoneTape])

# binary cross-entropy: a per-element weight (broadcast), and on probabilities
row_weight: Tensor[tuple[int, L[1]], F32, NoneTape] = tt.ones((5, 1))
assert_type(nn.binary_cross_entropy_with_logits(logits, target, weight=row_weight), Tensor[tuple[()], F32, OwnedTape])
assert_type(
    nn.binary_cross_entropy_with_logits(logits, target, "none", pos_weight, row_weight),
    Tensor[tuple[int, L[3]], F32, OwnedTape],
)
probs_out = logits.sigmoid()
assert_type(nn.binary_cross_entropy(probs_out, target), Tensor[tuple[()], F32, OwnedTape])
assert_type(nn.binary_cross_entropy(probs_out, target, "none", weight=weight), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(nn.binary_cross_entropy(target, probs_out, "sum"), Tensor[tuple[()], F32, OwnedTape])

# mse_loss "none": the prediction's shape, as the other pointwise losses
assert_type(nn.mse_loss(logits, target, "none"), Tensor[tuple[int, L[3]], F32, OwnedTape])
assert_type(nn.mse_loss(fc.forward(x), target, "none"), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(nn.mse_loss(target, logits, "none"), Tensor[tuple[int, L[3]], F32, OwnedTape])
# a generic forward nested in the call (its *Lead solved against the loss's (B, K) parameter, not a variadic one)
lin = nn.Linear(4, 3)
x_any: Tensor[tuple[int, int], F32, NoneTape] = tt.zeros((5, 4))
assert_type(nn.cross_entropy(lin.forward(x_any), labels), Tensor[tuple[()], F32, NoneTape])
assert_type(nn.nll_loss(lin.forward(x_any).log_softmax(-1), labels, "none"), Tensor[tuple[int], F32, NoneTape])
assert_type(
    nn.cross_entropy(lin.forward_mut(x_any.trace(fc.alloc_grads())), labels, "sum"), Tensor[tuple[()], F32, OwnedTape]
)
ids = tt.tensor([2, 0], np.int64)  # labels of a shape unknown to the checkers (tuple[Any, ...])
lin64 = nn.Linear(3, 3, dtype=np.float64)
x64: Tensor[tuple[int, int], F64, NoneTape] = tt.zeros((2, 3), F64)
assert_type(nn.cross_entropy(lin64.forward(x64), ids), Tensor[tuple[()], F64, NoneTape])
assert_type(nn.nll_loss(lin64.forward(x64), ids, "sum"), Tensor[tuple[()], F64, NoneTape])
