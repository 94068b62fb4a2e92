"""Issue 14's layers: Identity, LeakyReLU, SiLU, Softplus. PyTorch parity (golden data and live), finite
differences in float64, memory layouts, dtypes, tapes and option errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from tests.fd import numeric_gradient
from tests.layers14spec import LAYER14_CASES, group_norm
from tests.layerspec import LayerCase, inputs, run_ours, run_torch
from tests.layouts import layouts
from typedtensor import extend as ext
from typedtensor import nn

GOLDEN = np.load(Path(__file__).parent / "golden" / "layers14.npz")
IDS = [c.name for c in LAYER14_CASES]
ACTIVATIONS: dict[str, Any] = {
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "silu": nn.SiLU,
    "softplus": lambda: nn.Softplus(2.0, 1.0),
    "identity": nn.Identity,
}


def _compare(ours: dict[str, Any], theirs: dict[str, Any], name: str) -> None:
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-12, err_msg=f"{name} {key}")


@pytest.mark.parametrize("case", LAYER14_CASES, ids=IDS)
def test_matches_pytorch_golden(case: LayerCase) -> None:
    x, w = inputs(case)
    np.testing.assert_array_equal(x, GOLDEN[f"{case.name}/x"])
    ours = run_ours(case, x, w)
    for key, value in ours.items():
        if key.startswith("p/"):
            np.testing.assert_array_equal(value, GOLDEN[f"{case.name}/{key}"])
    theirs = {k[len(case.name) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(f"{case.name}/")}
    _compare(ours, {k: v for k, v in theirs.items() if not k.startswith(("p/", "x"))}, case.name)


@pytest.mark.parametrize("case", LAYER14_CASES, ids=IDS)
def test_matches_pytorch_live(case: LayerCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this layer")
    x, w = inputs(case)
    ours = run_ours(case, x, w)
    params = {k[2:]: v for k, v in ours.items() if k.startswith("p/")}
    _compare(ours, run_torch(case, x, w, params), case.name)


@pytest.mark.parametrize("case", LAYER14_CASES, ids=IDS)
def test_gradients_match_finite_differences(case: LayerCase) -> None:
    x, w = inputs(case)
    module: Any = case.ours()

    def loss(values: list[np.ndarray[Any, Any]]) -> float:
        return float((module.forward(tt.tensor(values[0], np.float64)).numpy() * w).sum())

    x = x + np.where(np.abs(x) < 1e-3, 0.01, 0.0)  # no input at a kink, where differences straddle it
    got = run_ours(case, x, w)["gx"]
    np.testing.assert_allclose(got, numeric_gradient(loss, [x], 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast"])
def test_every_layout_gives_the_c_result(name: str, layout: str) -> None:
    rng = np.random.default_rng(3)
    values = layouts(rng.standard_normal((4, 6)) * 3)[layout]
    g = rng.standard_normal((4, 6))
    module: Any = ACTIVATIONS[name]()

    def run(xt: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        out = module.forward_mut(xt)
        grads = (out * tt.tensor(g)).sum().backward()
        return out.numpy().copy(), grads.get(xt).numpy().copy()

    want = run(tt.tensor(np.ascontiguousarray(values), np.float64).leaky_trace())
    got = run(ext.wrap(values).leaky_trace())  # the array itself, in its layout
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float32, 2e-6), (np.float16, 2e-3)])
def test_float32_and_float16_keep_their_dtype_and_values(name: str, dtype: type[Any], rtol: float) -> None:
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    g = rng.standard_normal((5, 7)).astype(dtype)
    module: Any = ACTIVATIONS[name]()
    results: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    for dt in (dtype, np.float64):
        xt = tt.tensor(x.astype(dt), dt).leaky_trace()
        out = module.forward_mut(xt)
        grad = (out * tt.tensor(g.astype(dt), dt)).sum().backward().get(xt)
        assert out.dtype == dt
        assert grad.dtype == dt
        results.append((out.numpy(), grad.numpy()))
    (out, grad), (want_out, want_grad) = results
    np.testing.assert_allclose(out, want_out, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_the_output_carries_the_input_tape(name: str) -> None:
    module: Any = ACTIVATIONS[name]()
    x = tt.randn((2, 3), seed=0)
    assert not module.forward(x).traced
    assert not module.forward_mut(x).traced
    assert module.forward(x.leaky_trace()).traced
    assert module.forward_mut(x.leaky_trace()).traced


@pytest.mark.parametrize("name", ["leaky_relu", "silu", "softplus"])
def test_integer_input_is_a_dtype_error(name: str) -> None:
    module: Any = ACTIVATIONS[name]()
    with pytest.raises(tt.DTypeError, match=r"expected a float16/32/64 input, got int64.*astype\(np.float32\)"):
        module.forward(tt.tensor(np.arange(4), np.int64))


def test_identity_returns_its_input_and_passes_the_gradient() -> None:
    x = tt.randn((2, 3), seed=1)
    assert nn.Identity().forward(x) is x
    xt = x.leaky_trace()
    assert nn.Identity().forward_mut(xt) is xt
    grads = (nn.Identity().forward_mut(xt) * 2.0).sum().backward()
    np.testing.assert_array_equal(grads.get(xt).numpy(), np.full((2, 3), 2.0, np.float32))
    with pytest.raises(tt.TypedTensorError):
        nn.Identity().forward(np.zeros(3))  # type: ignore[arg-type]


def test_leaky_relu_derivative_at_zero_is_the_slope() -> None:
    xt = tt.tensor(np.array([0.0, -0.0, 1.0, -1.0]), np.float64).leaky_trace()
    grads = nn.LeakyReLU(0.3).forward_mut(xt).sum().backward()
    np.testing.assert_array_equal(grads.get(xt).numpy(), [0.3, 0.3, 1.0, 0.3])


def test_softplus_is_finite_for_large_inputs_below_the_threshold() -> None:
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    for dtype in (np.float16, np.float32, np.float64):
        xt = tt.tensor(x, dtype).leaky_trace()
        out = nn.Softplus(1.0, threshold=1e30).forward_mut(xt)
        grad = out.sum().backward().get(xt).numpy()
        values = out.numpy()
        assert np.isfinite(values).all()
        assert np.isfinite(grad).all()
        np.testing.assert_allclose(values[3:].astype(np.float64), x.astype(dtype)[3:].astype(np.float64), rtol=1e-3)
        assert values[0] == 0
        assert grad[0] == 0
        assert grad[-1] == 1
        np.testing.assert_allclose(values[2], np.log(2), rtol=1e-3)


def test_silu_is_finite_for_large_inputs() -> None:
    xt = tt.tensor(np.array([-1e4, -100.0, 100.0, 1e4]), np.float32).leaky_trace()
    out = nn.SiLU().forward_mut(xt)
    grad = out.sum().backward().get(xt).numpy()
    np.testing.assert_array_equal(out.numpy(), np.array([-0.0, -0.0, 100.0, 1e4], np.float32))
    np.testing.assert_array_equal(grad, np.array([0.0, 0.0, 1.0, 1.0], np.float32))


def test_option_errors_and_repr() -> None:
    with pytest.raises(tt.TypedTensorError, match="LeakyReLU: negative_slope must be a real number"):
        nn.LeakyReLU("0.1")  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="LeakyReLU: negative_slope must be finite"):
        nn.LeakyReLU(float("nan"))
    with pytest.raises(tt.TypedTensorError, match="Softplus: beta must be > 0"):
        nn.Softplus(0.0)
    with pytest.raises(tt.TypedTensorError, match="Softplus: threshold must be finite"):
        nn.Softplus(1.0, float("inf"))
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softplus(2.0, 5.0)) == "Softplus(beta=2.0, threshold=5.0)"
    assert repr(nn.SiLU()) == "SiLU()"
    assert repr(nn.Identity()) == "Identity()"


def _in_layout(x: np.ndarray[Any, Any], layout: str) -> np.ndarray[Any, Any]:
    """x's values in one of tests/layouts.py's layouts, or "channels_last": the channel axis (1) last in memory."""
    if layout != "channels_last":
        return layouts(x)[layout]
    order = (0, *range(2, x.ndim), 1)
    return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))


def _pool_run(module: Any, xt: Any, g: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    out = module.forward_mut(xt)
    grads = (out * tt.tensor(g, g.dtype.type)).sum().backward()
    return out.numpy().copy(), grads.get(xt).numpy().copy()


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_adaptive_avg_pool_every_layout_gives_the_c_result(layout: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 5))
    values = _in_layout(x, layout)
    pool = nn.AdaptiveAvgPool2D((3, 2))
    g = rng.standard_normal((2, 3, 3, 2))
    want = _pool_run(pool, tt.tensor(np.ascontiguousarray(values), np.float64).leaky_trace(), g)
    got = _pool_run(pool, ext.wrap(values).leaky_trace(), g)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-15, atol=1e-15)


def test_adaptive_avg_pool_bins_are_pytorchs() -> None:
    """Every output cell is the mean of its bin, rows floor(i H / oh) to ceil((i + 1) H / oh), for sizes that do
    and do not divide (independent of the matrix form the kernel uses)."""
    rng = np.random.default_rng(6)
    for (h, w), (oh, ow) in [((7, 10), (3, 4)), ((5, 5), (5, 5)), ((3, 4), (5, 7)), ((9, 2), (4, 1)), ((1, 1), (2, 3))]:
        x = rng.standard_normal((2, h, w))
        out = nn.AdaptiveAvgPool2D((oh, ow)).forward(tt.tensor(x, np.float64)).numpy()
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * h // oh, -(-(i + 1) * h // oh))
                cols = slice(j * w // ow, -(-(j + 1) * w // ow))
                np.testing.assert_allclose(out[:, i, j], x[:, rows, cols].mean(axis=(1, 2)), rtol=1e-14)


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float32, 1e-6), (np.float16, 2e-3)])
def test_adaptive_avg_pool_float32_and_float16(dtype: type[Any], rtol: float) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 9, 6)).astype(dtype)
    g = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    pool = nn.AdaptiveAvgPool2D(4)
    out, grad = _pool_run(pool, tt.tensor(x, dtype).leaky_trace(), g)
    want_out, want_grad = _pool_run(
        pool, tt.tensor(x.astype(np.float64), np.float64).leaky_trace(), g.astype(np.float64)
    )
    assert out.dtype == dtype
    assert grad.dtype == dtype
    np.testing.assert_allclose(out, want_out, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol)


def test_adaptive_avg_pool_tape_and_repr() -> None:
    pool = nn.AdaptiveAvgPool2D((2, 3))
    x = tt.randn((1, 2, 4, 4), seed=0)
    assert not pool.forward(x).traced
    assert pool.forward(x.leaky_trace()).traced
    assert pool.forward_mut(x.leaky_trace()).traced
    assert repr(pool) == "AdaptiveAvgPool2D(output_size=(2, 3))"
    assert repr(nn.AdaptiveAvgPool2D(7)) == "AdaptiveAvgPool2D(output_size=(7, 7))"


def test_adaptive_avg_pool_errors() -> None:
    pool: Any = nn.AdaptiveAvgPool2D(2)  # the mistakes below are caught at run time
    make: Any = nn.AdaptiveAvgPool2D
    with pytest.raises(tt.TypedTensorError, match="AdaptiveAvgPool2D: output_size must be"):
        nn.AdaptiveAvgPool2D(0)
    with pytest.raises(tt.TypedTensorError, match="AdaptiveAvgPool2D: output_size must be"):
        make((2, 2, 2))
    with pytest.raises(tt.TypedTensorError, match="AdaptiveAvgPool2D: output_size must be"):
        make((2, None))
    with tt.checks(False):
        with pytest.raises(tt.ShapeError, match=r"expected a \(N, C, H, W\) batch.*got shape \(4, 4\)"):
            pool.forward(tt.zeros((4, 4)))
        with pytest.raises(tt.ShapeError, match=r"height and width >= 1, got shape \(1, 2, 0, 3\)"):
            pool.forward(tt.zeros((1, 2, 0, 3)))
        with pytest.raises(tt.DTypeError, match="needs a float16/32/64 input, got int64"):
            pool.forward(tt.tensor(np.zeros((1, 2, 3, 3)), np.int64))
    with pytest.raises(tt.CheckError):  # a type argument that the value contradicts, caught at the first call
        make[L[3], L[3]](2).forward(tt.zeros((1, 2, 4, 4)))


def test_group_norm_parameter_gradients_match_finite_differences() -> None:
    layer: Any = group_norm(2, 4, 9)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 3))
    w = rng.standard_normal((2, 4, 3))
    params = [layer.weight, layer.bias]

    def loss(values: list[np.ndarray[Any, Any]]) -> float:
        for p, v in zip(params, values[1:], strict=True):
            assert p is not None
            ext.data_mut(p)[...] = v
        return float((layer.forward(tt.tensor(values[0], np.float64)).numpy() * w).sum())

    start = [x] + [ext.data(p).copy() for p in params if p is not None]
    grads = layer.alloc_grads()
    xt = tt.tensor(x, np.float64).trace(grads)
    grads.alloc(xt)
    got = (layer.forward_mut(xt) * tt.tensor(w)).sum().backward()
    analytic = [got.get(xt).numpy()] + [got.get(p).numpy() for p in params if p is not None]
    for i, a in enumerate(analytic):
        np.testing.assert_allclose(a, numeric_gradient(loss, [v.copy() for v in start], i), rtol=1e-6, atol=1e-8)


def _gn_run(layer: Any, xt: Any, g: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    out = layer.forward_mut(xt)
    got = (out * tt.tensor(g, g.dtype.type)).sum().backward()
    return [out.numpy().copy(), got.get(xt).numpy().copy()]


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_group_norm_every_layout_gives_the_c_result(layout: str) -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 6, 3, 5))
    values = _in_layout(x, layout)
    layer = group_norm(3, 6, 10)
    g = rng.standard_normal(x.shape)
    want = _gn_run(layer, tt.tensor(np.ascontiguousarray(values), np.float64).leaky_trace(), g)
    got = _gn_run(layer, ext.wrap(values).leaky_trace(), g)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-5), (np.float16, 1e-2)])
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_group_norm_float32_and_float16(dtype: type[Any], tol: float, offset: float) -> None:
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, 4, 5, 5)) + offset).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    wide: Any = group_norm(2, 4, 11)
    narrow: Any = wide.to_dtype(dtype)
    grads = narrow.alloc_grads()
    xt = tt.tensor(x, dtype).trace(grads)
    grads.alloc(xt)
    out = narrow.forward_mut(xt)
    got = (out * tt.tensor(g, dtype)).sum().backward()
    wgrads = wide.alloc_grads()
    xw = tt.tensor(x.astype(np.float64), np.float64).trace(wgrads)
    wgrads.alloc(xw)
    want_out = wide.forward_mut(xw)
    want = (want_out * tt.tensor(g.astype(np.float64))).sum().backward()
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), want_out.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(got.get(xt).numpy(), want.get(xw).numpy(), rtol=tol, atol=tol * 10)
    for name in ("weight", "bias"):
        ours, ref = got.get(getattr(narrow, name)).numpy(), want.get(getattr(wide, name)).numpy()
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * 50)


def test_group_norm_tape_repr_and_errors() -> None:
    layer: Any = nn.GroupNorm(2, 4)  # int channels: the mistakes below are caught at run time
    x = tt.randn((2, 4, 3), seed=0)
    assert not layer.forward(x).traced
    assert layer.forward(x.leaky_trace()).traced
    assert repr(layer) == "GroupNorm(2, 4, eps=1e-05, affine=True, dtype=float32)"
    assert nn.GroupNorm(2, 4, affine=False).weight is None
    with pytest.raises(tt.TypedTensorError, match="num_groups must divide num_channels, got 3 groups of 4 channels"):
        nn.GroupNorm(3, 4)
    with pytest.raises(tt.TypedTensorError, match="GroupNorm: num_groups must be a positive int"):
        nn.GroupNorm(0, 4)
    with pytest.raises(tt.TypedTensorError, match="GroupNorm: eps must be > 0"):
        nn.GroupNorm(2, 4, eps=0.0)
    with pytest.raises(tt.CheckError, match="C is bound to 4"):
        layer.forward(tt.zeros((2, 6, 3)))
    with tt.checks(False):
        with pytest.raises(tt.ShapeError, match=r"expected input \(B, 4, \*spatial\), got shape \(2, 6, 3\)"):
            layer.forward(tt.zeros((2, 6, 3)))
        with pytest.raises(tt.ShapeError, match=r"expected input \(B, 4, \*spatial\), got shape \(4,\)"):
            layer.forward(tt.zeros((4,)))
    with pytest.raises(tt.DTypeError, match="float32 parameters but the input is float64"):
        layer.forward(tt.zeros((2, 4, 3), np.float64))


def test_group_norm_loads_a_pytorch_state_dict() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    theirs = torch.nn.GroupNorm(2, 6)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(6))
        theirs.bias.copy_(torch.randn(6))
    ours: nn.GroupNorm[int] = nn.GroupNorm(2, 6)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, naming="torch")
    x = np.random.default_rng(12).standard_normal((2, 6, 4, 4)).astype(np.float32)
    expected = theirs(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours.forward(tt.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


UPSAMPLES: dict[str, Any] = {
    "nearest": lambda: nn.Upsample(scale_factor=(1.5, 2.0)),
    "bilinear": lambda: nn.Upsample(size=(7, 11), mode="bilinear"),
    "bilinear_corners": lambda: nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
}


@pytest.mark.parametrize("name", list(UPSAMPLES))
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_upsample_every_layout_gives_the_c_result(name: str, layout: str) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 4, 5))
    values = _in_layout(x, layout)
    module = UPSAMPLES[name]()
    g = rng.standard_normal((2, 3, *module.output_size(4, 5)))
    want = _pool_run(module, tt.tensor(np.ascontiguousarray(values), np.float64).leaky_trace(), g)
    got = _pool_run(module, ext.wrap(values).leaky_trace(), g)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", list(UPSAMPLES))
@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-6), (np.float16, 2e-3)])
def test_upsample_float32_and_float16(name: str, dtype: type[Any], tol: float) -> None:
    rng = np.random.default_rng(14)
    module = UPSAMPLES[name]()
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    g = rng.standard_normal((2, 3, *module.output_size(4, 5))).astype(dtype)
    out, grad = _pool_run(module, tt.tensor(x, dtype).leaky_trace(), g)
    want_out, want_grad = _pool_run(
        module, tt.tensor(x.astype(np.float64), np.float64).leaky_trace(), g.astype(np.float64)
    )
    assert out.dtype == dtype
    assert grad.dtype == dtype
    np.testing.assert_allclose(out, want_out, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=tol, atol=tol * 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale_factor": 1.7},
        {"size": (11, 3)},
        {"scale_factor": 2.3, "mode": "bilinear"},
        {"size": (9, 2), "mode": "bilinear", "align_corners": True},
    ],
)
def test_upsample_matches_pytorch_live_in_float32(kwargs: dict[str, Any]) -> None:
    """float32: nearest's source index is PyTorch's float32 arithmetic (equal values); bilinear's positions and
    weights are float64 here and float32 in PyTorch, a few float32 ulps apart where the two samples cancel."""
    torch: Any = pytest.importorskip("torch", reason="the golden-data tests cover Upsample in float64")
    x = np.random.default_rng(15).standard_normal((2, 3, 7, 6)).astype(np.float32)
    got = nn.Upsample(**kwargs).forward(tt.tensor(x)).numpy()
    want = torch.nn.Upsample(**kwargs)(torch.as_tensor(x)).numpy()
    if kwargs.get("mode", "nearest") == "nearest":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [(1.0954627279994238, 1.149637110151157), (1.05, 1.05), (0.95, 1.3)])
def test_upsample_bilinear_copies_an_axis_whose_size_is_kept(scale: tuple[float, float]) -> None:
    """A scale_factor whose floor keeps an axis's size (10 * 1.095 -> 10) copies that axis, as PyTorch does
    (values and gradients): the factor's sample positions were used (errors up to 2 on unit normal inputs)."""
    x = np.random.default_rng(16).standard_normal((1, 2, 10, 9))
    up = nn.Upsample(scale_factor=scale, mode="bilinear")
    out: Any = up.forward(tt.tensor(x))
    # a kept axis is the factor 1.0 on it (its rows or columns copied), the other axis unchanged
    kept = [math.floor(n * f) == n for n, f in zip((10, 9), scale, strict=True)]
    ones = (1.0 if kept[0] else scale[0], 1.0 if kept[1] else scale[1])
    copied = nn.Upsample(scale_factor=ones, mode="bilinear").forward(tt.tensor(x)).numpy()
    np.testing.assert_array_equal(out.numpy(), copied)
    if all(kept):
        xt = tt.tensor(x).leaky_trace()
        np.testing.assert_array_equal(up.forward_mut(xt).numpy(), x)
        np.testing.assert_array_equal(up.forward_mut(xt).sum().backward().get(xt).numpy(), np.ones_like(x))
    torch: Any = pytest.importorskip("torch", reason="the factor-1.0 comparison above covers it without torch")
    xt = tt.tensor(x).leaky_trace()
    xth = torch.tensor(x, requires_grad=True)
    shape: tuple[int, ...] = out.shape
    w = np.random.default_rng(17).standard_normal(shape)
    want = torch.nn.Upsample(scale_factor=scale, mode="bilinear")(xth)
    (want * torch.as_tensor(w)).sum().backward()
    got: Any = up.forward_mut(xt)
    grad = (got * tt.tensor(w)).sum().backward().get(xt).numpy()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad, xth.grad.numpy(), rtol=0, atol=1e-14)


def test_upsample_nearest_keeps_an_infinity_where_it_copies_it() -> None:
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 0] = np.inf
    out = nn.Upsample(scale_factor=2.0).forward(tt.tensor(x, np.float64)).numpy()
    assert np.isinf(out[0, 0, :2, :2]).all()
    np.testing.assert_array_equal(out[0, 0, 2:], 0.0)
    np.testing.assert_array_equal(out[0, 0, :, 2:], 0.0)


@pytest.mark.parametrize(
    "layer",
    [
        nn.Upsample(scale_factor=1e12),
        nn.Upsample(size=(10**7, 10**7)),
        nn.Upsample(scale_factor=1e6, mode="bilinear"),
        nn.AdaptiveAvgPool2D((10**7, 10**7)),
        nn.AdaptiveAvgPool2D((10**9, 1)),  # a fitting output, but its (oh, H) averaging matrix and P_h @ x do not
    ],
    ids=["upsample_scale", "upsample_size", "upsample_bilinear", "adaptive_avg_pool", "adaptive_avg_pool_work"],
)
def test_an_output_too_large_is_a_shape_error(layer: Any) -> None:
    """An output beyond the machine's memory is refused before any allocation (it escaped as NumPy's raw
    MemoryError, or could take the machine's memory while working on the index arrays)."""
    with pytest.raises(tt.ShapeError, match=r"more than this library allocates"):
        layer(tt.zeros((1, 1, 4, 4), np.float64))


def test_upsample_tape_repr_and_errors() -> None:
    up = nn.Upsample(scale_factor=2)
    x = tt.randn((1, 2, 3, 3), seed=0)
    assert not up.forward(x).traced
    assert up.forward(x.leaky_trace()).traced
    assert up.forward_mut(x.leaky_trace()).shape == (1, 2, 6, 6)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(4, 5), mode="bilinear")) == "Upsample(size=(4, 5), mode='bilinear')"
    assert repr(nn.Upsample(size=4, mode="bilinear", align_corners=True)) == (
        "Upsample(size=(4, 4), mode='bilinear', align_corners=True)"
    )
    make: Any = nn.Upsample  # the mistakes below are caught at run time
    with pytest.raises(tt.TypedTensorError, match="pass exactly one of size and scale_factor"):
        make()
    with pytest.raises(tt.TypedTensorError, match="pass exactly one of size and scale_factor"):
        make(size=2, scale_factor=2.0)
    with pytest.raises(tt.TypedTensorError, match="mode must be 'nearest' or 'bilinear', got 'bicubic'"):
        make(scale_factor=2.0, mode="bicubic")
    with pytest.raises(tt.TypedTensorError, match="align_corners only applies to mode='bilinear'"):
        make(scale_factor=2.0, align_corners=False)
    with pytest.raises(tt.TypedTensorError, match="align_corners must be True or False"):
        make(scale_factor=2.0, mode="bilinear", align_corners=1)
    with pytest.raises(tt.TypedTensorError, match="Upsample: scale_factor must be > 0"):
        make(scale_factor=0.0)
    with pytest.raises(tt.TypedTensorError, match="Upsample: size must be a positive int"):
        make(size=(0, 3))
    with pytest.raises(tt.TypedTensorError, match="size must be a number or a"):
        make(size=(1, 2, 3))
    loose: Any = up
    with (
        tt.checks(False),
        pytest.raises(tt.ShapeError, match=r"expected a \(B, C, H, W\) batch, got shape \(2, 3, 3\)"),
    ):
        loose.forward(tt.zeros((2, 3, 3)))
    with pytest.raises(tt.ShapeError, match=r"gives an output of height and width \(0, 1\)"):
        nn.Upsample(scale_factor=0.4).forward(tt.zeros((1, 1, 2, 3)))
    with pytest.raises(tt.DTypeError, match="expected a float16/32/64 input, got int64"):
        up.forward(tt.tensor(np.zeros((1, 1, 2, 2)), np.int64))


def test_conv1d_parameter_gradients_match_finite_differences() -> None:
    layer: Any = nn.Conv1D(4, 6, 3, stride=2, padding=1, groups=2, dtype=np.float64, seed=0)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 4, 7))
    w = rng.standard_normal((2, 6, 4))
    params = [layer.weight, layer.bias]

    def loss(values: list[np.ndarray[Any, Any]]) -> float:
        for p, v in zip(params, values[1:], strict=True):
            ext.data_mut(p)[...] = v
        return float((layer.forward(tt.tensor(values[0], np.float64)).numpy() * w).sum())

    start = [x] + [ext.data(p).copy() for p in params]
    grads = layer.alloc_grads()
    xt = tt.tensor(x, np.float64).trace(grads)
    grads.alloc(xt)
    got = (layer.forward_mut(xt) * tt.tensor(w)).sum().backward()
    analytic = [got.get(xt).numpy()] + [got.get(p).numpy() for p in params]
    for i, a in enumerate(analytic):
        np.testing.assert_allclose(a, numeric_gradient(loss, [v.copy() for v in start], i), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_conv1d_every_layout_gives_the_c_result(layout: str) -> None:
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 4, 9))
    values = _in_layout(x, layout)
    layer: Any = nn.Conv1D(4, 6, 3, padding=1, dtype=np.float64, seed=1)
    g = rng.standard_normal((2, 6, 9))
    want = _pool_run(layer, tt.tensor(np.ascontiguousarray(values), np.float64).leaky_trace(), g)
    got = _pool_run(layer, ext.wrap(values).leaky_trace(), g)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-5), (np.float16, 1e-2)])
def test_conv1d_float32_and_float16(dtype: type[Any], tol: float) -> None:
    rng = np.random.default_rng(18)
    wide: Any = nn.Conv1D(4, 6, 3, padding="same", dtype=np.float64, seed=2)
    narrow: Any = wide.to_dtype(dtype)
    x = rng.standard_normal((2, 4, 10)).astype(dtype)
    g = rng.standard_normal((2, 6, 10)).astype(dtype)
    results: list[list[np.ndarray[Any, Any]]] = []
    for layer, dt in ((narrow, dtype), (wide, np.float64)):
        grads = layer.alloc_grads()
        xt = tt.tensor(x.astype(dt), dt).trace(grads)
        grads.alloc(xt)
        out = layer.forward_mut(xt)
        got = (out * tt.tensor(g.astype(dt), dt)).sum().backward()
        results.append([out.numpy(), got.get(xt).numpy(), got.get(layer.weight).numpy(), got.get(layer.bias).numpy()])
    for ours, ref in zip(*results, strict=True):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * 10)


def test_conv1d_loads_a_pytorch_state_dict_and_matches_it_in_float32() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    theirs = torch.nn.Conv1d(3, 5, 4, stride=2, padding=1)
    ours: Any = nn.Conv1D(3, 5, 4, stride=2, padding=1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()}, naming="torch")
    x = np.random.default_rng(19).standard_normal((2, 3, 16)).astype(np.float32)
    expected = theirs(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours.forward(tt.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conv1d_init_is_pytorchs_bound_and_seeded() -> None:
    layer: Any = nn.Conv1D(8, 4, 5, seed=3)
    bound = 1 / np.sqrt(8 * 5)
    assert layer.weight.shape == (4, 8, 5)
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.weight.numpy()).max() > 0.9 * bound
    np.testing.assert_array_equal(layer.weight.numpy(), nn.Conv1D(8, 4, 5, seed=3).weight.numpy())


def test_conv1d_tape_repr_and_errors() -> None:
    layer: Any = nn.Conv1D(4, 6, 3)  # the mistakes below are caught at run time
    x = tt.randn((2, 4, 8), seed=0)
    assert not layer.forward(x).traced
    assert layer.forward(x.leaky_trace()).traced
    assert layer.forward(tt.randn((4, 8), seed=1)).shape == (6, 6)
    assert repr(layer) == "Conv1D(4, 6, kernel_size=(3,), stride=(1,))"
    with pytest.raises(tt.TypedTensorError, match="must both be divisible by groups"):
        nn.Conv1D(4, 6, 3, groups=4)
    with pytest.raises(tt.TypedTensorError, match="Conv1D: kernel_size must be a positive int"):
        nn.Conv1D(4, 6, 0)
    with pytest.raises(tt.TypedTensorError, match="padding='same' is not supported for strided"):
        nn.Conv1D(4, 6, 3, stride=2, padding="same")
    with pytest.raises(tt.TypedTensorError, match="padding must be 'same', 'valid' or an int"):
        nn.Conv1D(4, 6, 3, padding="full")  # type: ignore[arg-type]
    with pytest.raises(tt.CheckError, match="I is bound to 4"):
        layer.forward(tt.zeros((2, 3, 8)))
    with tt.checks(False):
        with pytest.raises(
            tt.ShapeError, match=r"expected input \(B, 4, L\) or unbatched \(4, L\), got shape \(2, 3, 8\)"
        ):
            layer.forward(tt.zeros((2, 3, 8)))
        with pytest.raises(tt.ShapeError, match=r"expected input \(B, 4, L\).*got shape \(2, 4, 1, 8\)"):
            layer.forward(tt.zeros((2, 4, 1, 8)))
    with pytest.raises(tt.ShapeError, match="the kernel 3 with dilation 1 spans 3 but the padded input is only 2 long"):
        layer.forward(tt.zeros((1, 4, 2)))
    with pytest.raises(tt.DTypeError, match="float32 parameters but the input is float64"):
        layer.forward(tt.zeros((2, 4, 8), np.float64))
