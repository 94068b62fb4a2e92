"""The vectorised erf behind the exact GELU (typedtensor/_ops/erf.py) against math.erf, and the GELU kernels.

Accuracy stated: at most 1 ulp from math.erf on every sample here (measured with glibc's libm; the bound
asserted is 2, as math.erf itself may be 1 ulp off the exact value on another platform's libm). The float64
result rounded to float32 or float16 is bit-for-bit math.erf's rounded (what the GELU computed before, one
math.erf call per element); a float32 result from float32 values (the GELU's float32 path) is within 1 float32
ulp of that, and differs from it on ~7% of the values in [-1, 1].
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts
from typedtensor._ops import elementwise as ew
from typedtensor._ops.erf import erf, erf_into

Array = np.ndarray[Any, Any]
MAX_ULP = 2

_math_erf = np.frompyfunc(math.erf, 1, 1)

_TINY = [0.0, -0.0, 5e-324, -5e-324, 1e-310, -3e-315, 2.2250738585072014e-308, 1e-300, -1e-200, 1e-20, 1e-8]
_SEAMS = [0.5, 1.0, -1.0, float(np.nextafter(1.0, 0.0)), float(np.nextafter(-1.0, 0.0)), 5.9, 5.921587, 6.0, -6.0]
_HUGE = [float(np.nextafter(6.0, 7.0)), 27.0, 1e300, -1.7976931348623157e308, np.inf, -np.inf]
SPECIAL = np.array([*_TINY, *_SEAMS, *_HUGE])


def reference(x: Array) -> Array:
    """math.erf of each element, in float64."""
    return np.asarray(_math_erf(x.astype(np.float64)), dtype=np.float64)


def ulps(a: Array, b: Array, dtype: type[Any] = np.float64) -> Array:
    """How many ``dtype`` (float64 or float32) values apart a and b are (finite, or equal infinities)."""
    ints, sign = (np.int64, -(2**63)) if dtype == np.float64 else (np.int32, -(2**31))

    def ordered(v: Array) -> Array:
        bits = v.astype(dtype).view(ints).astype(np.int64)
        return np.where(bits < 0, np.int64(sign) - bits, bits)  # -0.0 and 0.0 are 0 apart

    distance: Array = np.abs(ordered(a) - ordered(b))
    return distance


def grid() -> Array:
    """A dense grid over [-30, 30] (step 1e-4 to |x| = 7, where erf reaches 1, 1e-2 beyond), random samples
    over [-30, 30] and [-7, 7], and magnitudes spread logarithmically from 1e-30 to 30."""
    rng = np.random.default_rng(13)
    return np.concatenate(
        [
            np.linspace(-7.0, 7.0, 140_001),
            np.linspace(-30.0, 30.0, 6_001),
            rng.uniform(-30.0, 30.0, 20_000),
            rng.uniform(-7.0, 7.0, 50_000),
            np.exp(rng.uniform(math.log(1e-30), math.log(30.0), 20_000)) * rng.choice([-1.0, 1.0], 20_000),
        ]
    )


def test_within_max_ulp_of_math_erf_on_a_dense_grid() -> None:
    x = grid()
    got = erf(x)
    assert got.dtype == np.float64
    assert got.shape == x.shape
    err = ulps(got, reference(x))
    assert err.max() <= MAX_ULP, (err.max(), x[err.argmax()])


def test_special_values() -> None:
    got = erf(SPECIAL)
    ref = reference(SPECIAL)
    assert ulps(got, ref).max() <= MAX_ULP
    np.testing.assert_array_equal(np.signbit(got), np.signbit(SPECIAL))  # -0.0 -> -0.0, -tiny stays negative
    np.testing.assert_array_equal(got[:2], [0.0, -0.0])  # the signs: checked above
    np.testing.assert_array_equal(got[2:4], [5e-324, -5e-324])  # the smallest subnormal: 2/sqrt(pi) x rounds to x
    np.testing.assert_array_equal(got[-len(_HUGE) :], [1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    assert np.isnan(erf(np.array([np.nan, -np.nan]))).all()


def test_no_floating_point_warnings_on_extreme_inputs() -> None:
    with np.errstate(all="raise"):
        got = erf(np.array([1e300, -1e300, np.inf, 1e-310, 5e-324, 0.7, 3.0]))
    assert ulps(got, reference(np.array([1e300, -1e300, np.inf, 1e-310, 5e-324, 0.7, 3.0]))).max() <= MAX_ULP


def test_shapes_zero_dim_and_empty() -> None:
    assert erf(np.array(0.25)).shape == ()
    assert float(erf(np.array(0.25))) == pytest.approx(math.erf(0.25), rel=1e-15)
    assert erf(np.zeros((0, 3))).shape == (0, 3)
    assert erf(np.full((2, 3, 4), 2.0)).shape == (2, 3, 4)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_layout_gives_the_c_values(dtype: type[Any]) -> None:
    x = (np.random.default_rng(1).standard_normal((6, 2, 10)) * 2.5).astype(dtype)
    want = erf(np.ascontiguousarray(x))
    for name, view in layouts(x).items():
        got = erf(view)
        np.testing.assert_array_equal(got, erf(np.ascontiguousarray(view)), err_msg=name)
        if name != "broadcast":
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert erf(np.asfortranarray(x)).flags.f_contiguous  # an F input keeps its layout


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_float64_result_rounds_to_math_erf_bit_for_bit(dtype: type[Any]) -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(200_000) * 3, np.linspace(-8, 8, 20_001)]).astype(dtype)
    got = erf(x).astype(dtype)
    want = reference(x).astype(dtype)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    if dtype == np.float16:  # a float16 result is that rounding too
        np.testing.assert_array_equal(erf(x, dtype).view(np.uint8), want.view(np.uint8))


def test_float32_result_within_one_ulp_of_math_erf_rounded() -> None:
    rng = np.random.default_rng(8)
    tiny = [0.0, -0.0, 1e-45, -1e-45, 1e-40, 1.1754944e-38, 1e-20, 1e-4, float(np.nextafter(np.float32(1), 0))]
    x = np.concatenate(
        [
            np.array([*tiny, 1.0, -1.0, 3.9, 3.92, 4.0, 27.0, 3.4e38, np.inf, -np.inf]),
            np.linspace(-5.0, 5.0, 400_001),
            rng.uniform(-1.0, 1.0, 400_000),
            np.exp(rng.uniform(math.log(1e-44), 0.0, 100_000)) * rng.choice([-1.0, 1.0], 100_000),
        ]
    ).astype(np.float32)
    got = erf(x, np.float32)
    want = reference(x).astype(np.float32)
    err = ulps(got, want, np.float32)
    assert err.max() <= 1, (err.max(), x[err.argmax()])
    assert (err != 0).mean() < 0.1  # measured: 5.9% of the float32 values in [0, 1), 3.0% of those in [1, 4]
    np.testing.assert_array_equal(got[np.abs(x) >= 3.92], np.sign(x[np.abs(x) >= 3.92]))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))
    assert np.isnan(erf(np.array([np.nan], np.float32), np.float32)).all()


def _gelu_math_erf(a: Array) -> tuple[Array, Array]:
    """The exact GELU and its derivative with one math.erf call per element (the formula the op implements)."""
    cdf = 0.5 * (1.0 + np.asarray(_math_erf(a * 0.7071067811865476), dtype=a.dtype))
    return a * cdf, cdf + a * 0.3989422804014327 * np.exp(-0.5 * a * a)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gelu_forward_and_backward_match_math_erf_in_every_layout(dtype: type[Any]) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 3, 12)) * 3).astype(dtype)
    x.flat[:5] = [0.0, -0.0, -9.0, 9.0, 1e-3]
    g = rng.standard_normal(x.shape).astype(dtype)
    for name, view in layouts(x).items():
        y, bwd = ew.gelu(view)
        (dx,) = bwd(g, (True,))
        assert dx is not None
        assert y.dtype == np.dtype(dtype)
        assert dx.dtype == np.dtype(dtype)
        want_y, want_d = _gelu_math_erf(np.ascontiguousarray(view))
        if dtype != np.float16:  # erf k ulp off moves 0.5 (1 + erf) by <= k eps / 2, plus roundings
            eps = float(np.finfo(dtype).eps)  # float64: 2 ulp; float32: 1 ulp (see the tests above)
            a = np.abs(np.ascontiguousarray(view))
            assert (np.abs(y - want_y) <= 1.2 * eps * a + eps * np.abs(want_y)).all(), name
            assert (np.abs(dx - g * want_d) <= np.abs(g) * (1.2 * eps + eps * np.abs(want_d))).all(), name
        else:
            np.testing.assert_array_equal(y, want_y, err_msg=name)
            np.testing.assert_array_equal(dx, g * want_d, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_result_dtype_is_one_rounding_of_the_float64_result(dtype: type[Any]) -> None:
    x = np.random.default_rng(4).standard_normal(3 * 65536 + 17) * 2  # several blocks and a partial one
    got = erf(x.astype(dtype), dtype)
    assert got.dtype == np.dtype(dtype)
    want = erf(x.astype(dtype)).astype(dtype)
    if dtype == np.float32:  # float32 arithmetic: within 1 ulp
        assert ulps(got, want, np.float32).max() <= 1
    else:
        np.testing.assert_array_equal(got, want)


def test_threads_use_their_own_scratch() -> None:
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal(200_000) * (k + 1) for k in range(4)]
    want = [erf(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(erf, inputs))
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_gelu_of_a_non_float_tensor_is_a_dtype_error(dtype: type[Any], approximate: Any) -> None:
    x = tt.tensor(np.array([[1, 0], [3, 1]]).astype(dtype), dtype)
    with pytest.raises(tt.DTypeError, match="astype"):
        x.gelu(approximate)


def test_erf_into_every_out_layout_in_place_and_overlapping() -> None:
    x = np.random.default_rng(6).standard_normal((8, 2, 6)) * 2
    want = erf(x)
    for name, out in layouts(np.zeros_like(x)).items():
        if name == "broadcast":
            continue  # not writable
        erf_into(x, out)
        np.testing.assert_array_equal(out, want, err_msg=name)
    for name, view in layouts(x).items():  # fresh arrays (the broadcast one is read-only)
        if name != "broadcast":
            erf_into(view, view)
            np.testing.assert_array_equal(view, want, err_msg=name)
    flat = np.random.default_rng(7).standard_normal(3 * 65536)
    expect = erf(flat[:-65536])
    erf_into(flat[:-65536], flat[65536:])  # overlapping, shifted by a block: read before written
    np.testing.assert_array_equal(flat[65536:], expect)
    inplace = np.linspace(-5, 5, 2 * 65536 + 3, dtype=np.float32)
    expect32 = erf(inplace, np.float32)
    erf_into(inplace, inplace)  # float32 in place: the second piece reads its x before the block is written
    np.testing.assert_array_equal(inplace, expect32)


def test_erf_into_rejects_an_out_of_another_shape() -> None:
    with pytest.raises(tt.ShapeError, match=r"expected out of z's shape \(2, 3\), got \(3, 2\)"):
        erf_into(np.zeros((2, 3)), np.zeros((3, 2)))


def _gelu_tanh_formula(a: Array, g: Array) -> tuple[Array, Array]:
    """The tanh GELU and its gradient as plain NumPy expressions (the roundings the kernel must keep)."""
    t = np.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a))
    inner = 0.7978845608028654 * (1.0 + 3 * 0.044715 * a * a)
    return 0.5 * a * (1.0 + t), g * (0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * inner)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gelu_tanh_keeps_the_formulas_roundings_in_every_layout(dtype: type[Any]) -> None:
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((5, 3, 12)) * 3).astype(dtype)
    x.flat[:6] = [0.0, -0.0, -9.0, 9.0, 1e-3, -1e-30 if dtype != np.float16 else -1e-7]
    g = rng.standard_normal(x.shape).astype(dtype)
    for name, view in layouts(x).items():
        y, bwd = ew.gelu_tanh(view)
        (dx,) = bwd(g, (True,))
        want_y, want_dx = _gelu_tanh_formula(np.ascontiguousarray(view), g)
        assert dx is not None
        assert y.dtype == dx.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(y, want_y, err_msg=name)
        np.testing.assert_array_equal(dx, want_dx, err_msg=name)


def test_gelu_tanh_backward_keeps_only_its_input() -> None:
    """The tanh is recomputed in the backward: no second activation-sized array is held from the forward to
    the backward (a Transformer step's peak memory), and the gradient is still the formula's, bit for bit."""
    x = np.random.default_rng(11).standard_normal((4, 6)).astype(np.float32)
    y, bwd = ew.gelu_tanh(x)
    cells: list[object] = [c.cell_contents for c in bwd.__closure__ or ()]
    held: list[Array] = [c for c in cells if isinstance(c, np.ndarray)]
    assert len(held) == 1
    assert held[0] is x
    g = np.ones_like(x)
    np.testing.assert_array_equal(bwd(g, (True,))[0], _gelu_tanh_formula(x, g)[1])
    np.testing.assert_array_equal(y, _gelu_tanh_formula(x, g)[0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_gelu_tanh_blocks_and_whole_arrays_keep_the_formulas_roundings(dtype: type[Any]) -> None:
    """More than two scratch blocks (C order), the whole-array path (F order) and a gradient in another layout."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((3, 50_001)) * 3).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    want_y, want_dx = _gelu_tanh_formula(x, g)
    for a in (x, np.asfortranarray(x)):
        for grad in (g, np.asfortranarray(g), g.astype(np.float64)):
            y, bwd = ew.gelu_tanh(a)
            (dx,) = bwd(grad, (True,))
            np.testing.assert_array_equal(y, want_y)
            np.testing.assert_array_equal(dx, _gelu_tanh_formula(x, grad)[1] if grad.dtype != x.dtype else want_dx)
