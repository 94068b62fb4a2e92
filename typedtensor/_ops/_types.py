"""Shared kernel types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import NDArray

Array = NDArray[Any]
Grads = tuple[Array | None, ...]
Backward = Callable[[Array, tuple[bool, ...]], Grads]
Result = tuple[Array, Backward]


def sum_to(g: Array, shape: tuple[int, ...]) -> Array:
    """Reduce a broadcast gradient ``g`` back to ``shape`` (the adjoint of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)
