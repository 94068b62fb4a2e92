"""The BatchNorm kernels in use: numba's (a default dependency) when it is importable, else NumPy's.

``TYPEDTENSOR_BN_BACKEND=numpy`` or ``=numba`` forces one; :func:`use` switches at run time. numba is
imported on the first BatchNorm call, not with ``typedtensor.nn``. A process forked after numba's
threads started uses the NumPy kernels, and refuses ``use("numba")``: numba's OpenMP threads do not
survive fork, and the first parallel kernel would kill the child. Both backends compute the same
statistics (centred rows merged with Chan's formula in float64) and the same closed-form backward,
so their results agree to float rounding.

Every function here is a kernel entry and validates what the kernels will touch before either backend
runs: the (N, C, L) arrays are float32 or float64, C-contiguous (so N*C rows of length L are a view,
never a copy) and of one shape, output buffers are writable, and every per-channel vector has shape
(C,) (the compiled kernels index them without bounds checks). A mistake raises a ``TypedTensorError``
naming the array; nothing is written before the checks pass.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TypedTensorError

__all__ = ["available", "current", "use"]

_ENV = "TYPEDTENSOR_BN_BACKEND"
_MODULES = {"numpy": "typedtensor.nn._bn_numpy", "numba": "typedtensor.nn._bn_numba"}


def available() -> list[str]:
    """The backends that can run here."""
    return ["numpy", "numba"] if importlib.util.find_spec("numba") is not None else ["numpy"]


class _Selected:
    name: str = ""
    module: ModuleType | None = None
    #: This process was forked from one whose numba threads had started: numba is refused here.
    forked_after_numba: bool = False


_sel = _Selected()


def use(name: str) -> None:
    """Switch the BatchNorm kernels to ``"numpy"`` or ``"numba"`` (loaded on first use)."""
    if name not in _MODULES:
        raise TypedTensorError(f"BatchNorm backend must be 'numpy' or 'numba', got {name!r}")
    if name not in available():
        raise TypedTensorError(
            "the numba BatchNorm kernels need numba, a dependency of typedtensor that this environment lacks "
            "(a platform without a numba wheel?): pip install numba, or keep the NumPy kernels"
        )
    if name == "numba" and _sel.forked_after_numba:
        raise TypedTensorError(
            "use('numba'): this process was forked after numba's threads started in its parent, and they do not "
            "survive fork (the first parallel kernel would kill this process); it keeps the NumPy BatchNorm "
            "kernels. To use numba in worker processes, start them with the 'spawn' or 'forkserver' method "
            "of multiprocessing"
        )
    _sel.name, _sel.module = name, (_sel.module if name == _sel.name else None)


def current() -> str:
    """The backend in use."""
    return _sel.name


def _mod() -> Any:
    m = _sel.module
    if m is None:
        m = _sel.module = importlib.import_module(_MODULES[_sel.name])
    return m


# ---- the kernels' contract, checked at every entry ---------------------------------------------------

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _block(
    name: str, value: object, like: tuple[tuple[int, ...], np.dtype[Any]] | None = None, *, write: bool = False
) -> None:
    """``value`` is an (N, C, L) float32/float64 C-contiguous array (of the shape and dtype ``like`` if given).

    The common case costs a few attribute reads (~0.2 us); :func:`_refuse_block` finds what is wrong.
    """
    a = _array(value)
    if a is not None:
        if like is None:
            fits = a.ndim == 3 and (a.dtype is _F32 or a.dtype is _F64)
        else:
            fits = a.shape == like[0] and a.dtype is like[1]
        if fits:
            flags = a.flags
            if flags.c_contiguous and (flags.writeable or not write):
                return
    _refuse_block(name, value, like, write)


def _refuse_block(name: str, value: object, like: tuple[tuple[int, ...], np.dtype[Any]] | None, write: bool) -> None:
    """Raise the error for what :func:`_block` refused (return if it was only an uncommon dtype object)."""
    a = _array(value)
    if like is None:
        if a is None or a.ndim != 3:
            raise ShapeError(f"BatchNorm kernels: {name} must be an (N, C, L) array, got {_shape_of(value)}")
        if a.dtype not in (_F32, _F64):
            raise DTypeError(
                f"BatchNorm kernels: {name} must be float32 or float64 (float16 is computed in float32), got {a.dtype}"
            )
    else:
        shape, dtype = like
        if a is None or a.shape != shape:
            raise ShapeError(f"BatchNorm kernels: {name} must have x's shape {shape}, got {_shape_of(value)}")
        if a.dtype != dtype:
            raise DTypeError(f"BatchNorm kernels: {name} must have x's dtype {dtype}, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise TypedTensorError(
            f"BatchNorm kernels: {name} must be C-contiguous (its N*C rows are viewed, never copied), got strides "
            f"{a.strides} for shape {a.shape}: pass np.ascontiguousarray({name})"
        )
    if write and not a.flags.writeable:
        raise TypedTensorError(f"BatchNorm kernels: the output buffer {name} is read-only; pass a writable array")


def _array(value: object) -> NDArray[Any] | None:
    return cast("NDArray[Any]", value) if isinstance(value, np.ndarray) else None


def _shape_of(value: object) -> str:
    a = _array(value)
    return f"shape {a.shape}" if a is not None else f"a {type(value).__name__}"


def _vector(name: str, value: object, channels: int) -> None:
    """``value`` is None or a float vector of shape (C,): one value per channel."""
    if value is None:
        return
    v = _array(value)
    if v is not None and v.shape == (channels,) and v.dtype.kind == "f":
        return
    if v is None or v.shape != (channels,):
        raise ShapeError(
            f"BatchNorm: {name} has {_shape_of(value)} but the input has {channels} channels; it must have shape "
            f"({channels},), one value per channel (assign a tensor of that shape, or build the module with the "
            "input's channel count)"
        )
    raise DTypeError(f"BatchNorm: {name} must be a float vector, got dtype {v.dtype}")


def _eps(eps: object) -> float:
    """eps as the kernels take it: a finite float >= 0, -0.0 as +0.0 (so ``-0.0 + eps`` is +0.0, 1/sqrt +inf)."""
    return ext.options.non_negative(eps, "eps", "BatchNorm") + 0.0


def stats(x: Any) -> Any:
    """Per-channel mean and biased variance (float64) of x viewed as (N, C, L)."""
    _block("x", x)
    return _mod().stats(x)


def affine(x: Any, a: Any, b: Any, out: Any) -> Any:
    """out = a[c] * x + b[c]."""
    _block("x", x)
    _block("out", out, (x.shape, x.dtype), write=True)
    _vector("the coefficient a", a, x.shape[1])
    _vector("the coefficient b", b, x.shape[1])
    return _mod().affine(x, a, b, out)


def grad_sums(g: Any, x: Any, mean: Any) -> Any:
    """Per-channel sum(g) and sum(g * (x - mean)) in float64."""
    _block("x", x)
    _block("g", g, (x.shape, x.dtype))
    _vector("mean", mean, x.shape[1])
    return _mod().grad_sums(g, x, mean)


def combine(g: Any, x: Any, ca: Any, cb: Any, cc: Any, out: Any) -> Any:
    """out = ca[c] * g + cb[c] * x + cc[c]."""
    _block("x", x)
    _block("g", g, (x.shape, x.dtype))
    _block("out", out, (x.shape, x.dtype), write=True)
    for name, v in (("ca", ca), ("cb", cb), ("cc", cc)):
        _vector(f"the coefficient {name}", v, x.shape[1])
    return _mod().combine(g, x, ca, cb, cc, out)


def infer(x: Any, rm: Any, rv: Any, scale: Any, bias: Any, eps: float, out: Any) -> Any:
    """Inference with running statistics: out = (x - rm) / sqrt(rv + eps) * scale + bias."""
    _block("x", x)
    _block("out", out, (x.shape, x.dtype), write=True)
    c = x.shape[1]
    if rm is None or rv is None:
        raise TypedTensorError(
            "BatchNorm kernels: inference with running statistics needs running_mean and running_var"
        )
    for name, v in (("running_mean", rm), ("running_var", rv), ("scale", scale), ("bias", bias)):
        _vector(name, v, c)
    return _mod().infer(x, rm, rv, scale, bias, _eps(eps), out)


def is_small(x: Any) -> bool:
    """Whether x (N, C, L) takes the fused small-tensor path (train_small / backward_small)."""
    _block("x", x)
    return bool(_mod().is_small(x))


class _Saved:
    """What :func:`train_small` keeps for :func:`backward_small`, and the shape and dtype the gradient must have."""

    __slots__ = ("like", "save")

    def __init__(self, like: tuple[tuple[int, ...], np.dtype[Any]], save: Any) -> None:
        self.like, self.save = like, save


def train_small(x: Any, scale: Any, bias: Any, eps: float) -> Any:
    """Fused training forward for small x: out, mean, var, and what backward_small needs."""
    _block("x", x)
    _vector("scale", scale, x.shape[1])
    _vector("bias", bias, x.shape[1])
    out, mean, var, save = _mod().train_small(x, scale, bias, _eps(eps))
    return out, mean, var, _Saved((x.shape, x.dtype), save)


def backward_small(g: Any, save: Any) -> Any:
    """Fused closed-form backward for small x: dx, dscale, dbias."""
    if not isinstance(save, _Saved):
        raise TypedTensorError("BatchNorm kernels: backward_small takes what train_small returned")
    _block("g", g, save.like)
    return _mod().backward_small(g, save.save)


def _numba_threads_started() -> bool:
    """Whether numba's thread pool runs in this process (a parallel kernel ran: our import runs one)."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    return parallel is not None and bool(getattr(parallel, "_is_initialized", True))


def _after_fork_in_child() -> None:
    # numba's OpenMP thread pool does not survive fork(): a child that called a parallel kernel would be
    # killed. Children of a process whose numba threads started use the NumPy kernels, and refuse numba.
    if _sel.forked_after_numba or _numba_threads_started():
        _sel.forked_after_numba = True
        _sel.name, _sel.module = "numpy", None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: OpenMP runtimes by file name: GNU (libgomp, also vendored as libgomp-<hash>), Intel (libiomp5), LLVM (libomp).
_OPENMP = re.compile(r"lib(gomp|iomp5|omp)[-.]")


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime is mapped into this process (``import torch`` maps PyTorch's own libgomp);
    without /proc, whether torch is imported."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            names = {os.path.basename(line.split()[-1]) for line in maps if "/" in line}
    except OSError:
        return "torch" in sys.modules
    return any(_OPENMP.match(name) for name in names)


def _prefer_workqueue() -> None:
    """With another OpenMP runtime loaded before numba is, set ``NUMBA_THREADING_LAYER=workqueue``.

    numba reads the variable when it is imported; its default layer ("omp") would load a second
    OpenMP runtime whose threads fight the first's for the cores (see ``_bn_numba._choose_threading_layer``,
    which covers a numba imported before typedtensor.nn). This covers code that starts numba's pool itself
    (``numba.set_num_threads``) before the first BatchNorm call. An explicit setting wins; the variable is
    inherited by child processes.
    """
    if _ENV_LAYER in os.environ or "numba" in sys.modules or _sel.name != "numba":
        return
    if openmp_loaded():
        os.environ[_ENV_LAYER] = "workqueue"


_ENV_LAYER = "NUMBA_THREADING_LAYER"
_choice = os.environ.get(_ENV, "auto")
use(_choice if _choice != "auto" else available()[-1])
_prefer_workqueue()
