"""Losses: ``cross_entropy`` (logits and integer labels) and ``mse_loss``, PyTorch's semantics.

Each is one recorded op whose backward is the closed form. ``reduction`` is "mean" (default),
"sum" (both give a rank-0 tensor, ready for ``backward()``) or "none" (one loss per item).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, overload

import numpy as np

from .. import extend as ext
from .._check import checked
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._ops import losses as _lo
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor

__all__ = ["cross_entropy", "mse_loss"]

B = TypeVar("B", bound=int)
K = TypeVar("K", bound=int)
S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Int = TypeVar("Int", bound=np.integer[Any])

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(where: str, reduction: _lo.Reduction) -> _lo.Reduction:
    if reduction not in _REDUCTIONS:
        raise TypedTensorError(f"{where}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


# labels of any tape (cut from traced token ids, they carry the ids' tape): a constant of the op, never given a
# gradient; the loss carries the logits' tape.
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["mean", "sum"] = "mean",
    *,
    label_smoothing: float = 0.0,
) -> Tensor[tuple[()], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["none"],
    *,
    label_smoothing: float = 0.0,
) -> Tensor[tuple[B], E, T]: ...
@checked
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    *,
    label_smoothing: float = 0.0,
) -> Tensor[Any, E, T]:
    """Cross-entropy between ``logits`` (B, K) and class indices ``labels`` (B,) in [0, K).

    The labels may carry a tape (cut from traced token ids): they are a constant of the op (never given a
    gradient) and the loss carries the logits' tape.

    ``label_smoothing`` in [0, 1] mixes the one-hot target with the uniform one (PyTorch's option).
    """
    red = _reduction("cross_entropy", reduction)
    smoothing = ext.options.unit(label_smoothing, "label_smoothing", "cross_entropy")
    z, y = (
        ext.data(ext.tensor_arg(logits, "cross_entropy: logits")),
        ext.data(ext.tensor_arg(labels, "cross_entropy: labels")),
    )
    if z.ndim != 2 or y.shape != z.shape[:1]:
        raise ShapeError(f"cross_entropy: expected logits (B, K) and labels (B,), got {z.shape} and {y.shape}")
    if y.dtype.kind not in "iu":
        raise DTypeError(
            f"cross_entropy: labels must be integer class indices, got dtype {y.dtype.name}; "
            "build them with tt.tensor(labels, np.int64)"
        )
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ShapeError(f"cross_entropy: needs at least one item and one class, got logits of shape {z.shape}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise TypedTensorError(
            f"cross_entropy: labels must be in [0, {z.shape[1]}) for {z.shape[1]} classes, got values from "
            f"{y.min()} to {y.max()}"
        )
    return ext.record((logits, None), *_lo.cross_entropy(z, y, red, smoothing))  # the labels: a constant


@overload
def mse_loss(
    pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, T]: ...
@overload
def mse_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, OwnedTape]: ...
@checked
def mse_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, Any], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, Any]:
    """Mean (or sum) of ``(pred - target) ** 2`` over every element (pred and target of one shape)."""
    red = _reduction("mse_loss", reduction)
    if red == "none":
        raise TypedTensorError("mse_loss: reduction='none' is (pred - target).square(); use that expression")
    t = ext.operand(ext.tensor_arg(pred, "mse_loss: pred"), target)
    if not isinstance(t, np.ndarray):
        raise TypedTensorError(f"mse_loss: target must be a tensor of pred's shape, got {type(target).__name__}")
    return ext.record((pred, target), *_lo.mse(ext.data(pred), t, red))
