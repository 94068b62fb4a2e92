"""The fix of a dtype mismatch is written once (``extend.astype_advice``): every message that gives it
names the conversion to make, with the dtype to convert to, in the same words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn


def _any(value: object) -> Any:
    """``value`` typed Any: these calls pass what the annotations refuse, as untyped code can."""
    return value


F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def test_the_advice() -> None:
    assert ext.astype_advice("the input", F32) == "convert the input with .astype(np.float32)"
    assert ext.astype_advice("one", F64, F32) == "convert one with .astype(np.float64) or .astype(np.float32)"
    assert (
        ext.astype_advice("it", F32, model=True) == "convert it with .astype(np.float32) or the model with to_dtype()"
    )
    # a tensor's astype makes floats only: an integer dtype is reached through tt.tensor
    assert ext.astype_advice("it", np.dtype(np.int64)) == "convert it with tt.tensor(x, np.int64)"
    err = ext.input_dtype_error("MyLayer", F32, F64)
    assert isinstance(err, tt.DTypeError)
    assert str(err) == (
        "MyLayer: the layer holds float32 parameters but the input is float64; convert the input with "
        ".astype(np.float32) or the model with to_dtype()"
    )


_LAYER_INPUT = (
    "the layer holds float32 parameters but the input is float64; convert the input with .astype(np.float32) or "
    "the model with to_dtype()"
)
x64 = tt.zeros((2, 3, 4, 4), np.float64)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nn.Linear(4, 2).forward(_any(x64)), "Linear: " + _LAYER_INPUT),
        (lambda: _any(nn.Conv2D(3, 2, 3)).forward(x64), "Conv2D: " + _LAYER_INPUT),
        (lambda: _any(nn.BatchNorm2D(3)).forward(x64), "BatchNorm2D: " + _LAYER_INPUT),
        (lambda: nn.LayerNorm(4).forward(_any(x64)), "LayerNorm: " + _LAYER_INPUT),
        (
            lambda: _any(tt.zeros((2, 3))) @ tt.zeros((3, 2), np.float64),
            "matmul: dtypes float32 and float64 differ; convert one with .astype(np.float64) or .astype(np.float32)",
        ),
        (
            lambda: _any(tt.zeros((2,))) + tt.zeros((2,), np.float64),
            "elementwise op: dtypes float32 and float64 differ; convert one with .astype(np.float64) or "
            ".astype(np.float32)",
        ),
    ],
    ids=["Linear", "Conv2D", "BatchNorm2D", "LayerNorm", "matmul", "elementwise"],
)
@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
def test_mismatches_give_the_one_advice(call: Callable[[], object], message: str, checks: bool) -> None:
    with tt.checks(checks), pytest.raises(tt.DTypeError) as info:
        call()
    if checks:  # the annotation's check names the binding, with the same advice
        assert "convert it with .astype(np.float32)" in str(info.value) or message in str(info.value)
    else:
        assert message in str(info.value)


def test_every_other_message_names_the_dtype_to_convert_to() -> None:
    lin = nn.Linear(2, 2)
    with pytest.raises(tt.DTypeError, match=r"convert the tensor with \.astype\(np\.float32\) or the model with"):
        lin.weight = _any(tt.zeros((2, 2), np.float64))
    with pytest.raises(tt.DTypeError, match=r"convert it with \.astype\(np\.float32\)$"):
        ext.set_grad(tt.Gradients(), lin.weight, np.zeros((2, 2)))
    with pytest.raises(tt.DTypeError, match=r"convert it with \.astype\(np\.float32\)$"):
        nn.functional.max_pool2d(_any(tt.tensor(np.zeros((1, 1, 2, 2)), np.int64)), 2)
    with pytest.raises(tt.DTypeError, match=r"convert the tensor to a wider dtype first with \.astype\(np\.float32\)"):
        _ = tt.zeros((2,), np.float16) + 1e6
    with pytest.raises(tt.DTypeError, match=r"convert the array first with \.astype\(np\.float32\)"):
        ext.wrap(np.zeros(2, np.complex64))


def test_the_run_time_check_gives_the_advice_too() -> None:
    @tt.checked
    def f(x: tt.Tensor[tuple[int], np.float32, tt.NoneTape]) -> None:
        del x

    with pytest.raises(tt.DTypeError, match=r"float32 is expected \(convert it with \.astype\(np\.float32\)\)"):
        f(_any(tt.zeros((2,), np.float64)))
