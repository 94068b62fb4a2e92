"""ReLU's kernel paths give np.maximum(a, 0)'s bits: the row-of-zeros path (big C-contiguous float arrays, with
and without a tail shorter than a row, into a fresh array, into ``out``, in place) and the plain call (other
layouts, small arrays, integers), NaN payloads, -0.0, infinities and subnormals included; and the ReLU
module and ``Tensor.relu`` (forward and backward) agree with the formulas on every layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn
from typedtensor._ops import elementwise as ew

DTYPES = (np.float16, np.float32, np.float64)
ROW = ew._ZERO_ROW
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _specials(dtype: Any, size: int, seed: int = 0) -> NDArray[Any]:
    """Random values with -0.0, +0.0, NaNs (both signs, with payloads), infinities and subnormals strewn in."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(size).astype(dtype)
    info = np.finfo(dtype)
    tiny = np.array([info.smallest_subnormal, -info.smallest_subnormal], dtype)
    bits = np.array([np.nan, -np.nan], dtype).view(UINT[a.itemsize])
    payloads = (bits | np.array(3, bits.dtype)).view(dtype)
    for k, v in enumerate((-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, *tiny, *payloads)):
        a[k :: 17 + k] = v
    return a


def _bits(a: NDArray[Any]) -> NDArray[Any]:
    return np.ascontiguousarray(a).view(UINT[a.itemsize])


LAYOUTS: dict[str, Callable[[NDArray[Any]], NDArray[Any]]] = {
    "C": lambda a: a,
    "F": np.asfortranarray,
    "channels-last": lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
    "strided": lambda a: np.repeat(a, 2, axis=3)[..., ::2],
    "reversed": lambda a: np.ascontiguousarray(a[:, :, ::-1, ::-1])[:, :, ::-1, ::-1],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [5, ROW - 1, ROW, 3 * ROW, 3 * ROW + 7, 64 * 16 * 8 * 8])
def test_relu_values_is_maximum_bit_for_bit(dtype: Any, size: int) -> None:
    a = _specials(dtype, size)
    want = np.maximum(a, 0)
    got = ew.relu_values(a)
    assert got.dtype == a.dtype
    assert got.shape == a.shape
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(_bits(got), _bits(want))
    out = np.full_like(a, 7)
    assert ew.relu_values(a, out) is out
    np.testing.assert_array_equal(_bits(out), _bits(want))
    inplace = a.copy()
    assert ew.relu_values(inplace, inplace) is inplace
    np.testing.assert_array_equal(_bits(inplace), _bits(want))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_relu_values_keeps_every_layout(dtype: Any, layout: str) -> None:
    a = LAYOUTS[layout](_specials(dtype, 4 * 3 * 40 * 48, seed=1).reshape(4, 3, 40, 48))
    want = np.maximum(a, 0)
    got = ew.relu_values(a)
    assert got.strides == want.strides  # the plain call's layout off the C-contiguous path
    np.testing.assert_array_equal(_bits(got), _bits(want))
    out = LAYOUTS[layout](np.zeros(a.shape, dtype))  # an out of another layout: written through as NumPy does
    ew.relu_values(np.ascontiguousarray(a), out)
    np.testing.assert_array_equal(_bits(out), _bits(want))


def test_relu_values_of_integers_and_a_0d_array() -> None:
    ints = np.arange(-3 * ROW, 3 * ROW, dtype=np.int32)
    got = ew.relu_values(ints)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.maximum(ints, 0))
    np.testing.assert_array_equal(ew.relu_values(np.array(-2.5)), 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_relu_module_forward_and_backward_on_every_layout(dtype: Any, layout: str) -> None:
    a = LAYOUTS[layout](_specials(dtype, 2 * 4 * 64 * 72, seed=2).reshape(2, 4, 64, 72))
    g = _specials(dtype, a.size, seed=3).reshape(a.shape)
    relu = nn.ReLU()
    y = relu.forward(tt.tensor(a, dtype))
    np.testing.assert_array_equal(_bits(y.numpy()), _bits(np.maximum(a, 0)))
    grads = tt.Gradients()
    x = tt.tensor(a, dtype)
    grads.alloc(x)
    traced = relu.forward_mut(x.trace(grads))
    np.testing.assert_array_equal(_bits(traced.numpy()), _bits(np.maximum(a, 0)))
    with np.errstate(all="ignore"):  # the loss sum(y * g) of the infinities is NaN; its gradient is g
        (traced * tt.tensor(g, dtype)).sum().backward()
        want = g * (a > 0)  # inf * 0 is NaN, as the backward computes it
    np.testing.assert_array_equal(grads.get(x).numpy(), want)  # values: accumulating into Gradients adds +0.0
