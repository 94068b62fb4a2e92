"""``Upsample(size=None, scale_factor=None, mode="nearest", align_corners=None)``: resize the height and width of
a (B, C, H, W) batch, PyTorch's ``nn.Upsample`` for its ``nearest`` and ``bilinear`` modes.

The kernel (``typedtensor._ops.upsample``) uses PyTorch's source indices and weights, so values and gradients
match it. No parameters; the same in training and inference (``forward`` and ``forward_mut`` accept either tape).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._ops import upsample as _up
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module

__all__ = ["Upsample"]

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
V = TypeVar("V")

_MODES = ("nearest", "bilinear")


def _pair(value: object, name: str, check: Callable[[object], V]) -> tuple[V, V]:
    items: tuple[object, ...] = value if isinstance(value, tuple) else (value, value)  # pyright: ignore[reportUnknownVariableType]
    if len(items) != 2:
        raise TypedTensorError(f"Upsample: {name} must be a number or a (height, width) pair, got {value!r}")
    return check(items[0]), check(items[1])


def _size(value: object) -> int:
    return ext.options.positive_int(value, "size", "Upsample")


def _factor(value: object) -> float:
    return ext.options.positive(value, "scale_factor", "Upsample")


class Upsample(Module):
    """Resize (B, C, H, W) to (B, C, H_out, W_out) by nearest-neighbour or bilinear interpolation.

    Args:
        size: (H_out, W_out), or an int for both; exclusive with ``scale_factor``.
        scale_factor: a factor > 0, or (for H, for W); ``H_out = floor(H * scale_factor)``, and the factor itself
            (not ``H / H_out``) places the samples, as PyTorch's default ``recompute_scale_factor=None``.
        mode: ``"nearest"`` (PyTorch's legacy nearest: ``floor(dst * scale)``) or ``"bilinear"``.
        align_corners: bilinear only: True maps the corner pixels' centres onto each other, False (the default
            when None) samples at ``(dst + 0.5) * scale - 0.5``; a bool with ``"nearest"`` is refused, as PyTorch does.

    Only batched 4-D input (PyTorch reads a 3-D input as 1-D data, (N, C, L)). Float inputs only; float16 is
    computed in float32.
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
        mode: Literal["nearest", "bilinear"] = "nearest",
        align_corners: bool | None = None,
    ) -> None:
        if (size is None) == (scale_factor is None):
            raise TypedTensorError(
                "Upsample: pass exactly one of size and scale_factor, got "
                f"size={size!r} and scale_factor={scale_factor!r}"
            )
        if mode not in _MODES:
            raise TypedTensorError(
                f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r} (PyTorch's other modes are not implemented)"
            )
        if align_corners is not None:
            ext.options.flag(align_corners, "align_corners", "Upsample")
            if mode == "nearest":
                raise TypedTensorError(
                    "Upsample: align_corners only applies to mode='bilinear', got align_corners="
                    f"{align_corners!r} with mode='nearest'; leave it None"
                )
        self.size: tuple[int, int] | None = None
        self.scale_factor: tuple[float, float] | None = None
        if size is not None:
            self.size = _pair(size, "size", _size)
        else:
            self.scale_factor = _pair(scale_factor, "scale_factor", _factor)
        self.mode: Literal["nearest", "bilinear"] = mode
        self.align_corners = align_corners

    def extra_repr(self) -> str:
        """PyTorch's text: ``scale_factor=2.0, mode='nearest'``."""
        if self.scale_factor is not None:
            sh, sw = self.scale_factor
            info = f"scale_factor={sh if sh == sw else self.scale_factor}"
        else:
            assert self.size is not None
            info = f"size={self.size}"
        text = f"{info}, mode={self.mode!r}"
        return text + (f", align_corners={self.align_corners}" if self.align_corners is not None else "")

    def forward(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C, int, int], E, T]:
        """(B, C, H, W) -> (B, C, H_out, W_out)."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H_out, W_out) for an H x W input: ``size``, or ``floor(H * scale_factor)`` and ``floor(W * ...)``."""
        if self.size is not None:
            return self.size
        assert self.scale_factor is not None
        return math.floor(height * self.scale_factor[0]), math.floor(width * self.scale_factor[1])

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        data = ext.data(ext.tensor_arg(x, "Upsample"))
        if data.ndim != 4:
            raise ShapeError(
                f"Upsample: expected a (B, C, H, W) batch, got shape {data.shape}; add the batch dim of an image "
                "with reshape((1, C, H, W))"
            )
        if data.dtype not in ext.FLOAT_DTYPES:
            raise DTypeError(
                f"Upsample: expected a float16/32/64 input, got {data.dtype.name}; "
                f"{ext.astype_advice('the input', ext.FLOAT_DTYPES[1])}"
            )
        h, w = data.shape[2], data.shape[3]
        out = self.output_size(h, w)
        if h == 0 or w == 0 or out[0] == 0 or out[1] == 0:
            raise ShapeError(
                f"Upsample: an input of shape {data.shape} gives an output of height and width {out}; both must be >= 1 "
                "(an empty input, or a scale_factor too small for it)"
            )
        # refused before the kernel's index and weight arrays are made (NumPy's raw MemoryError, or all the memory)
        ext.room((*data.shape[:2], *out), data.dtype, "Upsample")
        ext.room(out, np.dtype(np.int64), "Upsample")
        align = bool(self.align_corners) and self.mode == "bilinear"
        return ext.record((x,), *_up.upsample2d(data, out, self.scale_factor, self.mode, align))
