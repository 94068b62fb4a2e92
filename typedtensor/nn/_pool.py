"""Pooling layers: ``MaxPool2D``, ``AvgPool2D`` and ``GlobalAvgPool2D`` (no parameters).

Each keeps the batch and channel dims of its input in the type. A window pool built with stride 1
and a padding that keeps the size (kernel 1, kernel 3 / padding 1, kernel 5 / padding 2) is a
``MaxPool2D[SameSize]`` and keeps H and W in the type; any other types them ``int`` (see
``_spatial``; ``ceil_mode`` changes no stride-1 size, so it keeps ``SameSize``). Pooling behaves the
same in training and inference: ``forward`` and ``forward_mut`` accept either tape, and the output
carries the input's.

The options (kernel_size, stride, padding, ceil_mode, and AvgPool2D's count_include_pad and
divisor_override) are ``structure_names``: fixed once built, written into checkpoints, and a file
saved with other values is refused (the same weights would compute other outputs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, TypeVarTuple, overload

import numpy as np

from .. import extend as ext
from .._errors import TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module
from ._spatial import AnySize, S, SameSize, Sq0, Sq1, Sq2, Sq3, Sq5, keeps_size
from .functional import Size2, _global_avg_pool2d, _pair, _pool2d, _PoolModes

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
    structure_names: ClassVar[tuple[str, ...]] = ("kernel_size", "stride", "padding", "ceil_mode")

    def __init__(
        self, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0, *, ceil_mode: bool = False
    ) -> None:
        where = type(self).__name__
        _pair(kernel_size, "kernel_size", where, 1)  # validate now, keep the caller's spelling for the repr
        if stride is not None:
            _pair(stride, "stride", where, 1)
        _pair(padding, "padding", where, 0)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ext.options.flag(ceil_mode, "ceil_mode", where)

    def _modes(self) -> _PoolModes:
        return _PoolModes(self.ceil_mode)

    def _keeps_size(self) -> bool:
        """Whether every H x W input gives an H x W output (what ``SameSize`` declares)."""
        where = type(self).__name__
        ph, pw = _pair(self.padding, "padding", where, 0)
        kernel, stride = _pair(self.kernel_size, "kernel_size", where, 1), _pair(self.stride, "stride", where, 1)
        return keeps_size(kernel, stride, ((ph, ph), (pw, pw)), (1, 1))

    def extra_repr(self) -> str:
        """PyTorch's text: ``kernel_size=2, stride=2, padding=0``, then the options that differ from their
        defaults (``ceil_mode=True``, ``count_include_pad=False``, ``divisor_override=4``)."""
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        modes, default = self._modes(), _PoolModes()
        for name in ("ceil_mode", "count_include_pad", "divisor_override"):
            if getattr(modes, name) != getattr(default, name):
                text += f", {name}={getattr(modes, name)!r}"
        return text

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        where = type(self).__name__
        return _pool2d(x, self._kind, self.kernel_size, self.stride, self.padding, where, self._modes())

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

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward


class MaxPool2D(_WindowPool[S]):
    """Maximum over windows: ``MaxPool2D(2)`` halves H and W.

    Args:
        kernel_size: an int or (kH, kW).
        stride: an int or (height, width); defaults to kernel_size.
        padding: -inf padding per side, at most half the kernel size.
        ceil_mode: round the output size up (PyTorch's ``ceil_mode``): a last window that runs past the
            input takes the maximum of what it holds, unless it would start in the right padding.

    The gradient goes to the first maximum of each window, as in PyTorch.
    """

    _kind = "max"

    # The constructor's overloads pick S: a stride-1 window whose padding keeps H and W makes a
    # MaxPool2D[SameSize] (__new__'s, as Conv2D's: each pool states its own, for its own return type).
    @overload
    def __new__(
        cls, kernel_size: Sq1, stride: Sq1 | None = None, padding: Sq0 = 0, *, ceil_mode: bool = False
    ) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(
        cls, kernel_size: Sq3, stride: Sq1, padding: Sq1, *, ceil_mode: bool = False
    ) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(
        cls, kernel_size: Sq5, stride: Sq1, padding: Sq2, *, ceil_mode: bool = False
    ) -> MaxPool2D[SameSize]: ...
    @overload
    def __new__(
        cls, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0, *, ceil_mode: bool = False
    ) -> MaxPool2D[AnySize]: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls)


class _AvgPoolInit(_WindowPool[S]):
    """AvgPool2D's options and ``__init__`` (a base of its own: mypy reads the constructor's type from
    ``__new__``'s overloads only when ``__init__`` is defined in a base class, as for Conv2D)."""

    _kind = "avg"
    structure_names: ClassVar[tuple[str, ...]] = (
        *_WindowPool.structure_names,
        "count_include_pad",
        "divisor_override",
    )

    def __init__(
        self,
        kernel_size: Size2,
        stride: Size2 | None = None,
        padding: Size2 = 0,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode=ceil_mode)
        where = type(self).__name__
        modes = _PoolModes.checked(
            self.ceil_mode, count_include_pad, divisor_override, where=where, error=TypedTensorError
        )
        self.count_include_pad, self.divisor_override = modes.count_include_pad, modes.divisor_override

    def _modes(self) -> _PoolModes:
        return _PoolModes(self.ceil_mode, self.count_include_pad, self.divisor_override)


class AvgPool2D(_AvgPoolInit[S]):
    """Mean over windows: ``AvgPool2D(2)`` halves H and W.

    Args:
        kernel_size: an int or (kH, kW).
        stride: an int or (height, width); defaults to kernel_size.
        padding: zero padding per side, at most half the kernel size.
        ceil_mode: round the output size up, as ``MaxPool2D``'s; a last window running past the padded
            input divides by the positions it holds (PyTorch's rule).
        count_include_pad: whether the padded zeros count in the divisor (True, PyTorch's default) or
            not (the mean of the window's input elements).
        divisor_override: a positive int dividing every window's sum instead, or None.
    """

    # The constructor's overloads pick S: a stride-1 window whose padding keeps H and W makes a
    # AvgPool2D[SameSize] (__new__'s, as Conv2D's: each pool states its own, for its own return type).
    @overload
    def __new__(
        cls,
        kernel_size: Sq1,
        stride: Sq1 | None = None,
        padding: Sq0 = 0,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(
        cls,
        kernel_size: Sq3,
        stride: Sq1,
        padding: Sq1,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(
        cls,
        kernel_size: Sq5,
        stride: Sq1,
        padding: Sq2,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> AvgPool2D[SameSize]: ...
    @overload
    def __new__(
        cls,
        kernel_size: Size2,
        stride: Size2 | None = None,
        padding: Size2 = 0,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> AvgPool2D[AnySize]: ...
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

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward
