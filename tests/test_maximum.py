"""``tt.maximum(a, b)`` (issue 12, Part B): torch.maximum's gradient at ties and NaN, scalars, dtypes and errors;
values and gradients of every layout are in tests/opspec.py (finite differences, PyTorch golden data and live
PyTorch)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import typedtensor as tt

NAN = np.nan
A = np.array([1.0, 2.0, NAN, 3.0, -0.0, 5.0])
B = np.array([1.0, 3.0, 1.0, NAN, 0.0, 4.0])
#: torch.maximum's rule: 0 to the smaller side, g/2 to each at a tie (-0.0 == 0.0 is one), g to both at a NaN
GA = [0.5, 0.0, 1.0, 1.0, 0.5, 1.0]
GB = [0.5, 1.0, 1.0, 1.0, 0.5, 0.0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ties_split_and_nan_propagates(dtype: type[Any]) -> None:
    a = tt.tensor(A.astype(dtype), dtype).leaky_trace()
    b = tt.tensor(B.astype(dtype), dtype).leaky_trace()
    y = tt.maximum(a, b)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.numpy(), np.maximum(A, B).astype(dtype))
    grads = y.sum().backward()
    ga, gb = grads.get(a), grads.get(b)
    assert ga.dtype == gb.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ga.numpy(), GA)
    np.testing.assert_array_equal(gb.numpy(), GB)


def test_ties_and_nan_match_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the expected values are written above")
    ta = torch.tensor(A, requires_grad=True)
    tb = torch.tensor(B, requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(ta.grad.numpy(), GA)
    np.testing.assert_array_equal(tb.grad.numpy(), GB)


def test_scalar_operand() -> None:
    a = tt.tensor(np.array([0.5, 1.5, 2.5]), np.float64).leaky_trace()
    y = tt.maximum(a, 1.5)
    np.testing.assert_array_equal(y.numpy(), [1.5, 1.5, 2.5])
    np.testing.assert_array_equal(y.sum().backward().get(a).numpy(), [0.0, 0.5, 1.0])


def test_scalar_matches_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: test_scalar_operand covers it")
    ta = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64, requires_grad=True)
    torch.maximum(ta, torch.tensor(1.5, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(ta.grad.numpy(), [0.0, 0.5, 1.0])


def test_untraced_operand_gets_no_gradient() -> None:
    a = tt.tensor(np.array([1.0, 4.0]), np.float64).leaky_trace()
    b = tt.tensor(np.array([2.0, 3.0]), np.float64)
    y = tt.maximum(b, a)
    assert y.traced
    np.testing.assert_array_equal(y.sum().backward().get(a).numpy(), [0.0, 1.0])


@pytest.mark.parametrize("checks", [True, False])
def test_mismatches_are_shape_and_dtype_errors(checks: bool) -> None:
    a = tt.tensor(np.zeros((2, 3)), np.float64)
    other: Any = tt.tensor(np.zeros((3, 2)), np.float64)
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"\(3, 2\)"):
            tt.maximum(a, other)
        other = tt.tensor(np.zeros((2, 3)), np.float32)
        with pytest.raises(tt.DTypeError, match=r"astype\(np\.float"):
            tt.maximum(a, other)
        first: Any = 1.0
        with pytest.raises(tt.DTypeError, match=r"typedtensor\.Tensor"):
            tt.maximum(first, a)
        scalar: Any = "1"
        with pytest.raises(tt.DTypeError):
            tt.maximum(a, scalar)


def test_bool_and_out_of_range_scalar_are_dtype_errors() -> None:
    with pytest.raises(tt.DTypeError, match="bool mask"):
        tt.maximum(tt.tensor(np.ones(2, bool), np.bool_), 1.0)
    with pytest.raises(tt.DTypeError, match="too large for float16"):
        tt.maximum(tt.tensor(np.ones(2), np.float16), 1e6)


def test_exported() -> None:
    assert importlib.import_module("typedtensor").maximum is tt.maximum
