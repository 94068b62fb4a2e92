# pyright: reportUnknownLambdaType=false, reportUnknownArgumentType=false, reportUnknownVariableType=false, reportUnknownMemberType=false
"""The loss cases shared by tests/test_losses.py and their golden-data script (PyTorch).

Each case makes its differentiable inputs (logits or predictions, and the target of a pointwise loss) in
its dtype, and says how typedtensor and ``torch.nn.functional`` compute the loss; constants (labels,
class weights, pos_weight, a constant target) are built through ``Lay``, so that the layout tests feed
them in every memory layout too. The loss differentiated is ``sum(out * w)`` with a fixed random ``w``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import extend as ext

Array = NDArray[Any]
#: a layout: the same values in another memory order (C, F, strided, negative strides)
View = Callable[[Array], Array]

LAYOUTS: dict[str, View] = {
    "C": np.ascontiguousarray,
    "F": np.asfortranarray,
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a,
    "negative": lambda a: np.flip(np.flip(a).copy()),
}


@dataclass(frozen=True)
class Lay:
    """Builds our tensors in one layout and dtype: ``f`` floats of the case's dtype, ``i`` int64 labels."""

    dtype: type[Any]
    view: View = np.ascontiguousarray

    def f(self, a: Array) -> Any:
        return ext.wrap(self.view(np.asarray(a, dtype=self.dtype)))

    def i(self, a: Array) -> Any:
        return ext.wrap(self.view(np.asarray(a, dtype=np.int64)))


@dataclass(frozen=True)
class LossCase:
    name: str
    #: rng -> the differentiable inputs, float64 (rounded to the case's dtype by ``inputs``)
    make: Callable[[np.random.Generator], list[Array]]
    ours: Callable[..., Any]  # (Lay, *tensors) -> tensor
    torch: Callable[..., Any]  # (torch module, torch dtype, *torch tensors) -> torch tensor
    dtype: type[Any] = np.float64

    def inputs(self) -> list[Array]:
        return [x.astype(self.dtype) for x in self.make(np.random.default_rng(5))]

    def weight(self, shape: tuple[int, ...]) -> Array:
        return np.random.default_rng(6).standard_normal(shape).astype(self.dtype)


B, K = 5, 4
#: Any: each case passes its reduction on to the loss's overloads
REDUCTIONS: tuple[Any, ...] = ("mean", "sum", "none")
KL_REDUCTIONS: tuple[Any, ...] = ("mean", "batchmean", "sum", "none")
LABELS = np.array([1, -100, 3, 0, 2])
ALL_LABELS = np.array([1, 2, 3, 0, 2])
WEIGHT = np.array([0.5, 2.0, 1.5, 1.0])
POS_WEIGHT = np.array([3.0, 0.5, 1.0, 2.0])


#: K-dimensional scores (B2, K, H, W) and their labels (B2, H, W), two ignored
B2, H, W = 2, 3, 2
LABELS_K = np.array([[[1, 3], [-100, 0], [2, 2]], [[0, 1], [3, -100], [1, 0]]])
#: a per-element weight of binary cross-entropy: one per row, broadcast over the classes
ROW_WEIGHT = np.array([[0.5], [1.0], [2.0], [0.0], [1.5]])


def _logits(rng: np.random.Generator) -> list[Array]:
    return [2.0 * rng.standard_normal((B, K))]


def _log_probs(rng: np.random.Generator) -> list[Array]:
    z = rng.standard_normal((B, K))
    return [z - np.log(np.exp(z).sum(axis=1, keepdims=True))]


def _probs(rng: np.random.Generator, shape: tuple[int, ...] = (B, K)) -> Array:
    e = np.exp(rng.standard_normal(shape))
    p: Array = e / e.sum(axis=-1, keepdims=True)
    return p


def _soft(rng: np.random.Generator) -> list[Array]:
    return _logits(rng)


SOFT = _probs(np.random.default_rng(9))


def _logits_k(rng: np.random.Generator) -> list[Array]:
    return [2.0 * rng.standard_normal((B2, K, H, W))]


def _log_probs_k(rng: np.random.Generator) -> list[Array]:
    z = rng.standard_normal((B2, K, H, W))
    return [z - np.log(np.exp(z).sum(axis=1, keepdims=True))]


#: probabilities over the class axis (1) of K-dimensional scores
SOFT_K = np.moveaxis(_probs(np.random.default_rng(10), (B2, H, W, K)), -1, 1)


def _pair(scale: float = 1.0) -> Callable[[np.random.Generator], list[Array]]:
    return lambda rng: [scale * rng.standard_normal((B, K)), scale * rng.standard_normal((B, K))]


def _bce(scale: float = 2.0) -> Callable[[np.random.Generator], list[Array]]:
    return lambda rng: [scale * rng.standard_normal((B, K)), rng.uniform(0.0, 1.0, (B, K))]


def _bce_probs(rng: np.random.Generator) -> list[Array]:
    """Probabilities away from 0 and 1 (finite differences stay inside [0, 1]) and targets in [0, 1]."""
    return [rng.uniform(0.05, 0.95, (B, K)), rng.uniform(0.0, 1.0, (B, K))]


def _kl(rng: np.random.Generator) -> list[Array]:
    return [_log_probs(rng)[0], _probs(rng)]


def _kl_log(rng: np.random.Generator) -> list[Array]:
    return [_log_probs(rng)[0], np.log(_probs(rng))]


def _th(th: Any, a: Array, dtype: Any) -> Any:
    return th.as_tensor(np.asarray(a), dtype=dtype)


def _weighted_labels(
    name: str, make: Callable[[np.random.Generator], list[Array]], fn: str, labels: Array, red: Any, dtype: type[Any]
) -> LossCase:
    """``fn(scores, labels, reduction, weight=WEIGHT)`` of tt.nn and torch.nn.functional: class indices, some
    of them ignore_index (-100), and class weights."""
    return LossCase(
        name,
        make,
        lambda L, z: getattr(tt.nn, fn)(z, L.i(labels), red, weight=L.f(WEIGHT)),
        lambda th, d, z: getattr(th.nn.functional, fn)(
            z, _th(th, labels, th.int64), weight=_th(th, WEIGHT, d), reduction=red
        ),
        dtype,
    )


def _ce_cases(dtype: type[Any], suffix: str) -> list[LossCase]:
    out: list[LossCase] = []
    for red in REDUCTIONS:
        out += [
            _weighted_labels(f"ce_weight_ignore_{red}{suffix}", _logits, "cross_entropy", LABELS, red, dtype),
            _weighted_labels(f"ce_kdim_weight_ignore_{red}{suffix}", _logits_k, "cross_entropy", LABELS_K, red, dtype),
            _weighted_labels(f"nll_weight_ignore_{red}{suffix}", _log_probs, "nll_loss", LABELS, red, dtype),
            _weighted_labels(f"nll_kdim_weight_ignore_{red}{suffix}", _log_probs_k, "nll_loss", LABELS_K, red, dtype),
            LossCase(
                f"ce_soft_{red}{suffix}",
                _soft,
                lambda L, z, r=red: tt.nn.cross_entropy(z, L.f(SOFT), r),
                lambda th, d, z, r=red: th.nn.functional.cross_entropy(z, _th(th, SOFT, d), reduction=r),
                dtype,
            ),
            LossCase(
                f"ce_kdim_soft_weight_smoothing_{red}{suffix}",
                _logits_k,
                lambda L, z, r=red: tt.nn.cross_entropy(z, L.f(SOFT_K), r, weight=L.f(WEIGHT), label_smoothing=0.2),
                lambda th, d, z, r=red: th.nn.functional.cross_entropy(
                    z, _th(th, SOFT_K, d), weight=_th(th, WEIGHT, d), reduction=r, label_smoothing=0.2
                ),
                dtype,
            ),
        ]
    return out


#: (case prefix, inputs, the function's name in tt.nn and in torch.nn.functional): called as f(pred, target, reduction)
PLAIN: list[tuple[str, Callable[[np.random.Generator], list[Array]], str]] = [
    ("mse", _pair(), "mse_loss"),
    ("l1", _pair(), "l1_loss"),
    ("smooth_l1", _pair(1.5), "smooth_l1_loss"),
    ("huber", _pair(1.5), "huber_loss"),
    ("bce", _bce(), "binary_cross_entropy_with_logits"),
]


def _plain(
    prefix: str, make: Callable[[np.random.Generator], list[Array]], fn: str, red: Any, rest: str, dtype: type[Any]
) -> LossCase:
    return LossCase(
        f"{prefix}_{red}{rest}",
        make,
        lambda L, p, t: getattr(tt.nn, fn)(p, t, red),
        lambda th, d, p, t: getattr(th.nn.functional, fn)(p, t, reduction=red),
        dtype,
    )


def _pointwise_cases(dtype: type[Any], suffix: str) -> list[LossCase]:
    out: list[LossCase] = []
    for red in REDUCTIONS:
        out += [_plain(prefix, make, fn, red, suffix, dtype) for prefix, make, fn in PLAIN]
        out += [
            LossCase(
                f"bce_pos_weight_{red}{suffix}",
                _bce(),
                lambda L, x, t, r=red: tt.nn.binary_cross_entropy_with_logits(x, t, r, L.f(POS_WEIGHT)),
                lambda th, d, x, t, r=red: th.nn.functional.binary_cross_entropy_with_logits(
                    x, t, reduction=r, pos_weight=_th(th, POS_WEIGHT, d)
                ),
                dtype,
            ),
        ]
        out += [
            LossCase(
                f"bce_weight_pos_weight_{red}{suffix}",
                _bce(),
                lambda L, x, t, r=red: tt.nn.binary_cross_entropy_with_logits(
                    x, t, r, L.f(POS_WEIGHT), weight=L.f(ROW_WEIGHT)
                ),
                lambda th, d, x, t, r=red: th.nn.functional.binary_cross_entropy_with_logits(
                    x, t, reduction=r, pos_weight=_th(th, POS_WEIGHT, d), weight=_th(th, ROW_WEIGHT, d)
                ),
                dtype,
            ),
            LossCase(
                f"bce_probs_weight_{red}{suffix}",
                _bce_probs,
                lambda L, p, t, r=red: tt.nn.binary_cross_entropy(p, t, r, weight=L.f(POS_WEIGHT)),
                lambda th, d, p, t, r=red: th.nn.functional.binary_cross_entropy(
                    p, t, reduction=r, weight=_th(th, POS_WEIGHT, d)
                ),
                dtype,
            ),
            _plain("bce_probs", _bce_probs, "binary_cross_entropy", red, suffix, dtype),
        ]
    for red in KL_REDUCTIONS:
        out += [
            LossCase(
                f"kl_{red}{suffix}",
                _kl,
                lambda L, x, t, r=red: tt.nn.kl_div(x, t, r),
                lambda th, d, x, t, r=red: th.nn.functional.kl_div(x, t, reduction=r),
                dtype,
            ),
            LossCase(
                f"kl_log_target_{red}{suffix}",
                _kl_log,
                lambda L, x, t, r=red: tt.nn.kl_div(x, t, r, log_target=True),
                lambda th, d, x, t, r=red: th.nn.functional.kl_div(x, t, reduction=r, log_target=True),
                dtype,
            ),
        ]
    return out


#: a target with zeros (its terms are 0, as PyTorch's xlogy), constant: d/dt is -inf there
KL_ZERO = np.where(np.arange(B * K).reshape(B, K) % 3 == 0, 0.0, 0.25)

CASES: list[LossCase] = [
    *_ce_cases(np.float64, ""),
    *_ce_cases(np.float32, "_f32"),
    *_pointwise_cases(np.float64, ""),
    *_pointwise_cases(np.float32, "_f32"),
    LossCase(
        "ce_ignore_index_2_mean",
        _logits,
        lambda L, z: tt.nn.cross_entropy(z, L.i(ALL_LABELS), ignore_index=2),
        lambda th, d, z: th.nn.functional.cross_entropy(z, _th(th, ALL_LABELS, th.int64), ignore_index=2),
    ),
    LossCase(
        "ce_weight_ignore_smoothing_mean",
        _logits,
        lambda L, z: tt.nn.cross_entropy(z, L.i(LABELS), weight=L.f(WEIGHT), label_smoothing=0.2),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, LABELS, th.int64), weight=_th(th, WEIGHT, d), label_smoothing=0.2
        ),
    ),
    LossCase(
        "ce_weight_ignore_smoothing_none",
        _logits,
        lambda L, z: tt.nn.cross_entropy(z, L.i(LABELS), "none", weight=L.f(WEIGHT), label_smoothing=0.2),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, LABELS, th.int64), weight=_th(th, WEIGHT, d), label_smoothing=0.2, reduction="none"
        ),
    ),
    LossCase(
        "ce_soft_weight_smoothing_mean",
        _soft,
        lambda L, z: tt.nn.cross_entropy(z, L.f(SOFT), weight=L.f(WEIGHT), label_smoothing=0.3),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, SOFT, d), weight=_th(th, WEIGHT, d), label_smoothing=0.3
        ),
    ),
    LossCase(
        "nll_plain_mean",
        _log_probs,
        lambda L, x: tt.nn.nll_loss(x, L.i(ALL_LABELS)),
        lambda th, d, x: th.nn.functional.nll_loss(x, _th(th, ALL_LABELS, th.int64)),
    ),
    LossCase(
        "nll_ignore_index_0_sum",
        _log_probs,
        lambda L, x: tt.nn.nll_loss(x, L.i(ALL_LABELS), "sum", ignore_index=0),
        lambda th, d, x: th.nn.functional.nll_loss(x, _th(th, ALL_LABELS, th.int64), reduction="sum", ignore_index=0),
    ),
    LossCase(
        "smooth_l1_beta_half_mean",
        _pair(),
        lambda L, p, t: tt.nn.smooth_l1_loss(p, t, beta=0.5),
        lambda th, d, p, t: th.nn.functional.smooth_l1_loss(p, t, beta=0.5),
    ),
    LossCase(
        "smooth_l1_beta_zero_none",
        _pair(),
        lambda L, p, t: tt.nn.smooth_l1_loss(p, t, "none", beta=0.0),
        lambda th, d, p, t: th.nn.functional.smooth_l1_loss(p, t, reduction="none", beta=0.0),
    ),
    LossCase(
        "huber_delta_2_none",
        _pair(2.0),
        lambda L, p, t: tt.nn.huber_loss(p, t, "none", delta=2.0),
        lambda th, d, p, t: th.nn.functional.huber_loss(p, t, reduction="none", delta=2.0),
    ),
    LossCase(
        "huber_delta_quarter_mean",
        _pair(),
        lambda L, p, t: tt.nn.huber_loss(p, t, delta=0.25),
        lambda th, d, p, t: th.nn.functional.huber_loss(p, t, delta=0.25),
    ),
    LossCase(
        "bce_pos_weight_rank3_none",
        lambda rng: [2.0 * rng.standard_normal((2, 3, K)), rng.uniform(0.0, 1.0, (2, 3, K))],
        lambda L, x, t: tt.nn.binary_cross_entropy_with_logits(x, t, "none", L.f(POS_WEIGHT)),
        lambda th, d, x, t: th.nn.functional.binary_cross_entropy_with_logits(
            x, t, reduction="none", pos_weight=_th(th, POS_WEIGHT, d)
        ),
    ),
    LossCase(
        "bce_large_logits_pos_weight_none_f32",
        lambda rng: [1e4 * rng.standard_normal((B, K)), rng.uniform(0.0, 1.0, (B, K))],
        lambda L, x, t: tt.nn.binary_cross_entropy_with_logits(x, t, "none", L.f(POS_WEIGHT)),
        lambda th, d, x, t: th.nn.functional.binary_cross_entropy_with_logits(
            x, t, reduction="none", pos_weight=_th(th, POS_WEIGHT, d)
        ),
        np.float32,
    ),
    LossCase(
        "ce_kdim_smoothing_ignore_index_2_mean",
        _logits_k,
        lambda L, z: tt.nn.cross_entropy(z, L.i(np.abs(LABELS_K) % K), label_smoothing=0.1, ignore_index=2),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, np.abs(LABELS_K) % K, th.int64), label_smoothing=0.1, ignore_index=2
        ),
    ),
    LossCase(
        "ce_seq_none",
        lambda rng: [rng.standard_normal((B2, K, 7))],
        lambda L, z: tt.nn.cross_entropy(z, L.i(np.arange(B2 * 7).reshape(B2, 7) % K), "none"),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, np.arange(B2 * 7).reshape(B2, 7) % K, th.int64), reduction="none"
        ),
    ),
    LossCase(
        "ce_rank5_weight_sum",
        lambda rng: [rng.standard_normal((2, K, 2, 3, 2))],
        lambda L, z: tt.nn.cross_entropy(z, L.i(np.arange(24).reshape(2, 2, 3, 2) % K), "sum", weight=L.f(WEIGHT)),
        lambda th, d, z: th.nn.functional.cross_entropy(
            z, _th(th, np.arange(24).reshape(2, 2, 3, 2) % K, th.int64), reduction="sum", weight=_th(th, WEIGHT, d)
        ),
    ),
    LossCase(
        "bce_weight_full_shape_none",
        _bce(),
        lambda L, x, t: tt.nn.binary_cross_entropy_with_logits(
            x, t, "none", weight=L.f(_probs(np.random.default_rng(3)))
        ),
        lambda th, d, x, t: th.nn.functional.binary_cross_entropy_with_logits(
            x, t, reduction="none", weight=_th(th, _probs(np.random.default_rng(3)), d)
        ),
    ),
    LossCase(
        "bce_probs_row_weight_mean",
        _bce_probs,
        lambda L, p, t: tt.nn.binary_cross_entropy(p, t, weight=L.f(ROW_WEIGHT)),
        lambda th, d, p, t: th.nn.functional.binary_cross_entropy(p, t, weight=_th(th, ROW_WEIGHT, d)),
    ),
    LossCase(
        "kl_zero_target_batchmean",
        lambda rng: _log_probs(rng),
        lambda L, x: tt.nn.kl_div(x, L.f(KL_ZERO), "batchmean"),
        lambda th, d, x: th.nn.functional.kl_div(x, _th(th, KL_ZERO, d), reduction="batchmean"),
    ),
]


def run_ours(case: LossCase, xs: list[Array], view: View = np.ascontiguousarray) -> dict[str, Array]:
    """typedtensor's output (``out``) and input gradients (``g0``, ``g1``) in the case's dtype."""
    lay = Lay(case.dtype, view)
    ts = [lay.f(x).leaky_trace() for x in xs]
    out = case.ours(lay, *ts)
    grads = (out * tt.tensor(case.weight(out.shape))).sum().backward()
    result = {"out": out.numpy().copy()}
    for i, t in enumerate(ts):
        result[f"g{i}"] = grads.get(t).numpy().copy()
    return result


def run_torch(case: LossCase, xs: list[Array]) -> dict[str, Array]:
    """The same from ``torch.nn.functional`` in the case's dtype."""
    th: Any = importlib.import_module("torch")  # optional, untyped: the golden data covers its absence
    dt = getattr(th, np.dtype(case.dtype).name)
    ts = [th.tensor(x, dtype=dt, requires_grad=True) for x in xs]
    with warnings.catch_warnings():  # kl_div's "mean" warns that it is not "batchmean": kept for parity
        warnings.simplefilter("ignore", UserWarning)
        out = case.torch(th, dt, *ts)
    (out * th.as_tensor(case.weight(tuple(out.shape)))).sum().backward()
    result = {"out": out.detach().numpy().copy()}
    for i, t in enumerate(ts):
        result[f"g{i}"] = t.grad.numpy().copy()
    return result
