"""BatchNorm kernels compiled with numba (the ``fast`` extra), parallel over the N*C rows.

Same contract and numerics as ``_bn_numpy`` (whose short path also serves tiny tensors here): each row of x viewed as (N*C, L) is summed around its
first element (a shift close to the data, so no cancellation), in float64, and rows are merged per
channel with Chan's formula; the big passes are ``a*x + b`` and ``A*g + B*x + C``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from . import _bn_numpy
from ._bn_numpy import is_small, merge_rows

__all__ = ["affine", "backward_small", "combine", "grad_sums", "is_small", "stats", "train_small"]

#: Below this many elements, starting the parallel loops costs more than the work: use NumPy's path.
_MIN_SIZE = 1 << 14

Array = NDArray[Any]
F64 = NDArray[np.float64]

_jit = njit(parallel=True, cache=True, fastmath=False)
_prange = prange


@_jit
def _row_moments(rows: Array, shift: Array, s1: F64, s2: F64) -> None:  # pragma: no cover - compiled
    for r in _prange(rows.shape[0]):
        k = rows[r, 0] if rows.shape[1] > 0 else 0.0
        a = 0.0
        b = 0.0
        for i in range(rows.shape[1]):
            d = np.float64(rows[r, i] - k)
            a += d
            b += d * d
        shift[r] = k
        s1[r] = a
        s2[r] = b


@_jit
def _row_affine(rows: Array, a: Array, b: Array, out: Array) -> None:  # pragma: no cover - compiled
    for r in _prange(rows.shape[0]):
        ar = a[r]
        br = b[r]
        for i in range(rows.shape[1]):
            out[r, i] = rows[r, i] * ar + br


@_jit
def _row_grad_sums(g: Array, rows: Array, mean: Array, sg: F64, sgd: F64) -> None:  # pragma: no cover
    for r in _prange(rows.shape[0]):
        m = mean[r]
        a = 0.0
        b = 0.0
        for i in range(rows.shape[1]):
            gi = np.float64(g[r, i])
            a += gi
            b += gi * (np.float64(rows[r, i]) - m)
        sg[r] = a
        sgd[r] = b


@_jit
def _row_combine(g: Array, rows: Array, ca: Array, cb: Array, cc: Array, out: Array) -> None:  # pragma: no cover
    for r in _prange(rows.shape[0]):
        a = ca[r]
        b = cb[r]
        k = cc[r]
        for i in range(rows.shape[1]):
            out[r, i] = a * g[r, i] + b * rows[r, i] + k


def _per_row(v: F64, n: int, dtype: np.dtype[Any]) -> Array:
    return np.tile(v.astype(dtype), n)


def stats(x: Array) -> tuple[F64, F64]:
    """Per-channel mean and biased variance (float64) of x (N, C, L)."""
    if x.size < _MIN_SIZE:
        return _bn_numpy.stats(x)
    n, c, length = x.shape
    count = n * length
    if count == 0:
        zero = np.zeros(int(c), dtype=np.float64)
        return zero, zero.copy()
    rows = x.reshape(n * c, length)
    shift = np.empty(n * c)
    s1 = np.empty(n * c)
    s2 = np.empty(n * c)
    _row_moments(rows, shift, s1, s2)
    k = shift.reshape(n, c)
    s1m, s2m = s1.reshape(n, c), s2.reshape(n, c)
    return merge_rows(k, s1m, s2m, length)


def affine(x: Array, a: F64, b: F64, out: Array) -> Array:
    """out = a[c] * x + b[c]."""
    if x.size < _MIN_SIZE:
        return _bn_numpy.affine(x, a, b, out)
    n, c, length = x.shape
    _row_affine(x.reshape(n * c, length), _per_row(a, n, x.dtype), _per_row(b, n, x.dtype), out.reshape(n * c, length))
    return out


def grad_sums(g: Array, x: Array, mean: F64) -> tuple[F64, F64]:
    """Per-channel sum(g) and sum(g * (x - mean)) in float64."""
    if x.size < _MIN_SIZE:
        return _bn_numpy.grad_sums(g, x, mean)
    n, c, length = x.shape
    sg = np.empty(n * c)
    sgd = np.empty(n * c)
    _row_grad_sums(g.reshape(n * c, length), x.reshape(n * c, length), np.tile(mean, n), sg, sgd)
    return sg.reshape(n, c).sum(axis=0), sgd.reshape(n, c).sum(axis=0)


def combine(g: Array, x: Array, ca: F64, cb: F64, cc: F64, out: Array) -> Array:
    """out = ca[c] * g + cb[c] * x + cc[c]."""
    if x.size < _MIN_SIZE:
        return _bn_numpy.combine(g, x, ca, cb, cc, out)
    n, c, length = x.shape
    t = x.dtype
    _row_combine(
        g.reshape(n * c, length),
        x.reshape(n * c, length),
        _per_row(ca, n, t),
        _per_row(cb, n, t),
        _per_row(cc, n, t),
        out.reshape(n * c, length),
    )
    return out


_jit_serial = njit(parallel=False, cache=True, fastmath=False)


@_jit_serial
def _train_small(
    x: Array, scale: Array, bias: Array, eps: float, out: Array, mean: F64, var: F64, r: F64
) -> None:  # pragma: no cover
    n, c, length = x.shape
    count = n * length
    for ch in range(c):
        s = 0.0
        for i in range(n):
            for j in range(length):
                s += x[i, ch, j]
        m = s / count
        q = 0.0
        for i in range(n):
            for j in range(length):
                d = x[i, ch, j] - m
                q += d * d
        v = q / count
        rr = 1.0 / np.sqrt(v + eps)
        a = scale[ch] * rr
        b = bias[ch] - m * a
        for i in range(n):
            for j in range(length):
                out[i, ch, j] = x[i, ch, j] * a + b
        mean[ch] = m
        var[ch] = v
        r[ch] = rr


@_jit_serial
def _backward_small(
    g: Array, x: Array, mean: F64, r: F64, scale: Array, dx: Array, sgd: F64, sg: F64
) -> None:  # pragma: no cover
    n, c, length = x.shape
    inv = 1.0 / (n * length)
    for ch in range(c):
        m = mean[ch]
        a = 0.0
        b = 0.0
        for i in range(n):
            for j in range(length):
                gi = np.float64(g[i, ch, j])
                a += gi
                b += gi * (x[i, ch, j] - m)
        rr = r[ch]
        coef = scale[ch] * rr
        k = rr * rr * b * inv
        mg = a * inv
        for i in range(n):
            for j in range(length):
                dx[i, ch, j] = coef * (g[i, ch, j] - mg - (x[i, ch, j] - m) * k)
        sg[ch] = a
        sgd[ch] = b * rr


def train_small(x: Array, scale: Array | None, bias: Array | None, eps: float) -> tuple[Array, F64, F64, Any]:
    """Fused training forward of a small x (N, C, L): one compiled call."""
    c = x.shape[1]
    s = np.ones(c, dtype=x.dtype) if scale is None else scale
    b = np.zeros(c, dtype=x.dtype) if bias is None else bias
    out = np.empty_like(x)
    mean, var, r = np.empty(c), np.empty(c), np.empty(c)
    _train_small(x, s, b, eps, out, mean, var, r)
    return out, mean, var, (x, mean, r, s)


def backward_small(g: Array, save: Any) -> tuple[Array, F64, F64]:
    """Fused closed-form backward of :func:`train_small`: dx, sum(g * xhat), sum(g)."""
    x, mean, r, scale = save
    c = x.shape[1]
    dx = np.empty_like(x)
    sgd, sg = np.empty(c), np.empty(c)
    _backward_small(np.ascontiguousarray(g, dtype=x.dtype), x, mean, r, scale, dx, sgd, sg)
    return dx, sgd, sg
