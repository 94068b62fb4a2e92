"""Losses as single recorded ops: cross-entropy from logits, and mean squared error."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._types import Array, Grads, Result

Reduction = Literal["mean", "sum", "none"]


def _reduce(per_item: Array, reduction: Reduction) -> Array:
    if reduction == "none":
        return per_item
    total = np.sum(per_item, dtype=np.float64)  # accumulate in float64, return in the input's dtype
    return np.asarray(total / per_item.size if reduction == "mean" else total, dtype=per_item.dtype)


def _upstream(g: Array, n: int, reduction: Reduction) -> Array:
    """The upstream gradient per item: (n,) for 'none', a broadcastable scalar otherwise."""
    if reduction == "none":
        return g
    return g / n if reduction == "mean" else g


def cross_entropy(z: Array, labels: NDArray[np.integer[Any]], reduction: Reduction, smoothing: float) -> Result:
    """Cross-entropy of logits z (B, K) against integer labels (B,), as PyTorch's ``cross_entropy``.

    With label smoothing s the target is (1 - s) one-hot + s / K. The gradient is
    ``softmax(z) - target`` times the upstream gradient: one pass, no chain of primitive ops. Two
    parents (logits, labels); the integer labels never need a gradient.
    """
    b, k = int(z.shape[0]), int(z.shape[1])
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    logp = shifted - lse
    rows: NDArray[np.intp] = np.arange(b)
    per_item = -logp[rows, labels]
    if smoothing:
        per_item = (1.0 - smoothing) * per_item - smoothing * logp.mean(axis=1)
    per_item = per_item.astype(z.dtype, copy=False)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        grad = np.exp(logp)
        if smoothing:
            grad -= smoothing / k
        grad[rows, labels] -= 1.0 - smoothing
        up = _upstream(g, b, reduction)
        grad *= up[:, None] if reduction == "none" else up
        return (grad, None)

    return _reduce(per_item, reduction), bwd


def mse(p: Array, t: Array, reduction: Reduction) -> Result:
    """Squared error ``(p - t)^2`` reduced; inputs are (p, t) and both may get a gradient."""
    d = p - t

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        gp = 2.0 * d * _upstream(g, d.size, reduction)
        return (gp if need[0] else None, -gp if need[1] else None)

    return _reduce(d * d, reduction), bwd
