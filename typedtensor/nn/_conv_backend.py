"""Which kernel computes the 3x3 stride-1 convolutions ``typedtensor._ops.conv.winograd_applies`` names.

``"winograd"`` (the default): those convolutions take the Winograd F(2x2, 3x3) kernel (``_conv_winograd``: numba
plus NumPy's bundled OpenBLAS) for the forward pass and the stride-1 input gradient (up to 2M elements: see
``_ops.conv._WINOGRAD_DX_MOST``) where it can run, im2col elsewhere; a result that is not finite is computed again by im2col (``_ops.conv._finite``). ``"im2col"``: every
convolution takes im2col. ``TYPEDTENSOR_CONV=winograd|im2col`` sets it at import, :func:`use` at run time.

The kernel gets the whole batch (``_ops.conv.takes_whole``: ``conv_parallel`` does not split it over threads) and
runs on numba's pool. Whole networks (``bench._nets``, typedtensor side, 2026-12-02, load 2.5-4, in one process,
im2col and Winograd calls interleaved, fastest of 32 each): small ResNet inference 15.1 against 18.5 ms at batch 64,
50.3 against 64.0 at 256, training step 42.3 against 51.9 at 64, 170.8 against 172.0 at 256; VGG stack inference
8.6 against 11.4 at 64, step 25.0 against 36.2. Split like im2col's (each part on one thread, the serial build) it
was no faster than im2col (ResNet step 54.7 against 50.9 ms at batch 64, VGG step 43.9 against 41.3): serially on 32
images 16->16 on 32x32 2.10 ms against im2col's 2.07, 16->32 on 16x16 1.24 against 0.88.

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
    name: str = "winograd"
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


use(os.environ.get(_ENV, "winograd"))
_conv.register_fast(_provider)
