"""Every ``dtype=`` argument of the public API goes through one check (issue 10 review, point 1).

Accepted: the NumPy scalar types ``np.float16``, ``np.float32``, ``np.float64`` (and, in ``tt.tensor``,
``np.bool_`` and the NumPy integer types). Refused with the same ``DTypeError`` and message with checks
on or off: strings (``"float32"``), Python's ``float``/``int``, ``np.dtype`` objects, ``None`` where it
is not the documented default, and anything else. The dtype is part of the static type
(``Tensor[S, E, T]``): only a NumPy scalar type gives the checkers ``E``, so the run time accepts what
the static type accepts. tests/test_error_classes.py runs the same mistakes with ``TYPEDTENSOR_CHECKS=0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn

SWITCH = pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])
FLOATS = "dtype must be np.float16, np.float32 or np.float64"
tt_: Any = tt  # the bad calls below are static errors: made through Any
nn_: Any = nn

#: Every public callable with a ``dtype`` parameter, as ``make(dtype)``.
MAKERS: dict[str, Callable[[Any], Any]] = {
    "tensor": lambda d: tt_.tensor(np.ones(2), d),
    "zeros": lambda d: tt_.zeros((2,), d),
    "ones": lambda d: tt_.ones((2,), d),
    "full": lambda d: tt_.full((2,), 1.0, d),
    "randn": lambda d: tt_.randn((2,), d, seed=0),
    "astype": lambda d: tt_.zeros((2,)).astype(d),
    "Linear": lambda d: nn_.Linear(2, 2, dtype=d),
    "Conv2D": lambda d: nn_.Conv2D(2, 2, 1, dtype=d),
    "BatchNorm1D": lambda d: nn_.BatchNorm1D(2, dtype=d),
    "BatchNorm2D": lambda d: nn_.BatchNorm2D(2, dtype=d),
    "SyncBatchNorm2D": lambda d: nn_.SyncBatchNorm2D(2, dtype=d),
    "to_dtype": lambda d: nn_.Linear(2, 2).to_dtype(d),
}
#: Not a NumPy float scalar type: (value, what the message says about it).
BAD: list[tuple[object, str]] = [
    ("banana", "'banana'"),
    ("float16", "np.float16"),  # a dtype name: the message names the type to pass
    (float, "np.float64"),
    (int, "int"),
    (np.dtype(np.float32), "np.float32"),
    (np.complex64, "complex64"),
    (np.longdouble, "longdouble"),
    (np.floating, "floating"),
    (np.timedelta64, "timedelta64"),
    (object(), "object"),
    (3, "3"),
]
BAD_IDS = [repr(b[0])[:20] for b in BAD]


def _made_dtype(made: Any) -> object:
    """The dtype of what was made: a tensor's, or a layer's first parameter's."""
    return made.weight.dtype if hasattr(made, "weight") else made.dtype


@SWITCH
@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=["f16", "f32", "f64"])
def test_numpy_float_types_are_accepted(name: str, dtype: type[Any], on: bool) -> None:
    with tt.checks(on):
        made = MAKERS[name](dtype)
    assert made.dtype == np.dtype(dtype)
    assert _made_dtype(made) == np.dtype(dtype)


@SWITCH
@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize(("bad", "shown"), BAD, ids=BAD_IDS)
def test_other_dtypes_are_one_dtype_error_with_checks_on_or_off(name: str, bad: object, shown: str, on: bool) -> None:
    with tt.checks(on), pytest.raises(tt.DTypeError) as info:
        MAKERS[name](bad)
    message = str(info.value)
    assert not isinstance(info.value, tt.CheckError), "the dtype check is the op's own, with checks on or off"
    assert FLOATS in message, message
    if name == "tensor":
        assert "np.bool_ or a NumPy integer type" in message, message
        shown = "np.int64" if bad is int else shown  # the NumPy type to pass for Python's int
    assert shown in message, message


@SWITCH
@pytest.mark.parametrize("name", [n for n in MAKERS if n not in ("tensor",)])
def test_none_is_not_the_default_dtype(name: str, on: bool) -> None:
    """``Linear(2, 2, dtype=None)`` made float64 parameters (np.dtype(None)) though the default is float32."""
    with tt.checks(on), pytest.raises(tt.DTypeError, match=FLOATS) as info:
        MAKERS[name](None)
    assert "None" in str(info.value)


@SWITCH
def test_tensor_takes_integer_and_bool_types_and_none(on: bool) -> None:
    with tt.checks(on):
        for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_):
            assert tt.tensor(np.ones(2), dtype).dtype == np.dtype(dtype)
        assert tt.tensor(np.ones(2), None).dtype == np.float64
        assert tt.tensor([1, 2], None).dtype == np.float32
        with pytest.raises(tt.DTypeError, match=r"np\.int64"):
            tt_.tensor(np.ones(2), "int64")


@SWITCH
def test_layers_made_with_a_refused_dtype_never_exist(on: bool) -> None:
    """The reviewer's case: with dtype="banana" the layer was built (m.dtype None) and forward raised
    a raw AttributeError."""
    with tt.checks(on):
        makers: list[Callable[[], object]] = [
            lambda: nn_.Linear(2, 2, dtype="banana"),
            lambda: nn_.Conv2D(2, 2, 1, dtype="banana"),
        ]
        for make in makers:
            with pytest.raises(tt.DTypeError, match=FLOATS):
                make()
        assert nn.Linear(2, 2).dtype == np.float32
