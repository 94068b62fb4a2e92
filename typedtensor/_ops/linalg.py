"""Matrix product (2-D, batched, and with 1-D operands)."""

from __future__ import annotations

import numpy as np

from ._types import Array, Grads, Result, sum_to


def matmul(a: Array, b: Array) -> Result:
    """a @ b with NumPy's rules; the gradient of a broadcast batch operand is summed back."""
    y = np.matmul(a, b)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if need[0]:
            ga = sum_to(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if need[1]:
            if a2.ndim > 2 and b2.ndim == 2:
                # Fold the batch into rows: one GEMM instead of a batch of them plus a sum.
                k, n = a2.shape[-1], g2.shape[-1]
                gb = (a2.reshape(-1, k).T @ g2.reshape(-1, n)).reshape(b.shape)
            else:
                gb = sum_to(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb

    return y, bwd


def linear(x: Array, w: Array, b: Array | None) -> Result:
    """``x @ w.T + b`` over the last dim of x (any leading dims), w (O, I), b (O,); one recorded op.

    The inputs are (x, w) or (x, w, b). Leading dims are folded into rows so each direction is one GEMM.
    """
    rows = x.reshape(-1, x.shape[-1])
    y = rows @ w.T
    if b is not None:
        y += b
    out_shape = (*x.shape[:-1], w.shape[0])

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        g2 = g.reshape(-1, w.shape[0])
        gx = (g2 @ w).reshape(x.shape) if need[0] else None
        gw = g2.T @ rows if need[1] else None
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if need[2] else None)

    return y.reshape(out_shape), bwd
