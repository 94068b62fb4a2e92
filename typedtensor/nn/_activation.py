"""Activation modules: ReLU, GELU, Tanh, Sigmoid. Shape-preserving, the same in both modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import TypedTensorError
from .._ops import elementwise as _ew
from .._ops._types import Result
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from . import _bn_backend
from ._module import Module

__all__ = ["GELU", "ReLU", "Sigmoid", "Tanh"]

S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)


class _Activation(Module):
    """An elementwise function as a module; ``forward`` and ``forward_mut`` accept either tape."""

    def forward(self, x: Tensor[S, E, T]) -> Tensor[S, E, T]:
        """Apply the function elementwise."""
        return self._fn(ext.tensor_arg(x, type(self).__name__))

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        raise NotImplementedError


class ReLU(_Activation):
    """max(x, 0); its gradient ``g * (y > 0)`` (0 at 0, as PyTorch).

    In training with the numba kernels in use (``nn._bn_backend``: numba's by default), a float32/float64
    backward runs as one compiled pass (``_relu_numba``) where NumPy's builds a mask: the same bits.
    """

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        data = ext.data(x)
        if not x.traced or data.dtype not in _COMPILED_DTYPES or not data.flags.c_contiguous or not _numba_in_use():
            return x.relu()
        y = _ew.relu_values(data)
        from . import _relu_numba  # numba's kernels: imported on the first traced ReLU that takes them

        def backward(g: NDArray[Any], need: tuple[bool, ...]) -> tuple[NDArray[Any]]:
            if _relu_numba.fits(g, y):
                return (_relu_numba.pass_positive(g, y),)
            return (_ew.pass_positive(g, y),)  # a broadcast or other-layout gradient: NumPy's

        return ext.record((x,), y, backward)


_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _numba_in_use() -> bool:
    """Whether nn's compiled kernels are in use (the BatchNorm backend: numba's unless NumPy's was chosen, numba
    is missing, or this process was forked after numba's threads started)."""
    return _bn_backend.current() == "numba"


class Tanh(_Activation):
    """tanh(x)."""

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return x.tanh()


class Sigmoid(_Activation):
    """1 / (1 + exp(-x))."""

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return x.sigmoid()


class GELU(_Activation):
    """x * Phi(x) (``approximate="tanh"``: PyTorch's faster tanh form)."""

    def __init__(self, approximate: Literal["none", "tanh"] = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise TypedTensorError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate: Literal["none", "tanh"] = approximate

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else "approximate='tanh'"

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return x.gelu(self.approximate)

    def forward_inplace(self, x: Tensor[S, E, NoneTape]) -> Tensor[S, E, NoneTape]:
        """Inference on an untraced tensor that the caller owns and nobody else reads (a layer's fresh output):
        the tanh form overwrites its array and returns x, no fresh array; otherwise as ``forward``."""
        data = ext.data(ext.tensor_arg(x, "GELU"))
        if self.approximate != "tanh" or data.dtype.kind != "f" or not data.flags.c_contiguous:
            return self.forward(x)
        _ew.gelu_tanh_inplace(ext.data_mut(x))  # a TapeError for a traced x
        return x

    def kernel(self) -> Callable[[NDArray[Any]], Result]:
        """The array kernel ``x.gelu(approximate)`` records (its ``(out, backward)``), for fused layers
        (``Linear.after``)."""
        return _ew.gelu if self.approximate == "none" else _ew.gelu_tanh
