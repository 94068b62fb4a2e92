"""What every optimizer shares: hyper-parameter checks, the parameter walk and the all-or-nothing update.

An optimizer belongs to the parameters it was built for, as in PyTorch: the tensors of
``model.named_parameters()`` (a tensor reachable under two names is one parameter, kept under its
first name), held by weak reference, with their dotted names, shapes and dtypes. Its state (momentum
buffers, Adam moments, step counts) is kept by dotted name. ``update`` accepts a model only when
each of its parameters is the very tensor the optimizer was built for: another model, even of the
same structure (a copy, ``to_dtype``), is refused, and so is a model one of whose parameters was
replaced by a new tensor; ``load_state_dict`` writes into the existing tensors, so it keeps them.

``update(model, grads)`` first validates everything (hyper-parameters, structure, one finite
gradient of the right shape per parameter), then computes every new parameter value and state
into fresh arrays, and only then writes them: parameters in place (``ext.data_mut(tensor)[...] = ...``, so
the tensor objects, their ids and the Gradients keyed by them stay valid), state by replacement.
A refused update changes nothing. Buffers (running statistics, counters) are never read or written.

The walk of the model and the checks above are done again only when the tree changed since the last
update (``_tree.Snapshot``: any replaced, re-tied, added or removed parameter or sub-module is noticed);
otherwise the last walk's parameters are used, after checking their shapes and dtypes.

Parameter groups and frozen parameters (``_groups``): a grouped parameter is stepped by ``_step_group`` at its
group's learning rate and weight decay (an optimizer without ``_step_group`` refuses groups); a frozen one is
skipped: its gradient is not read (none is needed), it gets no state and is never written.
"""

from __future__ import annotations

import os
import typing
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TapeError
from .._tensor import Gradients, Tensor
from ..nn._module import Module
from ._exceptions import MissingGradientError, OptimizerError
from ._groups import Hyper, ParamGroup, Selector, describe, resolve
from ._tree import Snapshot, snapshot

if TYPE_CHECKING:
    from ._schedule import LRScheduler

__all__ = ["MissingGradientError", "Optimizer", "OptimizerError"]

Array = NDArray[Any]
#: The per-parameter state of one optimizer (a small dataclass), kept by dotted name.
St = TypeVar("St")
Layout = tuple[tuple[str, tuple[int, ...], np.dtype[Any]], ...]


def _parameters(model: object, owner: str) -> list[tuple[str, Tensor[Any, Any, Any]]]:
    """The model's parameters by dotted name, each tensor once (shared ones under their first name)."""
    if not isinstance(model, Module):
        raise OptimizerError(
            f"{owner} needs a typedtensor.nn.Module (its parameters are what it trains), got {type(model).__name__}"
        )
    return list(model.named_parameters())  # the one state walk: a tied tensor once


class Optimizer(ABC, Generic[St]):
    """Base class of the optimizers (see the module docstring).

    A subclass sets its hyper-parameters as attributes, then calls ``super().__init__(model)``; it
    implements ``_validate`` (check and normalise the hyper-parameters, run at construction and
    before every update, so a changed ``lr`` is checked too) and ``_step`` (one parameter's new
    value and state, computed into fresh arrays without changing its inputs).
    """

    #: The learning rate; change it between updates for a schedule.
    lr: float
    #: The hyper-parameters a state dict holds and loading restores (attributes checked by ``_validate``).
    hparam_names: ClassVar[tuple[str, ...]] = ("lr",)

    def __init__(
        self, model: Module, groups: Sequence[ParamGroup] = (), frozen: Sequence[Module | Selector] = ()
    ) -> None:
        owner = type(self).__name__
        self._validate()
        params = _parameters(model, owner)
        for name, t in params:
            if ext.data(t).dtype.kind != "f":
                raise DTypeError(
                    f"{owner}: parameter {name!r} has dtype {ext.data(t).dtype}; optimizers train float parameters"
                )
        self._layout: Layout = tuple((name, ext.data(t).shape, ext.data(t).dtype) for name, t in params)
        #: The parameter tensors themselves, by dotted name (weak: the optimizer does not keep the model alive).
        self._owned: dict[str, weakref.ref[Tensor[Any, Any, Any]]] = {name: weakref.ref(t) for name, t in params}
        #: Each grouped parameter's learning-rate factor and weight decay; the frozen parameters (see ``_groups``).
        self._hyper: dict[str, Hyper]
        self._frozen: frozenset[str]
        self._hyper, self._frozen = resolve(groups, frozen, params, owner)
        if self._hyper and type(self)._step_group is vars(Optimizer)["_step_group"]:
            raise OptimizerError(
                f"{owner} does not support parameter groups (it does not implement _step_group); pass no groups"
            )
        self._state: dict[str, St] = {}
        #: The model last walked and what the walk depended on (see ``_tree``), or None.
        self._walked: tuple[weakref.ref[Module], Snapshot] | None = None
        #: How many updates were applied.
        self.steps = 0

    # ---- subclass hooks -----------------------------------------------------------------------

    @abstractmethod
    def _validate(self) -> None:
        """Check the hyper-parameters (OptimizerError) and store them as Python floats and bools."""

    @abstractmethod
    def _step(self, param: Array, grad: Array, state: St | None) -> tuple[Array, St]:
        """The parameter's new value and new state; must not modify ``param``, ``grad`` or ``state``."""

    def _step_group(
        self, param: Array, grad: Array, state: St | None, lr: float, weight_decay: float
    ) -> tuple[Array, St]:
        """``_step`` at a parameter group's ``lr`` and ``weight_decay``; an optimizer taking ``groups`` overrides it."""
        raise NotImplementedError  # refused at construction (see ``__init__``)

    def _check_state(self, name: str, state: St) -> None:
        """Refuse (OptimizerError) a loaded state this optimizer cannot step from; the default accepts any."""

    @classmethod
    def _state_class(cls) -> type[Any]:
        """The per-parameter state dataclass: the ``St`` of ``class MyOptimizer(Optimizer[MyState])``."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                args = typing.get_args(base)
                if typing.get_origin(base) is Optimizer and args and isinstance(args[0], type) and args[0] is not Any:
                    return args[0]
        raise OptimizerError(
            f"{cls.__name__}: its state class is unknown; declare it as class {cls.__name__}(Optimizer[TheState])"
        )

    def _options(self) -> str:
        """The hyper-parameters for ``repr``."""
        return f"lr={self.lr}"

    def _decay(self) -> float:
        """The optimizer's own weight decay (a group's may differ)."""
        return float(getattr(self, "weight_decay", 0.0))

    @property
    def frozen(self) -> tuple[str, ...]:
        """The dotted names of the frozen parameters (never updated, no gradient needed)."""
        return tuple(name for name, _, _ in self._layout if name in self._frozen)

    def alloc_grads(self) -> Gradients:
        """A Gradients keeping the gradient of every trained (not frozen) parameter: ``model.alloc_grads()``
        without the frozen ones, whose gradients backward then does not compute (PyTorch's
        ``requires_grad=False``) and ``clip_grad_norm`` does not count."""
        grads = Gradients()
        for name, _, _ in self._layout:
            t = self._owned[name]()
            if t is not None and name not in self._frozen:
                grads.alloc(t)
        return grads

    # ---- saving and restoring the state (``_state``, ``_state_file``) ---------------------------------

    def state_dict(self, *, scheduler: LRScheduler | None = None) -> dict[str, object]:
        """The optimizer's type, hyper-parameters, ``steps``, parameters, groups, frozen set and every
        parameter's state (fresh arrays), as a flat mapping (see ``typedtensor.optim._state``); with
        ``scheduler=`` (built on this optimizer) its ``state_dict()`` too, under ``scheduler.``."""
        from . import _state

        return _state.state_dict(self, scheduler, f"{type(self).__name__}.state_dict")

    def load_state_dict(self, state: Mapping[str, object], *, scheduler: LRScheduler | None = None) -> None:
        """Restore what ``state_dict()`` returned: everything checked first (type, parameters, groups,
        frozen set, states, hyper-parameters, the scheduler's position), then applied at once; a refused
        state changes nothing (CheckpointError, ShapeError or DTypeError saying what differs)."""
        from . import _state

        where = f"{type(self).__name__}.load_state_dict"
        _state.apply(self, _state.stage(self, state, scheduler, where))

    def save_npz(self, path: str | os.PathLike[str], *, scheduler: LRScheduler | None = None) -> None:
        """Write ``state_dict(scheduler=scheduler)`` to an ``.npz`` file, atomically (as ``Module.save_npz``)."""
        from . import _state_file

        _state_file.save(self, path, scheduler, "npz")

    def load_npz(
        self, path: str | os.PathLike[str], *, scheduler: LRScheduler | None = None, max_bytes: int | None = None
    ) -> None:
        """Load a file ``save_npz`` wrote: validated whole (``load_state_dict``'s checks, the file's size against
        ``max_bytes``, default 1 GiB or four times the parameters' size, each tensor's header before its data),
        then applied at once."""
        from . import _state_file

        _state_file.load(self, path, scheduler, max_bytes, "npz")

    def save_safetensors(self, path: str | os.PathLike[str], *, scheduler: LRScheduler | None = None) -> None:
        """Write ``state_dict(scheduler=scheduler)`` to a ``.safetensors`` file, atomically (needs ``safetensors``)."""
        from . import _state_file

        _state_file.save(self, path, scheduler, "safetensors")

    def load_safetensors(
        self, path: str | os.PathLike[str], *, scheduler: LRScheduler | None = None, max_bytes: int | None = None
    ) -> None:
        """Load a file ``save_safetensors`` wrote, as ``load_npz``."""
        from . import _state_file

        _state_file.load(self, path, scheduler, max_bytes, "safetensors")

    # ---- the update -----------------------------------------------------------------------------

    def update(self, model: Module, grads: Gradients) -> None:
        """Apply one step to every parameter of ``model`` with its gradient in ``grads``; all or nothing."""
        self._validate()
        work = self._gather(model, grads)
        staged: list[tuple[str, Tensor[Any, Any, Any], Array, St]] = []
        with np.errstate(all="ignore"):  # overflow is reported below, with the parameter's name
            hyper, lr, wd = self._hyper, self.lr, self._decay()
            for name, t, g in work:
                h = hyper.get(name)
                if h is None:
                    value, state = self._step(ext.data(t), g, self._state.get(name))
                else:
                    decay = wd if h.weight_decay is None else h.weight_decay
                    value, state = self._step_group(ext.data(t), g, self._state.get(name), lr * h.lr_scale, decay)
                staged.append((name, t, value, state))
        for name, _, value, _ in staged:
            if not np.isfinite(value).all():  # (the method: less dispatch than np.all)
                raise OptimizerError(
                    f"{type(self).__name__}.update: the step would make parameter {name!r} NaN or infinite "
                    f"(lr={self.lr}); nothing was changed. Lower the learning rate or clip the gradients"
                )
        for name, t, value, state in staged:  # nothing is written unless every parameter passed
            ext.data_mut(t)[...] = value
            self._state[name] = state
        self.steps += 1

    def _gather(self, model: Module, grads: Gradients) -> list[tuple[str, Tensor[Any, Any, Any], Array]]:
        """Every (name, parameter, gradient in the parameter's dtype), after all the checks."""
        owner = type(self).__name__
        if not isinstance(grads, Gradients):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TapeError(
                f"{owner}.update(model, grads) needs the Gradients of a backward pass as grads, got "
                f"{type(grads).__name__}"
            )
        params = self._params(model, owner)
        missing: list[str] = []
        work: list[tuple[str, Tensor[Any, Any, Any], Array]] = []
        frozen = self._frozen
        for name, t in params:
            if name in frozen:
                continue
            g = ext.grad_array(grads, t)
            if g is None:
                missing.append(name)
                continue
            p = ext.data(t)
            if g.shape != p.shape:
                raise ShapeError(
                    f"{owner}.update: the gradient of {name!r} has shape {g.shape}, the parameter {p.shape}; "
                    "pass the Gradients of a backward pass through this model"
                )
            if g.dtype.kind != "f":
                raise DTypeError(f"{owner}.update: the gradient of {name!r} has dtype {g.dtype}, a float is expected")
            if not np.isfinite(g).all():
                raise OptimizerError(
                    f"{owner}.update: the gradient of {name!r} holds NaN or infinite values; nothing was changed. "
                    "Check the loss (lower the learning rate, clip the gradients) and zero the gradients "
                    "(grads.zero()) before the next backward pass"
                )
            if not p.flags.writeable:
                raise OptimizerError(
                    f"{owner}.update: parameter {name!r} is read-only; the model must own writable parameter arrays"
                )
            work.append((name, t, g if g.dtype == p.dtype else g.astype(p.dtype)))
        if missing:
            raise MissingGradientError(
                f"{owner}.update: grads has no gradient for parameter{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; nothing was changed. Allocate every parameter's gradient with "
                "grads = model.alloc_grads() and trace the input with x.trace(grads) before the forward pass "
                "(a parameter that does not reach the loss then gets a zero gradient), or freeze the parameters "
                f"that are not trained: {owner}(model, ..., frozen=[submodule])"
            )
        return work

    def _params(self, model: Module, owner: str) -> list[tuple[str, Tensor[Any, Any, Any]]]:
        """The model's parameters, checked to be the optimizer's: walked, or the last walk's while its snapshot holds."""
        walked = self._walked
        if walked is not None and walked[0]() is model and walked[1].valid():
            params: list[tuple[str, Tensor[Any, Any, Any]]] = []
            for name, shape, dtype in self._layout:
                t = self._owned[name]()
                if t is None or ext.data(t).shape != shape or ext.data(t).dtype != dtype:
                    break  # the full checks below say what is wrong
                params.append((name, t))
            else:
                return params
        self._walked = None
        params = _parameters(model, owner)
        self._check_layout(params)
        snap = snapshot(model)
        if snap is not None:
            self._walked = (weakref.ref(model), snap)
        return params

    def _check_layout(self, params: list[tuple[str, Tensor[Any, Any, Any]]]) -> None:
        owner = type(self).__name__
        expected = {name: (shape, dtype) for name, shape, dtype in self._layout}
        got = {name: (ext.data(t).shape, ext.data(t).dtype) for name, t in params}
        if expected.keys() != got.keys():
            missing = [n for n in expected if n not in got]
            unexpected = [n for n in got if n not in expected]
            raise OptimizerError(
                f"{owner}.update: this model's parameters differ from those the optimizer was built for: "
                f"missing {missing}, unexpected {unexpected}; pass the model given to {owner}(...), or build a new "
                f"{owner} for this model"
            )
        for name, (shape, dtype) in got.items():
            want_shape, want_dtype = expected[name]
            if (shape, dtype) != (want_shape, want_dtype):
                raise OptimizerError(
                    f"{owner}.update: parameter {name!r} is {dtype} of shape {shape} but the optimizer was built "
                    f"for {want_dtype} of shape {want_shape}; build a new {owner} for this model"
                )
        self._check_owned(params)

    def _check_owned(self, params: list[tuple[str, Tensor[Any, Any, Any]]]) -> None:
        """Each parameter must be the tensor the optimizer was built for (its state belongs to that tensor)."""
        owner = type(self).__name__
        foreign = [name for name, t in params if self._owned[name]() is not t]
        if not foreign:
            return
        if len(foreign) == len(params):
            what = f"none of this model's parameters is a tensor this {owner} was built for (another model?)"
        else:
            names = ", ".join(map(repr, foreign))
            what = (
                f"parameter{'s' if len(foreign) > 1 else ''} {names} "
                f"{'are not the tensors' if len(foreign) > 1 else 'is not the tensor'} this {owner} was built for "
                "(replaced by assignment?)"
            )
        raise OptimizerError(
            f"{owner}.update: {what}; nothing was changed. An optimizer belongs to the parameters it was built for "
            f"(its state, such as momentum buffers and moments, is theirs): pass the model given to {owner}(...), or "
            f"build a new {owner} for this model. To put other values into the trained model's parameters, use "
            "model.load_state_dict(...), which writes into its tensors and keeps them"
        )

    def __repr__(self) -> str:
        extra = describe(self._hyper, self._frozen)
        return (
            f"{type(self).__name__}({self._options()}, parameters={len(self._layout)}{', ' + extra if extra else ''}, "
            f"steps={self.steps})"
        )
