"""``GroupNorm[C](num_groups, num_channels)``: normalise each group of C / G channels of each item, then scale and
shift per channel (PyTorch semantics).

For an input (B, C, *spatial), the values of item b and group g (channels ``g C/G .. (g+1) C/G``, every spatial
position) are normalised with their mean and biased variance, ``y = xhat * weight[c] + bias[c]``. The statistics
and the normalisation's backward are LayerNorm's kernel (``_layernorm.layer_norm``, two-pass with float64 sums)
on the (B, G, C/G * spatial) view, the per-channel affine and its gradients are here; float16 is computed in
float32 and rounded once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, TypeVarTuple, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import ShapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._fields import check_fields, fits
from ._layernorm import affine_grads, layer_norm, norm_eps
from ._module import FieldSpec, Module

__all__ = ["GroupNorm"]

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Rest = TypeVarTuple("Rest")

Array = NDArray[Any]


def group_norm(x: Array, groups: int, weight: Array | None, bias: Array | None, eps: float) -> ext.Result:
    """The forward of GroupNorm on x (B, C, *spatial) and its backward (parents ``(x, weight, bias)``).

    With ``xhat`` the groups' normalised values and ``dxhat = g * weight[c]``, the input's gradient is LayerNorm's
    (over each group's row of values), ``dweight[c] = sum(g * xhat)`` and ``dbias[c] = sum(g)`` over every axis
    but the channels.
    """
    work: type[np.floating[Any]] = np.float64 if x.dtype == np.float64 else np.float32  # float16 in float32
    shape = x.shape
    channels = (1, shape[1]) + (1,) * (x.ndim - 2)  # weight and bias broadcast along the channel axis
    rows, norm_backward = layer_norm(x.astype(work, copy=False).reshape(shape[0], groups, -1), None, None, eps)
    xhat: Array = rows.reshape(shape)
    w = None if weight is None else weight.astype(work, copy=False).reshape(channels)
    y = xhat.copy() if w is None else xhat * w
    if bias is not None:
        y += bias.astype(work, copy=False).reshape(channels)
    out = y.astype(x.dtype, copy=False)
    others = (0, *range(2, x.ndim))
    dtype = x.dtype

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        gw: Array = g.astype(work, copy=False)
        dx: Array | None = None
        if need[0]:
            d = gw if w is None else gw * w
            dx = cast("Array", norm_backward(d.reshape(rows.shape), (True, False, False))[0]).reshape(shape)
            dx = dx.astype(dtype, copy=False)
        return (dx, *affine_grads(gw, xhat, weight, bias, need, others))

    return out, backward


class GroupNorm(Module, Generic[C]):
    """Group normalisation: ``GroupNorm[L[32]](8, 32)`` maps (B, 32, *spatial) to (B, 32, *spatial).

    Args:
        num_groups: G, which divides num_channels (G = 1 normalises each item over all its values, as LayerNorm
            over (C, *spatial); G = C each channel of each item, as InstanceNorm).
        num_channels: C, the size of dim 1.
        eps: added to the variance, finite and > 0.
        affine: whether to learn ``weight`` (init 1) and ``bias`` (init 0), each (C,).
        dtype: the parameters' float dtype (inputs must have it too).

    ``weight`` and ``bias`` have PyTorch's names and shapes, so PyTorch state_dicts load as they are. The same in
    training and inference (no running statistics): ``forward`` and ``forward_mut`` accept either tape.
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "num_channels"}
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    hparam_names: ClassVar[tuple[str, ...]] = ("eps",)
    structure_names: ClassVar[tuple[str, ...]] = ("num_groups", "num_channels", "affine")
    _field_flags: ClassVar[Mapping[str, str]] = {"weight": "affine", "bias": "affine"}

    weight: Tensor[tuple[C], Any, NoneTape] | None
    bias: Tensor[tuple[C], Any, NoneTape] | None

    def __init__(
        self, num_groups: int, num_channels: C, eps: float = 1e-5, affine: bool = True, dtype: type[Any] = np.float32
    ) -> None:
        groups = ext.options.positive_int(num_groups, "num_groups", "GroupNorm", why="the number of channel groups")
        channels = ext.options.positive_int(num_channels, "num_channels", "GroupNorm", why="the size of dim 1")
        if channels % groups:
            raise TypedTensorError(
                f"GroupNorm: num_groups must divide num_channels, got {groups} groups of {channels} channels; pass a "
                f"divisor of {channels}"
            )
        self.num_groups = groups
        self.num_channels = cast("C", channels)
        self.eps = norm_eps(eps, "GroupNorm", "group")
        self.affine = ext.options.flag(affine, "affine", "GroupNorm")
        self.dtype = ext.float_dtype(dtype, "GroupNorm")
        self.weight = ext.filled((channels,), 1.0, self.dtype, "GroupNorm") if self.affine else None
        self.bias = ext.filled((channels,), 0.0, self.dtype, "GroupNorm") if self.affine else None

    def _reset(self, rng: np.random.Generator) -> None:
        """weight 1, bias 0 (PyTorch's init; nothing random)."""
        if self.weight is not None:
            ext.data_mut(self.weight)[...] = 1
        if self.bias is not None:
            ext.data_mut(self.bias)[...] = 0

    def extra_repr(self) -> str:
        """PyTorch's text: ``8, 32, eps=1e-05, affine=True``."""
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, dtype={self.dtype.name}"

    def forward(self, x: Tensor[tuple[B, C, *Rest], E, T]) -> Tensor[tuple[B, C, *Rest], E, T]:
        """Normalise x (B, C, *spatial) per item and group of channels."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight and bias (C,), of the layer's dtype; neither without affine."""
        return ((self.num_channels,), self.dtype) if self.affine else None

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        norm_eps(values.get("eps", self.eps), "GroupNorm", "group")

    def _check_setting(self, name: str, value: object) -> object:
        return norm_eps(value, "GroupNorm", "group") if name == "eps" else super()._check_setting(name, value)

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        weight, bias, shape = self.weight, self.bias, (self.num_channels,)
        if self.affine:
            bad = not fits(weight, shape, self.dtype) or not fits(bias, shape, self.dtype)
        else:
            bad = weight is not None or bias is not None
        if bad:
            check_fields(self)  # a write into __dict__ got around the checks: the field is named
        data = ext.data(ext.tensor_arg(x, "GroupNorm"))
        if data.ndim < 2 or data.shape[1] != self.num_channels:
            raise ShapeError(
                f"GroupNorm: expected input (B, {self.num_channels}, *spatial), got shape {data.shape}; dim 1 must be "
                "num_channels (an unbatched (C, *spatial) input needs a batch dim: reshape it to (1, C, ...))"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("GroupNorm", self.dtype, data.dtype)
        if data.size == 0:
            raise ShapeError(
                f"GroupNorm: expected a non-empty input, got shape {data.shape}; an empty group has no mean"
            )
        w = None if weight is None else ext.data(weight)
        b = None if bias is None else ext.data(bias)
        return ext.record((x, weight, bias), *group_norm(data, self.num_groups, w, b, self.eps))
