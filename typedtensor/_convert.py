"""Value-checked dtype conversion: a value the target dtype cannot hold is a DTypeError, never wrapped.

NumPy's casts wrap integers (300 as int8 is 44, -1 as uint8 is 255), turn NaN into an arbitrary
integer and finite floats too large for the target into inf. ``converted`` refuses all of these:

- to an integer dtype: every value must be a whole number in the target's range (exactly: no
  rounding through float64 decides it); NaN and infinities are refused;
- to a float dtype: a finite value that would round to +-inf is refused; NaN and inf stay as they
  are, and values below the smallest subnormal round to zero as every float conversion does;
- to bool: zero is False, anything else True (Python's and NumPy's rule).

``fits`` applies the float rule to one Python number (the scalar of an op on a tensor).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._dtypes import astype_advice
from ._errors import DTypeError

__all__ = ["converted", "fits", "overflow_limit"]


def overflow_limit(dt: np.dtype[Any]) -> float:
    """The smallest magnitude that rounds to inf in the float dtype ``dt`` (max + half an ulp)."""
    fi = np.finfo(dt)
    return float(fi.max) + math.ldexp(1.0, fi.maxexp - 2 - fi.nmant)


_LIMITS: dict[np.dtype[Any], float] = {np.dtype(t): overflow_limit(np.dtype(t)) for t in (np.float16, np.float32)}
_F64 = np.dtype(np.float64)
_WIDER = {np.dtype(np.float16): np.dtype(np.float32)}  # the next float dtype (float32's is float64)


def fits(value: float, dt: np.dtype[Any]) -> float:
    """The scalar ``value`` unchanged, or a DTypeError when the finite ``value`` becomes inf in ``dt``."""
    limit = _LIMITS.get(dt)
    if limit is not None and not -limit < value < limit and not math.isinf(value) and value == value:
        raise DTypeError(
            f"the scalar {value!r} is too large for {dt.name} (largest finite {_largest(dt)}); "
            f"{astype_advice('the tensor to a wider dtype first', _WIDER.get(dt, _F64))}"
        )
    return value


def _largest(dt: np.dtype[Any]) -> str:
    return f"{float(np.finfo(dt).max):g}"


def converted(arr: NDArray[Any], dt: np.dtype[Any], what: str) -> NDArray[Any]:
    """A new array holding ``arr``'s values as ``dt``; DTypeError for a value ``dt`` cannot hold.

    ``what`` names the data in the message: ``"tensor: the data"``, ``"to_dtype: 'fc.weight'"``.
    """
    src = arr.dtype
    if src == dt or dt.kind == "b" or np.can_cast(src, dt, "safe") or arr.size == 0:
        return np.array(arr, dtype=dt, copy=True)
    if dt.kind in "iu":
        _check_integers(arr, dt, what)
        return arr.astype(dt)
    limit = _LIMITS.get(dt)
    if limit is not None and not (-limit < arr.min() and arr.max() < limit):  # NaN, inf or too large: look closer
        bad = (arr >= limit) | (arr <= -limit)  # no abs(): it overflows for the most negative integer
        if arr.dtype.kind == "f":
            bad &= np.isfinite(arr)
        if bad.any():
            value = arr[bad].flat[0].item()
            raise DTypeError(
                f"{what} holds {value!r}, too large for {dt.name} (largest finite {_largest(dt)}); keep a wider "
                "dtype or scale the values first"
            )
    return arr.astype(dt)


def _check_integers(arr: NDArray[Any], dt: np.dtype[Any], what: str) -> None:
    info = np.iinfo(dt)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            value = arr[~finite].flat[0].item()
            kind = "NaN" if value != value else "infinite"
            raise DTypeError(f"{what} holds {kind} values, which {dt.name} cannot hold; replace them first")
        if not np.array_equal(arr, np.trunc(arr)):
            raise DTypeError(f"{what} has fractional values but {dt.name} was requested; round them first")
        low: int | float = arr.min().item()
        high: int | float = arr.max().item()
    else:
        low, high = int(arr.min()), int(arr.max())
    # Python compares ints with floats exactly: 2.0**63 > 2**63 - 1 although float64 would round both.
    for value in (low, high):
        if not info.min <= value <= info.max:
            raise DTypeError(
                f"{what} holds {value!r}, which does not fit {dt.name} (range {info.min}..{info.max}); pick a "
                "wider dtype or clip the values first"
            )
