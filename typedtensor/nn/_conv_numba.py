"""3x3 convolutions compiled with numba (numba: a default dependency): a direct kernel, no column matrix.

Forward and input gradient (``input_grad``: the same kernel on the output gradient), stride 1, one group, any padding and dilation, float32 or float64; not wired into Conv2D
yet (``supports`` says what it computes; bench/conv_numba.py times it against the im2col path and PyTorch).

Layout: a work item (one image, or several when planes are small: ``_group``) is copied into one flat
zero-filled buffer per input channel, rows of pitch ``Wp`` and images stacked one above the other. The
zero columns between two rows serve as the right padding of one and the left padding of the next, and the
zero rows between two images likewise (``Wp = W + max(left, right, ...)``, ``Hp = H + max(top, bottom,
...)``), so little is computed and dropped even for 4x4 or 8x8 planes. Output pixel (r, q) of image g is
flat position ``p = (g * Hp + r) * Wp + q`` and reads the nine elements ``p + i * dh * Wp + j * dw``:
along p each of them is a contiguous run, so the innermost loop is a plain vector loop (LLVM vectorises
it: 16 float32 lanes with AVX-512) in which nine loads feed 18 FMAs, the 18 weights of two output
channels staying in registers. Two accumulator rows of ``_TILE`` positions (in L1) are summed over the
input channels one at a time, then their valid pixels (r < Ho, q < Wo) are copied out.

Parallel over work items (``prange``), or serial under ``_SERIAL_MACS``. The kernels index without
bounds checks: ``conv3x3`` validates everything they read and gives them C-contiguous copies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numba
import numpy as np
from numba import prange

from .._errors import DTypeError, ShapeError
from .._ops._types import Array
from ._bn_numba import _compiled, _parallel_lock

__all__ = ["conv3x3", "input_grad", "supports"]

#: Accumulator positions per output channel and tile (whole rows of Wp): two rows of float32 take 8 KiB,
#: inside L1 next to the input rows being read (256 was slower on 8x8 planes: more loop entries per pixel).
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
            # One work array per item: both accumulator rows and the padded planes, each 64-byte aligned, the
            # planes half a page (mod 4 KiB) after the accumulators (skewing the two rows by half a page as
            # well measured no different).
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
                        a0, a1, a2 = wc[0], wc[1], wc[2]  # output channel 2 * ob, taps (i, j) row by row
                        a3, a4, a5 = wc[3], wc[4], wc[5]
                        a6, a7, a8 = wc[6], wc[7], wc[8]
                        b_0, b_1, b_2 = wc[9], wc[10], wc[11]  # output channel 2 * ob + 1
                        b_3, b_4, b_5 = wc[12], wc[13], wc[14]
                        b_6, b_7, b_8 = wc[15], wc[16], wc[17]
                        s0 = c * span + r0 * wp
                        x0, x1, x2 = xb[s0:], xb[s0 + o1 :], xb[s0 + o2 :]
                        x3, x4, x5 = xb[s0 + o3 :], xb[s0 + o4 :], xb[s0 + o5 :]
                        x6, x7, x8 = xb[s0 + o6 :], xb[s0 + o7 :], xb[s0 + o8 :]
                        for p in range(tl):
                            e0, e1, e2 = x0[p], x1[p], x2[p]
                            e3, e4, e5 = x3[p], x4[p], x5[p]
                            e6, e7, e8 = x6[p], x7[p], x8[p]
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
    """Images per work item: small planes are batched, up to ``_CHUNK`` flat positions per channel and an
    equal share of the images per thread (prange hands each thread one contiguous range of items anyway;
    at (64, 32, 4, 4) -> 64 one item per thread was 15% faster than two)."""
    want = max(1, _CHUNK // plane)
    share = max(1, n // numba.get_num_threads())
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


def _geometry(padding: object, dilation: object) -> tuple[int, int, int, int, int, int]:
    """(top, bottom, left, right, dh, dw) from ((top, bottom), (left, right)) and (dh, dw), validated."""
    try:
        (pt, pb), (pl, pr) = cast("tuple[tuple[object, object], tuple[object, object]]", padding)
        dh, dw = cast("tuple[object, object]", dilation)
    except (TypeError, ValueError):
        pt = pb = pl = pr = dh = dw = None
    values = (pt, pb, pl, pr, dh, dw)
    ints = [int(cast("int", v)) for v in values if isinstance(v, int | np.integer) and not isinstance(v, bool)]
    if len(ints) != 6 or min(ints[:4]) < 0 or min(ints[4:]) < 1:
        raise ShapeError(
            f"conv3x3: padding must be ((top, bottom), (left, right)) of ints >= 0 and dilation (dh, dw) of ints "
            f">= 1, got {padding!r} and {dilation!r}"
        )
    return ints[0], ints[1], ints[2], ints[3], ints[4], ints[5]


def conv3x3(x: object, w: object, b: object, padding: object, dilation: object) -> Array:
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
    pt, pb, pl, pr, dh, dw = _geometry(padding, dilation)
    n, c, h, wd = xa.shape
    o = wa.shape[0]
    ho, wo = h + pt + pb - 2 * dh, wd + pl + pr - 2 * dw
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"conv3x3: the padded input {h + pt + pb}x{wd + pl + pr} is smaller than the dilated kernel "
            f"{2 * dh + 1}x{2 * dw + 1}; use less dilation or more padding"
        )
    # zero columns between rows and zero rows between images, shared by both neighbours (see the module's notes)
    hp = h + max(pt, pb, pt + pb - 2 * dh)
    wp = wd + max(pl, pr, pl + pr - 2 * dw)
    bias = np.zeros(o + 1, xa.dtype)  # one past O: the partner of an odd last channel
    if b is not None:
        if ba is None or ba.shape != (o,):
            got = type(b).__name__ if ba is None else f"shape {ba.shape}"
            raise ShapeError(f"conv3x3: the bias must be None or an array of shape ({o},), got {got}")
        if ba.dtype != xa.dtype:
            raise DTypeError(f"conv3x3: the bias must have x's dtype {xa.dtype}, got {ba.dtype}; cast it first")
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


def input_grad(g: object, w: object, padding: object, dilation: object) -> Array:
    """dL/dx of ``conv3x3(x, w, b, padding, dilation)`` given g = dL/dy (N, O, Ho, Wo): the same kernel on g.

    With stride 1 the input gradient is a correlation of g with the weights turned by 180 degrees and
    their channel axes swapped, padded by ``2 * d - p`` on each side; so every padding up to twice the
    dilation is computed here (3x3 layers with padding 0, 1 or 2). Raises ShapeError otherwise.
    """
    ga, wa = _array(g), _array(w)
    if ga is None or wa is None:
        raise DTypeError("conv3x3 input_grad: g and w must be NumPy arrays; pass np.asarray(...) of them")
    pt, pb, pl, pr, dh, dw = _geometry(padding, dilation)
    if max(pt, pb) > 2 * dh or max(pl, pr) > 2 * dw:
        raise ShapeError(
            f"conv3x3 input_grad: padding {padding!r} exceeds twice the dilation {dilation!r}; use the im2col path"
        )
    if wa.ndim != 4 or ga.ndim != 4 or ga.shape[1] != wa.shape[0]:
        raise ShapeError(
            f"conv3x3 input_grad: expected g (N, O, Ho, Wo) and w (O, C, 3, 3) with the same O, got {ga.shape} and "
            f"{wa.shape}"
        )
    turned = np.ascontiguousarray(wa[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return conv3x3(ga, turned, None, ((2 * dh - pt, 2 * dh - pb), (2 * dw - pl, 2 * dw - pr)), (dh, dw))
