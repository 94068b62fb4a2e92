"""BatchNorm kernels on NumPy: numerically stable statistics and the closed-form backward.

Every kernel takes the input viewed as ``(N, C, L)`` (batch, channel, everything else) and works on
per-channel vectors of length C in float64. Large tensors are processed as N*C rows of length L in
blocks of about 256 KB, so the second touch of a block hits the cache:

* statistics: each row (or piece of at most 32768 values of a longer row) is centred on its own
  provisional mean ``m`` (float32); from the centred row ``d`` we take ``S1 = sum(d)`` and
  ``S2 = sum(d*d)`` with BLAS, and merge the pieces per channel in float64 with Chan's formula, which
  is exact whatever ``m`` is. ``E[x^2] - E[x]^2`` is never formed, so a float32 input with mean 1e4 and
  std 1 keeps its variance (the naive formula goes negative).
* the big passes are ``y = a*x + b`` and ``dx = A*g + B*x + C`` with per-channel ``a, b, A, B, C``,
  written with ``out=`` into one output buffer; for batched input the coefficients are laid out as
  (C, L) planes so each pass is one contiguous loop per sample, and inference on big tensors splits
  the samples between two threads.

Small tensors take a short path with the fewest NumPy calls (two passes, float64 accumulation), and
training on them uses :func:`train_small` / :func:`backward_small`, a whole direction in ~12 calls.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import TypedTensorError

Array = NDArray[Any]
F64 = NDArray[np.float64]

_BLOCK_BYTES = 256 * 1024
_SMALL = 1 << 15  # elements: below this, call overhead dominates
_SHORT_ROW = 64  # rows shorter than this are not worth the row-blocked path


def row_view(x: Array) -> Array:
    """x (N, C, L) as N*C rows of length L: always a view of x, never a copy.

    Kernels write their output through these rows, so a reshape that silently copied (x not
    C-contiguous) would leave the real output unwritten: refuse it instead.
    """
    n, c, length = x.shape
    try:
        return np.reshape(x, (n * c, length), copy=False)
    except ValueError:
        raise TypedTensorError(
            f"BatchNorm kernels take (N, C, L) arrays whose rows are one view; got shape {x.shape} with strides "
            f"{x.strides}: pass np.ascontiguousarray(x)"
        ) from None


@functools.lru_cache(maxsize=32)
def _ones(n: int, dtype: np.dtype[Any]) -> Array:
    """A (cached, read-only) vector of ones for BLAS row sums."""
    v = np.ones(n, dtype=dtype)
    v.flags.writeable = False
    return v


def channel_sums(a: Array) -> F64:
    """Per-channel sums of ``a`` (N, C, L) in float64: over N first (whole (C, L) planes added at once), then
    along L. NumPy's reduce over axes (0, 2) at once restarts its loop every row: 3-4x slower on short rows.
    Tiny arrays take that one call (the second call would cost more than the rows)."""
    if a.size <= _ONE_CALL:
        sums: F64 = np.add.reduce(a, axis=(0, 2), dtype=np.float64)
        return sums
    sums = np.add.reduce(np.add.reduce(a, axis=0, dtype=np.float64), axis=1)
    return sums


#: Up to this many elements a per-channel sum is one reduce call (see ``channel_sums``).
_ONE_CALL = 4096


def train_small(x: Array, scale: Array | None, bias: Array | None, eps: float) -> tuple[Array, F64, F64, Any]:
    """Training forward of a small x (N, C, L) in the fewest NumPy calls (call overhead dominates).

    Returns ``out, mean, biased var`` and what :func:`backward_small` needs.
    """
    inv_n = 1.0 / (x.shape[0] * x.shape[2])
    mean: F64 = channel_sums(x)
    mean *= inv_n
    d: F64 = x - mean[:, None]
    var: F64 = channel_sums(d * d)  # d is kept for the backward
    var *= inv_n
    r: F64 = (var + eps) ** -0.5
    a = r if scale is None else scale * r
    out = np.empty(x.shape, x.dtype)
    np.multiply(d, a[:, None], out=out, casting="same_kind")
    if bias is not None:
        out += bias[:, None]
    return out, mean, var, (d, r, a)


def backward_small(g: Array, save: Any) -> tuple[Array, F64, F64]:
    """Closed-form backward of :func:`train_small`: ``dx, sum(g * xhat), sum(g)`` (the last two float64)."""
    d, r, a = save
    inv_n = 1.0 / (g.shape[0] * g.shape[2])
    sg: F64 = channel_sums(g)
    sgd: F64 = channel_sums(g * d)
    t = g - (sg * inv_n)[:, None]
    t -= d * ((r * r * inv_n) * sgd)[:, None]
    dx = np.empty(g.shape, g.dtype)
    np.multiply(t, a[:, None], out=dx, casting="same_kind")
    return dx, sgd * r, sg


def _ieee() -> np.errstate:
    """inf and NaN where IEEE arithmetic gives them, without RuntimeWarnings (the compiled kernels give none)."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def running_coefficients(
    rm: Array, rv: Array, scale: Array | None, bias: Array | None, eps: float
) -> tuple[Array, Array]:
    """``a, b`` (in the statistics' dtype) with ``a*x + b == (x - rm) / sqrt(rv + eps) * scale + bias``.

    ``rv + eps == 0`` gives inf and NaN as IEEE arithmetic does, silently (as PyTorch, and as the
    compiled kernels, which use NumPy's error model).
    """
    with _ieee():
        return _coefficients(rm, rv, scale, bias, eps)


def _coefficients(rm: Array, rv: Array, scale: Array | None, bias: Array | None, eps: float) -> tuple[Array, Array]:
    a: Array = (rv + eps) ** -0.5
    if scale is not None:
        a *= scale
    b = rm * a
    if bias is None:
        return a, np.negative(b, out=b)
    return a, np.subtract(bias, b, out=b)


def infer(
    x: Array,
    rm: Array,
    rv: Array,
    scale: Array | None,
    bias: Array | None,
    eps: float,
    out: Array,
    affine_fn: Callable[[Array, Array, Array, Array], Array] | None = None,
) -> Array:
    """Inference with running statistics into ``out`` (``affine_fn`` does the big pass).

    The big pass is ``a*x + b``. Where that cannot hold the channel's values (``b`` not finite: ``rv + eps
    == 0`` makes ``a`` inf and ``b = bias - rm * a`` NaN or inf, or ``rm * a`` overflows), the channel is
    computed as PyTorch's formula writes it, ``((x - rm) * invstd) * scale + bias`` in float64: +-inf where
    ``x != rm``, NaN where ``x == rm`` or ``scale == 0``, as IEEE arithmetic gives them, silently (the
    compiled kernels do the same). The normal case pays one sum over the C coefficients ``b``.
    """
    with _ieee():  # one errstate for the whole call: ~1 us, a tenth of a small inference
        a, b = _coefficients(rm, rv, scale, bias, eps)
        # b is non-finite wherever a is (rm * inf and rm * NaN are never finite), so one dot product tells
        # (~0.4 us; an overflow of a finite b*b only sends the call to the exact check, which finds nothing).
        exact = None if math.isfinite(np.dot(b, b)) else _exact_channels(x, rm, rv, scale, bias, eps, b)
        if affine_fn is not None:
            affine_fn(x, a, b, out)
        else:
            affine(x, a, b, out, threads=True)
        if exact is not None:  # after the big pass: out may be x's own buffer (inplace), read above
            out[:, exact[0], :] = exact[1]
        return out


def _exact_channels(
    x: Array, rm: Array, rv: Array, scale: Array | None, bias: Array | None, eps: float, b: Array
) -> tuple[NDArray[np.intp], F64] | None:
    """The channels whose ``b`` is not finite and their values ``((x - rm) * invstd) * scale + bias`` (float64).

    PyTorch's order (its CPU kernel for strided input), so its infinities and NaNs come out; bias None adds
    +0.0 as PyTorch's default bias does. None if every ``b`` is finite after all (a sum that overflowed).
    """
    channels = np.flatnonzero(~np.isfinite(b))
    if channels.size == 0:
        return None
    invstd = 1.0 / np.sqrt(rv[channels].astype(np.float64) + eps)
    y: F64 = (x[:, channels, :] - rm[channels].astype(np.float64)[:, None]) * invstd[:, None]
    if scale is not None:
        y *= scale[channels][:, None]
    y += 0.0 if bias is None else bias[channels][:, None]
    return channels, y


def is_small(x: Array) -> bool:
    """Whether x (N, C, L) is small enough that per-call overhead dominates."""
    return x.size <= _SMALL


def _short_path(x: Array) -> bool:
    """Whether x (N, C, L) takes the few-calls path: small, or rows too short to block."""
    return x.size <= _SMALL or x.shape[2] < _SHORT_ROW


def _row_blocks(rows: int, length: int, dtype: np.dtype[Any], scratch: bool = True) -> Iterator[tuple[int, int, Array]]:
    """Consecutive row ranges of about ``_BLOCK_BYTES`` with a scratch buffer of the block's size."""
    step = max(1, _BLOCK_BYTES // max(1, length * dtype.itemsize))
    buffer = np.empty((min(step, rows) if scratch else 0, length), dtype=dtype)
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        yield r0, r1, buffer[: r1 - r0]


def stats(x: Array) -> tuple[F64, F64]:
    """Per-channel mean and biased variance of ``x`` (N, C, L), both float64, numerically stable."""
    n, c, length = x.shape
    count = n * length
    if count == 0:
        zero = np.zeros(int(c), dtype=np.float64)
        return zero, zero.copy()
    if _short_path(x):
        mean: F64 = channel_sums(x) / count
        d = x - mean[:, None]
        var: F64 = channel_sums(np.square(d, out=d)) / count
        return mean, var
    if length > _MAX_PIECE:
        return _stats_long_rows(x)
    xrows = row_view(x)
    ones = _ones(length, x.dtype)
    s1 = np.empty(n * c)
    s2 = np.empty(n * c)
    shift = np.empty(n * c, dtype=x.dtype)
    for r0, r1, d in _row_blocks(n * c, length, x.dtype):
        xb = xrows[r0:r1]
        m = np.matmul(xb, ones) * np.asarray(1.0 / length, dtype=x.dtype)
        shift[r0:r1] = m
        np.subtract(xb, m[:, None], out=d)
        s1[r0:r1] = np.matmul(d, ones)
        s2[r0:r1] = np.vecdot(d, d)
    return merge_rows(shift.astype(np.float64).reshape(n, c), s1.reshape(n, c), s2.reshape(n, c), length)


def merge_rows(shift: F64, s1: F64, s2: F64, length: int | F64) -> tuple[F64, F64]:
    """Chan's merge of the pieces of each channel into mean and biased variance (float64, (P, C) in).

    Piece i of channel c holds ``length`` values x (an int, or a (P, 1) array of counts) with
    ``s1 = sum(x - shift)`` and ``s2 = sum((x - shift)**2)``; the result is exact whatever the shifts are.
    """
    count = float(np.sum(np.broadcast_to(length, (shift.shape[0], 1))))
    if count == 0:  # an empty batch has no statistics; callers leave the running ones alone
        zero = np.zeros(shift.shape[1], dtype=np.float64)
        return zero, zero.copy()
    mean: F64 = ((shift * length).sum(axis=0) + s1.sum(axis=0)) / count
    delta = shift - mean
    m2 = s2.sum(axis=0) + 2 * (delta * s1).sum(axis=0) + (length * (delta * delta)).sum(axis=0)
    var: F64 = np.maximum(m2, 0.0) / count
    return mean, var


#: Rows longer than this are summed in pieces: a float32 BLAS sum over longer runs loses digits.
_MAX_PIECE = 1 << 15


def _stats_long_rows(x: Array) -> tuple[F64, F64]:
    """:func:`stats` for rows longer than ``_MAX_PIECE``: every piece of every row is one Chan piece."""
    n, c, length = x.shape
    xrows = row_view(x)
    pieces: list[tuple[F64, F64, F64, int]] = []
    for j0 in range(0, length, _MAX_PIECE):
        part = xrows[:, j0 : j0 + _MAX_PIECE]
        k = part.shape[1]
        ones = _ones(k, x.dtype)
        shift, s1, s2 = np.empty(n * c), np.empty(n * c), np.empty(n * c)
        for r0, r1, d in _row_blocks(n * c, k, x.dtype):
            m = np.matmul(part[r0:r1], ones) * np.asarray(1.0 / k, dtype=x.dtype)
            np.subtract(part[r0:r1], m[:, None], out=d)
            shift[r0:r1], s1[r0:r1], s2[r0:r1] = m, np.matmul(d, ones), np.vecdot(d, d)
        pieces.append((shift.reshape(n, c), s1.reshape(n, c), s2.reshape(n, c), k))
    counts = np.concatenate([np.full((n, 1), p[3], dtype=np.float64) for p in pieces])
    shifts, firsts, seconds = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    return merge_rows(shifts, firsts, seconds, counts)


def affine(x: Array, a: F64, b: F64, out: Array, threads: bool = False) -> Array:
    """``out = a[c] * x + b[c]`` for x (N, C, L); ``threads``: split big tensors between two threads.

    Threads pay off only where no BLAS call just ran (OpenBLAS's threads spin for a while after one
    and would compete for the cores): inference, not the training forward.
    """
    n, c, length = x.shape
    av = a if a.dtype is x.dtype else a.astype(x.dtype)
    bv = b if b.dtype is x.dtype else b.astype(x.dtype)
    if _short_path(x):
        np.multiply(x, av[:, None], out=out)
        np.add(out, bv[:, None], out=out)
        return out
    if n > 1:
        # (C, L) planes of the coefficients: each op is then one contiguous loop per sample, which NumPy
        # runs about twice as fast as a (C, 1) broadcast restarting its inner loop every row.
        pa, pb = _planes((av, bv), length)
        step = _slab(x)

        def part(lo: int, hi: int) -> None:
            for i in range(lo, hi, step):
                j = min(i + step, hi)
                ob = out[i:j]
                np.multiply(x[i:j], pa, out=ob)
                np.add(ob, pb, out=ob)

        if threads and x.nbytes >= _THREAD_BYTES and _CPUS > 1:
            _in_two_threads(part, n)
        else:
            part(0, n)
        return out
    xrows, orows = row_view(x), row_view(out)
    ar = np.tile(av, n)[:, None]
    br = np.tile(bv, n)[:, None]
    for r0, r1, _ in _row_blocks(n * c, length, x.dtype, scratch=False):
        ob = orows[r0:r1]
        np.multiply(xrows[r0:r1], ar[r0:r1], out=ob)
        np.add(ob, br[r0:r1], out=ob)
    return out


#: Inference passes over at least this many bytes are split between two threads (ufuncs release the
#: GIL); below it, waking a second thread costs more than it saves.
_THREAD_BYTES = 8 << 20
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_pool: list[ThreadPoolExecutor] = []
if hasattr(os, "register_at_fork"):  # a forked child has no helper thread: it makes its own when needed
    os.register_at_fork(after_in_child=_pool.clear)


def _in_two_threads(part: Callable[[int, int], None], n: int) -> None:
    """``part(0, n//2)`` here and ``part(n//2, n)`` in a helper thread, then wait for both."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="typedtensor-bn"))
    half = n // 2
    try:
        other = _pool[0].submit(contextvars.copy_context().run, part, half, n)  # with this thread's errstate
    except RuntimeError:  # the interpreter is shutting down: no new threads
        part(0, n)
        return
    part(0, half)
    other.result()


def _planes(vectors: tuple[Array, ...], length: int) -> list[Array]:
    """Each per-channel vector repeated along L: (C, L) planes, contiguous."""
    return [np.repeat(v, length).reshape(v.shape[0], length) for v in vectors]


def _slab(x: Array) -> int:
    """Samples per block so that a block of x (N, C, L) stays near the cache-friendly size."""
    per_sample: int = x.shape[1] * x.shape[2] * x.itemsize
    return max(1, _BLOCK_BYTES // max(1, per_sample))


def grad_sums(g: Array, x: Array, mean: F64) -> tuple[F64, F64]:
    """Per-channel ``sum(g)`` and ``sum(g * (x - mean))`` in float64."""
    n, c, length = x.shape
    if _short_path(x):
        d = x - mean[:, None]
        sg, sgd = channel_sums(g), channel_sums(np.multiply(g, d, out=d))
        return sg, sgd
    xrows, grows = row_view(x), row_view(g)
    ones = _ones(length, x.dtype)
    mean_rows = np.tile(mean.astype(x.dtype), n)
    sg = np.empty(n * c)
    sgd = np.empty(n * c)
    for r0, r1, d in _row_blocks(n * c, length, x.dtype):
        gb = grows[r0:r1]
        np.subtract(xrows[r0:r1], mean_rows[r0:r1, None], out=d)
        sg[r0:r1] = np.matmul(gb, ones)
        sgd[r0:r1] = np.vecdot(gb, d)
    return sg.reshape(n, c).sum(axis=0), sgd.reshape(n, c).sum(axis=0)


def combine(g: Array, x: Array, ca: F64, cb: F64, cc: F64, out: Array) -> Array:
    """``out = ca[c] * g + cb[c] * x + cc[c]`` for g, x (N, C, L)."""
    n, c, length = x.shape
    a, b, k = (v.astype(x.dtype, copy=False) for v in (ca, cb, cc))
    if _short_path(x):
        np.multiply(g, a[:, None], out=out)
        tmp = x * b[:, None]
        np.add(out, tmp, out=out)
        np.add(out, k[:, None], out=out)
        return out
    if n > 1:
        pa, pb, pk = _planes((a, b, k), length)
        step = _slab(x)
        tmp = np.empty((min(step, n), c, length), dtype=x.dtype)
        for i in range(0, n, step):
            ob = out[i : i + step]
            t = tmp[: ob.shape[0]]
            np.multiply(g[i : i + step], pa, out=ob)
            np.multiply(x[i : i + step], pb, out=t)
            np.add(ob, t, out=ob)
            np.add(ob, pk, out=ob)
        return out
    xrows, grows, orows = row_view(x), row_view(g), row_view(out)
    ar, br, kr = (np.tile(v, n)[:, None] for v in (a, b, k))
    for r0, r1, t in _row_blocks(n * c, length, x.dtype):
        ob = orows[r0:r1]
        np.multiply(grows[r0:r1], ar[r0:r1], out=ob)
        np.multiply(xrows[r0:r1], br[r0:r1], out=t)
        np.add(ob, t, out=ob)
        np.add(ob, kr[r0:r1], out=ob)
    return out
