"""Parameterised activation kernels: leaky ReLU, SiLU, softplus (forward and derivative side by side).

Each takes a float array (float16 is computed in float32 and rounded once to float16) and returns its
output in the input's dtype with the backward of PyTorch's conventions at the kinks (stated per kernel).
"""

from __future__ import annotations

import numpy as np

from ._types import Array, Result


def _work(a: Array) -> Array:
    """a in its compute dtype: float16 in float32, float32/float64 as they are (no copy)."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _sigmoid(z: Array) -> Array:
    """1 / (1 + exp(-z)) by the tanh form, finite for every z (no overflow of exp)."""
    s = np.asarray(np.tanh(0.5 * z))
    s += 1
    s *= 0.5
    return s


def leaky_relu(a: Array, negative_slope: float) -> Result:
    """``a`` where a > 0, ``negative_slope * a`` elsewhere; the derivative at 0 is ``negative_slope`` (PyTorch's)."""
    z = _work(a)
    positive = z > 0
    y = np.where(positive, z, z * z.dtype.type(negative_slope)).astype(a.dtype, copy=False)
    dtype = a.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array]:
        gw = _work(g)
        return (np.where(positive, gw, gw * gw.dtype.type(negative_slope)).astype(dtype, copy=False),)

    return y, backward


def silu(a: Array) -> Result:
    """``a * sigmoid(a)``; derivative ``s * (1 + a * (1 - s))`` with ``s = sigmoid(a)``."""
    z = _work(a)
    s = _sigmoid(z)
    y = (z * s).astype(a.dtype, copy=False)
    dtype = a.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array]:
        d = 1 - s
        d *= z
        d += 1
        d *= s
        d *= _work(g)
        return (d.astype(dtype, copy=False),)

    return y, backward


def softplus(a: Array, beta: float, threshold: float) -> Result:
    """``log(1 + exp(beta * a)) / beta``, and ``a`` itself where ``beta * a > threshold`` (PyTorch's cut-over).

    ``logaddexp(0, beta * a)`` keeps it finite for large ``beta * a`` below the threshold; the derivative is
    ``sigmoid(beta * a)``, and 1 past the threshold.
    """
    z = _work(a)
    bz = z * z.dtype.type(beta)
    linear = bz > threshold
    soft = np.logaddexp(z.dtype.type(0), bz)
    soft /= z.dtype.type(beta)
    y = np.where(linear, z, soft).astype(a.dtype, copy=False)
    dtype = a.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array]:
        gw = _work(g)
        d = _sigmoid(bz)
        np.copyto(d, 1, where=linear)
        d *= gw
        return (d.astype(dtype, copy=False),)

    return y, backward
