"""Adaptive average pooling over the last two dims (PyTorch's ``adaptive_avg_pool2d``), forward and backward.

Output cell (i, j) of an (oh, ow) output is the mean of rows ``floor(i H / oh) .. ceil((i + 1) H / oh)`` (end
excluded) and of the columns likewise: PyTorch's bins, which overlap when H is not a multiple of oh. The bins are
rectangles, so the pool is separable: ``out = P_h @ x @ P_w^T`` with ``P_h`` (oh, H) holding ``1 / bin size``
on each bin's rows, and the backward is ``P_h^T @ g @ P_w``. Both are matmuls over the leading dims (any layout);
float16 is computed in float32 and rounded once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array, Result


def bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's (start, end) of each of ``out`` bins over ``size``: ``floor(i size / out)``, ``ceil((i+1) size / out)``."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _averaging(size: int, out: int, dtype: type[np.floating[Any]]) -> Array:
    """The (out, size) matrix whose row i averages bin i."""
    p = np.zeros((out, size), dtype)
    for i, (start, end) in enumerate(bins(size, out)):
        p[i, start:end] = 1.0 / (end - start)
    return p


def adaptive_avg_pool2d(x: Array, output_size: tuple[int, int]) -> Result:
    """x (..., H, W) -> (..., oh, ow); H, W >= 1 and oh, ow >= 1 (the caller checks)."""
    work: type[np.floating[Any]] = np.float64 if x.dtype == np.float64 else np.float32
    ph = _averaging(x.shape[-2], output_size[0], work)
    pw = _averaging(x.shape[-1], output_size[1], work)
    xw = x.astype(work, copy=False)
    out = np.matmul(np.matmul(ph, xw), pw.T).astype(x.dtype, copy=False)
    dtype = x.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array]:
        gx = np.matmul(np.matmul(ph.T, g.astype(work, copy=False)), pw)
        return (gx.astype(dtype, copy=False),)

    return out, backward
