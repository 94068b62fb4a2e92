"""``transpose(dim0, dim1)`` and ``permute(axes)`` (issue 12, Part B): shapes and values at every pair of dims
and every permutation against NumPy and live PyTorch, every layout, the tape and the errors with checks on and
off; the gradients of each layout are in tests/opspec.py (finite differences, golden and live PyTorch)."""

from __future__ import annotations

import itertools
from typing import Any, cast

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts

DTYPES = [np.float16, np.float32, np.float64]
RANK4 = (2, 3, 4, 5)


PAIRS = [(a, b) for a in range(-4, 4) for b in range(-4, 4)]


@pytest.mark.parametrize(("dim0", "dim1"), PAIRS)
def test_every_pair_of_dims_swaps_like_numpy(dim0: int, dim1: int) -> None:
    x = np.arange(120.0).reshape(RANK4)
    y = tt.tensor(x, np.float64).transpose(dim0, dim1)
    want = np.swapaxes(x, dim0, dim1)
    assert y.shape == want.shape
    np.testing.assert_array_equal(y.numpy(), want)


@pytest.mark.parametrize(("dim0", "dim1"), [(1, 2), (0, -1), (-2, 1), (2, 2), (3, 0)])
def test_matches_torch_live(dim0: int, dim1: int) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: opspec's golden data covers transpose")
    x = np.random.default_rng(0).standard_normal(RANK4)
    ours = tt.tensor(x, np.float64).transpose(dim0, dim1).numpy()
    theirs = torch.from_numpy(x).transpose(dim0, dim1).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_layout_and_dtype(layout: str, dtype: type[Any]) -> None:
    data = layouts(np.arange(60.0).reshape(3, 4, 5).astype(dtype))[layout]
    y = tt.tensor(data, dtype).transpose(0, 2)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.numpy(), np.swapaxes(data, 0, 2))


def test_equal_dims_give_the_tensor_unchanged_as_torch() -> None:
    x = tt.tensor(np.arange(6.0).reshape(2, 3), np.float64)
    for a, b in [(0, 0), (1, -1), (-2, 0)]:
        np.testing.assert_array_equal(x.transpose(a, b).numpy(), x.numpy())


def test_no_argument_form_is_still_the_last_two_axes() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(tt.tensor(x, np.float64).transpose().numpy(), np.swapaxes(x, -1, -2))


def test_gradient_is_the_inverse_swap_and_the_tape_is_kept() -> None:
    w = np.random.default_rng(3).standard_normal((2, 4, 3, 5))
    x = tt.tensor(np.zeros(RANK4), np.float64).leaky_trace()
    y = x.transpose(1, 2)
    assert y.traced
    g = (y * tt.tensor(w, np.float64)).sum().backward().get(x)
    np.testing.assert_array_equal(g.numpy(), np.swapaxes(w, 1, 2))


def test_head_split_and_merge_round_trip() -> None:
    """(B, T, D) -> (B, H, T, Dh) -> (B, T, D), as a multi-head attention splits and merges its heads."""
    b, t, h, dh = 2, 5, 3, 4
    x = np.random.default_rng(1).standard_normal((b, t, h * dh))
    heads = tt.tensor(x, np.float64).reshape((b, t, h, dh)).transpose(1, 2)
    assert heads.shape == (b, h, t, dh)
    np.testing.assert_array_equal(heads.numpy()[:, 1], x[:, :, dh : 2 * dh])
    merged = heads.transpose(1, 2).reshape((b, t, h * dh))
    np.testing.assert_array_equal(merged.numpy(), x)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_rank4_permutation_like_numpy(order: tuple[int, ...]) -> None:
    x = np.arange(120.0).reshape(RANK4)
    negative = tuple(a - 4 if a % 2 else a for a in order)  # every other axis by its negative index
    for axes in (order, negative):
        y = tt.tensor(x, np.float64).permute(axes)
        np.testing.assert_array_equal(y.numpy(), np.transpose(x, order))


@pytest.mark.parametrize("dims", [(0, 4), (4, 0), (-5, 1), (1, 9)])
def test_dim_out_of_range_is_a_shape_error_checks_on_or_off(dims: tuple[int, int]) -> None:
    x = tt.zeros(RANK4)
    bad = dims[0] if not -4 <= dims[0] < 4 else dims[1]
    name = "dim0" if bad == dims[0] else "dim1"
    for checks in (True, False):
        with (
            tt.checks(checks),
            pytest.raises(tt.ShapeError, match=rf"transpose: {name}={bad} is out of range .* -4 <= dim < 4"),
        ):
            x.transpose(*dims)


@pytest.mark.parametrize("dims", [(True, 0), (0, 1.0), ("0", 1), (0, [1])])
def test_dim_must_be_an_int_checks_on_or_off(dims: tuple[object, object]) -> None:
    x: Any = tt.zeros((2, 3))
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError):
            x.transpose(*dims)


@pytest.mark.parametrize("dims", [(0, None), (None, 1)])
def test_one_dim_alone_is_a_dtype_error_checks_on_or_off(dims: tuple[object, object]) -> None:
    x: Any = tt.zeros((2, 3))
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError, match="give both dim0 and dim1, or neither"):
            x.transpose(*dims)
    with pytest.raises(tt.DTypeError, match="dim1 is missing"):
        x.transpose(0)


def test_rank_below_two_is_a_shape_error_in_both_forms() -> None:
    """PyTorch allows transpose(0, 0) on a vector (nothing to swap); here transpose needs rank >= 2 in every form,
    as the no-argument one always did, so one annotation types them all."""
    v: Any = tt.zeros((3,))
    for checks in (True, False):
        for args in [(), (0, 0), (0, -1)]:
            with tt.checks(checks), pytest.raises(tt.ShapeError, match=r"rank"):
                v.transpose(*args)


def test_numpy_integer_dims() -> None:
    x = tt.zeros((2, 3, 4))
    first = cast("int", np.int64(0))
    last = cast("int", np.int32(-1))
    assert x.transpose(first, last).shape == (4, 3, 2)
