"""``Linear[I, O]``: ``y = x @ weight.T + bias`` over the last dim, with I and O in the type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, TypeVarTuple, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import ShapeError
from .._ops import linalg as _la
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._fields import check_fields, fits
from ._init import uniform_fan_in
from ._module import FieldSpec, Module

__all__ = ["Linear"]

Array = NDArray[Any]

I = TypeVar("I", bound=int)  # noqa: E741 (PyTorch's name for the input features)
O = TypeVar("O", bound=int)  # noqa: E741
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")


class Linear(Module, Generic[I, O]):
    """A fully connected layer: ``Linear[L[3], L[5]](3, 5)`` maps (..., 3) to (..., 5).

    Args:
        in_features: I, the size of the input's last dim.
        out_features: O, the size of the output's last dim.
        bias: whether to add a learned bias.
        dtype: the parameters' float dtype (inputs must have it too).
        seed: seed of PyTorch's default init, U(-1/sqrt(I), 1/sqrt(I)) for weight and bias.

    ``weight`` is (O, I) and ``bias`` (O,), PyTorch's layout, so PyTorch checkpoints load as they are.
    Linear behaves the same in training and inference: ``forward`` and ``forward_mut`` accept
    either tape, and the output carries the input's.
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"I": "in_features", "O": "out_features"}
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    structure_names: ClassVar[tuple[str, ...]] = ("in_features", "out_features")  # checked by checkpoint loads
    optional_names: ClassVar[tuple[str, ...]] = ("bias",)  # assigning None removes it, a (O,) tensor adds one

    weight: Tensor[tuple[O, I], Any, NoneTape]
    bias: Tensor[tuple[O], Any, NoneTape] | None

    def __init__(
        self,
        in_features: I,
        out_features: O,
        *,
        bias: bool = True,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        # stored as Python ints (a NumPy integer is accepted and converted)
        self.in_features = cast("I", opt.positive_int(in_features, "in_features", "Linear"))
        self.out_features = cast("O", opt.positive_int(out_features, "out_features", "Linear"))
        bias, seed = opt.flag(bias, "bias", "Linear"), opt.seed(seed, "Linear")
        in_features, out_features = self.in_features, self.out_features
        self.dtype = ext.float_dtype(dtype, "Linear")
        # allocated as tt.zeros does (size limits, MemoryError as a TypedTensorError), then initialised
        self.weight = ext.filled((out_features, in_features), 0.0, self.dtype, "Linear")
        self.bias = ext.filled((out_features,), 0.0, self.dtype, "Linear") if bias else None
        self._reset(np.random.default_rng(seed))

    def _reset(self, rng: np.random.Generator) -> None:
        uniform_fan_in(rng, ext.data(self.weight), self.in_features)
        if self.bias is not None:
            uniform_fan_in(rng, ext.data(self.bias), self.in_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"dtype={self.dtype.name}"
        )

    def forward(self, x: Tensor[tuple[*Lead, I], E, T]) -> Tensor[tuple[*Lead, O], E, T]:
        """Apply the layer to x (..., I): (B, I) -> (B, O), (I,) -> (O,)."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight (O, I) and bias (O,), of the layer's dtype."""
        shape = (self.out_features, self.in_features) if name == "weight" else (self.out_features,)
        return shape, self.dtype

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        data, w, b = self._operands(x)
        return ext.record((x, self.weight, self.bias), *_la.linear(data, w, b))

    def _operands(self, x: Tensor[Any, Any, Any]) -> tuple[Array, Array, Array | None]:
        """x's array, the weight's and the bias's (None without one), all checked (shapes, dtype, fields)."""
        bias = self.bias
        if not fits(self.weight, (self.out_features, self.in_features), self.dtype) or (
            bias is not None and not fits(bias, (self.out_features,), self.dtype)
        ):
            check_fields(self)  # a wrong bias would broadcast silently, a missing weight fail: the field is named
        data = ext.data(ext.tensor_arg(x, "Linear"))
        if data.ndim == 0 or data.shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear: expected input (..., {self.in_features}), got shape {data.shape}; the last dim must be "
                "in_features"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("Linear", self.dtype, data.dtype)
        return data, ext.data(self.weight), None if bias is None else ext.data(bias)

    def after(self, x: Tensor[Any, Any, Any], kernel: Callable[[Array], ext.Result]) -> Tensor[Any, Any, Any]:
        """``self(f(x))`` for an elementwise op ``f`` given as its kernel (``(out, backward)`` of an array), as one
        op whose backward recomputes ``f(x)`` instead of keeping it from the forward to the backward.

        A Transformer's MLP ``linear2(gelu(h))`` then keeps h alone for its backward, not h and gelu(h): one
        activation of the hidden size less per block in a training step (the results are those of the two
        ops, bit for bit: the same kernels on the same values).
        """
        data, w, b = self._operands(x)
        out, _ = _la.linear(kernel(data)[0], w, b)  # f(x) is freed here

        def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
            h, f_backward = kernel(data)
            g2 = g.reshape(-1, w.shape[0])
            gw = g2.T @ h.reshape(-1, h.shape[-1]) if need[1] else None
            gb = g2.sum(axis=0) if need[2] else None
            del h
            gx = f_backward((g2 @ w).reshape(data.shape), (True,))[0] if need[0] else None
            return gx, gw, gb

        return ext.record((x, self.weight, self.bias), out, backward)
