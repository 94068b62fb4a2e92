"""``tril(diagonal)`` / ``triu(diagonal)`` (issue 12, Part B) and bool ``ones``/``zeros`` for masks: values against
live PyTorch for every dtype (bool and integers too), rank, diagonal and layout, the tape, and the errors with
checks on and off; the gradients of each layout are in tests/opspec.py (finite differences, golden and live
PyTorch)."""

from __future__ import annotations

import re
from typing import Any, cast

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts

DTYPES = [np.float16, np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]
DIAGONALS = [-4, -2, -1, 0, 1, 2, 5]


def _values(shape: tuple[int, ...], dtype: type[Any]) -> np.ndarray[Any, Any]:
    x = np.random.default_rng(0).integers(1, 9, size=shape)
    return (x % 2 == 1) if dtype is np.bool_ else x.astype(dtype)


def _torch_dtype(torch: Any, dtype: type[Any]) -> Any:
    return getattr(torch, "bool" if dtype is np.bool_ else np.dtype(dtype).name)


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (2, 2, 3, 4), (0, 3), (3, 0)])
def test_matches_torch_live(op: str, dtype: type[Any], shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: opspec's golden data covers tril/triu")
    x = _values(shape, dtype)
    for k in DIAGONALS:
        ours = getattr(tt.tensor(x, dtype), op)(k)
        theirs = getattr(torch.as_tensor(x, dtype=_torch_dtype(torch, dtype)), op)(k).numpy()
        assert ours.dtype == np.dtype(dtype)
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.numpy(), theirs, err_msg=f"{op}({k})")


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_every_layout(layout: str, dtype: type[Any]) -> None:
    x = _values((2, 4, 5), dtype)
    data = layouts(x)[layout]
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(tt.tensor(data, dtype).tril(k).numpy(), np.tril(data, k))
        np.testing.assert_array_equal(tt.tensor(data, dtype).triu(k).numpy(), np.triu(data, k))


def test_a_diagonal_beyond_the_matrix_keeps_or_clears_everything() -> None:
    """Diagonals far outside the matrix (even beyond int64) are clipped, not passed on to NumPy's arange."""
    x = tt.tensor(np.arange(1.0, 7.0).reshape(2, 3), np.float64)
    for k in (3, 10**6, 10**30):
        np.testing.assert_array_equal(x.tril(k).numpy(), x.numpy())
        np.testing.assert_array_equal(x.triu(-k).numpy(), x.numpy())
        assert not x.tril(-k).numpy().any()
        assert not x.triu(k).numpy().any()


def test_gradient_passes_where_kept_and_the_tape_follows() -> None:
    w = np.random.default_rng(2).standard_normal((2, 3, 4))
    x: tt.Tensor[tuple[int, int, int], np.float64, tt.OwnedTape] = tt.tensor(
        np.zeros((2, 3, 4)), np.float64
    ).leaky_trace()
    y = x.triu(1)
    assert y.traced
    g = (y * tt.tensor(w, np.float64)).sum().backward().get(x)
    np.testing.assert_array_equal(g.numpy(), np.triu(w, 1))


def test_a_traced_integer_tensor_keeps_its_tape_without_a_gradient() -> None:
    ids: tt.Tensor[tuple[int, int], np.int64, tt.OwnedTape] = tt.tensor(
        np.arange(6).reshape(2, 3), np.int64
    ).leaky_trace()
    low = ids.tril()
    assert low.traced
    assert low.dtype == np.dtype(np.int64)
    np.testing.assert_array_equal(low.numpy(), np.tril(np.arange(6).reshape(2, 3)))


def test_causal_mask_from_bool_ones() -> None:
    """The mask an attention needs: True where query i may not see key j (j > i), as PyTorch's convention."""
    mask = tt.ones((4, 6), np.bool_).triu(1)
    assert mask.dtype == np.dtype(np.bool_)
    want = np.arange(6)[None, :] > np.arange(4)[:, None]
    np.testing.assert_array_equal(mask.numpy(), want)
    assert not tt.zeros((2, 2), np.bool_).numpy().any()
    assert tt.ones((2, 2), np.bool_).numpy().all()


def test_zeros_and_ones_take_bool_but_not_integers_checks_on_or_off() -> None:
    any_tt: Any = tt
    for checks in (True, False):
        with tt.checks(checks):
            for make in (any_tt.zeros, any_tt.ones):
                with pytest.raises(tt.DTypeError, match=r"got np.int64 \(or np.bool_ for a mask\)"):
                    make((2, 3), np.int64)
                with pytest.raises(tt.DTypeError, match=r"np\.bool_ for a mask"):
                    make((2, 3), bool)


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_rank_below_two_is_a_shape_error_checks_on_or_off(op: str, shape: tuple[int, ...]) -> None:
    x: Any = tt.zeros(shape)
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.ShapeError, match="rank"):
            getattr(x, op)()
    with (
        tt.checks(False),
        pytest.raises(tt.ShapeError, match=rf"{op}: needs rank >= 2 .* got shape {re.escape(str(shape))}"),
    ):
        getattr(x, op)()


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [True, 1.0, "1", None, np.float64(1.0)])
def test_diagonal_must_be_an_int_checks_on_or_off(op: str, diagonal: object) -> None:
    x: Any = tt.zeros((3, 3))
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError):
            getattr(x, op)(diagonal)


def test_numpy_integer_diagonal() -> None:
    k = cast("int", np.int64(-1))
    np.testing.assert_array_equal(tt.ones((3, 3)).tril(k).numpy(), np.tril(np.ones((3, 3)), -1))
