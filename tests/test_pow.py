"""``x ** p`` and ``b ** x`` for real scalars (issue 10 review, point 2); values and gradients of the ordinary
inputs are in tests/opspec.py (finite differences, PyTorch golden data and live PyTorch)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt

INF = np.inf
ZEROS = np.array([0.0, -0.0])
#: PyTorch's derivative of x ** p at +0 and -0 (its pow_backward: p * x ** (p - 1), 0 for p == 0;
#: rsqrt for p - 1 == -0.5, so -inf at -0).
AT_ZERO: list[tuple[float, list[float]]] = [
    (0, [0.0, 0.0]),
    (0.5, [INF, -INF]),
    (1, [1.0, 1.0]),
    (1.5, [0.0, -0.0]),
    (2, [0.0, -0.0]),
    (3, [0.0, 0.0]),
    (-1, [-INF, -INF]),
    (-0.5, [-INF, -INF]),
    (-2, [-INF, INF]),
]


def _grads(values: Any, dtype: type[Any], f: Callable[[Any], Any]) -> Any:
    """The derivative of f at each value, one backward per element (a sum would add inf and -inf)."""
    out: list[Any] = []
    for v in values:
        x = tt.tensor(np.array(v), dtype).leaky_trace()
        y = f(x)
        assert y.dtype == np.dtype(dtype)
        g = y.backward().get(x).numpy()
        assert g.dtype == np.dtype(dtype)
        out.append(g)
    return np.array(out)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(("p", "want"), AT_ZERO, ids=[str(p) for p, _ in AT_ZERO])
def test_the_gradient_at_zero_is_pytorchs(p: float, want: list[float], dtype: type[Any]) -> None:
    got = _grads(ZEROS, dtype, lambda x: x**p)
    np.testing.assert_array_equal(got, np.array(want, dtype))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.array(want)))


def _power(x: Any, p: float) -> Any:
    return x**p


def test_the_gradient_at_zero_matches_live_pytorch() -> None:
    torch: Any = pytest.importorskip("torch", reason="the table above holds PyTorch's values")
    for p, _ in AT_ZERO:
        want: list[float] = []
        for v in ZEROS:
            t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
            (t**p).backward()
            want.append(t.grad.item())
        got = _grads(ZEROS, np.float64, functools.partial(_power, p=p))
        np.testing.assert_array_equal(got, want, err_msg=f"p={p}")
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=f"p={p}")


def test_rpow_gradient_at_a_zero_base_is_pytorchs() -> None:
    """d(0 ** x)/dx: 0 where x >= 0, as PyTorch masks it (log(0) = -inf otherwise)."""
    values = [0.0, 2.0, -1.0]
    np.testing.assert_array_equal((0.0 ** tt.tensor(np.array(values))).numpy(), [1.0, 0.0, INF])
    got = _grads(values, np.float64, lambda x: 0.0**x)
    np.testing.assert_array_equal(got, [0.0, 0.0, -INF])
    if importlib.util.find_spec("torch") is not None:
        torch: Any = importlib.import_module("torch")
        for v, g in zip(values, got, strict=True):
            t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
            (0.0**t).backward()
            assert t.grad.item() == g


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_the_exponent_is_not_rounded_to_the_tensors_dtype(dtype: type[Any]) -> None:
    """2049 is not a float16 and 16777217 not a float32: rounded, the sign of (-1) ** p would flip."""
    p = 2049 if dtype is np.float16 else 16777217
    x = tt.tensor(np.array([-1.0, 1.0]), dtype)
    np.testing.assert_array_equal((x**p).numpy(), [-1.0, 1.0])
    np.testing.assert_array_equal((x ** (p - 1)).numpy(), [1.0, 1.0])


def test_ieee_results_without_warnings() -> None:
    """Negative bases to fractional powers are NaN, overflow is inf, as in PyTorch (warnings are errors here)."""
    x = tt.tensor(np.array([-2.0, 300.0]), np.float16)
    np.testing.assert_array_equal((x**0.5).numpy()[0], np.float16(np.nan))
    assert (x**2).numpy()[1] == np.inf
    assert (2.0 ** tt.tensor(np.array([1e5]))).numpy()[0] == np.inf


def test_layouts_and_rank0() -> None:
    base = np.arange(1.0, 13.0).reshape(3, 4)
    for arr in (base, np.asfortranarray(base), base[::-1, ::2], base.T):
        x = tt.tensor(arr)
        np.testing.assert_allclose((x**1.5).numpy(), arr**1.5, rtol=1e-15)
        np.testing.assert_allclose((1.5**x).numpy(), 1.5**arr, rtol=1e-15)
    assert (tt.tensor(np.array(3.0)) ** 2).numpy() == 9.0


@pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])
def test_refused_operands(on: bool) -> None:
    x: Any = tt.zeros((2,))
    with tt.checks(on):
        with pytest.raises(tt.DTypeError, match=r"float tensor.*int64"):
            _ = tt.tensor(np.array([2]), np.int64) ** 2
        with pytest.raises(tt.DTypeError, match="bool mask"):
            _ = (x > 0.0) ** 2
        with pytest.raises(tt.DTypeError, match="2\\*\\*53"):
            _ = x ** (2**53 + 1)
        with pytest.raises(tt.DTypeError, match="bool"):
            _ = x**True
        with pytest.raises(tt.DTypeError, match="ndarray"):
            _ = x ** np.ones(2)
    assert np.array_equal((tt.ones((2,)) ** (2**53)).numpy(), [1.0, 1.0])  # the limit itself is exact
