"""``fold_batchnorms(model, example)``: every (Conv2D | Conv1D | Linear) -> BatchNorm pair of a model folded.

The pairs are found and proven by probe runs of the model's ``forward`` on ``example`` (``_fold_probe``:
why not from the module tree alone, and what is proven); each proven pair's BatchNorm is folded into the
layer before it (``_fold.folded_params``: float64 arithmetic, stored in the layer's dtype; a layer without
bias gains one) and becomes a marked pass-through (``_fold_pass``: identity fields, FusedBatchNorm2D's
addend and ReLU still applied, ``forward_mut`` refused). The folded copy is then checked against the
unfolded model on ``example`` and on a perturbed copy of it.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

import numpy as np

from .. import extend as ext
from .._errors import TapeError, TypedTensorError
from .._tape import NoneTape
from .._tensor import Tensor
from . import _fold_pass
from ._fold import folded_params
from ._fold_probe import Pair, Probe, leaves
from ._module import Module

__all__ = ["TOLERANCES", "fold_batchnorms", "folded_batchnorms"]

M = TypeVar("M", bound=Module)

#: The check's bound per output dtype: the largest difference allowed, relative to max(1, max |output|).
TOLERANCES: dict[str, float] = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-9}

_WHERE = "fold_batchnorms"


def fold_batchnorms(model: M, example: Tensor[Any, Any, NoneTape]) -> M:
    """A copy of ``model`` for inference with every Conv2D / Conv1D / Linear -> BatchNorm pair folded.

    ``model`` keeps its class (so ``forward`` keeps its type: ``fold_batchnorms(net, x)`` is a ``type(net)``)
    and is left unchanged. ``example`` is one untraced input of ``model.forward`` (a small batch is
    enough); ``model.forward(example)`` runs a few times on copies.

    How pairs are found: the model's ``forward`` is arbitrary Python, so the pairs are found by running
    it on ``example`` with every Conv2D, Conv1D and Linear and every BatchNorm1D, BatchNorm2D and
    FusedBatchNorm2D (SyncBatchNorm too) watched: a pair is a layer whose every output goes into one
    BatchNorm, and nowhere else, that receives nothing else (a conv and a BatchNorm both used twice, always
    together, is a pair). Then a run with those outputs, the layer's weights and the BatchNorm's
    statistics all replaced by noise wherever anything but the pair itself reads them must give the
    same outputs bit for bit: a residual that also adds the conv's output, a second reader, a BatchNorm fed
    by another tensor, a forward reading ``conv.weight`` leave that pair unfolded (and still correct).
    Modules of ``nn.Sequential``, ``nn.pipe`` and ``nn.Residual`` are found the same way; a layer subclass
    that overrides ``forward`` is never folded; neither is a pair whose data flow the example's run does not
    exercise. A pair whose BatchNorm normalises with batch statistics (``track_running_stats=False``) is
    refused (TypedTensorError naming it): no fixed layer computes that.

    What a folded BatchNorm becomes: the same instance, its fields the identity (mean 0, variance 1, scale 1,
    bias 0, eps 0), marked as a pass-through: ``forward`` checks and returns its input (FusedBatchNorm2D:
    ``relu(x + addend)``), ``forward_mut`` raises (a folded model is for inference only), loading other
    statistics into it is refused and values assigned into it later make ``forward`` raise (never ignored).
    Saving: the state_dict
    and checkpoint files hold the folded weights (with the biases folding added) and the identity
    BatchNorms, so they load into a folded model of the same class (``fold_batchnorms(Net(), x)``, then
    ``load_npz``), or into an unfolded one whose layers have biases, which then computes the same (npz and
    safetensors files carry eps = 0 too; a bare state_dict into a BatchNorm of eps 1e-5 scales by
    1/sqrt(1 + 1e-5)); an unfolded model whose layers lack the biases refuses them (unexpected keys), and a
    folded model refuses an unfolded checkpoint (missing bias keys, or its statistics and eps, at load
    time). ``folded_batchnorms(model)`` lists the folds.

    Why probe runs rather than the module tree: only the run shows which tensor goes where (a conv and a
    BatchNorm adjacent in a Sequential are a pair, but in a hand-written forward the same two attributes
    may sit around a residual); a Sequential's pairs come out of the same runs, so there is one mechanism,
    and the noisy run proves what the tree could only suggest.

    The check: the folded copy's outputs on ``example`` and on ``example`` plus noise (float examples) must
    equal the unfolded model's within ``TOLERANCES`` of the output dtype (relative to max(1, max |output|)),
    else a TypedTensorError names the pairs that already differ when folded alone (each on a fresh copy; all of
    them if none does alone) and by how much: the forward took another path on other values. The
    model's forward must be deterministic (two runs bit-identical), else nothing is folded and it raises.
    """
    if not isinstance(cast("object", model), Module):
        raise TypedTensorError(f"{_WHERE}: expected a typedtensor Module, got {type(model).__name__}")
    x = ext.tensor_arg(example, f"{_WHERE}: example")
    if x.traced:
        raise TapeError(
            f"{_WHERE}: the example must be an untraced tensor (the probe runs are inference, forward); pass x.detach()"
        )
    folded = copy.deepcopy(model)
    forward: Any = getattr(folded, "forward")  # noqa: B009  # the instance's: the probe wraps its layers
    second = _perturbed(x)
    reference = leaves(forward(x), _WHERE)
    reference2 = None if second is None else leaves(forward(second), _WHERE)
    probe = Probe(folded, lambda: forward(x), _WHERE)
    recorded = probe.record()
    if not _equal(recorded, reference) or not _equal(probe.record(), reference):
        raise TypedTensorError(
            f"{_WHERE}: the model's forward gave different outputs for the same example in two runs; the pairs "
            "are proven by comparing runs bit for bit, so a forward that is not deterministic cannot be folded"
        )
    pairs = probe.proven(probe.candidates(), reference)
    cases: list[tuple[Tensor[Any, Any, Any], list[Any], str]] = [(x, reference, "the example")]
    if second is not None and reference2 is not None:
        cases.append((second, reference2, "the example plus noise"))
    for pair in pairs:
        _fold(pair)
    failure = _mismatch(forward, cases)
    if failure is not None:  # which pairs, folded alone, already fail (on fresh copies of the model)?
        alone = [p.label for p in pairs if _mismatch_alone(model, p, cases) is not None]
        names = ", ".join(alone or [p.label for p in pairs])
        which = f"the pair{'s' if len(alone) != 1 else ''} {names}" if alone else f"the pairs {names} together"
        raise TypedTensorError(
            f"{_WHERE}: with {which} folded, {failure}; the forward seems to take another path for these values "
            "than for the example, or the BatchNorm's statistics make the fold inexact. Nothing was folded; "
            "fold the layers by hand (nn.fold_batchnorm) or pass an example that exercises every path"
        )
    return folded


def folded_batchnorms(model: Module) -> dict[str, str]:
    """Each folded BatchNorm of ``model`` (dotted name) -> the layer it was folded into (``fold_batchnorms``)."""
    if not isinstance(cast("object", model), Module):
        raise TypedTensorError(f"folded_batchnorms: expected a typedtensor Module, got {type(model).__name__}")
    out: dict[str, str] = {}
    for name, module in model.named_modules():
        into = _fold_pass.folded_into(module)
        if into is not None:
            out.setdefault(name, into)
    return out


def _fold(pair: Pair) -> None:
    layer: Any = pair.producer
    bias = None if layer.bias is None else ext.data(layer.bias)
    weight, new_bias = folded_params(ext.data(layer.weight), bias, pair.bn, f"{_WHERE}: {pair.label}")
    layer.weight = ext.wrap(weight)
    layer.bias = ext.wrap(new_bias)
    _fold_pass.mark(pair.bn, pair.producer_name)


def _perturbed(x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, NoneTape] | None:
    """``x`` plus noise of a tenth of its spread (seeded), for a float tensor; else None."""
    data = np.asarray(ext.data(x))
    if data.dtype.kind != "f" or data.size == 0:
        return None
    spread = float(np.std(data)) if np.all(np.isfinite(data)) else 0.0
    noise = np.random.default_rng(1).standard_normal(data.shape) * 0.1 * (spread or 1.0)
    return ext.wrap((data + noise).astype(data.dtype))


def _equal(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y, equal_nan=x.dtype.kind in "fc") for x, y in zip(a, b, strict=True)
    )


def _mismatch(forward: Any, cases: list[tuple[Tensor[Any, Any, Any], list[Any], str]]) -> str | None:
    """What differs beyond ``TOLERANCES`` between ``forward``'s outputs and the references, or None."""
    for x, reference, what in cases:
        got = leaves(forward(x), _WHERE)
        for i, (g, r) in enumerate(zip(got, reference, strict=True)):
            if r.dtype.kind not in "fc":
                if not np.array_equal(g, r):
                    return f"output {i} on {what} differs from the unfolded model's (allowed: equal)"
                continue
            tol = TOLERANCES.get(r.dtype.name, TOLERANCES["float32"])
            scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
            d = float(np.max(np.abs(g.astype(np.float64) - r))) if r.size else 0.0
            if not (np.isfinite(d) and d <= tol * scale):
                return (
                    f"output {i} on {what} differs by {d:.3g} from the unfolded model's (allowed: {tol:g} x "
                    f"{scale:.3g})"
                )
    return None


def _mismatch_alone(model: Module, pair: Pair, cases: list[tuple[Tensor[Any, Any, Any], list[Any], str]]) -> str | None:
    """``_mismatch`` of a fresh copy of ``model`` with only ``pair`` folded."""
    fresh = copy.deepcopy(model)
    modules = dict(fresh.named_modules())
    bn: Any = modules[pair.bn_name]
    _fold(Pair(modules[pair.producer_name], pair.producer_name, bn, pair.bn_name))
    return _mismatch(getattr(fresh, "forward"), cases)  # noqa: B009
