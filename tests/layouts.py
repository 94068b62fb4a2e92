"""The memory layouts a kernel must read correctly: the same values as C, F, strided, negative-stride and zero-stride
(broadcast) arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


def layouts(x: Array) -> dict[str, Array]:
    """``x``'s values (rank >= 2) as a C array, an F array, a strided view, a negative-stride view and, from its
    first row along the second-to-last axis, a zero-stride broadcast of x's shape."""
    wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype)
    wide[..., ::2] = x
    return {
        "C": np.ascontiguousarray(x),
        "F": np.asfortranarray(x),
        "strided": wide[..., ::2],
        "negative": np.ascontiguousarray(x[::-1])[::-1],
        "broadcast": np.broadcast_to(x[..., :1, :], x.shape),
    }
