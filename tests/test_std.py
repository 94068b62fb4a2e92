"""``std(axis, keepdims, correction)`` (issue 12, Part B): PyTorch's gradient where the deviation is 0, dtypes and
errors; values and gradients of every layout are in tests/opspec.py (finite differences, PyTorch golden data and
live PyTorch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import typedtensor as tt

ROWS = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("correction", [0, 1])
def test_values_and_dtype(dtype: type[Any], correction: int) -> None:
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    y: tt.Tensor[Any, Any, Any] = tt.tensor(x, dtype).std(-1, correction=correction)
    assert y.dtype == np.dtype(dtype)
    tol = 2e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(y.numpy(), np.std(x.astype(np.float64), -1, ddof=correction), rtol=tol)


def test_a_constant_row_gets_a_zero_gradient_as_in_torch() -> None:
    x = tt.tensor(ROWS, np.float64).leaky_trace()
    g = x.std(1).sum().backward().get(x).numpy()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])  # var(1).sqrt() would give NaN here
    np.testing.assert_allclose(g[1], [-0.5, 0.0, 0.5])


def test_constant_row_matches_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the expected values are written above")
    t = torch.tensor(ROWS, requires_grad=True)
    t.std(1).sum().backward()
    x = tt.tensor(ROWS, np.float64).leaky_trace()
    np.testing.assert_array_equal(x.std(1).sum().backward().get(x).numpy(), t.grad.numpy())


def test_keepdims_and_all_axes() -> None:
    x = tt.tensor(ROWS, np.float64)
    assert x.std(0, keepdims=True).shape == (1, 3)
    np.testing.assert_allclose(x.std().item(), np.std(ROWS, ddof=1))


@pytest.mark.parametrize("op", ["std", "var"])
def test_no_degrees_of_freedom_is_a_shape_error(op: str) -> None:
    x = tt.tensor(np.zeros((3, 1)), np.float64)
    with pytest.raises(tt.ShapeError, match=rf"{op}: 1 value\(s\) per result with correction=1 .* use correction=0"):
        getattr(x, op)(1)


@pytest.mark.parametrize("op", ["std", "var"])
@pytest.mark.parametrize("correction", [1.5, True, "1"])
def test_correction_must_be_an_int_checks_on_or_off(op: str, correction: object) -> None:
    x = tt.tensor(np.zeros((3, 4)), np.float64)
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError, match="correction"):
            getattr(x, op)(1, correction=correction)
