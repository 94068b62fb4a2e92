"""``Conv1D[I, O]``: 1-D convolution over sequences (B, I, L) -> (B, O, L_out), PyTorch's ``nn.Conv1d``.

It runs the 2-D convolution kernel (``typedtensor._ops.conv.conv2d``) on the unit-height views (B, I, 1, L) and
(O, I / groups, 1, K) of the input and the weight, so it shares that kernel's speed, layouts and float16 handling;
the forward's output and the backward's gradients are reshaped back to the 1-D shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, TypeVarTuple, cast, overload

import numpy as np

from .. import extend as ext
from .._errors import ShapeError, TypedTensorError
from .._ops import conv as _conv
from .._ops import conv_parallel as _conv_parallel
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._fields import check_fields, fits
from ._init import uniform_fan_in
from ._module import FieldSpec, Module

__all__ = ["Conv1D"]

I = TypeVar("I", bound=int)  # noqa: E741 (PyTorch's name for the input channels)
O = TypeVar("O", bound=int)  # noqa: E741
B = TypeVar("B", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")

Array = ext.Array


def _int(value: object, name: str, low: int) -> int:
    if low == 0:
        return ext.options.count(value, name, "Conv1D")
    return ext.options.positive_int(value, name, "Conv1D")


def conv1d(
    x: Array, w: Array, b: Array | None, stride: int, padding: tuple[int, int], dilation: int, groups: int
) -> ext.Result:
    """y = conv1d(x, w) + b for x (N, C, L), w (O, C / groups, K), b (O,) or None (validated), with its backward
    (parents x, w, b): the 2-D kernel on unit-height views."""
    res, bwd = _conv_parallel.conv2d(
        x[:, :, None, :], w[:, :, None, :], b, (1, stride), ((0, 0), padding), (1, dilation), groups
    )
    out = res.reshape(res.shape[0], res.shape[1], res.shape[3])
    x_shape, w_shape = x.shape, w.shape

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        gx, gw, gb = bwd(g[:, :, None, :], need)
        return (
            None if gx is None else gx.reshape(x_shape),
            None if gw is None else gw.reshape(w_shape),
            gb,
        )

    return out, backward


class Conv1D(Module, Generic[I, O]):
    """A 1-D convolution layer: ``Conv1D[L[8], L[16]](8, 16, kernel_size=3, padding=1)``.

    Args:
        in_channels: I, the input's channel dim (dim 1 of (B, I, L), dim 0 of an unbatched (I, L)).
        out_channels: O, the output's channel dim.
        kernel_size, stride, dilation: positive ints.
        padding: zero padding per side (an int >= 0), or "valid" / "same" (stride 1; PyTorch's split, the odd
            element at the end).
        groups: split the channels into this many independent convolutions (divides I and O).
        bias: whether to add a learned bias.
        dtype: the parameters' float dtype (inputs must have it too).
        seed: seed of PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = I / groups * K.

    ``weight`` is (O, I / groups, K) and ``bias`` (O,), PyTorch's layout, so its state_dicts load. The output's
    length is typed ``int``: ``floor((L + 2 padding - dilation (K - 1) - 1) / stride) + 1``. The same in training and
    inference: ``forward`` and ``forward_mut`` accept either tape.
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"I": "in_channels", "O": "out_channels"}
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    structure_names: ClassVar[tuple[str, ...]] = (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
    )
    optional_names: ClassVar[tuple[str, ...]] = ("bias",)

    weight: Tensor[tuple[O, int, int], Any, NoneTape]
    bias: Tensor[tuple[O], Any, NoneTape] | None

    def __init__(
        self,
        in_channels: I,
        out_channels: O,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | Literal["same", "valid"] = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        i = opt.positive_int(in_channels, "in_channels", "Conv1D")
        o = opt.positive_int(out_channels, "out_channels", "Conv1D")
        g = opt.positive_int(groups, "groups", "Conv1D")
        if i % g or o % g:
            raise TypedTensorError(
                f"Conv1D: in_channels ({i}) and out_channels ({o}) must both be divisible by groups ({g})"
            )
        self.in_channels = cast("I", i)
        self.out_channels = cast("O", o)
        self.kernel_size = _int(kernel_size, "kernel_size", 1)
        self.stride = _int(stride, "stride", 1)
        self.dilation = _int(dilation, "dilation", 1)
        if padding == "same" and self.stride != 1:
            raise TypedTensorError(
                f"Conv1D: padding='same' is not supported for strided convolutions (stride {self.stride}); give the "
                "padding as a number"
            )
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise TypedTensorError(f"Conv1D: padding must be 'same', 'valid' or an int, got {padding!r}")
        self.padding: int | str = padding if isinstance(padding, str) else _int(padding, "padding", 0)
        self.groups = g
        self.dtype = ext.float_dtype(dtype, "Conv1D")
        with_bias, seed = opt.flag(bias, "bias", "Conv1D"), opt.seed(seed, "Conv1D")
        self.weight = ext.filled((o, i // g, self.kernel_size), 0.0, self.dtype, "Conv1D")
        self.bias = ext.filled((o,), 0.0, self.dtype, "Conv1D") if with_bias else None
        self._reset(np.random.default_rng(seed))

    @property
    def fan_in(self) -> int:
        """Inputs seen by one output value: I / groups * K."""
        return self.in_channels // self.groups * self.kernel_size

    def _reset(self, rng: np.random.Generator) -> None:
        uniform_fan_in(rng, ext.data(self.weight), self.fan_in)
        if self.bias is not None:
            uniform_fan_in(rng, ext.data(self.bias), self.fan_in)

    def extra_repr(self) -> str:
        """PyTorch's text: ``8, 16, kernel_size=(3,), stride=(1,), padding=(1,)``."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kernel_size},), stride=({self.stride},)"
        if self.padding not in (0, "valid"):
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding=({self.padding},)"
        if self.dilation != 1:
            text += f", dilation=({self.dilation},)"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text

    def pads(self) -> tuple[int, int]:
        """The (left, right) zero padding."""
        if self.padding == "same":
            return _conv.same_padding((1, self.kernel_size), (1, self.dilation))[1]
        p = 0 if self.padding == "valid" else cast("int", self.padding)
        return p, p

    @overload
    def forward(self, x: Tensor[tuple[B, I, Any], E, T]) -> Tensor[tuple[B, O, int], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[I, Any], E, T]) -> Tensor[tuple[O, int], E, T]: ...
    def forward(self, x: Tensor[tuple[*Lead, I, Any], E, T]) -> Tensor[tuple[*Lead, O, Any], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """Convolve x (B, I, L) -> (B, O, L_out), or unbatched (I, L) -> (O, L_out)."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight (O, I / groups, K) and bias (O,), of the layer's dtype."""
        o = self.out_channels
        shape = (o, self.in_channels // self.groups, self.kernel_size) if name == "weight" else (o,)
        return shape, self.dtype

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        o, bias = self.out_channels, self.bias
        if not fits(self.weight, (o, self.in_channels // self.groups, self.kernel_size), self.dtype) or (
            bias is not None and not fits(bias, (o,), self.dtype)
        ):
            check_fields(self)
        data = ext.data(ext.tensor_arg(x, "Conv1D"))
        if data.ndim not in (2, 3) or data.shape[-2] != self.in_channels:
            raise ShapeError(
                f"Conv1D: expected input (B, {self.in_channels}, L) or unbatched ({self.in_channels}, L), got shape "
                f"{data.shape}; dim -2 must be in_channels"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("Conv1D", self.dtype, data.dtype)
        pads = self.pads()
        span = self.dilation * (self.kernel_size - 1) + 1
        if span > data.shape[-1] + sum(pads):
            raise ShapeError(
                f"Conv1D: the kernel {self.kernel_size} with dilation {self.dilation} spans {span} but the padded input "
                f"is only {data.shape[-1] + sum(pads)} long (length {data.shape[-1]} plus padding); use a smaller kernel "
                "or dilation, or more padding"
            )
        batched = data if data.ndim == 3 else data[None]
        w = ext.data(self.weight)
        b = None if bias is None else ext.data(bias)
        out, inner = conv1d(batched, w, b, self.stride, pads, self.dilation, self.groups)
        if data.ndim == 3:
            return ext.record((x, self.weight, bias), out, inner)

        def unbatched(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
            gx, gw, gb = inner(g[None], need)
            return (None if gx is None else gx[0], gw, gb)

        return ext.record((x, self.weight, bias), out[0], unbatched)
