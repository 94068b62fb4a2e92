"""2-D convolution on all of NumPy's BLAS threads at once: the batch split in parts, one thread per part.

``conv.conv2d`` spends a third of its time in single-threaded NumPy copies (padded planes, column matrices,
transposes, col2im) between its GEMMs, and OpenBLAS's workers, woken for each GEMM, spin on the other core
through those copies. Here the images are split into as many parts as OpenBLAS has threads; each part's
whole convolution (forward, and later its backward) runs on its own thread (the calling thread takes the first
part, a small persistent pool the others) with OpenBLAS set to one thread for the duration (``blas``), so
every step of every part runs on its own core and no worker spins. What it is for: robustness when the cores
are shared. On the 2-core machine with other jobs running (load 4.5-7) OpenBLAS's two-threaded GEMMs waited for
each other's time slices ((64, 16, 32, 32) -> 16: forward 15.3 ms whole against 8.0 split, forward + backward 42
against 19; (256, 16, 32, 32) -> 16 forward 423 against 34); on the quiet machine whole networks came out the
same within 0-6% either way (2026-12-02 00:53, load 0.8-1.9: ResNet b64 inference 16.0 split against 16.2
whole, step 61.7 against 58.1; b256 step 188.6 against 177.5 with the threshold below), the split costing the
concatenation of the parts' outputs and input gradients and the sum of their weight gradients. Convolutions
``conv.takes_whole`` names (the Winograd kernel's, parallel inside) are not split.

Results equal the whole call's within float rounding, not bit for bit: a part's products have fewer columns,
for which OpenBLAS may pick another kernel or blocking (float32 outputs differed by up to 7e-7 relative on a
(5, 4, 9, 9) input), and the weight and bias gradients are sums of the parts'.

Calls under ``_MIN_MACS`` multiply-adds per part are not split (handing a part to a thread costs tens of
microseconds here), nor when OpenBLAS is not NumPy's BLAS or has one thread, nor with
``TYPEDTENSOR_CONV_SPLIT=off``. Thread-safe; a forked child starts a pool of its own. float16 is split in
float32 (the parts' gradients summed there and rounded once, as the whole call does).

The thread count is process-wide: while a split convolution runs, another Python thread's matmul runs on one
OpenBLAS thread too, and a ``threadpoolctl.threadpool_limits`` entered in another thread during that window
records 1 as the count to restore. Code that changes OpenBLAS's threads from several threads can set
``TYPEDTENSOR_CONV_SPLIT=off``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from .._errors import TypedTensorError
from . import blas
from . import conv as _conv
from ._types import Array, Grads, Result

__all__ = ["ENV", "conv2d", "parts", "release_workers"]

R = TypeVar("R")
Pair = tuple[int, int]

#: Fewest multiply-adds (forward) per part: ~0.3 ms of one thread's GEMM. Measured on the quiet machine
#: (2026-12-02 00:53, load 0.8-1.0, in-process A/B, medians of 5): with 1 << 23 the digits network's two
#: 18.9M-MAC layers split and its batch-64 inference took 1.52 ms against 1.16 whole (step 5.47 against
#: 4.19); with 1 << 25 they stay whole (1.17, 4.38).
_MIN_MACS = 1 << 25


class _Pool:
    """The worker threads (OpenBLAS's thread count minus the caller), made on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self.size = 0

    def run(self, tasks: list[Callable[[], R]]) -> list[R]:
        """Run ``tasks`` at once, the first on the calling thread; every task ends before an error is raised."""
        with self.lock:  # submitted under the lock: another thread's resize cannot shut this executor first
            if self.executor is None or self.size < len(tasks) - 1:
                if self.executor is not None:
                    self.executor.shutdown(wait=False)  # its queued tasks still run
                self.size = len(tasks) - 1
                self.executor = ThreadPoolExecutor(self.size, thread_name_prefix="typedtensor-conv")
            futures: list[Future[R]] = [self.executor.submit(task) for task in tasks[1:]]
        try:
            first = tasks[0]()
        finally:
            done = [f.exception() for f in futures]  # waits for every part, even when this one failed
        errors = [e for e in done if e is not None]
        if errors:
            raise errors[0]
        return [first] + [f.result() for f in futures]

    def workers(self) -> int:
        """Worker threads now running (0 before the first split call)."""
        with self.lock:
            return 0 if self.executor is None else self.size

    def forget(self) -> None:
        """In a forked child: the parent's threads do not exist here."""
        self.lock = threading.Lock()
        self.executor = None
        self.size = 0


_pool = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget)


def release_workers() -> None:
    """Free the convolution work buffers the pool's threads keep (each keeps its own, as any thread)."""
    count = _pool.workers()
    if count:
        barrier = threading.Barrier(count)

        def release() -> None:
            barrier.wait(timeout=10)  # one task per worker: each waits until all have started
            _conv.release_scratch()

        with _pool.lock:
            executor = _pool.executor
        if executor is not None:
            for f in [executor.submit(release) for _ in range(count)]:
                f.result()


def _cpus() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


#: ``TYPEDTENSOR_CONV_SPLIT=off`` keeps every convolution whole (OpenBLAS's thread count is then never changed).
ENV = "TYPEDTENSOR_CONV_SPLIT"


def _enabled() -> bool:
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("", "on"):
        return True
    if value == "off":
        return False
    raise TypedTensorError(f"{ENV}={os.environ[ENV]!r} is not a setting: expected 'on' (the default) or 'off'")


def parts(n: int, macs: int) -> list[tuple[int, int]]:
    """The image ranges [lo, hi) a call on ``n`` images of ``macs`` multiply-adds in all is split into: one per
    OpenBLAS thread (at most one per CPU the process may use), each of at least ``_MIN_MACS``."""
    if not _enabled() or n < 2 or macs < 2 * _MIN_MACS:  # before the ctypes call and the affinity syscall
        return [(0, n)]
    count = min(blas.threads(), _cpus(), n, macs // _MIN_MACS)
    if count <= 1:
        return [(0, n)]
    step, extra = divmod(n, count)
    bounds: list[tuple[int, int]] = []
    lo = 0
    for i in range(count):
        hi = lo + step + (1 if i < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _macs(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair) -> int:
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = _conv.out_size(h, kh, stride[0], sum(padding[0]), dilation[0])
    wo = _conv.out_size(wd, kw, stride[1], sum(padding[1]), dilation[1])
    return int(n * o * cg * kh * kw * max(ho, 0) * max(wo, 0))


def conv2d(
    x: Array, w: Array, b: Array | None, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int
) -> Result:
    """``conv.conv2d`` (same arguments, validated), its images split over the BLAS threads (see the module notes)."""
    bounds = parts(x.shape[0], _macs(x, w, stride, padding, dilation))
    if len(bounds) == 1 or _conv.takes_whole(x, w, stride, dilation, groups):  # the Winograd kernel's own threads
        return _conv.conv2d(x, w, b, stride, padding, dilation, groups)
    dtype = x.dtype
    if dtype == np.float16:  # the parts work in float32 and their gradients are summed there, rounded once
        x, w = x.astype(np.float32), w.astype(np.float32)
        b = None if b is None else b.astype(np.float32)

    def forward(lo: int, hi: int) -> Callable[[], Result]:
        return lambda: _conv.conv2d(x[lo:hi], w, b, stride, padding, dilation, groups)

    with blas.single_threaded():
        results = _pool.run([forward(lo, hi) for lo, hi in bounds])
    y = np.concatenate([r[0] for r in results]).astype(dtype, copy=False)
    backwards = [r[1] for r in results]

    def bwd(gy: Array, need: tuple[bool, ...]) -> Grads:
        g = gy.astype(x.dtype, copy=False)

        def part(i: int) -> Callable[[], Grads]:
            lo, hi = bounds[i]
            return lambda: backwards[i](g[lo:hi], need)

        with blas.single_threaded():
            grads = _pool.run([part(i) for i in range(len(bounds))])
        dx = np.concatenate([p[0] for p in grads if p[0] is not None]) if need[0] else None
        dw = _sum([p[1] for p in grads]) if need[1] else None
        db = _sum([p[2] for p in grads]) if len(need) > 2 and need[2] else None
        return tuple(None if a is None else a.astype(dtype, copy=False) for a in (dx, dw, db))

    return y, bwd


def _sum(arrays: list[Array | None]) -> Array | None:
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    total = present[0].copy()
    with np.errstate(over="ignore", invalid="ignore"):  # as the GEMMs: an overflow is inf, without a warning
        for a in present[1:]:
            total += a
    return total
