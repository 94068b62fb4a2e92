"""Run-time checks derived from the annotations: each message names the argument, the dim, the
expected and actual values and the bindings. Also the on/off switches."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, NewType, TypeAlias, TypeVar, TypeVarTuple, Unpack
from typing import Literal as L

import numpy as np
import pytest
from beartype.door import is_bearable

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import Module

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
D = TypeVar("D", bound=int)
Batch = NewType("Batch", int)
Ts = TypeVarTuple("Ts")
Square: TypeAlias = Tensor[tuple[B, B], np.float32, Any]
F32 = np.float32


@tt.checked
def pair(
    x: Tensor[tuple[B, C], F32, NoneTape], y: Tensor[tuple[B, D], F32, NoneTape]
) -> Tensor[tuple[B], F32, NoneTape]:
    return x.sum(1) + y.sum(1)


@tt.checked
def bad_return(x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[C, B], F32, NoneTape]:
    return x  # type: ignore[return-value]


@tt.checked
def newtype_dims(x: Tensor[tuple[Batch, L[3]], F32, Any], y: Tensor[tuple[Batch], F32, Any]) -> None:
    pass


def _raises(fn: Any, *fragments: str, exc: type[Exception] = tt.CheckError) -> str:
    with pytest.raises(exc) as info:
        fn()
    text = str(info.value)
    for f in fragments:
        assert f in text, f"{f!r} not in message:\n{text}"
    assert isinstance(info.value, tt.TypedTensorError)
    return text


def test_symbolic_dim_binds_across_arguments() -> None:
    assert pair(tt.zeros((2, 3)), tt.zeros((2, 5))).shape == (2,)
    _raises(
        lambda: pair(tt.zeros((2, 3)), tt.zeros((4, 5))),
        "parameter y=",
        "dim 0 (B) is 4 but B is bound to 2",
        "bindings: B=2, C=3",
        "Tensor[tuple[B, D], float32, NoneTape]",
    )


def test_return_value_is_checked_with_the_same_bindings() -> None:
    assert bad_return(tt.zeros((2, 2))).shape == (2, 2)
    _raises(lambda: bad_return(tt.zeros((2, 3))), "return", "dim 0 (C) is 2 but C is bound to 3", "B=2")


def test_newtype_dims_bind_like_typevars() -> None:
    newtype_dims(tt.zeros((Batch(4), 3)), tt.zeros((Batch(4),)))
    _raises(lambda: newtype_dims(tt.zeros((Batch(4), 3)), tt.zeros((Batch(5),))), "Batch is bound to 4")


def test_constant_dim_rank_dtype_and_tape_messages() -> None:
    @tt.checked
    def f(x: Tensor[tuple[B, L[3]], F32, NoneTape]) -> None:
        pass

    bad: Any = f  # the calls below are static errors too (see tests/typing); here: the run-time checks
    _raises(lambda: bad(tt.zeros((2, 4))), "parameter x=", "dim 1 is 4 but 3 is expected")
    _raises(lambda: bad(tt.zeros((2, 3, 1))), "rank is 3 but 2 is expected")
    _raises(lambda: bad(tt.zeros((2, 3), np.float64)), "dtype is float64 but float32 is expected", "astype")
    _raises(lambda: bad(tt.zeros((2, 3)).leaky_trace()), "tape is OwnedTape but NoneTape is expected")
    _raises(lambda: bad(np.zeros((2, 3))), "expected Tensor[tuple[B, L[3]], float32, NoneTape], got ndarray")

    @tt.checked
    def g(x: Tensor[tuple[B], F32, OwnedTape]) -> None:
        pass

    bad_g: Any = g
    _raises(lambda: bad_g(tt.zeros((2,))), "tape is NoneTape but OwnedTape is expected", "trace")


def test_method_binds_self_shape_dtype_and_tape() -> None:
    a: Any = tt.zeros((2, 3))
    _raises(
        lambda: a + tt.zeros((3, 2)),
        "parameter other=",
        "shape (3, 2) differs from S = (2, 3)",
        "bindings: S=(2, 3), E=float32, T=NoneTape",
    )
    _raises(lambda: a * tt.zeros((2, 3), np.float64), "dtype is float64 but E is bound to float32")
    _raises(lambda: a + "x", "expected typedtensor.Tensor[S, E, Any] | float, got str")


def test_explicit_op_errors() -> None:
    a: Any = tt.zeros((2, 3))
    any_tt: Any = tt
    _raises(lambda: a @ a, "inner dims differ", "(2, 3) @ other (2, 3)", "pairs 3 with 2", exc=tt.ShapeError)
    batched: Any = tt.zeros((2, 2, 3))
    _raises(
        lambda: batched @ tt.zeros((4, 3, 5)),
        "batch dims do not broadcast",
        "pair 2 with 4 at batch dim -1",
        exc=tt.ShapeError,
    )
    _raises(
        lambda: a.realize((3, 2)), "realize: the tensor has shape (2, 3) but (3, 2) was requested", exc=tt.ShapeError
    )
    _raises(lambda: a.reshape((4, 2)), "cannot view shape (2, 3) (6 elements) as (4, 2)", exc=tt.ShapeError)
    _raises(lambda: a.broadcast_to((2, 4)), "shape (2, 3) cannot broadcast to (2, 4)", exc=tt.ShapeError)
    _raises(lambda: a.permute((0, 0)), "not a permutation of range(2)", exc=tt.ShapeError)
    _raises(lambda: a.sum(2), "axis 2 is out of range for shape (2, 3)", exc=tt.ShapeError)
    _raises(lambda: a.sum((1, -1)), "repeats an axis", exc=tt.ShapeError)
    _raises(lambda: a[5], "index 5 does not fit shape (2, 3)", exc=tt.ShapeError)
    _raises(lambda: tt.zeros((0, 3)).max(0), "empty axis", exc=tt.ShapeError)
    _raises(lambda: tt.zeros((1, 3)).var(0), "no degrees of freedom", "correction=0", exc=tt.ShapeError)
    _raises(lambda: a.clamp(), "needs min, max or both", exc=tt.TypedTensorError)
    _raises(lambda: a.clamp(1.0, 0.0), "min (1.0) must not exceed max (0.0)", exc=tt.TypedTensorError)
    _raises(
        lambda: any_tt.zeros((2, 3), np.int64), "dtype must be np.float16, np.float32 or np.float64", exc=tt.DTypeError
    )
    _raises(lambda: tt.zeros((2, -1)), "shape must be a tuple of non-negative ints", exc=tt.ShapeError)
    _raises(lambda: tt.tensor(np.array(["a"])), "data must be numeric", exc=tt.DTypeError)
    _raises(lambda: tt.concat([a, tt.zeros((2, 4))]), "tensor 1 has shape (2, 4)", exc=tt.ShapeError)
    _raises(lambda: any_tt.concat([a, tt.zeros((2, 3), np.float64)]), "tensor 1 has dtype float64", exc=tt.DTypeError)
    _raises(lambda: any_tt.stack([]), "needs at least one tensor", exc=tt.TypedTensorError)
    _raises(lambda: any_tt.stack([a], axis=3), "axis 3 is out of range", exc=tt.ShapeError)
    _raises(
        lambda: any_tt.where(a > 0.0, 1.0, 2.0), "at least one of a and b must be a tensor", exc=tt.TypedTensorError
    )
    _raises(lambda: any_tt.Tensor(), "build tensors with tt.tensor", exc=tt.TypedTensorError)
    _raises(lambda: tt.NoneTape(), "type-level marker", exc=tt.TypedTensorError)
    hint: Any = tt.Tensor
    _raises(lambda: hint[int], "Tensor takes three parameters", exc=tt.TypedTensorError)
    _raises(lambda: hint[tuple[str], F32, NoneTape], "a dim must be Literal[n], int", exc=tt.TypedTensorError)
    _raises(lambda: hint[tuple[int], F32, int], "T must be NoneTape or OwnedTape", exc=tt.TypedTensorError)


def test_errors_share_one_root_and_natural_bases() -> None:
    assert issubclass(tt.ShapeError, ValueError)
    assert issubclass(tt.DTypeError, TypeError)
    assert issubclass(tt.CheckError, TypeError)
    assert issubclass(tt.TapeError, TypeError)
    for e in (tt.ShapeError, tt.DTypeError, tt.CheckError, tt.TapeError):
        assert issubclass(e, tt.TypedTensorError)


def test_api_switch_turns_checks_off_and_restores() -> None:
    a: Any = tt.zeros((2, 3))
    assert tt.checks_enabled()
    with tt.checks(False):
        assert not tt.checks_enabled()
        assert bad_return(tt.zeros((2, 3))).shape == (2, 3)  # the return annotation is not checked
        with pytest.raises(tt.ShapeError, match="shapes \\(2, 3\\) and \\(3, 2\\) differ"):
            _ = a + tt.zeros((3, 2))
    assert tt.checks_enabled()
    tt.set_checks(False)
    try:
        assert not tt.checks_enabled()
    finally:
        tt.set_checks(True)


def test_environment_switch_installs_nothing() -> None:
    code = (
        "import typedtensor as tt\n"
        "assert not hasattr(tt.Tensor.relu, '__typedtensor_checked__')\n"
        "assert not tt.checks_enabled()\n"
        "try:\n    tt.set_checks(True)\nexcept tt.TypedTensorError as e:\n    print(e)\n"
    )
    env = dict(os.environ, TYPEDTENSOR_CHECKS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "disabled at import by TYPEDTENSOR_CHECKS=0" in out.stdout
    assert hasattr(vars(tt.Tensor)["relu"], "__typedtensor_checked__")


class Scale(Module, Generic[C]):
    """A module generic in its channel count C."""

    def __init__(self, channels: C) -> None:
        self.channels = channels
        self.weight = tt.ones((channels,))

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def forward(self, x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:
        return x * self.weight.broadcast_to(x.shape)

    def forward_mut(self, x: Tensor[tuple[B, C], F32, OwnedTape]) -> Tensor[tuple[B, C], F32, OwnedTape]:
        return x * self.weight.broadcast_to(x.shape)


def test_module_dims_are_bound_from_the_instance() -> None:
    m = Scale[L[3]](3)
    assert m.forward(tt.zeros((2, 3))).shape == (2, 3)
    assert m.forward_mut(tt.zeros((2, 3)).leaky_trace()).traced
    bad: Any = m
    _raises(lambda: bad.forward(tt.zeros((2, 4))), "parameter x=", "dim 1 (C) is 4 but C is bound to 3")
    _raises(lambda: bad.forward(tt.zeros((2, 3)).leaky_trace()), "tape is OwnedTape but NoneTape is expected")
    _raises(lambda: bad.forward_mut(tt.zeros((2, 3))), "tape is NoneTape but OwnedTape is expected")


def test_module_type_application_must_match_constructor() -> None:
    bad: Any = Scale
    m = bad[L[3]](5)
    _raises(lambda: m.forward(tt.zeros((2, 5))), "Scale[...] declares C = 3 but this instance was built with 5")


def test_nested_checked_calls_do_not_leak_bindings() -> None:
    @tt.checked
    def inner(x: Tensor[tuple[B], F32, NoneTape]) -> Tensor[tuple[B], F32, NoneTape]:
        return x

    @tt.checked
    def outer(x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:
        inner(tt.zeros((7,)))  # its own B, not the caller's
        return x

    assert outer(tt.zeros((2, 3))).shape == (2, 3)


def test_hints_work_with_isinstance_and_beartype_door() -> None:
    two_three: Any = Tensor[tuple[L[2], L[3]], F32, NoneTape]
    two_four: Any = Tensor[tuple[L[2], L[4]], F32, NoneTape]
    square: Any = Square
    anyrank: Any = Tensor[tuple[int, ...], F32, NoneTape]
    assert isinstance(tt.zeros((2, 3)), two_three)
    assert is_bearable(tt.zeros((2, 3)), two_three)
    assert not isinstance(tt.zeros((2, 3)), two_four)
    assert not is_bearable(tt.zeros((2, 3)), two_four)
    assert isinstance(tt.zeros((4, 4)), square)
    assert not isinstance(tt.zeros((4, 5)), square)
    assert isinstance(tt.zeros((1, 2, 3)), anyrank)
    assert repr(square) == "typedtensor.Tensor[tuple[B, B], float32, Any]"


def test_remaining_error_messages() -> None:
    any_tt: Any = tt
    hint: Any = tt.Tensor
    two_ellipsis = tuple.__class_getitem__((int, int, ...))
    unpack: Any = Unpack
    two_variadic = tuple.__class_getitem__((unpack[Ts], unpack[Ts]))
    _raises(lambda: hint[two_ellipsis, F32, Any], "'...' only as tuple[X, ...]", exc=tt.TypedTensorError)
    _raises(lambda: hint[two_variadic, F32, Any], "at most one *Ts", exc=tt.TypedTensorError)
    _raises(lambda: hint[tuple[int], str, Any], "E must be a NumPy scalar type", exc=tt.TypedTensorError)
    rank2: Any = tt.Rank2
    _raises(lambda: rank2[int, int], "takes 4 type arguments, got 2", exc=tt.TypedTensorError)
    v: Any = tt.zeros((3,))
    a: Any = tt.zeros((2, 3))
    _raises(lambda: a + {1.0}, "got set", exc=tt.CheckError)
    _raises(lambda: a.astype(np.int32), "astype: dtype must be np.float16", exc=tt.DTypeError)
    _raises(lambda: v.transpose(), "rank is 1 but at least 2 is expected", exc=tt.CheckError)
    _raises(lambda: any_tt.full((2,), "x"), "parameter value=", exc=tt.CheckError)
    with tt.checks(False):
        _raises(lambda: a + {1.0}, "expected a Python number, got set", exc=tt.TypedTensorError)
        _raises(lambda: a.sum().backward(), "needs a traced loss (OwnedTape)", "leaky_trace", exc=tt.TapeError)
        _raises(lambda: a.leaky_trace().backward(), "needs a scalar loss (shape ())", ".sum()", exc=tt.ShapeError)
        assert (v @ v).shape == ()  # torch.matmul's rank rules: vector @ vector is a scalar
        _raises(lambda: v @ tt.zeros(()), "both operands must have rank >= 1", exc=tt.ShapeError)
        _raises(lambda: v.transpose(), "transpose: needs rank >= 2", exc=tt.ShapeError)
    loss = tt.zeros((2,)).leaky_trace().sum()
    loss.backward()
    _raises(lambda: loss.backward(), "already consumed by backward()", exc=tt.TapeError)
