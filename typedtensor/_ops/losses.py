"""Losses as single recorded ops, PyTorch's formulas: cross-entropy (class indices or probabilities), NLL,
binary cross-entropy (with logits, or on probabilities), squared / absolute / smooth-L1 / Huber errors and KL
divergence. ``spatial`` runs a (B, K) class kernel on (B, K, d1, ..., dk) scores.

Each kernel returns the reduced value and a backward in closed form (one pass, no chain of primitive ops).
Sums accumulate in float64 and come back in the input's dtype; a mean over nothing is NaN (0 / 0, as
PyTorch), without a NumPy warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._types import Array, Grads, Result

Reduction = Literal["mean", "sum", "none"]
#: kl_div's reductions: "batchmean" divides the sum by the batch size (the first dim), "mean" by the element count
KLReduction = Literal["mean", "batchmean", "sum", "none"]
Labels = NDArray[np.integer[Any]]
#: the local derivatives of a pointwise loss for the parents that need one: (d loss / d pred, d loss / d target)
Local = Callable[[tuple[bool, ...]], tuple[Array | None, Array | None]]


def _divide(total: Any, count: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 is NaN, as PyTorch's mean over nothing
        return total / count


def _reduce(per_item: Array, reduction: str, count: float | None = None) -> Array:
    """``per_item`` reduced: the sum, or the sum over ``count`` (default the element count) for a mean."""
    if reduction == "none":
        return per_item
    total = np.sum(per_item, dtype=np.float64)  # accumulate in float64, return in the input's dtype
    if reduction != "sum":
        total = _divide(total, per_item.size if count is None else count)
    return np.asarray(total, dtype=per_item.dtype)


def _upstream(g: Array, n: float, reduction: str) -> Array:
    """The upstream gradient per item: g itself for 'none' and 'sum', g / n for a mean (0 when n is 0: a mean
    over no items, every item ignored or weighted 0, has a zero gradient, as in PyTorch)."""
    if reduction in ("none", "sum"):
        return g
    if n == 0:
        return np.zeros_like(g)
    up: Array = _divide(g, n)
    return up


def _rows(up: Array, reduction: str) -> Array:
    """A per-row upstream gradient broadcast against (B, K)."""
    return up[:, None] if reduction == "none" else up


def _log_softmax(z: Array) -> Array:
    shifted: Array = z - z.max(axis=1, keepdims=True)
    logp: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logp


def _label_weights(
    labels: Labels, weight: Array | None, ignore_index: int, dtype: np.dtype[Any]
) -> tuple[Array, Array]:
    """(safe labels, weight per item): ignored items get label 0 and weight 0, the others ``weight[label]`` (or 1)."""
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0).astype(np.intp, copy=False)
    w = keep.astype(dtype) if weight is None else np.where(keep, weight[safe], 0).astype(dtype, copy=False)
    return safe, w


def cross_entropy(
    z: Array, labels: Labels, reduction: Reduction, smoothing: float, weight: Array | None, ignore_index: int
) -> Result:
    """Cross-entropy of logits z (B, K) against integer labels (B,), as PyTorch's ``cross_entropy``.

    Item i's loss is ``(1 - s) w[y_i] (-log p_i[y_i]) + s / K sum_k w_k (-log p_ik)`` (s the label smoothing,
    w the class weights, 1 without) and 0 for a label equal to ``ignore_index``; the mean divides the sum by
    the sum of ``w[y_i]`` over the items not ignored (NaN when every item is ignored). The gradient is
    ``(1 - s) w[y_i] (p_i - onehot_i) + s / K (p_i sum(w) - w)`` times the upstream gradient.
    """
    b, k = int(z.shape[0]), int(z.shape[1])
    logp = _log_softmax(z)
    rows: NDArray[np.intp] = np.arange(b)
    safe, wy = _label_weights(labels, weight, ignore_index, z.dtype)
    per_item = -wy * logp[rows, safe]
    keep = (labels != ignore_index).astype(z.dtype)
    if smoothing:
        spread = -(logp.mean(axis=1) if weight is None else (logp * weight).sum(axis=1) / k)
        per_item = (1.0 - smoothing) * per_item + smoothing * keep * spread
    per_item = per_item.astype(z.dtype, copy=False)
    count = float(np.sum(wy, dtype=np.float64))

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        p = np.exp(logp)
        grad = p * ((1.0 - smoothing) * wy)[:, None]
        grad[rows, safe] -= (1.0 - smoothing) * wy
        if smoothing:
            total = float(k) if weight is None else float(np.sum(weight, dtype=np.float64))
            uniform = 1.0 if weight is None else weight
            grad += (smoothing / k) * keep[:, None] * (p * total - uniform)
        grad *= _rows(_upstream(g, count, reduction), reduction)
        return (grad.astype(z.dtype, copy=False), None)

    return _reduce(per_item, reduction, count), bwd


def soft_cross_entropy(z: Array, target: Array, reduction: Reduction, smoothing: float, weight: Array | None) -> Result:
    """Cross-entropy of logits z (B, K) against class probabilities ``target`` (B, K), as PyTorch's.

    Item i's loss is ``-sum_k w_k t_ik log p_ik`` with t smoothed to ``(1 - s) t + s / K``; the mean divides
    by B (not by the weights). The gradient for z is ``p_i sum_k(w_k t_ik) - w t_i``; the target is a
    constant of the op (no gradient).
    """
    k = int(z.shape[1])
    logp = _log_softmax(z)
    t = target if not smoothing else (1.0 - smoothing) * target + smoothing / k
    wt = t if weight is None else t * weight
    per_item = (-(wt * logp).sum(axis=1)).astype(z.dtype, copy=False)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        grad = np.exp(logp) * wt.sum(axis=1, keepdims=True) - wt
        grad *= _rows(_upstream(g, z.shape[0], reduction), reduction)
        return (grad.astype(z.dtype, copy=False), None)

    return _reduce(per_item, reduction), bwd


def spatial(kernel: Callable[..., Result], z: Array, target: Array, reduction: Reduction, *rest: Any) -> Result:
    """``kernel`` (a (B, K) class loss: ``cross_entropy``, ``soft_cross_entropy`` or ``nll``) on scores
    z (B, K, d1, ..., dk): each position (b, d1, ..., dk) is one row of K scores, as in PyTorch.

    ``target`` is the labels (B, d1, ..., dk) or the probabilities of z's shape. The rows are z with the class
    axis moved last; "none" gives (B, d1, ..., dk), a mean divides by the same count as over the rows (the
    weights of the positions' labels, or the position count). 2-D scores go to ``kernel`` unchanged.
    """
    if z.ndim == 2:
        return kernel(z, target, reduction, *rest)
    k = int(z.shape[1])
    lead = (int(z.shape[0]), *(int(d) for d in z.shape[2:]))
    rows = np.moveaxis(z, 1, -1).reshape(-1, k)
    flat = target.reshape(-1) if target.ndim == z.ndim - 1 else np.moveaxis(target, 1, -1).reshape(-1, k)
    out, bwd = kernel(rows, flat, reduction, *rest)

    def back(g: Array, need: tuple[bool, ...]) -> Grads:
        grad = bwd(g.reshape(-1) if reduction == "none" else g, need)[0]
        assert grad is not None  # the class kernels always give the scores' gradient
        return (np.ascontiguousarray(np.moveaxis(grad.reshape(*lead, k), -1, 1)), None)

    return (out.reshape(lead) if reduction == "none" else out), back


def nll(x: Array, labels: Labels, reduction: Reduction, weight: Array | None, ignore_index: int) -> Result:
    """Negative log-likelihood of log-probabilities x (B, K) at integer labels (B,), as PyTorch's ``nll_loss``.

    Item i's loss is ``-w[y_i] x[i, y_i]`` (0 when ignored); the mean divides by the sum of ``w[y_i]`` over the
    items not ignored. The gradient is ``-w[y_i]`` at (i, y_i), zero elsewhere.
    """
    rows: NDArray[np.intp] = np.arange(int(x.shape[0]))
    safe, wy = _label_weights(labels, weight, ignore_index, x.dtype)
    count = float(np.sum(wy, dtype=np.float64))

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        grad = np.zeros(x.shape, x.dtype)
        grad[rows, safe] = -wy * _upstream(g, count, reduction)
        return (grad, None)

    return _reduce((-wy * x[rows, safe]).astype(x.dtype, copy=False), reduction, count), bwd


def _pointwise(per: Array, local: Local, reduction: str, count: float | None = None) -> Result:
    """A loss of elementwise terms ``per`` (pred's shape) reduced; ``local`` gives the terms' derivatives."""
    n = per.size if count is None else count

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        up = _upstream(g, n, reduction)
        dp, dt = local(need)
        return (None if dp is None else (dp * up).astype(per.dtype, copy=False),
                None if dt is None else (dt * up).astype(per.dtype, copy=False))  # fmt: skip

    return _reduce(per, reduction, count), bwd


def mse(p: Array, t: Array, reduction: Reduction) -> Result:
    """Squared error ``(p - t)^2`` reduced; inputs are (p, t) and both may get a gradient."""
    d = p - t
    return _pointwise(d * d, lambda need: (2.0 * d if need[0] else None, -2.0 * d if need[1] else None), reduction)


def l1(p: Array, t: Array, reduction: Reduction) -> Result:
    """Absolute error ``|p - t|``; its gradient ``sign(p - t)`` (0 where they are equal, as PyTorch)."""
    d = p - t
    return _pointwise(
        np.abs(d), lambda need: (np.sign(d) if need[0] else None, -np.sign(d) if need[1] else None), reduction
    )


def smooth_l1(p: Array, t: Array, reduction: Reduction, beta: float, scale: float) -> Result:
    """``0.5 d^2 / beta`` where ``|d| < beta``, ``|d| - 0.5 beta`` elsewhere (d = p - t), times ``scale``.

    PyTorch's smooth L1 is scale 1; its Huber loss with ``delta`` is this with beta = delta, scale = delta.
    beta 0 is the absolute error.
    """
    d = p - t
    a = np.abs(d)
    inner = a < beta
    with np.errstate(divide="ignore", invalid="ignore"):  # beta 0: no element is inner
        per = np.where(inner, (0.5 / beta if beta else 0.0) * d * d, a - 0.5 * beta) * scale
        slope = np.where(inner, d / beta if beta else 0.0, np.sign(d)) * scale

    return _pointwise(
        per.astype(p.dtype, copy=False),
        lambda need: (slope if need[0] else None, -slope if need[1] else None),
        reduction,
    )


def _weighted(per: Array, local: Local, weight: Array | None) -> tuple[Array, Local]:
    """A pointwise loss's terms and derivatives times a per-element ``weight`` (broadcast; None: unweighted)."""
    if weight is None:
        return per, local

    def scaled(need: tuple[bool, ...]) -> tuple[Array | None, Array | None]:
        dp, dt = local(need)
        return (None if dp is None else dp * weight), (None if dt is None else dt * weight)

    return (per * weight).astype(per.dtype, copy=False), scaled


def bce_with_logits(
    x: Array, t: Array, reduction: Reduction, pos_weight: Array | None, weight: Array | None = None
) -> Result:
    """Binary cross-entropy of logits x against targets t in [0, 1], as PyTorch's ``binary_cross_entropy_with_logits``.

    Per element ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)`` with ``softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)``:
    no exp of a large number, finite for |x| ~ 1e4 in float32. d/dx = ``(1 - t) - lw sigmoid(-x)`` and
    d/dt = ``-x + (pw - 1) softplus(-x)`` (lw = 1 + (pw - 1) t, pw = 1 without pos_weight). ``weight``
    (broadcast to x's shape) scales each element's term and derivatives; the mean still divides by x's size.
    """
    e = np.exp(-np.abs(x))
    softplus_neg = np.log1p(e) + np.maximum(-x, 0)
    lw = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * t
    per = ((1.0 - t) * x + lw * softplus_neg).astype(x.dtype, copy=False)

    def local(need: tuple[bool, ...]) -> tuple[Array | None, Array | None]:
        dx = None
        if need[0]:
            sig_neg = np.where(x >= 0, e / (1.0 + e), 1.0 / (1.0 + e))  # sigmoid(-x), stable both ways
            dx = (1.0 - t) - lw * sig_neg
        dt = None
        if need[1]:
            dt = -x if pos_weight is None else -x + (pos_weight - 1.0) * softplus_neg
        return dx, dt

    return _pointwise(*_weighted(per, local, weight), reduction)


#: PyTorch's floor of each log term of ``binary_cross_entropy`` (log 0 would be -inf), and of x (1 - x) in
#: its gradient's denominator: 1e-12 rounded to float32 (a C float constant there), also for float64 inputs
LOG_FLOOR = -100.0
BCE_EPS = float(np.float32(1e-12))


def bce(x: Array, t: Array, reduction: Reduction, weight: Array | None) -> Result:
    """Binary cross-entropy of probabilities x in [0, 1] against targets t, as PyTorch's ``binary_cross_entropy``.

    Per element ``-(t max(log x, -100) + (1 - t) max(log(1 - x), -100))`` (times ``weight``): finite at x = 0
    and x = 1. d/dx = ``(x - t) / max(x (1 - x), 1e-12)`` and d/dt = ``log(1 - x) - log x`` (PyTorch's
    ``-logit(x)``, infinite at 0 and 1), both times ``weight``. The caller checks that x is in [0, 1].
    """
    with np.errstate(divide="ignore"):  # log 0 = -inf, floored
        log_x = np.log(x)
        log_1mx = np.log1p(-x)
    per = -(t * np.maximum(log_x, LOG_FLOOR) + (1.0 - t) * np.maximum(log_1mx, LOG_FLOOR))

    def local(need: tuple[bool, ...]) -> tuple[Array | None, Array | None]:
        dx = (x - t) / np.maximum((1.0 - x) * x, BCE_EPS) if need[0] else None
        return dx, (log_1mx - log_x if need[1] else None)

    return _pointwise(*_weighted(per.astype(x.dtype, copy=False), local, weight), reduction)


def kl_div(x: Array, t: Array, reduction: KLReduction, log_target: bool) -> Result:
    """KL divergence terms of log-probabilities x against the target, as PyTorch's ``kl_div``.

    Per element ``t (log t - x)`` (0 where t = 0) or, with ``log_target``, ``exp(t) (t - x)``. "batchmean"
    divides the sum by ``x.shape[0]`` (the KL divergence per item), "mean" by the element count.
    d/dx = ``-t`` (``-exp(t)``); d/dt = ``log t + 1 - x`` (``exp(t) (t - x + 1)``).
    """
    et: Array = np.exp(t) if log_target else t  # the weight of each term: exp(t) or t itself
    if log_target:
        per = et * (t - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # t < 0 is NaN, as PyTorch's xlogy
            per = np.where(t == 0, 0, t * np.log(np.where(t == 0, 1, t))) - t * x
    count = (x.shape[0] if x.ndim else 1) if reduction == "batchmean" else None

    def local(need: tuple[bool, ...]) -> tuple[Array | None, Array | None]:
        dx = -et if need[0] else None
        dt: Array | None = None
        if need[1]:
            with np.errstate(divide="ignore", invalid="ignore"):  # d/dt at t = 0 is -inf, the one-sided derivative
                dt = et * (t - x + 1.0) if log_target else np.log(t) + 1.0 - x
        return dx, dt

    return _pointwise(per.astype(x.dtype, copy=False), local, reduction, count)
