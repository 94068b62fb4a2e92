"""Central finite differences, shared by the op and layer gradient tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Arrays = list[np.ndarray[Any, Any]]


def numeric_gradient(loss: Callable[[Arrays], float], inputs: Arrays, i: int, h: float = 1e-6) -> np.ndarray[Any, Any]:
    """d loss / d inputs[i] by central differences (float64 inputs)."""
    grad = np.zeros_like(inputs[i])
    for j in np.ndindex(inputs[i].shape):
        up = [v.copy() for v in inputs]
        down = [v.copy() for v in inputs]
        up[i][j] += h
        down[i][j] -= h
        grad[j] = (loss(up) - loss(down)) / (2 * h)
    return grad
