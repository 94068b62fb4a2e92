"""Constructors: tensor, zeros, ones, full, randn.

With an annotated target the shape gets Literal dims (``a: Tensor[tuple[L[2], L[3]], ...] =
tt.zeros((2, 3))``) and a mismatching literal shape is a static error; the ``dtype`` argument
becomes E.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._check import checked
from ._errors import DTypeError, ShapeError
from ._shapes import S2, E
from ._tape import NoneTape
from ._tensor import Tensor, _float_dtype, _make

__all__ = ["full", "ones", "randn", "tensor", "zeros"]

F = np.floating[Any]


def _shape(shape: Any, where: str) -> tuple[int, ...]:
    items: tuple[Any, ...] = shape if isinstance(shape, tuple) else (None,)  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in items
    ):
        raise ShapeError(f"{where}: shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(n) for n in items)


@overload
def tensor(data: NDArray[E], dtype: None = None) -> Tensor[tuple[Any, ...], E, NoneTape]: ...
@overload
def tensor(data: ArrayLike, dtype: type[E]) -> Tensor[tuple[Any, ...], E, NoneTape]: ...
@overload
def tensor(data: float | Sequence[Any], dtype: None = None) -> Tensor[tuple[Any, ...], np.float32, NoneTape]: ...
@checked
def tensor(data: ArrayLike, dtype: type[Any] | None = None) -> Tensor[Any, Any, NoneTape]:
    """A tensor holding a copy of ``data``.

    ``dtype`` None keeps a float or bool NumPy array's dtype and makes anything else float32 (as
    PyTorch's default). The shape is known at run time (``tuple[Any, ...]``): annotate the target or
    ``realize`` it to get constant dims checked.
    """
    if isinstance(data, Tensor):
        data = data._data
    arr = np.asarray(data)
    if dtype is None:
        keep = isinstance(data, (np.ndarray, np.generic)) and arr.dtype.kind in "fb"
        dt = arr.dtype if keep else np.dtype(np.float32)
        if dt.kind == "f":
            dt = _float_dtype(dt, "tensor")
    elif dtype is np.bool_:
        dt = np.dtype(np.bool_)
    else:
        dt = _float_dtype(dtype, "tensor")
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"tensor: data must be numeric, got an array of dtype {arr.dtype}")
    return _make(np.array(arr, dtype=dt, copy=True), None)


@overload
def full(shape: S2, value: float) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def full(shape: S2, value: float, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def full(shape: S2, value: float, dtype: type[Any] = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of ``shape`` filled with ``value``."""
    return _make(np.full(_shape(shape, "full"), value, dtype=_float_dtype(dtype, "full")), None)


@overload
def zeros(shape: S2) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def zeros(shape: S2, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def zeros(shape: S2, dtype: type[Any] = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of zeros."""
    return _make(np.zeros(_shape(shape, "zeros"), dtype=_float_dtype(dtype, "zeros")), None)


@overload
def ones(shape: S2) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def ones(shape: S2, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def ones(shape: S2, dtype: type[Any] = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of ones."""
    return _make(np.ones(_shape(shape, "ones"), dtype=_float_dtype(dtype, "ones")), None)


@overload
def randn(shape: S2, *, seed: int | np.random.Generator | None = None) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def randn(shape: S2, dtype: type[E], *, seed: int | np.random.Generator | None = None) -> Tensor[S2, E, NoneTape]: ...
@checked
def randn(
    shape: S2, dtype: type[Any] = np.float32, *, seed: int | np.random.Generator | None = None
) -> Tensor[S2, Any, NoneTape]:
    """Standard-normal samples from ``np.random.default_rng(seed)`` (a Generator is used as is)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    dt = _float_dtype(dtype, "randn")
    return _make(rng.standard_normal(_shape(shape, "randn")).astype(dt, copy=False), None)
