"""Reject corpus: losses given a target of another shape or dtype, float labels, weights of the wrong class count,
a reduction the loss does not have."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F32 = np.float32

logits: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((5, 3))
labels: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(np.zeros(5), np.int64)
float_labels: Tensor[tuple[int], F32, NoneTape] = tt.zeros((5,))
probs4: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
weight4: Tensor[tuple[L[4]], F32, NoneTape] = tt.ones((4,))
weight64: Tensor[tuple[L[3]], np.float64, NoneTape] = tt.ones((3,), np.float64)
target4: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((5, 4))
target64: Tensor[tuple[int, L[3]], np.float64, NoneTape] = tt.zeros((5, 3), np.float64)

nn.cross_entropy(logits, probs4)  # type: ignore[type-var, arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.cross_entropy(logits, labels, weight=weight4)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.cross_entropy(logits, labels, "avg")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.nll_loss(logits, float_labels)  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.nll_loss(logits, labels, weight=weight64)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.binary_cross_entropy_with_logits(logits, target4)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.l1_loss(logits, target64)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.smooth_l1_loss(logits, target4, "none")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.huber_loss(logits, logits, "batchmean")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.kl_div(logits, logits, "avg")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]

# K-dimensional scores: labels whose spatial dims are not the scores', class weights of another K
seq: Tensor[tuple[int, L[3], L[7]], F32, NoneTape] = tt.zeros((2, 3, 7))
seq_labels5: Tensor[tuple[int, L[5]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 5)), np.int64)
seq_probs4: Tensor[tuple[int, L[4], L[7]], F32, NoneTape] = tt.zeros((2, 4, 7))
nn.cross_entropy(seq, seq_labels5)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.cross_entropy(seq, seq_probs4, "none")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.nll_loss(seq, seq_labels5, "none")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]

# binary cross-entropy: a weight of another dtype, integer targets; mse_loss's "none" keeps the shapes' check
nn.binary_cross_entropy_with_logits(logits, logits, weight=weight64)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.binary_cross_entropy(logits, labels)  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.binary_cross_entropy(logits, logits, "avg")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.mse_loss(logits, target4, "none")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
# the options' types: label_smoothing and beta floats, ignore_index an int, log_target a bool
nn.cross_entropy(logits, labels, label_smoothing="0.1")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.cross_entropy(logits, labels, ignore_index=1.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.smooth_l1_loss(logits, logits, beta="1")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
nn.kl_div(logits, logits, log_target=1.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
