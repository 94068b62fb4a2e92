"""``fold_batchnorm``: a Conv2D followed by an inference BatchNorm2D, as one Conv2D."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import numpy as np

from .. import extend as ext
from .._check import checked
from .._errors import TypedTensorError
from ._batchnorm import BatchNorm2D
from ._conv import Conv2D

__all__ = ["fold_batchnorm"]

I = TypeVar("I", bound=int)  # noqa: E741
O = TypeVar("O", bound=int)  # noqa: E741


@checked
def fold_batchnorm(conv: Conv2D[I, O], bn: BatchNorm2D[O]) -> Conv2D[I, O]:
    """A new Conv2D equal to ``bn.forward(conv.forward(x))`` (inference) within float tolerance.

    With ``r = scale / sqrt(running_var + eps)`` per output channel: ``weight' = weight * r`` and
    ``bias' = (bias - running_mean) * r + bias_bn`` (computed in float64, stored in the conv's dtype).
    The result always has a bias. ``conv`` and ``bn`` are left unchanged. Only for inference: the
    folded layer no longer normalises with batch statistics.
    """
    if bn.num_features != conv.out_channels:
        raise TypedTensorError(
            f"fold_batchnorm: the BatchNorm has {bn.num_features} channels but the conv outputs {conv.out_channels}"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise TypedTensorError(
            "fold_batchnorm needs running statistics: a BatchNorm built with track_running_stats=False normalises "
            "with batch statistics, which no fixed convolution can reproduce"
        )
    c = conv.out_channels
    mean = ext.data(bn.running_mean).astype(np.float64)
    r = 1.0 / np.sqrt(ext.data(bn.running_var).astype(np.float64) + bn.eps)
    if bn.scale is not None:
        r = r * ext.data(bn.scale)
    shift = np.zeros(c) if bn.bias is None else ext.data(bn.bias).astype(np.float64)
    conv_bias = np.zeros(c) if conv.bias is None else ext.data(conv.bias).astype(np.float64)
    folded: Conv2D[I, O] = copy.deepcopy(conv)
    dtype: Any = conv.dtype
    folded.weight = ext.wrap((ext.data(conv.weight) * r[:, None, None, None]).astype(dtype))
    folded.bias = ext.wrap(((conv_bias - mean) * r + shift).astype(dtype))
    return folded
