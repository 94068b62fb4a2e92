"""``LayerNorm[D]``: normalise each row over the last dim D, then scale and shift (PyTorch semantics).

``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the mean and the biased variance of each
row of D values. The statistics are two-pass in float64: the row sums are a float64 matrix-vector
product with ones and the squares' sums one ``vecdot`` per row (NumPy's ``mean(axis=-1)`` loops per
short row), ``x - mean`` is formed in float64 and ``xhat`` rounded once to the compute dtype, so rows far
from zero (mean 1e4, std 1 in float32) keep their variance and their normalised values to float32's
precision, not to the mean's ulp. float16 is computed in float32 and rounded once at the end.
The forward and its closed-form backward (for x, weight and bias) are side by side below.
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
from ._module import FieldSpec, Module

__all__ = ["LayerNorm"]

D = TypeVar("D", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")

Array = NDArray[Any]
Floats = NDArray[np.floating[Any]]


def norm_eps(value: object, where: str = "LayerNorm", unit: str = "row") -> float:
    """A finite eps > 0 (a ``unit`` of equal values has variance 0: eps keeps 1/sqrt(var + eps) finite)."""
    return ext.options.positive(
        value,
        "eps",
        where,
        why=f"with eps <= 0 a {unit} of equal values divides by zero",
        fix="pass a small positive float such as the default 1e-5",
    )


def affine_grads(
    gw: Array, xhat: Array, weight: Array | None, bias: Array | None, need: tuple[bool, ...], axes: tuple[int, ...]
) -> tuple[Array | None, Array | None]:
    """The weight's and bias's gradients of ``xhat * weight + bias`` (sums over ``axes`` in float64, in the
    parameters' dtypes; None where a parameter is absent or its gradient not needed)."""
    dw = None if weight is None or not need[1] else np.sum(gw * xhat, axis=axes, dtype=np.float64).astype(weight.dtype)
    db = None if bias is None or not need[2] else np.sum(gw, axis=axes, dtype=np.float64).astype(bias.dtype)
    return dw, db


def _size(value: object) -> int:
    if isinstance(value, (tuple, list)):
        raise TypedTensorError(
            f"LayerNorm: normalized_shape must be the size of the last dim as an int, got {value!r}; LayerNorm[D] "
            "normalises over the last dim only: pass LayerNorm(D), and reshape the input so that the trailing dims "
            "you normalise over are one"
        )
    return ext.options.positive_int(
        value,
        "normalized_shape",
        "LayerNorm",
        why="the size of the last dim",
        fix="pass the input's last-dim size, e.g. LayerNorm(x.shape[-1])",
    )


def layer_norm(x: Array, weight: Array | None, bias: Array | None, eps: float) -> ext.Result:
    """The forward of ``y = xhat * weight + bias`` over x's last dim, and its backward.

    The backward's parents are ``(x, weight, bias)``, None for an absent one (its ``need`` is False). Per row of N values, with
    ``r = 1/sqrt(var + eps)`` and ``dxhat = g * weight``:
    ``dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``, ``dweight = sum(g * xhat)`` and
    ``dbias = sum(g)`` over every row.
    """
    work: type[np.floating[Any]] = np.float64 if x.dtype == np.float64 else np.float32  # float16 in float32
    n = x.shape[-1]
    centred: Floats = x.astype(np.float64, order="C")  # a fresh copy, centred in place
    rows = centred.reshape(-1, n)
    mean = rows @ np.ones(n)
    mean /= n
    rows -= mean[:, None]
    var = np.vecdot(rows, rows)
    var /= n
    r: Floats = (1.0 / np.sqrt(var + eps)).reshape((*x.shape[:-1], 1))
    xhat = np.multiply(centred, r, out=np.empty(x.shape, work), casting="same_kind")
    r = r.astype(work)
    w: Floats | None = None if weight is None else weight.astype(work, copy=False)
    y: Floats = xhat if w is None else xhat * w
    if bias is not None:
        if y is xhat:
            y = xhat + bias.astype(work, copy=False)
        else:
            y += bias.astype(work, copy=False)
    out = y.astype(x.dtype, copy=y is xhat)  # never xhat itself: the backward keeps it
    lead = tuple(range(x.ndim - 1))
    dtype = x.dtype  # the backward keeps the dtype, not x: the input is freed after the forward

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        gw: Floats = g.astype(work, copy=False)
        dx: Array | None = None
        if need[0]:
            d: Floats = gw.copy() if w is None else gw * w  # dxhat, then dx in place
            # the rows' means of dxhat and dxhat * xhat: one dot per row, no product array
            m1 = np.vecdot(d, np.ones(n, work))[..., None]
            m2 = np.vecdot(d, xhat)[..., None]
            m1 /= n
            m2 /= n
            d -= m1
            d -= xhat * m2
            d *= r
            dx = d.astype(dtype, copy=False)
        return (dx, *affine_grads(gw, xhat, weight, bias, need, lead))

    return out, backward


class LayerNorm(Module, Generic[D]):
    """Layer normalisation over the last dim: ``LayerNorm[L[64]](64)`` maps (..., 64) to (..., 64).

    Args:
        normalized_shape: D, the size of the last dim (an int; LayerNorm normalises over that dim only).
        eps: added to the variance, finite and > 0.
        elementwise_affine: whether to learn ``weight`` (init 1) and ``bias`` (init 0), each (D,).
        bias: whether to learn ``bias`` (with ``elementwise_affine``).
        dtype: the parameters' float dtype (inputs must have it too).

    ``weight`` and ``bias`` have PyTorch's names and shapes, so PyTorch state_dicts load as they are.
    LayerNorm behaves the same in training and inference: ``forward`` and ``forward_mut`` accept either
    tape, and the output carries the input's.
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"D": "normalized_shape"}
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    hparam_names: ClassVar[tuple[str, ...]] = ("eps",)
    structure_names: ClassVar[tuple[str, ...]] = ("normalized_shape", "elementwise_affine")
    optional_names: ClassVar[tuple[str, ...]] = ("bias",)  # with elementwise_affine: None removes it
    _field_flags: ClassVar[Mapping[str, str]] = {"weight": "elementwise_affine", "bias": "elementwise_affine"}

    weight: Tensor[tuple[D], Any, NoneTape] | None
    bias: Tensor[tuple[D], Any, NoneTape] | None

    def __init__(
        self,
        normalized_shape: D,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: type[Any] = np.float32,
    ) -> None:
        size = _size(normalized_shape)  # the run-time value of D, validated whatever the static type said
        self.eps = norm_eps(eps)
        self.elementwise_affine = ext.options.flag(elementwise_affine, "elementwise_affine", "LayerNorm")
        with_bias = ext.options.flag(bias, "bias", "LayerNorm")
        self.normalized_shape = cast("D", size)  # a Python int (a NumPy integer is accepted and converted)
        self.dtype = ext.float_dtype(dtype, "LayerNorm")
        affine = self.elementwise_affine
        self.weight = ext.filled((size,), 1.0, self.dtype, "LayerNorm") if affine else None
        self.bias = ext.filled((size,), 0.0, self.dtype, "LayerNorm") if affine and with_bias else None

    def _reset(self, rng: np.random.Generator) -> None:
        """weight 1, bias 0 (PyTorch's init; nothing random)."""
        if self.weight is not None:
            ext.data_mut(self.weight)[...] = 1
        if self.bias is not None:
            ext.data_mut(self.bias)[...] = 0

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}, dtype={self.dtype.name}"
        )

    def forward(self, x: Tensor[tuple[*Lead, D], E, T]) -> Tensor[tuple[*Lead, D], E, T]:
        """Normalise x (..., D) over its last dim."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight and bias (D,), of the layer's dtype; neither without elementwise_affine."""
        return ((self.normalized_shape,), self.dtype) if self.elementwise_affine else None

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        norm_eps(values.get("eps", self.eps))

    def _check_setting(self, name: str, value: object) -> object:
        return norm_eps(value) if name == "eps" else super()._check_setting(name, value)

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        weight, bias, shape = self.weight, self.bias, (self.normalized_shape,)
        if self.elementwise_affine:
            bad = not fits(weight, shape, self.dtype) or (bias is not None and not fits(bias, shape, self.dtype))
        else:
            bad = weight is not None or bias is not None
        if bad:
            check_fields(self)  # a write into __dict__ got around the checks: the field is named
        data = ext.data(ext.tensor_arg(x, "LayerNorm"))
        if data.ndim == 0 or data.shape[-1] != self.normalized_shape:
            raise ShapeError(
                f"LayerNorm: expected input (..., {self.normalized_shape}), got shape {data.shape}; the last dim "
                "must be normalized_shape"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("LayerNorm", self.dtype, data.dtype)
        w = None if weight is None else ext.data(weight)
        b = None if bias is None else ext.data(bias)
        return ext.record((x, weight, bias), *layer_norm(data, w, b, self.eps))
