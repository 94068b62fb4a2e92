"""Which kernel computes the 3x3 stride-1 convolutions ``typedtensor._ops.conv.winograd_applies`` names.

``"im2col"`` (the default): every convolution takes im2col. ``"winograd"``: those convolutions take the Winograd
F(2x2, 3x3) kernel (``_conv_winograd``: numba plus NumPy's bundled OpenBLAS) for the forward pass and the
stride-1 input gradient where it can run, im2col elsewhere; a result that is not finite is computed again by
im2col (``_ops.conv._finite``). ``TYPEDTENSOR_CONV=im2col|winograd`` sets it at import, :func:`use` at run time.

Why im2col is the default: since Conv2D splits a large convolution's images over the cores with OpenBLAS on one
thread (``_ops.conv_parallel``), the Winograd kernel runs serially on each part, and there it was not faster
(2026-12-02, one thread, float32, load 2-2.5, 32 images: 16->16 on 32x32 2.10 ms against im2col's 2.07, 16->32 on
16x16 1.24 against 0.88, 32->32 on 16x16 2.05 against 1.67, 3->16 on 32x32 0.89 against 0.46); in the layers of
``bench._nets`` at batch 64 (through Conv2D, interleaved, fastest of 50) its forward was 0.92x of im2col's time on
16->16 32x32 planes and 1.2-1.8x on the others, forward plus backward 1.07-1.3x.

The kernel module (and numba) is imported on the first convolution the rule picks, not with ``typedtensor.nn``.
im2col is used instead when numba is not installed, when NumPy has no bundled OpenBLAS, and in a process forked
after numba's threads started (they do not survive fork: the BatchNorm backend's rule, ``_bn_backend``, whose
threading-layer choice the kernel module shares through ``_bn_numba``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

from .._errors import TypedTensorError
from .._ops import conv as _conv
from . import _bn_backend

__all__ = ["current", "use"]

_ENV = "TYPEDTENSOR_CONV"
_NAMES = ("im2col", "winograd")


class _State:
    name: str = "im2col"
    #: The kernel module once imported; False when it cannot run here (no numba, no OpenBLAS).
    kernels: Any = None


_state = _State()


def use(name: str) -> None:
    """Switch the 3x3 stride-1 convolutions to ``"winograd"`` (where the rule picks it and it can run) or
    ``"im2col"``."""
    if name not in _NAMES:
        raise TypedTensorError(
            f"convolution backend must be 'im2col' or 'winograd', got {name!r} (from use() or {_ENV})"
        )
    _state.name = name


def current() -> str:
    """The setting in use: "im2col" or "winograd"."""
    return _state.name


def _provider() -> _conv.FastKernels | None:
    """The Winograd kernels, or None: switched off, forked after numba's threads started, or cannot run here."""
    if _state.name != "winograd" or _bn_backend._sel.forked_after_numba:
        return None
    kernels = _state.kernels
    if kernels is None:
        found = importlib.util.find_spec("numba") is not None
        module: Any = importlib.import_module("typedtensor.nn._conv_winograd") if found else None
        kernels = _state.kernels = module if module is not None and module.available() else False
    return None if kernels is False else kernels


use(os.environ.get(_ENV, "im2col"))
_conv.register_fast(_provider)
