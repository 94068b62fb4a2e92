"""Option validation: one checker per kind of constructor or call option, shared by every layer and optimizer.

Each checker takes the value, the option's ``name`` and ``where`` (the caller, e.g. ``"Linear"``: the
message starts with ``"where: name"``, or with the name alone when ``where`` is empty), returns the value
in its normal form (a Python float, int or bool) and raises ``error`` (TypedTensorError unless the caller
names a subclass, e.g. OptimizerError) with one message per kind of mistake:

================  ============================================  ==========================================
checker           accepts                                       refuses with
================  ============================================  ==========================================
``real``          int, float, NumPy integer/floating; finite    "must be a real number", "must be finite"
``non_negative``  a ``real`` >= 0                               those, or "must be >= 0"
``positive``      a ``real`` > 0                                those, or "must be > 0"
``unit``          a ``real`` in [0, 1] (or None: ``optional``)  "must be a number in [0, 1]" (any mistake)
``flag``          True or False (NumPy bools too)               "must be True or False"
``positive_int``  int >= 1, NumPy integers (or None)            "must be a positive int"
``count``         int >= 0, NumPy integers (or None)            "must be a non-negative int"
``seed``          a ``count`` or None                           "seed must be a non-negative int or None"
================  ============================================  ==========================================

A bool (Python's or NumPy's) is never a number here, although Python counts True as 1: ``lr=True`` or
``in_features=True`` is a mistake, not 1. NaN and the infinities are never reals. Reals come back as
Python floats (a NumPy float64 scalar would promote float32 arithmetic), ints as Python ints. ``why`` (a
parenthetical after the requirement) and ``fix`` (advice after the value) extend a message.

The checkers run at construction (and an optimizer's before each update): well under a microsecond each.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NoReturn, cast, overload

import numpy as np

from ._errors import TypedTensorError

__all__ = ["count", "flag", "integer", "non_negative", "positive", "positive_int", "real", "seed", "unit"]

#: The class a checker raises (TypedTensorError or a subclass).
Error = type[TypedTensorError]

_BOOLS = (bool, np.bool_)
_REALS = (int, float, np.integer, np.floating)
_INTS = (int, np.integer)


def _fail(error: Error, name: str, where: str, must: str, value: object, why: str = "", fix: str = "") -> NoReturn:
    """Raise ``error``: "where: name must be <must> (why), got <value!r>; fix"."""
    label = f"{where}: {name}" if where else name
    note = f" ({why})" if why else ""
    advice = f"; {fix}" if fix else ""
    raise error(f"{label} must be {must}{note}, got {value!r}{advice}")


def _finite(value: object) -> float | None:
    """``value`` as a finite Python float; None when it is not finite (NaN, inf, an int beyond float64)."""
    try:
        number = float(cast("Any", value))  # the caller checked: int, float or a NumPy number
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def real(value: object, name: str, where: str = "", *, error: Error = TypedTensorError) -> float:
    """``value`` as a finite Python float: "must be a real number" for a non-number or a bool, "must be finite"."""
    cls: type[Any] = value.__class__
    if issubclass(cls, _BOOLS) or not issubclass(cls, _REALS):
        label = f"{where}: {name}" if where else name
        raise error(f"{label} must be a real number, got {value!r} ({cls.__name__})")
    number = _finite(value)
    if number is None:
        _fail(error, name, where, "finite", value)
    return number


def non_negative(
    value: object, name: str, where: str = "", *, why: str = "", fix: str = "", error: Error = TypedTensorError
) -> float:
    """A ``real`` >= 0 (-0.0 included, as given): "must be >= 0" otherwise."""
    number = real(value, name, where, error=error)
    if number < 0.0:
        _fail(error, name, where, ">= 0", value, why, fix)
    return number


def positive(
    value: object, name: str, where: str = "", *, why: str = "", fix: str = "", error: Error = TypedTensorError
) -> float:
    """A ``real`` > 0: "must be > 0" otherwise."""
    number = real(value, name, where, error=error)
    if not number > 0.0:
        _fail(error, name, where, "> 0", value, why, fix)
    return number


@overload
def unit(
    value: object, name: str, where: str = "", *, optional: Literal[False] = False, error: Error = TypedTensorError
) -> float: ...
@overload
def unit(
    value: object, name: str, where: str = "", *, optional: bool, error: Error = TypedTensorError
) -> float | None: ...
def unit(
    value: object, name: str, where: str = "", *, optional: bool = False, error: Error = TypedTensorError
) -> float | None:
    """A real number in [0, 1] (a probability, a decay, a mixing factor); None too when ``optional``.

    Every mistake (not a number, NaN, out of range) gets the one message "must be a number in [0, 1]".
    """
    if value is None and optional:
        return None
    cls: type[Any] = value.__class__
    number = None if issubclass(cls, _BOOLS) or not issubclass(cls, _REALS) else _finite(value)
    if number is None or not 0.0 <= number <= 1.0:
        _fail(error, name, where, "a number in [0, 1] or None" if optional else "a number in [0, 1]", value)
    return number


def flag(value: object, name: str, where: str = "", *, error: Error = TypedTensorError) -> bool:
    """True or False (NumPy's bools too) as a Python bool: "must be True or False" otherwise (1, "yes", None)."""
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return value is np.True_
    _fail(error, name, where, "True or False", value)


def integer(value: object) -> int | None:
    """``value`` as a Python int when it is a Python or NumPy integer (not a bool), else None (no error)."""
    if isinstance(value, _INTS) and not isinstance(value, _BOOLS):
        return int(cast("Any", value))
    return None


@overload
def positive_int(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: Literal[False] = False,
    why: str = "",
    fix: str = "",
    error: Error = TypedTensorError,
) -> int: ...
@overload
def positive_int(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: bool,
    why: str = "",
    fix: str = "",
    error: Error = TypedTensorError,
) -> int | None: ...
def positive_int(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: bool = False,
    why: str = "",
    fix: str = "",
    error: Error = TypedTensorError,
) -> int | None:
    """An int >= 1 (NumPy integers too) as a Python int; None too when ``optional``."""
    if value is None and optional:
        return None
    number = integer(value)
    if number is None or number < 1:
        _fail(error, name, where, "a positive int or None" if optional else "a positive int", value, why, fix)
    return number


@overload
def count(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: Literal[False] = False,
    why: str = "",
    maximum: int | None = None,
    error: Error = TypedTensorError,
) -> int: ...
@overload
def count(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: bool,
    why: str = "",
    maximum: int | None = None,
    error: Error = TypedTensorError,
) -> int | None: ...
def count(
    value: object,
    name: str,
    where: str = "",
    *,
    optional: bool = False,
    why: str = "",
    maximum: int | None = None,
    error: Error = TypedTensorError,
) -> int | None:
    """An int >= 0 (and <= ``maximum`` when given; NumPy integers too) as a Python int; None too when
    ``optional``."""
    if value is None and optional:
        return None
    number = integer(value)
    if number is None or number < 0 or (maximum is not None and number > maximum):
        _fail(error, name, where, "a non-negative int or None" if optional else "a non-negative int", value, why)
    return number


def seed(value: object, where: str = "", *, error: Error = TypedTensorError) -> int | None:
    """A random seed: a ``count`` (for ``np.random.default_rng``) or None (fresh entropy)."""
    return count(value, "seed", where, optional=True, error=error)
