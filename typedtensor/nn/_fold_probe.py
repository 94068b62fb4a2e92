"""Which (layer, BatchNorm) pairs of a model can be folded: found and proven by probe runs of its forward.

A model's ``forward`` is arbitrary Python, so its pairs are found by running it, on a deep copy, with
instance-level wrappers around the ``forward`` of every Conv2D, Conv1D and Linear (the producers) and of
every BatchNorm1D, BatchNorm2D and FusedBatchNorm2D (and their SyncBatchNorm forms); a subclass that
overrides ``forward`` is not a candidate (its arithmetic is unknown).

1. **Record** (twice; both runs must give bit-identical outputs, else the model is not deterministic and
   nothing can be proven): each producer's output tensors, each BatchNorm's input tensors (by the
   tape's identity: ``h.realize(...)`` is ``h``).
   A candidate pair is a producer P and a BatchNorm N such that every input N received is an output of P,
   every output of P went into N exactly once, at least one call; P's channels are N's channels on the axis
   N normalises (Linear output (B, C) into BatchNorm1D; a (B, L, C) Linear output is not: BatchNorm1D
   normalises axis 1); N is not folded yet.
2. **Prove** that nothing else reads what the fold changes: a run in which each candidate P returns its
   output plus large random noise (and N, receiving exactly that tensor, computes from the clean output),
   while outside their own calls P's weight and bias and N's statistics and parameters are replaced by
   noisy values, must give outputs bit-identical to the record run. A residual that also adds P's output,
   a second consumer, a tensor that reaches N some other way, a forward that reads ``conv.weight`` itself:
   each changes the output, and that pair is left unfolded. All candidates are tried at once; if that run
   differs, they are added one at a time (each kept only if the run with it and the kept ones is still
   identical).

What is proven is what the example's run does; ``fold_batchnorms`` then checks the folded model's outputs
against the original's on the example and on a perturbed copy of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import TypedTensorError
from .._tensor import Tensor
from . import _fold_pass
from ._batchnorm import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, _BatchNorm
from ._conv import Conv2D
from ._conv1d import Conv1D
from ._linear import Linear
from ._module import Module

__all__ = ["Pair", "Probe", "leaves"]

Array = NDArray[Any]
#: Producer classes and the channel axis of an output of rank n (counted from the end).
_PRODUCERS: tuple[tuple[type[Module], int], ...] = ((Conv2D, 3), (Conv1D, 2), (Linear, 1))
_BATCHNORMS: tuple[type[_BatchNorm[Any]], ...] = (BatchNorm2D, FusedBatchNorm2D, BatchNorm1D)
_PRODUCER_FIELDS = ("weight", "bias")
_BN_FIELDS = ("scale", "bias", "running_mean", "running_var")


@dataclass(frozen=True)
class Pair:
    """A producer and the BatchNorm that reads its every output, with their dotted names."""

    producer: Module
    producer_name: str
    bn: _BatchNorm[Any]
    bn_name: str

    @property
    def label(self) -> str:
        return f"{self.producer_name!r} -> {self.bn_name!r}"


def _base(module: Module, bases: Sequence[type[Module]]) -> type[Module] | None:
    """The library class whose ``forward`` ``module`` runs unchanged, or None."""
    for base in bases:
        if isinstance(module, base) and getattr(type(module), "forward", None) is getattr(base, "forward"):  # noqa: B009
            return base
    return None


def leaves(out: object, where: str) -> list[Array]:
    """A forward's output as arrays (a tensor, an array, a number, or tuples / lists / dicts of them)."""
    if out.__class__ is Tensor:  # (a class test: no narrowing to a partly unknown Tensor)
        return [np.asarray(ext.data(ext.tensor_arg(out, where)))]
    if isinstance(out, np.ndarray | int | float | np.generic):
        return [np.asarray(out)]
    if isinstance(out, tuple | list):
        return [a for item in cast("list[object]", out) for a in leaves(item, where)]
    if isinstance(out, dict):
        items = sorted(cast("dict[object, object]", out).items(), key=lambda kv: repr(kv[0]))
        return [a for _, v in items for a in leaves(v, where)]
    raise TypedTensorError(
        f"{where}: the model's forward returned a value of type {type(out).__name__!r}; fold_batchnorms "
        "compares outputs that are tensors, arrays, numbers, or tuples, lists and dicts of them"
    )


def _same(a: list[Array], b: list[Array]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
        for x, y in zip(a, b, strict=True)
    )


def _noisy(data: Array, rng: np.random.Generator) -> Array:
    """``data`` plus noise as large as its largest value (at least 1), same dtype."""
    finite = data[np.isfinite(data)] if data.size else data
    scale = 1.0 + (float(np.max(np.abs(finite))) if finite.size else 0.0)
    with np.errstate(over="ignore"):
        return (data + scale * rng.standard_normal(data.shape)).astype(data.dtype)


class Probe:
    """The wrapped copy of a model and its probe runs (see the module docstring)."""

    def __init__(self, model: Module, run: Callable[[], object], where: str) -> None:
        self.model, self._run, self.where = model, run, where
        self.producers: dict[int, tuple[str, Module, int]] = {}  # id -> name, module, channel axis from the end
        self.bns: dict[int, tuple[str, _BatchNorm[Any]]] = {}
        for name, module in model.named_modules():
            key = id(module)
            if key in self.producers or key in self.bns:
                continue  # tied: one module under several names, wrapped once (its first name)
            producer = _base(module, [p for p, _ in _PRODUCERS])
            if producer is not None:
                axis = dict(_PRODUCERS)[producer]
                self.producers[key] = (name, module, axis)
            elif _base(module, _BATCHNORMS) is not None and _fold_pass.MARK not in module.__dict__:
                self.bns[key] = (name, cast("_BatchNorm[Any]", module))
        self._outputs: dict[int, list[Tensor[Any, Any, Any]]] = {}
        self._inputs: dict[int, list[object]] = {}
        self._noisy_pairs: frozenset[int] = frozenset()  # producer ids whose pair is being proven
        self._clean: dict[int | None, tuple[Tensor[Any, Any, Any], Tensor[Any, Any, Any]]] = {}
        self._rng = np.random.default_rng(0)

    # ---- the wrappers ------------------------------------------------------------------------------------

    def _wrap(self) -> None:
        for key, (_, module, _) in self.producers.items():
            module.__dict__["forward"] = self._producer_forward(key, module)
        for key, (_, bn) in self.bns.items():
            bn.__dict__["forward"] = self._bn_forward(key, bn)

    def _unwrap(self) -> None:
        for _, module, _ in self.producers.values():
            module.__dict__.pop("forward", None)
        for _, bn in self.bns.values():
            bn.__dict__.pop("forward", None)

    def _producer_forward(self, key: int, module: Module) -> Callable[..., Any]:
        forward: Callable[..., Any] = getattr(type(module), "forward")  # noqa: B009

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if key not in self._noisy_pairs:
                out = forward(module, *args, **kwargs)
                self._outputs.setdefault(key, []).append(out)
                return out
            with _clean_fields(module, _PRODUCER_FIELDS, self._swapped):
                out = forward(module, *args, **kwargs)
            noisy = ext.wrap(_noisy(np.asarray(ext.data(out)), self._rng))
            self._clean[ext.tensor_id(noisy)] = (noisy, out)
            return noisy

        return wrapper

    def _bn_forward(self, key: int, bn: _BatchNorm[Any]) -> Callable[..., Any]:
        forward: Callable[..., Any] = getattr(type(bn), "forward")  # noqa: B009

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            x: object = args[0] if args else kwargs.get("x")
            if self._pair_of.get(key) not in self._noisy_pairs:
                self._inputs.setdefault(key, []).append(x)
                return forward(bn, *args, **kwargs)
            clean = self._clean.get(_key(x))
            if clean is None or ext.data(clean[0]) is not ext.data(ext.tensor_arg(x, self.where)):
                self._stray = True  # fed by something other than its producer's (noisy) output: not proven
            elif args:
                args = (clean[1], *args[1:])
            else:
                kwargs = {**kwargs, "x": clean[1]}
            with _clean_fields(bn, _BN_FIELDS, self._swapped):
                return forward(bn, *args, **kwargs)

        return wrapper

    # ---- the runs ------------------------------------------------------------------------------------------

    _pair_of: dict[int, int]  # bn id -> producer id, for the pairs being proven
    _swapped: dict[tuple[int, str], tuple[Module, object]]  # the fields replaced by noise: originals
    _stray: bool

    def record(self) -> list[Array]:
        """One recording run (wrappers on); its outputs."""
        self._pair_of, self._noisy_pairs, self._swapped, self._stray = {}, frozenset(), {}, False
        self._outputs, self._inputs = {}, {}
        self._wrap()
        try:
            return leaves(self._run(), self.where)
        finally:
            self._unwrap()

    def candidates(self) -> list[Pair]:
        """The pairs the last recording run shows (see the module docstring), in tree order of the BatchNorms."""
        owner: dict[int | None, int] = {ext.tensor_id(out): key for key, outs in self._outputs.items() for out in outs}
        found: list[Pair] = []
        for bn_key, (bn_name, bn) in self.bns.items():
            inputs = self._inputs.get(bn_key, [])
            keys = {owner.get(_key(x)) for x in inputs}
            if not inputs or len(keys) != 1 or None in keys:
                continue
            (key,) = keys
            assert key is not None
            outs = self._outputs[key]
            ids = {_key(x) for x in inputs}
            if len(outs) != len(inputs) or len(ids) != len(inputs) or ids != {ext.tensor_id(o) for o in outs}:
                continue  # an output that went elsewhere, or into this BatchNorm twice
            name, producer, axis = self.producers[key]
            if not all(_bn_axis(bn, o) == ext.data(o).ndim - axis for o in outs):
                continue  # the BatchNorm normalises another axis than the layer's channels
            found.append(Pair(producer, name, bn, bn_name))
        return found

    def proven(self, pairs: list[Pair], reference: list[Array]) -> list[Pair]:
        """The largest prefix-greedy subset of ``pairs`` whose noisy run equals ``reference`` (see the docstring)."""
        if not pairs or self._quiet(pairs, reference):
            return pairs
        kept: list[Pair] = []
        for pair in pairs:
            if self._quiet([*kept, pair], reference):
                kept.append(pair)
        return kept

    def _quiet(self, pairs: list[Pair], reference: list[Array]) -> bool:
        """Whether the run with ``pairs`` noisy gives ``reference`` exactly (any error: not proven)."""
        self._pair_of = {id(p.bn): id(p.producer) for p in pairs}
        self._noisy_pairs = frozenset(self._pair_of.values())
        self._swapped, self._stray, self._clean = {}, False, {}
        self._rng = np.random.default_rng(0)
        for p in pairs:
            _add_noise(p.producer, _PRODUCER_FIELDS, self._swapped, self._rng)
            _add_noise(p.bn, _BN_FIELDS, self._swapped, self._rng)
        self._wrap()
        try:
            out = leaves(self._run(), self.where)
        except Exception:  # the model refused the noisy values: something else reads them
            return False
        finally:
            self._unwrap()
            for (_, attr), (module, value) in self._swapped.items():
                module.__dict__[attr] = value
            self._clean = {}
        return not self._stray and _same(out, reference)


def _key(x: object) -> int | None:
    """The tape's identity of a tensor (``realize`` keeps it: the same values under another static type)."""
    return ext.tensor_id(ext.tensor_arg(x, "fold_batchnorms")) if x.__class__ is Tensor else None


def _bn_axis(bn: _BatchNorm[Any], out: Tensor[Any, Any, Any]) -> int:
    """The axis ``bn`` normalises in an input like ``out``."""
    return 0 if isinstance(bn, BatchNorm2D | FusedBatchNorm2D) and ext.data(out).ndim == 3 else 1


def _fields(module: Module, names: Sequence[str]) -> Iterator[tuple[str, Tensor[Any, Any, Any]]]:
    for attr in names:
        value = module.__dict__.get(attr)
        if isinstance(value, Tensor):
            yield attr, value


def _add_noise(
    module: Module,
    names: Sequence[str],
    swapped: dict[tuple[int, str], tuple[Module, object]],
    rng: np.random.Generator,
) -> None:
    """Replace ``module``'s fields by noisy copies (into ``__dict__``); the originals go to ``swapped``."""
    for attr, value in list(_fields(module, names)):
        swapped[(id(module), attr)] = (module, value)
        module.__dict__[attr] = ext.wrap(_noisy(np.asarray(ext.data(value)), rng))


class _clean_fields:  # used as a context manager
    """The original fields of ``module`` back in place during its own call, the noisy ones after it."""

    def __init__(
        self, module: Module, names: Sequence[str], swapped: dict[tuple[int, str], tuple[Module, object]]
    ) -> None:
        self.module, self.names, self.swapped = module, names, swapped
        self.noisy: dict[str, object] = {}

    def __enter__(self) -> None:
        for attr in self.names:
            original = self.swapped.get((id(self.module), attr))
            if original is not None:
                self.noisy[attr] = self.module.__dict__[attr]
                self.module.__dict__[attr] = original[1]

    def __exit__(self, *exc: object) -> None:
        for attr, value in self.noisy.items():
            self.module.__dict__[attr] = value
