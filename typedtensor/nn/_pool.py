"""Pooling layers: ``MaxPool2D``, ``AvgPool2D`` and ``GlobalAvgPool2D`` (no parameters).

Each keeps the batch and channel dims of its input in the type. A window pool built with stride 1
and a padding that keeps the size (kernel 1, kernel 3 / padding 1, kernel 5 / padding 2) is a
``MaxPool2D[SameSize]`` and keeps H and W in the type; any other types them ``int`` (see
``_spatial``). Pooling behaves the same in training and inference: ``forward`` and
``forward_mut`` accept either tape, and the output carries the input's.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar, TypeVarTuple, overload

import numpy as np

from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module
from ._spatial import AnySize, S, SameSize, Sq0, Sq1, Sq2, Sq3, Sq5, keeps_size
from .functional import Size2, _global_avg_pool2d, _pair, _pool2d

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "MaxPool2D"]

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")


class _WindowPool(Module, Generic[S]):
    """Shared options, repr and ``forward`` of the window pools (S: see ``_spatial``)."""

    _kind: ClassVar[Literal["max", "avg"]] = "max"

    def __init__(self, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0) -> None:
        where = type(self).__name__
        _pair(kernel_size, "kernel_size", where, 1)  # validate now, keep the caller's spelling for the repr
        if stride is not None:
            _pair(stride, "stride", where, 1)
        _pair(padding, "padding", where, 0)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def _keeps_size(self) -> bool:
        """Whether every H x W input gives an H x W output (what ``SameSize`` declares)."""
        where = type(self).__name__
        ph, pw = _pair(self.padding, "padding", where, 0)
        kernel, stride = _pair(self.kernel_size, "kernel_size", where, 1), _pair(self.stride, "stride", where, 1)
        return keeps_size(kernel, stride, ((ph, ph), (pw, pw)), (1, 1))

    def extra_repr(self) -> str:
        """PyTorch's text: ``kernel_size=2, stride=2, padding=0``."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return _pool2d(x, self._kind, self.kernel_size, self.stride, self.padding, type(self).__name__)

    @overload
    def forward(self: _WindowPool[SameSize], x: Tensor[tuple[B, C, H, W], E, T]) -> Tensor[tuple[B, C, H, W], E, T]: ...
    @overload
    def forward(self: _WindowPool[SameSize], x: Tensor[tuple[C, H, W], E, T]) -> Tensor[tuple[C, H, W], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C, int, int], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C, int, int], E, T]: ...
    def forward(self, x: Tensor[tuple[*Lead, C, Any, Any], E, T]) -> Tensor[tuple[*Lead, C, Any, Any], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """(B, C, H, W) -> (B, C, H_out, W_out), or unbatched (C, H, W) -> (C, H_out, W_out)."""
        return self._apply(x)

    @overload
    def forward_mut(
        self: _WindowPool[SameSize], x: Tensor[tuple[B, C, H, W], E, T]
    ) -> Tensor[tuple[B, C, H, W], E, T]: ...
    @overload
    def forward_mut(self: _WindowPool[SameSize], x: Tensor[tuple[C, H, W], E, T]) -> Tensor[tuple[C, H, W], E, T]: ...
    @overload
    def forward_mut(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C, int, int], E, T]: ...
    @overload
    def forward_mut(self, x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C, int, int], E, T]: ...
    def forward_mut(self, x: Tensor[tuple[*Lead, C, Any, Any], E, T]) -> Tensor[tuple[*Lead, C, Any, Any], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """Same as ``forward`` (no train/infer difference)."""
        return self._apply(x)


class MaxPool2D(_WindowPool[S]):
    """Maximum over windows: ``MaxPool2D(2)`` halves H and W.

    Args:
        kernel_size: an int or (kH, kW).
        stride: an int or (height, width); defaults to kernel_size.
        padding: -inf padding per side, at most half the kernel size.

    The gradient goes to the first maximum of each window, as in PyTorch.
    """

    _kind = "max"

    # The constructor's overloads pick S: a stride-1 window whose padding keeps H and W makes a
    # MaxPool2D[SameSize] (__new__'s, as Conv2D's: each pool states its own, for its own return type).
    @overload
    def __new__(cls, kernel_size: Sq1, stride: Sq1 | None = None, padding: Sq0 = 0) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Sq3, stride: Sq1, padding: Sq1) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Sq5, stride: Sq1, padding: Sq2) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0) -> MaxPool2D[AnySize]: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls)


class AvgPool2D(_WindowPool[S]):
    """Mean over windows: ``AvgPool2D(2)`` halves H and W.

    Args:
        kernel_size: an int or (kH, kW).
        stride: an int or (height, width); defaults to kernel_size.
        padding: zero padding per side, at most half the kernel size; padded zeros count in the mean
            (PyTorch's count_include_pad=True).
    """

    _kind = "avg"

    # The constructor's overloads pick S: a stride-1 window whose padding keeps H and W makes a
    # AvgPool2D[SameSize] (__new__'s, as Conv2D's: each pool states its own, for its own return type).
    @overload
    def __new__(cls, kernel_size: Sq1, stride: Sq1 | None = None, padding: Sq0 = 0) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Sq3, stride: Sq1, padding: Sq1) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Sq5, stride: Sq1, padding: Sq2) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(cls, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0) -> AvgPool2D[AnySize]: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls)


class GlobalAvgPool2D(Module):
    """Mean over H and W: (B, C, H, W) -> (B, C), or unbatched (C, H, W) -> (C,).

    PyTorch's ``AdaptiveAvgPool2d(1)`` followed by ``Flatten()``.
    """

    @overload
    def forward(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C], E, T]: ...
    def forward(self, x: Tensor[tuple[*Lead, C, Any, Any], E, T]) -> Tensor[tuple[*Lead, C], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """(B, C, H, W) -> (B, C), or (C, H, W) -> (C,)."""
        return _global_avg_pool2d(x)

    @overload
    def forward_mut(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C], E, T]: ...
    @overload
    def forward_mut(self, x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C], E, T]: ...
    def forward_mut(self, x: Tensor[tuple[*Lead, C, Any, Any], E, T]) -> Tensor[tuple[*Lead, C], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """Same as ``forward`` (no train/infer difference)."""
        return _global_avg_pool2d(x)
