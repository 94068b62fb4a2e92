"""ReLU's kernel paths give np.maximum(a, 0)'s bits: the row-of-zeros path (big C-contiguous float arrays, with
and without a tail shorter than a row, into a fresh array, into ``out``, in place) and the plain call (other
layouts, small arrays, integers), NaN payloads, -0.0, infinities and subnormals included; the compiled
backward (``nn._relu_numba``) gives NumPy's; and the ReLU module and ``Tensor.relu`` (forward and backward)
agree with the formulas on every layout, with either kernel backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn
from typedtensor._ops import elementwise as ew
from typedtensor.nn import _bn_backend

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


def _numba_or_skip() -> Any:
    if "numba" not in _bn_backend.available():
        pytest.skip("numba is not installed")
    from typedtensor.nn import _relu_numba

    return _relu_numba


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, ROW + 3, 5 * ROW])
def test_compiled_relu_backward_gives_numpys_bits(dtype: Any, size: int) -> None:
    kernels = _numba_or_skip()
    y = np.maximum(_specials(dtype, size, seed=4), 0)
    g = _specials(dtype, size, seed=5)
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as NumPy's multiply gives it
        want = ew.pass_positive(g, y)
    got = kernels.pass_positive(g, y)
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_compiled_relu_backward_refuses_what_it_cannot_take() -> None:
    kernels = _numba_or_skip()
    y = np.ones((4, 6), np.float32)
    for g in (np.ones((4, 6), np.float64), np.ones((6, 4), np.float32).T, np.ones((4, 5), np.float32)):
        assert not kernels.fits(g, y)
        with pytest.raises(tt.TypedTensorError, match="C-contiguous float32/float64 arrays of one shape"):
            kernels.pass_positive(g, y)
    assert not kernels.fits(np.ones(3, np.float16), np.ones(3, np.float16))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_relu_module_training_takes_the_compiled_backward_with_numba(
    backend: str, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend not in _bn_backend.available():
        pytest.skip("numba is not installed")
    before = _bn_backend.current()
    _bn_backend.use(backend)
    try:
        calls: list[int] = []
        if backend == "numba":
            kernels = _numba_or_skip()
            real = kernels.pass_positive

            def spy(g: NDArray[Any], y: NDArray[Any]) -> NDArray[Any]:
                calls.append(g.size)
                out: NDArray[Any] = real(g, y)
                return out

            monkeypatch.setattr(kernels, "pass_positive", spy)
        a = LAYOUTS[layout](_specials(np.float32, 2 * 4 * 64 * 72, seed=6).reshape(2, 4, 64, 72))
        g = np.random.default_rng(7).standard_normal(a.shape).astype(np.float32)
        grads = tt.Gradients()
        x = tt.tensor(a, np.float32)
        grads.alloc(x)
        y = nn.ReLU().forward_mut(x.trace(grads))
        np.testing.assert_array_equal(_bits(y.numpy()), _bits(np.maximum(a, 0)))
        with np.errstate(all="ignore"):
            (y * tt.tensor(g, np.float32)).sum().backward()
        np.testing.assert_array_equal(grads.get(x).numpy(), g * (a > 0))
        # the compiled pass exactly for C-contiguous data (tt.tensor copies a reversed view) with numba's kernels
        compiled = backend == "numba" and x.numpy().flags.c_contiguous
        assert calls == ([a.size] if compiled else [])
        assert compiled or backend == "numpy" or layout in ("F", "channels-last", "strided")
    finally:
        _bn_backend.use(before)


def test_relu_module_backward_of_a_broadcast_gradient_falls_back_to_numpy() -> None:
    if "numba" not in _bn_backend.available():
        pytest.skip("numba is not installed")
    before = _bn_backend.current()
    _bn_backend.use("numba")
    try:
        a = _specials(np.float64, 3 * ROW, seed=8).reshape(3, ROW)
        grads = tt.Gradients()
        x = tt.tensor(a, np.float64)
        grads.alloc(x)
        nn.ReLU().forward_mut(x.trace(grads)).sum().backward()  # the sum's gradient: a broadcast view of ones
        np.testing.assert_array_equal(grads.get(x).numpy(), (a > 0).astype(np.float64))
    finally:
        _bn_backend.use(before)
