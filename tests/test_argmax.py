"""``argmax(axis)`` (issue 12, Part B): int64, untraced, torch.argmax's ties and NaN, every layout, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import typedtensor as tt

X = np.array([[1.0, 3.0, 3.0, 0.0], [np.nan, 2.0, np.nan, 5.0], [-1.0, -1.0, -2.0, -3.0]])
#: torch.argmax: the first maximum; a NaN is the maximum
ALL, AXIS0, AXIS1 = 4, [1, 0, 1, 1], [1, 0, 0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_values_ties_and_nan(dtype: type[Any]) -> None:
    x = tt.tensor(X.astype(dtype), dtype).leaky_trace()
    cases: list[tuple[tt.Tensor[Any, np.int64, Any], Any]] = [
        (x.argmax(), ALL),
        (x.argmax(0), AXIS0),
        (x.argmax(-1), AXIS1),
        (x.argmax(1), AXIS1),
    ]
    for got, want in cases:
        assert got.dtype == np.int64
        assert not got.traced
        np.testing.assert_array_equal(got.numpy(), want)


def test_matches_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the expected values are written above")
    t = torch.tensor(X)
    assert int(t.argmax()) == ALL
    np.testing.assert_array_equal(t.argmax(0).numpy(), AXIS0)
    np.testing.assert_array_equal(t.argmax(1).numpy(), AXIS1)


def test_layouts_and_integers() -> None:
    base = np.random.default_rng(0).standard_normal((5, 6))
    x: tt.Tensor[Any, np.float64, Any] = tt.tensor(base, np.float64)
    pairs: list[tuple[str, Any, tt.Tensor[Any, np.float64, Any]]] = [
        ("C", base, x),
        ("F", base.T, x.transpose()),
        ("strided", base[::2, 1::2], x[::2, 1::2]),
        ("negative", base[::-1, ::-2], x[::-1, ::-2]),
    ]
    for name, v, t in pairs:
        np.testing.assert_array_equal(t.argmax(0).numpy(), np.argmax(v, 0), err_msg=name)
        np.testing.assert_array_equal(t.argmax(-1).numpy(), np.argmax(v, -1), err_msg=name)
    ints = tt.tensor(np.array([[3, 7, 7], [9, 1, 2]]), np.int64)
    np.testing.assert_array_equal(ints.argmax(1).numpy(), [1, 0])


def test_errors() -> None:
    x = tt.tensor(np.zeros((2, 3)), np.float64)
    with pytest.raises(tt.ShapeError, match="axis 2 is out of range"):
        x.argmax(2)
    with pytest.raises(tt.ShapeError, match="empty axis"):
        tt.tensor(np.zeros((2, 0)), np.float64).argmax(1)
    with pytest.raises(tt.ShapeError, match="empty axis"):
        tt.tensor(np.zeros((0,)), np.float64).argmax()
    bad: Any = 1.0
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError):
            x.argmax(bad)
