"""Truth values, any/all, ``==``/``!=``, identity hashing, value-checked dtype conversions and indices."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn

F32 = np.float32
SWITCH = pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])


# ---- bool(), any(), all() (issue 10, point 6) ----------------------------------------------------


def test_bool_of_a_mask_with_several_elements_is_ambiguous() -> None:
    mask = tt.tensor(np.array([-1.0, -2.0])) > 0.0
    with pytest.raises(tt.ShapeError, match=r"ambiguous.*\.any\(\) or \.all\(\)"):
        bool(mask)
    with pytest.raises(tt.ShapeError, match="ambiguous"):
        assert not tt.zeros((2, 3))  # what `if x:` does
    with pytest.raises(tt.ShapeError, match="0 elements"):  # NumPy 2 refuses empty arrays too
        bool(tt.zeros((0,)))
    with pytest.raises(tt.ShapeError, match="0 elements"):
        bool(tt.zeros((3, 0)) > 0.0)


def test_bool_of_one_element_converts() -> None:
    assert bool(tt.tensor(np.array([True])))
    assert not bool(tt.tensor(np.array([[False]])))
    assert bool(tt.tensor(np.array(0.5)))
    assert not bool(tt.zeros((1, 1, 1)))
    assert bool(tt.tensor(np.array([-1.0])) < 0.0)
    x = tt.tensor(np.array([3.0])).leaky_trace()
    assert bool(x > 2.0)
    assert not bool(x > 4.0)
    assert bool(tt.tensor(np.array([2]), np.int64))


def test_any_and_all_are_rank0_bool_tensors() -> None:
    x = tt.tensor(np.array([[-1.0, 2.0], [0.5, -3.0]]))
    for mask, want_any, want_all in (
        (x > 0.0, True, False),
        (x > -5.0, True, True),
        (x > 5.0, False, False),
    ):
        a, b = mask.any(), mask.all()
        assert a.shape == ()
        assert b.shape == ()
        assert a.dtype == np.bool_
        assert b.dtype == np.bool_
        assert not a.traced
        assert not b.traced
        assert bool(a) is want_any
        assert bool(b) is want_all
    empty = tt.zeros((0, 2)) > 0.0
    assert not bool(empty.any())
    assert bool(empty.all())
    # float tensors: nonzero is true, as in NumPy and PyTorch; a traced tensor gives an untraced answer
    t = tt.tensor(np.array([0.0, np.nan])).leaky_trace()
    assert bool(t.any())
    assert not bool(t.all())
    assert not t.any().traced
    # layouts: F order, negative strides, strided views
    base = np.arange(24.0).reshape(4, 6) - 0.5
    for arr in (np.asfortranarray(base), base[::-1, ::-2], base[:, 1::2].T):
        m = tt.tensor(arr) > 0.0
        assert bool(m.any()) == bool(np.any(arr > 0))
        assert bool(m.all()) == bool(np.all(arr > 0))
    if (x > 0.0).any():
        pass
    else:
        pytest.fail("any() of a mask with a True element must be true")


# ---- == and != (elementwise, like < and >) ---------------------------------------------------


def test_eq_and_ne_are_elementwise() -> None:
    a = tt.tensor(np.array([1.0, 2.0, 3.0]))
    b = tt.tensor(np.array([1.0, 0.0, 3.0]))
    np.testing.assert_array_equal((a == b).numpy(), [True, False, True])
    np.testing.assert_array_equal((a != b).numpy(), [False, True, False])
    np.testing.assert_array_equal((a == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal((a != 2).numpy(), [True, False, True])
    eq = a.leaky_trace() == b
    assert eq.dtype == np.bool_
    assert not eq.traced
    nan = tt.tensor(np.array([np.nan]))
    assert not bool(nan == nan)
    assert bool(nan != nan)
    masks = (a > 1.5) == (b > 1.5)
    np.testing.assert_array_equal(masks.numpy(), [True, False, True])
    assert bool((a == a).all())
    assert not bool((a != a).any())
    # 2-D and every layout
    base = np.arange(12.0).reshape(3, 4)
    for arr in (np.asfortranarray(base), base[::-1, ::-1], base[:, ::2]):
        got = tt.tensor(arr) == tt.tensor(np.ascontiguousarray(arr))
        assert got.shape == arr.shape
        assert bool(got.all())


def _error(op: Any) -> type[BaseException]:
    with pytest.raises(tt.TypedTensorError) as info:
        op()
    return info.type


@SWITCH
def test_eq_refuses_what_the_other_comparisons_refuse(on: bool) -> None:
    # == and != take what < takes, and refuse the rest with the same error class, checks on or off
    a: Any = tt.zeros((2,))
    bad: list[Any] = [tt.zeros((3,)), tt.zeros((2,), np.float64), "a", None, [0.0, 0.0], np.zeros(2), True]
    with tt.checks(on):
        for other in bad:
            want = _error(lambda o=other: a < o)
            assert _error(lambda o=other: a == o) is want
            assert _error(lambda o=other: a != o) is want


def test_tensors_hash_by_identity_and_work_as_keys() -> None:
    a = tt.zeros((2,))
    b = tt.zeros((2,))  # equal values, another tensor
    assert hash(a) != hash(b)
    table = {a: "a", b: "b"}
    assert table[a] == "a"
    assert table[b] == "b"
    assert len({a, b, a}) == 2
    assert a in [a]
    assert a in (a, b)  # `in` tries identity, then ==, element by element: a is found before b is compared
    assert a in {b, a}  # sets and dicts compare hashes first
    w = tt.zeros((3,))
    grads = tt.Gradients()
    grads.alloc(w)
    assert w in grads
    assert a not in grads
    loss = (w.trace(grads) * 2.0).sum()
    assert loss.backward().get(w).shape == (3,)


def test_membership_among_other_tensors_compares_values() -> None:
    # Python's `in` and list.index fall back to ==: a tensor of another shape is an error, not False
    a, b = tt.zeros((2,)), tt.zeros((3,))
    with pytest.raises(tt.TypedTensorError, match="shape"):
        _ = a in [b]
    with pytest.raises(tt.ShapeError, match="ambiguous"):
        _ = a in [tt.ones((2,))]


# ---- dtype conversions that would wrap, overflow or truncate (issue 10, point 10) -------------


@pytest.mark.parametrize(
    ("values", "src", "dtype", "shown"),
    [
        ([300], np.int64, np.int8, "300"),
        ([5, -129], np.int64, np.int8, "-129"),
        ([-1], np.int64, np.uint8, "-1"),
        ([256], np.int16, np.uint8, "256"),
        ([2**63], np.uint64, np.int64, "9223372036854775808"),
        ([2**32], np.int64, np.uint32, "4294967296"),
        ([-1], np.int8, np.uint64, "-1"),
        ([1e19], np.float64, np.int64, "1e+19"),
        ([2.0**63], np.float64, np.int64, "9.223372036854776e+18"),  # int64's max rounds up to 2**63: out
        ([-(2.0**63) - 4096], np.float64, np.int64, "-9.22337203685478e+18"),
        ([1e3], np.float32, np.int8, "1000.0"),
        ([70000.0], np.float16, np.int16, "inf"),  # float16 overflows first: refused as infinite
    ],
)
def test_out_of_range_integers_are_refused(values: list[Any], src: type[Any], dtype: type[Any], shown: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # building the float16 source overflows on purpose
        data = np.array(values, dtype=src)
    name = np.dtype(dtype).name
    fragment = "infinite" if shown == "inf" else re.escape(f"holds {shown}, which does not fit {name}")
    with pytest.raises(tt.DTypeError, match=fragment):
        tt.tensor(data, dtype)
    with pytest.raises(tt.DTypeError, match=fragment):
        tt.tensor(np.asfortranarray(np.stack([data, data], axis=1))[::-1], dtype)


def test_integer_conversion_limits_are_exact() -> None:
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        info = np.iinfo(dt)
        got = tt.tensor(np.array([info.min, info.max], dtype=dt), dt).numpy()
        assert got.tolist() == [info.min, info.max]
        wide = np.array([int(info.min), int(info.max)], dtype=np.uint64 if info.min == 0 else np.int64)
        assert tt.tensor(wide, dt).numpy().tolist() == [info.min, info.max]
        assert tt.tensor([info.min, 1], dt).numpy().tolist() == [info.min, 1]
    assert tt.tensor(np.array([2.0**63 - 1024]), np.int64).numpy()[0] == 2**63 - 1024  # the largest below 2**63
    assert tt.tensor(np.array([-(2.0**63)]), np.int64).numpy()[0] == -(2**63)
    assert tt.tensor(np.array([True, False]), np.uint8).numpy().tolist() == [1, 0]
    assert tt.tensor(np.array([255.0, -0.0]), np.uint8).numpy().tolist() == [255, 0]
    assert tt.tensor(np.zeros((0, 3)), np.int8).shape == (0, 3)
    # every layout of the source
    base = np.arange(12, dtype=np.int64).reshape(3, 4)
    for arr in (np.asfortranarray(base), base[::-1, ::-2], base.T):
        np.testing.assert_array_equal(tt.tensor(arr, np.int8).numpy(), arr)
    bad = base * 100
    for arr in (np.asfortranarray(bad), bad[::-1, ::-2], bad.T):
        with pytest.raises(tt.DTypeError, match="holds 1100, which does not fit int8"):
            tt.tensor(arr, np.int8)


@pytest.mark.parametrize(
    ("value", "fragment"), [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite"), (2.5, "fractional")]
)
def test_float_to_integer_needs_finite_whole_values(value: float, fragment: str) -> None:
    for dt in (np.int64, np.uint8):
        with pytest.raises(tt.DTypeError, match=fragment):
            tt.tensor(np.array([1.0, value]), dt)
    with pytest.raises(tt.DTypeError, match=fragment):
        tt.tensor([1.0, value], np.int32)


def test_float_construction_refuses_finite_values_that_overflow() -> None:
    with pytest.raises(tt.DTypeError, match="too large for float16"):
        tt.tensor(np.array([1.0, 1e6]), np.float16)
    with pytest.raises(tt.DTypeError, match="too large for float32"):
        tt.tensor([1e300])  # Python data becomes float32
    with pytest.raises(tt.DTypeError, match="too large for float16"):
        tt.tensor(np.array([70000]), np.float16)  # integers too
    with pytest.raises(tt.DTypeError, match="too large for float16"):
        tt.tensor(np.array([-65520.0]), np.float16)  # rounds to -inf
    with pytest.raises(tt.DTypeError, match="holds -9223372036854775808, too large for float16"):
        tt.tensor(np.array([0, np.iinfo(np.int64).min]), np.float16)  # abs() of it would overflow
    # what the target can hold (after rounding) is accepted; NaN and inf stay what they are
    got = tt.tensor(np.array([65519.0, -65504.0, np.inf, -np.inf, np.nan, 1e-30]), np.float16).numpy()
    np.testing.assert_array_equal(got[:4], [65504.0, -65504.0, np.inf, -np.inf])
    assert np.isnan(got[4])
    assert got[5] == 0.0
    assert tt.tensor(np.array([1e300]), np.float64).numpy()[0] == 1e300


def test_object_data_is_refused_with_a_reason() -> None:
    with pytest.raises(tt.DTypeError, match="beyond 64 bits"):
        tt.tensor([10**30])
    with pytest.raises(tt.DTypeError, match="beyond 64 bits"):
        tt.tensor(np.array([10**30]), np.int64)


def test_to_dtype_refuses_values_the_dtype_cannot_hold() -> None:
    layer = nn.Linear(2, 2, seed=0)
    layer.weight._data[0, 0] = 1e6
    before = layer.weight.numpy().copy()
    with pytest.raises(tt.DTypeError, match=r"to_dtype: 'weight' holds 1000000\.0, too large for float16"):
        layer.to_dtype(np.float16)
    np.testing.assert_array_equal(layer.weight.numpy(), before)  # the module itself is untouched
    layer.weight._data[0, 0] = 6e4
    half = layer.to_dtype(np.float16)
    assert half.weight.dtype == np.float16
    assert half.weight.numpy()[0, 0] == np.float16(6e4)
    # the same rule as loading: load_state_dict refuses the value too
    target = nn.Linear(2, 2, dtype=np.float16)
    with pytest.raises(tt.TypedTensorError, match="too large for float16"):
        target.load_state_dict({"weight": np.full((2, 2), 1e6, np.float32), "bias": np.zeros(2, np.float32)})


class _Net(nn.Module):
    def __init__(self) -> None:
        self.fc = nn.Linear(2, 3, seed=0)
        self.blocks = [nn.ReLU(), nn.BatchNorm1D(3)]


def test_to_dtype_names_the_buffer_of_a_nested_module() -> None:
    net = _Net()
    bn: Any = net.blocks[1]
    bn.running_var._data[1] = -1e5
    with pytest.raises(
        tt.DTypeError, match=r"to_dtype: 'blocks\.1\.running_var' holds -100000\.0, too large for float16"
    ):
        net.to_dtype(np.float16)
    bn.running_var._data[1] = 1.0
    assert net.to_dtype(np.float16).fc.weight.dtype == np.float16


def test_astype_follows_ieee_overflow_without_warnings() -> None:
    # astype is an op, as in PyTorch: values beyond float16 become +-inf (no NumPy warning escapes)
    x = tt.tensor(np.array([1e6, -1e6, 1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = x.astype(np.float16).numpy()
    np.testing.assert_array_equal(got, [np.inf, -np.inf, 1.0])
    g = x.leaky_trace()
    loss = g.astype(np.float32).sum()
    assert loss.backward().get(g).dtype == np.float64


def test_astype_of_a_mask_makes_floats() -> None:
    mask = tt.tensor(np.array([1.0, -1.0, 2.0])) > 0.0
    got = mask.astype(F32)
    assert got.dtype == F32
    assert not got.traced
    np.testing.assert_array_equal(got.numpy(), [1.0, 0.0, 1.0])
    labels = tt.tensor(np.array([3, 1]), np.int64)
    np.testing.assert_array_equal(labels.astype(np.float64).numpy(), [3.0, 1.0])


# ---- indices (issue 10, point 15) --------------------------------------------------------------


@SWITCH
def test_invalid_index_values_are_shape_errors(on: bool) -> None:
    x: Any = tt.tensor(np.arange(6.0).reshape(2, 3))
    bad: list[tuple[Any, str]] = [
        (slice(None, None, 0), "step"),
        ((0, slice(None, None, 0)), "step"),
        ((0, 0, 0), "too many indices"),
        (5, "out of bounds"),
        ((Ellipsis, 0, Ellipsis), "ellipsis"),
        (np.array([True]), "boolean index"),
        (10**30, "does not fit"),
        ([0, 7], "out of bounds"),
    ]
    with tt.checks(on):
        for index, fragment in bad:
            with pytest.raises(tt.ShapeError, match=fragment):
                x[index]
            with pytest.raises(tt.ShapeError, match=fragment):
                x.leaky_trace()[index]


@SWITCH
def test_indices_of_the_wrong_kind_are_dtype_errors_with_checks_on_or_off(on: bool) -> None:
    x: Any = tt.tensor(np.arange(6.0).reshape(2, 3))
    bad: list[Any] = [
        slice(1.5, 2),
        slice(0, "a"),
        (0, slice(None, np.float64(2.0))),
        1.5,
        "a",
        np.array([1.0]),
        (0, 1.5),
        (0, "a"),
        [0, [1]],
        [0, 1.5],
        tt.tensor(np.array([0.5])),  # a float tensor (integer and bool tensors index: tests/test_int_index.py)
        (0, tt.tensor(np.array([1.0]))),
        {0: 1},
    ]
    with tt.checks(on):
        for index in bad:
            with pytest.raises(tt.DTypeError, match="index"):
                x[index]


def test_valid_indices_still_work_and_differentiate() -> None:
    base = np.arange(24.0).reshape(2, 3, 4)
    x = tt.tensor(base)
    for index in (
        (0, slice(None, None, -1)),
        (Ellipsis, 1),
        (None, 1),
        np.int64(1),
        (np.int64(1), slice(np.int64(0), None, np.int64(2))),
        (slice(None), np.array([2, 0])),
        np.array([[True, False, True], [False, True, True]]),
        [1, 0, 1],
        [],
        (slice(0, 10**30, 10**30),),
        (True,),
    ):
        np.testing.assert_array_equal(x[index].numpy(), base[index])
    t = x.leaky_trace()
    loss = t[:, ::-2, [0, 0]].sum()
    want = np.zeros_like(base)
    where: Any = (slice(None), slice(None, None, -2), [0, 0])
    np.add.at(want, where, 1.0)
    np.testing.assert_array_equal(loss.backward().get(t).numpy(), want)


# ---- float(), int(), operator.index() (issue 10 review, point 4) ----------------------------------


@SWITCH
def test_float_and_int_of_one_element_convert(on: bool) -> None:
    with tt.checks(on):
        assert float(tt.tensor(np.array([[2.5]]))) == 2.5
        assert isinstance(float(tt.tensor(np.array(2), np.int64)), float)
        assert float(tt.tensor(np.array([True]))) == 1.0
        assert int(tt.tensor(np.array([-2.7]))) == -2  # toward zero, as Python and PyTorch
        assert int(tt.tensor(np.array(2**62), np.int64)) == 2**62  # exactly, not through a float
        assert int(tt.tensor(np.array([True]))) == 1
        x = tt.tensor(np.array([3.0])).leaky_trace()
        assert float(x * 2.0) == 6.0
        assert float(tt.full((), float("nan"))) != float(tt.full((), float("nan")))  # NaN converts


@SWITCH
def test_float_and_int_of_other_sizes_say_use_item(on: bool) -> None:
    with tt.checks(on):
        for t in (tt.zeros((2,)), tt.zeros((0,)), tt.zeros((1, 2))):
            for convert in (float, int):
                with pytest.raises(tt.ShapeError, match=r"one element.*\.item\(\)"):
                    convert(t)
        with pytest.raises(tt.DTypeError, match="NaN"):
            int(tt.full((1,), float("nan")))
        with pytest.raises(tt.DTypeError, match="-inf"):
            int(tt.full((1,), float("-inf")))


@SWITCH
def test_integer_tensors_of_one_element_are_indices(on: bool) -> None:
    """As PyTorch: ``__index__`` for integer (and bool) tensors only; a float tensor is a DTypeError."""
    import operator

    with tt.checks(on):
        i = tt.tensor(np.array([2]), np.int64)
        assert [10, 20, 30][i] == 30
        assert operator.index(tt.tensor(np.array(1), np.uint8)) == 1
        assert list(range(tt.tensor(np.array(3), np.int32))) == [0, 1, 2]
        with pytest.raises(tt.DTypeError, match=r"float32.*int\(t\)"):
            operator.index(tt.zeros(()))
        with pytest.raises(tt.ShapeError, match="2 elements"):
            operator.index(tt.tensor(np.array([1, 2]), np.int64))


# ---- any()/all() along axes, bool axes (issue 10 review, points 3 and 5) --------------------------


@SWITCH
def test_any_and_all_reduce_along_axes_like_numpy(on: bool) -> None:
    arr = np.array([[[0.0, 1.0], [0.0, 0.0]], [[2.0, 3.0], [0.0, -1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    x = tt.tensor(arr).leaky_trace()  # traced input: the result is an untraced bool tensor
    with tt.checks(on):
        for axis in (0, 1, 2, -1, (0, 2), (2, 0), None):
            for keepdims in (False, True):
                for name in ("any", "all"):
                    got = getattr(x, name)(axis, keepdims=keepdims)
                    want = getattr(np, name)(arr, axis=axis, keepdims=keepdims)
                    assert got.dtype == np.bool_
                    assert not got.traced
                    np.testing.assert_array_equal(got.numpy(), want, err_msg=f"{name} {axis} {keepdims}")
        assert (x > 0.0).any(axis=1).shape == (3, 2)
        assert tt.zeros((0, 3)).any(0).shape == (3,)
        assert bool(tt.zeros((0, 3)).all(axis=0).all())
        mask: Any = x > 0.0  # NumPy integer axes are accepted at run time (statically: int only)
        assert np.array_equal(mask.all(np.int64(0)).numpy(), np.all(arr > 0, axis=0))
        with pytest.raises(tt.ShapeError, match="repeats"):
            x.any((1, -2))


@SWITCH
def test_bool_axes_are_dtype_errors_and_int_axes_still_work(on: bool) -> None:
    """``sum(axis=True)`` was axis 1 in both modes (bool is an int to Python)."""
    x: Any = tt.tensor(np.arange(6.0).reshape(2, 3))
    with tt.checks(on):
        for call in (
            lambda: x.sum(axis=True),
            lambda: x.sum((0, np.True_)),
            lambda: x.max(False),
            lambda: x.log_softmax(axis=True),
            lambda: x.all(True),
            lambda: tt.stack([x, x], axis=True),
        ):
            with pytest.raises(tt.DTypeError, match="bool"):
                call()
        np.testing.assert_array_equal(x.sum(axis=1).numpy(), [3.0, 12.0])


# ---- conversions to a float dtype round to nearest (issue 10 review, point 6) ---------------------


@SWITCH
def test_integers_round_to_the_nearest_float_without_an_error(on: bool) -> None:
    """As NumPy and PyTorch: rounding is not an overflow (the README says which values are refused)."""
    with tt.checks(on), warnings.catch_warnings():
        warnings.simplefilter("error")
        t = tt.tensor(np.array([16777217, -16777219]))
        assert t.dtype == np.float32
        np.testing.assert_array_equal(t.numpy(), [16777216.0, -16777220.0])
        assert tt.tensor(np.array([2**53 + 1]), np.float64).numpy()[0] == 2.0**53
        assert tt.tensor(np.array([2049]), np.float16).numpy()[0] == 2048.0
        assert tt.tensor(np.array([0.1]), np.float16).numpy()[0] == np.float16(0.1)
        with pytest.raises(tt.DTypeError, match="too large for float16"):
            tt.tensor(np.array([65520]), np.float16)  # rounds to inf: refused
