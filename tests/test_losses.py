# pyright: reportUnknownLambdaType=false, reportUnknownArgumentType=false, reportUnknownVariableType=false, reportUnknownMemberType=false
"""The losses against PyTorch (golden data and live), finite differences in float64, every memory layout,
float32, the edge cases (every item ignored, an empty batch, huge logits) and the input errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.fd import numeric_gradient
from tests.lossspec import CASES, LAYOUTS, WEIGHT, Lay, LossCase, run_ours, run_torch
from typedtensor import nn

Array = NDArray[Any]
GOLDEN = np.load(Path(__file__).parent / "golden" / "losses.npz")
IDS = [c.name for c in CASES]
#: (rtol, atol) against PyTorch per dtype (float32: both round differently, a few ulps)
TOLERANCE: dict[type[Any], tuple[float, float]] = {np.float64: (1e-12, 1e-13), np.float32: (2e-5, 2e-6)}
F64 = [c for c in CASES if c.dtype == np.float64]


def _compare(case: LossCase, ours: dict[str, Array], theirs: dict[str, Array]) -> None:
    assert sorted(ours) == sorted(theirs)
    rtol, atol = TOLERANCE[case.dtype]
    for key, value in theirs.items():
        assert ours[key].dtype == np.dtype(case.dtype), key
        assert ours[key].shape == value.shape, key
        np.testing.assert_allclose(ours[key], value, rtol=rtol, atol=atol, err_msg=f"{case.name} {key}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_golden(case: LossCase) -> None:
    xs = case.inputs()
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(x, GOLDEN[f"{case.name}/x{i}"])
    theirs = {k[len(case.name) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(f"{case.name}/")}
    theirs = {k: v for k, v in theirs.items() if not k.startswith("x")}
    _compare(case, run_ours(case, xs), theirs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_live(case: LossCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers the losses")
    xs = case.inputs()
    _compare(case, run_ours(case, xs), run_torch(case, xs))


@pytest.mark.parametrize("case", F64, ids=[c.name for c in F64])
def test_gradients_match_finite_differences(case: LossCase) -> None:
    xs = case.inputs()
    ours = run_ours(case, xs)
    w = tt.tensor(case.weight(ours["out"].shape))
    lay = Lay(np.float64)

    def loss(arrays: list[Array]) -> float:
        return float((case.ours(lay, *[lay.f(a) for a in arrays]) * w).sum().item())

    for i in range(len(xs)):
        np.testing.assert_allclose(numeric_gradient(loss, xs, i), ours[f"g{i}"], rtol=1e-6, atol=1e-7, err_msg=f"g{i}")


@pytest.mark.parametrize("layout", [k for k in LAYOUTS if k != "C"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_layout_gives_the_c_result(case: LossCase, layout: str) -> None:
    """Inputs, labels, weights and targets in F order, strided and with negative strides: the C result."""
    xs = case.inputs()
    view = LAYOUTS[layout]
    assert not all(view(x).flags.c_contiguous for x in xs)
    rtol, atol = TOLERANCE[case.dtype]
    c, other = run_ours(case, xs), run_ours(case, xs, view)
    for key, value in c.items():
        np.testing.assert_allclose(other[key], value, rtol=rtol, atol=atol, err_msg=key)


# ---------------------------------------------------------------- edge cases


def _labels(values: list[int]) -> tt.Tensor[tuple[Any, ...], np.int64, tt.NoneTape]:
    return tt.tensor(np.array(values, dtype=np.int64), np.int64)


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch is not installed: checked against its documented result")


_HARD: dict[str, Callable[..., Any]] = {
    "cross_entropy": lambda z, y, r, **kw: nn.cross_entropy(z, y, r, **kw),
    "cross_entropy_smoothing": lambda z, y, r, **kw: nn.cross_entropy(z, y, r, label_smoothing=0.1, **kw),
    "nll_loss": lambda z, y, r, **kw: nn.nll_loss(z, y, r, **kw),
}
_TORCH_HARD: dict[str, Callable[..., Any]] = {
    "cross_entropy": lambda F, z, y, r, **kw: F.cross_entropy(z, y, reduction=r, **kw),
    "cross_entropy_smoothing": lambda F, z, y, r, **kw: F.cross_entropy(z, y, reduction=r, label_smoothing=0.1, **kw),
    "nll_loss": lambda F, z, y, r, **kw: F.nll_loss(z, y, reduction=r, **kw),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", list(_HARD))
def test_every_item_ignored(loss: str, reduction: str, weighted: bool) -> None:
    """The mean over no items is NaN with a zero gradient, the sum 0, 'none' zeros: PyTorch's results."""
    z = np.random.default_rng(0).standard_normal((3, 4))
    kw: dict[str, Any] = {"weight": tt.tensor(WEIGHT)} if weighted else {}
    zt = tt.tensor(z).leaky_trace()
    out = _HARD[loss](zt, _labels([-100, -100, -100]), reduction, **kw)
    got = out.numpy()
    if reduction == "mean":
        assert np.isnan(got)
    else:
        np.testing.assert_array_equal(got, np.zeros(got.shape))
    grads = (out * tt.tensor(np.ones(out.shape))).sum().backward()
    np.testing.assert_array_equal(grads.get(zt).numpy(), np.zeros((3, 4)))
    th = _torch()
    tz = th.tensor(z, requires_grad=True)
    tkw = {"weight": th.as_tensor(WEIGHT)} if weighted else {}
    ref = _TORCH_HARD[loss](th.nn.functional, tz, th.full((3,), -100), reduction, **tkw)
    ref.sum().backward()
    np.testing.assert_array_equal(got, ref.detach().numpy())
    np.testing.assert_array_equal(grads.get(zt).numpy(), tz.grad.numpy())


_E = tt.zeros((0, 4), np.float64)
_EMPTY: dict[str, Callable[[Any, Any], Any]] = {
    "cross_entropy": lambda p, r: nn.cross_entropy(p, _labels([]), r),
    "cross_entropy_probs": lambda p, r: nn.cross_entropy(p, _E, r),
    "nll_loss": lambda p, r: nn.nll_loss(p, _labels([]), r),
    "l1_loss": lambda p, r: nn.l1_loss(p, _E, r),
    "smooth_l1_loss": lambda p, r: nn.smooth_l1_loss(p, _E, r),
    "huber_loss": lambda p, r: nn.huber_loss(p, _E, r),
    "mse_loss": lambda p, r: nn.mse_loss(p, _E, r),
    "bce": lambda p, r: nn.binary_cross_entropy_with_logits(p, _E, r),
    "bce_weight": lambda p, r: nn.binary_cross_entropy_with_logits(p, _E, r, weight=tt.ones((4,), np.float64)),
    "bce_probs": lambda p, r: nn.binary_cross_entropy(p, _E, r),
    "kl_div": lambda p, r: nn.kl_div(p, _E, r),
    "kl_div_batchmean": lambda p, r: nn.kl_div(p, _E, "batchmean" if r == "mean" else r),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", list(_EMPTY))
def test_empty_batch(loss: str, reduction: str) -> None:
    """An empty batch: NaN for a mean (PyTorch's 0 / 0), 0 for the sum, an empty 'none'; backward runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning escapes either
        p = tt.zeros((0, 4), np.float64).leaky_trace()
        out = _EMPTY[loss](p, reduction)
        got = out.numpy()
        grads = (out * tt.tensor(np.ones(out.shape))).sum().backward()
    if reduction == "mean":
        assert got.shape == ()
        assert np.isnan(got)
    elif reduction == "sum":
        assert got.shape == ()
        assert got == 0.0
    else:
        assert got.shape[0] == 0
    assert grads.get(p).shape == (0, 4)


def test_labels_equal_to_ignore_index_in_range_are_ignored() -> None:
    z = tt.randn((3, 4), seed=1, dtype=np.float64)
    per = nn.cross_entropy(z, _labels([2, 1, 2]), "none", ignore_index=2).numpy()
    np.testing.assert_array_equal(per[[0, 2]], [0.0, 0.0])
    assert per[1] > 0.0
    assert nn.nll_loss(z, _labels([2, 1, 2]), ignore_index=2).item() == -z.numpy()[1, 1]


@pytest.mark.parametrize("checks", [True, False])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize(
    ("labels", "shown"), [([0, 4, 1], "got 4 at position 1"), ([0, 1, -1], "got -1 at position 2")]
)
def test_labels_out_of_range_are_a_clear_error(loss: str, labels: list[int], shown: str, checks: bool) -> None:
    z = tt.randn((3, 4), seed=0)
    with tt.checks(checks), pytest.raises(tt.TypedTensorError, match=rf"labels must be in \[0, 4\).*{shown}"):
        _HARD[loss](z, _labels(labels), "mean")


def test_huge_logits_do_not_overflow() -> None:
    """|logits| ~ 1e4 in float32: the log-sum-exp form, finite and exact (no NumPy overflow on the way)."""
    x = np.array([[1e4, -1e4, 3e4, -3e4]], dtype=np.float32)
    t = np.array([[0.0, 1.0, 0.25, 0.5]], dtype=np.float32)
    xt = tt.tensor(x).leaky_trace()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the intent
        out = nn.binary_cross_entropy_with_logits(
            xt, tt.tensor(t), "none", tt.tensor(np.array([1.0, 2.0, 1.0, 1.0], dtype=np.float32))
        )
        grad = out.sum().backward().get(xt).numpy()
    np.testing.assert_allclose(out.numpy(), [[1e4, 2e4, 2.25e4, 1.5e4]], rtol=1e-6)
    np.testing.assert_allclose(grad, [[1.0, -2.0, 0.75, -0.5]], rtol=1e-6)


def test_tapes_of_the_result() -> None:
    """The loss carries the prediction's tape, or the target's when only that one is traced (it gets a gradient);
    traced labels are accepted and get none."""
    p = tt.randn((2, 3), seed=0, dtype=np.float64)
    t = tt.randn((2, 3), seed=1, dtype=np.float64).leaky_trace()
    loss = nn.l1_loss(p, t)
    assert loss.traced
    np.testing.assert_array_equal(loss.backward().get(t).numpy(), -np.sign(p.numpy() - t.numpy()) / 6)
    assert not nn.huber_loss(p, p).traced
    labels = tt.tensor(np.array([0, 2]), np.int64).leaky_trace()
    assert nn.nll_loss(p.leaky_trace(), labels).traced
    assert not nn.cross_entropy(p, labels).traced


# ---------------------------------------------------------------- input errors

_Z = tt.randn((3, 4), seed=0, dtype=np.float64)
_P = tt.randn((3, 4), seed=1, dtype=np.float64)
_Y = _labels([0, 1, 2])
_Q = tt.tensor(np.where(np.arange(12).reshape(3, 4) == 6, 1.5, 0.5))
_HALF = tt.tensor(np.full((3, 4), 0.5))
_QN = tt.tensor(np.where(np.arange(12).reshape(3, 4) == 0, np.nan, 0.5))
_ZK = tt.randn((2, 4, 3, 5), seed=2, dtype=np.float64)
_ZI = tt.tensor(np.array([[1, 2, 3], [0, 5, 1]]), np.int64)
_ZB = tt.tensor(np.array([[True, False], [False, False]]), np.bool_)
_YK_BAD = tt.tensor(np.where(np.arange(30).reshape(2, 3, 5) == 28, 4, 1), np.int64)
#: deliberately ill-typed calls (the checkers reject them statically): through Any
nn_: Any = nn
tt_: Any = tt

ERRORS: list[tuple[str, type[Exception], str, Callable[[], object]]] = [
    ("ce weight shape", tt.ShapeError, r"weight of shape \(4,\), got \(3,\)", lambda: nn_.cross_entropy(_Z, _Y, weight=tt_.zeros((3,), np.float64))),
    ("ce weight dtype", tt.DTypeError, "weight of dtype float64, got float32", lambda: nn_.cross_entropy(_Z, _Y, weight=tt_.zeros((4,)))),
    ("ce probs shape", tt.ShapeError, r"\(3, 4\), got \(3, 5\)", lambda: nn_.cross_entropy(_Z, tt_.zeros((3, 5), np.float64))),
    ("ce probs dtype", tt.DTypeError, "float64, got float32", lambda: nn_.cross_entropy(_Z, tt_.zeros((3, 4)))),
    ("ce probs ignore_index", tt.TypedTensorError, "ignore_index applies to class indices", lambda: nn_.cross_entropy(_Z, _P, ignore_index=0)),
    ("ce ignore_index not int", tt.TypedTensorError, "ignore_index must be an integer", lambda: nn_.cross_entropy(_Z, _Y, ignore_index=1.5)),
    ("ce no classes", tt.ShapeError, "at least one class", lambda: nn_.cross_entropy(tt_.zeros((3, 0), np.float64), _Y)),
    ("nll float labels", tt.DTypeError, "integer class indices", lambda: nn_.nll_loss(_Z, tt_.zeros((3,), np.float64))),
    ("nll labels shape", tt.ShapeError, r"\(2,\)", lambda: nn_.nll_loss(_Z, _labels([0, 1]))),
    ("nll reduction", tt.TypedTensorError, "reduction", lambda: nn_.nll_loss(_Z, _Y, "avg")),
    ("l1 shapes", tt.ShapeError, r"\(3, 4\), got \(4, 3\)", lambda: nn_.l1_loss(_Z, tt_.zeros((4, 3), np.float64))),
    ("l1 dtypes", tt.DTypeError, "float64 and float32", lambda: nn_.l1_loss(_Z, tt_.zeros((3, 4)))),
    ("l1 ndarray", tt.DTypeError, "ndarray", lambda: nn_.l1_loss(_Z, np.zeros((3, 4)))),
    ("smooth_l1 beta", tt.TypedTensorError, "beta must be >= 0", lambda: nn_.smooth_l1_loss(_Z, _P, beta=-1.0)),
    ("huber delta", tt.TypedTensorError, "delta must be > 0", lambda: nn_.huber_loss(_Z, _P, delta=0.0)),
    ("bce pos_weight shape", tt.ShapeError, r"broadcastable to the logits' shape \(3, 4\)", lambda: nn_.binary_cross_entropy_with_logits(_Z, _P, pos_weight=tt_.zeros((3,), np.float64))),
    ("bce pos_weight dtype", tt.DTypeError, "pos_weight of the logits' dtype", lambda: nn_.binary_cross_entropy_with_logits(_Z, _P, pos_weight=tt_.zeros((4,)))),
    ("bce weight shape", tt.ShapeError, r"weight broadcastable to the logits' shape \(3, 4\)", lambda: nn_.binary_cross_entropy_with_logits(_Z, _P, weight=tt_.zeros((3,), np.float64))),
    ("bce weight dtype", tt.DTypeError, "weight of the logits' dtype", lambda: nn_.binary_cross_entropy_with_logits(_Z, _P, weight=tt_.zeros((4,)))),
    ("bce weight larger", tt.ShapeError, r"got \(2, 3, 4\)", lambda: nn_.binary_cross_entropy_with_logits(_Z, _P, weight=tt_.zeros((2, 3, 4), np.float64))),
    ("bce probs above 1", tt.TypedTensorError, r"in \[0, 1\], got 1.5 at position \(1, 2\)", lambda: nn_.binary_cross_entropy(_Q, _Q)),
    ("bce probs NaN", tt.TypedTensorError, r"got nan at position \(0, 0\)", lambda: nn_.binary_cross_entropy(_QN, _Q)),
    ("bce probs weight shape", tt.ShapeError, r"probabilities' shape \(3, 4\)", lambda: nn_.binary_cross_entropy(_HALF, _HALF, weight=tt_.zeros((5,), np.float64))),
    ("ce kdim labels shape", tt.ShapeError, r"\(B, d1, ..., dk\), got \(2, 4, 3, 5\) and \(2, 5\)", lambda: nn_.cross_entropy(_ZK, tt_.tensor(np.zeros((2, 5)), np.int64))),
    ("ce kdim label out of range", tt.TypedTensorError, r"got 4 at position \(1, 2, 3\)", lambda: nn_.cross_entropy(_ZK, _YK_BAD)),
    ("ce kdim probs shape", tt.ShapeError, r"\(2, 4, 3, 5\), got \(2, 4, 5, 3\)", lambda: nn_.cross_entropy(_ZK, tt_.zeros((2, 4, 5, 3), np.float64))),
    ("ce kdim float labels", tt.DTypeError, "integer class indices", lambda: nn_.cross_entropy(_ZK, tt_.zeros((2, 3, 5), np.float64))),
    ("ce unbatched", tt.ShapeError, r"x.unsqueeze\(0\)", lambda: nn_.cross_entropy(tt_.zeros((4,), np.float64), tt_.tensor(np.array(1), np.int64))),
    ("nll kdim no classes", tt.ShapeError, "at least one class", lambda: nn_.nll_loss(tt_.zeros((2, 0, 3), np.float64), tt_.tensor(np.zeros((2, 3)), np.int64))),
    ("mse none shapes", tt.ShapeError, r"\(3, 4\) and \(4, 3\)", lambda: nn_.mse_loss(_Z, tt_.zeros((4, 3), np.float64), "none")),
    ("kl reduction", tt.TypedTensorError, "reduction", lambda: nn_.kl_div(_Z, _P, "avg")),
    ("kl log_target", tt.TypedTensorError, "log_target must be True or False", lambda: nn_.kl_div(_Z, _P, log_target=1)),
    # integer or bool scores: refused (they gave a truncated integer loss; PyTorch refuses them too)
    ("ce int logits", tt.DTypeError, "float scores, got int64", lambda: nn_.cross_entropy(_ZI, _labels([0, 2]))),
    ("ce int logits traced", tt.DTypeError, "float scores, got int64", lambda: nn_.cross_entropy(_ZI.leaky_trace(), _labels([0, 2]))),
    ("nll int log_probs", tt.DTypeError, "float scores, got int64", lambda: nn_.nll_loss(_ZI, _labels([0, 2]))),
    ("mse int pred", tt.DTypeError, "float prediction, got int64", lambda: nn_.mse_loss(_ZI, _ZI)),
    ("mse bool pred", tt.DTypeError, "float prediction, got bool", lambda: nn_.mse_loss(_ZB, _ZB)),
]  # fmt: skip


@pytest.mark.parametrize("checks", [True, False])
@pytest.mark.parametrize(("name", "error", "shown", "call"), ERRORS, ids=[e[0] for e in ERRORS])
def test_input_errors(name: str, error: type[Exception], shown: str, call: Callable[[], object], checks: bool) -> None:
    """One error class whatever the checks switch; with checks off the loss's own message says what to fix."""
    with tt.checks(checks), pytest.raises(error) as info:
        call()
    if not checks:
        assert info.match(shown)


def test_kl_mean_is_not_batchmean() -> None:
    """PyTorch's 'mean' divides by the element count, 'batchmean' by the batch: both kept, as named."""
    lp = np.log(np.full((2, 4), 0.25))
    target = tt.tensor(np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]))
    total = nn.kl_div(tt.tensor(lp), target, "sum").item()
    assert nn.kl_div(tt.tensor(lp), target, "batchmean").item() == pytest.approx(total / 2)
    assert nn.kl_div(tt.tensor(lp), target).item() == pytest.approx(total / 8)


def test_kl_negative_target_is_nan_as_pytorch() -> None:
    """A target below 0 is no probability: its term is NaN (PyTorch's xlogy), never a silent number."""
    x = np.log(np.full((1, 3), 1 / 3))
    t = np.array([[0.5, -0.25, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = nn.kl_div(tt.tensor(x), tt.tensor(t), "none").numpy()
    assert np.isnan(got[0, 1])
    assert got[0, 2] == 0.0
    th = _torch()
    ref = th.nn.functional.kl_div(th.as_tensor(x), th.as_tensor(t), reduction="none").numpy()
    np.testing.assert_array_equal(got, ref)


def test_binary_cross_entropy_at_zero_and_one_is_pytorchs_floored_log() -> None:
    """Probabilities 0 and 1: each log floored at -100 (a finite loss), the gradient's p (1 - p) at PyTorch's
    float 1e-12: the documented values, and PyTorch's live."""
    p = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]])
    t = np.array([[0.25, 0.25, 0.0, 1.0, 1.0]])
    pt = tt.tensor(p).leaky_trace()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning escapes
        out = nn.binary_cross_entropy(pt, tt.tensor(t), "none")
        grad = out.sum().backward().get(pt).numpy()
    np.testing.assert_array_equal(out.numpy(), [[25.0, 75.0, 0.0, 0.0, np.log(2.0)]])
    eps = float(np.float32(1e-12))
    np.testing.assert_array_equal(grad, [[-0.25 / eps, 0.75 / eps, 0.0, 0.0, -2.0]])
    th = _torch()
    tp = th.tensor(p, requires_grad=True)
    ref = th.nn.functional.binary_cross_entropy(tp, th.as_tensor(t), reduction="none")
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-15)


def test_kdim_class_losses_are_the_rows_of_the_moved_class_axis() -> None:
    """(B, K, H, W) scores are (B H W, K) rows: the same values and gradients as the 2-D loss on those rows."""
    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, 3, 4, 5))
    y = rng.integers(0, 3, (2, 4, 5))
    rows = np.moveaxis(z, 1, -1).reshape(-1, 3)
    for reduction in ("mean", "sum", "none"):
        zt, rt = tt.tensor(z).leaky_trace(), tt.tensor(rows).leaky_trace()
        kdim = nn.cross_entropy(zt, tt.tensor(y, np.int64), reduction, label_smoothing=0.1)
        flat = nn.cross_entropy(rt, tt.tensor(y.reshape(-1), np.int64), reduction, label_smoothing=0.1)
        np.testing.assert_allclose(kdim.numpy().reshape(-1), flat.numpy().reshape(-1), rtol=1e-14)
        gk = (kdim * tt.tensor(np.ones(kdim.shape))).sum().backward().get(zt).numpy()
        gf = (flat * tt.tensor(np.ones(flat.shape))).sum().backward().get(rt).numpy()
        assert gk.flags.c_contiguous
        np.testing.assert_allclose(np.moveaxis(gk, 1, -1).reshape(-1, 3), gf, rtol=1e-14)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_kdim_with_an_empty_spatial_dim(loss: str) -> None:
    """(B, K, 0) scores: no positions, so a NaN mean (PyTorch's 0 / 0), a 0 sum, a (B, 0) 'none'."""
    z = tt.zeros((2, 4, 0), np.float64).leaky_trace()
    y = tt.tensor(np.zeros((2, 0), np.int64), np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(_HARD[loss](z, y, "mean").item())
        assert _HARD[loss](z, y, "sum").item() == 0.0
        out = _HARD[loss](z, y, "none")
        assert out.shape == (2, 0)
        assert (out * tt.zeros((2, 0), np.float64)).sum().backward().get(z).shape == (2, 4, 0)
