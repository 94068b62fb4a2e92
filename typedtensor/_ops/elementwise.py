"""Elementwise kernels: arithmetic, exp/log, activations, clamp."""

from __future__ import annotations

import numpy as np

from .._errors import TypedTensorError
from ._types import Array, Grads, Result
from .erf import BLOCK as _BLOCK
from .erf import erf_into as _erf_into
from .erf import scratch as _erf_scratch

# ---- binary (tensor with tensor of the same shape, or tensor with a Python scalar) ----------


# Two parents (a, b); b is None on the tape when it is a scalar, and need[1] is then False.


def add(a: Array, b: Array | float) -> Result:
    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (g if need[0] else None, g if need[1] else None)

    return np.add(a, b), bwd


def sub(a: Array, b: Array | float) -> Result:
    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (g if need[0] else None, -g if need[1] else None)

    return np.subtract(a, b), bwd


def rsub(a: Array, b: float) -> Result:
    """b - a for a scalar b."""
    return np.subtract(b, a), lambda g, need: (-g,)


def mul(a: Array, b: Array | float) -> Result:
    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (g * b if need[0] else None, g * a if need[1] else None)

    return np.multiply(a, b), bwd


def div(a: Array, b: Array | float) -> Result:
    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        return (g / b if need[0] else None, -g * a / (b * b) if need[1] else None)

    return np.divide(a, b), bwd


def rdiv(a: Array, b: float) -> Result:
    """b / a for a scalar b."""
    y = np.divide(b, a)
    return y, lambda g, need: (-g * y / a,)


def _power(base: Array | float, exponent: Array | float, like: Array) -> Array:
    """base ** exponent in ``like``'s dtype, computed in float64 and rounded once (an exponent such as 2049
    or 0.1 is not rounded to float16 or float32 first); IEEE results (inf, NaN) without NumPy's warnings."""
    out = np.empty(like.shape, like.dtype)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if exponent.__class__ is float and exponent == -0.5:  # PyTorch's rsqrt: -inf at -0.0, where pow gives inf
            np.divide(1.0, np.sqrt(base, dtype=np.float64), out=out, casting="same_kind")
        else:
            np.power(base, exponent, out=out, dtype=np.float64, casting="same_kind")
    return out


def pow_(a: Array, p: float) -> Result:
    """a ** p for a real scalar p; the derivative p * a ** (p - 1) is PyTorch's.

    At a == 0 that is 0 for p > 1, 1 for p == 1 and +-inf for p < 1 (IEEE); for p == 0 the derivative is 0
    everywhere, also at 0 where the formula would give 0 * inf (PyTorch masks it the same way).
    """

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        if p == 0:
            return (np.zeros_like(g),)
        with np.errstate(over="ignore", invalid="ignore"):
            return (g * _power(a, p - 1, a) * p,)

    return _power(a, p, a), bwd


def rpow(a: Array, b: float) -> Result:
    """b ** a for a real scalar b; the derivative b ** a * log(b) is PyTorch's, 0 where b == 0 and a >= 0."""
    y = _power(b, a, a)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            d = g * y * np.log(np.float64(b)).astype(a.dtype)  # log(b < 0) is NaN, as in PyTorch
            if b == 0:
                d = np.where(a >= 0, np.zeros((), g.dtype), d)
        return (d,)

    return y, bwd


# ---- unary ------------------------------------------------------------------------------------


def neg(a: Array) -> Result:
    return np.negative(a), lambda g, need: (-g,)


def exp(a: Array) -> Result:
    y = np.exp(a)
    return y, lambda g, need: (g * y,)


def log(a: Array) -> Result:
    return np.log(a), lambda g, need: (g / a,)


def sqrt(a: Array) -> Result:
    y = np.sqrt(a)
    return y, lambda g, need: (g / (2 * y),)


def square(a: Array) -> Result:
    return np.square(a), lambda g, need: (2 * a * g,)


def abs_(a: Array) -> Result:
    """|a|; the derivative at 0 is 0 (PyTorch's choice)."""
    return np.abs(a), lambda g, need: (g * np.sign(a),)


def relu(a: Array) -> Result:
    """max(a, 0); the derivative at 0 is 0 (PyTorch's choice).

    The backward keeps the output, not the input: y > 0 exactly where a > 0 (NaN and -0.0 included), and
    the output is usually kept anyway (the next layer's input), so the input's buffer is freed after the
    forward (one activation less held per ReLU in a training step, as PyTorch's ``threshold_backward``).
    """
    y = relu_values(a)
    return y, lambda g, need: (pass_positive(g, y),)


#: Elements per row of zeros that ``relu_values`` takes the maximum against (64 KiB of float32).
_ZERO_ROW = 1 << 14
_zero_rows: dict[np.dtype[np.floating], Array] = {}


def relu_values(a: Array, out: Array | None = None) -> Array:
    """``np.maximum(a, 0, out=out)``, the same bits, faster for a big C-contiguous float array.

    NumPy's maximum of an array and a scalar runs an unvectorised loop: 0.33 ms for 1M float32 values here,
    where against a contiguous array it takes its SIMD loop (0.10 ms). So the array is viewed as rows of
    ``_ZERO_ROW`` values and maximised against one cached row of zeros (broadcast over the rows), the tail
    against the scalar. Other layouts, dtypes and small arrays keep the plain call. ``out`` (may be ``a``)
    takes the fast path when it is a C-contiguous array of a's shape and dtype.
    """
    fits = out is None or (out.shape == a.shape and out.dtype == a.dtype and out.flags.c_contiguous)
    if a.dtype.kind != "f" or a.size < _ZERO_ROW or not a.flags.c_contiguous or not fits:
        return np.maximum(a, 0, out=out)
    zeros = _zero_rows.get(a.dtype)
    if zeros is None:
        zeros = np.zeros(_ZERO_ROW, a.dtype)
        zeros.flags.writeable = False
        _zero_rows[a.dtype] = zeros
    y = np.empty(a.shape, a.dtype) if out is None else out
    flat, dest = a.reshape(-1), y.reshape(-1)
    whole = a.size - a.size % _ZERO_ROW
    np.maximum(flat[:whole].reshape(-1, _ZERO_ROW), zeros, out=dest[:whole].reshape(-1, _ZERO_ROW))
    if whole < a.size:
        np.maximum(flat[whole:], 0, out=dest[whole:])
    return y


#: Elements per block of ``pass_positive`` (its bool mask is one block's, not a whole mask of y's size).
_MASK_BLOCK = 1 << 16


def pass_positive(g: Array, y: Array) -> Array:
    """g * (y > 0): the mask built block by block when g and y are C-contiguous arrays of one shape (an
    activation's gradient), else at once (a broadcast g, another layout); the same products either way."""
    if g.shape != y.shape or g.size <= _MASK_BLOCK or not (g.flags.c_contiguous and y.flags.c_contiguous):
        return g * (y > 0)
    out = np.empty(g.shape, np.result_type(g, np.bool_))
    flat_g, flat_y, flat_out = g.reshape(-1), y.reshape(-1), out.reshape(-1)
    mask = np.empty(_MASK_BLOCK, np.bool_)
    for s in range(0, g.size, _MASK_BLOCK):
        e = min(s + _MASK_BLOCK, g.size)
        m = np.greater(flat_y[s:e], 0, out=mask[: e - s])
        np.multiply(flat_g[s:e], m, out=flat_out[s:e])
    return out


def sigmoid(a: Array) -> Result:
    # 1/(1+exp(-a)) overflows for very negative a; tanh form is stable for every input.
    y = 0.5 * (np.tanh(0.5 * a) + 1)
    return y, lambda g, need: (g * y * (1 - y),)


def tanh(a: Array) -> Result:
    y = np.tanh(a)
    return y, lambda g, need: (g * (1 - y * y),)


_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_TANH_K = 0.7978845608028654  # sqrt(2 / pi)


def gelu(a: Array) -> Result:
    """x * Phi(x), Phi the standard normal CDF (PyTorch's default, exact erf form).

    NumPy has no erf ufunc: ``erf.erf_into`` computes it as whole-array passes, in float64 (within ~1 ulp of
    math.erf) rounded once to a's dtype, or for float32 in float32 arithmetic, within 1 ulp of math.erf
    rounded to float32; ``gelu_tanh`` is the cheaper approximation. Both passes work in
    place on the fewest fresh arrays, with the roundings of ``0.5 * (1 + erf(a * 2**-0.5))`` and
    ``g * (cdf + a * (2 pi)**-0.5 * exp(-0.5 * a * a))``.
    """
    if a.dtype.kind != "f":
        a = a.astype(np.float64)  # NumPy's promotion, as for exp: the recorder reports it (a DTypeError)
    cdf = np.multiply(a, _SQRT_HALF, out=np.empty_like(a))  # an array also for a 0-d a
    _erf_into(cdf, cdf)
    cdf += 1.0
    cdf *= 0.5

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        pdf = np.multiply(a, a, out=np.empty_like(a))
        pdf *= -0.5  # a power of two: rounds as (-0.5 * a) * a does
        np.exp(pdf, out=pdf)
        d = np.multiply(a, _INV_SQRT_2PI, out=np.empty_like(a))
        d *= pdf
        d += cdf
        return (np.multiply(d, g, out=d) if g.dtype == d.dtype and g.shape == d.shape else g * d,)

    return a * cdf, bwd


def _gelu_tanh_tanh(a: Array, t: Array) -> None:
    """t = tanh(sqrt(2/pi) (a + 0.044715 a^3)) in place, with the roundings of that expression."""
    np.multiply(a, 0.044715, out=t)
    t *= a
    t *= a
    t += a
    t *= _TANH_K
    np.tanh(t, out=t)


def _gelu_tanh_into(a: Array, t: Array, y: Array) -> None:
    """y = 0.5 a (1 + t), t = tanh(sqrt(2/pi) (a + 0.044715 a^3)), in place with the roundings of those expressions
    (y may be t: the output is then built over the tanh)."""
    _gelu_tanh_tanh(a, t)
    np.add(t, 1.0, out=y)
    y *= a
    y *= 0.5  # a power of two: (0.5 a)(1 + t) as a (1 + t) / 2


def _gelu_tanh_grad_into(a: Array, t: Array, s: Array, q: Array) -> Array:
    """t = 0.5 (1 + t) + 0.5 a (1 - t t) inner, inner = K (1 + 3 * 0.044715 a a), the derivative, in place over
    the tanh t with two more arrays (s, q), in the expression's order of roundings."""
    np.multiply(t, t, out=s)
    np.subtract(1.0, s, out=s)
    np.multiply(a, 0.5, out=q)
    q *= s
    np.multiply(a, 3 * 0.044715, out=s)
    s *= a
    s += 1.0
    s *= _TANH_K
    q *= s
    t += 1.0
    t *= 0.5
    t += q
    return t


def gelu_tanh(a: Array) -> Result:
    """PyTorch's ``gelu(approximate="tanh")``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    A C-contiguous float array goes through this thread's scratch rows ``erf.BLOCK`` elements at a time: the
    forward's one fresh array is its output, the backward's its gradient (it recomputes the tanh from a,
    keeping nothing else from the forward), so no activation-sized temporary is made and the blocks stay in
    cache. Other layouts are computed whole, on fresh arrays. The roundings are those of the plain formulas.
    """
    if a.dtype.kind != "f":  # NumPy's promotion of an integer a (the recorder reports it)
        t0 = np.tanh(_TANH_K * (a + 0.044715 * a * a * a))

        def promoted(g: Array, need: tuple[bool, ...]) -> Grads:
            inner = _TANH_K * (1.0 + 3 * 0.044715 * a * a)
            return (g * (0.5 * (1.0 + t0) + 0.5 * a * (1.0 - t0 * t0) * inner),)

        return 0.5 * a * (1.0 + t0), promoted
    blocked = a.flags.c_contiguous
    y = np.empty_like(a)
    if blocked:
        flat, out, rows = a.reshape(-1), y.reshape(-1), _erf_scratch(a.dtype)
        for start in range(0, flat.size, _BLOCK):
            stop = min(start + _BLOCK, flat.size)
            _gelu_tanh_into(flat[start:stop], rows[0, : stop - start], out[start:stop])
    else:
        _gelu_tanh_into(a, y, y)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        if not (blocked and g.dtype == a.dtype and g.shape == a.shape and g.flags.c_contiguous):
            t = np.empty_like(a)
            _gelu_tanh_tanh(a, t)
            d = _gelu_tanh_grad_into(a, t, np.empty_like(a), np.empty_like(a))
            return (np.multiply(d, g, out=d) if g.dtype == d.dtype and g.shape == d.shape else g * d,)
        dx = np.empty_like(a)
        flat, gf, out, rows = a.reshape(-1), g.reshape(-1), dx.reshape(-1), _erf_scratch(a.dtype)
        for start in range(0, flat.size, _BLOCK):
            n = min(_BLOCK, flat.size - start)
            ab, t = flat[start : start + n], rows[0, :n]
            _gelu_tanh_tanh(ab, t)
            d = _gelu_tanh_grad_into(ab, t, rows[1, :n], rows[2, :n])
            np.multiply(d, gf[start : start + n], out=out[start : start + n])
        return (dx,)

    return y, bwd


def gelu_tanh_inplace(a: Array) -> None:
    """Overwrite the C-contiguous float array ``a`` with ``gelu_tanh(a)``'s values (inference on an array its
    caller owns: no fresh array, the tanh in this thread's scratch blocks), the same roundings."""
    if a.dtype.kind != "f" or not a.flags.c_contiguous or not a.flags.writeable:
        raise TypedTensorError(
            f"gelu_tanh_inplace needs a writeable C-contiguous float array, got dtype {a.dtype}, C-contiguous "
            f"{a.flags.c_contiguous}, writeable {a.flags.writeable}; call gelu_tanh for a new array"
        )
    flat, rows = a.reshape(-1), _erf_scratch(a.dtype)
    for start in range(0, flat.size, _BLOCK):
        n = min(_BLOCK, flat.size - start)
        ab, t = flat[start : start + n], rows[0, :n]
        _gelu_tanh_tanh(ab, t)
        t += 1.0
        np.multiply(t, ab, out=ab)
        ab *= 0.5


def clamp(a: Array, lo: float | None, hi: float | None) -> Result:
    """Clip to [lo, hi]; the gradient passes where lo <= a <= hi (PyTorch's choice)."""
    y = np.clip(a, lo, hi)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        return (g * mask,)

    return y, bwd


def maximum(a: Array, b: Array | float) -> Result:
    """The larger of a and b (a NaN propagates); the gradient goes to the larger, halves to each at a tie.

    torch.maximum's rule: a side gets 0 where it is smaller, g/2 where a == b, else g; at a NaN neither holds,
    so both sides get g there.
    """
    y = np.maximum(a, b)

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        tie = a == b
        zero = np.zeros((), dtype=g.dtype)
        half = 0.5 * g
        ga = np.where(a < b, zero, np.where(tie, half, g)) if need[0] else None
        gb = np.where(a > b, zero, np.where(tie, half, g)) if need[1] else None
        return (ga, gb)

    return y, bwd


def where(cond: Array, a: Array | float, b: Array | float) -> Result:
    """cond ? a : b, elementwise; three parents (a, b, cond): a scalar branch is None, cond never needs one."""

    def bwd(g: Array, need: tuple[bool, ...]) -> Grads:
        zero = np.zeros((), dtype=g.dtype)
        return (np.where(cond, g, zero) if need[0] else None, np.where(cond, zero, g) if need[1] else None, None)

    return np.where(cond, a, b), bwd
