"""``Conv2D[I, O, S]``: 2-D convolution with I input and O output channels (and whether it keeps H, W) in the type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypedDict, TypeVar, TypeVarTuple, cast, overload

import numpy as np
from typing_extensions import Unpack

from .. import extend as ext
from .._errors import ShapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from . import _conv_backend as _conv_backend  # registers the Winograd 3x3 kernels with _ops.conv
from ._fields import check_fields, fits
from ._init import uniform_fan_in
from ._module import FieldSpec, Module
from ._spatial import AnySize, S, SameSize, Sq0, Sq1, Sq2, Sq3, Sq5, Sq7, keeps_size
from .functional import Padding, Size2, _conv2d, _conv_padding, _pair

__all__ = ["Conv2D"]

I = TypeVar("I", bound=int)  # noqa: E741 (PyTorch's name for the input channels)
O = TypeVar("O", bound=int)  # noqa: E741
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
B = TypeVar("B", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")


class _Options(TypedDict, total=False):
    """The constructor arguments that play no part in the output's shape."""

    groups: int
    bias: bool
    dtype: type[Any]
    seed: int | None


class _Conv2DInit(Module, Generic[I, O, S]):
    """Conv2D's settings, parameters and ``__init__`` (see ``Conv2D``)."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"I": "in_channels", "O": "out_channels"}
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    #: Checked by checkpoint loads: a file saved with another stride or padding is refused.
    structure_names: ClassVar[tuple[str, ...]] = (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
    )
    optional_names: ClassVar[tuple[str, ...]] = ("bias",)  # assigning None removes it, a (O,) tensor adds one
    _setting_hints: ClassVar[Mapping[str, str]] = {"fan_in": "it is in_channels / groups * kH * kW"}

    weight: Tensor[tuple[O, int, int, int], Any, NoneTape]
    bias: Tensor[tuple[O], Any, NoneTape] | None

    def __init__(
        self,
        in_channels: I,
        out_channels: O,
        kernel_size: Size2,
        *,
        stride: Size2 = 1,
        padding: Padding = 0,
        dilation: Size2 = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        # stored as Python ints (a NumPy integer is accepted and converted)
        in_channels = cast("I", opt.positive_int(in_channels, "in_channels", "Conv2D"))
        out_channels = cast("O", opt.positive_int(out_channels, "out_channels", "Conv2D"))
        g = opt.positive_int(groups, "groups", "Conv2D")
        if in_channels % g or out_channels % g:
            raise TypedTensorError(
                f"Conv2D: in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible "
                f"by groups ({g})"
            )
        bias, seed = opt.flag(bias, "bias", "Conv2D"), opt.seed(seed, "Conv2D")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2D", 1)
        self.stride = _pair(stride, "stride", "Conv2D", 1)
        self.dilation = _pair(dilation, "dilation", "Conv2D", 1)
        _conv_padding(padding, self.stride, self.kernel_size, self.dilation, "Conv2D")  # validate now
        self.padding: tuple[int, int] | str = (
            padding if isinstance(padding, str) else _pair(padding, "padding", "Conv2D", 0)
        )
        self.groups = g
        self.dtype = ext.float_dtype(dtype, "Conv2D")
        shape = (out_channels, in_channels // g, *self.kernel_size)
        # allocated as tt.zeros does (size limits, MemoryError as a TypedTensorError), then initialised
        self.weight = ext.filled(shape, 0.0, self.dtype, "Conv2D")
        self.bias = ext.filled((out_channels,), 0.0, self.dtype, "Conv2D") if bias else None
        self._reset(np.random.default_rng(seed))

    @property
    def fan_in(self) -> int:
        """Inputs seen by one output value: I / groups * kH * kW."""
        return self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]

    def _keeps_size(self) -> bool:
        """Whether every H x W input gives an H x W output (what ``SameSize`` declares)."""
        pads = _conv_padding(self.padding, self.stride, self.kernel_size, self.dilation, "Conv2D")
        return keeps_size(self.kernel_size, self.stride, pads, self.dilation)

    def _reset(self, rng: np.random.Generator) -> None:
        uniform_fan_in(rng, ext.data(self.weight), self.fan_in)
        if self.bias is not None:
            uniform_fan_in(rng, ext.data(self.bias), self.fan_in)


class Conv2D(_Conv2DInit[I, O, S]):
    """A 2-D convolution layer: ``Conv2D[L[1], L[16]](1, 16, kernel_size=3, padding=1)``.

    Args:
        in_channels: I, the input's channel dim (dim 1 of (B, I, H, W), dim 0 of (I, H, W)).
        out_channels: O, the output's channel dim.
        kernel_size: an int or (kH, kW).
        stride, dilation: an int or (height, width), positive.
        padding: zero padding per side, an int or (height, width), or "valid" / "same" (stride 1).
        groups: split the channels into this many independent convolutions (divides I and O).
        bias: whether to add a learned bias.
        dtype: the parameters' float dtype (inputs must have it too).
        seed: seed of PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias,
            fan_in = I / groups * kH * kW.

    ``weight`` is (O, I / groups, kH, kW) and ``bias`` (O,), PyTorch's layout, so PyTorch checkpoints
    load as they are. Built with stride 1 and a padding that keeps the size (``padding="same"``, kernel
    1/3/5/7 with padding 0/1/2/3), the layer is a ``Conv2D[I, O, SameSize]`` and ``forward`` keeps H and W
    in the type; any other is a ``Conv2D[I, O]`` (``AnySize``) whose output's H and W are typed ``int``
    (the mypy plugin computes them from literal arguments). A convolution behaves the same in
    training and inference: ``forward`` and ``forward_mut`` accept either tape, and the output
    carries the input's.
    """

    # The constructor's overloads pick S (see _spatial): a stride-1 window whose padding keeps H and W makes
    # a Conv2D[I, O, SameSize]. They are __new__'s, with __init__ on the base class: mypy takes a class's
    # constructor signature from whichever of the two is defined lower in the MRO.
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Size2,
        *,
        stride: Sq1 = 1,
        padding: Literal["same"],
        dilation: Size2 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, SameSize]: ...
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Sq1,
        *,
        stride: Sq1 = 1,
        padding: Sq0 | Literal["valid"] = 0,
        dilation: Size2 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, SameSize]: ...
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Sq3,
        *,
        stride: Sq1 = 1,
        padding: Sq1,
        dilation: Sq1 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, SameSize]: ...
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Sq5,
        *,
        stride: Sq1 = 1,
        padding: Sq2,
        dilation: Sq1 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, SameSize]: ...
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Sq7,
        *,
        stride: Sq1 = 1,
        padding: Sq3,
        dilation: Sq1 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, SameSize]: ...
    @overload
    def __new__(
        cls,
        in_channels: I,
        out_channels: O,
        kernel_size: Size2,
        *,
        stride: Size2 = 1,
        padding: Padding = 0,
        dilation: Size2 = 1,
        **options: Unpack[_Options],
    ) -> Conv2D[I, O, AnySize]: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls)

    def extra_repr(self) -> str:
        """PyTorch's text: ``1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)``."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text

    @overload
    def forward(
        self: Conv2D[I, O, SameSize], x: Tensor[tuple[B, I, H, W], E, T]
    ) -> Tensor[tuple[B, O, H, W], E, T]: ...
    @overload
    def forward(self: Conv2D[I, O, SameSize], x: Tensor[tuple[I, H, W], E, T]) -> Tensor[tuple[O, H, W], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[B, I, Any, Any], E, T]) -> Tensor[tuple[B, O, int, int], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[I, Any, Any], E, T]) -> Tensor[tuple[O, int, int], E, T]: ...
    def forward(self, x: Tensor[tuple[*Lead, I, Any, Any], E, T]) -> Tensor[tuple[*Lead, O, Any, Any], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """Convolve x (B, I, H, W) -> (B, O, H_out, W_out), or unbatched (I, H, W) -> (O, H_out, W_out)."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight (O, I / groups, kH, kW) and bias (O,), of the layer's dtype."""
        o = self.out_channels
        shape = (o, self.in_channels // self.groups, *self.kernel_size) if name == "weight" else (o,)
        return shape, self.dtype

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        o, bias = self.out_channels, self.bias
        if not fits(self.weight, (o, self.in_channels // self.groups, *self.kernel_size), self.dtype) or (
            bias is not None and not fits(bias, (o,), self.dtype)
        ):
            check_fields(self)  # conv2d checks the weight against the input, this against the layer's settings
        data = ext.data(ext.tensor_arg(x, "Conv2D"))
        if data.ndim in (3, 4) and data.shape[-3] != self.in_channels:  # the annotations check this too
            raise ShapeError(
                f"Conv2D: expected input with {self.in_channels} channels (in_channels), got shape {data.shape} "
                f"({data.shape[-3]} channels at dim {data.ndim - 3})"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("Conv2D", self.dtype, data.dtype)
        return _conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups, "Conv2D")
