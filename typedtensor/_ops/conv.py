"""2-D convolution (NCHW, PyTorch semantics): im2col plus one BLAS matrix product per group.

Forward: the input is copied once into a zero-padded buffer of image planes; the column matrix of a
chunk of images is a strided view of that buffer, copied into a (C*kH*kW, n*L) matrix, and
``y = W @ cols`` is one GEMM per group (``np.matmul`` over a stack of G matrices). The column matrix is
64-byte aligned (``scratch``), which this orientation needs: on NumPy's default 16-byte offset it
ran 1.5-1.6x slower (1 thread, 16x144 @ 144x11264: 0.70 vs 0.44 ms), and the other orientation
(``cols.T @ W.T``, pixels x O) looked faster there, but is not on aligned columns (0.50 ms) and then
needs a transposing copy to NCHW (measured in situ: 16->16 on 32x32, fwd 3.3 -> 4.2 ms). Nor did
building the column matrix as (pixels, kH*kW*C) from channels-last planes pay: its GEMM is 1.4x
faster but the two transposing copies cost more (fwd 3.7 -> 3.8 ms, 3->16 channels 0.8 -> 1.8 ms).

Backward: ``dW`` is ``(cols @ g.T).T`` (see ``_SharedWeightGrad`` for the stride-1 layers below).
The input gradient of a stride-1 convolution is itself a correlation (the output gradient, zero
padded, with the flipped kernel: ``_transposed``), computed by the forward path with no col2im:
faster when the layer has no more output than input channels (``_correlation_pays``). Otherwise
(more output channels, strides, padding wider than the kernel's reach) ``dcols = W.T @ g`` is
scattered back (col2im, see ``_Scatter``) with one add per kernel position; the loops run over
kernel positions and image chunks, never over pixels.

Row trick: with horizontal stride 1 the planes are stored without horizontal padding and the output
is computed for whole rows of R columns (R = max(W, output width)). Each column-matrix row is then
one contiguous run of the flat plane (the copy runs at memory speed); the columns that would read
across a row edge, where PyTorch reads zero padding, are zeroed afterwards (and in the backward
before the scatter), and the output columns past the output width are cropped. Strided convolutions
use a fully padded buffer and an ordinary strided im2col.

Images are processed in chunks whose column matrix stays under ``_BUDGET`` bytes and whose buffers
each fit their share of ``_KEEP`` (see ``_work``); the padded planes and the column matrix are built chunk
by chunk (in the backward too, instead of being kept). Work buffers (padded planes, column matrices,
products) are reused across calls, per thread (``scratch``): on this kind of virtual machine every
fresh page costs a page fault of a few microseconds, which made a fresh allocation per call cost
more than the arithmetic of small convolutions. A call's buffers are kept only when together they
take at most ``_KEEP`` bytes, so a thread retains at most that much after any convolution;
``release_scratch`` frees them at once, and a thread's are freed when it ends. float16 is computed
in float32 (NumPy has no half-precision BLAS) and rounded back.

3x3 stride-1 convolutions with enough channels and large planes (``winograd_applies``) can take the Winograd
kernel of the nn layer instead (forward, and the input gradient on 32x32 planes up to ``_WINOGRAD_DX_MOST``
elements): ``register_fast`` installs
it (``typedtensor.nn._conv_backend`` does, on by default; ``TYPEDTENSOR_CONV=im2col`` turns it off); a result
that is not finite is computed again here (``_finite``). float16 takes it with its float32 copies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._errors import ShapeError
from ._types import Array, Grads, Result

#: Target size in bytes of one chunk's column matrix.
_BUDGET = 8 << 20
#: Planes of at most this many elements take the "flat" col2im (see ``_Scatter``).
_FLAT_PLANE = 1024
#: The work buffers of a call are kept for the next call when together they take at most this many
#: bytes (per thread; see ``scratch``). The demo's convolutions (batch 64) need 5.3 MiB.
_KEEP = 8 << 20

Pair = tuple[int, int]


@dataclass(frozen=True)
class Geometry:
    """Where each kernel position of each output pixel reads in the padded plane buffer."""

    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    ho: int
    wo: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int  # rows of padding above the input in the buffer
    hp: int  # rows per plane in the buffer
    rb: int  # columns per plane row in the buffer
    c0: int  # buffer column of input column 0
    q: int  # output columns computed per row (>= wo; the rest is cropped)
    shift: int  # flat offset of kernel position (0, 0) of output pixel (0, 0) from the plane start
    lead: int  # guard elements before the first plane
    tail: int  # guard elements after the last plane
    masks: tuple[tuple[int, int, int], ...]  # (kernel column j, first, end): output columns zeroed

    @property
    def plane(self) -> int:
        return self.hp * self.rb

    @property
    def rows(self) -> int:
        """Column-matrix rows of one image: C * kH * kW."""
        return self.c * self.kh * self.kw


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length along one axis (PyTorch's formula, floor mode)."""
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def geometry(
    shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair
) -> Geometry:
    """The buffer layout for input ``shape`` (N, C, H, W); padding is ((top, bottom), (left, right))."""
    n, c, h, w = shape
    kh, kw = kernel
    sh, sw = stride
    (pt, pb), (pl, pr) = padding
    dh, dw = dilation
    ho = out_size(h, kh, sh, pt + pb, dh)
    wo = out_size(w, kw, sw, pl + pr, dw)
    hp = h + pt + pb
    masks: list[tuple[int, int, int]] = []
    if sw == 1 and max(w, wo) <= 2 * wo:  # row trick (at most half the computed columns are cropped)
        rb = q = max(w, wo)
        c0, shift = 0, -pl
        for j in range(kw):
            off = j * dw - pl  # input column read by output column x is x + off
            spans = [(0, min(q, max(0, -off))), (max(0, min(q, w - off)), q)]
            if wo < q:
                spans.append((wo, q))
            masks += [(j, a, b) for a, b in spans if a < b]
    else:
        rb = w + pl + pr
        q = wo
        c0, shift = pl, 0
    last = ((ho - 1) * sh + (kh - 1) * dh) * rb + (q - 1) * sw + (kw - 1) * dw + shift
    return Geometry(
        n, c, h, w, kh, kw, ho, wo, sh, sw, dh, dw, pt, hp, rb, c0, q, shift,
        lead=max(0, -shift), tail=max(0, last - (hp * rb - 1)), masks=tuple(masks),
    )  # fmt: skip


class _Scratch(threading.local):
    """Work buffers reused across calls, one set per thread (fresh pages cost a page fault each)."""

    def __init__(self) -> None:
        #: name -> a 64-byte aligned uint8 view of its allocation (``.base``).
        self.buffers: dict[str, Array] = {}


_scratch = _Scratch()


def _allocate(nbytes: int) -> Array:
    """A 64-byte aligned uint8 array of at least ``nbytes`` bytes (a view of a slightly larger allocation)."""
    raw = np.empty(max(nbytes, 4096) + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + max(nbytes, 4096)]


def _held(buffers: dict[str, Array]) -> int:
    """Bytes allocated for ``buffers``."""
    return sum(b.base.nbytes if b.base is not None else b.nbytes for b in buffers.values())


def scratch(dtype: np.dtype[Any], counts: dict[str, int]) -> list[Array]:
    """Flat, 64-byte aligned work buffers of ``counts[name]`` elements each (contents undefined).

    The buffers of one call are asked for together. When they fit in ``_KEEP`` bytes together they
    are kept by name for the next call (a kept buffer at least as large is reused; to stay within
    ``_KEEP``, buffers this call does not use are dropped first, then oversized ones shrunk);
    otherwise they are allocated for this call only and freed after it, and the kept ones stay.
    Nothing may keep a buffer past the call that asked for it.
    """
    kept = _scratch.buffers
    item = dtype.itemsize
    out: list[Array] = []
    for name, count in counts.items():  # the common case: every buffer kept and large enough
        buf = kept.get(name)
        if buf is None or buf.nbytes < count * item:
            return _refill(dtype, counts)
        out.append(buf[: count * item].view(dtype))
    return out


def _refill(dtype: np.dtype[Any], counts: dict[str, int]) -> list[Array]:
    need = {name: count * dtype.itemsize for name, count in counts.items()}
    if sum(max(n, 4096) + 64 for n in need.values()) > _KEEP:
        return [_allocate(n)[:n].view(dtype) for n in need.values()]
    kept = _scratch.buffers
    for name, nbytes in need.items():
        buf = kept.get(name)
        if buf is None or buf.nbytes < nbytes:
            kept[name] = _allocate(nbytes)
    for name in [name for name in kept if name not in need]:
        if _held(kept) <= _KEEP:
            break
        del kept[name]
    for name, nbytes in need.items():
        if _held(kept) <= _KEEP:
            break
        if kept[name].nbytes > max(nbytes, 4096):
            kept[name] = _allocate(nbytes)
    return [kept[name][:nbytes].view(dtype) for name, nbytes in need.items()]


def retained_scratch() -> int:
    """Bytes of work buffers the calling thread keeps for its next convolution."""
    return _held(_scratch.buffers)


def release_scratch() -> None:
    """Free the work buffers the calling thread keeps (the next convolution allocates them again)."""
    _scratch.buffers.clear()


#: Each scratch buffer's share of ``_KEEP``: every call of every convolution asks for buffers of these sizes
#: (chunks small enough to fit them), so the forward, the input gradient's correlation and the weight
#: gradient's loop, on their different geometries, all reuse the same kept buffers.
_SHARES = {"conv.cols": 0.36, "conv.dcols": 0.36, "conv.in": 0.1, "conv.out": 0.1, "conv.x": 0.08}


def _work(geo: Geometry, x: Array, out_channels: int, names: tuple[str, ...]) -> tuple[int, dict[str, Array]]:
    """Images per chunk, and the scratch buffers ``names`` of a call on ``x`` in chunks of that many.

    A chunk's column matrix takes at most ``_BUDGET`` bytes, and each buffer at most its share of ``_KEEP``
    (``_SHARES``; it is asked for at that size, so that calls of other geometries reuse it) unless one
    image alone needs more. Buffers that do not fit get fresh pages every call, whose page faults cost
    more than smaller chunks (measured, 1 thread: the col2im backward of (64,16,32,32)->16 took 13.9 ms
    in 8 MiB chunks, 9.0 ms with its buffers kept). "conv.in" (padded planes of a chunk) is left out when
    ``x`` needs no padding (see ``_buffer``).
    """
    pixels = geo.ho * geo.q
    each = {  # elements per image
        "conv.in": geo.c * geo.plane,
        "conv.cols": geo.rows * pixels,
        "conv.dcols": geo.rows * pixels,
        "conv.out": out_channels * pixels,
        "conv.x": out_channels * geo.ho * geo.wo,
    }
    padded = not (geo.lead == geo.tail == 0 and geo.plane == geo.h * geo.w and x.flags.c_contiguous)
    used = [name for name in names if padded or name != "conv.in"]
    item = x.itemsize
    fixed = {name: geo.lead + geo.tail if name == "conv.in" else 0 for name in used}
    caps = {name: (int(_KEEP * _SHARES[name]) - 4096 - 64) // item for name in used}  # ``scratch``'s overhead
    per = min(geo.n, _BUDGET // max(each["conv.cols"] * item, 1))
    per = max(1, min([per] + [(caps[k] - fixed[k]) // max(each[k], 1) for k in used]))
    counts = {name: max(caps[name], per * each[name] + fixed[name]) for name in used}
    return per, dict(zip(counts, scratch(x.dtype, counts), strict=True))


def _buffer(x: Array, geo: Geometry, out: Array | None) -> Array:
    """Images ``x`` (a chunk) in zero-padded planes, flat, with guard elements at both ends, in ``out``.

    ``out`` is None when the C-contiguous ``x`` needs no padding: ``x`` itself, flat.
    """
    if out is None:
        return x.reshape(-1)
    size = x.shape[0] * geo.c * geo.plane
    buf = out[: geo.lead + size + geo.tail]
    buf[: geo.lead] = 0
    buf[geo.lead + size :] = 0
    planes = buf[geo.lead : geo.lead + size].reshape(x.shape[0], geo.c, geo.hp, geo.rb)
    top, bottom, left, right = geo.pt, geo.pt + geo.h, geo.c0, geo.c0 + geo.w
    planes[:, :, :top] = 0
    planes[:, :, bottom:] = 0
    planes[:, :, top:bottom, :left] = 0
    planes[:, :, top:bottom, right:] = 0
    planes[:, :, top:bottom, left:right] = x
    return buf


def _window(buf: Array, geo: Geometry, count: int) -> Array:
    """A read-only strided view of the ``count`` images of the buffer as (C, kH, kW, count, Ho, Q)."""
    item = buf.itemsize
    base = geo.lead + geo.shift
    shape = (geo.c, geo.kh, geo.kw, count, geo.ho, geo.q)
    strides = (geo.plane, geo.dh * geo.rb, geo.dw, geo.c * geo.plane, geo.sh * geo.rb, geo.sw)
    return _strided(buf, base, shape, tuple(s * item for s in strides), writeable=False)


def _strided(flat: Array, base: int, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool = True) -> Array:
    """``as_strided`` into the 1-D contiguous ``flat`` from element ``base`` (``strides`` in bytes, >= 0),
    refused when the view would reach outside ``flat``: the kernels never read or write past a buffer."""
    item = flat.itemsize
    last = base + sum((n - 1) * (st // item) for n, st in zip(shape, strides, strict=True))
    if flat.ndim != 1 or not flat.flags.c_contiguous or base < 0 or (0 not in shape and last >= flat.size):
        raise ShapeError(
            f"conv2d: a strided view of {shape} from element {base} does not fit its buffer of {flat.size} elements "
            "(an internal error: please report it with the input's shape and the layer's settings)"
        )
    return as_strided(flat[base:], shape, strides, writeable=writeable)


def _zero_masked(cols6: Array, geo: Geometry) -> None:
    """Zero the column-matrix entries that read across a row edge (padding in PyTorch's terms)."""
    for j, a, b in geo.masks:
        cols6[:, :, j, :, :, a:b] = 0


def _cols(buf: Array, geo: Geometry, count: int, out: Array) -> Array:
    """The column matrix of the ``count`` images of the buffer as (C*kH*kW, count*Ho*Q), written into ``out``."""
    cols6 = out[: geo.rows * count * geo.ho * geo.q].reshape(geo.c, geo.kh, geo.kw, count, geo.ho, geo.q)
    np.copyto(cols6, _window(buf, geo, count))
    _zero_masked(cols6, geo)
    return cols6.reshape(geo.rows, count * geo.ho * geo.q)


def _span(size: int, offset: int, stride: int, count: int) -> tuple[int, int]:
    """Output indices [lo, hi) whose input index ``k * stride + offset`` lies in [0, size)."""
    lo = max(0, -(offset // stride))  # ceil(-offset / stride)
    hi = min(count, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


class _Scatter:
    """col2im: add the gradient of each column-matrix entry to the input element it read.

    Three forms, by geometry:

    * "flat" (row trick, stride 1, output as large as the input, small planes): entries that read
      padding are zeroed, and the gradient, kept channel-major (C, N, H, W) with guard elements at both
      ends, receives each kernel position in one contiguous add (zeroed entries land harmlessly in
      the guards or neighbouring rows). Transposed to (N, C, H, W) at the end.
    * "merged" (row trick, stride 1): whole output rows map to contiguous runs of each input plane,
      one run per image and channel; entries reading across a row edge are zeroed first.
    * "clipped" (otherwise): each kernel position's rows and columns are clipped to the input.
    """

    def __init__(self, geo: Geometry, dtype: np.dtype[Any]) -> None:
        self.geo = geo
        rows = geo.c0 == 0 and geo.q == geo.rb == geo.w and geo.sh == 1 and geo.sw == 1
        self.mode = "clipped"
        if rows:
            self.mode = "flat" if geo.ho == geo.h and geo.h * geo.w <= _FLAT_PLANE else "merged"
        self.pl = pl = -geo.shift if geo.c0 == 0 else geo.c0
        reach = (geo.kw - 1) * geo.dw - pl  # how far the last kernel column reads past a row
        self.lead = self.tail = 0
        if self.mode == "flat":
            self.lead, self.tail = geo.pt * geo.w + pl, max(0, (geo.hp - geo.pt - geo.h) * geo.w + reach)
        elif self.mode == "merged":
            self.lead, self.tail = pl, max(0, reach)
        size = geo.n * geo.c * geo.h * geo.w
        self.flat = np.zeros(self.lead + size + self.tail, dtype)
        body = self.flat[self.lead : self.lead + size]
        if self.mode == "flat":
            self.dx = body.reshape(geo.c, geo.n, geo.h, geo.w).transpose(1, 0, 2, 3)
        else:
            self.dx = body.reshape(geo.n, geo.c, geo.h, geo.w)

    def add(self, d6: Array, start: int, count: int) -> None:
        """Scatter ``d6`` (C, kH, kW, count, Ho, Q), the gradient of images [start, start+count)."""
        geo, mode = self.geo, self.mode
        if mode != "clipped":
            _zero_masked(d6, geo)
        item = self.flat.itemsize
        plane = geo.h * geo.w
        for i in range(geo.kh):
            y0, y1 = _span(geo.h, i * geo.dh - geo.pt, geo.sh, geo.ho)
            if y0 == y1 and mode != "flat":
                continue
            if mode == "flat":  # rows reading padding: zeroed, they land in the guards or other rows
                d6[:, i, :, :, :y0] = 0
                d6[:, i, :, :, y1:] = 0
                y0, y1 = 0, geo.ho
            r0 = y0 * geo.sh + i * geo.dh - geo.pt
            for j in range(geo.kw):
                target: Array
                source: Array
                if mode == "flat":
                    base = self.lead + start * plane + r0 * geo.w + j * geo.dw - self.pl
                    run = count * plane
                    target = _strided(self.flat, base, (geo.c, run), (geo.n * plane * item, item))
                    source = d6[:, i, j].reshape(geo.c, run)
                elif mode == "merged":
                    base = self.lead + start * geo.c * plane + r0 * geo.w + j * geo.dw - self.pl
                    run = (y1 - y0) * geo.q
                    shape, strides = (geo.c, count, run), (plane * item, geo.c * plane * item, item)
                    target = _strided(self.flat, base, shape, strides)
                    source = d6[:, i, j, :, y0:y1].reshape(geo.c, count, run)
                else:
                    x0, x1 = _span(geo.w, j * geo.dw - self.pl, geo.sw, geo.wo)
                    if x0 == x1:
                        continue
                    col0 = x0 * geo.sw + j * geo.dw - self.pl
                    rows = slice(r0, r0 + geo.sh * (y1 - y0 - 1) + 1, geo.sh)
                    cols = slice(col0, col0 + geo.sw * (x1 - x0 - 1) + 1, geo.sw)
                    target = self.dx[start : start + count].transpose(1, 0, 2, 3)[:, :, rows, cols]
                    source = d6[:, i, j, :, y0:y1, x0:x1]
                np.add(target, source, out=target)


#: Called by ``_correlate`` with each chunk's (first image, images, column matrix (G, C/G*kH*kW, pixels),
#: the "conv.x" scratch buffer).
ChunkHook = Callable[[int, int, Array, Array], None]


def _correlate(
    x: Array,
    w: Array,
    b: Array | None,
    stride: Pair,
    padding: tuple[Pair, Pair],
    dilation: Pair,
    groups: int,
    hook: ChunkHook | None = None,
) -> tuple[Array, Geometry]:
    """(y, the geometry): y = conv(x, w) + b in x's dtype (float32 or float64); ``hook`` also gets each
    chunk's column matrix, and an output-sized scratch buffer per chunk ("conv.x")."""
    o = w.shape[0]
    geo = geometry(x.shape, (w.shape[2], w.shape[3]), stride, padding, dilation)
    g_, og, kg = groups, o // groups, geo.rows // groups
    w3 = w.reshape(g_, og, kg)
    n, ho, wo, q = geo.n, geo.ho, geo.wo, geo.q
    y = np.empty((n, o, ho, wo), x.dtype)
    bias = None if b is None else b.reshape(1, o, 1, 1)
    names = ("conv.in", "conv.cols", "conv.out") + (("conv.x",) if hook is not None else ())
    per, bufs = _work(geo, x, o, names)
    for s in range(0, n, per):
        cnt = min(per, n - s)
        m = cnt * ho * q
        cols = _cols(_buffer(x[s : s + cnt], geo, bufs.get("conv.in")), geo, cnt, bufs["conv.cols"])
        cols = cols.reshape(g_, kg, m)
        if hook is not None:
            hook(s, cnt, cols, bufs["conv.x"])
        if cnt == 1 and q == wo:  # the product is already NCHW: write it in place
            np.matmul(w3, cols, out=y[s].reshape(g_, og, m))
            if bias is not None:
                np.add(y[s : s + 1], bias, out=y[s : s + 1])
            continue
        prod = np.matmul(w3, cols, out=bufs["conv.out"][: o * m].reshape(g_, og, m))
        view = prod.reshape(o, cnt, ho, q)[:, :, :, :wo].transpose(1, 0, 2, 3)
        if bias is not None:
            np.add(view, bias, out=y[s : s + cnt])
        else:
            y[s : s + cnt] = view
    return y, geo


def _transposed(kernel: Pair, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair) -> tuple[Pair, Pair] | None:
    """The padding of the correlation that gives the input gradient of a stride-1 convolution, or None.

    With stride 1, dx is the output gradient zero-padded by dilation*(k-1) minus the forward padding on
    each side and correlated with the flipped kernel (``_flipped``): the forward path itself, no col2im.
    None for strides above 1, or when a forward padding exceeds dilation*(k-1) (the gradient would have
    to be cropped).
    """
    if stride != (1, 1):
        return None
    reach = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    (pt, pb), (pl, pr) = padding
    pads = ((reach[0] - pt, reach[0] - pb), (reach[1] - pl, reach[1] - pr))
    return None if min(min(p) for p in pads) < 0 else pads


def _correlation_pays(out_channels: int, in_channels: int) -> bool:
    """Whether the input gradient is cheaper as a correlation than by col2im: the correlation's column matrix
    has out_channels*kH*kW rows, col2im's in_channels*kH*kW. Measured (1 thread, batch 64, fwd+bwd of x and
    W): 16->16 on 32x32 7.1 vs 8.5 ms, 32->32 on 16x16 4.7 vs 5.1, 32->32 on 8x8 1.29 vs 1.36, 32->16 on
    32x32 11.6 vs 16.4; but 16->32 on 32x32 12.3 vs 10.4, on 16x16 3.7 vs 2.6, 3->16 on 32x32 4.6 vs 2.2."""
    return out_channels <= in_channels


def _flipped(w: Array, groups: int) -> Array:
    """The kernel of the input gradient's correlation, (C, O/groups, kH, kW): ``w`` (O, C/groups, kH, kW)
    flipped in both spatial axes, its input and output channels swapped within each group."""
    o, cg, kh, kw = w.shape
    w5 = w.reshape(groups, o // groups, cg, kh, kw)[:, :, :, ::-1, ::-1]
    return np.ascontiguousarray(w5.transpose(0, 2, 1, 3, 4)).reshape(groups * cg, o // groups, kh, kw)


class _SharedWeightGrad:
    """dW of a stride-1 convolution from the column matrix of its input gradient's correlation.

    That matrix holds, for every input pixel (n, Y, X) and row (o, i', j'), the output gradient the
    flipped kernel position (i', j') meets there (zero outside the output), so
    ``dW[o, c, i, j] = sum x[n, c, Y, X] * gcols[(o, kH-1-i, kW-1-j), (n, Y, X)]``: one GEMM of the
    images (C/G, pixels) with it per chunk, where the usual dW would unfold x into its own column
    matrix first. Needs the correlation's pixels to be the input's (row length W: see ``conv2d``).
    """

    def __init__(self, x: Array, w_shape: tuple[int, ...], groups: int) -> None:
        self.x, self.groups = x, groups
        o, cg, kh, kw = w_shape
        self.shape = (o, cg, kh, kw)
        self.acc = np.zeros((groups, (o // groups) * kh * kw, cg), x.dtype)

    def add(self, s: int, cnt: int, gcols: Array, buf: Array) -> None:
        """Accumulate images [s, s+cnt): ``gcols`` (G, O/G*kH*kW, cnt*H*W); ``buf`` holds the images."""
        _, c, h, w = self.x.shape
        m = cnt * h * w
        if gcols.shape[-1] != m:
            raise ShapeError(
                f"conv2d: the gradient's column matrix has {gcols.shape[-1]} pixels for {m} input pixels "
                "(an internal error: please report it with the input's shape and the layer's settings)"
            )
        images = buf[: c * m].reshape(c, cnt, h, w)
        np.copyto(images, self.x[s : s + cnt].transpose(1, 0, 2, 3))
        # gcols @ images.T: 1.3x faster than images @ gcols.T (the orientation of the usual dW)
        self.acc += np.matmul(gcols, images.reshape(self.groups, c // self.groups, m).transpose(0, 2, 1))

    def result(self) -> Array:
        """dW (O, C/G, kH, kW)."""
        o, cg, kh, kw = self.shape
        flipped = self.acc.reshape(self.groups, o // self.groups, kh, kw, cg)[:, :, ::-1, ::-1]
        return np.ascontiguousarray(flipped.transpose(0, 1, 4, 2, 3)).reshape(o, cg, kh, kw)


class FastKernels(Protocol):
    """A faster kernel for some 3x3 stride-1 convolutions (the nn layer's Winograd module), registered by a
    higher layer: this layer may not import it (``register_fast``)."""

    def conv3x3(self, x: Array, w: Array, b: Array | None, padding: tuple[Pair, Pair]) -> Array: ...

    def input_grad(self, g: Array, w: Array, padding: tuple[Pair, Pair]) -> Array: ...


#: Returns the registered kernels, or None when they cannot run in this process (see ``register_fast``).
_fast: Callable[[], FastKernels | None] | None = None

#: Winograd's rule (``winograd_applies``), from ``python -m bench.conv_winograd`` (2 threads, float32, padding 1,
#: 2026-12-01, load ~1.5): forward (64, 16, 32, 32) -> 16 1.20 ms against im2col's 3.17, (64, 32, 16, 16) -> 32
#: 1.45 vs 2.15, (64, 3, 32, 32) -> 16 0.48 vs 0.97, (8, 16, 32, 32) -> 16 0.18 vs 0.38, but (64, 16, 8, 8) -> 32
#: 0.37 vs 0.41 (even), (64, 1, 8, 8) -> 16 0.26 vs 0.06; the input gradient alone pays on 32x32 planes only.
#: Those are the parallel kernel's, which gets the whole batch (``takes_whole``); split over threads it would run
#: the serial one on each part, no faster than im2col there (figures in ``typedtensor.nn._conv_backend``).
_WINOGRAD_CHANNELS = 3
_WINOGRAD_PLANE = {"forward": 16, "input_grad": 32}
#: The input gradient takes it up to this many output-gradient elements: in the benchmark networks' training steps
#: (interleaved with im2col in one process, fastest of 32, load ~4) it paid at batch 64 (1M elements: ResNet 42.3
#: ms with it, 57.4 without, im2col 51.9; VGG 25.0, 29.3, 36.2) and cost at 256 (4M: ResNet 170.8 with it, 154.8
#: without, im2col 172.0; VGG 119.5, 111.4, 128.1).
_WINOGRAD_DX_MOST = 1 << 21
_WINOGRAD_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def register_fast(provider: Callable[[], FastKernels | None] | None) -> None:
    """Install ``provider`` (None: remove it); it is called for every convolution ``winograd_applies`` to, and
    returns the kernels, or None to keep the im2col path (not installed, forked process, switched off)."""
    global _fast
    _fast = provider


def winograd_applies(
    direction: str, dtype: np.dtype[Any], channels: int, plane: Pair, kernel: Pair, stride: Pair, dilation: Pair,
    groups: int,
) -> bool:  # fmt: skip
    """Whether a convolution takes the Winograd kernel: ``direction`` "forward" (``channels``, ``plane``: the
    input's) or "input_grad" (the output gradient's channels and plane, read by the correlation giving dx).

    float32/float64, 3x3, stride 1, dilation 1, one group, at least 3 input channels and planes of at least 16x16
    (forward) or 32x32 (input gradient); im2col otherwise (see the figures at ``_WINOGRAD_PLANE``).
    """
    least = _WINOGRAD_PLANE[direction]
    return (
        dtype in _WINOGRAD_DTYPES
        and kernel == (3, 3)
        and stride == (1, 1)
        and dilation == (1, 1)
        and groups == 1
        and channels >= _WINOGRAD_CHANNELS
        and min(plane) >= least
    )


def _winograd(direction: str, a: Array, w: Array, stride: Pair, dilation: Pair, groups: int) -> FastKernels | None:
    """The registered kernels when ``winograd_applies`` to ``a`` (x, or the output gradient) and they can run."""
    provider = _fast
    if provider is None or a.ndim != 4 or w.ndim != 4:
        return None
    kernel = (w.shape[2], w.shape[3])
    if direction == "input_grad" and a.size > _WINOGRAD_DX_MOST:
        return None
    dtype = np.dtype(np.float32) if a.dtype == np.float16 else a.dtype  # conv2d computes float16 in float32
    if not winograd_applies(direction, dtype, a.shape[1], (a.shape[2], a.shape[3]), kernel, stride, dilation, groups):
        return None
    return provider()


def takes_whole(x: Array, w: Array, stride: Pair, dilation: Pair, groups: int) -> bool:
    """Whether the registered kernel computes this forward: it runs on its own threads (numba's pool), so a caller
    that splits a convolution's images over threads (``conv_parallel``) passes it the whole batch instead."""
    return _winograd("forward", x, w, stride, dilation, groups) is not None


def _finite(a: Array) -> bool:
    """Whether a Winograd result may stand: its sum is finite. A non-finite input or weight spreads to the whole
    2x2 output block of its tile there (inf - inf in the transforms), where im2col, like PyTorch, gives NaN or inf
    only in the outputs that read it: such calls are computed again by im2col (so is a finite result whose sum
    overflows). One read of the result, ~5-10% of the kernel's time."""
    with np.errstate(over="ignore", invalid="ignore"):  # a large finite result may overflow the sum: im2col again
        return bool(np.isfinite(a.sum()))


def conv2d(
    x: Array, w: Array, b: Array | None, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int
) -> Result:
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C/groups, kH, kW), b (O,) or None; validated inputs.

    Three parents (x, w, b), b None on the tape without a bias.
    """
    dtype = x.dtype
    if dtype == np.float16:
        x, w = x.astype(np.float32), w.astype(np.float32)
        b = None if b is None else b.astype(np.float32)
    o = w.shape[0]
    fast = _winograd("forward", x, w, stride, dilation, groups)  # float16: with the float32 copies
    y = fast.conv3x3(x, w, b, padding) if fast is not None else None
    if y is not None and _finite(y):
        geo = geometry(x.shape, (w.shape[2], w.shape[3]), stride, padding, dilation)
    else:
        y, geo = _correlate(x, w, b, stride, padding, dilation, groups)
    g_, og, kg = groups, o // groups, geo.rows // groups
    w3 = w.reshape(g_, og, kg)
    n, ho, wo, q = geo.n, geo.ho, geo.wo, geo.q

    def bwd(gy: Array, need: tuple[bool, ...]) -> Grads:
        g = gy.astype(x.dtype, copy=False)
        dx = None
        pads = None
        fast_dx = None
        if need[0] and max(max(p) for p in padding) <= 2:
            fast_dx = _winograd("input_grad", g, w, stride, dilation, groups)
        if fast_dx is not None:
            dx = fast_dx.input_grad(g, w, padding)
            dx = dx if _finite(dx) else None
        if need[0] and dx is None and _correlation_pays(o, geo.c):
            pads = _transposed((w.shape[2], w.shape[3]), stride, padding, dilation)
        shared = None  # dW from the correlation's column matrix of g: x is not unfolded again
        if pads is not None and need[1] and geometry(g.shape, (geo.kh, geo.kw), (1, 1), pads, dilation).q == geo.w:
            shared = _SharedWeightGrad(x, w.shape, groups)
        if pads is not None:
            hook = None if shared is None else shared.add
            dx = _correlate(g, _flipped(w, groups), None, (1, 1), pads, dilation, groups, hook)[0]
        if shared is not None and not np.isfinite(shared.acc).all():
            shared = None  # x has an inf or NaN: it met the zeros of g's column matrix (inf * 0); x's own columns
        dw3 = np.zeros_like(w3) if need[1] and shared is None else None
        scatter = _Scatter(geo, x.dtype) if need[0] and pads is None and dx is None else None
        names = ["conv.out"]
        if dw3 is not None:
            names += ["conv.in", "conv.cols"]  # the column matrix again, for dW
        if scatter is not None:
            names.append("conv.dcols")
        per, bufs = _work(geo, x, o, tuple(names)) if dw3 is not None or scatter is not None else (n, {})
        for s in range(0, n, per) if bufs else ():
            cnt = min(per, n - s)
            m = cnt * ho * q
            if cnt == 1 and q == wo:
                gq = g[s].reshape(g_, og, m)
            else:
                g4 = bufs["conv.out"][: o * m].reshape(o, cnt, ho, q)
                if q != wo:
                    g4[:, :, :, wo:] = 0
                g4[:, :, :, :wo] = g[s : s + cnt].transpose(1, 0, 2, 3)
                gq = g4.reshape(g_, og, m)
            if dw3 is not None:
                src = _buffer(x[s : s + cnt], geo, bufs.get("conv.in"))
                cols = _cols(src, geo, cnt, bufs["conv.cols"]).reshape(g_, kg, m)
                dw3 += np.matmul(cols, gq.transpose(0, 2, 1)).transpose(0, 2, 1)  # faster than gq @ cols.T
            if scatter is not None:
                dcbuf = bufs["conv.dcols"][: geo.rows * m].reshape(g_, kg, m)
                dcols = np.matmul(w3.transpose(0, 2, 1), gq, out=dcbuf)
                scatter.add(dcols.reshape(geo.c, geo.kh, geo.kw, cnt, ho, q), s, cnt)
        if scatter is not None:
            dx = np.ascontiguousarray(scatter.dx)
        dx = None if dx is None else dx.astype(dtype, copy=False)
        dw = None if dw3 is None else dw3.reshape(w.shape).astype(dtype, copy=False)
        if shared is not None:
            dw = shared.result().astype(dtype, copy=False)
        db = None
        if need[2]:
            db = g.reshape(n, o, ho * wo).sum(axis=2).sum(axis=0).astype(dtype, copy=False)
        return dx, dw, db

    return y.astype(dtype, copy=False), bwd


def same_padding(kernel: Pair, dilation: Pair) -> tuple[Pair, Pair]:
    """PyTorch's ``padding='same'`` (stride 1): total d*(k-1) per axis, the odd element at the end."""
    out: list[Pair] = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out[0], out[1]
