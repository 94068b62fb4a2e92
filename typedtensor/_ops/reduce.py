"""Reductions over axes: sum, mean, var, std, max, min (with keepdims)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array, Grads, Result

#: Normalised axes: None (all) or sorted non-negative axes.
Axes = tuple[int, ...] | None

# The ufunc method directly: np.sum's Python wrapper costs more than the sum on small tensors.
_add_reduce: Any = np.add.reduce


def _axes(ndim: int, axis: Axes) -> tuple[int, ...]:
    """All axes for None; otherwise the caller's axes, already normalised (non-negative, sorted)."""
    return tuple(range(ndim)) if axis is None else axis


def _expand(g: Array, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Array:
    """Undo a reduction's shape change on the gradient: a view broadcastable to ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def sum_(a: Array, axis: Axes, keepdims: bool) -> Result:
    axes = _axes(a.ndim, axis)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (_expand(g, a.shape, axes, keepdims),)

    return _total(a, axes, keepdims), bwd


def _total(a: Array, axes: tuple[int, ...], keepdims: bool) -> Array:
    """Sum over axes; float16 accumulates in float32 (as NumPy's mean and PyTorch do), then rounds back."""
    if a.dtype == np.float16:
        with np.errstate(over="ignore"):  # a float16 overflow is inf, as in PyTorch
            return np.asarray(_add_reduce(a, axes, np.float32, None, keepdims)).astype(np.float16)
    return np.asarray(_add_reduce(a, axes, None, None, keepdims))


def mean(a: Array, axis: Axes, keepdims: bool) -> Result:
    axes = _axes(a.ndim, axis)
    n = _count(a.shape, axes)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (_expand(g / n, a.shape, axes, keepdims),)

    if n == 0:  # the mean of nothing is NaN (PyTorch), without NumPy's warning
        shape = tuple(1 if i in axes else d for i, d in enumerate(a.shape)) if keepdims else None
        out = np.full(shape if shape is not None else np.delete(np.array(a.shape), axes), np.nan, a.dtype)
        return out, bwd
    if a.dtype == np.float16:
        return (np.asarray(_add_reduce(a, axes, np.float32, None, keepdims)) * (1.0 / n)).astype(np.float16), bwd
    return np.asarray(_add_reduce(a, axes, None, None, keepdims)) * (1.0 / n), bwd


def _spread(a: Array, axis: Axes, keepdims: bool, correction: int) -> tuple[tuple[int, ...], Array, Array, int]:
    """The axes, ``a`` centred on its mean over them, the variance (shape per keepdims) and its divisor."""
    axes = _axes(a.ndim, axis)
    dof = _count(a.shape, axes) - correction
    centred = a - np.mean(a, axis=axes, keepdims=True)
    return axes, centred, np.sum(centred * centred, axis=axes, keepdims=keepdims) / dof, dof


def var(a: Array, axis: Axes, keepdims: bool, correction: int) -> Result:
    """Variance with ``correction`` subtracted from the count (1: unbiased, PyTorch's default)."""
    axes, centred, y, dof = _spread(a, axis, keepdims, correction)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (_expand(g, a.shape, axes, keepdims) * centred * (2 / dof),)

    return y.astype(a.dtype, copy=False), bwd


def std(a: Array, axis: Axes, keepdims: bool, correction: int) -> Result:
    """The square root of ``var``; where it is 0 the gradient is 0 (PyTorch's choice; the formula gives NaN)."""
    axes, centred, v, dof = _spread(a, axis, keepdims, correction)
    y = np.sqrt(v)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        s = np.broadcast_to(y if keepdims else np.expand_dims(y, axes), a.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = _expand(g, a.shape, axes, keepdims) * centred / (dof * s)
        return (np.where(s == 0, np.zeros((), ga.dtype), ga).astype(a.dtype, copy=False),)

    return y.astype(a.dtype, copy=False), bwd


def _extreme(a: Array, axis: Axes, keepdims: bool, fn: np.ufunc) -> Result:
    """max/min; the gradient is shared evenly among ties (PyTorch's amax/amin rule)."""
    axes = _axes(a.ndim, axis)
    y = fn.reduce(a, axis=axes, keepdims=True)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        mask = a == y
        count = mask.sum(axis=axes, keepdims=True)
        gk = g if keepdims else np.expand_dims(g, axes)
        return (mask * (gk / count.astype(g.dtype)),)  # an int count would promote to float64

    return (y if keepdims else np.squeeze(y, axis=axes)), bwd


def max_(a: Array, axis: Axes, keepdims: bool) -> Result:
    return _extreme(a, axis, keepdims, np.maximum)


def min_(a: Array, axis: Axes, keepdims: bool) -> Result:
    return _extreme(a, axis, keepdims, np.minimum)
