"""``fold_batchnorm``: a Conv2D followed by an inference BatchNorm2D, as one Conv2D; the fold's arithmetic.

``folded_params`` is the one place the fold is computed: ``fold_batchnorm`` (one pair) and
``fold_batchnorms`` (every pair of a model, ``_fold_model``) both use it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._check import checked
from .._errors import TypedTensorError
from ._batchnorm import BatchNorm2D
from ._conv import Conv2D

if TYPE_CHECKING:
    from ._batchnorm import _BatchNorm

__all__ = ["fold_batchnorm", "folded_params"]

I = TypeVar("I", bound=int)  # noqa: E741
O = TypeVar("O", bound=int)  # noqa: E741

Array = NDArray[Any]


def folded_params(
    weight: Array, bias: Array | None, bn: _BatchNorm[Any], where: str, kind: str = "layer"
) -> tuple[Array, Array]:
    """``weight`` and ``bias`` (output channels on dim 0) of a layer followed by the inference ``bn``, folded.

    With ``r = scale / sqrt(running_var + eps)`` per output channel: ``weight' = weight * r`` and
    ``bias' = (bias - running_mean) * r + bias_bn``, computed in float64 and stored in ``weight``'s dtype.
    ``where`` names the pair in the errors (channel mismatch, batch statistics, an infinite factor), ``kind``
    the layer ("conv").
    """
    c = weight.shape[0]
    if bn.num_features != c:
        raise TypedTensorError(f"{where}: the BatchNorm has {bn.num_features} channels but the {kind} outputs {c}")
    if bn.running_mean is None or bn.running_var is None:
        raise TypedTensorError(
            f"{where} needs running statistics: a BatchNorm built with track_running_stats=False normalises "
            "with batch statistics, which no fixed layer can reproduce; leave it unfolded"
        )
    mean = ext.data(bn.running_mean).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # reported below, by channel
        r = 1.0 / np.sqrt(ext.data(bn.running_var).astype(np.float64) + bn.eps)
    if bn.scale is not None:
        r = r * ext.data(bn.scale)
    if not np.all(np.isfinite(r)):
        bad = [int(i) for i in np.flatnonzero(~np.isfinite(r))[:5]]
        raise TypedTensorError(
            f"{where}: the BatchNorm's factor scale / sqrt(running_var + eps) is not finite for channels {bad} "
            f"(running_var 0 with eps={bn.eps}?); no finite layer equals it"
        )
    shift = np.zeros(c) if bn.bias is None else ext.data(bn.bias).astype(np.float64)
    old_bias = np.zeros(c) if bias is None else bias.astype(np.float64)
    dtype = weight.dtype
    new_weight = (weight * r.reshape((c,) + (1,) * (weight.ndim - 1))).astype(dtype)
    return new_weight, ((old_bias - mean) * r + shift).astype(dtype)


@checked
def fold_batchnorm(conv: Conv2D[I, O], bn: BatchNorm2D[O]) -> Conv2D[I, O]:
    """A new Conv2D equal to ``bn.forward(conv.forward(x))`` (inference) within float tolerance.

    With ``r = scale / sqrt(running_var + eps)`` per output channel: ``weight' = weight * r`` and
    ``bias' = (bias - running_mean) * r + bias_bn`` (computed in float64, stored in the conv's dtype).
    The result always has a bias. ``conv`` and ``bn`` are left unchanged. Only for inference: the
    folded layer no longer normalises with batch statistics. To fold every such pair of a whole model,
    see ``fold_batchnorms``.
    """
    bias = None if conv.bias is None else ext.data(conv.bias)
    weight, new_bias = folded_params(ext.data(conv.weight), bias, bn, "fold_batchnorm", "conv")
    folded: Conv2D[I, O] = copy.deepcopy(conv)
    folded.weight = ext.wrap(weight)
    folded.bias = ext.wrap(new_bias)
    return folded
