"""softmax and log_softmax along one axis (max-shifted for stability)."""

from __future__ import annotations

import numpy as np

from ._types import Array, Result


def softmax(a: Array, axis: int) -> Result:
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    y = e / np.sum(e, axis=axis, keepdims=True)

    return y, lambda g, need: (y * (g - np.sum(g * y, axis=axis, keepdims=True)),)


def log_softmax(a: Array, axis: int) -> Result:
    shifted = a - np.max(a, axis=axis, keepdims=True)
    y = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    return y, lambda g, need: (g - np.exp(y) * np.sum(g, axis=axis, keepdims=True),)
