# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""BatchNorm ``inplace=True``: it writes only into a buffer that nothing else sees (issue 10, point 3).

Every way to share a tensor's buffer is refused with a TypedTensorError that says why and what to do,
and leaves every holder's values unchanged: another tensor (``detach``, ``reshape``, ``realize``, a
slice, ``trace``), a held ``numpy()`` view or ``np.asarray(t, copy=False)``, a tape that saved the
values for a backward pass, a view of another tensor's data. Buffers that nothing else sees are
written in place, and the module returns the input tensor itself. Every test runs on every kernel
backend (the fixture of test_batchnorm).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.test_batchnorm import backend as backend  # every kernel backend (autouse fixture)
from typedtensor import nn

F64 = np.float64
SHARED = "something else sees that buffer"
DATA = np.random.default_rng(0).standard_normal((2, 3, 4, 4))


def _inplace(c: int = 3, **kw: Any) -> Any:
    bn: Any = nn.BatchNorm2D(c, dtype=F64, inplace=True, **kw)
    assert bn.running_mean is not None
    assert bn.running_var is not None
    bn.running_mean._data[...] = [0.5, -1.0, 2.0][:c]  # statistics other than 0 and 1
    bn.running_var._data[...] = [4.0, 0.25, 1.0][:c]
    return bn


def _expected(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """What _inplace()'s module computes, written out."""
    mean = np.array([0.5, -1.0, 2.0])[:, None, None]
    var = np.array([4.0, 0.25, 1.0])[:, None, None]
    out: np.ndarray[Any, Any] = (values - mean) / np.sqrt(var + 1e-5)
    return out


# ---- every sharing route is refused, and nothing is written ---------------------------------


def _detach() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x.detach(), [x]


def _detached_source() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x, [x.detach()]


def _reshape() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA.reshape(2, 3, 16))
    return x.reshape((2, 3, 4, 4)), [x]


def _realize() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x.realize((2, 3, 4, 4)), [x]


def _slice() -> tuple[Any, list[Any]]:
    x = tt.tensor(np.concatenate([DATA, DATA]))
    return x[0:2], [x]


def _numpy_held() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x, [x.numpy()]


def _asarray_held() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x, [np.asarray(x, copy=False)]


def _traced_alive() -> tuple[Any, list[Any]]:
    x = tt.tensor(DATA)
    return x, [x.trace(tt.Gradients())]


def _recorded_on_a_tape() -> tuple[Any, list[Any]]:
    """x's values saved by a recorded op (square keeps them for its backward), the traced tensor itself gone."""
    x = tt.tensor(DATA)
    loss = x.trace(tt.Gradients()).square().sum()
    return x, [loss]


ROUTES: dict[str, Callable[[], tuple[Any, list[Any]]]] = {
    "detach": _detach,
    "source-of-a-detach": _detached_source,
    "reshape": _reshape,
    "realize": _realize,
    "slice": _slice,
    "numpy-view-held": _numpy_held,
    "asarray-copy-false-held": _asarray_held,
    "traced-tensor-alive": _traced_alive,
    "values-recorded-on-a-tape": _recorded_on_a_tape,
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_shared_buffer_is_refused_and_left_unchanged(route: str) -> None:
    x, holders = ROUTES[route]()
    before = np.array(x._data, copy=True)
    with pytest.raises(tt.TypedTensorError, match=SHARED) as info:
        _inplace().forward(x)
    message = str(info.value)
    for fragment in (
        "BatchNorm2D(inplace=True)",
        "x.detach()",
        "x.numpy()",
        "a tape keeps it",
        "tt.tensor(x)",
        "inplace=False",
    ):
        assert fragment in message
    np.testing.assert_array_equal(x._data, before)
    for held in holders:
        values = held._data if isinstance(held, tt.Tensor) else held
        if values.shape == before.shape:
            np.testing.assert_array_equal(values, before)


def test_the_issue_case_keeps_the_recorded_gradient_right() -> None:
    """bn.forward(xt.detach()) used to overwrite x and corrupt the gradient of a loss recorded before."""
    x = tt.tensor(DATA)
    grads = tt.Gradients()
    grads.alloc(x)
    xt = x.trace(grads)
    loss = (xt * xt).sum()
    with pytest.raises(tt.TypedTensorError, match=SHARED):
        _inplace().forward(xt.detach())
    loss.backward()
    np.testing.assert_allclose(grads.get(x).numpy(), 2 * DATA, rtol=1e-15)
    np.testing.assert_array_equal(x.numpy(), DATA)


def test_a_view_of_another_tensors_data_is_refused_until_that_tensor_is_gone() -> None:
    whole = tt.tensor(np.concatenate([DATA, DATA]))
    part = whole[0:2]
    bn = _inplace()
    with pytest.raises(tt.TypedTensorError, match=SHARED):
        bn.forward(part)
    del whole  # nothing else sees the buffer now: the part may be overwritten
    assert bn.forward(part) is part
    np.testing.assert_allclose(part.numpy(), _expected(DATA), rtol=1e-12)


def test_a_released_holder_no_longer_blocks() -> None:
    x = tt.tensor(DATA)
    view = x.numpy()
    bn = _inplace()
    with pytest.raises(tt.TypedTensorError, match=SHARED):
        bn.forward(x)
    del view
    assert bn.forward(x) is x
    np.testing.assert_allclose(x.numpy(), _expected(DATA), rtol=1e-12)


def test_a_consumed_tape_no_longer_blocks() -> None:
    """After backward the tape has released the values: overwriting them changes no gradient."""
    x = tt.tensor(DATA)
    grads = tt.Gradients()
    grads.alloc(x)
    loss = x.trace(grads).square().sum()
    bn = _inplace()
    with pytest.raises(tt.TypedTensorError, match=SHARED):
        bn.forward(x)
    loss.backward()
    del loss
    bn.forward(x)
    np.testing.assert_allclose(grads.get(x).numpy(), 2 * DATA, rtol=1e-15)
    np.testing.assert_allclose(x.numpy(), _expected(DATA), rtol=1e-12)


def _channels_last() -> Any:
    return tt.tensor(np.ascontiguousarray(DATA.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2))


#: Inputs refused for their layout, the reason the message gives, and whether the buffer is read-only.
LAYOUTS: dict[str, tuple[Callable[[], Any], str]] = {
    "channels-last": (_channels_last, "not C-contiguous"),
    "f-order": (lambda: tt.tensor(np.asfortranarray(DATA)), "not C-contiguous"),
    "transposed-view": (lambda: tt.tensor(DATA).permute((0, 1, 3, 2)), "not C-contiguous"),
    "negative-strides": (lambda: tt.tensor(DATA)[:, :, ::-1], "not C-contiguous"),
    "broadcast": (lambda: tt.tensor(DATA[:1]).broadcast_to((2, 3, 4, 4)), "read-only"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_refused_layout_says_why_and_its_advice_works(layout: str) -> None:
    """The message used to say "pass a tensor that owns its data (tt.tensor(...))", which keeps the layout
    (a channels-last tensor was refused again); each reason now gives advice that works, and following
    it writes in place."""
    make, reason = LAYOUTS[layout]
    x = make()
    before = np.array(x._data, copy=True)
    with pytest.raises(tt.InplaceError, match=reason) as info:
        _inplace().forward(x)
    message = str(info.value)
    assert "tt.tensor(np.ascontiguousarray(x.numpy()))" in message
    assert "inplace=False" in message
    np.testing.assert_array_equal(x._data, before)
    fixed = tt.tensor(np.ascontiguousarray(x.numpy()))  # the advice
    del x
    assert _inplace().forward(fixed) is fixed
    np.testing.assert_allclose(fixed.numpy(), _expected(before), rtol=1e-12)


def test_the_shared_buffer_advice_works() -> None:
    x = tt.tensor(DATA)
    view = x.detach()
    with pytest.raises(tt.InplaceError, match=SHARED):
        _inplace().forward(view)
    fixed = tt.tensor(view)  # the advice: tt.tensor(x) makes a copy
    assert _inplace().forward(fixed) is fixed
    np.testing.assert_allclose(fixed.numpy(), _expected(DATA), rtol=1e-12)
    np.testing.assert_array_equal(x.numpy(), DATA)


def test_inplace_refusals_are_one_class_whatever_the_checks_switch() -> None:
    for checks in (True, False):
        with tt.checks(checks):
            with pytest.raises(tt.InplaceError):
                _inplace().forward(_channels_last())
            x = tt.tensor(DATA)
            held = x.numpy()
            with pytest.raises(tt.InplaceError):
                _inplace().forward(x)
            del held
    assert issubclass(tt.InplaceError, tt.TypedTensorError)


# ---- what is written in place ------------------------------------------------------------------


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
def test_a_tensor_that_owns_its_buffer_is_written_and_returned(checks: bool) -> None:
    user = np.array(DATA, copy=True)
    x = tt.tensor(user)  # tt.tensor copies: the caller's array is never written
    with tt.checks(checks):
        y = _inplace().forward(x)
    assert y is x
    np.testing.assert_allclose(x.numpy(), _expected(DATA), rtol=1e-12)
    np.testing.assert_array_equal(user, DATA)


def test_layer_outputs_are_written_in_place() -> None:
    """The output of another layer is a fresh buffer (often a view of a temporary): accepted."""
    conv = nn.Conv2D(3, 3, 1, bias=False, dtype=F64)
    conv.weight._data[...] = np.eye(3)[:, :, None, None]
    out = conv.forward(tt.tensor(DATA))
    assert _inplace().forward(out) is out
    np.testing.assert_allclose(out.numpy(), _expected(DATA), rtol=1e-12)
    first, second = _inplace(), _inplace()
    x = tt.tensor(DATA)
    y = second.forward(first.forward(x))  # chained: the input tensor itself comes back each time
    assert y is x
    np.testing.assert_allclose(x.numpy(), _expected(_expected(DATA)), rtol=1e-12)


def test_float16_batchnorm1d_and_fused_in_place() -> None:
    half = nn.BatchNorm2D(3, dtype=np.float16, inplace=True)
    x16 = tt.tensor(DATA.astype(np.float16))
    assert half.forward(x16) is x16
    np.testing.assert_allclose(x16.numpy(), DATA.astype(np.float16), rtol=2e-3, atol=2e-3)
    one = nn.BatchNorm1D(3, dtype=F64, inplace=True)
    x1 = tt.tensor(DATA[:, :, 0, 0])
    held = x1.numpy()
    with pytest.raises(tt.TypedTensorError, match=SHARED):
        one.forward(x1)
    del held
    assert one.forward(x1) is x1
    fused: Any = nn.FusedBatchNorm2D(3, dtype=F64, inplace=True)
    x = tt.tensor(DATA)
    other = tt.tensor(DATA + 1.0)
    assert fused.forward(x, other) is x
    np.testing.assert_allclose(x.numpy(), np.maximum(DATA / np.sqrt(1 + 1e-5) + DATA + 1.0, 0), rtol=1e-12)


def test_without_inplace_nothing_is_refused_or_written() -> None:
    x = tt.tensor(DATA)
    view = x.numpy()
    bn: Any = nn.BatchNorm2D(3, dtype=F64)
    y = bn.forward(x.detach())
    assert y is not x
    np.testing.assert_array_equal(view, DATA)


def test_the_tape_error_no_longer_recommends_detach_for_inplace_modules() -> None:
    xt = tt.tensor(DATA).leaky_trace()
    with tt.checks(False), pytest.raises(tt.TapeError, match="inference and takes an untraced tensor") as info:
        _inplace().forward(xt)
    assert "x.detach()" not in str(info.value)
    assert "tt.tensor(x)" in str(info.value)
    assert "overwrite the values the tape holds" in str(info.value)
    plain: Any = nn.BatchNorm2D(3, dtype=F64)
    with tt.checks(False), pytest.raises(tt.TapeError, match=r"or pass x\.detach\(\) to run inference"):
        plain.forward(xt)
