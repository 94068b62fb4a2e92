"""Gradient clipping before an optimizer step: by global norm and by value (PyTorch's ``clip_grad_*_``).

::

    grads = model.alloc_grads()
    loss_fn(model.forward_mut(x.trace(grads)), y).backward()
    norm = tt.optim.clip_grad_norm(model, grads, max_norm=1.0)  # the norm before clipping
    opt.update(model, grads)  # reads the clipped gradients

Both functions write into the gradient arrays ``grads`` stores (``ext.grad_array``), so the
optimizer's ``update`` then reads the clipped values, as PyTorch's in-place ``p.grad.mul_`` does.
The gradients are those of ``model.named_parameters()`` (a tied tensor once); a parameter with no
gradient in ``grads`` is left out, as PyTorch leaves out a parameter whose ``.grad`` is None (the
optimizer's ``update`` then refuses it unless it is frozen). Everything is checked before anything is
written: a refused call changes nothing.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TapeError
from .._tensor import Gradients
from ..nn._module import Module
from ._base import OptimizerError

__all__ = ["clip_grad_norm", "clip_grad_value"]

Array = NDArray[Any]
_F64 = np.dtype(np.float64)
#: PyTorch's guard against a zero total norm: the factor is ``max_norm / (total + 1e-6)``.
_EPS = 1e-6


def _real_or_inf(value: object, name: str, where: str) -> float:
    """``value`` as a Python float, infinities and NaN kept (the callers bound it): a number, not a bool or str."""
    if isinstance(value, (float, np.floating)):
        return float(cast("float", value))
    return ext.options.real(value, name, where, error=OptimizerError)


def _limit(value: object, name: str, where: str) -> float:
    """``max_norm`` / ``clip_value``: a real number > 0 or +inf (no clipping), as a Python float."""
    number = _real_or_inf(value, name, where)
    if not number > 0.0:
        raise OptimizerError(
            f"{where}: {name} must be > 0 (or inf: no clipping), got {value!r}; pass a positive number"
        )
    return number


def _order(value: object, where: str) -> float:
    """``norm_type``: a real p >= 1 or +inf (the largest magnitude), as a Python float."""
    p = _real_or_inf(value, "norm_type", where)
    if not p >= 1.0:
        raise OptimizerError(
            f"{where}: norm_type must be >= 1 or inf (a norm), got {value!r}; use 2.0 (the default), 1.0 or math.inf"
        )
    return p


def _gradients(model: object, grads: object, where: str) -> list[tuple[str, Array]]:
    """Every (name, stored gradient array) of ``model``'s parameters in ``grads``, checked; nothing is written."""
    if not isinstance(model, Module):
        raise OptimizerError(
            f"{where}(model, grads, ...) needs a typedtensor.nn.Module (its parameters' gradients are clipped), "
            f"got {type(model).__name__}"
        )
    if not isinstance(grads, Gradients):
        raise TapeError(
            f"{where}(model, grads, ...) needs the Gradients of a backward pass as grads, got {type(grads).__name__}"
        )
    out: list[tuple[str, Array]] = []
    for name, t in model.named_parameters():
        g = ext.grad_array(grads, t)
        if g is None:
            continue
        shape = ext.data(t).shape
        if g.shape != shape:
            raise ShapeError(
                f"{where}: the gradient of {name!r} has shape {g.shape}, the parameter {shape}; "
                "pass the Gradients of a backward pass through this model"
            )
        if g.dtype.kind != "f":
            raise DTypeError(f"{where}: the gradient of {name!r} has dtype {g.dtype}, a float is expected")
        if not g.flags.writeable:
            raise OptimizerError(f"{where}: the gradient of {name!r} is read-only; it must be clipped in place")
        out.append((name, g))
    return out


def _refuse_nan(where: str, names: list[str], what: str) -> None:
    if names:
        raise OptimizerError(
            f"{where}: the gradient{'s' if len(names) > 1 else ''} of {', '.join(map(repr, names))} "
            f"{'hold' if len(names) > 1 else 'holds'} {what}; nothing was changed. Skip this step "
            "(grads.zero() before the next backward pass) or lower the learning rate / loss scale"
        )


def _norm(a: Array, p: float) -> float:
    """The p-norm of ``a`` (in float64, into a new array, scaled by the largest magnitude: no overflow)."""
    a = np.abs(a, dtype=_F64)
    if a.size == 0:
        return 0.0
    if p == 1.0:
        return float(a.sum())
    m = float(a.max())
    if p == math.inf or m == 0.0:
        return m
    a /= m
    flat = a.reshape(-1)
    if p == 2.0:
        return m * math.sqrt(float(np.dot(flat, flat)))
    return m * math.pow(float(np.power(flat, p).sum()), 1.0 / p)


def clip_grad_norm(model: Module, grads: Gradients, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale the gradients of ``model``'s parameters in ``grads`` to a total norm of at most ``max_norm``.

    PyTorch's ``torch.nn.utils.clip_grad_norm_``: the total norm is the ``norm_type``-norm of all the
    gradients as one vector (``norm_type``: a real p >= 1, or ``math.inf`` for the largest magnitude);
    when ``max_norm / (total + 1e-6)`` is below 1, every gradient is multiplied by it, in place (the
    factor is rounded to each gradient's dtype, as torch does). Returns the total norm before clipping,
    as a Python float (computed in float64 without overflow, so it agrees with torch's float32 norm to
    float32 rounding). ``max_norm=math.inf`` only measures.

    A gradient holding NaN or inf is refused with an ``OptimizerError`` naming it, nothing changed:
    torch's default (``error_if_nonfinite=False``) would multiply every gradient by 0 (an infinite
    norm) or NaN, so that the step silently applies no gradient while momentum, moments and step
    counts still advance. Skip the step instead (catch the error, ``grads.zero()``).

    Errors: ``OptimizerError`` for a ``max_norm`` that is not > 0 or a ``norm_type`` below 1, a model
    that is not a Module, a read-only gradient; ``TapeError`` when ``grads`` is not a Gradients;
    ``ShapeError``/``DTypeError`` for a stored gradient that does not fit its parameter.
    """
    where = "clip_grad_norm"
    limit = _limit(max_norm, "max_norm", where)
    p = _order(norm_type, where)
    work = _gradients(model, grads, where)
    _refuse_nan(where, [name for name, g in work if not np.isfinite(g).all()], "NaN or infinite values")
    norms = np.array([_norm(g, p) for _, g in work], _F64)
    total = _norm(norms, p)
    if not math.isfinite(total):
        raise OptimizerError(
            f"{where}: the total {p}-norm of the gradients overflows float64; nothing was changed. "
            "Lower the loss scale or the learning rate"
        )
    factor = limit / (total + _EPS)
    if factor < 1.0:
        for _, g in work:
            g *= factor  # a Python float: rounded to g's dtype (NumPy's weak scalars), as torch's factor
    return total


def clip_grad_value(model: Module, grads: Gradients, clip_value: float) -> None:
    """Clamp every gradient of ``model``'s parameters in ``grads`` to ``[-clip_value, clip_value]``, in place.

    PyTorch's ``torch.nn.utils.clip_grad_value_`` (``clip_value`` > 0; an infinite gradient is clamped
    too, as torch does). A gradient holding NaN is refused with an ``OptimizerError`` naming it, nothing
    changed (clamping keeps NaN, which the optimizer's update would refuse after the other gradients
    were already changed). The other errors are ``clip_grad_norm``'s.
    """
    where = "clip_grad_value"
    limit = _limit(clip_value, "clip_value", where)
    work = _gradients(model, grads, where)
    _refuse_nan(where, [name for name, g in work if np.isnan(g).any()], "NaN values")
    with np.errstate(over="ignore"):  # a limit beyond float16's range is inf there: no clamping, as in torch
        for _, g in work:
            np.clip(g, -limit, limit, out=g)
