"""erf as whole-array NumPy passes (NumPy has no erf ufunc), within about one ulp of the exact value in float64.

Two pieces, each a polynomial evaluated by Horner's rule with ``out=`` buffers:

- |x| < 1: erf(x) = x + x * E(x^2), E(t) = erf(sqrt t) / sqrt t - 1, a degree-12 polynomial in t (the ``+ x``
  keeps 2/sqrt(pi)'s rounding out of the result; a tiny, subnormal or signed-zero x comes back as itself times
  2/sqrt(pi), rounded once);
- 1 <= |x|: erf(x) = sign(x) (1 - exp(-x^2) R(|x|)), R(x) = exp(x^2) erfc(x), a degree-14 polynomial in
  s = (x - 3) / (x + 3) (the map makes R, which decays like 1 / (x sqrt(pi)), nearly polynomial); |x| is
  clipped to 6, where erfc(6) ~ 2e-17 is below half an ulp of 1, so erf is +-1 from there on, +-inf included.

Both polynomials interpolate their function at the Chebyshev points of their interval (t in [0, 1]; x in [1, 6]),
solved in 50-digit arithmetic (mpmath) and rounded to float64. Measured against the exact erf on a dense grid
and random samples: at most 1.05 ulp; against ``math.erf`` at most 1 ulp (see tests/test_erf.py).

The first piece runs on every element and the second only on the elements with |x| >= 1 (gathered by
index, scattered back), so the cost is ~30 passes over the array plus ~40 over the share with |x| >= 1.

For a float32 result from float32 values both pieces are degree-6 polynomials evaluated in float32 (the
second in (x - 2) / (x + 2) on [1, 4], erf being 1.0f from 3.92 on), about twice as fast as the float64 passes:
within 1 ulp of math.erf rounded to float32, checked on every float32 in [0, 4]; they differ by that ulp on
5.9% of the values in [0, 1) and 3.0% of those in [1, 4]. A float64 result, or one from float16 values, takes
the float64 pieces (float16: bit-for-bit math.erf rounded to float16).

The array is processed in blocks of 64 Ki elements through three float64 scratch rows kept per thread
(1.5 MB, reused by every later call on that thread): the passes then run in L2, and no array of the input's
size is allocated but the result (fresh temporaries of a few MB are returned to the kernel by malloc and
page-fault again on the next call, which measured as costly as the arithmetic itself).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .._errors import ShapeError
from ._types import Array

# E(t) = erf(sqrt t) / sqrt t - 1 on t in [0, 1], lowest degree first.
_SMALL = (
    0.1283791670955126,
    -0.3761263890318375,
    0.11283791670954879,
    -0.026866170645076792,
    0.0052239776248180145,
    -0.000854832698083379,
    0.0001205533111164271,
    -1.4925595266831182e-05,
    1.6461000484121368e-06,
    -1.6350312701054695e-07,
    1.4659775274047436e-08,
    -1.1372848856791674e-09,
    5.957176147748911e-11,
)
# E(t) again for float32 results: degree 6, each coefficient a float32 value, evaluated in float32 arithmetic.
_SMALL32 = (
    0.12837916612625122,
    -0.3761262595653534,
    0.11283594369888306,
    -0.02685421146452427,
    0.005189087241888046,
    -0.000801686430349946,
    7.875874871388078e-05,
)
# R(x) = exp(x^2) erfc(x) as a polynomial in s = (x - _K) / (x + _K), x in [1, 6], lowest degree first.
_K = 3.0
_LARGE = (
    0.17900115118138996,
    -0.32623356004303716,
    0.24560380171233195,
    -0.15011593650078744,
    0.07166583719774874,
    -0.024392499318273194,
    0.004269136347508256,
    0.0007077464443901538,
    -0.0005970623517093284,
    4.525472635483354e-05,
    6.406182073530546e-05,
    -1.284889451252353e-05,
    -8.008021319412685e-06,
    2.023603179641757e-06,
    1.2801900862962662e-06,
)
_CLIP = 6.0
# R again for float32 results: s = (x - 2) / (x + 2), x in [1, 4] (erfc(4) ~ 1.5e-8 is below half a float32
# ulp of 1), degree 6, float32 coefficients and arithmetic.
_K32 = 2.0
_LARGE32 = (
    0.25539568066596985,
    -0.427185982465744,
    0.24165819585323334,
    -0.07896830886602402,
    0.0037323718424886465,
    0.006811140105128288,
    -0.0008379754144698381,
)
_CLIP32 = 4.0


_BLOCK = 1 << 16
_local = threading.local()


def _scratch() -> Array:
    """This thread's (3, _BLOCK) float64 scratch."""
    rows: Array | None = getattr(_local, "rows", None)
    if rows is None:
        rows = _local.rows = np.empty((3, _BLOCK))
    return rows


def scratch(dtype: np.dtype[Any]) -> Array:
    """This thread's scratch as three rows of ``BLOCK`` elements of ``dtype`` (float16, float32 or float64), for
    kernels that work through it one block at a time; shared with erf, so never held across a call to it."""
    return _scratch().view(dtype)[:, :_BLOCK]


BLOCK = _BLOCK


def _horner(coefs: tuple[float, ...], s: Array, y: Array) -> Array:
    """y = sum(coefs[i] * s**i) for 1-D float64 ``s`` and ``y`` of one length."""
    y.fill(coefs[-1])
    for c in coefs[-2::-1]:
        np.multiply(y, s, out=y)
        np.add(y, c, out=y)
    return y


def _put_large(out: Array, where: list[Array], values: list[Array], single: bool = False) -> None:
    """out[where] = erf(values) by the second piece, for the elements with |x| >= 1 (or inf) gathered from every
    block: once for all blocks (the second piece's ~40 calls on small arrays cost more in calls than in
    arithmetic), _BLOCK elements at a time through the scratch, in float64 (``single``: float32, the float32
    coefficients)."""
    if not where:
        return
    index, x = np.concatenate(where), np.concatenate(values)
    coefs, k, clip = (_LARGE32, _K32, _CLIP32) if single else (_LARGE, _K, _CLIP)
    rows = _scratch().view(np.float32)[:, :_BLOCK] if single else _scratch()
    for start in range(0, index.size, _BLOCK):
        stop = min(start + _BLOCK, index.size)
        a, s, r = rows[0, : stop - start], rows[1, : stop - start], rows[2, : stop - start]
        np.abs(x[start:stop], out=a)
        np.minimum(a, clip, out=a)
        np.subtract(a, k, out=s)
        np.add(a, k, out=r)
        np.divide(s, r, out=s)
        _horner(coefs, s, r)
        np.multiply(a, a, out=a)
        np.negative(a, out=a)
        np.exp(a, out=a)
        np.multiply(r, a, out=r)
        np.subtract(1.0, r, out=r)
        np.copysign(r, x[start:stop], out=r)
        out[index[start:stop]] = r


def erf(z: Array, dtype: Any = np.float64) -> Array:
    """The error function of ``z``'s values (any layout, any real dtype), computed in float64 and rounded once to
    ``dtype``, as a new C-ordered array of z's shape (F-ordered for an F-ordered z); NaN stays NaN, +-inf gives
    +-1, -0.0 gives -0.0."""
    out = np.empty(z.shape, dtype, order="F" if z.ndim > 1 and z.flags.f_contiguous else "C")
    erf_into(z, out)
    return out


def erf_into(z: Array, out: Array) -> None:
    """``erf(z)`` written into ``out`` (z's shape, any float dtype and layout; ``out`` may be ``z`` itself)."""
    if out.shape != z.shape:
        raise ShapeError(f"erf_into: expected out of z's shape {z.shape}, got {out.shape}; pass an array of z's shape")
    same = out.__array_interface__ == z.__array_interface__ if out.dtype == z.dtype else False
    if np.may_share_memory(z, out) and not same:
        erf_into(z.copy(), out)
    elif out.flags.c_contiguous and out.flags.writeable:
        blocks = _blocks32 if z.dtype == out.dtype == np.float32 else _blocks
        blocks(z.reshape(-1), out.reshape(-1))  # z: a view if C-ordered, else a copy
    elif out.ndim > 1 and out.flags.f_contiguous and out.flags.writeable:
        erf_into(z.T, out.T)
    else:
        np.copyto(out, erf(z), casting="same_kind")


def _blocks(src: Array, out: Array) -> None:
    """erf of the 1-D ``src`` into the 1-D C-contiguous ``out`` (the same array, or disjoint memory), one block of
    _BLOCK elements at a time through this thread's scratch."""
    rows = _scratch()
    where: list[Array] = []
    values: list[Array] = []
    for start in range(0, src.size, _BLOCK):
        stop = min(start + _BLOCK, src.size)
        x, t, y = rows[0, : stop - start], rows[1, : stop - start], rows[2, : stop - start]
        np.copyto(x, src[start:stop], casting="safe")
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # |x| >= 1 may overflow: replaced below
            np.multiply(x, x, out=t)
            _horner(_SMALL, t, y)
            np.multiply(y, x, out=y)
            np.add(y, x, out=out[start:stop], casting="same_kind")
        _gather(t, x, start, where, values)
    _put_large(out, where, values)


def _blocks32(src: Array, out: Array) -> None:
    """``_blocks`` for a float32 ``src`` and ``out``, both pieces in float32 arithmetic (each within 1 ulp of the
    float32 rounding of math.erf)."""
    rows = _scratch()
    where: list[Array] = []
    values: list[Array] = []
    for start in range(0, src.size, _BLOCK):
        stop = min(start + _BLOCK, src.size)
        x = src[start:stop]
        t, y = rows[0].view(np.float32)[: stop - start], rows[1].view(np.float32)[: stop - start]
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # |x| >= 1 may overflow: replaced below
            np.multiply(x, x, out=t)
            _horner(_SMALL32, t, y)
            np.multiply(y, x, out=y)
        _gather(t, x, start, where, values)  # before out, which may be src, is written
        np.add(y, x, out=out[start:stop])
    _put_large(out, where, values, single=True)


def _gather(t: Array, x: Array, start: int, where: list[Array], values: list[Array]) -> None:
    """Append the positions (offset by ``start``) and values of the block's elements with x^2 = t >= 1."""
    big = np.flatnonzero(t >= 1.0)  # NaN compares False and stays with the first piece (NaN)
    if big.size:
        values.append(x.take(big))
        big += start
        where.append(big)
