"""Activation modules with options: ``LeakyReLU(negative_slope)``, ``SiLU()``, ``Softplus(beta, threshold)``.

Shape-preserving and the same in both modes (``forward`` and ``forward_mut`` accept either tape, the output
carries the input's); float inputs only (float16 computed in float32 and rounded once). PyTorch's formulas,
and its derivatives at the kinks, as each class states.
"""

from __future__ import annotations

from typing import Any

from .. import extend as ext
from .._errors import DTypeError
from .._ops import activations as _act
from .._tensor import Tensor
from ._activation import _Activation

__all__ = ["LeakyReLU", "SiLU", "Softplus"]


def _float_data(x: Tensor[Any, Any, Any], where: str) -> ext.Array:
    data = ext.data(x)
    if data.dtype not in ext.FLOAT_DTYPES:
        raise DTypeError(
            f"{where}: expected a float16/32/64 input, got {data.dtype.name}; "
            f"{ext.astype_advice('the input', ext.FLOAT_DTYPES[1])}"
        )
    return data


class LeakyReLU(_Activation):
    """``x`` where x > 0, ``negative_slope * x`` elsewhere (PyTorch's ``nn.LeakyReLU``).

    Args:
        negative_slope: the slope below 0, a finite real (default 0.01); the derivative at 0 is this slope,
            as PyTorch's.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = ext.options.real(negative_slope, "negative_slope", "LeakyReLU")

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return ext.record((x,), *_act.leaky_relu(_float_data(x, "LeakyReLU"), self.negative_slope))


class SiLU(_Activation):
    """``x * sigmoid(x)`` (swish; PyTorch's ``nn.SiLU``), the sigmoid in its overflow-free tanh form."""

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return ext.record((x,), *_act.silu(_float_data(x, "SiLU")))


class Softplus(_Activation):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's ``nn.Softplus``).

    Args:
        beta: a finite real > 0 (default 1).
        threshold: where the function turns linear, a finite real (default 20); the derivative is
            ``sigmoid(beta * x)`` up to it and 1 past it.

    Below the threshold the log is computed as ``logaddexp(0, beta * x)``: finite for any ``beta * x``.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = ext.options.positive(beta, "beta", "Softplus", fix="pass a positive float such as the default 1.0")
        self.threshold = ext.options.real(threshold, "threshold", "Softplus")

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

    def _fn(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        return ext.record((x,), *_act.softplus(_float_data(x, "Softplus"), self.beta, self.threshold))
