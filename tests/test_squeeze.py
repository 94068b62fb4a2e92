"""``squeeze(axis)`` / ``unsqueeze(axis)`` (issue 12, Part B): run-time shapes, dtypes and errors; values and
gradients of every layout are in tests/opspec.py (finite differences, PyTorch golden data and live PyTorch)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

import typedtensor as tt

DTYPES = [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "axis", "out"), [((2, 1, 3), 1, (2, 3)), ((1, 4), 0, (4,)), ((4, 1), -1, (4,)),
                                                     ((1,), 0, ())])  # fmt: skip
def test_squeeze_drops_the_size_one_axis(dtype: type[Any], shape: tuple[int, ...], axis: int, out: Any) -> None:
    x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    y = tt.tensor(x, dtype).squeeze(axis)
    assert y.shape == out
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.numpy(), x.reshape(out))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("axis", "out"), [(0, (1, 2, 3)), (1, (2, 1, 3)), (2, (2, 3, 1)), (-1, (2, 3, 1)),
                                           (-3, (1, 2, 3)), (-2, (2, 1, 3))])  # fmt: skip
def test_unsqueeze_inserts_like_torch(dtype: type[Any], axis: int, out: tuple[int, ...]) -> None:
    x = np.arange(6, dtype=dtype).reshape(2, 3)
    y = tt.tensor(x, dtype).unsqueeze(axis)
    assert y.shape == out == np.expand_dims(x, axis).shape
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.numpy(), x.reshape(out))


def test_round_trip_gradient_and_tape() -> None:
    x = tt.tensor(np.arange(6.0).reshape(2, 3), np.float64).leaky_trace()
    y = x.unsqueeze(1).squeeze(1)
    assert y.traced
    assert y.shape == (2, 3)
    g = (y * 2.0).sum().backward().get(x)
    np.testing.assert_array_equal(g.numpy(), np.full((2, 3), 2.0))


def test_squeeze_of_a_dim_that_is_not_one_is_a_shape_error() -> None:
    x = tt.tensor(np.zeros((2, 3), np.float32))  # a shape the checkers do not know (the plugin rejects a known one)
    with pytest.raises(tt.ShapeError, match=r"axis 0 of shape \(2, 3\) has size 2, expected 1; squeeze only"):
        x.squeeze(0)


@pytest.mark.parametrize("axis", [2, -3, 9])
def test_squeeze_axis_out_of_range(axis: int) -> None:
    with pytest.raises(tt.ShapeError, match=f"axis {axis} is out of range for shape"):
        tt.zeros((1, 3)).squeeze(axis)


@pytest.mark.parametrize("axis", [3, -4])
def test_unsqueeze_axis_out_of_range(axis: int) -> None:
    with pytest.raises(tt.ShapeError, match=rf"unsqueeze: axis {axis} is out of range .* expected -3 <= axis < 3"):
        tt.zeros((1, 3)).unsqueeze(axis)


@pytest.mark.parametrize("axis", [True, 1.0, "0", None])
@pytest.mark.parametrize("op", ["squeeze", "unsqueeze"])
def test_axis_must_be_an_int_checks_on_or_off(op: str, axis: object) -> None:
    x = tt.zeros((1, 3))
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError):
            getattr(x, op)(axis)


def test_numpy_integer_axis() -> None:
    x = tt.zeros((1, 3))
    first = cast("int", np.int64(0))  # NumPy integers are accepted at run time, as by every axis argument
    last = cast("int", np.int32(-1))
    assert x.squeeze(first).shape == (3,)
    assert x.unsqueeze(last).shape == (1, 3, 1)
