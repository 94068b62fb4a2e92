"""Classification metrics on logits: accuracy and top-k accuracy, as untraced Python floats.

Both read the logits of any tape (a traced training batch too) and record nothing. Ties follow one
rule, a stable descending sort: a class outranks another with an equal logit when its index is lower,
and NaN ranks above every number (as in ``torch.sort(descending=True, stable=True)``). So ``accuracy``
is ``torch.argmax`` (the first maximal index: PyTorch's documented rule), ``top_k_accuracy(k=1)`` equals
it, and without ties both equal the ``torch.topk`` / torchmetrics computation (``torch.topk`` leaves the
order of equal values unspecified: on tied logits at the k-th place torchmetrics' result depends on it).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import numpy as np

from .. import extend as ext
from .._check import checked
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor

__all__ = ["accuracy", "top_k_accuracy"]

B = TypeVar("B", bound=int)
K = TypeVar("K", bound=int)
F = TypeVar("F", bound=np.floating[Any])
Int = TypeVar("Int", bound=np.integer[Any])
T = TypeVar("T", bound=NoneTape | OwnedTape)


def _inputs(where: str, logits: Tensor[Any, Any, Any], labels: Tensor[Any, Any, Any]) -> tuple[ext.Array, ext.Array]:
    """The (B, K) float logits and (B,) integer labels in [0, K) as arrays, validated."""
    z = ext.data(ext.tensor_arg(logits, f"{where}: logits"))
    y = ext.data(ext.tensor_arg(labels, f"{where}: labels"))
    if z.dtype.kind != "f":
        raise DTypeError(f"{where}: logits must be floats, got dtype {z.dtype.name}")
    if y.dtype.kind not in "iu":
        raise DTypeError(
            f"{where}: labels must be integer class indices, got dtype {y.dtype.name}; "
            "build them with tt.tensor(labels, np.int64)"
        )
    if z.ndim != 2 or y.shape != z.shape[:1]:
        raise ShapeError(f"{where}: expected logits (B, K) and labels (B,), got {z.shape} and {y.shape}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ShapeError(f"{where}: needs at least one item and one class, got logits of shape {z.shape}")
    bad = ext.first_outside(y, 0, int(z.shape[1]))
    if bad is not None:
        raise TypedTensorError(
            f"{where}: labels must be in [0, {z.shape[1]}) for {z.shape[1]} classes, got {bad[0]} at position "
            f"{bad[1][0]}; fix the labels or the number of classes"
        )
    return z, y


def _reduce(where: str, correct: ext.Array, reduction: object) -> float:
    if reduction == "mean":
        return float(np.count_nonzero(correct)) / correct.size
    if reduction == "sum":
        return float(np.count_nonzero(correct))
    raise DTypeError(f"{where}: reduction must be 'mean' or 'sum', got {reduction!r}")  # as the annotation check


@checked
def accuracy(
    logits: Tensor[tuple[B, K], F, T], labels: Tensor[tuple[B], Int, Any], reduction: Literal["mean", "sum"] = "mean"
) -> float:
    """The fraction (``"sum"``: the number) of items whose largest logit is at their label.

    Args:
        logits: (B, K) float scores of any tape (not traced through: the result is a plain float).
        labels: (B,) integer class indices in [0, K), of any tape.
        reduction: ``"mean"`` (the fraction in [0, 1]) or ``"sum"`` (the count of correct items, a float,
            exact: sum it over batches and divide by the item count for a data set's accuracy).

    Ties: the first maximal logit is the prediction (``torch.argmax``); NaN counts as the maximum.

    Raises:
        ShapeError: not (B, K) and (B,) with B, K >= 1. DTypeError: non-float logits or non-integer labels.
        TypedTensorError: a label outside [0, K). DTypeError: a reduction other than "mean" or "sum".
    """
    z, y = _inputs("accuracy", logits, labels)
    return _reduce("accuracy", z.argmax(axis=1) == y, reduction)


@checked
def top_k_accuracy(
    logits: Tensor[tuple[B, K], F, T],
    labels: Tensor[tuple[B], Int, Any],
    k: int,
    reduction: Literal["mean", "sum"] = "mean",
) -> float:
    """The fraction (``"sum"``: the number) of items whose label is among their ``k`` largest logits.

    Args:
        logits: (B, K) float scores of any tape (the result is a plain float, nothing is recorded).
        labels: (B,) integer class indices in [0, K), of any tape.
        k: 1 <= k <= K (as ``torch.topk``, which refuses a larger k).
        reduction: ``"mean"`` or ``"sum"``, as in ``accuracy``.

    Ties: the classes are ranked by a stable descending sort (a lower class index first among equal
    logits, NaN above every number), so ``k=1`` is ``accuracy`` and a label tied at the k-th place counts
    only when its index is low enough. The label's rank is the number of classes strictly above it plus
    the tied ones of lower index: correct when that is below ``k``.

    Raises:
        as ``accuracy``; ShapeError for ``k`` outside [1, K], DTypeError for a ``k`` that is not an int.
    """
    where = "top_k_accuracy"
    z, y = _inputs(where, logits, labels)
    classes = int(z.shape[1])
    top = ext.options.integer(k)
    if top is None:  # the annotation check's class (DTypeCheckError is a DTypeError)
        raise DTypeError(f"{where}: k must be an int, got {k!r} ({type(k).__name__})")
    if not 1 <= top <= classes:
        raise ShapeError(f"{where}: k must be in [1, {classes}] for {classes} classes, got {top}; pass a smaller k")
    rows = np.arange(int(z.shape[0]))
    mine = z[rows, y][:, None]  # each item's logit at its label, (B, 1)
    nan, mine_nan = np.isnan(z), np.isnan(mine)
    above = np.where(mine_nan, False, (z > mine) | nan)
    tied = np.where(mine_nan, nan, z == mine) & (np.arange(classes) < y[:, None])
    rank = np.count_nonzero(above, axis=1) + np.count_nonzero(tied, axis=1)
    return _reduce(where, rank < top, reduction)
