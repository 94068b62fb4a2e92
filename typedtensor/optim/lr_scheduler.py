"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s names, arguments and values.

::

    opt = tt.optim.SGD(model, lr=0.1, momentum=0.9)
    warmup = tt.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=95)
    sched = tt.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[5])
    for x, y in batches:
        ...
        opt.update(model, grads)
        sched.step()  # after the update, as in PyTorch

A scheduler writes ``opt.lr`` (the schedule's value for the next update) when it is built and at
each ``step()``. The values are PyTorch's over a run, to the last bit in float64 arithmetic: each
``step()`` uses the same recursive ("chainable") formula as PyTorch, from the optimizer's current
``lr``, so the floating-point rounding is the same; a change of ``opt.lr`` by hand between steps
is carried on, as in PyTorch. ``SequentialLR`` starts a scheduler at its milestone with the closed
form, as PyTorch does.

What differs from PyTorch:

* One learning rate per optimizer (parameter groups train at factors of it, ``ParamGroup.lr_scale``):
  ``get_last_lr()`` is a one-element list, as PyTorch's is for one group; ``OneCycleLR``'s
  ``max_lr``, ``base_momentum`` and ``max_momentum`` are numbers, not lists. A group trains at
  ``lr_scale`` times the schedule's value, so its ``max_lr`` and ``eta_min`` are ``lr_scale`` times
  the given ones too (PyTorch gives every group the same scalar ``max_lr`` and ``eta_min``; its
  equivalent is ``max_lr=[max_lr * lr_scale for each group]``). The multiplicative schedules
  (StepLR, MultiStepLR, ExponentialLR, LinearLR, CosineAnnealingLR with ``eta_min=0``) equal PyTorch's
  per-group values.
* No ``last_epoch`` constructor argument and no ``step(epoch)``: to resume, build the scheduler
  with the same arguments and load its position with the optimizer's, in one file:
  ``opt.save_npz(path, scheduler=sched)`` then, on fresh objects, ``opt.load_npz(path, scheduler=sched)``
  (the optimizer's state holds ``lr``, ``betas``, ``momentum``; or ``sched.load_state_dict`` on its own).
  Loading does not write ``opt.lr``, as in PyTorch.
* ``state_dict()`` is a flat mapping of names to ints, floats and strs (file formats store it as
  is): the class, its arguments and its position. ``load_state_dict`` refuses (CheckpointError) a
  state of another class or other arguments, and changes nothing then.
* Arguments PyTorch lets through and then divides by zero or trains backwards with are refused
  with a :class:`SchedulerError`: ``step_size``, ``T_max``, ``total_iters`` not positive ints,
  ``gamma <= 0``, milestones not increasing (SequentialLR's also >= 1), ``eta_min < 0``, one scheduler
  twice in a SequentialLR, a SequentialLR inside another; and a ``OneCycleLR`` whose
  ``pct_start * total_steps`` makes a phase that is reached empty (PyTorch's ZeroDivisionError).
* ``OneCycleLR`` cycles the momentum as PyTorch does (``cycle_momentum=True`` by default): Adam's
  and AdamW's ``betas[0]`` or SGD's ``momentum`` is written with the learning rate. Another
  optimizer needs ``cycle_momentum=False``.

Every scheduler remembers, for its optimizer, the learning rate the first scheduler built on it
found (PyTorch's ``initial_lr``): a second scheduler built on the same optimizer (as the parts of
a ``SequentialLR`` are) starts from it, not from the first one's changed ``lr``.
"""

from __future__ import annotations

import math
import weakref
from abc import abstractmethod
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import CheckpointError
from ._adam import Adam
from ._base import Optimizer, OptimizerError
from ._schedule import LRScheduler, State, Value
from ._sgd import SGD

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "SchedulerError",
    "SequentialLR",
    "StepLR",
]


class SchedulerError(OptimizerError):
    """An invalid scheduler argument, or a step the schedule does not have (past OneCycleLR's total_steps)."""


#: The learning rate each optimizer had when its first scheduler was built (PyTorch's ``initial_lr``).
_INITIAL_LR: weakref.WeakKeyDictionary[Optimizer[Any], float] = weakref.WeakKeyDictionary()


def _optimizer(optimizer: Optimizer[Any], owner: str) -> Optimizer[Any]:
    if not isinstance(optimizer, Optimizer):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise SchedulerError(
            f"{owner} needs a typedtensor.optim optimizer (SGD, Adam, AdamW) as its first argument, got "
            f"{type(optimizer).__name__}; build the optimizer from the model first: "
            f"opt = tt.optim.SGD(model, lr=0.1); {owner}(opt, ...)"
        )
    return optimizer


def _lr(optimizer: Optimizer[Any], owner: str) -> float:
    """The optimizer's current learning rate, checked (it may have been set by hand)."""
    return ext.options.non_negative(
        optimizer.lr, "the optimizer's lr", owner, fix="set opt.lr to a number >= 0", error=SchedulerError
    )


def _scalar(state: Mapping[str, object], key: str, owner: str) -> Value:
    """``state[key]`` as a Python int, float or str (a file's 0-d array or NumPy scalar becomes its item)."""
    value: object = state[key]
    array = cast("NDArray[Any]", value) if isinstance(value, np.ndarray) else None
    if array is not None and array.ndim == 0:
        value = cast("object", array.item())
    elif isinstance(value, np.generic):
        value = cast("object", value.item())
    if not isinstance(value, (int, float, str)):
        raise CheckpointError(
            f"{owner}.load_state_dict: {key} must be an int, a float or a str, got {type(state[key]).__name__}; "
            "pass the state_dict() the scheduler returned (or what a file read back from it)"
        )
    return value


def _check_keys(state: object, expected: Sequence[str], owner: str) -> Mapping[str, object]:
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{owner}.load_state_dict needs the mapping state_dict() returned, got {type(state).__name__}"
        )
    state = cast("Mapping[object, object]", state)
    keys = set(state)
    missing = [k for k in expected if k not in keys]
    unexpected = sorted(repr(k) for k in keys if k not in set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{owner}.load_state_dict: the state does not fit this scheduler: missing keys {missing}, unexpected "
            f"keys [{', '.join(unexpected)}]; pass the state_dict() of a {owner} built with the same arguments"
        )
    return cast("Mapping[str, object]", state)


class _Schedule(LRScheduler):
    """A schedule of its own (every class but SequentialLR): a recursive step and a closed form."""

    #: The learning rate the schedule starts from (PyTorch's base_lrs, for one group).
    base_lr: float
    #: OneCycleLR sets the optimizer's initial learning rate itself; the others keep the first one's.
    _sets_initial_lr: ClassVar[bool] = False

    def __init__(self, optimizer: Optimizer[Any], initial_lr: float | None = None) -> None:
        owner = type(self).__name__
        self.optimizer = _optimizer(optimizer, owner)
        current = _lr(self.optimizer, owner)
        if initial_lr is None:
            initial_lr = _INITIAL_LR.get(self.optimizer, current)
        self.base_lr = initial_lr
        self.last_epoch = -1
        lr = self._next(0, current, initial=True)  # may refuse: nothing is changed before this
        if self._sets_initial_lr:
            _INITIAL_LR[self.optimizer] = initial_lr
        else:
            _INITIAL_LR.setdefault(self.optimizer, initial_lr)
        self.last_epoch = 0
        self._write(lr)

    # ---- what a schedule defines --------------------------------------------------------------------

    @abstractmethod
    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        """The learning rate at ``epoch`` from the current ``lr`` (PyTorch's get_lr); ``initial`` at construction."""

    def _closed_form(self, epoch: int) -> float:
        """The learning rate at ``epoch`` from ``base_lr`` alone (used by SequentialLR at a milestone)."""
        return self._next(epoch, _lr(self.optimizer, type(self).__name__), initial=False)

    def _config(self) -> State:
        """The constructor's arguments, as stored in the state."""
        return {}

    # ---- stepping -----------------------------------------------------------------------------------

    def _write(self, lr: float) -> None:
        self.optimizer.lr = lr
        self._last_lr = lr

    def _restart(self) -> None:
        """PyTorch's _initial_step: the construction's step again (SequentialLR's first scheduler)."""
        epoch = self.last_epoch + 1
        lr = self._next(epoch, _lr(self.optimizer, type(self).__name__), initial=True)
        self.last_epoch = epoch
        self._write(lr)

    def step(self) -> None:
        epoch = self.last_epoch + 1
        lr = self._next(epoch, _lr(self.optimizer, type(self).__name__), initial=False)  # may refuse: no change
        self.last_epoch = epoch
        self._write(lr)

    def _jump(self, epoch: int) -> None:
        """PyTorch's _update_lr(epoch): the closed form at ``epoch`` (SequentialLR at a milestone)."""
        lr = self._closed_form(epoch)
        self.last_epoch = epoch
        self._write(lr)

    # ---- state --------------------------------------------------------------------------------------

    def state_dict(self) -> State:
        state: State = {"type": type(self).__name__}
        state.update(self._config())
        state.update({"last_epoch": self.last_epoch, "base_lr": self.base_lr, "last_lr": self._last_lr})
        return state

    def _parse(self, state: object, owner: str, *, waiting: bool = False) -> tuple[int, float, float]:
        """The position in ``state``, after checking that it is this scheduler's (nothing is changed).

        ``waiting``: a part of a SequentialLR, whose last_epoch is -1 until its milestone.
        """
        own = self.state_dict()
        given = _check_keys(state, list(own), owner)
        name = type(self).__name__
        kind = _scalar(given, "type", owner)
        if kind != name:
            raise CheckpointError(
                f"{owner}.load_state_dict: the state is of a {kind!r}, this scheduler is a {name}; load it into "
                f"a {kind} built with the same arguments"
            )
        for key, value in self._config().items():
            got = _scalar(given, key, owner)
            if got != value or isinstance(got, str) != isinstance(value, str):
                raise CheckpointError(
                    f"{owner}.load_state_dict: the state was saved by a {name} with {key}={got!r}, this one has "
                    f"{key}={value!r}; build the {name} with the saved arguments to resume its schedule"
                )
        opts = ext.options
        raw = _scalar(given, "last_epoch", owner)
        epoch = opts.integer(raw)
        if epoch is None or epoch < (-1 if waiting else 0):
            low = "an int >= -1" if waiting else "a non-negative int"
            raise CheckpointError(f"{owner}.load_state_dict: last_epoch must be {low}, got {raw!r}")
        base = opts.non_negative(
            _scalar(given, "base_lr", owner), "base_lr", f"{owner}.load_state_dict", error=CheckpointError
        )
        last = opts.non_negative(
            _scalar(given, "last_lr", owner), "last_lr", f"{owner}.load_state_dict", error=CheckpointError
        )
        self._check_epoch(epoch, owner)
        return epoch, base, last

    def _check_epoch(self, epoch: int, owner: str) -> None:
        """Refuse a loaded position the schedule does not have (OneCycleLR past total_steps)."""

    def _apply(self, position: tuple[int, float, float]) -> None:
        self.last_epoch, self.base_lr, self._last_lr = position

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        self._apply(self._parse(state, type(self).__name__))


def _positive_int(value: object, name: str, owner: str) -> int:
    return ext.options.positive_int(value, name, owner, error=SchedulerError)


def _gamma(value: object, owner: str) -> float:
    return ext.options.positive(
        value, "gamma", owner, why="the factor the learning rate is multiplied by", error=SchedulerError
    )


class StepLR(_Schedule):
    """``StepLR(optimizer, step_size, gamma=0.1)``: the learning rate times ``gamma`` every ``step_size`` steps.

    At step ``t`` (``last_epoch``): ``base_lr * gamma ** (t // step_size)``, computed as PyTorch does
    (the current ``lr`` times ``gamma`` when ``t`` is a multiple of ``step_size``).
    """

    def __init__(self, optimizer: Optimizer[Any], step_size: int, gamma: float = 0.1) -> None:
        _optimizer(optimizer, "StepLR")
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = _gamma(gamma, "StepLR")
        super().__init__(optimizer)

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        if epoch == 0 or epoch % self.step_size != 0:
            return lr
        return lr * self.gamma

    def _closed_form(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)

    def _config(self) -> State:
        return {"step_size": self.step_size, "gamma": self.gamma}


class MultiStepLR(_Schedule):
    """``MultiStepLR(optimizer, milestones, gamma=0.1)``: the learning rate times ``gamma`` at each milestone.

    ``milestones`` are increasing non-negative step counts; at step ``t`` the learning rate is
    ``base_lr * gamma ** (number of milestones <= t)``.
    """

    def __init__(self, optimizer: Optimizer[Any], milestones: Sequence[int], gamma: float = 0.1) -> None:
        _optimizer(optimizer, "MultiStepLR")
        self.milestones = _milestones(milestones, "MultiStepLR", minimum=0)
        self.gamma = _gamma(gamma, "MultiStepLR")
        self._at = frozenset(self.milestones)
        super().__init__(optimizer)

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        return lr * self.gamma if epoch in self._at else lr

    def _closed_form(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** bisect_right(self.milestones, epoch)

    def _config(self) -> State:
        return {"milestones": ",".join(map(str, self.milestones)), "gamma": self.gamma}


def _milestones(milestones: object, owner: str, *, minimum: int) -> list[int]:
    """Strictly increasing ints >= ``minimum``, as a list."""
    what = f"{owner}: milestones must be a list of increasing ints >= {minimum}"
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise SchedulerError(f"{what}, got {milestones!r}; pass e.g. milestones=[30, 80]")
    items = cast("Sequence[object]", milestones)
    out: list[int] = []
    for item in items:
        number = ext.options.integer(item)
        if number is None or number < minimum:
            raise SchedulerError(f"{what}, got {list(items)!r} (the entry {item!r}); pass e.g. milestones=[30, 80]")
        if out and number <= out[-1]:
            raise SchedulerError(
                f"{what}, got {list(items)!r} ({number} after {out[-1]}); sort them and drop repeats"
                + (
                    " (a repeated milestone in PyTorch multiplies by gamma twice: pass gamma**2 instead)"
                    if number == out[-1]
                    else ""
                )
            )
        out.append(number)
    return out


class ExponentialLR(_Schedule):
    """``ExponentialLR(optimizer, gamma)``: the learning rate times ``gamma`` at every step."""

    def __init__(self, optimizer: Optimizer[Any], gamma: float) -> None:
        _optimizer(optimizer, "ExponentialLR")
        self.gamma = _gamma(gamma, "ExponentialLR")
        super().__init__(optimizer)

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        return lr if initial else lr * self.gamma

    def _closed_form(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch

    def _config(self) -> State:
        return {"gamma": self.gamma}


class CosineAnnealingLR(_Schedule):
    """``CosineAnnealingLR(optimizer, T_max, eta_min=0.0)``: half a cosine from ``base_lr`` down to ``eta_min``.

    At step ``t``: ``eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``, reached at
    ``t = T_max`` and then rising again (period ``2 * T_max``), as PyTorch's (which it equals to the
    bit: each step is PyTorch's recursive update of the current ``lr``).
    """

    def __init__(self, optimizer: Optimizer[Any], T_max: int, eta_min: float = 0.0) -> None:
        _optimizer(optimizer, "CosineAnnealingLR")
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = ext.options.non_negative(
            eta_min, "eta_min", "CosineAnnealingLR", why="the lowest learning rate", error=SchedulerError
        )
        super().__init__(optimizer)

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        t, low = self.T_max, self.eta_min
        if initial:
            return lr
        if (epoch - 1 - t) % (2 * t) == 0:  # the cosine's minimum was the last step: the recursion divides by 0
            return lr + (self.base_lr - low) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * epoch / t)) / (1 + math.cos(math.pi * (epoch - 1) / t)) * (lr - low) + low

    def _closed_form(self, epoch: int) -> float:
        low = self.eta_min
        return low + (self.base_lr - low) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2

    def _config(self) -> State:
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class LinearLR(_Schedule):
    """``LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5)``: a linear ramp of the factor.

    At step ``t``: ``base_lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) /
    total_iters)`` (a warmup with the defaults), through PyTorch's recursive update.
    ``start_factor`` is in (0, 1], ``end_factor`` in [0, 1].
    """

    def __init__(
        self, optimizer: Optimizer[Any], start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
    ) -> None:
        owner = "LinearLR"
        _optimizer(optimizer, owner)
        start = ext.options.real(start_factor, "start_factor", owner, error=SchedulerError)
        if not 0.0 < start <= 1.0:
            raise SchedulerError(
                f"{owner}: start_factor must be in (0, 1] (the first step's fraction of the learning rate), got "
                f"{start_factor!r}; for a warmup from 10% pass start_factor=0.1"
            )
        self.start_factor = start
        self.end_factor = ext.options.unit(end_factor, "end_factor", owner, error=SchedulerError)
        self.total_iters = _positive_int(total_iters, "total_iters", owner)
        super().__init__(optimizer)

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        start, end = self.start_factor, self.end_factor
        if epoch == 0:
            return lr * start
        if initial or epoch > self.total_iters:
            return lr
        return lr * (1.0 + (end - start) / (self.total_iters * start + (epoch - 1) * (end - start)))

    def _closed_form(self, epoch: int) -> float:
        start, end = self.start_factor, self.end_factor
        return self.base_lr * (start + (end - start) * min(self.total_iters, epoch) / self.total_iters)

    def _config(self) -> State:
        return {"start_factor": self.start_factor, "end_factor": self.end_factor, "total_iters": self.total_iters}


def _momentum(value: object, name: str) -> float:
    number = ext.options.real(value, name, "OneCycleLR", error=SchedulerError)
    if not 0.0 <= number < 1.0:
        raise SchedulerError(
            f"OneCycleLR: {name} must be in [0, 1) (it becomes SGD's momentum or Adam's betas[0]), got {value!r}"
        )
    return number


class OneCycleLR(_Schedule):
    """``OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
    anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
    final_div_factor=1e4, three_phase=False)``: the 1cycle policy.

    The learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start``
    of ``total_steps`` (or ``epochs * steps_per_epoch``) and falls to ``max_lr / div_factor /
    final_div_factor`` by the last step (``three_phase``: falls back to the start first, over as many
    steps, then to the minimum), along a cosine (``anneal_strategy='cos'``) or a line (``'linear'``).
    With ``cycle_momentum`` the momentum moves the other way, between ``max_momentum`` and
    ``base_momentum``: written into Adam's/AdamW's ``betas[0]`` or SGD's ``momentum`` (any other
    optimizer needs ``cycle_momentum=False``). The learning rate replaces the optimizer's ``lr`` at
    construction. ``step()`` may be called ``total_steps`` times; one more raises SchedulerError, as
    PyTorch raises.
    """

    _sets_initial_lr: ClassVar[bool] = True

    def __init__(
        self,
        optimizer: Optimizer[Any],
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        owner = "OneCycleLR"
        opts, err = ext.options, SchedulerError
        opt = _optimizer(optimizer, owner)
        if total_steps is not None:
            self.total_steps = opts.positive_int(total_steps, "total_steps", owner, error=err)
        elif epochs is not None and steps_per_epoch is not None:
            n = opts.positive_int(epochs, "epochs", owner, error=err)
            self.total_steps = n * opts.positive_int(steps_per_epoch, "steps_per_epoch", owner, error=err)
        else:
            raise SchedulerError(
                f"{owner} needs the length of the cycle: total_steps, or epochs and steps_per_epoch, got "
                f"total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}; pass e.g. "
                "total_steps=len(batches) * epochs"
            )
        self.max_lr = opts.positive(max_lr, "max_lr", owner, error=err)
        self.pct_start = opts.unit(pct_start, "pct_start", owner, error=err)
        if anneal_strategy not in ("cos", "linear"):
            raise SchedulerError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy: Literal["cos", "linear"] = anneal_strategy
        self.cycle_momentum = opts.flag(cycle_momentum, "cycle_momentum", owner, error=err)
        self.base_momentum = _momentum(base_momentum, "base_momentum")
        self.max_momentum = _momentum(max_momentum, "max_momentum")
        self.div_factor = opts.positive(div_factor, "div_factor", owner, error=err)
        self.final_div_factor = opts.positive(final_div_factor, "final_div_factor", owner, error=err)
        self.three_phase = opts.flag(three_phase, "three_phase", owner, error=err)
        if self.cycle_momentum and not isinstance(opt, (Adam, SGD)):
            raise SchedulerError(
                f"{owner}: cycle_momentum needs an optimizer with a momentum (SGD) or betas (Adam, AdamW), got "
                f"{type(opt).__name__}; pass cycle_momentum=False"
            )
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        lo, hi, m_lo, m_hi = self.initial_lr, self.max_lr, self.base_momentum, self.max_momentum
        total, pct = self.total_steps, self.pct_start
        #: (last step, start lr, end lr, start momentum, end momentum) of each phase, as PyTorch's.
        self._phases: list[tuple[float, float, float, float, float]] = (
            [
                (float(pct * total) - 1, lo, hi, m_hi, m_lo),
                (float(2 * pct * total) - 2, hi, lo, m_lo, m_hi),
                (total - 1, lo, self.min_lr, m_hi, m_hi),
            ]
            if self.three_phase
            else [(float(pct * total) - 1, lo, hi, m_hi, m_lo), (total - 1, hi, self.min_lr, m_lo, m_hi)]
        )
        super().__init__(opt, self.initial_lr)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, epoch: int) -> tuple[float, float]:
        """The learning rate and momentum at ``epoch``."""
        if epoch > self.total_steps:
            raise SchedulerError(
                f"OneCycleLR: step {epoch} is past the cycle's end: total_steps is {self.total_steps} (step() may be "
                "called total_steps times after construction); build the scheduler with the run's number of updates "
                "(total_steps, or epochs and steps_per_epoch)"
            )
        start = 0.0
        last = len(self._phases) - 1
        for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(self._phases):
            if epoch <= end or i == last:
                if end == start:
                    raise SchedulerError(
                        f"OneCycleLR: pct_start={self.pct_start} with total_steps={self.total_steps} makes phase "
                        f"{i + 1} of the cycle empty where step {epoch} falls in it (PyTorch divides by zero there); "
                        "choose a pct_start for which pct_start * total_steps is not 1"
                        + (" and pct_start < 1" if i == last else "")
                    )
                pct = (epoch - start) / (end - start)
                return self._anneal(lr_a, lr_b, pct), self._anneal(m_a, m_b, pct)
            start = end
        raise AssertionError("unreachable: the last phase is always taken")  # pragma: no cover

    def _next(self, epoch: int, lr: float, *, initial: bool) -> float:
        return self._at(epoch)[0]

    def _write(self, lr: float) -> None:
        super()._write(lr)
        if self.cycle_momentum:
            momentum = self._at(self.last_epoch)[1]
            if isinstance(self.optimizer, Adam):
                self.optimizer.betas = (momentum, self.optimizer.betas[1])
            elif isinstance(self.optimizer, SGD):
                self.optimizer.momentum = momentum

    def _check_epoch(self, epoch: int, owner: str) -> None:
        if epoch > self.total_steps:
            raise CheckpointError(
                f"{owner}.load_state_dict: the state's last_epoch {epoch} is past total_steps={self.total_steps}; "
                "load a state saved by this schedule"
            )

    def _config(self) -> State:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "cycle_momentum": self.cycle_momentum,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


class SequentialLR(LRScheduler):
    """``SequentialLR(optimizer, schedulers, milestones)``: each scheduler in turn, the next from its milestone.

    ``schedulers`` are built on ``optimizer`` (their construction already stepped them, as in
    PyTorch: SequentialLR takes that back and restarts the first); ``milestones`` are the increasing
    step counts at which the next one takes over, starting from its own step 0 (its closed form, as
    PyTorch). A warmup then a cosine::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, cosine], milestones=[5])
    """

    def __init__(self, optimizer: Optimizer[Any], schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        owner = "SequentialLR"
        self.optimizer = _optimizer(optimizer, owner)
        given = cast("object", schedulers)  # whatever the caller passed
        if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or not given:
            raise SchedulerError(
                f"{owner}: schedulers must be a non-empty list of schedulers, got {schedulers!r}; pass e.g. "
                "[LinearLR(opt, ...), CosineAnnealingLR(opt, ...)]"
            )
        parts: list[_Schedule] = []
        for i, s in enumerate(cast("Sequence[object]", given)):
            if not isinstance(s, _Schedule):
                nested = isinstance(s, SequentialLR)
                raise SchedulerError(
                    f"{owner}: schedulers[{i}] must be a scheduler of tt.optim.lr_scheduler other than SequentialLR, "
                    f"got {type(s).__name__}"
                    + ("; list the inner schedulers in the outer SequentialLR instead" if nested else "")
                )
            if s.optimizer is not self.optimizer:
                raise SchedulerError(
                    f"{owner}: schedulers[{i}] ({type(s).__name__}) schedules another optimizer than the one given; "
                    "build every scheduler on the optimizer passed to SequentialLR"
                )
            if any(s is p for p in parts):
                raise SchedulerError(
                    f"{owner}: schedulers[{i}] is also an earlier entry of the list; each part of the sequence must "
                    f"be its own scheduler: build another {type(s).__name__} for it"
                )
            parts.append(s)
        ms = _milestones(milestones, owner, minimum=1)
        if len(ms) != len(parts) - 1:
            raise SchedulerError(
                f"{owner}: {len(parts)} schedulers need {len(parts) - 1} milestones (the steps where the next one "
                f"starts), got {len(ms)}: {ms}"
            )
        self._schedulers = parts
        self._milestones = ms
        self.last_epoch = 0
        self.optimizer.lr = _INITIAL_LR.get(self.optimizer, _lr(self.optimizer, owner))
        for s in parts:  # undo the step each construction made
            s.last_epoch -= 1
        parts[0]._restart()
        self._last_lr = parts[0]._last_lr

    def step(self) -> None:
        epoch = self.last_epoch + 1
        idx = bisect_right(self._milestones, epoch)
        part = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == epoch:
            part._jump(0)
        else:
            part.step()
        self.last_epoch = epoch
        self._last_lr = part._last_lr

    def state_dict(self) -> State:
        state: State = {
            "type": "SequentialLR",
            "milestones": ",".join(map(str, self._milestones)),
            "last_epoch": self.last_epoch,
            "last_lr": self._last_lr,
        }
        for i, s in enumerate(self._schedulers):
            state.update({f"schedulers.{i}.{k}": v for k, v in s.state_dict().items()})
        return state

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        owner = "SequentialLR"
        given = _check_keys(state, list(self.state_dict()), owner)
        for key in ("type", "milestones"):
            got, own = _scalar(given, key, owner), self.state_dict()[key]
            if got != own:
                raise CheckpointError(
                    f"{owner}.load_state_dict: the state has {key}={got!r}, this scheduler {key}={own!r}; load a "
                    "state saved by a SequentialLR built with the same schedulers and milestones"
                )
        where = f"{owner}.load_state_dict"
        epoch = ext.options.count(_scalar(given, "last_epoch", owner), "last_epoch", where, error=CheckpointError)
        last = ext.options.non_negative(_scalar(given, "last_lr", owner), "last_lr", where, error=CheckpointError)
        positions = [
            s._parse(
                {k[len(f"schedulers.{i}.") :]: v for k, v in given.items() if k.startswith(f"schedulers.{i}.")},
                f"{owner}.schedulers[{i}]",
                waiting=True,
            )
            for i, s in enumerate(self._schedulers)
        ]
        for s, position in zip(self._schedulers, positions, strict=True):  # everything checked: now apply
            s._apply(position)
        self.last_epoch, self._last_lr = epoch, last
