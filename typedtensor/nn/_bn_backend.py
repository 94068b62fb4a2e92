"""The BatchNorm kernels in use: numba's when it is installed (the ``fast`` extra), else NumPy's.

``TYPEDTENSOR_BN_BACKEND=numpy`` or ``=numba`` forces one; :func:`use` switches at run time. numba is
imported on the first BatchNorm call, not with ``typedtensor.nn``. A process forked after the compiled
kernels ran uses the NumPy ones (numba's OpenMP threads do not survive fork). Both backends compute the same
statistics (centred rows merged with Chan's formula in float64) and the same closed-form backward,
so their results agree to float rounding.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any

from .._errors import TypedTensorError

__all__ = ["available", "current", "use"]

_ENV = "TYPEDTENSOR_BN_BACKEND"
_MODULES = {"numpy": "typedtensor.nn._bn_numpy", "numba": "typedtensor.nn._bn_numba"}


def available() -> list[str]:
    """The backends that can run here."""
    return ["numpy", "numba"] if importlib.util.find_spec("numba") is not None else ["numpy"]


class _Selected:
    name: str = ""
    module: ModuleType | None = None
    numba_ran: bool = False  # numba's kernels ran in this process (its OpenMP pool exists)


_sel = _Selected()


def use(name: str) -> None:
    """Switch the BatchNorm kernels to ``"numpy"`` or ``"numba"`` (loaded on first use)."""
    if name not in _MODULES:
        raise TypedTensorError(f"BatchNorm backend must be 'numpy' or 'numba', got {name!r}")
    if name not in available():
        raise TypedTensorError("the numba BatchNorm kernels need numba: pip install 'typedtensor[fast]'")
    _sel.name, _sel.module = name, (_sel.module if name == _sel.name else None)


def current() -> str:
    """The backend in use."""
    return _sel.name


def _mod() -> Any:
    m = _sel.module
    if m is None:
        m = _sel.module = importlib.import_module(_MODULES[_sel.name])
        _sel.numba_ran = _sel.numba_ran or _sel.name == "numba"
    return m


def stats(x: Any) -> Any:
    """Per-channel mean and biased variance (float64) of x viewed as (N, C, L)."""
    return _mod().stats(x)


def affine(x: Any, a: Any, b: Any, out: Any) -> Any:
    """out = a[c] * x + b[c]."""
    return _mod().affine(x, a, b, out)


def grad_sums(g: Any, x: Any, mean: Any) -> Any:
    """Per-channel sum(g) and sum(g * (x - mean)) in float64."""
    return _mod().grad_sums(g, x, mean)


def combine(g: Any, x: Any, ca: Any, cb: Any, cc: Any, out: Any) -> Any:
    """out = ca[c] * g + cb[c] * x + cc[c]."""
    return _mod().combine(g, x, ca, cb, cc, out)


def infer(x: Any, rm: Any, rv: Any, scale: Any, bias: Any, eps: float, out: Any) -> Any:
    """Inference with running statistics: out = (x - rm) / sqrt(rv + eps) * scale + bias."""
    return _mod().infer(x, rm, rv, scale, bias, eps, out)


def is_small(x: Any) -> bool:
    """Whether x (N, C, L) takes the fused small-tensor path (train_small / backward_small)."""
    return bool(_mod().is_small(x))


def train_small(x: Any, scale: Any, bias: Any, eps: float) -> Any:
    """Fused training forward for small x: out, mean, var, and what backward_small needs."""
    return _mod().train_small(x, scale, bias, eps)


def backward_small(g: Any, save: Any) -> Any:
    """Fused closed-form backward for small x: dx, dscale, dbias."""
    return _mod().backward_small(g, save)


def _after_fork_in_child() -> None:
    # numba's OpenMP thread pool does not survive fork(): a child that called a parallel kernel would be
    # killed. Children of a process that already ran the compiled kernels use the NumPy ones.
    if _sel.numba_ran:
        _sel.name, _sel.module = "numpy", None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_choice = os.environ.get(_ENV, "auto")
use(_choice if _choice != "auto" else available()[-1])
