"""typedtensor.extend.options: one checker per kind of option, one class and message per kind of mistake.

The first half pins each checker (accepted values and their normal form, refused values with the class and
message); the second checks that the layers, losses, optimizers and checkpoint options use them (each of
those cases behaved differently, or not at all, before the checks were shared).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.optim import SGD, Adam, OptimizerError


def _refused(call: Any, message: str, cls: type[Exception] = tt.TypedTensorError) -> None:
    """``call()`` raises exactly ``cls`` with exactly ``message``."""
    with pytest.raises(cls) as info:
        call()
    assert type(info.value) is cls, type(info.value)
    assert str(info.value) == message


# ---- real and the checkers built on it -----------------------------------------------------------


@pytest.mark.parametrize(
    "value", [3, -2.5, 0.0, np.float32(0.25), np.float64(1e300), np.int64(7), np.uint8(200), 2**1000]
)
def test_real_accepts_every_finite_real_and_returns_a_python_float(value: Any) -> None:
    number = ext.options.real(value, "lr", "SGD")
    assert type(number) is float
    assert number == float(value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True (bool)"),
        (np.True_, "np.True_ (bool)"),
        ("0.1", "'0.1' (str)"),
        (None, "None (NoneType)"),
        ([0.1], "[0.1] (list)"),
        (np.array(0.1), "array(0.1) (ndarray)"),
        (1j, "1j (complex)"),
    ],
)
def test_real_refuses_a_non_number_or_a_bool(value: object, shown: str) -> None:
    _refused(lambda: ext.options.real(value, "lr", "SGD"), f"SGD: lr must be a real number, got {shown}")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), 10**400])
def test_real_refuses_nan_infinities_and_ints_beyond_float64(value: object) -> None:
    _refused(lambda: ext.options.real(value, "eps"), f"eps must be finite, got {value!r}")


def test_the_error_class_and_the_prefix_are_the_callers() -> None:
    _refused(
        lambda: ext.options.real("x", "lr", "Adam", error=OptimizerError),
        "Adam: lr must be a real number, got 'x' (str)",
        OptimizerError,
    )
    _refused(
        lambda: ext.options.flag(1, "amsgrad", error=OptimizerError),
        "amsgrad must be True or False, got 1",
        OptimizerError,
    )


def test_non_negative_and_positive() -> None:
    assert ext.options.non_negative(0, "lr") == 0.0
    assert math.copysign(1.0, ext.options.non_negative(-0.0, "eps")) == -1.0  # as given: the caller normalises
    _refused(lambda: ext.options.non_negative(-1e-3, "lr", "SGD"), "SGD: lr must be >= 0, got -0.001")
    _refused(
        lambda: ext.options.non_negative(-1, "eps", why="it is added to the variance", fix="the default is 1e-5"),
        "eps must be >= 0 (it is added to the variance), got -1; the default is 1e-5",
    )
    _refused(lambda: ext.options.non_negative(math.nan, "lr"), "lr must be finite, got nan")
    assert ext.options.positive(np.float16(0.5), "init_factor") == 0.5
    for bad in (0, 0.0, -2):
        _refused(lambda bad=bad: ext.options.positive(bad, "init_factor"), f"init_factor must be > 0, got {bad!r}")


def test_unit_takes_the_closed_unit_interval_with_one_message_for_every_mistake() -> None:
    for good in (0, 1, 0.5, np.float32(0.25), np.int8(1)):
        number = ext.options.unit(good, "p", "Dropout")
        assert type(number) is float
        assert number == float(good)
    for bad in (-0.01, 1.5, math.nan, math.inf, True, "0.5", None):
        _refused(
            lambda bad=bad: ext.options.unit(bad, "p", "Dropout"), f"Dropout: p must be a number in [0, 1], got {bad!r}"
        )
    assert ext.options.unit(None, "momentum", optional=True) is None
    _refused(
        lambda: ext.options.unit(2, "momentum", optional=True), "momentum must be a number in [0, 1] or None, got 2"
    )


# ---- flags and ints -------------------------------------------------------------------------------


def test_flag_takes_python_and_numpy_bools_only() -> None:
    for value, expected in ((True, True), (False, False), (np.True_, True), (np.False_, False)):
        result = ext.options.flag(value, "affine")
        assert type(result) is bool
        assert result is expected
    for bad in (1, 0, "yes", None, np.array([True]), 1.0):
        _refused(
            lambda bad=bad: ext.options.flag(bad, "strict", "save"), f"save: strict must be True or False, got {bad!r}"
        )


def test_integer_is_a_python_or_numpy_integer_and_never_a_bool() -> None:
    assert ext.options.integer(np.int32(-4)) == -4
    assert type(ext.options.integer(np.int32(-4))) is int
    for bad in (True, np.True_, 2.0, "2", None, np.array(2)):
        assert ext.options.integer(bad) is None


def test_positive_int() -> None:
    assert ext.options.positive_int(np.uint16(3), "in_features", "Linear") == 3
    assert type(ext.options.positive_int(np.int64(3), "in_features")) is int
    for bad in (0, -1, True, np.True_, 2.0, "3", None, np.float64(2.0)):
        _refused(
            lambda bad=bad: ext.options.positive_int(bad, "in_features", "Linear"),
            f"Linear: in_features must be a positive int, got {bad!r}",
        )
    assert ext.options.positive_int(None, "max_bytes", optional=True) is None
    _refused(
        lambda: ext.options.positive_int(0, "size", "L", why="the last dim", fix="pass x.shape[-1]"),
        "L: size must be a positive int (the last dim), got 0; pass x.shape[-1]",
    )
    _refused(
        lambda: ext.options.positive_int(0, "max_bytes", "save", optional=True),
        "save: max_bytes must be a positive int or None, got 0",
    )


def test_count_and_seed() -> None:
    assert ext.options.count(0, "n") == 0
    assert type(ext.options.count(np.int64(5), "n")) is int
    for bad in (-1, True, 1.5, "3", None):
        _refused(
            lambda bad=bad: ext.options.count(bad, "n", "shard", why="the number of items to split"),
            f"shard: n must be a non-negative int (the number of items to split), got {bad!r}",
        )
    _refused(
        lambda: ext.options.count(2**63, "steps", maximum=2**63 - 1), f"steps must be a non-negative int, got {2**63}"
    )
    assert ext.options.count(2**63 - 1, "steps", maximum=2**63 - 1) == 2**63 - 1
    assert ext.options.seed(None) is None
    assert ext.options.seed(np.int64(3), "Linear") == 3
    for wrong in (-1, True, np.False_, 1.0, "0", [1]):
        _refused(
            lambda wrong=wrong: ext.options.seed(wrong, "Linear"),
            f"Linear: seed must be a non-negative int or None, got {wrong!r}",
        )


# ---- the callers use them -------------------------------------------------------------------------


def _any(value: object) -> Any:
    """``value`` typed Any: the calls below pass what the annotations do not admit, as untyped code can."""
    return value


def test_layers_take_numpy_integers_and_store_python_ints() -> None:
    lin = nn.Linear(_any(np.int64(3)), _any(np.int32(2)), seed=_any(np.int64(1)))
    assert (type(lin.in_features), type(lin.out_features)) == (int, int)
    assert lin.forward(tt.ones((4, 3))).shape == (4, 2)
    conv = nn.Conv2D(_any(np.int64(2)), _any(np.int64(4)), 3, groups=_any(np.int64(2)))
    assert (type(conv.in_channels), type(conv.out_channels), type(conv.groups)) == (int, int, int)
    bn = nn.BatchNorm2D(_any(np.int64(3)))
    assert type(bn.num_features) is int
    ln = nn.LayerNorm(_any(np.int64(4)))
    assert type(ln.normalized_shape) is int
    assert ln.forward(tt.ones((2, 4))).shape == (2, 4)


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Linear(3, 2, bias=_any("no")), lambda: nn.Conv2D(1, 1, 3, bias=_any(1))],
    ids=["Linear", "Conv2D"],
)
def test_a_bias_flag_that_is_not_a_bool_is_refused(make: Any) -> None:
    with pytest.raises(tt.TypedTensorError, match=r"bias must be True or False, got"):
        make()


def test_probabilities_are_refused_with_one_class_and_message() -> None:
    _refused(lambda: nn.Dropout(_any("0.5")), "Dropout: p must be a number in [0, 1], got '0.5'")
    _refused(lambda: nn.Dropout(True), "Dropout: p must be a number in [0, 1], got True")
    logits, labels = tt.zeros((2, 3)), tt.tensor(np.array([0, 1]), np.int64)
    _refused(
        lambda: nn.cross_entropy(logits, labels, label_smoothing=True),
        "cross_entropy: label_smoothing must be a number in [0, 1], got True",
    )
    _refused(
        lambda: nn.cross_entropy(logits, labels, label_smoothing=math.nan),
        "cross_entropy: label_smoothing must be a number in [0, 1], got nan",
    )


def test_ema_takes_a_numpy_float_decay() -> None:
    a, b = nn.Linear(2, 2, seed=0), nn.Linear(2, 2, seed=1)
    before = a.weight.numpy().copy()
    a.ema(b, _any(np.float32(0.5)))
    np.testing.assert_allclose(a.weight.numpy(), 0.5 * before + 0.5 * b.weight.numpy(), rtol=1e-6)
    with pytest.raises(tt.TypedTensorError, match=re.escape("ema: decay must be a number in [0, 1], got nan")):
        a.ema(b, math.nan)


def test_reset_params_names_the_bad_seed() -> None:
    _refused(lambda: nn.Linear(2, 2).reset_params(-1), "reset_params: seed must be a non-negative int or None, got -1")


def test_optimizers_and_checkpoints_use_the_shared_checks(tmp_path: Any) -> None:
    model = nn.Linear(2, 2)
    opt = SGD(model, lr=_any(np.float32(0.5)), nesterov=_any(np.False_))
    assert type(opt.lr) is float
    assert opt.nesterov is False
    _refused(
        lambda: Adam(model, lr=0.1, betas=_any((0.9, True))),
        "Adam: betas[1] must be a real number, got True (bool)",
        OptimizerError,
    )
    path = tmp_path / "m.safetensors"
    model.save_safetensors(path)
    model.load_safetensors(path, strict=_any(np.True_))  # a NumPy bool is a bool option
    _refused(
        lambda: model.load_safetensors(path, max_bytes=_any(True)),
        "load_safetensors: max_bytes must be a positive int or None, got True",
    )
