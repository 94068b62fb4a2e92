"""BatchNorm kernels compiled with numba (a default dependency; NumPy's kernels where it is missing).

Same contract and numerics as ``_bn_numpy``: each row of x viewed as (N*C, L) is summed around its
first element (a shift close to the data, so no cancellation) in float64, and rows are merged per
channel with Chan's formula; the big passes are ``a*x + b`` and ``A*g + B*x + C``, over the rows for
tensors of at least ``_ROWS_MIN`` elements: in parallel from ``_PARALLEL_MIN`` on (see there for why
only then), serially below (the same loops, the same bits). Smaller ones take serial kernels that do a
whole direction in one call, and NumPy's path for the separate kernels.

The kernels index their arguments without bounds checks: ``_bn_backend`` validates every call (shapes,
dtypes, C-contiguous output buffers) before it reaches them. They use NumPy's error model (a division
by zero gives inf or NaN, never ``ZeroDivisionError``), so they agree with the NumPy kernels on every
input. Compiled code is cached on disk; an unreadable cache entry (a truncated or corrupt file) is
compiled afresh and rewritten (see ``_HealingCache``).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from . import _bn_numpy
from ._bn_backend import openmp_loaded
from ._bn_numpy import merge_rows, row_view

__all__ = ["affine", "backward_small", "combine", "grad_sums", "infer", "is_small", "stats", "train_small"]

#: From this many elements on, training takes the row kernels (per-row shifted sums merged with Chan's
#: formula; ``a*x + b``; ``A*g + B*x + C``); below it, the serial kernels that do a whole direction in
#: one call (and the separate kernels NumPy's path).
_ROWS_MIN = 1 << 20
#: Inference takes the row affine pass from this size, with NumPy's coefficients (``_bn_numpy.infer``).
_ROWS_MIN_INFER = 1 << 18
#: From this many elements on, the row kernels run in parallel; below it, their serial twins (the same
#: loops compiled without threads: the same bits). In a CNN, a parallel loop waits for cores that
#: OpenBLAS's (or PyTorch's) threads hold, spinning for a while after every multi-threaded GEMM: on the
#: digits demo the serial kernels trained 7x faster than the parallel ones (0.48 s against 3.5 s for 3
#: epochs). Measured inside the benchmark networks (bench._nets, 2 cores, conv GEMMs between the
#: BatchNorms), serial won at every shape up to the largest, (256, 16, 32, 32) (4M elements): the small
#: ResNet's six BatchNorms at batch 256 took 14.5 ms (inference), 20.6 ms (training forward) and 40.1 ms
#: (backward) parallel against 10.3, 13.6 and 16.7 ms serial, and alike at batch 64 (the ResNet step's
#: backward 12.9 against 3.3 ms); on a busy machine a parallel loop also waits for its slowest thread.
#: Alone, parallel can still win ((32, 64, 28, 28), 1.6M elements: a step took 3.0 ms against 4.1 ms),
#: so tensors of 32 MiB of float32 and more, whose passes no longer run from the cache, stay parallel.
_PARALLEL_MIN = 1 << 23
#: The same for inference's row pass.
_PARALLEL_MIN_INFER = 1 << 23


def is_small(x: Array) -> bool:
    """Whether x (N, C, L) takes the serial fused kernels (``train_small``, ``backward_small``)."""
    return _rows_below(x)


def _rows_below(x: Array) -> bool:
    """Whether x is too small for the row kernels (lowering ``_PARALLEL_MIN`` sends it to the parallel ones)."""
    return bool(x.size < min(_ROWS_MIN, _PARALLEL_MIN))


def _parallel(x: Array) -> bool:
    """Whether the row kernels run in parallel on x."""
    return bool(x.size >= _PARALLEL_MIN)


Array = NDArray[Any]
F64 = NDArray[np.float64]

_F = TypeVar("_F", bound=Callable[..., Any])


class _HealingCache:
    """numba's on-disk cache of one kernel, made to survive an unreadable file.

    numba unpickles its index and data files unguarded, so a truncated or corrupt file (a full disk, a
    killed process, a copied cache directory) made every call of the kernel raise ``UnpicklingError``
    or ``EOFError``. Here a failure to read the cache counts as a miss: the kernel is compiled afresh
    and its entry rewritten (after emptying an unreadable index), so the next process loads it again.
    A cache that cannot be written leaves the compiled kernel in memory only.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        try:
            return self._inner.load_overload(sig, target_context)
        except Exception:  # any unreadable entry is a miss: the caller compiles the kernel instead
            return None

    def save_overload(self, sig: Any, data: Any) -> None:
        try:
            self._inner.save_overload(sig, data)
        except Exception:  # an unreadable index: empty it, then save once more
            try:
                self._inner.flush()
                self._inner.save_overload(sig, data)
            except Exception:
                return  # not writable: the compiled kernel is kept in memory for this process

    def __getattr__(self, name: str) -> Any:  # flush, cache_path, enable, ...: numba's own
        return getattr(self._inner, name)


def _compiled(parallel: bool, fast: bool = True) -> Callable[[_F], _F]:
    """numba's njit with the kernels' options (``fast``: reassociation and contraction) and a self-healing disk cache."""
    fastmath: Any = {"reassoc", "contract"} if fast else False
    jit = njit(parallel=parallel, cache=True, fastmath=fastmath, error_model="numpy")

    def wrap(fn: _F) -> _F:
        kernel = jit(fn)
        dispatcher: Any = kernel
        if getattr(dispatcher, "_cache", None) is not None:
            dispatcher._cache = _HealingCache(dispatcher._cache)
        return kernel

    return wrap


_jit = _compiled(parallel=True)
_serial = _compiled(parallel=False)


@_jit
def _row_moments(rows: Array, shift: F64, s1: F64, s2: F64) -> None:  # pragma: no cover - compiled
    for r in prange(rows.shape[0]):
        k = np.float64(rows[r, 0]) if rows.shape[1] > 0 else 0.0
        a = 0.0
        b = 0.0
        for i in range(rows.shape[1]):
            d = np.float64(rows[r, i]) - k
            a += d
            b += d * d
        shift[r] = k
        s1[r] = a
        s2[r] = b


@_jit
def _row_affine(rows: Array, a: Array, b: Array, out: Array) -> None:  # pragma: no cover - compiled
    c = a.shape[0]
    for r in prange(rows.shape[0]):
        ar = a[r % c]
        br = b[r % c]
        for i in range(rows.shape[1]):
            out[r, i] = rows[r, i] * ar + br


@_jit
def _row_grad_sums(g: Array, rows: Array, mean: F64, sg: F64, sgd: F64) -> None:  # pragma: no cover
    c = mean.shape[0]
    for r in prange(rows.shape[0]):
        m = mean[r % c]
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
    c = ca.shape[0]
    for r in prange(rows.shape[0]):
        a = ca[r % c]
        b = cb[r % c]
        k = cc[r % c]
        for i in range(rows.shape[1]):
            out[r, i] = a * g[r, i] + b * rows[r, i] + k


def _serial_twin(kernel: _F) -> _F:
    """A row kernel's loops compiled without threads (prange runs as range): the same arithmetic, the same bits."""
    dispatcher: Any = kernel
    twin: _F = _serial(dispatcher.py_func)
    return twin


_row_moments_serial = _serial_twin(_row_moments)
_row_affine_serial = _serial_twin(_row_affine)
_row_grad_sums_serial = _serial_twin(_row_grad_sums)
_row_combine_serial = _serial_twin(_row_combine)


@_serial
def _infer_serial(
    x: Array, rm: Array, rv: Array, scale: Array, bias: Array, eps: float, limit: float, out: Array
) -> None:  # pragma: no cover
    n, c, length = x.shape
    for ch in range(c):
        a = scale[ch] / np.sqrt(rv[ch] + eps)
        b = bias[ch] - rm[ch] * a
        # a is inf or NaN (rv + eps == 0), or b is beyond the statistics' dtype (``limit``, its largest
        # value), where _bn_numpy's coefficients are inf: PyTorch's order, as there.
        if not abs(b) <= limit:
            _exact_channel(x, ch, rm[ch], rv[ch], scale[ch], bias[ch], eps, out)
            continue
        for i in range(n):
            for j in range(length):
                out[i, ch, j] = x[i, ch, j] * a + b


@_compiled(parallel=False, fast=False)
def _exact_channel(
    x: Array, ch: int, m: float, v: float, s: float, b: float, eps: float, out: Array
) -> None:  # pragma: no cover
    """Channel ``ch`` as ``((x - m) * invstd) * s + b`` in float64, without fast-math (no reassociation or
    contraction), so its infinities and NaNs are PyTorch's and the same bits as ``_bn_numpy._exact_channels``."""
    invstd = 1.0 / np.sqrt(np.float64(v) + eps)
    for i in range(x.shape[0]):
        for j in range(x.shape[2]):
            out[i, ch, j] = ((np.float64(x[i, ch, j]) - np.float64(m)) * invstd) * np.float64(s) + np.float64(b)


@_serial
def _train_serial(
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


@_serial
def _backward_serial(
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


def _choose_threading_layer() -> None:
    """numba's "workqueue" threading layer when another OpenMP runtime is loaded before numba's pool starts.

    numba's default ("omp") then loads a second OpenMP runtime, and the two pools' threads fight over the
    cores: a BatchNorm2D step at (64, 16, 32, 32) with torch imported first and a torch conv between the
    timed batches took 12-32 ms against 1.1-1.2 ms without torch; "workqueue" (threads that block instead
    of spinning) 2.3-4.9 ms, NumPy's kernels 4.4-7.8 ms. Without another runtime "omp" stays (workqueue
    was 10-20% slower there). An explicit ``NUMBA_THREADING_LAYER`` wins; a pool numba already started
    keeps its layer.
    """
    config: Any = importlib.import_module("numba.core.config")  # untyped: used through Any
    if os.environ.get("NUMBA_THREADING_LAYER") or config.THREADING_LAYER != "default":
        return
    if openmp_loaded():
        config.THREADING_LAYER = "workqueue"


def _start_threads_passive() -> None:
    """Start numba's thread pool with idle threads that sleep rather than spin.

    With GNU OpenMP's default policy the pool's threads spin for milliseconds after every parallel
    loop, taking both cores from OpenBLAS's threads (and they from it): in a CNN, a conv GEMM next to a
    BatchNorm then ran 5-10x slower. The policy is read once, when the OpenMP runtime loads, i.e. on
    the first parallel loop: run one here with ``OMP_WAIT_POLICY=PASSIVE`` and restore the environment
    (an explicit user setting wins).
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        x = np.zeros((2, 2, 2), dtype=np.float32)
        _row_affine(row_view(x), np.ones(4, np.float32), np.zeros(4, np.float32), row_view(np.empty(x.shape, x.dtype)))
    finally:
        del os.environ["OMP_WAIT_POLICY"]


# numba's fallback "workqueue" threading layer aborts the process when two Python threads run parallel
# kernels at once; the lock makes concurrent BatchNorm calls take turns (uncontended: ~0.1 us).
_parallel_lock = threading.Lock()


def stats(x: Array) -> tuple[F64, F64]:
    """Per-channel mean and biased variance (float64) of x (N, C, L)."""
    if _rows_below(x):
        return _bn_numpy.stats(x)
    n, c, length = x.shape
    shift, s1, s2 = np.empty(n * c), np.empty(n * c), np.empty(n * c)
    if _parallel(x):
        with _parallel_lock:
            _row_moments(row_view(x), shift, s1, s2)
    else:
        _row_moments_serial(row_view(x), shift, s1, s2)
    return merge_rows(shift.reshape(n, c), s1.reshape(n, c), s2.reshape(n, c), length)


def affine(x: Array, a: Array, b: Array, out: Array) -> Array:
    """out = a[c] * x + b[c]."""
    if _rows_below(x):
        return _bn_numpy.affine(x, a, b, out)
    return _rows_affine(x, a, b, out) if not _parallel(x) else _parallel_affine(x, a, b, out)


def _parallel_affine(x: Array, a: Array, b: Array, out: Array) -> Array:
    t = x.dtype
    with _parallel_lock:
        _row_affine(row_view(x), a.astype(t, copy=False), b.astype(t, copy=False), row_view(out))
    return out


def _rows_affine(x: Array, a: Array, b: Array, out: Array) -> Array:
    """:func:`_parallel_affine` without threads (the same bits)."""
    t = x.dtype
    _row_affine_serial(row_view(x), a.astype(t, copy=False), b.astype(t, copy=False), row_view(out))
    return out


def grad_sums(g: Array, x: Array, mean: F64) -> tuple[F64, F64]:
    """Per-channel sum(g) and sum(g * (x - mean)) in float64."""
    if _rows_below(x):
        return _bn_numpy.grad_sums(g, x, mean)
    n, c, _ = x.shape
    sg, sgd = np.empty(n * c), np.empty(n * c)
    if _parallel(x):
        with _parallel_lock:
            _row_grad_sums(row_view(g), row_view(x), mean, sg, sgd)
    else:
        _row_grad_sums_serial(row_view(g), row_view(x), mean, sg, sgd)
    return sg.reshape(n, c).sum(axis=0), sgd.reshape(n, c).sum(axis=0)


def combine(g: Array, x: Array, ca: F64, cb: F64, cc: F64, out: Array) -> Array:
    """out = ca[c] * g + cb[c] * x + cc[c]."""
    if _rows_below(x):
        return _bn_numpy.combine(g, x, ca, cb, cc, out)
    t = x.dtype
    a, b, k = (v.astype(t, copy=False) for v in (ca, cb, cc))
    if _parallel(x):
        with _parallel_lock:
            _row_combine(row_view(g), row_view(x), a, b, k, row_view(out))
    else:
        _row_combine_serial(row_view(g), row_view(x), a, b, k, row_view(out))
    return out


def _ones(c: int, dtype: np.dtype[Any]) -> Array:
    return np.ones(c, dtype=dtype)


#: The largest value of each statistics dtype: a channel whose b is beyond it takes the exact formula.
_LIMITS = {np.dtype(t): float(np.finfo(t).max) for t in (np.float32, np.float64)}


def infer(x: Array, rm: Array, rv: Array, scale: Array | None, bias: Array | None, eps: float, out: Array) -> Array:
    """Inference with running statistics: out = (x - rm) / sqrt(rv + eps) * scale + bias."""
    if x.size >= _PARALLEL_MIN_INFER:
        return _bn_numpy.infer(x, rm, rv, scale, bias, eps, out, _parallel_affine)
    if x.size >= _ROWS_MIN_INFER:
        return _bn_numpy.infer(x, rm, rv, scale, bias, eps, out, _rows_affine)
    c = x.shape[1]
    s = _ones(c, rm.dtype) if scale is None else scale
    b = np.zeros(c, dtype=rm.dtype) if bias is None else bias
    limit = _LIMITS.get(rm.dtype) or float(np.finfo(rm.dtype).max)
    _infer_serial(x, rm, rv, s, b, eps, limit, out)
    return out


def train_small(x: Array, scale: Array | None, bias: Array | None, eps: float) -> tuple[Array, F64, F64, Any]:
    """Fused training forward of a small x (N, C, L): one compiled call."""
    c = x.shape[1]
    s = _ones(c, x.dtype) if scale is None else scale
    b = np.zeros(c, dtype=x.dtype) if bias is None else bias
    out = np.empty(x.shape, x.dtype)
    mean, var, r = np.empty(c), np.empty(c), np.empty(c)
    _train_serial(x, s, b, eps, out, mean, var, r)
    return out, mean, var, (x, mean, r, s)


def backward_small(g: Array, save: Any) -> tuple[Array, F64, F64]:
    """Fused closed-form backward of :func:`train_small`: dx, sum(g * xhat), sum(g)."""
    x, mean, r, scale = save
    c = x.shape[1]
    dx = np.empty(x.shape, x.dtype)
    sgd, sg = np.empty(c), np.empty(c)
    _backward_serial(np.ascontiguousarray(g, dtype=x.dtype), x, mean, r, scale, dx, sgd, sg)
    return dx, sgd, sg


_choose_threading_layer()
_start_threads_passive()
