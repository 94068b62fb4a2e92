"""The check of every ``dtype=`` argument: a NumPy scalar type, the only form that gives the static type its ``E``.

``Tensor[S, E, T]`` takes its dtype parameter from ``dtype: type[E]`` with ``E`` a NumPy scalar type, so
``"float32"``, Python's ``float`` or an ``np.dtype`` object are static errors; the run time refuses them
too, with checks on or off, with a message naming the type to pass. ``None`` is no dtype either (PyTorch's
"default" spelling): leave the argument out for the default.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ._errors import DTypeError

__all__ = ["FLOAT_DTYPES", "astype_advice", "float_dtype", "input_dtype_error", "tensor_dtype"]

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_FLOATS: dict[object, np.dtype[Any]] = {d.type: d for d in FLOAT_DTYPES}
_EXPECTED = "dtype must be np.float16, np.float32 or np.float64"
_OR_INTS = ", or np.bool_ or a NumPy integer type (np.int64, np.uint8...)"


def astype_advice(subject: str, *dtypes: np.dtype[Any], model: bool = False) -> str:
    """The fix of a dtype mismatch, written once for every message that gives it.

    ``"convert <subject> with .astype(np.float32)"``; with several dtypes ``"... .astype(np.float32) or
    .astype(np.float64)"`` (either operand may be converted); with ``model`` (the other side is a layer's
    parameters) ``"... or the model with to_dtype()"``. A tensor's ``astype`` makes floats only: the way to
    an integer or bool dtype is ``tt.tensor(x, np.int64)`` (an untraced copy).
    """
    calls = " or ".join(f".astype(np.{d.name})" if d in FLOAT_DTYPES else f"tt.tensor(x, np.{d.name})" for d in dtypes)
    return f"convert {subject} with {calls}" + (" or the model with to_dtype()" if model else "")


def input_dtype_error(where: str, params: np.dtype[Any], got: np.dtype[Any]) -> DTypeError:
    """The DTypeError of a layer whose input's dtype ``got`` is not its parameters' ``params``."""
    return DTypeError(
        f"{where}: the layer holds {params.name} parameters but the input is {got.name}; "
        f"{astype_advice('the input', params, model=True)}"
    )


def float_dtype(dtype: object, where: str) -> np.dtype[Any]:
    """The dtype of the float scalar type ``dtype``, else a DTypeError saying what to pass."""
    dt = _FLOATS.get(dtype) if dtype.__class__ is type else None  # a hashable class: the common case
    if dt is None:
        raise DTypeError(f"{where}: {_EXPECTED}, got {_described(dtype, False)}")
    return dt


def tensor_dtype(dtype: object, where: str) -> np.dtype[Any]:
    """``float_dtype``, or np.bool_ or a NumPy integer type (class labels), as ``tt.tensor`` takes."""
    dt = _FLOATS.get(dtype) if dtype.__class__ is type else None
    if dt is not None:
        return dt
    if _is_integer_type(dtype) or dtype is np.bool_:
        return np.dtype(cast("type[np.generic]", dtype))
    raise DTypeError(f"{where}: {_EXPECTED}{_OR_INTS}, got {_described(dtype, True)}")


def _is_integer_type(dtype: object) -> bool:
    # np.timedelta64 subclasses np.signedinteger; the abstract classes have no dtype of their own
    return (
        isinstance(dtype, type)
        and issubclass(dtype, np.integer)
        and dtype not in (np.integer, np.signedinteger, np.unsignedinteger, np.timedelta64)
    )


def _described(dtype: object, ints: bool) -> str:
    """What came, and the NumPy scalar type to pass instead when it names an accepted one."""
    if dtype is None:
        return "None; pass a NumPy type (or leave dtype out for the default, where there is one)"
    named: object = None
    if dtype is float or (ints and dtype is int):
        named, what = np.dtype(dtype).type, f"Python's {cast('type', dtype).__name__}"
    elif isinstance(dtype, np.dtype):
        given: np.dtype[Any] = dtype  # pyright: ignore[reportUnknownVariableType]
        named, what = given.type, f"the np.dtype object {given!r}"
    elif isinstance(dtype, str):
        try:
            named = np.dtype(dtype).type
        except TypeError:
            named = None
        what = f"the string {dtype!r}"
    elif isinstance(dtype, type):
        what = f"{dtype.__module__}.{dtype.__qualname__}".replace("numpy.", "np.").removeprefix("builtins.")
    else:
        what = f"{dtype!r} ({type(dtype).__name__})"
    if named in _FLOATS or (ints and (named is np.bool_ or _is_integer_type(named))):
        what += f"; pass the NumPy type np.{cast('type', named).__name__} (the dtype is part of the static type)"
    return what
