"""Shape kernels: reshape, broadcast_to, permute, squeeze/unsqueeze, tril/triu, indexing, concat, stack."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array, Grads, Result, sum_to
from .index import advanced


def reshape(a: Array, shape: tuple[int, ...]) -> Result:
    return a.reshape(shape), lambda g, need: (g.reshape(a.shape),)


def broadcast_to(a: Array, shape: tuple[int, ...]) -> Result:
    return np.broadcast_to(a, shape), lambda g, need: (sum_to(g, a.shape),)


def permute(a: Array, axes: tuple[int, ...]) -> Result:
    inverse = tuple(np.argsort(axes))
    return np.transpose(a, axes), lambda g, need: (np.transpose(g, inverse),)


def squeeze(a: Array, axis: int) -> Result:
    return np.squeeze(a, axis), lambda g, need: (np.expand_dims(g, axis),)


def unsqueeze(a: Array, axis: int) -> Result:
    return np.expand_dims(a, axis), lambda g, need: (np.squeeze(g, axis),)


def tril(a: Array, k: int) -> Result:
    return np.tril(a, k), lambda g, need: (np.tril(g, k),)


def triu(a: Array, k: int) -> Result:
    return np.triu(a, k), lambda g, need: (np.triu(g, k),)


def _is_basic(parts: tuple[Any, ...]) -> bool:
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def getitem(a: Array, index: Any) -> Result:
    """``a[index]``: a view for a basic index, NumPy's advanced indexing (``index.advanced``) otherwise."""
    parts: tuple[Any, ...] = index if isinstance(index, tuple) else (index,)  # pyright: ignore[reportUnknownVariableType]
    if not _is_basic(parts):
        return advanced(a, parts, 0)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        ga = np.zeros_like(a)
        ga[index] = g
        return (ga,)

    return a[index], bwd


def concat(arrays: list[Array], axis: int) -> Result:
    y = np.concatenate(arrays, axis=axis)
    bounds = np.cumsum([x.shape[axis] for x in arrays])[:-1]

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return tuple(np.split(g, bounds, axis=axis))

    return y, bwd


def stack(arrays: list[Array], axis: int) -> Result:
    y = np.stack(arrays, axis=axis)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return tuple(np.take(g, i, axis=axis) for i in range(len(arrays)))

    return y, bwd
