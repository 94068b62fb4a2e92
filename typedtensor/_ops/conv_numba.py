"""3x3 convolutions compiled with numba (the ``fast`` extra): a direct kernel, no column matrix.

Each image is copied into zero-padded planes of row width ``Wp = W + left + right`` (one buffer per
image, per thread). With stride 1, output pixel (r, q) is flat position ``p = r * Wp + q`` of a plane
and reads the nine input elements at ``p + i * dh * Wp + j * dw``: along p every one of them is a
contiguous run, so the innermost loop over p is a plain vector loop (LLVM vectorises it: 16 float32
lanes with AVX-512), with the 18 weights of two output channels held in registers and nine loads
shared by 18 FMAs. The columns ``q >= Wo`` of each row are computed and dropped when the accumulator
tile is copied out. Accumulators are a small tile of whole rows (``_TILE`` elements per output
channel, in L1), summed over input channels one at a time.

Parallel over images (``prange``). Kernels index without bounds checks: ``conv3x3`` validates
everything they read (shapes, dtypes, layouts) and gives them C-contiguous copies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numba
import numpy as np
from numba import prange

from .._errors import DTypeError, ShapeError
from ..nn._bn_numba import _compiled, _parallel_lock
from ._types import Array

__all__ = ["conv3x3", "supports"]

#: Accumulator elements per output channel and tile (whole rows of Wp): two channels of float32 take
#: 2 KiB, well inside L1 next to the three input rows being read.
_TILE = 1024
#: Output channels computed together (weights in registers: 2 x 9).
_OB = 2
#: Each tile's length is rounded up to a multiple of this (the vector loop's step, unrolled), and the
#: planes get as many guard elements: positions past the tile are computed and dropped.
_ROUND = 64
#: Flat positions per channel a parallel work item aims for (several images when planes are small).
_CHUNK = 2048


def _build(parallel: bool) -> Callable[..., None]:
    """The forward kernel, parallel over work items (``prange``) or serial.

    numba's disk cache keys an entry by the function's bytecode and its closure's contents, not by the
    compile flags: ``parallel`` is read in the kernel so that the two builds get separate entries.
    """

    def forward(
        x: Array, wpk: Array, bias: Array, y: Array, pt: int, pl: int, hp: int, wp: int, dh: int, dw: int, group: int
    ) -> None:  # pragma: no cover - compiled
        if parallel:  # read here so that it is in the closure: see _build
            pass
        n_img, c_in, h, w = x.shape
        o_out, ho, wo = y.shape[1], y.shape[2], y.shape[3]
        o1, o2 = dw, 2 * dw
        o3, o4, o5 = dh * wp, dh * wp + dw, dh * wp + 2 * dw
        o6, o7, o8 = 2 * dh * wp, 2 * dh * wp + dw, 2 * dh * wp + 2 * dw
        guard = 2 * dw + _ROUND
        for chunk in prange((n_img + group - 1) // group):
            n0 = chunk * group
            g_n = min(group, n_img - n0)
            # flat positions of one channel: pt zero rows, then the chunk's images one above the other, each
            # followed by the zero rows it shares with the next (hp - h of them), and reach for the last taps
            span = (pt + g_n * hp + 2 * dh + 1) * wp
            total_rows = g_n * hp
            rows = max(1, min(total_rows, _TILE // wp))
            tile = (rows * wp + _ROUND - 1) // _ROUND * _ROUND
            # One work array per item: both accumulator rows and the padded planes, each 64-byte aligned; the
            # planes start half a page (mod 4 KiB) after the accumulators, and the second row one cache line
            # past a whole number of lines after the first, so stores rarely alias the loads that follow.
            item = x.itemsize
            line, page = 64 // item, 4096 // item
            tpad = (tile + line - 1) // line * line + line
            xsize = c_in * span + guard
            work = np.empty(2 * tpad + page + xsize + line, x.dtype)
            start = (-(work.ctypes.data // item)) % line
            acc0 = work[start : start + tile]
            acc1 = work[start + tpad : start + tpad + tile]
            xoff = start + 2 * tpad + (page // 2 - 2 * tpad) % page
            xb = work[xoff : xoff + xsize]
            xb[:] = 0
            for c in range(c_in):
                for g in range(g_n):
                    for r in range(h):
                        base = c * span + (pt + g * hp + r) * wp + pl
                        for q in range(w):
                            xb[base + q] = x[n0 + g, c, r, q]
            for ob in range(wpk.shape[0]):
                b0 = bias[2 * ob]
                b1 = bias[2 * ob + 1]
                for r0 in range(0, total_rows, rows):
                    nr = min(rows, total_rows - r0)
                    tl = (nr * wp + _ROUND - 1) // _ROUND * _ROUND  # no scalar remainder loop: the extra are dropped
                    for p in range(tl):
                        acc0[p] = b0
                        acc1[p] = b1
                    for c in range(c_in):
                        wc = wpk[ob, c]
                        a0, a1, a2, a3, a4, a5, a6, a7, a8 = (
                            wc[0],
                            wc[1],
                            wc[2],
                            wc[3],
                            wc[4],
                            wc[5],
                            wc[6],
                            wc[7],
                            wc[8],
                        )
                        b_0, b_1, b_2, b_3 = wc[9], wc[10], wc[11], wc[12]
                        b_4, b_5, b_6, b_7, b_8 = wc[13], wc[14], wc[15], wc[16], wc[17]
                        s0 = c * span + r0 * wp
                        x0, x1, x2 = xb[s0:], xb[s0 + o1 :], xb[s0 + o2 :]
                        x3, x4, x5 = xb[s0 + o3 :], xb[s0 + o4 :], xb[s0 + o5 :]
                        x6, x7, x8 = xb[s0 + o6 :], xb[s0 + o7 :], xb[s0 + o8 :]
                        for p in range(tl):
                            e0, e1, e2, e3, e4, e5, e6, e7, e8 = (
                                x0[p],
                                x1[p],
                                x2[p],
                                x3[p],
                                x4[p],
                                x5[p],
                                x6[p],
                                x7[p],
                                x8[p],
                            )
                            acc0[p] += (
                                a0 * e0 + a1 * e1 + a2 * e2 + a3 * e3 + a4 * e4 + a5 * e5 + a6 * e6 + a7 * e7 + a8 * e8
                            )
                            acc1[p] += (
                                b_0 * e0
                                + b_1 * e1
                                + b_2 * e2
                                + b_3 * e3
                                + b_4 * e4
                                + b_5 * e5
                                + b_6 * e6
                                + b_7 * e7
                                + b_8 * e8
                            )
                    for rr in range(nr):  # copy the valid pixels out: rows r < Ho of each plane, columns q < Wo
                        g = (r0 + rr) // hp
                        r = (r0 + rr) - g * hp
                        if r < ho:
                            for q in range(wo):
                                y[n0 + g, 2 * ob, r, q] = acc0[rr * wp + q]
                            if 2 * ob + 1 < o_out:
                                for q in range(wo):
                                    y[n0 + g, 2 * ob + 1, r, q] = acc1[rr * wp + q]

    return _compiled(parallel=parallel)(forward)


_forward = _build(parallel=True)
_forward_serial = _build(parallel=False)
#: Below this many multiply-adds a call runs serially: starting numba's pool costs more than it saves
#: (with the workqueue layer, used next to PyTorch, ~50-100 us: (64, 1, 8, 8) -> 16 took 0.14-0.17 ms
#: parallel against 0.06 ms serial).
_SERIAL_MACS = 1 << 22


def _group(n: int, plane: int) -> int:
    """Images per parallel work item: small planes are batched (``_CHUNK`` flat positions per channel),
    leaving at least two items per thread."""
    want = max(1, _CHUNK // plane)
    share = max(1, n // (2 * numba.get_num_threads()))
    return min(want, share)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def supports(x: Array, w: Array, stride: tuple[int, int], groups: int) -> bool:
    """Whether ``conv3x3`` computes this convolution: float32/float64, 3x3 kernel, stride 1, one group."""
    return (
        x.dtype in _FLOATS
        and w.dtype == x.dtype
        and x.ndim == 4
        and w.ndim == 4
        and w.shape[2:] == (3, 3)
        and stride == (1, 1)
        and groups == 1
    )


def _pack(w: Array) -> Array:
    """Weights (O, C, 3, 3) as (ceil(O/2), C, 18): channels 2k and 2k+1 side by side (a zero one past O)."""
    o, c = w.shape[0], w.shape[1]
    pairs = (o + _OB - 1) // _OB
    packed = np.zeros((pairs * _OB, c, 9), w.dtype)
    packed[:o] = w.reshape(o, c, 9)
    return np.ascontiguousarray(packed.reshape(pairs, _OB, c, 9).transpose(0, 2, 1, 3).reshape(pairs, c, _OB * 9))


def _array(value: object) -> Array | None:
    return cast("Array", value) if isinstance(value, np.ndarray) else None


def conv3x3(
    x: object, w: object, b: object, padding: tuple[tuple[int, int], tuple[int, int]], dilation: tuple[int, int]
) -> Array:
    """y = conv(x, w) + b with stride 1, PyTorch semantics, for x (N, C, H, W) and w (O, C, 3, 3).

    ``padding`` is ((top, bottom), (left, right)); b is (O,) or None, of x's dtype. Any memory layout is
    accepted (copied to C order). Raises ShapeError/DTypeError on anything the kernel cannot compute.
    """
    xa, wa, ba = _array(x), _array(w), _array(b)
    if xa is None or wa is None:
        raise DTypeError("conv3x3: x and w must be NumPy arrays; pass np.asarray(...) of them")
    if xa.dtype not in _FLOATS or wa.dtype != xa.dtype:
        raise DTypeError(
            f"conv3x3: x and w must both be float32 or both float64, got {xa.dtype} and {wa.dtype}; cast them first"
        )
    if xa.ndim != 4 or wa.ndim != 4 or wa.shape[2:] != (3, 3) or wa.shape[1] != xa.shape[1]:
        raise ShapeError(
            f"conv3x3: expected x (N, C, H, W) and w (O, C, 3, 3) with the same C, got {xa.shape} and {wa.shape}"
        )
    (pt, pb), (pl, pr) = padding
    dh, dw = dilation
    if min(pt, pb, pl, pr) < 0 or dh < 1 or dw < 1:
        raise ShapeError(f"conv3x3: padding must be >= 0 and dilation >= 1, got {padding} and {dilation}")
    n, c, h, wd = xa.shape
    o = wa.shape[0]
    ho, wo = h + pt + pb - 2 * dh, wd + pl + pr - 2 * dw
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"conv3x3: the padded input {h + pt + pb}x{wd + pl + pr} is smaller than the dilated kernel "
            f"{2 * dh + 1}x{2 * dw + 1}; use less dilation or more padding"
        )
    # zero columns between rows and zero rows between images, shared by both neighbours (see _forward)
    hp = h + max(pt, pb, pt + pb - 2 * dh)
    wp = wd + max(pl, pr, pl + pr - 2 * dw)
    bias = np.zeros(o + 1, xa.dtype)  # one past O: the partner of an odd last channel
    if b is not None:
        if ba is None or ba.shape != (o,) or ba.dtype != xa.dtype:
            got = type(b).__name__ if ba is None else f"{ba.shape} {ba.dtype}"
            raise ShapeError(
                f"conv3x3: the bias must be None or an array of shape ({o},) and dtype {xa.dtype}, got {got}"
            )
        bias[:o] = ba
    y = np.empty((n, o, ho, wo), xa.dtype)
    if y.size == 0:
        return y
    if c == 0:
        y[...] = bias[:o].reshape(1, o, 1, 1)
        return y
    args = (np.ascontiguousarray(xa), _pack(wa), bias, y, pt, pl, hp, wp, dh, dw)
    if n * o * c * ho * wo * 9 < _SERIAL_MACS:
        _forward_serial(*args, _group(n, hp * wp))
    else:
        with _parallel_lock:
            _forward(*args, _group(n, hp * wp))
    return y
