"""Upsampling of the last two dims (PyTorch's ``interpolate`` modes ``nearest`` and ``bilinear``), forward and backward.

Both modes are separable: each output row reads input rows ``i0`` and ``i1`` with weights ``1 - t`` and ``t``
(nearest: ``i1 = i0`` and ``t = 0``), columns likewise. The forward gathers those rows and columns (so an inf or
NaN stays where PyTorch's kernel puts it); the backward is ``M_h^T @ g @ M_w`` with ``M`` the (out, in)
interpolation matrices. PyTorch's source indices:

- nearest: ``min(floor(dst * scale), in - 1)`` in float32 arithmetic, ``scale = 1 / scale_factor`` when a scale
  factor is given, else ``in / out`` (``dst // 2`` when out is exactly twice in, ``dst`` when equal);
- bilinear, ``align_corners=True``: ``src = dst * (in - 1) / (out - 1)`` (0 for out = 1);
- bilinear, ``align_corners=False``: ``src = max((dst + 0.5) * scale - 0.5, 0)``, the scale as for nearest;

then ``i0 = floor(src)``, ``i1 = min(i0 + 1, in - 1)``, ``t = src - i0``. An axis whose output size is its input
size is copied in both modes, whatever the scale factor (10 rows times 1.095 are 10 rows, copied, as PyTorch's
kernel does). float16 is computed in float32.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._types import Array, Result

Mode = Literal["nearest", "bilinear"]
Axis = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[Any]]


def source(size: int, out: int, scale_factor: float | None, mode: Mode, align_corners: bool) -> Axis:
    """``(i0, i1, t)`` of each of ``out`` output positions over an input axis of ``size``."""
    dst = np.arange(out)
    if out == size:  # an axis whose size is kept is copied, in both modes and whatever the factor (PyTorch's)
        return dst, dst, np.zeros(out)
    if mode == "nearest":
        if out == 2 * size:
            i0 = dst >> 1
        else:
            scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(size) / np.float32(out)
            i0 = np.minimum(np.floor(dst.astype(np.float32) * scale).astype(np.intp), size - 1)
        return i0.astype(np.intp), i0.astype(np.intp), np.zeros(out)
    if align_corners:
        src: NDArray[Any] = dst * ((size - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        step = 1.0 / scale_factor if scale_factor else size / out
        src = np.maximum((dst + 0.5) * step - 0.5, 0.0)
    j0: NDArray[np.intp] = np.minimum(np.floor(src).astype(np.intp), size - 1)
    j1: NDArray[np.intp] = np.minimum(j0 + 1, size - 1)
    return j0, j1, src - j0


def _matrix(axis: Axis, size: int, dtype: type[np.floating[Any]]) -> Array:
    i0, i1, t = axis
    m = np.zeros((len(i0), size), dtype)
    rows = np.arange(len(i0))
    np.add.at(m, (rows, i0), 1 - t)
    np.add.at(m, (rows, i1), t)
    return m


def _along(x: Array, axis: Axis, dim: int, dtype: type[np.floating[Any]]) -> Array:
    """x interpolated along ``dim`` (-2 or -1) by gathering its two source slices."""
    i0, i1, t = axis
    a: Array = np.take(x, i0, axis=dim)
    if not t.any():
        return a
    shape = (-1, 1) if dim == -2 else (-1,)
    w: Array = t.astype(dtype).reshape(shape)
    b: Array = np.take(x, i1, axis=dim)
    out: Array = a * (1 - w) + b * w
    return out


def upsample2d(
    x: Array, size: tuple[int, int], scale_factor: tuple[float, float] | None, mode: Mode, align_corners: bool
) -> Result:
    """x (..., H, W) -> (..., size[0], size[1]); every size >= 1 (the caller checks)."""
    work: type[np.floating[Any]] = np.float64 if x.dtype == np.float64 else np.float32
    h, w = x.shape[-2], x.shape[-1]
    sh, sw = (None, None) if scale_factor is None else scale_factor
    rows = source(h, size[0], sh, mode, align_corners)
    cols = source(w, size[1], sw, mode, align_corners)
    xw = x.astype(work, copy=False)
    out = _along(_along(xw, rows, -2, work), cols, -1, work).astype(x.dtype, copy=False)
    dtype = x.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array]:
        mh, mw = _matrix(rows, h, work), _matrix(cols, w, work)
        gx = np.matmul(np.matmul(mh.T, g.astype(work, copy=False)), mw)
        return (gx.astype(dtype, copy=False),)

    return out, backward
