"""Matrix product at every rank (torch.matmul's rules: 1-D operands, broadcast batch dims)."""

from __future__ import annotations

import numpy as np

from .._errors import ShapeError, TypedTensorError
from ._types import Array, Grads, Result, sum_to


def check_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """Raise the ShapeError ``a @ b`` deserves; return when the shapes multiply (broadcast batch dims).

    The rules: both ranks >= 1; a 1-D self is a row (its dim is K), a 1-D other a column; the last dim of
    self equals the second-to-last of other (its only dim when 1-D); the batch dims (all but the last two)
    broadcast, aligned from the right, each pair equal or one of them 1.
    """
    if not a or not b:
        raise ShapeError(
            f"matmul: both operands must have rank >= 1, got shapes {a} @ {b}; a rank-0 tensor is a "
            "scalar: multiply by it with *"
        )
    inner = b[-min(len(b), 2)]  # the second-to-last dim, or the only one
    if a[-1] != inner:
        where = "second-to-last dim" if len(b) > 1 else "only dim (it is 1-D)"
        raise ShapeError(
            f"matmul: inner dims differ: self {a} @ other {b} pairs {a[-1]} with {inner}; the last dim of "
            f"self must equal other's {where}"
        )
    ba, bb = a[:-2], b[:-2]
    bad = [
        (i, x, y)
        for i, (x, y) in enumerate(zip(reversed(ba), reversed(bb), strict=False), 1)
        if x != y and 1 not in (x, y)
    ]
    if bad:
        pairs = ", ".join(f"{x} with {y} at batch dim -{i}" for i, x, y in reversed(bad))
        raise ShapeError(
            f"matmul: batch dims do not broadcast: self {a} @ other {b} has batch dims {ba} and {bb}, which "
            f"pair {pairs}; batch dims must be equal or 1, aligned from the right (make them so with "
            "broadcast_to() or reshape())"
        )


def matmul(a: Array, b: Array) -> Result:
    """a @ b for shapes ``check_shapes`` accepts; the gradient of a broadcast batch operand is summed back."""
    try:
        y = np.matmul(a, b)
    except MemoryError:  # broadcast batch dims can ask for far more than either operand holds
        raise TypedTensorError(f"matmul: not enough memory for the product of shapes {a.shape} @ {b.shape}") from None

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        g2 = g  # the dims a 1-D operand dropped put back: N=1 first (the last), then M=1 before it
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
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

    Three parents (x, w, b), b None on the tape without a bias. Leading dims are folded into rows so each direction is one GEMM.
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
        return gx, gw, (g2.sum(axis=0) if need[2] else None)

    return y.reshape(out_shape), bwd
