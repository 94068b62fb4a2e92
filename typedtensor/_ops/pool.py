"""2-D max and average pooling over (N, C, H, W) (PyTorch semantics, floor mode), and global average.

Both window pools loop over the kH*kW kernel positions, never over pixels: position (i, j) of every
window is one strided slice of the padded input. The backward scatters the gradient back with one
strided add per kernel position (windows may overlap when the stride is smaller than the kernel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array, Grads, Result

Pair = tuple[int, int]


def out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length along one axis: floor((size + 2*pad - kernel) / stride) + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def _padded(x: Array, padding: Pair, value: float) -> Array:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _positions(kernel: Pair, stride: Pair, out: Pair) -> list[tuple[slice, slice]]:
    """For each kernel position (row-major), the slices of the padded input it reads."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    return [
        (slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)) for i in range(kh) for j in range(kw)
    ]


def _scatter(g_parts: list[Array], shape: tuple[int, ...], padding: Pair, where: list[tuple[slice, slice]]) -> Array:
    """Add each kernel position's gradient back into a padded buffer; return the unpadded part."""
    n, c, h, w = shape
    ph, pw = padding
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), g_parts[0].dtype)
    for part, (rows, cols) in zip(g_parts, where, strict=True):
        target = dxp[:, :, rows, cols]
        np.add(target, part, out=target)
    return dxp if ph == 0 and pw == 0 else dxp[:, :, ph : ph + h, pw : pw + w].copy()


def max_pool2d(x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Result:
    """Window maximum, padding with -inf; the gradient goes to the first maximum of each window.

    As PyTorch's CPU kernel, a position wins when it is greater than the running maximum or NaN, so
    ties keep the first maximum in row-major order and a NaN propagates.
    """
    n, c, h, w = x.shape
    ho, wo = out_size(h, kernel[0], stride[0], padding[0]), out_size(w, kernel[1], stride[1], padding[1])
    xp = _padded(x, padding, -np.inf)
    where = _positions(kernel, stride, (ho, wo))
    rows, cols = where[0]
    y = xp[:, :, rows, cols].copy()
    idx = np.zeros((n, c, ho, wo), np.uint8 if len(where) < 256 else np.int32)
    better = np.empty((n, c, ho, wo), np.bool_)
    for code, (rows, cols) in enumerate(where[1:], 1):
        v = xp[:, :, rows, cols]
        np.greater(v, y, out=better)
        better |= np.isnan(v)
        np.copyto(y, v, where=better)
        np.copyto(idx, code, where=better)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        zero = np.zeros((), g.dtype)
        parts = [np.where(idx == code, g, zero) for code in range(len(where))]
        return (_scatter(parts, x.shape, padding, where),)

    return y, bwd


def avg_pool2d(x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Result:
    """Window mean over zero-padded windows, always divided by kH*kW (PyTorch's count_include_pad=True)."""
    n, c, h, w = x.shape
    ho, wo = out_size(h, kernel[0], stride[0], padding[0]), out_size(w, kernel[1], stride[1], padding[1])
    dtype = x.dtype
    acc = np.float32 if dtype == np.float16 else dtype  # float16 sums in float32, as PyTorch
    xp = _padded(x.astype(acc, copy=False), padding, 0.0)
    where = _positions(kernel, stride, (ho, wo))
    total: Array = np.zeros((n, c, ho, wo), acc)
    for rows, cols in where:
        np.add(total, xp[:, :, rows, cols], out=total)
    count = kernel[0] * kernel[1]
    y = (total / count).astype(dtype, copy=False)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        share: Any = g / count
        return (_scatter([share] * len(where), x.shape, padding, where),)

    return y, bwd
