"""Losses, PyTorch's semantics: ``cross_entropy`` (class indices or probabilities, class weights,
``ignore_index``, label smoothing), ``nll_loss`` (both also on (B, K, d1, ..., dk) scores),
``binary_cross_entropy_with_logits`` (``pos_weight``, ``weight``), ``binary_cross_entropy`` (probabilities),
``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss`` and ``kl_div``.

Each is one recorded op whose backward is the closed form. ``reduction`` is "mean" (default),
"sum" (both give a rank-0 tensor, ready for ``backward()``) or "none" (one loss per item: the labels' shape
for the class losses, the prediction's for the pointwise ones);
``kl_div`` also has "batchmean". A mean over no items (an empty batch, every label ignored) is NaN, as in
PyTorch. Labels, class weights, ``pos_weight`` and probability targets of ``cross_entropy`` are constants of
the op (never given a gradient); the target of a pointwise loss (``mse_loss`` ... ``kl_div``) gets one when
it is traced.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, TypeVarTuple, overload

import numpy as np

from .. import extend as ext
from .._check import checked
from .._dtypes import astype_advice
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._ops import losses as _lo
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]

B = TypeVar("B", bound=int)
K = TypeVar("K", bound=int)
S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Int = TypeVar("Int", bound=np.integer[Any])
#: the spatial dims (d1, ..., dk) of K-dimensional class scores (B, K, d1, ..., dk): D1 and the rest (*D)
D1 = TypeVar("D1", bound=int)
D = TypeVarTuple("D")

_REDUCTIONS = ("mean", "sum", "none")
_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def _reduction(where: str, reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> Any:
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise TypedTensorError(f"{where}: reduction must be one of {names}, got {reduction!r}")
    return reduction


def _constant(
    where: str, name: str, t: Tensor[Any, Any, Any] | None, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> ext.Array | None:
    """The array of an optional constant operand (class weights, pos_weight) of ``shape`` and ``dtype``."""
    if t is None:
        return None
    a = ext.data(ext.tensor_arg(t, f"{where}: {name}"))
    if a.shape != shape:
        raise ShapeError(f"{where}: expected {name} of shape {shape}, got {a.shape}")
    if a.dtype != dtype:
        raise DTypeError(
            f"{where}: expected {name} of dtype {dtype.name}, got {a.dtype.name}; {astype_advice(name, dtype)}"
        )
    return a


def _scores(where: str, z: ext.Array) -> int:
    """Check scores (B, K, d1, ..., dk) with at least one class; return K."""
    if z.ndim < 2:
        raise ShapeError(
            f"{where}: expected scores (B, K) or (B, K, d1, ..., dk), got shape {z.shape}; add the batch dim "
            "with x.unsqueeze(0) (PyTorch's unbatched (K,) scores are not taken)"
        )
    if z.shape[1] == 0:
        raise ShapeError(f"{where}: needs at least one class, got scores of shape {z.shape}")
    if z.dtype.kind != "f":  # integer scores would give a truncated integer loss
        raise DTypeError(
            f"{where}: expected float scores, got {z.dtype.name}; {astype_advice('the scores', np.dtype(np.float32))}"
        )
    return int(z.shape[1])


def _labels(where: str, z: ext.Array, y: ext.Array, ignore_index: object) -> int:
    """Check scores (B, K, d1, ..., dk) and integer labels (B, d1, ..., dk) in [0, K) or ``ignore_index``;
    return ``ignore_index``."""
    ignore = ext.options.integer(ignore_index)
    if ignore is None:
        raise TypedTensorError(f"{where}: ignore_index must be an integer, got {ignore_index!r}")
    k = _scores(where, z)
    if y.shape != z.shape[:1] + z.shape[2:]:
        raise ShapeError(
            f"{where}: expected scores (B, K) and labels (B,), or (B, K, d1, ..., dk) and (B, d1, ..., dk), "
            f"got {z.shape} and {y.shape}"
        )
    if y.dtype.kind not in "iu":
        raise DTypeError(
            f"{where}: labels must be integer class indices, got dtype {y.dtype.name}; "
            "build them with tt.tensor(labels, np.int64)"
        )
    bad = ext.first_outside(np.where(y == ignore, 0, y), 0, k)
    if bad is not None:
        at = bad[1][0] if y.ndim == 1 else bad[1]
        raise TypedTensorError(
            f"{where}: labels must be in [0, {k}) for {k} classes (or ignore_index={ignore}), got {bad[0]} at "
            f"position {at}; fix the labels or the number of classes"
        )
    return ignore


# labels of any tape (cut from traced token ids, they carry the ids' tape): a constant of the op, never given a
# gradient; the loss carries the logits' tape. Probability targets are constants too. The (B, K) overloads come
# first and the K-dimensional ones need a spatial dim (D1): one variadic signature for both made mypy solve a
# nested generic call's dims (``cross_entropy(linear.forward(x), y)``) against the variadic context, and fail.
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["mean", "sum"] = "mean",
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[()], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["none"],
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[B], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B, K], E, Any],
    reduction: Literal["mean", "sum"] = "mean",
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[()], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B, K], E, Any],
    reduction: Literal["none"],
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[B], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, D1, *D], Int, Any],
    reduction: Literal["mean", "sum"] = "mean",
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[()], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, D1, *D], Int, Any],
    reduction: Literal["none"],
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[B, D1, *D], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, K, D1, *D], E, Any],
    reduction: Literal["mean", "sum"] = "mean",
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[()], E, T]: ...
@overload
def cross_entropy(
    logits: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, K, D1, *D], E, Any],
    reduction: Literal["none"],
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[tuple[K], E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[tuple[B, D1, *D], E, T]: ...
def cross_entropy(
    logits: Tensor[Any, E, T],
    labels: Tensor[Any, Any, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    *,
    label_smoothing: float = 0.0,
    weight: Tensor[Any, E, Any] | None = None,
    ignore_index: int = -100,
) -> Tensor[Any, E, T]:
    """Cross-entropy between ``logits`` (B, K) and class indices ``labels`` (B,) in [0, K), or class
    probabilities ``labels`` (B, K) of the logits' dtype (soft labels), as ``torch.nn.functional.cross_entropy``.

    K-dimensional scores as PyTorch's: logits (B, K, d1, ..., dk) (a segmentation map (B, K, H, W), a
    sequence (B, K, T)) with labels (B, d1, ..., dk) or probabilities (B, K, d1, ..., dk); each position is one
    item, "none" gives (B, d1, ..., dk) and the mean runs over every position.

    The labels may carry a tape (cut from traced token ids): they are a constant of the op (never given a
    gradient) and the loss carries the logits' tape.

    ``label_smoothing`` in [0, 1] mixes the target with the uniform one. ``weight`` (K,) scales each class's
    term; with class indices the "mean" divides by the sum of the weights of the items' labels, over the
    items whose label is not ``ignore_index`` (those get loss 0; NaN when every item is ignored). With
    probabilities the mean divides by the number of items (B d1 ... dk) and ``ignore_index`` must stay at its
    default (PyTorch refuses it too).
    """
    # two checked bodies, one per kind of target: a union in one annotation would blur the check's error class
    target: Any = labels
    array = ext.data(ext.tensor_arg(labels, "cross_entropy: labels"))
    scores = ext.data(ext.tensor_arg(logits, "cross_entropy: logits"))
    if array.ndim == scores.ndim and array.dtype.kind == "f":
        return _soft_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)
    return _hard_cross_entropy(logits, target, reduction, label_smoothing, weight, ignore_index)


@checked
def _hard_cross_entropy(
    logits: Tensor[tuple[B, K, *D], E, T],
    labels: Tensor[tuple[B, *D], Int, Any],
    reduction: Literal["mean", "sum", "none"],
    label_smoothing: float,
    weight: Tensor[tuple[K], E, Any] | None,
    ignore_index: int,
) -> Tensor[Any, E, T]:
    where = "cross_entropy"
    red = _reduction(where, reduction)
    smoothing = ext.options.unit(label_smoothing, "label_smoothing", where)
    z = ext.data(ext.tensor_arg(logits, "cross_entropy: logits"))
    y = ext.data(ext.tensor_arg(labels, "cross_entropy: labels"))
    ignore = _labels(where, z, y, ignore_index)
    w = _constant(where, "weight", weight, z.shape[1:2], z.dtype)
    # the labels: a constant
    return ext.record((logits, None), *_lo.spatial(_lo.cross_entropy, z, y, red, smoothing, w, ignore))


@checked
def _soft_cross_entropy(
    logits: Tensor[tuple[B, K, *D], E, T],
    labels: Tensor[tuple[B, K, *D], E, Any],
    reduction: Literal["mean", "sum", "none"],
    label_smoothing: float,
    weight: Tensor[tuple[K], E, Any] | None,
    ignore_index: int,
) -> Tensor[Any, E, T]:
    where = "cross_entropy"
    red = _reduction(where, reduction)
    smoothing = ext.options.unit(label_smoothing, "label_smoothing", where)
    z = ext.data(ext.tensor_arg(logits, "cross_entropy: logits"))
    y = ext.data(ext.tensor_arg(labels, "cross_entropy: labels"))
    if y.shape != z.shape:
        raise ShapeError(f"{where}: expected probabilities of the logits' shape {z.shape}, got {y.shape}")
    if y.dtype != z.dtype:
        raise DTypeError(
            f"{where}: expected probabilities of the logits' dtype {z.dtype.name}, got {y.dtype.name}; "
            f"{astype_advice('the target', z.dtype)}"
        )
    if ignore_index != -100:
        raise TypedTensorError(
            f"{where}: ignore_index applies to class indices, got ignore_index={ignore_index!r} with "
            "probability targets; drop it or set the ignored rows' probabilities and weights yourself"
        )
    _scores(where, z)
    w = _constant(where, "weight", weight, z.shape[1:2], z.dtype)
    return ext.record((logits, None), *_lo.spatial(_lo.soft_cross_entropy, z, y, red, smoothing, w))


@overload
def nll_loss(
    log_probs: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["mean", "sum"] = "mean",
    ignore_index: int = -100,
    weight: Tensor[tuple[K], E, Any] | None = None,
) -> Tensor[tuple[()], E, T]: ...
@overload
def nll_loss(
    log_probs: Tensor[tuple[B, K], E, T],
    labels: Tensor[tuple[B], Int, Any],
    reduction: Literal["none"],
    ignore_index: int = -100,
    weight: Tensor[tuple[K], E, Any] | None = None,
) -> Tensor[tuple[B], E, T]: ...
@overload
def nll_loss(
    log_probs: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, D1, *D], Int, Any],
    reduction: Literal["mean", "sum"] = "mean",
    ignore_index: int = -100,
    weight: Tensor[tuple[K], E, Any] | None = None,
) -> Tensor[tuple[()], E, T]: ...
@overload
def nll_loss(
    log_probs: Tensor[tuple[B, K, D1, *D], E, T],
    labels: Tensor[tuple[B, D1, *D], Int, Any],
    reduction: Literal["none"],
    ignore_index: int = -100,
    weight: Tensor[tuple[K], E, Any] | None = None,
) -> Tensor[tuple[B, D1, *D], E, T]: ...
def nll_loss(
    log_probs: Tensor[Any, E, T],
    labels: Tensor[Any, Any, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    ignore_index: int = -100,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[Any, E, T]:
    """Negative log-likelihood ``-weight[y_i] * log_probs[i, y_i]``, as ``torch.nn.functional.nll_loss``
    for (B, K) scores (``log_softmax`` output) and labels (B,) in [0, K), or (B, K, d1, ..., dk) scores and
    labels (B, d1, ..., dk) (each position an item; "none" gives the labels' shape).

    Items labelled ``ignore_index`` get loss 0; "mean" divides the sum by the sum of ``weight[y_i]`` (1 each
    without weights) over the items not ignored: NaN when there are none. The labels and weights are constants.
    """
    return _nll_loss(log_probs, labels, reduction, ignore_index, weight)


@checked  # the checked signature covers both kinds of overload: (B, K) is (B, K, *D) with D empty
def _nll_loss(
    log_probs: Tensor[tuple[B, K, *D], E, T],
    labels: Tensor[tuple[B, *D], Int, Any],
    reduction: Literal["mean", "sum", "none"],
    ignore_index: int,
    weight: Tensor[tuple[K], E, Any] | None,
) -> Tensor[Any, E, T]:
    where = "nll_loss"
    red = _reduction(where, reduction)
    x = ext.data(ext.tensor_arg(log_probs, "nll_loss: log_probs"))
    y = ext.data(ext.tensor_arg(labels, "nll_loss: labels"))
    ignore = _labels(where, x, y, ignore_index)
    w = _constant(where, "weight", weight, x.shape[1:2], x.dtype)
    return ext.record((log_probs, None), *_lo.spatial(_lo.nll, x, y, red, w, ignore))


def _pair(where: str, pred: Tensor[Any, Any, Any], target: object) -> tuple[ext.Array, ext.Array]:
    """The arrays of a pointwise loss's prediction and target: tensors of one shape and float dtype."""
    p = ext.data(ext.tensor_arg(pred, f"{where}: pred"))
    t = ext.data(ext.tensor_arg(target, f"{where}: target"))
    if t.shape != p.shape:
        raise ShapeError(f"{where}: expected target of the prediction's shape {p.shape}, got {t.shape}")
    if p.dtype.kind != "f" or t.dtype != p.dtype:
        raise DTypeError(
            f"{where}: expected a float prediction and a target of its dtype, got {p.dtype.name} and "
            f"{t.dtype.name}; {astype_advice('the target', p.dtype if p.dtype.kind == 'f' else np.dtype(np.float32))}"
        )
    return p, t


@overload
def mse_loss(
    pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, T]: ...
@overload
def mse_loss(pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["none"]) -> Tensor[S, E, T]: ...
@overload
def mse_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def mse_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["none"]
) -> Tensor[S, E, OwnedTape]: ...
@checked
def mse_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, Any], reduction: Literal["mean", "sum", "none"] = "mean"
) -> Tensor[Any, E, Any]:
    """Squared error ``(pred - target) ** 2`` per element (pred and target of one shape), reduced, as
    ``torch.nn.functional.mse_loss``; "none" keeps pred's shape."""
    red = _reduction("mse_loss", reduction)
    p = ext.data(ext.tensor_arg(pred, "mse_loss: pred"))
    if p.dtype.kind != "f":  # an integer prediction would give a truncated integer loss, a bool one a raw error
        raise DTypeError(
            f"mse_loss: expected a float prediction, got {p.dtype.name}; "
            f"{astype_advice('the prediction', np.dtype(np.float32))}"
        )
    t = ext.operand(ext.tensor_arg(pred, "mse_loss: pred"), target)
    if not isinstance(t, np.ndarray):
        raise TypedTensorError(f"mse_loss: target must be a tensor of pred's shape, got {type(target).__name__}")
    return ext.record((pred, target), *_lo.mse(ext.data(pred), t, red))


# The pointwise losses: one overload set each. The loss carries the prediction's tape, or the target's when only
# that one is traced; "none" keeps the prediction's shape.
@overload
def l1_loss(
    pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, T]: ...
@overload
def l1_loss(pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["none"]) -> Tensor[S, E, T]: ...
@overload
def l1_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["mean", "sum"] = "mean"
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def l1_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["none"]
) -> Tensor[S, E, OwnedTape]: ...
@checked
def l1_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, Any], reduction: Literal["mean", "sum", "none"] = "mean"
) -> Tensor[Any, E, Any]:
    """Absolute error ``|pred - target|`` per element, reduced, as ``torch.nn.functional.l1_loss``
    (gradient ``sign(pred - target)``, 0 where they are equal)."""
    red = _reduction("l1_loss", reduction)
    return ext.record((pred, target), *_lo.l1(*_pair("l1_loss", pred, target), red))


@overload
def smooth_l1_loss(
    pred: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["mean", "sum"] = "mean",
    beta: float = 1.0,
) -> Tensor[tuple[()], E, T]: ...
@overload
def smooth_l1_loss(
    pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["none"], beta: float = 1.0
) -> Tensor[S, E, T]: ...
@overload
def smooth_l1_loss(
    pred: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["mean", "sum"] = "mean",
    beta: float = 1.0,
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def smooth_l1_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["none"], beta: float = 1.0
) -> Tensor[S, E, OwnedTape]: ...
@checked
def smooth_l1_loss(
    pred: Tensor[S, E, Any],
    target: Tensor[S, E, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    beta: float = 1.0,
) -> Tensor[Any, E, Any]:
    """Smooth L1, as ``torch.nn.functional.smooth_l1_loss``: ``0.5 d**2 / beta`` where ``|d| < beta``,
    ``|d| - 0.5 * beta`` elsewhere (d = pred - target, ``beta >= 0``; beta 0 is the L1 loss)."""
    red = _reduction("smooth_l1_loss", reduction)
    b = ext.options.non_negative(beta, "beta", "smooth_l1_loss")
    return ext.record((pred, target), *_lo.smooth_l1(*_pair("smooth_l1_loss", pred, target), red, b, 1.0))


@overload
def huber_loss(
    pred: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["mean", "sum"] = "mean",
    delta: float = 1.0,
) -> Tensor[tuple[()], E, T]: ...
@overload
def huber_loss(
    pred: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["none"], delta: float = 1.0
) -> Tensor[S, E, T]: ...
@overload
def huber_loss(
    pred: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["mean", "sum"] = "mean",
    delta: float = 1.0,
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def huber_loss(
    pred: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["none"], delta: float = 1.0
) -> Tensor[S, E, OwnedTape]: ...
@checked
def huber_loss(
    pred: Tensor[S, E, Any],
    target: Tensor[S, E, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    delta: float = 1.0,
) -> Tensor[Any, E, Any]:
    """Huber loss, as ``torch.nn.functional.huber_loss``: ``0.5 d**2`` where ``|d| <= delta``,
    ``delta * (|d| - 0.5 * delta)`` elsewhere (``delta > 0``): ``delta`` times ``smooth_l1_loss`` with beta = delta."""
    red = _reduction("huber_loss", reduction)
    d = ext.options.positive(delta, "delta", "huber_loss")
    return ext.record((pred, target), *_lo.smooth_l1(*_pair("huber_loss", pred, target), red, d, d))


def _broadcast_constant(
    where: str, name: str, t: Tensor[Any, Any, Any] | None, x: ext.Array, of: str = "logits"
) -> ext.Array | None:
    """The array of an optional constant (pos_weight, weight) of x's dtype that broadcasts to x's shape."""
    if t is None:
        return None
    a = ext.data(ext.tensor_arg(t, f"{where}: {name}"))
    if a.dtype != x.dtype:
        raise DTypeError(
            f"{where}: expected {name} of the {of}' dtype {x.dtype.name}, got {a.dtype.name}; "
            f"{astype_advice(name, x.dtype)}"
        )
    if a.ndim > x.ndim or not all(m in (1, n) for m, n in zip(a.shape[::-1], x.shape[::-1], strict=False)):
        raise ShapeError(
            f"{where}: expected {name} broadcastable to the {of}' shape {x.shape} (e.g. {x.shape[-1:]}), got {a.shape}"
        )
    return a


@overload
def binary_cross_entropy_with_logits(
    logits: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["mean", "sum"] = "mean",
    pos_weight: Tensor[Any, E, Any] | None = None,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[tuple[()], E, T]: ...
@overload
def binary_cross_entropy_with_logits(
    logits: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["none"],
    pos_weight: Tensor[Any, E, Any] | None = None,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[S, E, T]: ...
@overload
def binary_cross_entropy_with_logits(
    logits: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["mean", "sum"] = "mean",
    pos_weight: Tensor[Any, E, Any] | None = None,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def binary_cross_entropy_with_logits(
    logits: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["none"],
    pos_weight: Tensor[Any, E, Any] | None = None,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[S, E, OwnedTape]: ...
@checked
def binary_cross_entropy_with_logits(
    logits: Tensor[S, E, Any],
    target: Tensor[S, E, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    pos_weight: Tensor[Any, E, Any] | None = None,
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[Any, E, Any]:
    """Binary cross-entropy of ``logits`` against targets in [0, 1] of their shape, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``: ``-w (pw t log sigmoid(x) + (1 - t) log sigmoid(-x))``.

    Computed in the log-sum-exp form (no overflow for logits of any size). ``pos_weight`` (a tensor that
    broadcasts to the logits' shape, typically (C,) for the last dim) weights the positive term; ``weight``
    (broadcast too, PyTorch's ``weight=``) scales each element's loss, and the mean still divides by the element
    count, as PyTorch's. Both are constants of the op.
    """
    where = "binary_cross_entropy_with_logits"
    red = _reduction(where, reduction)
    x, t = _pair(where, logits, target)
    pw = _broadcast_constant(where, "pos_weight", pos_weight, x)
    w = _broadcast_constant(where, "weight", weight, x)
    return ext.record((logits, target), *_lo.bce_with_logits(x, t, red, pw, w))


@overload
def binary_cross_entropy(
    probs: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["mean", "sum"] = "mean",
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[tuple[()], E, T]: ...
@overload
def binary_cross_entropy(
    probs: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["none"],
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[S, E, T]: ...
@overload
def binary_cross_entropy(
    probs: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["mean", "sum"] = "mean",
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def binary_cross_entropy(
    probs: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["none"],
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[S, E, OwnedTape]: ...
@checked
def binary_cross_entropy(
    probs: Tensor[S, E, Any],
    target: Tensor[S, E, Any],
    reduction: Literal["mean", "sum", "none"] = "mean",
    weight: Tensor[Any, E, Any] | None = None,
) -> Tensor[Any, E, Any]:
    """Binary cross-entropy of probabilities ``probs`` in [0, 1] (a ``sigmoid`` output) against targets of
    their shape, as ``torch.nn.functional.binary_cross_entropy``: ``-w (t log p + (1 - t) log(1 - p))``.

    Each log is floored at -100 as PyTorch's (so p = 0 or 1 gives a finite loss) and the gradient's
    denominator ``p (1 - p)`` at 1e-12; a probability outside [0, 1] (or NaN) is a ``TypedTensorError``, as
    PyTorch refuses it. ``weight`` broadcasts to the shape and scales each element's loss (a constant); the
    mean divides by the element count. Prefer ``binary_cross_entropy_with_logits`` on the logits: it is exact
    where the sigmoid saturates.
    """
    where = "binary_cross_entropy"
    red = _reduction(where, reduction)
    p, t = _pair(where, probs, target)
    outside = ~((p >= 0) & (p <= 1))  # NaN too
    if outside.any():
        at = tuple(int(i) for i in np.argwhere(outside)[0])
        raise TypedTensorError(
            f"{where}: probabilities must be in [0, 1], got {float(p[at])} at position {at}; pass "
            "sigmoid(x) or use binary_cross_entropy_with_logits on the logits x"
        )
    w = _broadcast_constant(where, "weight", weight, p, "probabilities")
    return ext.record((probs, target), *_lo.bce(p, t, red, w))


@overload
def kl_div(
    input: Tensor[S, E, T],
    target: Tensor[S, E, NoneTape],
    reduction: Literal["mean", "batchmean", "sum"] = "mean",
    log_target: bool = False,
) -> Tensor[tuple[()], E, T]: ...
@overload
def kl_div(
    input: Tensor[S, E, T], target: Tensor[S, E, NoneTape], reduction: Literal["none"], log_target: bool = False
) -> Tensor[S, E, T]: ...
@overload
def kl_div(
    input: Tensor[S, E, Any],
    target: Tensor[S, E, OwnedTape],
    reduction: Literal["mean", "batchmean", "sum"] = "mean",
    log_target: bool = False,
) -> Tensor[tuple[()], E, OwnedTape]: ...
@overload
def kl_div(
    input: Tensor[S, E, Any], target: Tensor[S, E, OwnedTape], reduction: Literal["none"], log_target: bool = False
) -> Tensor[S, E, OwnedTape]: ...
@checked
def kl_div(
    input: Tensor[S, E, Any],
    target: Tensor[S, E, Any],
    reduction: Literal["mean", "batchmean", "sum", "none"] = "mean",
    log_target: bool = False,
) -> Tensor[Any, E, Any]:
    """KL divergence terms ``target * (log target - input)`` of log-probabilities ``input`` (0 where target
    is 0), or ``exp(target) * (target - input)`` with ``log_target``, as ``torch.nn.functional.kl_div``.

    PyTorch's four reductions: "batchmean" divides the sum by ``input.shape[0]`` (the KL divergence per item,
    the one to use), "mean" (PyTorch's default, kept for parity) by the number of elements, "sum", "none".

    A traced target's gradient ``log t + 1 - input`` is -inf where ``t == 0`` (the one-sided derivative;
    PyTorch gives NaN there); the input's gradient ``-t`` is PyTorch's everywhere.
    """
    where = "kl_div"
    red = _reduction(where, reduction, _KL_REDUCTIONS)
    log_t = ext.options.flag(log_target, "log_target", where)
    return ext.record((input, target), *_lo.kl_div(*_pair(where, input, target), red, log_t))
