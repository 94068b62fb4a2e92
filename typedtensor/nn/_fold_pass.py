"""A BatchNorm folded into the layer before it (``fold_batchnorms``): its pass-through and its refusals.

Folding moves the normalisation into the previous layer's weight and bias; the BatchNorm stays in the
model (same class, same attribute, so the model's class and types are unchanged) and is marked folded:

* its fields are set to the identity (running mean 0, variance 1, scale 1, bias 0, ``eps = 0``), so that
  the model's state_dict and checkpoint files describe what it computes: loaded into an unfolded model
  of the same class they give the folded model's results (the BatchNorm then normalises by exactly 1);
* ``forward`` checks its input as before (rank, dtype, channels) and returns it unchanged, applying only
  what the previous layer cannot absorb: FusedBatchNorm2D's addend and ReLU, ``relu(x + addend)``;
* a changed field would be ignored by the pass-through: loading one (an unfolded model's checkpoint:
  other statistics, or eps in a file) is refused before anything changes, and one assigned or written
  in place makes ``forward`` raise instead of computing something else;
* ``forward_mut`` refuses: training a folded model would train it without normalisation.

The mark is an entry of the instance's ``__dict__`` (``_tt_folded``: the dotted name of the layer it was
folded into), kept by ``copy.deepcopy`` and ``to_dtype``, not by state_dicts or files (see above).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import extend as ext
from .._errors import TypedTensorError
from .._tensor import Tensor

if TYPE_CHECKING:
    from ._module import Module

#: A BatchNorm (``_batchnorm._BatchNorm``; not imported: it imports this module).
Norm = Any

__all__ = [
    "IDENTITY",
    "MARK",
    "check_hparams",
    "check_loaded",
    "folded_into",
    "mark",
    "pass_through",
    "refuse_training",
]

MARK = "_tt_folded"


def folded_into(module: Module) -> str | None:
    """The name of the layer ``module`` (a BatchNorm) was folded into, or None."""
    value = module.__dict__.get(MARK)
    return value if isinstance(value, str) else None


def mark(bn: Norm, into: str) -> None:
    """Make ``bn`` the identity and a pass-through (see the module docstring); ``into`` names the layer."""
    for attr, value in IDENTITY.items():
        t = getattr(bn, attr)
        if t is not None:  # a new tensor: the unfolded model's is never written
            setattr(bn, attr, ext.filled(ext.data(t).shape, value, bn.dtype, "fold_batchnorms"))
    bn.eps = 0.0
    bn.__dict__[MARK] = into


def _name(bn: Norm) -> str:
    return f"{type(bn).__name__} (folded into {folded_into(bn)!r} by nn.fold_batchnorms)"


def refuse_training(bn: Norm) -> None:
    """A training step of a folded BatchNorm: refused."""
    if MARK in bn.__dict__:
        raise TypedTensorError(
            f"{_name(bn)}.forward_mut: a folded model is for inference only; its BatchNorm no longer normalises, "
            "so training it would train a different network. Train the unfolded model and fold it again"
        )


#: A folded BatchNorm's fields, as ``mark`` sets them.
IDENTITY = {"scale": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}


def check_loaded(bn: Norm, attr: str, key: str, value: object) -> None:
    """Refuse loading into a folded BatchNorm a field other than its identity value (the pass-through would
    ignore it): the whole load is refused, before anything changes."""
    want = IDENTITY.get(attr)
    if MARK in bn.__dict__ and want is not None and not np.all(np.asarray(value) == want):
        raise TypedTensorError(
            f"{key!r} is not {want} everywhere, but {_name(bn)} is a pass-through and would ignore it: this is an "
            "unfolded model's checkpoint; load it into the unfolded model and fold again"
        )


def check_hparams(bn: Norm, values: Mapping[str, object]) -> None:
    """Refuse restoring an eps other than 0 into a folded BatchNorm (a file of an unfolded model)."""
    if MARK in bn.__dict__ and values.get("eps", 0.0) != 0.0:
        raise TypedTensorError(
            f"eps={values['eps']!r}, but {_name(bn)} is a pass-through (eps 0): this is an unfolded model's "
            "checkpoint; load it into the unfolded model and fold again"
        )


def pass_through(
    bn: Norm, x: Tensor[Any, Any, Any], addend: Tensor[Any, Any, Any] | None, relu: bool
) -> Tensor[Any, Any, Any]:
    """A folded BatchNorm's inference: x (checked as the BatchNorm checks it), or ``relu(x + addend)``."""
    bn._check_fields(False)
    changed = [a for a, v in IDENTITY.items() if (t := getattr(bn, a)) is not None and not np.all(ext.data(t) == v)]
    if bn.eps != 0.0:
        changed.append(f"eps ({bn.eps})")
    if changed:
        raise TypedTensorError(
            f"{_name(bn)}: {', '.join(changed)} changed after folding (a checkpoint loaded or a value assigned "
            "into the folded model); the folded BatchNorm is a pass-through and would ignore them. Load the "
            "checkpoint into the unfolded model and fold it again"
        )
    bn._checked(x)  # rank, dtype and channels, as the BatchNorm checks them (no copy: the data is not read)
    if addend is not None:
        bn._addend_checked(x, addend)  # its shape and dtype
    elif not relu:
        return x
    data = ext.data(x)
    out = np.array(data, dtype=data.dtype, order="C")
    if addend is not None:
        np.add(out, ext.data(addend), out=out)
    if relu:
        np.maximum(out, 0, out=out)
    return ext.wrap(out)
