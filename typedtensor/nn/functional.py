"""Functional convolution and pooling: ``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``global_avg_pool2d``.

NCHW layout as PyTorch, with the unbatched (C, H, W) form too. Each call is one op on the tape of its
inputs: the weight and bias are parents as well, so a parameter allocated in a ``Gradients``
(``model.alloc_grads()``) gets its gradient. The batch and channel dims are typed; the output's
spatial dims are ``int`` (no type checker does arithmetic on ``Literal`` dims: ``realize`` them).

``conv2d``'s result carries the input's tape when the weight and bias are untraced (parameters); a
traced weight or bias makes the result traced too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, overload

import numpy as np

from .. import extend as ext
from .._check import checked
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._ops import conv as _conv
from .._ops import conv_parallel as _conv_parallel
from .._ops import pool as _pool
from .._ops._types import Array, Grads, Result
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._sdpa import merge_heads as merge_heads
from ._sdpa import scaled_dot_product_attention as scaled_dot_product_attention
from ._sdpa import split_heads as split_heads

__all__ = [
    "avg_pool2d",
    "conv2d",
    "global_avg_pool2d",
    "max_pool2d",
    "merge_heads",
    "release_conv_buffers",
    "scaled_dot_product_attention",
    "split_heads",
]

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
O = TypeVar("O", bound=int)  # noqa: E741 (PyTorch's name for the output channels)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)

#: A size per spatial axis: one int for both, or (height, width).
Size2 = int | tuple[int, int]
#: Convolution padding: per axis as Size2, or PyTorch's "same" (stride 1) / "valid" (none).
Padding = int | tuple[int, int] | Literal["same", "valid"]

Pair = tuple[int, int]
_F32 = np.dtype(np.float32)


# ---- argument validation -------------------------------------------------------------------------


def _pair(value: object, name: str, where: str, minimum: int) -> Pair:
    """An int or a pair of ints, each >= minimum, as a pair."""
    items = cast("tuple[object, ...]", value) if isinstance(value, tuple) else (value, value)
    ints = [ext.options.integer(v) for v in items]
    if len(ints) != 2 or any(v is None or v < minimum for v in ints):
        bound = "positive" if minimum == 1 else "non-negative"
        raise TypedTensorError(
            f"{where}: {name} must be a {bound} int or a pair of them (height, width), got {value!r}"
        )
    return cast("Pair", tuple(ints))


def _image(x: Tensor[Any, Any, Any], where: str) -> tuple[Array, bool]:
    """x's data as (N, C, H, W) and whether it was unbatched (C, H, W), after rank and dtype checks."""
    data: Array = ext.data(ext.tensor_arg(x, where))
    if data.ndim not in (3, 4):
        raise ShapeError(
            f"{where}: expected a (N, C, H, W) batch or an unbatched (C, H, W) image, got shape {data.shape}; "
            "add the missing dims with reshape()"
        )
    if data.dtype not in ext.FLOAT_DTYPES:
        raise DTypeError(
            f"{where}: needs a float16/32/64 input, got {data.dtype.name}; {ext.astype_advice('it', _F32)}"
        )
    if data.ndim == 3:
        return data[np.newaxis], True
    return data, False


def _unbatch(res: Result, unbatched: bool) -> Result:
    """Drop the batch axis the unbatched form added (and add it back to x's gradient)."""
    if not unbatched:
        return res
    y, bwd = res

    def back(g: Array, need: tuple[bool, ...]) -> Grads:
        grads = bwd(g[np.newaxis], need)
        dx = grads[0]
        return (None if dx is None else dx[0], *grads[1:])

    return y[0], back


# ---- conv2d --------------------------------------------------------------------------------------


@overload
def conv2d(
    x: Tensor[tuple[B, Any, Any, Any], E, T],
    weight: Tensor[tuple[O, Any, Any, Any], E, NoneTape],
    bias: Tensor[tuple[O], E, NoneTape] | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[B, O, int, int], E, T]: ...
@overload
def conv2d(
    x: Tensor[tuple[Any, Any, Any], E, T],
    weight: Tensor[tuple[O, Any, Any, Any], E, NoneTape],
    bias: Tensor[tuple[O], E, NoneTape] | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[O, int, int], E, T]: ...
@overload
def conv2d(
    x: Tensor[tuple[B, Any, Any, Any], E, Any],
    weight: Tensor[tuple[O, Any, Any, Any], E, OwnedTape],
    bias: Tensor[tuple[O], E, Any] | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[B, O, int, int], E, OwnedTape]: ...
@overload
def conv2d(
    x: Tensor[tuple[Any, Any, Any], E, Any],
    weight: Tensor[tuple[O, Any, Any, Any], E, OwnedTape],
    bias: Tensor[tuple[O], E, Any] | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[O, int, int], E, OwnedTape]: ...
@overload
def conv2d(
    x: Tensor[tuple[B, Any, Any, Any], E, Any],
    weight: Tensor[tuple[O, Any, Any, Any], E, Any],
    bias: Tensor[tuple[O], E, OwnedTape],
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[B, O, int, int], E, OwnedTape]: ...
@overload
def conv2d(
    x: Tensor[tuple[Any, Any, Any], E, Any],
    weight: Tensor[tuple[O, Any, Any, Any], E, Any],
    bias: Tensor[tuple[O], E, OwnedTape],
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[tuple[O, int, int], E, OwnedTape]: ...
@checked
def conv2d(
    x: Tensor[Any, E, Any],
    weight: Tensor[Any, Any, Any],
    bias: Tensor[Any, Any, Any] | None = None,
    stride: Size2 = 1,
    padding: Padding = 0,
    dilation: Size2 = 1,
    groups: int = 1,
) -> Tensor[Any, E, Any]:
    """2-D convolution (cross-correlation, as PyTorch) of x (N, C, H, W) or (C, H, W).

    Args:
        x: the input, (N, C, H, W) or unbatched (C, H, W).
        weight: (O, C / groups, kH, kW), x's dtype.
        bias: (O,) or None.
        stride, dilation: an int or (height, width), positive.
        padding: zero padding per side, an int or (height, width); or "valid" (none) or "same"
            (output size = input size, stride 1 only; an odd total puts the extra row/column at the end).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, O, H_out, W_out) (or (O, H_out, W_out)) with
        H_out = (H + 2*padding - dilation*(kH-1) - 1) // stride + 1, likewise W_out.
    """
    return _conv2d(x, weight, bias, stride, padding, dilation, groups)


def _conv2d(
    x: Tensor[Any, Any, Any],
    weight: Tensor[Any, Any, Any],
    bias: Tensor[Any, Any, Any] | None,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    where: str = "conv2d",
) -> Tensor[Any, Any, Any]:
    """conv2d after the annotations' checks; the modules call it directly."""
    data, unbatched = _image(x, where)
    w: Array = ext.data(weight)
    if w.ndim != 4:
        raise ShapeError(
            f"{where}: the weight must be (out_channels, in_channels / groups, kH, kW), got shape {w.shape}"
        )
    if w.dtype != data.dtype:
        raise DTypeError(
            f"{where}: the input is {data.dtype.name} but the weight is {w.dtype.name}; "
            f"{ext.astype_advice('the input', w.dtype, model=True)}"
        )
    g = ext.options.positive_int(groups, "groups", where)
    o, cg, kh, kw = w.shape
    _, c, h, wd = data.shape
    if o % g != 0:
        raise ShapeError(
            f"{where}: out_channels ({o}, the weight's dim 0) must be divisible by groups ({g}); "
            "change the weight's out_channels or groups"
        )
    if c % g != 0 or cg * g != c:
        raise ShapeError(
            f"{where}: with groups={g}, a weight of shape {w.shape} expects input with {cg * g} channels "
            f"(in_channels / groups = {cg}), got input of shape {ext.data(x).shape} ({c} channels); "
            "the input's channel dim must equal the weight's dim 1 times groups"
            + ("" if c % g == 0 else f", and {c} channels are not divisible by groups={g}")
        )
    if bias is not None:
        b: Array = ext.data(bias)
        if b.shape != (o,):
            raise ShapeError(f"{where}: the bias must have shape ({o},) (out_channels), got {b.shape}")
        if b.dtype != data.dtype:
            raise DTypeError(f"{where}: the input is {data.dtype.name} but the bias is {b.dtype.name}; use one dtype")
    st = _pair(stride, "stride", where, 1)
    dil = _pair(dilation, "dilation", where, 1)
    pads = _conv_padding(padding, st, (kh, kw), dil, where)
    spans = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    padded = (h + sum(pads[0]), wd + sum(pads[1]))
    if spans[0] > padded[0] or spans[1] > padded[1]:
        raise ShapeError(
            f"{where}: the kernel {(kh, kw)} with dilation {dil} spans {spans} but the padded input is only "
            f"{padded} (input {(h, wd)} plus padding); use a smaller kernel or dilation, or more padding"
        )
    res = _conv_parallel.conv2d(data, w, None if bias is None else ext.data(bias), st, pads, dil, g)
    return ext.record((x, weight, bias), *_unbatch(res, unbatched))


def release_conv_buffers() -> None:
    """Free the work buffers the calling thread keeps for its next convolution or pooling backward.

    Each thread keeps the buffers of its convolutions (padded input, column matrices) for the next
    call while together they take at most 8 MiB (and those of the pooling backward, ~3 MiB) (fresh memory costs page faults); bigger calls
    allocate theirs for the call only. A thread's buffers are freed when it ends; call this to free
    them earlier, e.g. in a long-lived thread that is done with convolutions. The next call
    allocates them again. The threads a large convolution's parts run on (``typedtensor._ops.conv_parallel``)
    keep theirs likewise: this frees those too.
    """
    _conv.release_scratch()
    _conv_parallel.release_workers()
    _pool.release_kept()


def _conv_padding(padding: object, stride: Pair, kernel: Pair, dilation: Pair, where: str) -> tuple[Pair, Pair]:
    """((top, bottom), (left, right)) from an int, a pair, "valid" or "same"."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise TypedTensorError(
                f"{where}: padding='same' is not supported for strided convolutions (stride {stride}); "
                "give the padding as numbers"
            )
        return _conv.same_padding(kernel, dilation)
    if isinstance(padding, str):
        raise TypedTensorError(f"{where}: padding must be 'same', 'valid' or numbers, got {padding!r}")
    ph, pw = _pair(padding, "padding", where, 0)
    return (ph, ph), (pw, pw)


# ---- pooling -------------------------------------------------------------------------------------


@overload
def max_pool2d(
    x: Tensor[tuple[B, C, Any, Any], E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
) -> Tensor[tuple[B, C, int, int], E, T]: ...
@overload
def max_pool2d(
    x: Tensor[tuple[C, Any, Any], E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
) -> Tensor[tuple[C, int, int], E, T]: ...
@checked
def max_pool2d(
    x: Tensor[Any, E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
) -> Tensor[Any, E, T]:
    """Maximum over kH x kW windows (padding counts as -inf); stride defaults to the kernel size.

    The gradient goes to the first maximum of each window (PyTorch's rule); a NaN propagates.
    ``ceil_mode=True`` (PyTorch's) rounds the output size up: H_out = ceil((H + 2*padding - kH) / stride) + 1,
    less one if the last window would start in the right padding; that window runs past the input
    and takes the maximum of the elements it holds.
    """
    return _pool2d(
        x, "max", kernel_size, stride, padding, "max_pool2d", _PoolModes.checked(ceil_mode, where="max_pool2d")
    )


@overload
def avg_pool2d(
    x: Tensor[tuple[B, C, Any, Any], E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor[tuple[B, C, int, int], E, T]: ...
@overload
def avg_pool2d(
    x: Tensor[tuple[C, Any, Any], E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor[tuple[C, int, int], E, T]: ...
@checked
def avg_pool2d(
    x: Tensor[Any, E, T],
    kernel_size: Size2,
    stride: Size2 | None = None,
    padding: Size2 = 0,
    *,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor[Any, E, T]:
    """Mean over kH x kW windows; stride defaults to the kernel size.

    The zero padding counts in the divisor (``count_include_pad=True``, PyTorch's default) or not
    (``False``: the mean of the window's input elements); ``divisor_override`` divides every window's
    sum by that positive int instead. ``ceil_mode=True`` rounds the output size up as in ``max_pool2d``;
    a last window running past the padded input divides by the positions it holds (PyTorch's rule).
    """
    modes = _PoolModes.checked(ceil_mode, count_include_pad, divisor_override, where="avg_pool2d")
    return _pool2d(x, "avg", kernel_size, stride, padding, "avg_pool2d", modes)


@dataclass(frozen=True)
class _PoolModes:
    """The window pools' rounding and divisor options, validated (see ``avg_pool2d``)."""

    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    @classmethod
    def checked(
        cls,
        ceil_mode: object = False,
        count_include_pad: object = True,
        divisor_override: object = None,
        *,
        where: str,
        error: type[TypedTensorError] = DTypeError,
    ) -> _PoolModes:
        """The options after their checks: ``error`` for a flag that is no bool or a divisor that is no
        int (DTypeError, as the functions' annotation checks), TypedTensorError for a divisor below 1."""
        flags = [ext.options.flag(ceil_mode, "ceil_mode", where, error=error)]  # NumPy bools too, as the layers'
        flags.append(ext.options.flag(count_include_pad, "count_include_pad", where, error=error))
        divisor = None if divisor_override is None else ext.options.integer(divisor_override)
        if divisor_override is not None and divisor is None:
            raise error(
                f"{where}: divisor_override must be a positive int or None, got {divisor_override!r}; "
                "pass an int such as 4, or None to divide by the window's own count"
            )
        if divisor is not None and divisor < 1:
            raise TypedTensorError(
                f"{where}: divisor_override must be a positive int or None, got {divisor_override!r}; "
                "pass an int such as 4, or None to divide by the window's own count"
            )
        return cls(flags[0], flags[1], divisor)


def _pool2d(
    x: Tensor[Any, Any, Any],
    kind: Literal["max", "avg"],
    kernel_size: object,
    stride: object,
    padding: object,
    where: str,
    modes: _PoolModes = _PoolModes(),
) -> Tensor[Any, Any, Any]:
    """max_pool2d / avg_pool2d after the annotations' checks; the modules call it directly."""
    data, unbatched = _image(x, where)
    k = _pair(kernel_size, "kernel_size", where, 1)
    s = k if stride is None else _pair(stride, "stride", where, 1)
    p = _pair(padding, "padding", where, 0)
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ShapeError(
            f"{where}: padding {p} must be at most half of kernel_size {k} (PyTorch's rule: a window must not "
            "lie entirely in the padding); reduce the padding"
        )
    h, w = data.shape[2:]
    ceil = modes.ceil_mode
    out = (_pool.out_size(h, k[0], s[0], p[0], ceil), _pool.out_size(w, k[1], s[1], p[1], ceil))
    if out[0] < 1 or out[1] < 1:
        raise ShapeError(
            f"{where}: a {k} window (padding {p}) does not fit the input's {(h, w)} spatial dims: the output "
            f"would be {out}; use a smaller kernel_size or more padding"
        )
    if kind == "max":
        res = _pool.max_pool2d(data, k, s, p, ceil_mode=ceil)
    else:
        res = _pool.avg_pool2d(
            data,
            k,
            s,
            p,
            ceil_mode=ceil,
            count_include_pad=modes.count_include_pad,
            divisor_override=modes.divisor_override,
        )
    return ext.record((x,), *_unbatch(res, unbatched))


@overload
def global_avg_pool2d(x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C], E, T]: ...
@overload
def global_avg_pool2d(x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C], E, T]: ...
@checked
def global_avg_pool2d(x: Tensor[Any, E, T]) -> Tensor[Any, E, T]:
    """Mean over H and W: (N, C, H, W) -> (N, C), (C, H, W) -> (C,) (``adaptive_avg_pool2d(x, 1)`` flattened)."""
    return _global_avg_pool2d(x)


def _global_avg_pool2d(x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
    _image(x, "global_avg_pool2d")
    return ext.record((x,), *_pool.global_avg_pool2d(ext.data(x)))
