"""2-D max and average pooling over (N, C, H, W) (PyTorch semantics, floor or ceil mode), and global average.

Both window pools loop over the kH*kW kernel positions, never over pixels. For kernel position
(i, j), the windows whose element (i, j) lies inside the input (not in the padding) form a block of
the output, and those elements form a strided block of the input: each step is one NumPy operation
between the two blocks. Padding is never materialised: a max ignores it (PyTorch pads with -inf),
an average counts it as zeros (``count_include_pad=True``, PyTorch's default) or leaves it out of
the divisor (``count_include_pad=False``). The backward adds the gradient back block by block
(windows overlap when the stride is smaller than the kernel).

``ceil_mode`` (PyTorch's) adds a last window per axis that runs past the padded input when the
floor formula would leave input rows or columns out, unless that window would start in the right
padding: the block spans only ever cover the input, so such a window is simply a smaller one. Its
average divides by the positions it holds within the padded input (PyTorch's ``min(start + k,
H + pad)``), or within the input alone without ``count_include_pad``.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .._errors import ShapeError
from ._types import Array, Grads, Result

Pair = tuple[int, int]
#: Input elements per chunk of images in the tiled max-pool backward (keeps its temporaries in cache).
_CHUNK = 1 << 18
#: Input elements per chunk of images in the NCHW max-pool backward's block loop (its masks and picked values
#: take 1.5x a chunk's output in bytes for float32, instead of 1.5x the whole output's).
_IMAGES_CHUNK = 1 << 20
#: Input elements per chunk of planes in the (H, W, N*C) max-pool backward: its work arrays take ~3x that in
#: bytes for float32 (1.5 MiB; 1 << 18 was ~10% faster on the digits pool at twice the memory, 1 << 15 ~30% slower).
_PLANES_CHUNK = 1 << 17
#: For one kernel position: (output rows, output columns, input rows, input columns).
Block = tuple[slice, slice, slice, slice]


def out_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool = False) -> int:
    """Output length along one axis: floor((size + 2*pad - kernel) / stride) + 1, or with ``ceil_mode``
    ceil(...) + 1, less one when that last window would start in the right padding (PyTorch's rule)."""
    span = size + 2 * pad - kernel
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    if (n - 1) * stride >= size + pad:  # the last window would hold padding only
        n -= 1
    return n


def _span(size: int, offset: int, stride: int, count: int) -> tuple[slice, slice]:
    """Output indices k < count whose input index k*stride + offset lies in [0, size), and those inputs."""
    lo = max(0, -(offset // stride))  # ceil(-offset / stride)
    hi = min(count, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    hi = max(lo, hi)
    first = lo * stride + offset
    return slice(lo, hi), slice(first, first + stride * (hi - lo - 1) + 1 if hi > lo else first, stride)


def _blocks(shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair, out: Pair) -> list[Block]:
    """The (output block, input block) of every kernel position in row-major order (empty ones dropped)."""
    h, w = shape[2], shape[3]
    blocks: list[Block] = []
    for i in range(kernel[0]):
        oy, iy = _span(h, i - padding[0], stride[0], out[0])
        for j in range(kernel[1]):
            ox, ix = _span(w, j - padding[1], stride[1], out[1])
            if oy.stop > oy.start and ox.stop > ox.start:
                blocks.append((oy, ox, iy, ix))
    return blocks


def _sizes(x: Array, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool) -> Pair:
    h, w = x.shape[2], x.shape[3]
    return (
        out_size(h, kernel[0], stride[0], padding[0], ceil_mode),
        out_size(w, kernel[1], stride[1], padding[1], ceil_mode),
    )


def max_pool2d(x: Array, kernel: Pair, stride: Pair, padding: Pair, *, ceil_mode: bool = False) -> Result:
    """Window maximum (padding never wins); the gradient goes to the first maximum of each window.

    As PyTorch's CPU kernel: ties go to the first maximum in row-major window order, a NaN
    propagates, and a window holding NaN sends its gradient to its last NaN.

    The backward of a narrow output (``wo <= _PLANES_LAST``) runs with the planes transposed, as
    (H, W, N*C) in chunks of planes (``_planes_last_backward``): each block operation is then long
    contiguous runs, where in NCHW it is one run of ``wo`` values per image, channel and row (~5x
    slower per element at wo = 4).
    The same operations in the same order: the results are identical. (The forward gains less than
    the transposes cost, so it stays in NCHW.)

    With ``ceil_mode`` a last window may run past the input: it holds fewer elements (every window
    holds at least one, since none starts in the right padding and the padding is at most half the
    kernel), and the tiled backward, which reads whole windows, leaves it to the block loop.
    """
    n, c = x.shape[:2]
    ho, wo = _sizes(x, kernel, stride, padding, ceil_mode)
    blocks = _blocks(x.shape, kernel, stride, padding, (ho, wo))
    y = np.full((n, c, ho, wo), -np.inf, x.dtype)
    for oy, ox, iy, ix in blocks:
        target = y[:, :, oy, ox]
        np.maximum(target, x[:, :, iy, ix], out=target)  # NaN-propagating

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        # hit * g is g where hit and +-0 elsewhere (adding either to dx changes nothing), unless g has an
        # inf or NaN (0 * inf is NaN): then np.where, 10x slower. Finite g have a finite sum of squares
        # (an overflow only takes the slow path).
        finite = g.dtype != np.float16 and math.isfinite(float(np.vecdot(g.reshape(-1), g.reshape(-1))))
        if wo <= _PLANES_LAST:
            return (_planes_last_backward(x, y, g, blocks, finite),)
        dx = np.zeros_like(x)  # views as (H, W, N, C)
        whole = ho * kernel[0] <= x.shape[2] and wo * kernel[1] <= x.shape[3]  # no window past the input
        tiled = finite and stride == kernel and padding == (0, 0) and whole
        if tiled and _tiled_backward(x, y, g, dx, kernel):
            return (dx,)
        per = max(1, _IMAGES_CHUNK // max(1, c * x.shape[2] * x.shape[3]))
        for s in range(0, n, per):  # images in chunks: the masks are a chunk's, not the whole output's
            part = slice(s, s + per)
            taken = _hw_first(np.zeros((min(per, n - s), c, ho, wo), np.bool_))
            xs, yv, gs, dxs = (_hw_first(a[part]) for a in (x, y, g, dx))
            _Work(xs, yv, gs, dxs, taken, finite).route_all(blocks)
        return (dx,)

    return y, bwd


class _Work:
    """The arrays of one max-pool backward pass, as (H, W, ...) views: x, y, g, dx (written), the windows
    already taken, and two work arrays (the hit mask, the picked gradient) of taken's shape."""

    def __init__(self, xs: Array, yv: Array, gs: Array, dxs: Array, taken: Array, finite: bool) -> None:
        self.xs, self.yv, self.gs, self.dxs, self.taken, self.finite = xs, yv, gs, dxs, taken, finite
        self.hit, self.picked = np.empty_like(taken), np.empty_like(taken, dtype=gs.dtype)

    def use(self, hit: Array, picked: Array) -> _Work:
        """Route with these work arrays (a chunk's, from ``_rows``) instead of fresh ones."""
        self.hit, self.picked = hit, picked
        return self

    def route_all(self, blocks: list[Block]) -> None:
        """Add each window's gradient to its first maximum (``dx`` and ``taken`` arrive cleared), then
        re-route the windows holding NaN to their last NaN, as PyTorch."""
        self.route(blocks, None)
        nan = np.isnan(self.yv)
        if nan.any():  # NaN equals nothing: route those windows to their last NaN, as PyTorch
            self.taken[...] = False
            self.route(blocks[::-1], nan)

    def route(self, order: list[Block], match: Array | None) -> None:
        zero = np.zeros((), self.gs.dtype)
        hit, taken, xs, yv, gs, picked, dxs = self.hit, self.taken, self.xs, self.yv, self.gs, self.picked, self.dxs
        for oy, ox, iy, ix in order:
            h, t, v, p = hit[oy, ox], taken[oy, ox], xs[iy, ix], picked[oy, ox]
            if match is None:
                np.equal(v, yv[oy, ox], out=h)
            else:
                # v != v is isnan(v); NumPy 2.4's isnan (float32/64) writes a 2-D strided ``out`` as if it were
                # contiguous (a silent wrong mask: a single plane's (H, W, 1) work arrays are such views).
                np.not_equal(v, v, out=h)
                h &= match[oy, ox]
            np.greater(h, t, out=h)  # h and not yet taken: the first match wins
            t |= h
            if self.finite:
                np.multiply(h, gs[oy, ox], out=p)
            else:
                p[...] = np.where(h, gs[oy, ox], zero)
            target = dxs[iy, ix]
            np.add(target, p, out=target)


def _planes_last_backward(x: Array, y: Array, g: Array, blocks: list[Block], finite: bool) -> Array:
    """The max-pool backward with the planes transposed to (H, W, M) work copies, M = N*C.

    The N*C planes go in chunks of about ``_PLANES_CHUNK`` input elements (every plane is routed on its own: the
    results do not depend on the chunks), so that the work buffers stay small and only the output, dx in
    NCHW, is of the input's size (the whole (H, W, N*C) copies of x and dx would be twice more).
    """
    n, c, h, w = x.shape
    ho, wo = y.shape[2:]
    m = n * c
    per = max(1, min(m, _PLANES_CHUNK // max(1, h * w)))
    dx = np.empty(x.shape, x.dtype)
    rows = [a.reshape(m, h * w) for a in (x, dx)] + [a.reshape(m, ho * wo) for a in (y, g)]
    names = {"x": (h, w), "dx": (h, w), "y": (ho, wo), "g": (ho, wo), "p": (ho, wo)}
    bufs = _rows(x.dtype, names, per) + _rows(np.dtype(np.bool_), {"taken": (ho, wo), "hit": (ho, wo)}, per)
    for m0 in range(0, m, per):
        k = min(per, m - m0)
        xs, dxs, yv, gs, picked, taken, hit = (b[:, :, :k] for b in bufs)
        for src, buf in zip((rows[0], rows[2], rows[3]), (xs, yv, gs), strict=True):
            np.copyto(_flat_rows(buf), src[m0 : m0 + k].T)
        dxs[...] = 0
        taken[...] = False
        _Work(xs, yv, gs, dxs, taken, finite).use(hit, picked).route_all(blocks)
        np.copyto(rows[1][m0 : m0 + k].T, _flat_rows(dxs))
    return dx


#: Max pools whose output is at most this wide run with the planes transposed (see ``max_pool2d``).
_PLANES_LAST = 8


def _hw_first(a: Array) -> Array:
    """(N, C, H, W) viewed as (H, W, N, C), and back."""
    return a.transpose(2, 3, 0, 1)


class _Kept(threading.local):
    """The (H, W, N*C) backward's work arrays, kept for the next call, one set per thread."""

    def __init__(self) -> None:
        #: name -> a flat array, replaced when a call needs more elements or another dtype.
        self.buffers: dict[str, Array] = {}


_kept = _Kept()


def release_kept() -> None:
    """Free the calling thread's kept work arrays (``nn.functional.release_conv_buffers``)."""
    _kept.buffers.clear()


def _rows(dtype: np.dtype[Any], planes: dict[str, Pair], m: int) -> list[Array]:
    """Uninitialised (H, W, M) work arrays by name, each of its (H, W) ``planes``.

    They are kept per thread for the next call (fresh pages would cost a page fault each, more than the
    arithmetic of a small pool), apart from the convolution's kept buffers (``conv.scratch``), which they
    would evict. A chunk (``_planes_last_backward``) bounds them: a thread keeps at most ``2 * _PLANES_CHUNK``
    elements by name (five of the input's dtype, two bool: in practice ~3 MiB for float32); larger ones
    (planes of more than a chunk) are the call's only.

    Each row of M values is contiguous and rows of a line or more start an odd number of 64-byte lines
    apart: transposing rows a power of two apart maps them all to one cache set (4K aliasing; 6x slower at
    M = 2048 float32).
    """
    item = dtype.itemsize
    per = m if m * item < 64 else (-(-m * item // 64) | 1) * 64 // item  # rows shorter than a line: unpadded
    out: list[Array] = []
    for name, (h, w) in planes.items():
        count = h * w * per
        buf = _kept.buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.size < count:
            buf = np.empty(count, dtype)
            if count <= 2 * _PLANES_CHUNK:  # a plane larger than a chunk: this call's only
                _kept.buffers[name] = buf
        out.append(buf[:count].reshape(h * w, per)[:, :m].reshape(h, w, m))
    return out


def _flat_rows(a: Array) -> Array:
    """An (H, W, M) array from ``_rows`` as the (H*W, M) view of the same memory (never a copy)."""
    h, w, m = a.shape
    flat = a.reshape(h * w, m)
    if h * w * m and not np.shares_memory(flat, a):
        raise ShapeError(f"max_pool2d: a work buffer of shape {a.shape} is not a row view (an internal error)")
    return flat


def _tiled_backward(x: Array, y: Array, g: Array, dx: Array, kernel: Pair) -> bool:
    """Non-overlapping windows: route a finite ``g`` with whole-row passes when every window has one maximum.

    (``g`` multiplies the hit masks: an inf or NaN in it would put NaN on the windows' other elements.)

    ``y`` and ``g`` are repeated kW times along the width so that each of the kH window rows is
    compared and written with contiguous rows (``dx`` arrives zeroed); images go in chunks so that the
    temporaries stay small. Returns False when a window ties or holds NaN (``dx`` then holds partial
    results and is cleared): the block loop decides those.
    """
    n, c, ho, wo = y.shape
    kh, kw = kernel
    per = max(1, _CHUNK // max(1, c * ho * wo * kh * kw))
    for s in range(0, n, per):
        xs, ys, gs, dxs = x[s : s + per], y[s : s + per], g[s : s + per], dx[s : s + per]
        wide_y = np.repeat(ys, kw, axis=3) if kw > 1 else ys
        hits = np.empty((kh, *wide_y.shape), np.bool_)
        for i in range(kh):
            np.equal(xs[:, :, i : ho * kh : kh, : wo * kw], wide_y, out=hits[i])
        if np.count_nonzero(hits) != ys.size or np.isnan(ys).any():
            dx[...] = 0
            return False  # without NaN every window has a hit, so equal counts mean exactly one each
        wide_g = np.repeat(gs, kw, axis=3) if kw > 1 else gs
        for i in range(kh):
            np.multiply(hits[i], wide_g, out=dxs[:, :, i : ho * kh : kh, : wo * kw])
    return True


def avg_pool2d(
    x: Array,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    *,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Result:
    """Window mean: the sum of the window's input elements (padding adds zeros) over a divisor.

    The divisor is ``divisor_override`` when given, else the window's positions within the padded
    input (``count_include_pad``, PyTorch's default: kH*kW except for a ``ceil_mode`` window running
    past it) or within the input only. A constant divisor divides by one int, as in floor mode.
    """
    n, c = x.shape[:2]
    ho, wo = _sizes(x, kernel, stride, padding, ceil_mode)
    blocks = _blocks(x.shape, kernel, stride, padding, (ho, wo))
    dtype = x.dtype
    total = np.zeros((n, c, ho, wo), np.float32 if dtype == np.float16 else dtype)  # float16 sums in float32
    for oy, ox, iy, ix in blocks:
        target = total[:, :, oy, ox]
        np.add(target, x[:, :, iy, ix], out=target)
    count = _divisor(x.shape, kernel, stride, padding, (ho, wo), count_include_pad, divisor_override)
    y = (total / (count if isinstance(count, int) else count.astype(total.dtype))).astype(dtype, copy=False)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        share = g / (count if isinstance(count, int) else count.astype(g.dtype))
        dx = np.zeros_like(x)
        for oy, ox, iy, ix in blocks:
            target = dx[:, :, iy, ix]
            np.add(target, share[:, :, oy, ox], out=target)
        return (dx,)

    return y, bwd


def _divisor(
    shape: tuple[int, ...],
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    out: Pair,
    include_pad: bool,
    override: int | None,
) -> int | Array:
    """Each window's divisor: an int when all are equal, else an (Ho, Wo) int64 array (the product of the
    rows' and the columns' counts: the windows are rectangles)."""
    if override is not None:
        return override
    counts: list[Array] = []
    for axis in (0, 1):
        start = np.arange(out[axis], dtype=np.int64) * stride[axis] - padding[axis]
        end = np.minimum(start + kernel[axis], shape[2 + axis] + padding[axis])  # PyTorch's: within the padded input
        if not include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, shape[2 + axis])
        counts.append(end - start)
    rows, cols = counts
    if (rows == kernel[0]).all() and (cols == kernel[1]).all():
        return kernel[0] * kernel[1]
    return rows[:, np.newaxis] * cols[np.newaxis, :]


def global_avg_pool2d(x: Array) -> Result:
    """Mean over the last two axes; float32/64 sums by a BLAS product with a ones vector."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    count = h * w
    if count == 0:  # the mean of nothing is NaN, as PyTorch
        y = np.full(lead, np.nan, x.dtype)
    elif x.dtype == np.float16:
        y = (np.add.reduce(x, axis=(-2, -1), dtype=np.float32) / count).astype(np.float16)
    else:
        y = ((np.ascontiguousarray(x).reshape(-1, count) @ np.ones(count, x.dtype)) / count).reshape(lead)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        if count == 0:
            return (np.zeros_like(x),)
        return (np.broadcast_to((g / count)[..., np.newaxis, np.newaxis], x.shape),)

    return y, bwd
