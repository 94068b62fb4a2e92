"""One class for one mistake, whatever the checks switch says.

Each mistake below is made with run-time checks on (the annotation check usually finds it first) and
off (the op's own check finds it), and, in one subprocess, with ``TYPEDTENSOR_CHECKS=0`` (nothing
wrapped). Every time the error must be an instance of the same specific class: a shape mistake is a
``ShapeError``, a dtype mistake (or a value that is not a tensor or a number) a ``DTypeError``, a tape
mistake a ``TapeError``. With checks on the checker's errors are also ``CheckError``s.
"""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn
from typedtensor.nn import functional as fn

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mistake:
    name: str
    expected: type[tt.TypedTensorError]
    shows: str  # in the message with checks on and off (the mistake was found for the right reason)
    call: Callable[[], object]


def _a() -> Any:
    return tt.zeros((2, 3))


def _img(shape: tuple[int, ...] = (2, 3, 4, 4), dtype: type[Any] = np.float32) -> Any:
    return tt.zeros(shape, dtype)


def _bn() -> Any:
    return nn.BatchNorm2D(3)


def _linear() -> Any:
    return nn.Linear(3, 4)


def _labels(n: int) -> Any:
    return tt.tensor(np.zeros(n, np.int64), np.int64)


def _ones_int() -> Any:
    return tt.tensor(np.ones(3, np.int64), np.int64)


def _conv() -> Any:
    return nn.Conv2D(3, 2, 3)


S, D, T = tt.ShapeError, tt.DTypeError, tt.TapeError
_FLOATS = "dtype must be np.float16, np.float32 or np.float64"
# Each mistake is a static error too (tests/typing): here the modules are Any to make them at run time.
tt_: Any = tt
nn_: Any = nn
fn_: Any = fn
np_: Any = np

MISTAKES = [
    # elementwise operators
    Mistake("add: shapes differ", S, "(3, 2)", lambda: _a() + tt_.zeros((3, 2))),
    Mistake("add: dtypes differ", D, "float64", lambda: _a() + tt_.zeros((2, 3), np.float64)),
    Mistake("add: shape and dtype differ", S, "(3, 2)", lambda: _a() + tt_.zeros((3, 2), np.float64)),
    Mistake("add: str operand", D, "str", lambda: _a() + "x"),
    Mistake("radd: str operand", D, "str", lambda: "x" + _a()),
    Mistake("sub: ndarray operand", D, "ndarray", lambda: _a() - np_.zeros((2, 3), np.float32)),
    Mistake("mul: list operand", D, "list", lambda: _a() * [1.0, 2.0, 3.0]),
    Mistake("rsub: str operand", D, "str", lambda: _a().__rsub__("x")),
    Mistake("mul: int tensor by a float", D, "float64", lambda: _labels(3) * 2.5),
    Mistake("div: int tensor by an int tensor", D, "float64", lambda: _ones_int() / _ones_int()),
    Mistake("exp: int tensor", D, "float64", lambda: _labels(3).exp()),
    Mistake("gt: shapes differ", S, "(3,)", lambda: _a() > tt_.zeros((3,))),
    Mistake("lt: str operand", D, "str", lambda: _a() < "x"),
    # matmul
    Mistake("matmul: inner dims differ", S, "inner dims", lambda: _a() @ _a()),
    Mistake("matmul: inner dims differ, 1-D other", S, "only dim", lambda: _a() @ tt_.zeros((2,))),
    Mistake("matmul: inner dims differ, vector @ vector", S, "inner dims", lambda: tt_.zeros((3,)) @ tt_.zeros((2,))),
    Mistake(
        "matmul: batch dims do not broadcast",
        S,
        "2 with 4 at batch dim -1",
        lambda: tt_.zeros((2, 2, 3)) @ tt_.zeros((4, 3, 5)),
    ),
    Mistake(
        "matmul: batch dims do not broadcast, other rank",
        S,
        "(3, 2) and (4, 2, 2), which pair 3 with 2 at batch dim -2;",
        lambda: tt_.zeros((3, 2, 2, 3)) @ tt_.zeros((4, 2, 2, 3, 5)),
    ),
    Mistake("matmul: rank-0 self", S, "rank >= 1", lambda: tt_.zeros(()) @ tt_.zeros((3,))),
    Mistake("matmul: rank-0 other", S, "rank >= 1", lambda: tt_.zeros((3,)) @ tt_.zeros(())),
    Mistake("matmul: dtypes differ", D, "float64", lambda: _a() @ tt_.zeros((3, 2), np.float64)),
    Mistake("matmul: int operand", D, "int", lambda: _a() @ 2),
    Mistake("matmul: ndarray operand", D, "ndarray", lambda: _a() @ np_.zeros((3, 2), np.float32)),
    # reductions and axes
    Mistake("sum: axis out of range", S, "axis 2", lambda: _a().sum(2)),
    Mistake("sum: NumPy axis out of range", S, "axis 2", lambda: _a().sum(np.int64(2))),
    Mistake("sum: repeated axis", S, "repeats", lambda: _a().sum((1, -1))),
    Mistake("sum: str axis", D, "str", lambda: _a().sum("1")),
    Mistake("mean: float axis", D, "float", lambda: _a().mean(1.0)),
    Mistake("max: str in an axis tuple", D, "str", lambda: _a().max((0, "1"))),
    Mistake("var: no degrees of freedom", S, "degrees of freedom", lambda: tt_.zeros((1, 3)).var(0)),
    Mistake("softmax: axis out of range", S, "axis 5", lambda: _a().softmax(5)),
    Mistake("softmax: str axis", D, "str", lambda: _a().softmax("1")),
    # shapes
    Mistake("transpose: rank 1", S, "(3,)", lambda: tt_.zeros((3,)).transpose()),
    Mistake("permute: not a permutation", S, "permutation", lambda: _a().permute((0, 0))),
    Mistake("transpose: dim out of range", S, "dim1=4", lambda: tt_.zeros((2, 3, 4, 5)).transpose(1, 4)),
    Mistake("transpose: dims of rank 1", S, "(3,)", lambda: tt_.zeros((3,)).transpose(0, 0)),
    Mistake("transpose: one dim alone", D, "dim1 is missing", lambda: _a().transpose(0)),
    Mistake("tril: rank 1", S, "(3,)", lambda: tt_.zeros((3,)).tril()),
    Mistake("triu: float diagonal", D, "float", lambda: _a().triu(1.5)),
    Mistake("zeros: integer dtype", D, "np.bool_ for a mask", lambda: tt_.zeros((2,), np_.int64)),
    Mistake("softmax: bool mask", D, "bool mask", lambda: (_a() > 0.0).softmax()),
    Mistake("sub: bool masks", D, "bool mask", lambda: (_a() > 0.0) - (_a() > 0.0)),
    Mistake("realize: other shape", S, "(3, 2)", lambda: _a().realize((3, 2))),
    Mistake("reshape: other size", S, "(4, 2)", lambda: _a().reshape((4, 2))),
    Mistake("masked_fill: mask shape", S, "(3,)", lambda: _a().masked_fill(tt_.zeros((3,)) > 0.0, 1.0)),
    Mistake("masked_fill: ndarray mask", D, "ndarray", lambda: _a().masked_fill(np_.zeros((2, 3), bool), 1.0)),
    Mistake("masked_fill: float mask", D, "bool", lambda: _a().masked_fill(_a(), 1.0)),
    Mistake("where: shapes differ", S, "(3, 2)", lambda: tt_.where(_a() > 0.0, _a(), tt_.zeros((3, 2)))),
    Mistake("where: ndarray branch", D, "ndarray", lambda: tt_.where(_a() > 0.0, _a(), np_.zeros((2, 3)))),
    Mistake("concat: shapes differ", S, "(3, 4)", lambda: tt_.concat([_a(), tt_.zeros((3, 4))])),
    Mistake("concat: dtypes differ", D, "float64", lambda: tt_.concat([_a(), tt_.zeros((2, 3), np.float64)])),
    Mistake("concat: ndarray item", D, "ndarray", lambda: tt_.concat([_a(), np_.zeros((2, 3))])),
    Mistake("stack: axis out of range", S, "axis 3", lambda: tt_.stack([_a()], axis=3)),
    Mistake("stack: str axis", D, "str", lambda: tt_.stack([_a()], axis="0")),
    # tapes and dtypes
    Mistake("backward: untraced loss", T, "OwnedTape", lambda: _a().sum().backward()),
    Mistake("backward: non-scalar loss", S, "(2, 3)", lambda: _a().leaky_trace().backward()),
    Mistake("trace: already traced", T, "detach()", lambda: _a().leaky_trace().leaky_trace()),
    Mistake("retaped: traced self", T, "detach()", lambda: _ones_int().leaky_trace().retaped(_a().leaky_trace())),
    Mistake("retaped: untraced like", T, "trace(grads)", lambda: _ones_int().retaped(_a())),
    Mistake("retaped: like not a tensor", D, "int", lambda: _ones_int().retaped(3)),
    Mistake("astype: integer dtype", D, "int32", lambda: _a().astype(np.int32)),
    Mistake("full: str value", D, "str", lambda: tt_.full((2,), "x")),
    Mistake("clamp: str bound", D, "str", lambda: _a().clamp("x")),
    # layers
    Mistake("BatchNorm.forward: traced input", T, "forward_mut", lambda: _bn().forward(_img().leaky_trace())),
    Mistake("BatchNorm.forward_mut: untraced input", T, "trace(grads)", lambda: _bn().forward_mut(_img())),
    Mistake("BatchNorm: channels", S, "(2, 4, 4, 4)", lambda: _bn().forward(_img((2, 4, 4, 4)))),
    Mistake("BatchNorm: rank", S, "2", lambda: _bn().forward(_img((2, 3)))),
    Mistake("BatchNorm: dtype", D, "float64", lambda: _bn().forward(_img(dtype=np.float64))),
    Mistake("BatchNorm.forward: ndarray", D, "ndarray", lambda: _bn().forward(np_.zeros((2, 3, 4, 4), np.float32))),
    Mistake(
        "BatchNorm.forward_mut: ndarray", D, "ndarray", lambda: _bn().forward_mut(np_.zeros((2, 3, 4, 4), np.float32))
    ),
    Mistake("Linear: in_features", S, "(2, 5)", lambda: _linear().forward(tt_.zeros((2, 5)))),
    Mistake("Linear: rank 0", S, "shape ()", lambda: _linear().forward(tt_.zeros(()))),
    Mistake("Linear: dtype", D, "float64", lambda: _linear().forward(tt_.zeros((2, 3), np.float64))),
    Mistake("Linear.forward: ndarray", D, "ndarray", lambda: _linear().forward(np_.zeros((2, 3), np.float32))),
    Mistake("Linear.forward_mut: list", D, "list", lambda: _linear().forward_mut([[0.0, 0.0, 0.0]])),
    Mistake("Conv2D: channels", S, "(2, 4, 5, 5)", lambda: _conv().forward(_img((2, 4, 5, 5)))),
    Mistake("Conv2D: rank", S, "(3, 5)", lambda: _conv().forward(_img((3, 5)))),
    Mistake("Conv2D: ndarray", D, "ndarray", lambda: _conv().forward(np_.zeros((2, 3, 5, 5), np.float32))),
    Mistake("MaxPool2D: ndarray", D, "ndarray", lambda: nn_.MaxPool2D(2).forward(np_.zeros((2, 3, 4, 4), np.float32))),
    Mistake("GlobalAvgPool2D: ndarray", D, "ndarray", lambda: nn_.GlobalAvgPool2D().forward(np_.zeros((2, 3, 4, 4)))),
    Mistake("ReLU: ndarray", D, "ndarray", lambda: nn_.ReLU().forward(np_.zeros((2, 3), np.float32))),
    Mistake("Flatten: ndarray", D, "ndarray", lambda: nn_.Flatten().forward(np_.zeros((2, 3), np.float32))),
    Mistake("Dropout.forward: traced input", T, "forward_mut", lambda: nn_.Dropout(0.5).forward(_a().leaky_trace())),
    Mistake("Dropout.forward: ndarray", D, "ndarray", lambda: nn_.Dropout(0.5).forward(np_.zeros((2, 3)))),
    Mistake("Dropout.forward_mut: ndarray", D, "ndarray", lambda: nn_.Dropout(0.5).forward_mut(np_.zeros((2, 3)))),
    Mistake("max_pool2d: rank", S, "(4, 4)", lambda: fn_.max_pool2d(_img((4, 4)), 2)),
    Mistake("cross_entropy: ndarray logits", D, "ndarray", lambda: nn_.cross_entropy(np_.zeros((2, 3)), _labels(2))),
    Mistake("cross_entropy: labels shape", S, "(3,)", lambda: nn_.cross_entropy(_a(), _labels(3))),
    Mistake("mse_loss: shapes differ", S, "(3, 2)", lambda: nn_.mse_loss(_a(), tt_.zeros((3, 2)))),
    Mistake("mse_loss: ndarray prediction", D, "ndarray", lambda: nn_.mse_loss(np_.zeros((2, 3)), _a())),
    # dtype arguments: NumPy float types only (tt.tensor: integer and bool types too), one check (tests/test_dtype_args.py)
    Mistake("Linear: str dtype", D, _FLOATS, lambda: nn_.Linear(2, 2, dtype="banana")),
    Mistake("Linear: dtype None", D, _FLOATS, lambda: nn_.Linear(2, 2, dtype=None)),
    Mistake("Conv2D: str dtype", D, _FLOATS, lambda: nn_.Conv2D(2, 2, 1, dtype="banana")),
    Mistake("BatchNorm2D: np.dtype object", D, "np.float32", lambda: nn_.BatchNorm2D(2, dtype=np.dtype(np.float32))),
    Mistake("to_dtype: str dtype", D, _FLOATS, lambda: _linear().to_dtype("banana")),
    Mistake("astype: str dtype", D, _FLOATS, lambda: _a().astype("banana")),
    Mistake("astype: dtype name", D, "np.float16", lambda: _a().astype("float16")),
    Mistake("astype: Python float", D, "np.float64", lambda: _a().astype(float)),
    Mistake("zeros: str dtype", D, _FLOATS, lambda: tt_.zeros((2,), "banana")),
    Mistake("ones: Python float", D, "np.float64", lambda: tt_.ones((2,), float)),
    Mistake("full: dtype None", D, "None", lambda: tt_.full((2,), 1.0, None)),
    Mistake("randn: complex dtype", D, "complex64", lambda: tt_.randn((2,), np.complex64)),
    Mistake("tensor: str dtype", D, _FLOATS, lambda: tt_.tensor(np.ones(2), "banana")),
    Mistake("tensor: Python int", D, "np.int64", lambda: tt_.tensor(np.ones(2), int)),
    # operators without a meaning here
    Mistake("rmatmul: int @ tensor", D, "Tensor", lambda: 2 @ _a()),
    Mistake("rmatmul: ndarray @ tensor", D, "ndarray", lambda: np_.zeros((3, 2), np.float32) @ _a()),
    Mistake("pow: str exponent", D, "str", lambda: _a() ** "2"),
    Mistake("pow: tensor exponent", D, "Tensor", lambda: _a() ** _a()),
    Mistake("pow: modulo", D, "modulo", lambda: pow(_a(), 2, 3)),
    Mistake("rpow: str base", D, "str", lambda: "2" ** _a()),
    # bool axes (True is an int to Python, but not an axis)
    Mistake("sum: bool axis", D, "bool", lambda: _a().sum(axis=True)),
    Mistake("mean: bool in an axis tuple", D, "bool", lambda: _a().mean((0, True))),
    Mistake("var: bool axis", D, "bool", lambda: _a().var(False)),
    Mistake("softmax: bool axis", D, "bool", lambda: _a().softmax(True)),
    Mistake("permute: bool axis", D, "bool", lambda: _a().permute((True, 0))),
    Mistake("transpose: bool dim", D, "bool", lambda: _a().transpose(True, 0)),
    Mistake("tril: bool diagonal", D, "bool", lambda: _a().tril(True)),
    Mistake("concat: bool axis", D, "bool", lambda: tt_.concat([_a()], axis=True)),
    Mistake("stack: bool axis", D, "bool", lambda: tt_.stack([_a()], axis=False)),
    Mistake("any: bool axis", D, "bool", lambda: (_a() > 0.0).any(axis=True)),
    Mistake("all: axis out of range", S, "axis 2", lambda: (_a() > 0.0).all(axis=2)),
    # conversions to Python numbers
    Mistake("float(): several elements", S, ".item()", lambda: float(_a())),
    Mistake("int(): several elements", S, ".item()", lambda: int(_a())),
    Mistake("int(): NaN", D, "NaN", lambda: int(tt_.full((1,), float("nan")))),
    Mistake("int(): inf", D, "inf", lambda: int(tt_.full((), float("inf")))),
    Mistake("getitem: a bool slice bound", D, "slice bounds must be ints", lambda: _a()[0:True]),
    Mistake("getitem: a bool in an index list", D, "must hold ints", lambda: _a()[[0, True]]),
    Mistake("index(): float tensor", D, "int(t)", lambda: operator.index(tt_.zeros(()))),
    Mistake("index(): several elements", S, "one element", lambda: operator.index(_labels(2))),
]

IDS = [m.name for m in MISTAKES]


def _error(mistake: Mistake) -> BaseException:
    try:
        mistake.call()
    except BaseException as e:  # the class is what is under test
        return e
    raise AssertionError(f"{mistake.name}: no error")


@pytest.mark.parametrize("enabled", [True, False], ids=["checks on", "checks off"])
@pytest.mark.parametrize("mistake", MISTAKES, ids=IDS)
def test_same_class_with_checks_on_and_off(mistake: Mistake, enabled: bool) -> None:
    with tt.checks(enabled):
        error = _error(mistake)
    assert isinstance(error, mistake.expected), f"{type(error).__name__}: {error}"
    assert isinstance(error, tt.TypedTensorError)
    assert mistake.shows in str(error), str(error)
    if isinstance(error, tt.CheckError):  # found by the annotation check: only while checks are on
        assert enabled
        assert type(error) is not tt.CheckError, "the checker's errors name the kind of mistake"


def test_same_class_without_the_checks_installed() -> None:
    """``TYPEDTENSOR_CHECKS=0``: nothing is wrapped, every op's own check must find the mistake."""
    code = (
        "import json, typedtensor as tt\n"
        "from tests.test_error_classes import MISTAKES, _error\n"
        "assert not tt.checks_enabled()\n"
        "out = {}\n"
        "for m in MISTAKES:\n"
        "    e = _error(m)\n"
        "    out[m.name] = [isinstance(e, m.expected) and m.shows in str(e), type(e).__name__, str(e)[:200]]\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, TYPEDTENSOR_CHECKS="0")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    results: dict[str, list[Any]] = json.loads(proc.stdout)
    wrong = {name: r[1:] for name, r in results.items() if not r[0]}
    assert not wrong, wrong
    assert len(results) == len(MISTAKES)


@pytest.mark.parametrize("enabled", [True, False], ids=["checks on", "checks off"])
def test_numpy_integer_axes_are_accepted(enabled: bool) -> None:
    """NumPy accepts its own integers as axes; typedtensor does too, with checks on or off."""
    x: Any = tt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))  # NumPy ints are static errors (int only)
    with tt.checks(enabled):
        assert np.array_equal(x.sum(axis=np.int64(1)).numpy(), [3.0, 12.0])
        assert np.array_equal(x.mean(np.int32(0)).numpy(), [1.5, 2.5, 3.5])
        assert np.array_equal(x.max((np.int64(0), np.int8(1))).numpy(), np.float32(5.0))
        assert np.array_equal(x.var(np.uint8(1), correction=0).numpy(), np.full(2, 2 / 3, np.float32))
        assert x.softmax(np.int64(0)).shape == (2, 3)
        assert x.log_softmax(axis=np.int16(-1)).shape == (2, 3)
        assert x.permute((np.int64(1), np.int64(0))).shape == (3, 2)
        assert tt_.concat([x, x], axis=np.int64(1)).shape == (2, 6)
        assert tt_.stack([x, x], axis=np.int64(2)).shape == (2, 3, 2)


@pytest.mark.parametrize("enabled", [True, False], ids=["checks on", "checks off"])
def test_non_tensor_operands_say_what_was_expected(enabled: bool) -> None:
    a: Any = tt.zeros((2, 3))
    lin: Any = nn.Linear(3, 4)
    with tt.checks(enabled):
        with pytest.raises(tt.DTypeError, match="int") as info:
            _ = a @ 2
        assert "Tensor" in str(info.value)
        with pytest.raises(tt.DTypeError, match="ndarray") as info:
            lin.forward(np.zeros((2, 3), np.float32))
        assert "tt.tensor" in str(info.value)
        with pytest.raises(tt.DTypeError, match="str"):
            _ = a + "x"


def test_checker_classes_derive_from_check_error_and_the_specific_class() -> None:
    for check, specific in (
        (tt.ShapeCheckError, tt.ShapeError),
        (tt.DTypeCheckError, tt.DTypeError),
        (tt.TapeCheckError, tt.TapeError),
    ):
        assert issubclass(check, tt.CheckError)
        assert issubclass(check, specific)
    with pytest.raises(tt.ShapeCheckError) as shape_info:
        _ = _a() + tt.zeros((3, 2))
    assert isinstance(shape_info.value, ValueError)  # ShapeError's natural base survives
    assert isinstance(shape_info.value, TypeError)  # and CheckError's
    with pytest.raises(tt.TapeCheckError):
        _bn().forward(_img().leaky_trace())


def test_a_check_finding_several_problems_is_each_kind() -> None:
    """Shape and dtype both wrong: the op alone reports whichever it tests first, so the checker's
    error is both a ShapeError and a DTypeError."""
    with pytest.raises(tt.CheckError) as info:
        _ = _a() + tt.zeros((3, 2), np.float64)
    assert isinstance(info.value, tt.ShapeError)
    assert isinstance(info.value, tt.DTypeError)
    assert "dtype is float64" in str(info.value)
    assert "shape (3, 2)" in str(info.value)


def test_checker_errors_pickle() -> None:
    """Errors cross process boundaries (multiprocessing, MPI): each class is importable by name."""
    import pickle

    for call in (lambda: _a() + tt.zeros((3, 2), np.float64), lambda: _a() + "x", lambda: _a().sum().backward()):
        error = _error(Mistake("", tt.TypedTensorError, "", call))
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
