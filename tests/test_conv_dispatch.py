"""Conv2D's choice between the Winograd 3x3 kernel and im2col (``_ops.conv.winograd_applies``, ``nn._conv_backend``),
and that both give the same values and gradients for every layout and dtype."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts
from typedtensor import TypedTensorError
from typedtensor._ops import conv
from typedtensor.nn import _bn_backend, _conv_backend
from typedtensor.nn import functional as F

pytest.importorskip("numba")
from typedtensor.nn import _conv_winograd

pytestmark = pytest.mark.skipif(not _conv_winograd.available(), reason="NumPy's OpenBLAS not found (another BLAS)")

Array = np.ndarray[Any, Any]
#: Of the largest |value| (the Winograd kernel's tests' tolerance: im2col's own float32 error is ~5e-7 of it).
_TOL: dict[type, float] = {np.float32: 2e-6, np.float64: 1e-13}


class _Spy:
    """Wraps the registered provider and counts the Winograd calls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.n_forward, self.n_dx = inner, 0, 0

    def __call__(self) -> Any:
        kernels = self.inner()
        return None if kernels is None else self

    def conv3x3(self, *args: Any) -> Array:
        self.n_forward += 1
        return _conv_winograd.conv3x3(*args)

    def input_grad(self, *args: Any) -> Array:
        self.n_dx += 1
        return _conv_winograd.input_grad(*args)


@pytest.fixture
def spy() -> Iterator[_Spy]:
    s = _Spy(conv._fast)
    before = _conv_backend.current()
    _conv_backend.use("winograd")
    conv.register_fast(s)
    try:
        yield s
    finally:
        conv.register_fast(s.inner)
        _conv_backend.use(before)


def _run(
    x: Array, w: Array, b: Array | None, stride: int = 1, padding: Any = 1, dilation: int = 1, groups: int = 1
) -> tuple[Array, Array, Array, Array | None]:
    """y, dx, dw, db of sum(y * r) through the public functional conv2d."""
    xs: Any = tt.tensor(x).leaky_trace()
    ws: Any = tt.tensor(w).leaky_trace()
    bs: Any = None if b is None else tt.tensor(b).leaky_trace()
    conv2d: Any = F.conv2d
    y: Any = conv2d(xs, ws, bs, stride=stride, padding=padding, dilation=dilation, groups=groups)
    r: Array = np.random.default_rng(9).standard_normal(tuple(y.shape)).astype(x.dtype)
    grads: Any = (y * tt.tensor(r)).sum().backward()
    db = None if bs is None else grads.get(bs).numpy()
    return y.numpy(), grads.get(xs).numpy(), grads.get(ws).numpy(), db


def _data(shape: tuple[int, int, int, int], o: int, dtype: type, seed: int = 0) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    x: Array = rng.standard_normal(shape).astype(dtype)
    w: Array = (rng.standard_normal((o, shape[1], 3, 3)) / 4).astype(dtype)
    b: Array = rng.standard_normal(o).astype(dtype)
    return x, w, b


def test_rule() -> None:
    f32, f64, f16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
    rule = conv.winograd_applies
    k, s, d = (3, 3), (1, 1), (1, 1)
    assert rule("forward", f32, 3, (16, 16), k, s, d, 1)
    assert rule("forward", f64, 64, (16, 200), k, s, d, 1)
    assert not rule("forward", f32, 2, (32, 32), k, s, d, 1)  # 1-2 channels: im2col is faster
    assert not rule("forward", f32, 16, (15, 32), k, s, d, 1)  # 8x8 planes: even; smaller: slower
    assert not rule("forward", f16, 16, (32, 32), k, s, d, 1)  # conv2d asks with its float32 copies
    assert not rule("forward", f32, 16, (32, 32), (5, 5), s, d, 1)
    assert not rule("forward", f32, 16, (32, 32), (3, 1), s, d, 1)
    assert not rule("forward", f32, 16, (32, 32), k, (2, 2), d, 1)
    assert not rule("forward", f32, 16, (32, 32), k, (1, 2), d, 1)
    assert not rule("forward", f32, 16, (32, 32), k, s, (2, 2), 1)
    assert not rule("forward", f32, 16, (32, 32), k, s, d, 2)
    assert rule("input_grad", f32, 3, (32, 32), k, s, d, 1)
    assert not rule("input_grad", f32, 16, (31, 32), k, s, d, 1)  # the input gradient pays on 32x32 planes only


@pytest.mark.parametrize(
    ("shape", "o", "kwargs", "forward", "dx"),
    [
        ((2, 3, 16, 16), 4, {}, 1, 0),
        ((2, 4, 32, 32), 3, {}, 1, 1),
        ((1, 3, 32, 40), 5, {"padding": 0}, 1, 0),  # the output gradient's planes are 30x38
        ((1, 3, 34, 34), 5, {"padding": 0}, 1, 1),
        ((2, 4, 32, 32), 2, {}, 1, 0),  # dx reads the output gradient's 2 channels
        ((2, 2, 32, 32), 4, {}, 0, 1),
        ((2, 4, 8, 8), 4, {}, 0, 0),
        ((2, 4, 32, 32), 4, {"stride": 2}, 0, 0),
        ((2, 4, 32, 32), 4, {"dilation": 2, "padding": 2}, 0, 0),
        ((2, 4, 32, 32), 4, {"groups": 2}, 0, 0),
        ((2, 4, 32, 32), 4, {"padding": 3}, 1, 0),  # dx would need a negative padding: im2col
    ],
)
def test_dispatch_picks_winograd_where_the_rule_says(
    spy: _Spy, shape: tuple[int, int, int, int], o: int, kwargs: dict[str, int], forward: int, dx: int
) -> None:
    groups = kwargs.get("groups", 1)
    x, w, b = _data(shape, o, np.float32)
    _run(x, np.ascontiguousarray(w[:, : shape[1] // groups]), b, **kwargs)
    assert (spy.n_forward, spy.n_dx) == (forward, dx)


def test_switch_forces_im2col_and_refuses_other_names(spy: _Spy) -> None:
    x, w, b = _data((2, 4, 32, 32), 4, np.float32)
    _conv_backend.use("im2col")
    assert _conv_backend.current() == "im2col"
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (0, 0)
    _conv_backend.use("winograd")
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    with pytest.raises(TypedTensorError, match="'im2col' or 'winograd'"):
        _conv_backend.use("auto")


def test_forked_after_numba_and_missing_kernels_take_im2col(spy: _Spy, monkeypatch: pytest.MonkeyPatch) -> None:
    x, w, b = _data((2, 4, 32, 32), 4, np.float32)
    monkeypatch.setattr(_bn_backend._sel, "forked_after_numba", True)
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (0, 0)
    monkeypatch.setattr(_bn_backend._sel, "forked_after_numba", False)
    monkeypatch.setattr(_conv_backend._state, "kernels", False)
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (0, 0)


def test_environment_switch() -> None:
    """TYPEDTENSOR_CONV picks the backend at import (winograd without it); a wrong name is a TypedTensorError."""
    assert _conv_backend._State.name == "winograd"
    code = "from typedtensor.nn import _conv_backend as c; print(c.current())"
    env = dict(os.environ, TYPEDTENSOR_CONV="im2col")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "im2col"
    env = dict(os.environ, TYPEDTENSOR_CONV="fast")
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "TypedTensorError" in bad.stderr
    assert "'im2col' or 'winograd', got 'fast'" in bad.stderr


def _both(spy: _Spy, x: Array, w: Array, b: Array | None, **kwargs: Any) -> None:
    """Winograd's values and gradients equal im2col's (same inputs) within ``_TOL`` of the largest of each."""
    fast = _run(x, w, b, **kwargs)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    _conv_backend.use("im2col")
    ref = _run(x, w, b, **kwargs)
    _conv_backend.use("winograd")
    for got, want in zip(fast, ref, strict=True):
        if want is None:
            assert got is None
            continue
        assert got is not None
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        tol = _TOL[want.dtype.type] * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_values_and_gradients_equal_im2col_for_every_layout(spy: _Spy, dtype: type, layout: str) -> None:
    x, w, b = _data((3, 4, 32, 33), 5, dtype)
    if layout == "channels_last":
        xs = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        ws = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    else:
        xs, ws = layouts(x)[layout], layouts(w)[layout]
    _both(spy, xs, ws, b)


@pytest.mark.parametrize("padding", [0, 1, 2, (2, 0)])
def test_paddings_and_no_bias_equal_im2col(spy: _Spy, padding: Any) -> None:
    x, w, _ = _data((2, 3, 35, 34), 4, np.float64)
    _both(spy, x, w, None, padding=padding)


def test_gradients_match_finite_differences(spy: _Spy) -> None:
    x, w, b = _data((2, 3, 32, 32), 4, np.float64, seed=3)
    _, dx, dw, db = _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    r = np.random.default_rng(9).standard_normal((2, 4, 32, 32))  # _run's weights of the loss

    def loss(xv: Array, wv: Array, bv: Array) -> float:
        y, _ = conv.conv2d(xv, wv, bv, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        return float((y * r).sum())

    rng = np.random.default_rng(4)
    eps = 1e-6
    for grad, which in ((dx, 0), (dw, 1), (db, 2)):
        assert grad is not None
        for _ in range(3):
            args: list[Array] = [x, w, b]
            size: tuple[int, ...] = args[which].shape
            v: Array = rng.standard_normal(size)
            up, down = list(args), list(args)
            up[which] = args[which] + eps * v
            down[which] = args[which] - eps * v
            numeric = (loss(*up) - loss(*down)) / (2 * eps)
            assert abs(numeric - float((grad * v).sum())) <= 1e-6 * max(1.0, abs(numeric))


def test_non_finite_inputs_reach_exactly_im2cols_outputs(spy: _Spy) -> None:
    """Winograd spreads an inf over its 2x2 output block: such results are computed again by im2col."""
    x, w, b = _data((2, 3, 32, 32), 4, np.float64)
    x[0, 0, 5, 6] = np.nan
    x[1, 2, 17, 0] = np.inf
    with np.errstate(invalid="ignore"):
        fast = _run(x, w, b)
        _conv_backend.use("im2col")
        ref = _run(x, w, b)
        _conv_backend.use("winograd")
    assert spy.n_forward == 1
    for got, want in zip(fast, ref, strict=True):
        assert got is not None
        assert want is not None
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float16_is_computed_in_float32_by_winograd(spy: _Spy) -> None:
    """As on the im2col path: cast to float32, computed, rounded back to float16."""
    x, w, b = _data((2, 4, 32, 32), 5, np.float16)
    fast = _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    _conv_backend.use("im2col")
    ref = _run(x, w, b)
    _conv_backend.use("winograd")
    for got, want in zip(fast, ref, strict=True):
        assert got is not None
        assert want is not None
        assert (got.dtype, got.shape) == (np.float16, want.shape)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3 * float(np.abs(want.astype(np.float32)).max()))


@pytest.mark.parametrize("where", ["x", "w"])
def test_non_finite_weights_or_float32_inputs_reach_im2cols_outputs(spy: _Spy, where: str) -> None:
    x, w, b = _data((2, 4, 32, 32), 3, np.float32)
    if where == "x":
        x[1, 3, 31, 31] = -np.inf
    else:
        w[2, 1, 0, 2] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        fast = _run(x, w, b)
        _conv_backend.use("im2col")
        ref = _run(x, w, b)
        _conv_backend.use("winograd")
    assert spy.n_forward == 1
    for got, want in zip(fast, ref, strict=True):
        assert got is not None
        assert want is not None
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        tol = _TOL[np.float32] * max(1.0, float(np.abs(want[np.isfinite(want)]).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_im2col_weight_gradient_of_a_non_finite_input_is_pytorchs() -> None:
    """The stride-1 dW shared with the input gradient's correlation multiplies every input pixel by g's column
    matrix, zeros included: an inf in x gave NaN in the taps that never read it (PyTorch: finite there)."""
    torch = pytest.importorskip("torch")
    before = _conv_backend.current()
    _conv_backend.use("im2col")
    try:
        rng = np.random.default_rng(0)
        x, w = rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((3, 4, 3, 3))
        x[1, 3, 7, 7] = -np.inf
        with np.errstate(invalid="ignore"):
            _, dx, dw, _ = _run(x, w, None)
    finally:
        _conv_backend.use(before)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    r = np.random.default_rng(9).standard_normal((2, 3, 8, 8))
    (torch.nn.functional.conv2d(xt, wt, padding=1) * torch.tensor(r)).sum().backward()
    assert not np.isfinite(wt.grad.numpy()).all()
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_convolution_conv_parallel_would_split_goes_whole_to_winograd(
    spy: _Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conv2D splits a large convolution's images over threads (``conv_parallel``); one the Winograd kernel takes
    is passed whole (the kernel runs numba's pool), and gives im2col's values and gradients (im2col: split)."""
    from typedtensor._ops import blas, conv_parallel

    monkeypatch.setattr(conv_parallel, "_MIN_MACS", 1 << 20)  # this small input counts as large

    shape, o = (8, 16, 32, 32), 16
    x, w, b = _data(shape, o, np.float32)
    split = len(conv_parallel.parts(shape[0], shape[0] * o * shape[1] * 9 * shape[2] * shape[3]))
    assert split > 1 or blas.threads() == 1 or (os.cpu_count() or 1) == 1
    assert conv.takes_whole(x, w, (1, 1), (1, 1), 1)
    assert conv.takes_whole(x.astype(np.float16), w.astype(np.float16), (1, 1), (1, 1), 1)  # computed in float32
    assert not conv.takes_whole(x, w, (2, 2), (1, 1), 1)
    fast = _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    _conv_backend.use("im2col")
    assert not conv.takes_whole(x, w, (1, 1), (1, 1), 1)
    ref = _run(x, w, b)
    _conv_backend.use("winograd")
    for got, want in zip(fast, ref, strict=True):
        assert got is not None
        assert want is not None
        np.testing.assert_allclose(got, want, rtol=0, atol=_TOL[np.float32] * float(np.abs(want).max()))


def test_large_input_gradients_take_im2col(spy: _Spy, monkeypatch: pytest.MonkeyPatch) -> None:
    """The input gradient takes Winograd up to ``_WINOGRAD_DX_MOST`` output-gradient elements (it cost in the
    networks' training steps at batch 256); the forward has no such limit."""
    x, w, b = _data((2, 4, 32, 32), 4, np.float32)
    monkeypatch.setattr(conv, "_WINOGRAD_DX_MOST", 2 * 4 * 32 * 32)
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (1, 1)
    monkeypatch.setattr(conv, "_WINOGRAD_DX_MOST", 2 * 4 * 32 * 32 - 1)
    _run(x, w, b)
    assert (spy.n_forward, spy.n_dx) == (2, 1)
