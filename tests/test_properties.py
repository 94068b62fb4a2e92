"""Hypothesis property tests: broadcasting and reductions against NumPy, and their gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import typedtensor as tt

floats = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=64)


@st.composite
def broadcastable(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], tuple[int, ...]]:
    """An array and a shape it broadcasts to (new leading dims, size-1 dims stretched)."""
    target = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    k = draw(st.integers(0, len(target)))
    src = tuple(1 if draw(st.booleans()) else n for n in target[len(target) - k :])
    arr = draw(hnp.arrays(np.float64, src, elements=floats))
    return arr, target


@settings(max_examples=60, deadline=None)
@given(broadcastable())
def test_broadcast_to_matches_numpy_and_its_gradient_sums_back(
    case: tuple[np.ndarray[Any, Any], tuple[int, ...]],
) -> None:
    arr, target = case
    x = tt.tensor(arr, np.float64)
    y = x.leaky_trace().broadcast_to(target)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(arr, target))
    g = y.sum().backward().get(x).numpy()
    # each source element is repeated prod(target) / size(source) times
    np.testing.assert_array_equal(g, np.full(arr.shape, np.prod(target) / max(arr.size, 1)))


@st.composite
def array_and_axis(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], int | tuple[int, ...] | None, bool]:
    arr = draw(
        hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), elements=floats)
    )
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    axis: int | tuple[int, ...] | None = None
    if choice == "int":
        axis = draw(st.integers(-arr.ndim, arr.ndim - 1))
    elif choice == "tuple":
        axis = tuple(draw(st.lists(st.integers(0, arr.ndim - 1), min_size=1, max_size=arr.ndim, unique=True)))
    return arr, axis, draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(array_and_axis())
def test_reductions_match_numpy(case: tuple[np.ndarray[Any, Any], int | tuple[int, ...] | None, bool]) -> None:
    arr, axis, keep = case
    x = tt.tensor(arr, np.float64)
    np.testing.assert_allclose(x.sum(axis, keep).numpy(), np.sum(arr, axis=axis, keepdims=keep), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        x.mean(axis, keep).numpy(), np.mean(arr, axis=axis, keepdims=keep), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(x.max(axis, keep).numpy(), np.max(arr, axis=axis, keepdims=keep))
    np.testing.assert_array_equal(x.min(axis, keep).numpy(), np.min(arr, axis=axis, keepdims=keep))
    n = arr.size // max(np.mean(arr, axis=axis, keepdims=True).size, 1)
    if n > 1:
        np.testing.assert_allclose(
            x.var(axis, keep).numpy(), np.var(arr, axis=axis, keepdims=keep, ddof=1), rtol=1e-9, atol=1e-9
        )


@settings(max_examples=60, deadline=None)
@given(array_and_axis())
def test_reduction_gradients(case: tuple[np.ndarray[Any, Any], int | tuple[int, ...] | None, bool]) -> None:
    arr, axis, keep = case
    x = tt.tensor(arr, np.float64)
    g_sum = x.leaky_trace().sum(axis, keep).sum().backward().get(x).numpy()
    np.testing.assert_array_equal(g_sum, np.ones_like(arr))
    n = arr.size / np.sum(arr, axis=axis, keepdims=True).size
    g_mean = x.leaky_trace().mean(axis, keep).sum().backward().get(x).numpy()
    np.testing.assert_allclose(g_mean, np.full_like(arr, 1 / n))
    # max: the gradient of each reduced group sums to 1, shared among ties, zero elsewhere
    g_max = x.leaky_trace().max(axis, keep).sum().backward().get(x).numpy()
    np.testing.assert_allclose(np.sum(g_max, axis=axis), np.ones_like(np.sum(arr, axis=axis)))
    assert np.all(g_max[arr < np.max(arr, axis=axis, keepdims=True)] == 0)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=floats), floats)
def test_scalar_operands_broadcast_like_numpy(arr: np.ndarray[Any, Any], s: float) -> None:
    x = tt.tensor(arr, np.float64)
    np.testing.assert_array_equal((x + s).numpy(), arr + s)
    np.testing.assert_array_equal((s - x).numpy(), s - arr)
    np.testing.assert_array_equal((x * s).numpy(), arr * s)
    assert (x.astype(np.float32) * s).dtype == np.float32  # a Python scalar keeps the tensor's dtype
