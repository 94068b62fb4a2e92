"""Parameter groups and frozen parameters: which parameters an optimizer trains, and with what.

PyTorch's ``param_groups`` and ``requires_grad_(False)``, typed: an optimizer takes
``groups=[ParamGroup(select, lr_scale=..., weight_decay=...), ...]`` and ``frozen=[...]``, each
``select`` a sub-module of the model (its parameters) or a predicate ``(dotted name, parameter) -> bool``.
A parameter belongs to the first group that selects it, else to the optimizer's own hyper-parameters.
A group's learning rate is ``lr_scale * opt.lr``, so a schedule (which writes ``opt.lr``) moves every group
together, as PyTorch's multiplicative schedules move each group from its own initial rate. A frozen
parameter is not updated, has no state and needs no gradient (no ``MissingGradientError``); ``frozen``
wins over ``groups``.

The usual recipe (no weight decay on biases and normalisation parameters)::

    opt = tt.optim.AdamW(model, lr=3e-4, weight_decay=0.1,
                         groups=[tt.optim.ParamGroup(tt.optim.no_decay, weight_decay=0.0)])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from .. import extend as ext
from .._tensor import Tensor
from ..nn._module import Module
from ._exceptions import OptimizerError

__all__ = ["ParamGroup", "Selector", "no_decay"]

#: Chooses parameters: ``select(dotted_name, parameter)`` is True for the chosen ones.
Selector = Callable[[str, Tensor[Any, Any, Any]], bool]


def no_decay(name: str, param: Tensor[Any, Any, Any]) -> bool:
    """The parameters the usual recipe does not decay: biases and normalisation scales (rank < 2).

    Every weight matrix and convolution kernel has rank >= 2; biases, BatchNorm/LayerNorm scales and
    shifts have rank 1 (the rule of nanoGPT and of timm's ``param_groups_weight_decay``).
    """
    return param.ndim < 2


@dataclass(frozen=True)
class ParamGroup:
    """The parameters ``select`` chooses, trained at ``lr_scale * opt.lr`` and with ``weight_decay``.

    ``select``: a sub-module of the model (its parameters) or a :data:`Selector`. ``weight_decay=None``
    keeps the optimizer's.
    """

    select: Module | Selector
    lr_scale: float = 1.0
    weight_decay: float | None = None


@dataclass(frozen=True)
class Hyper:
    """One parameter's learning-rate factor and weight decay (None: the optimizer's)."""

    lr_scale: float
    weight_decay: float | None


def _chosen(select: object, params: Sequence[tuple[str, Tensor[Any, Any, Any]]], where: str) -> set[str]:
    if isinstance(select, Module):
        mine = {id(t) for _, t in select.named_parameters()}
        names = {name for name, t in params if id(t) in mine}
        if len(names) != len(mine):
            raise OptimizerError(
                f"{where}: the sub-module {type(select).__name__} given has parameters that are not the model's; "
                "pass a sub-module of the model given to the optimizer"
            )
        return names
    if not callable(select):
        raise OptimizerError(
            f"{where} must be a sub-module of the model or a function (name, parameter) -> bool, "
            f"got {type(select).__name__}"
        )
    out: set[str] = set()
    for name, t in params:
        verdict = select(name, t)  # whatever the caller's function returns (checked below)
        if not isinstance(verdict, bool):
            raise OptimizerError(f"{where}: the selector returned {verdict!r} for {name!r}; it must return a bool")
        if verdict:
            out.add(name)
    return out


def resolve(
    groups: object, frozen: object, params: Sequence[tuple[str, Tensor[Any, Any, Any]]], owner: str
) -> tuple[dict[str, Hyper], frozenset[str]]:
    """Each trained parameter's ``Hyper`` (by dotted name; absent: the optimizer's), and the frozen names."""
    if isinstance(groups, (ParamGroup, str, bytes)) or not isinstance(groups, Sequence):
        raise OptimizerError(f"{owner}: groups must be a list of ParamGroup, got {type(groups).__name__}")
    if isinstance(frozen, (str, bytes, Module)) or not isinstance(frozen, Sequence):
        raise OptimizerError(
            f"{owner}: frozen must be a list of sub-modules or selectors, got {type(frozen).__name__}; "
            "wrap a single one in a list"
        )
    still: set[str] = set()
    for i, f in enumerate(cast("Sequence[object]", frozen)):
        still |= _chosen(f, params, f"{owner}: frozen[{i}]")
    hyper: dict[str, Hyper] = {}
    opt = ext.options
    for i, group in enumerate(cast("Sequence[object]", groups)):
        where = f"{owner}: groups[{i}]"
        if not isinstance(group, ParamGroup):
            raise OptimizerError(f"{where} must be a ParamGroup, got {type(group).__name__}")
        scale = opt.non_negative(group.lr_scale, "lr_scale", where, error=OptimizerError)
        wd = group.weight_decay
        decay = None if wd is None else opt.non_negative(wd, "weight_decay", where, error=OptimizerError)
        for name in _chosen(group.select, params, f"{where}.select"):
            if name not in still and name not in hyper:
                hyper[name] = Hyper(scale, decay)
    return hyper, frozenset(still)


def describe(hyper: Mapping[str, Hyper], frozen: frozenset[str]) -> str:
    """For ``repr``: how many parameters are grouped and frozen."""
    parts: list[str] = []
    if hyper:
        parts.append(f"grouped={len(hyper)}")
    if frozen:
        parts.append(f"frozen={len(frozen)}")
    return ", ".join(parts)
