"""2-D convolution (NCHW, PyTorch semantics): im2col plus one BLAS matrix product per group.

Forward: the input is copied once into a zero-padded buffer of image planes; the column matrix of a
chunk of images is a strided view of that buffer, copied into a (C*kH*kW, n*L) matrix, and
``y = W @ cols`` is one GEMM per group (``np.matmul`` over a stack of G matrices). Backward: ``dW``
is ``g @ cols.T`` and ``dcols = W.T @ g`` is scattered back (col2im) with one strided add per kernel
position; the loops run over kernel positions and image chunks, never over pixels.

Row trick: with horizontal stride 1 the planes are stored without horizontal padding and the output
is computed for whole rows of R columns (R = max(W, output width)). Each column-matrix row is then
one contiguous run of the flat plane (the copy runs at memory speed); the columns that would read
across a row edge, where PyTorch reads zero padding, are zeroed afterwards (and in the backward
before the scatter), and the output columns past the output width are cropped. Strided convolutions
use a fully padded buffer and an ordinary strided im2col.

Images are processed in chunks whose column matrix stays near ``_BUDGET`` bytes. The column matrix
of a single-chunk batch is kept for the backward; larger batches recompute it chunk by chunk. float16
is computed in float32 (NumPy has no half-precision BLAS) and rounded back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._types import Array, Grads, Result

#: Target size in bytes of one chunk's column matrix.
_BUDGET = 8 << 20

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


def _buffer(x: Array, geo: Geometry) -> Array:
    """The input in zero-padded planes, flat, with guard elements at both ends."""
    size = geo.n * geo.c * geo.plane
    buf = np.zeros(geo.lead + size + geo.tail, x.dtype)
    planes = buf[geo.lead : geo.lead + size].reshape(geo.n, geo.c, geo.hp, geo.rb)
    planes[:, :, geo.pt : geo.pt + geo.h, geo.c0 : geo.c0 + geo.w] = x
    return buf


def _window(buf: Array, geo: Geometry, start: int, count: int, i: int | None = None, j: int | None = None) -> Array:
    """A strided view of images [start, start+count) as (C, kH, kW, n, Ho, Q), or (C, n, Ho, Q) at (i, j)."""
    item = buf.itemsize
    base = geo.lead + start * geo.c * geo.plane + geo.shift
    sc, sn = geo.plane, geo.c * geo.plane
    sy, sx = geo.sh * geo.rb, geo.sw
    ki, kj = geo.dh * geo.rb, geo.dw
    if i is None or j is None:
        shape: tuple[int, ...] = (geo.c, geo.kh, geo.kw, count, geo.ho, geo.q)
        strides: tuple[int, ...] = (sc, ki, kj, sn, sy, sx)
    else:
        base += i * ki + j * kj
        shape, strides = (geo.c, count, geo.ho, geo.q), (sc, sn, sy, sx)
    return as_strided(buf[base:], shape, tuple(s * item for s in strides), writeable=i is not None)


def _zero_masked(cols6: Array, geo: Geometry) -> None:
    """Zero the column-matrix entries that read across a row edge (padding in PyTorch's terms)."""
    for j, a, b in geo.masks:
        cols6[:, :, j, :, :, a:b] = 0


def _cols(buf: Array, geo: Geometry, start: int, count: int, out: Array) -> Array:
    """The column matrix of images [start, start+count) as (C*kH*kW, count*Ho*Q), written into ``out``."""
    cols6 = out[: geo.rows * count * geo.ho * geo.q].reshape(geo.c, geo.kh, geo.kw, count, geo.ho, geo.q)
    np.copyto(cols6, _window(buf, geo, start, count))
    _zero_masked(cols6, geo)
    return cols6.reshape(geo.rows, count * geo.ho * geo.q)


def _chunk(geo: Geometry, item: int) -> int:
    per_image = geo.rows * geo.ho * geo.q * item
    return max(1, min(geo.n, _BUDGET // max(per_image, 1)))


def conv2d(
    x: Array, w: Array, b: Array | None, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int
) -> Result:
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C/groups, kH, kW), b (O,) or None; validated inputs."""
    dtype = x.dtype
    if dtype == np.float16:
        x, w = x.astype(np.float32), w.astype(np.float32)
        b = None if b is None else b.astype(np.float32)
    o = w.shape[0]
    geo = geometry(x.shape, (w.shape[2], w.shape[3]), stride, padding, dilation)
    g_, og, kg = groups, o // groups, geo.rows // groups
    w3 = w.reshape(g_, og, kg)
    n, ho, wo, q = geo.n, geo.ho, geo.wo, geo.q
    per = _chunk(geo, x.itemsize)
    buf = _buffer(x, geo)
    colbuf = np.empty(geo.rows * per * ho * q, x.dtype)
    y = np.empty((n, o, ho, wo), x.dtype)
    bias = None if b is None else b.reshape(1, o, 1, 1)
    kept: Array | None = None
    for s in range(0, n, per):
        cnt = min(per, n - s)
        cols = _cols(buf, geo, s, cnt, colbuf).reshape(g_, kg, cnt * ho * q)
        if cnt == 1 and q == wo:  # the product is already NCHW: write it in place
            dst = y[s].reshape(g_, og, ho * wo)
            np.matmul(w3, cols, out=dst)
            if bias is not None:
                np.add(y[s : s + 1], bias, out=y[s : s + 1])
            continue
        prod = np.matmul(w3, cols).reshape(o, cnt, ho, q)[:, :, :, :wo].transpose(1, 0, 2, 3)
        if bias is not None:
            np.add(prod, bias, out=y[s : s + cnt])
        else:
            y[s : s + cnt] = prod
    if per >= n:
        kept = colbuf  # one chunk: the backward reuses the column matrix
    del colbuf

    def bwd(gy: Array, need: tuple[bool, ...]) -> Grads:
        g = gy.astype(x.dtype, copy=False)
        dw3 = np.zeros_like(w3) if need[1] else None
        dbuf = np.zeros_like(buf) if need[0] else None
        cbuf = kept if kept is not None else (np.empty(geo.rows * per * ho * q, x.dtype) if dw3 is not None else None)
        dcbuf = np.empty((g_, kg, per * ho * q), x.dtype) if dbuf is not None else None
        for s in range(0, n, per):
            cnt = min(per, n - s)
            m = cnt * ho * q
            if cnt == 1 and q == wo:
                gq = g[s].reshape(g_, og, m)
            else:
                gfull = np.zeros((o, cnt, ho, q), x.dtype) if q != wo else np.empty((o, cnt, ho, q), x.dtype)
                gfull[:, :, :, :wo] = g[s : s + cnt].transpose(1, 0, 2, 3)
                gq = gfull.reshape(g_, og, m)
            if dw3 is not None and cbuf is not None:
                if kept is not None:
                    cols = kept[: geo.rows * m].reshape(g_, kg, m)
                else:
                    cols = _cols(buf, geo, s, cnt, cbuf).reshape(g_, kg, m)
                dw3 += np.matmul(gq, cols.transpose(0, 2, 1))
            if dbuf is not None and dcbuf is not None:
                dcols = np.matmul(w3.transpose(0, 2, 1), gq, out=dcbuf[:, :, :m])
                d6 = dcols.reshape(geo.c, geo.kh, geo.kw, cnt, ho, q)
                _zero_masked(d6, geo)
                for i in range(geo.kh):
                    for j in range(geo.kw):
                        target = _window(dbuf, geo, s, cnt, i, j)
                        np.add(target, d6[:, i, j], out=target)
        dx = dw = db = None
        if dbuf is not None:
            size = n * geo.c * geo.plane
            planes = dbuf[geo.lead : geo.lead + size].reshape(n, geo.c, geo.hp, geo.rb)
            dx = planes[:, :, geo.pt : geo.pt + geo.h, geo.c0 : geo.c0 + geo.w].astype(dtype)
        if dw3 is not None:
            dw = dw3.reshape(w.shape).astype(dtype, copy=False)
        if len(need) == 3 and need[2]:
            db = g.reshape(n, o, ho * wo).sum(axis=2).sum(axis=0).astype(dtype, copy=False)
        return (dx, dw) if len(need) == 2 else (dx, dw, db)

    return y.astype(dtype, copy=False), bwd


def same_padding(kernel: Pair, dilation: Pair) -> tuple[Pair, Pair]:
    """PyTorch's ``padding='same'`` (stride 1): total d*(k-1) per axis, the odd element at the end."""
    out: list[Pair] = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out[0], out[1]
