"""Constructors: tensor, zeros, ones, full, randn.

With an annotated target the shape gets Literal dims (``a: Tensor[tuple[L[2], L[3]], ...] =
tt.zeros((2, 3))``) and a mismatching literal shape is a static error; the ``dtype`` argument
becomes E. Every ``dtype`` is checked by ``typedtensor._dtypes`` (NumPy scalar types only), with checks
on or off; the implementations annotate it ``object`` so that the annotation check leaves it to that.
"""

from __future__ import annotations

import math
import os
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._check import checked
from ._convert import converted, fits
from ._dtypes import FLOAT_DTYPES, float_dtype, tensor_dtype
from ._errors import DTypeError, ShapeError, TypedTensorError
from ._shapes import S2, E
from ._tape import NoneTape
from ._tensor import Tensor, _make, _scalar

__all__ = ["full", "ones", "randn", "tensor", "zeros"]

FT = TypeVar("FT", bound=np.floating[Any])


def _shape(shape: Any, where: str) -> tuple[int, ...]:
    items: tuple[Any, ...] = shape if isinstance(shape, tuple) else (None,)  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in items
    ):
        raise ShapeError(f"{where}: shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(n) for n in items)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): the element bound alone
        return 1 << 62


#: Guards against typos such as (10**6, 10**6): a request for more elements than this, or more bytes
#: than the machine's physical memory, is refused with a ShapeError before anything is allocated.
_MAX_ELEMENTS = 1 << 40
_MAX_BYTES = _physical_memory()


def _room(shape: tuple[int, ...], dt: np.dtype[Any], where: str, bytes_per_element: int = 0) -> None:
    """Refuse ``shape`` of ``dt`` over the limits (``bytes_per_element``: with temporaries, when more)."""
    size = math.prod(shape)
    if size > _MAX_ELEMENTS:
        raise ShapeError(
            f"{where}: shape {shape} holds {size} elements, more than this library allocates ({_MAX_ELEMENTS}); "
            "check the shape for a typo"
        )
    nbytes = size * max(bytes_per_element, dt.itemsize)
    if nbytes > _MAX_BYTES:
        raise ShapeError(
            f"{where}: shape {shape} of {dt.name} needs {nbytes} bytes, more than this library allocates "
            f"({_MAX_BYTES}, the machine's physical memory); check the shape or use a smaller dtype"
        )


class _allocating:
    """Turn a MemoryError inside the block into a TypedTensorError (a request under the limits)."""

    __slots__ = ("dt", "shape", "where")

    def __init__(self, shape: tuple[int, ...], dt: np.dtype[Any], where: str) -> None:
        self.shape, self.dt, self.where = shape, dt, where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: object, tb: object) -> None:
        if kind is not None and issubclass(kind, MemoryError):
            raise TypedTensorError(
                f"{self.where}: not enough memory for shape {self.shape} of {self.dt.name}"
            ) from None


_BOOL = np.dtype(np.bool_)


def _fill_dtype(dtype: object, where: str) -> np.dtype[Any]:
    """zeros/ones: a float dtype or ``np.bool_`` (a mask; integer tensors come from ``tt.tensor``)."""
    if dtype is np.bool_:
        return _BOOL
    try:
        return float_dtype(dtype, where)
    except DTypeError as e:
        raise DTypeError(f"{e} (or np.bool_ for a mask)") from None


def _filled(shape: Any, value: float, dt: np.dtype[Any], where: str) -> Tensor[Any, Any, NoneTape]:
    """A tensor of ``shape`` filled with ``value``: every allocation of a new tensor goes through here.

    ``dt`` is a dtype its caller checked (``float_dtype`` of the user's argument or ``np.bool_``, a layer's dtype).
    """
    size = _shape(shape, where)
    _room(size, dt, where)
    fill = fits(value, dt)
    with _allocating(size, dt, where):
        return _make(np.full(size, fill, dtype=dt), None)


# A float array keeps its dtype; any other data becomes float32 (the last overload): the first match wins.
@overload
def tensor(data: NDArray[FT], dtype: None = None) -> Tensor[tuple[Any, ...], FT, NoneTape]: ...  # pyright: ignore[reportOverlappingOverload]
@overload
def tensor(data: NDArray[np.bool_], dtype: None = None) -> Tensor[tuple[Any, ...], np.bool_, NoneTape]: ...
@overload
def tensor(data: ArrayLike, dtype: type[E]) -> Tensor[tuple[Any, ...], E, NoneTape]: ...
@overload
def tensor(data: ArrayLike, dtype: None = None) -> Tensor[tuple[Any, ...], np.float32, NoneTape]: ...
@checked
def tensor(data: ArrayLike, dtype: object = None) -> Tensor[Any, Any, NoneTape]:
    """A tensor holding a copy of ``data``.

    ``dtype`` None keeps a float or bool NumPy array's dtype and makes anything else (Python numbers and
    lists, integer arrays, NumPy scalars) float32, PyTorch's default float dtype (``torch.tensor([0, 2])``
    would be int64: here an integer tensor is asked for). An integer ``dtype`` (``np.int64``) makes an
    integer tensor: class labels, token ids, gather indices; it may be traced (``ids.trace(grads)``) to
    carry a tape into a model, and never gets a gradient itself. The shape is known at run time
    (``tuple[Any, ...]``): annotate the target or ``realize`` it to get constant dims checked.
    """
    if isinstance(data, Tensor):
        data = data._data
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise ShapeError(f"tensor: the data is not a rectangular array of numbers ({e})") from None
    except MemoryError:
        raise TypedTensorError("tensor: not enough memory to read the data into an array") from None
    if arr.dtype.kind not in "biuf":
        objects = " (a Python int beyond 64 bits, None or another object)" if arr.dtype.kind == "O" else ""
        raise DTypeError(f"tensor: data must be numeric, got an array of dtype {arr.dtype}{objects}")
    if dtype is None:
        keep = isinstance(data, np.ndarray) and arr.dtype.kind in "fb"
        dt = arr.dtype if keep else np.dtype(np.float32)
        if dt.kind == "f" and dt not in FLOAT_DTYPES:
            raise DTypeError(
                f"tensor: the data's dtype {dt.name} is not supported; pass dtype=np.float64 (or np.float32, "
                "np.float16) to convert it"
            )
    else:  # the same check with checks on or off (the dtype parameter is not annotation-checked)
        dt = tensor_dtype(dtype, "tensor")  # an integer dtype: class indices (cross_entropy labels)
    _room(arr.shape, dt, "tensor")
    with _allocating(arr.shape, dt, "tensor"):
        return _make(converted(arr, dt, "tensor: the data"), None)


@overload
def full(shape: S2, value: float) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def full(shape: S2, value: float, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def full(shape: S2, value: float, dtype: object = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of ``shape`` filled with ``value``."""
    return _filled(shape, _scalar(value), float_dtype(dtype, "full"), "full")


@overload
def zeros(shape: S2) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def zeros(shape: S2, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def zeros(shape: S2, dtype: object = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of zeros (``np.bool_``: all False)."""
    return _filled(shape, 0.0, _fill_dtype(dtype, "zeros"), "zeros")


@overload
def ones(shape: S2) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def ones(shape: S2, dtype: type[E]) -> Tensor[S2, E, NoneTape]: ...
@checked
def ones(shape: S2, dtype: object = np.float32) -> Tensor[S2, Any, NoneTape]:
    """A tensor of ones (``np.bool_``: all True, e.g. ``tt.ones((t, t), np.bool_).triu(1)``, a causal mask)."""
    return _filled(shape, 1.0, _fill_dtype(dtype, "ones"), "ones")


@overload
def randn(shape: S2, *, seed: int | np.random.Generator | None = None) -> Tensor[S2, np.float32, NoneTape]: ...
@overload
def randn(shape: S2, dtype: type[E], *, seed: int | np.random.Generator | None = None) -> Tensor[S2, E, NoneTape]: ...
@checked
def randn(
    shape: S2, dtype: object = np.float32, *, seed: int | np.random.Generator | None = None
) -> Tensor[S2, Any, NoneTape]:
    """Standard-normal samples from ``np.random.default_rng(seed)`` (a Generator is used as is)."""
    dt = float_dtype(dtype, "randn")
    size = _shape(shape, "randn")
    _room(size, dt, "randn", 8 if dt.itemsize == 8 else 8 + dt.itemsize)  # drawn in float64, then cast
    try:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    except (ValueError, TypeError) as e:
        raise TypedTensorError(f"randn: seed must be a non-negative int or a Generator ({e})") from None
    with _allocating(size, dt, "randn"):
        return _make(rng.standard_normal(size).astype(dt, copy=False), None)
