"""3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2015), compiled with numba.

Conv2D's kernel for those convolutions by default (``nn._conv_backend``, ``TYPEDTENSOR_CONV=im2col`` turns it
off; ``_ops.conv.winograd_applies`` says for which: forward, and the stride-1 input gradient on 32x32 planes). A
non-finite result is computed again by im2col: an inf input gives NaN here in most of the outputs that read it
(inf - inf in the transforms) where im2col and PyTorch give +-inf. ``supports`` says what it computes;
``python -m bench.conv_winograd`` times it (``--threads 1``: the serial build).

Measured 2026-12-01 (2 threads, load average 0.7-0.9, forward, float32, padding 1, medians in one run): (64, 16,
32, 32) -> 16 1.53 ms against the im2col path's 3.8 ms; (64, 32, 16, 16) -> 32 1.53 against 2.41 (PyTorch 0.91);
(8, 16, 32, 32) -> 16 0.29 against 0.73; (64, 3, 32, 32) -> 16 0.70 against 1.20; slower on small planes.
Earlier wirings lost that in networks: OpenBLAS's workers, spinning ~0.1 s after the other layers' multi-threaded
GEMMs, shared the two cores with the kernel's numba workers. Since Conv2D splits the other convolutions' images
over threads with OpenBLAS on one thread (``_ops.conv_parallel``) those workers rarely spin, and this kernel gets
the whole batch (``_ops.conv.takes_whole``): whole networks 1.2-1.45x faster (figures in ``nn._conv_backend``).
Split like the others, it would run serially on each part, and serially it is no faster than im2col (2026-12-02,
one thread, load 2-2.5, 32 images: 16 -> 16 on 32x32 2.10 ms against 2.07, 16 -> 32 on 16x16 1.24 against 0.88,
32 -> 32 on 16x16 2.05 against 1.67, 3 -> 16 on 32x32 0.89 against 0.46). The serial build (used when OpenBLAS
runs one thread; it releases the GIL, so callers' threads run it at once) is 1.33x slower than the parallel build
on one worker (2.09 against 1.58 ms on (32, 16, 32, 32) -> 16, same process; not numba's parfor passes: the
parallel options without ``prange`` give the serial time; not the calling thread either).

Each 2x2 block of outputs is computed from the 4x4 input tile around it: with the input transform
``V = B^T d B``, the weight transform ``U = G g G^T`` and the output transform ``Y = A^T M A``, the
convolution becomes 16 independent matrix products ``M_e = U_e (O x C) @ V_e (C x tiles)``, 2.25x fewer
multiply-adds than the direct form. B, G and A are the F(2, 3) matrices::

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

(entries 0, +-1 and 1/2: float32 results are as close to a float64 reference as the im2col path's, about
2e-7 of the largest output.)

Work items (a few images each) run in parallel (``prange``), one work buffer per worker. For one item the
zero-padded input is split into its four phase planes (row parity, column parity) of (Th+1) x (Tw+1)
elements (Th x Tw tiles per image), stacked over images and channels; the row and column transforms are
then a few long vector loops over the whole item (the extra row and column of each image give junk tiles
that are computed and never written out). The 16 products call the BLAS NumPy ships with (OpenBLAS; its
cblas_?gemm address found through ctypes and passed to the kernel, which is cached on disk), one thread each: an item's O*C*tiles stays under OpenBLAS's single-thread threshold.
Without that library (NumPy built against another BLAS) ``available()`` is False and ``supports`` says no.

The kernels index without bounds checks: ``conv3x3`` validates everything they read and gives them
C-contiguous arrays.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numba import prange

from .._errors import DTypeError, ShapeError
from .._ops import blas
from .._ops._types import Array
from ._bn_numba import _compiled, _parallel_lock
from ._conv_numba import _array, _geometry

__all__ = ["available", "conv3x3", "input_grad", "supports"]

#: Tile positions a work item aims for per image plane (its buffers then stay in L2).
_TILES = 256
#: OpenBLAS runs a GEMM on the calling thread when M*N*K is at most this (65536 * GEMM_MULTITHREAD_THRESHOLD).
_ONE_THREAD_MNK = 262144
#: Elements appended to each channel's block of tile positions (rows of V and M 64 bytes off a 4 KiB stride).
_PAD = 16
#: Below this many multiply-adds a call runs serially (starting the pool costs more than it saves).
_SERIAL_MACS = 1 << 22
#: Work buffers up to this many bytes are kept for the next call (per thread); larger ones are per call.
_KEEP = 16 << 20

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

_CblasRowMajor, _CblasNoTrans = 101, 111


def _load_gemm() -> tuple[int, int, bool, Callable[[], int]] | None:
    """(address of cblas_sgemm, of cblas_dgemm, 64-bit indices, its thread count) of the OpenBLAS in NumPy's wheel
    (``_ops.blas``), or None when there is none."""
    lib = blas.library()
    return None if lib is None else (lib.sgemm, lib.dgemm, lib.ilp64, blas.threads)


_GEMM = _load_gemm()

# untyped (no stubs): used through Any
_ir: Any = importlib.import_module("llvmlite.ir")
_types: Any = importlib.import_module("numba.core.types")
_intrinsic: Callable[[Callable[..., Any]], Any] = importlib.import_module("numba.extending").intrinsic


@_intrinsic
def _gemm(
    typingctx: Any, fn: Any, order: Any, ta: Any, tb: Any, m: Any, n: Any, k: Any, alpha: Any, a: Any, lda: Any,
    b: Any, ldb: Any, beta: Any, c: Any, ldc: Any,
) -> Any:  # fmt: skip
    """Call the cblas_?gemm at address ``fn``; ``a``, ``b`` and ``c`` are addresses too (integers), the other
    arguments have the C types of the call (int32 enums, the library's index width, the float type). The address
    is an argument, not a constant: compiled code stays valid across processes, so it is cached on disk."""
    sig = _types.void(fn, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        byte_ptr = _ir.IntType(8).as_pointer()
        values: list[Any] = []
        kinds: list[Any] = []
        for i, (ty, value) in enumerate(zip(signature.args, args, strict=True)):
            if i == 0:
                continue
            if i in (8, 10, 13):  # a, b, c
                values.append(builder.inttoptr(value, byte_ptr))
                kinds.append(byte_ptr)
            else:
                values.append(value)
                kinds.append(context.get_value_type(ty))
        target = builder.inttoptr(args[0], _ir.FunctionType(_ir.VoidType(), kinds).as_pointer())
        builder.call(target, values)
        return context.get_dummy_value()

    return sig, codegen


def available() -> bool:
    """Whether NumPy's OpenBLAS was found (the kernels call its GEMM)."""
    return _GEMM is not None


def _build(parallel: bool, ilp64: bool) -> Callable[..., None]:
    """The forward kernel, parallel over workers or serial, for a BLAS with 64- or 32-bit indices.

    numba's disk cache keys an entry by the function's bytecode and its closure's contents, not by the compile
    flags: ``parallel`` is read in the kernel so that the two builds get separate entries.
    """
    index = np.int64 if ilp64 else np.int32

    def forward(
        x: Array,
        u: Array,
        bias: Array,
        y: Array,
        pt: int,
        pl: int,
        th: int,
        tw: int,
        group: int,
        work: Array,
        gemm: int,
        one: Any,
        zero: Any,
    ) -> None:  # pragma: no cover - compiled
        if parallel:  # read here so that it is in the closure: see _build
            pass
        n_img, c_in, h, w = x.shape
        o_out, ho, wo = y.shape[1], y.shape[2], y.shape[3]
        kp = tw + 1
        blk = (th + 1) * kp  # one image's phase plane
        hu = min(h, 2 * th + 2 - pt)  # input rows and columns the tiles read
        wu = min(w, 2 * tw + 2 - pl)
        half = wu // 2
        sh = pl // 2
        full = wo // 2
        n_items = (n_img + group - 1) // group
        nw = work.shape[0]
        item_size = x.itemsize
        for wk in prange(nw):
            wb = work[wk]
            for item in range(wk, n_items, nw):
                n0 = item * group
                g_n = min(group, n_img - n0)
                tb = g_n * blk + _PAD
                lv = c_in * tb
                lm = o_out * tb
                plane = wb[: 4 * (lv + kp + 1)].reshape((4, lv + kp + 1))
                plane[:] = 0
                q0 = 4 * (lv + kp + 1)
                rows = wb[q0 : q0 + 8 * (lv + 1)].reshape((8, lv + 1))
                q1 = q0 + 8 * (lv + 1)
                v = wb[q1 : q1 + 16 * lv].reshape((16, lv))
                q2 = q1 + 16 * lv
                m = wb[q2 : q2 + 16 * lm].reshape((16, lm))
                q3 = q2 + 16 * lm
                s = wb[q3 : q3 + 4 * lm].reshape((4, lm))
                # phase planes: padded element (R, Q) of image g, channel c goes to plane 2*(R%2) + Q%2 at
                # c*tb + g*blk + (R//2)*kp + Q//2
                for c in range(c_in):
                    for g in range(g_n):
                        off = c * tb + g * blk
                        for r in range(hu):
                            rr = r + pt
                            xr = x[n0 + g, c, r]
                            base = off + (rr // 2) * kp + sh
                            rp = 2 * (rr % 2)
                            if pl % 2 == 0:
                                pe = plane[rp, base:]
                                po = plane[rp + 1, base:]
                            else:
                                pe = plane[rp + 1, base:]
                                po = plane[rp, base + 1 :]
                            for k in range(half):
                                pe[k] = xr[2 * k]
                                po[k] = xr[2 * k + 1]
                            if wu % 2 == 1:
                                pe[half] = xr[wu - 1]
                # rows of B^T d: tile row t reads plane rows t and t+1 of both row phases
                for cp in range(2):
                    a0 = plane[cp]
                    a1 = plane[cp, kp:]
                    b0 = plane[2 + cp]
                    b1 = plane[2 + cp, kp:]
                    r0 = rows[cp]
                    r1 = rows[2 + cp]
                    r2 = rows[4 + cp]
                    r3 = rows[6 + cp]
                    for j in range(lv + 1):
                        r0[j] = a0[j] - a1[j]
                    for j in range(lv + 1):
                        r1[j] = b0[j] + a1[j]
                    for j in range(lv + 1):
                        r2[j] = a1[j] - b0[j]
                    for j in range(lv + 1):
                        r3[j] = b0[j] - b1[j]
                # columns: (B^T d) B, tile column t reads phase columns t and t+1
                for i in range(4):
                    a = rows[2 * i]
                    b = rows[2 * i + 1]
                    a1 = rows[2 * i, 1:]
                    b1 = rows[2 * i + 1, 1:]
                    v0 = v[4 * i]
                    v1 = v[4 * i + 1]
                    v2 = v[4 * i + 2]
                    v3 = v[4 * i + 3]
                    for j in range(lv):
                        v0[j] = a[j] - a1[j]
                    for j in range(lv):
                        v1[j] = b[j] + a1[j]
                    for j in range(lv):
                        v2[j] = a1[j] - b[j]
                    for j in range(lv):
                        v3[j] = b[j] - b1[j]
                tiles = g_n * blk
                for e in range(16):
                    _gemm(
                        gemm, np.int32(_CblasRowMajor), np.int32(_CblasNoTrans), np.int32(_CblasNoTrans),
                        index(o_out), index(tiles), index(c_in), one, u[e].ctypes.data, index(c_in),
                        v.ctypes.data + item_size * e * lv, index(tb), zero,
                        m.ctypes.data + item_size * e * lm, index(tb),
                    )  # fmt: skip
                m0, m1, m2, m3 = m[0], m[1], m[2], m[3]
                m4, m5, m6, m7 = m[4], m[5], m[6], m[7]
                m8, m9, m10, m11 = m[8], m[9], m[10], m[11]
                m12, m13, m14, m15 = m[12], m[13], m[14], m[15]
                s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
                for j in range(lm):  # A^T M A
                    p0 = m0[j] + m4[j] + m8[j]
                    p1 = m1[j] + m5[j] + m9[j]
                    p2 = m2[j] + m6[j] + m10[j]
                    p3 = m3[j] + m7[j] + m11[j]
                    k0 = m4[j] - m8[j] - m12[j]
                    k1 = m5[j] - m9[j] - m13[j]
                    k2 = m6[j] - m10[j] - m14[j]
                    k3 = m7[j] - m11[j] - m15[j]
                    s0[j] = p0 + p1 + p2
                    s1[j] = p1 - p2 - p3
                    s2[j] = k0 + k1 + k2
                    s3[j] = k1 - k2 - k3
                for o in range(o_out):
                    bo = bias[o]
                    for g in range(g_n):
                        for ty in range(th):
                            q = o * tb + g * blk + ty * kp
                            e0 = s0[q:]
                            e1 = s1[q:]
                            yr = y[n0 + g, o, 2 * ty]
                            for tx in range(full):
                                yr[2 * tx] = e0[tx] + bo
                                yr[2 * tx + 1] = e1[tx] + bo
                            if full < tw:
                                yr[2 * full] = e0[full] + bo
                            if 2 * ty + 1 < ho:
                                e2 = s2[q:]
                                e3 = s3[q:]
                                yr = y[n0 + g, o, 2 * ty + 1]
                                for tx in range(full):
                                    yr[2 * tx] = e2[tx] + bo
                                    yr[2 * tx + 1] = e3[tx] + bo
                                if full < tw:
                                    yr[2 * full] = e2[full] + bo

    kernel: Any = _compiled(parallel=parallel)(forward)
    if not parallel:  # before its first compile: the parts of a split convolution run at once (see conv3x3)
        kernel.targetoptions["nogil"] = True
    return cast(Callable[..., None], kernel)


_kernels: dict[bool, Callable[..., None]] = {}
_kernels_lock = threading.Lock()


def _kernel(parallel: bool) -> Callable[..., None]:
    """The compiled kernel (both dtypes: numba specialises it per argument types)."""
    key = parallel
    found = _GEMM
    if found is None:
        raise DTypeError("conv3x3 (Winograd): NumPy's OpenBLAS was not found; use the im2col path")
    with _kernels_lock:
        if key not in _kernels:
            _kernels[key] = _build(parallel, found[2])
        return _kernels[key]


class _Work(threading.local):
    def __init__(self) -> None:
        self.buffers: dict[str, Array] = {}


_work = _Work()


def _buffer(dtype: np.dtype[Any], workers: int, size: int) -> Array:
    """A (workers, size) C-contiguous work buffer, kept for the next call of this thread when small enough."""
    need = workers * size
    kept = _work.buffers.get(dtype.name)
    if kept is not None and kept.size >= need:
        return kept[:need].reshape(workers, size)
    buf = np.empty(need, dtype)
    if need * dtype.itemsize <= _KEEP:
        _work.buffers[dtype.name] = buf
    return buf.reshape(workers, size)


def supports(x: Array, w: Array, stride: tuple[int, int], dilation: tuple[int, int], groups: int) -> bool:
    """Whether ``conv3x3`` computes this convolution: float32/float64, 3x3 kernel, stride 1, dilation 1, one
    group (any padding), with NumPy's OpenBLAS available."""
    return (
        _GEMM is not None
        and x.dtype in _FLOATS
        and w.dtype == x.dtype
        and x.ndim == 4
        and w.ndim == 4
        and w.shape[2:] == (3, 3)
        and stride == (1, 1)
        and dilation == (1, 1)
        and groups == 1
    )


def _padding(padding: object) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from ((top, bottom), (left, right)), validated (``_conv_numba``'s checks)."""
    pt, pb, pl, pr, _, _ = _geometry(padding, (1, 1))
    return pt, pb, pl, pr


def _transformed(w: Array) -> Array:
    """U = G w G^T for every (o, c), as (16, O, C) in w's dtype (computed in float64)."""
    o, c = w.shape[0], w.shape[1]
    u = _G @ w.astype(np.float64) @ _G.T  # (O, C, 4, 4)
    return np.ascontiguousarray(u.transpose(2, 3, 0, 1).reshape(16, o, c).astype(w.dtype))


def conv3x3(x: object, w: object, b: object, padding: object) -> Array:
    """y = conv(x, w) + b with stride 1, dilation 1, PyTorch semantics, for x (N, C, H, W) and w (O, C, 3, 3).

    ``padding`` is ((top, bottom), (left, right)), any ints >= 0; b is (O,) or None, of x's dtype. Any memory
    layout is accepted (copied to C order). Raises ShapeError/DTypeError on anything it cannot compute.
    """
    xa, wa, ba = _array(x), _array(w), _array(b)
    if xa is None or wa is None:
        raise DTypeError("conv3x3 (Winograd): x and w must be NumPy arrays; pass np.asarray(...) of them")
    if xa.dtype not in _FLOATS or wa.dtype != xa.dtype:
        raise DTypeError(
            f"conv3x3 (Winograd): x and w must both be float32 or both float64, got {xa.dtype} and {wa.dtype}; "
            "cast them first"
        )
    if xa.ndim != 4 or wa.ndim != 4 or wa.shape[2:] != (3, 3) or wa.shape[1] != xa.shape[1]:
        raise ShapeError(
            f"conv3x3 (Winograd): expected x (N, C, H, W) and w (O, C, 3, 3) with the same C, got {xa.shape} and "
            f"{wa.shape}"
        )
    pt, pb, pl, pr = _padding(padding)
    n, c, h, wd = xa.shape
    o = wa.shape[0]
    ho, wo = h + pt + pb - 2, wd + pl + pr - 2
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"conv3x3 (Winograd): the padded input {h + pt + pb}x{wd + pl + pr} is smaller than the 3x3 kernel; "
            "pad more"
        )
    bias = np.zeros(o, xa.dtype)
    if b is not None:
        if ba is None or ba.shape != (o,):
            got = type(b).__name__ if ba is None else f"shape {ba.shape}"
            raise ShapeError(f"conv3x3 (Winograd): the bias must be None or an array of shape ({o},), got {got}")
        if ba.dtype != xa.dtype:
            raise DTypeError(
                f"conv3x3 (Winograd): the bias must have x's dtype {xa.dtype}, got {ba.dtype}; cast it first"
            )
        bias[:] = ba
    y = np.empty((n, o, ho, wo), xa.dtype)
    if y.size == 0:
        return y
    if c == 0:
        y[...] = bias.reshape(1, o, 1, 1)
        return y
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    per = (th + 1) * (tw + 1)
    found = _GEMM
    if found is None:
        raise DTypeError("conv3x3 (Winograd): NumPy's OpenBLAS was not found; use the im2col path")
    gemm = found[0] if xa.dtype == np.float32 else found[1]
    one, zero = xa.dtype.type(1), xa.dtype.type(0)
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    per = (th + 1) * (tw + 1)
    # serial: small calls, and calls made while OpenBLAS runs on one thread (the parts of a convolution that
    # ``_ops.conv_parallel`` split over threads, each on its own core: the pool would only queue behind them)
    serial = n * o * c * ho * wo * 9 < _SERIAL_MACS or n < 2 or found[3]() == 1
    workers = 1 if serial else max(1, min(numba.get_num_threads(), n))
    cap = max(1, _ONE_THREAD_MNK // (o * c * per))
    group = max(1, min(max(1, _TILES // per), cap, -(-n // workers)))
    tb = group * per + _PAD
    size = 4 * (c * tb + tw + 2) + 8 * (c * tb + 1) + 16 * c * tb + 20 * o * tb
    args = (np.ascontiguousarray(xa), _transformed(wa), bias, y, pt, pl, th, tw, group)
    if serial:
        _kernel(False)(*args, _buffer(xa.dtype, 1, size), gemm, one, zero)
    else:
        with _parallel_lock:
            _kernel(True)(*args, _buffer(xa.dtype, workers, size), gemm, one, zero)
    return y


def input_grad(g: object, w: object, padding: object) -> Array:
    """dL/dx of ``conv3x3(x, w, b, padding)`` given g = dL/dy (N, O, Ho, Wo): the same kernel on g.

    With stride 1 the input gradient is a correlation of g with the weights turned by 180 degrees and their
    channel axes swapped, padded by 2 - p on each side: paddings 0, 1 and 2 per side. Raises ShapeError otherwise.
    """
    ga, wa = _array(g), _array(w)
    if ga is None or wa is None:
        raise DTypeError("conv3x3 (Winograd) input_grad: g and w must be NumPy arrays; pass np.asarray(...) of them")
    pt, pb, pl, pr = _padding(padding)
    if max(pt, pb, pl, pr) > 2:
        raise ShapeError(f"conv3x3 (Winograd) input_grad: padding {padding!r} exceeds 2; use the im2col path")
    if wa.ndim != 4 or ga.ndim != 4 or ga.shape[1] != wa.shape[0]:
        raise ShapeError(
            f"conv3x3 (Winograd) input_grad: expected g (N, O, Ho, Wo) and w (O, C, 3, 3) with the same O, got "
            f"{ga.shape} and {wa.shape}"
        )
    turned = np.ascontiguousarray(wa[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return conv3x3(ga, turned, None, ((2 - pt, 2 - pb), (2 - pl, 2 - pr)))
