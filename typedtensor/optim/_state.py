"""An optimizer's state as a flat mapping, and restoring it all or nothing: ``state_dict``/``load_state_dict``.

The mapping (``state_dict()``), flat as the schedulers' (a file stores it as it is: arrays as tensors,
the rest as metadata, see ``_state_file``):

* ``type``: the optimizer's class name (``"Adam"``); ``steps``: how many updates were applied;
* ``hparams.<name>``: each hyper-parameter of ``hparam_names`` (``hparams.lr``, ``hparams.betas``...);
* ``param.<dotted name>``: ``(shape, dtype name)`` of each parameter the optimizer was built for;
* ``group.<dotted name>``: ``(lr_scale, weight_decay or None)`` of each grouped parameter; ``frozen``: the
  frozen parameters' names;
* ``state.<dotted name>.<field>``: each parameter's state, one entry per field of its state dataclass
  that is not None: a fresh array in the parameter's shape and dtype, or an int (Adam's ``step``);
* ``scheduler.<key>``: with ``scheduler=``, that scheduler's ``state_dict()``.

Loading checks everything before changing anything: the type, the parameters (names, shapes, dtypes:
the optimizer's own), the groups and the frozen set (a file of an optimizer grouped or frozen otherwise
is refused: they are part of how the optimizer was built, like a module's structural settings, so a
resumed run trains with the recipe it was built with or says why not), ``steps`` and each state's
integers (non-negative), arrays (shape, dtype, finite) and the optimizer's own ``_check_state``, the
hyper-parameters through ``_validate`` (they are restored: schedulers change ``lr``, ``betas`` and
``momentum`` as training goes), and the scheduler's position (its own ``load_state_dict``, all or
nothing, which never writes ``opt.lr``). Then it assigns: hyper-parameters, ``steps``, the states
(copies: the mapping's arrays are not kept).

A state class is a dataclass whose fields are ints (counts) or arrays of the parameter's shape and dtype,
either possibly None (created lazily: AMSGrad's running max, SGD's momentum buffer); an optimizer
declares it as ``Optimizer[TheState]`` and gets all of the above.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import CheckpointError, DTypeError, ShapeError, TypedTensorError
from ..nn._io import _checkpoint as ck
from ._exceptions import OptimizerError

if TYPE_CHECKING:
    from ._base import Optimizer
    from ._schedule import LRScheduler

__all__ = ["Field", "Staged", "apply", "check_array", "check_header", "fields_of", "stage", "state_dict", "target"]

TYPE, STEPS, FROZEN = "type", "steps", "frozen"
HPARAM, PARAM, GROUP, STATE, SCHEDULER = "hparams.", "param.", "group.", "state.", "scheduler."
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclass(frozen=True)
class Field:
    """A field of a state dataclass: an int count or an array like the parameter; ``optional``: may be None."""

    name: str
    integer: bool
    optional: bool


def fields_of(cls: type[Any], owner: str) -> tuple[Field, ...]:
    """The fields of the state class ``cls`` (a dataclass of ints and arrays), from its type hints."""
    if not dataclasses.is_dataclass(cls):
        raise OptimizerError(
            f"{owner}: its state class {cls.__name__} is not a dataclass; saving and loading the state needs a "
            "dataclass whose fields are ints or arrays like the parameter (or None)"
        )
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError) as e:
        raise OptimizerError(
            f"{owner}: the type hints of its state class {cls.__name__} do not resolve ({e})"
        ) from None
    out: list[Field] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        kinds = [m for m in members if m is not type(None)]
        base = kinds[0] if len(kinds) == 1 else None
        if base is int:
            integer = True
        elif base is np.ndarray or typing.get_origin(base) is np.ndarray:
            integer = False
        else:
            raise OptimizerError(
                f"{owner}: field {f.name!r} of its state class {cls.__name__} is {hint}; a state field must be an "
                "int, an array like the parameter, or either of them | None"
            )
        out.append(Field(f.name, integer, len(kinds) != len(members)))
    return tuple(out)


# ---- saving --------------------------------------------------------------------------------------


def state_dict(opt: Optimizer[Any], scheduler: LRScheduler | None, where: str) -> dict[str, object]:
    """The flat mapping of the module docstring (fresh arrays)."""
    owner = type(opt).__name__
    fields = fields_of(opt._state_class(), owner)
    opt._validate()  # a hyper-parameter set by hand is checked now, not when the file is loaded back
    out: dict[str, object] = {TYPE: owner, STEPS: opt.steps}
    for name in opt.hparam_names:
        value = getattr(opt, name)
        ck.encode(value, name, where)  # refuses what a file cannot hold
        out[HPARAM + name] = value
    for name, shape, dtype in opt._layout:
        out[PARAM + name] = (shape, dtype.name)
    for name, _, _ in opt._layout:
        h = opt._hyper.get(name)
        if h is not None:
            out[GROUP + name] = (h.lr_scale, h.weight_decay)
    out[FROZEN] = opt.frozen
    for name, _, _ in opt._layout:
        st = opt._state.get(name)
        if st is None:
            continue
        for f in fields:
            value = getattr(st, f.name)
            if value is not None:
                out[f"{STATE}{name}.{f.name}"] = int(value) if f.integer else np.array(value, order="C", copy=True)
    if scheduler is not None:
        out.update({SCHEDULER + k: v for k, v in _scheduler(opt, scheduler, where).state_dict().items()})
    return out


def _scheduler(opt: Optimizer[Any], scheduler: object, where: str) -> LRScheduler:
    from ._schedule import LRScheduler

    if not isinstance(scheduler, LRScheduler):
        raise OptimizerError(
            f"{where}: scheduler must be a scheduler of tt.optim.lr_scheduler or None, got {type(scheduler).__name__}"
        )
    if scheduler.optimizer is not opt:
        raise OptimizerError(
            f"{where}: the scheduler given ({type(scheduler).__name__}) schedules another optimizer; pass the "
            "scheduler built on this one"
        )
    return scheduler


# ---- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """What a validated mapping assigns."""

    hparams: dict[str, object]
    steps: int
    states: dict[str, object]
    scheduler: LRScheduler | None
    scheduler_state: dict[str, object]


def target(opt: Optimizer[Any], key: str, fields: tuple[Field, ...], where: str) -> tuple[str, Field]:
    """The (parameter name, field) a ``state.<name>.<field>`` key is for, or a CheckpointError."""
    name, _, field = key[len(STATE) :].rpartition(".")
    match = [f for f in fields if f.name == field]
    # (opt._owned has the layout's names as keys: one lookup per key, not a set of every name per key)
    if not key.startswith(STATE) or name not in opt._owned or not match or name in opt._frozen:
        why = "a frozen parameter has no state" if name in opt._frozen else "no parameter or state field of that name"
        raise CheckpointError(
            f"{where}: unexpected key {key!r} ({why}); the {type(opt).__name__}'s state keys are "
            f"state.<parameter>.<field> with the fields {[f.name for f in fields]}; load the state of this "
            "optimizer's model"
        )
    return name, match[0]


def check_header(opt: Optimizer[Any], mapping: Mapping[str, object], where: str) -> dict[str, object]:
    """Everything but the states and the scheduler: type, layout, groups, frozen, steps, hyper-parameters.

    Returns the validated hyper-parameters (normalised by ``_validate``); changes nothing.
    """
    owner = type(opt).__name__
    kind = mapping.get(TYPE)
    if kind is None:
        raise CheckpointError(
            f"{where}: this is not an optimizer's state (it has no {TYPE!r} entry); pass what "
            f"{owner}.state_dict() returned, or a file written by {owner}.save_npz/save_safetensors"
        )
    if not isinstance(kind, str) or kind != owner:
        raise CheckpointError(
            f"{where}: the state was saved by {kind!r}, this optimizer is {owner}; load it into {kind}(model, ...) "
            "built with the same model, groups and frozen parameters"
        )
    known = {TYPE, STEPS, FROZEN, *(HPARAM + n for n in opt.hparam_names)}
    unexpected = sorted(k for k in mapping if k not in known and not k.startswith((PARAM, GROUP, STATE, SCHEDULER)))
    missing = [k for k in sorted(known) if k not in mapping]
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: the state does not fit a {owner}: missing keys {missing}, unexpected keys {unexpected}; "
            f"pass the state_dict() of a {owner} (or a file it saved)"
        )
    _check_layout(opt, mapping, where)
    _check_groups(opt, mapping, where)
    steps = ext.options.integer(mapping[STEPS])
    if steps is None or not 0 <= steps <= _INT64_MAX:
        raise CheckpointError(f"{where}: steps must be a non-negative int, got {_what(mapping[STEPS])}")
    return _hparams(opt, mapping, where)


def _check_layout(opt: Optimizer[Any], mapping: Mapping[str, object], where: str) -> None:
    owner = type(opt).__name__
    own = {PARAM + name: (shape, dtype.name) for name, shape, dtype in opt._layout}
    given = {k: v for k, v in mapping.items() if k.startswith(PARAM)}
    missing = [k[len(PARAM) :] for k in own if k not in given]
    unexpected = [k[len(PARAM) :] for k in given if k not in own]
    differ = [
        f"{k[len(PARAM) :]!r} is {_spec(given[k])} in the state, {_spec(v)} here"
        for k, v in own.items()
        if k in given and _plain_spec(given[k]) != _plain_spec(v)
    ]
    if missing or unexpected or differ:
        raise CheckpointError(
            f"{where}: the state is of an optimizer built for other parameters than this {owner}'s: parameters "
            f"missing {missing}, unexpected {unexpected}"
            + (f"; {'; '.join(differ)}" if differ else "")
            + f"; build the {owner} on the model the state was saved with (load the model's checkpoint first)"
        )


def _plain_spec(value: object) -> object:
    """A ``param.*`` entry as (tuple of ints, str), or None if it is not one."""
    if not isinstance(value, (tuple, list)) or len(cast("Any", value)) != 2:
        return None
    shape, dtype = cast("tuple[object, object]", tuple(cast("Any", value)))
    if not isinstance(shape, (tuple, list)) or not isinstance(dtype, str):
        return None
    dims = [ext.options.integer(d) for d in cast("list[object]", list(cast("Any", shape)))]
    return None if None in dims else (tuple(dims), dtype)


def _spec(value: object) -> str:
    plain = _plain_spec(value)
    if plain is None:
        return repr(value)
    shape, dtype = cast("tuple[tuple[int, ...], str]", plain)
    return f"{dtype} of shape {shape}"


def _check_groups(opt: Optimizer[Any], mapping: Mapping[str, object], where: str) -> None:
    owner = type(opt).__name__
    own = {GROUP + n: (h.lr_scale, h.weight_decay) for n, h in opt._hyper.items()}
    given = {k: v for k, v in mapping.items() if k.startswith(GROUP)}
    if {k: ck.plain(v) for k, v in given.items()} != {k: ck.plain(v) for k, v in own.items()}:
        diff = sorted(
            k[len(GROUP) :] for k in own.keys() | given.keys() if ck.plain(own.get(k)) != ck.plain(given.get(k))
        )
        raise CheckpointError(
            f"{where}: the state's parameter groups differ from this {owner}'s (lr_scale, weight_decay) for "
            f"{diff}: the state has {[given.get(GROUP + n) for n in diff]}, this optimizer "
            f"{[own.get(GROUP + n) for n in diff]}; build the {owner} with the groups it was saved with"
        )
    frozen = mapping[FROZEN]
    got = ck.plain(frozen)
    names = cast("list[object]", got) if isinstance(got, list) else [None]
    if not all(isinstance(n, str) for n in names) or sorted(cast("list[str]", names)) != sorted(opt.frozen):
        raise CheckpointError(
            f"{where}: the state's frozen parameters are {frozen!r}, this {owner}'s {opt.frozen!r}; build the "
            f"{owner} with the frozen=[...] it was saved with"
        )


def _hparams(opt: Optimizer[Any], mapping: Mapping[str, object], where: str) -> dict[str, object]:
    """The mapping's hyper-parameters as ``_validate`` normalises them (on a copy: this optimizer is unchanged)."""
    trial = copy.copy(opt)
    values: dict[str, object] = {}
    for name in opt.hparam_names:
        values[name] = mapping[HPARAM + name]
    vars(trial).update(values)
    try:
        trial._validate()
    except TypedTensorError as e:
        raise CheckpointError(f"{where}: the state's hyper-parameters are refused: {e}") from None
    return {name: getattr(trial, name) for name in opt.hparam_names}


def stage(opt: Optimizer[Any], mapping: object, scheduler: LRScheduler | None, where: str) -> Staged:
    """Validate a whole state mapping against ``opt`` (and ``scheduler``); changes nothing."""
    owner = type(opt).__name__
    if not isinstance(mapping, Mapping):
        raise CheckpointError(f"{where} needs the mapping {owner}.state_dict() returned, got {type(mapping).__name__}")
    given = cast("Mapping[object, object]", mapping)
    bad = [k for k in given if not isinstance(k, str)]
    if bad:
        raise CheckpointError(f"{where}: the state's keys must be strs, got {bad[:3]!r}")
    state = cast("Mapping[str, object]", given)
    hparams = check_header(opt, state, where)
    fields = fields_of(opt._state_class(), owner)
    layout = {name: (shape, dtype) for name, shape, dtype in opt._layout}
    values: dict[str, dict[str, object]] = {}
    for key, value in state.items():
        if key.startswith(STATE):
            name, field = target(opt, key, fields, where)
            shape, dtype = layout[name]
            values.setdefault(name, {})[field.name] = _value(key, value, field, shape, dtype, where)
    states: dict[str, object] = {}
    cls = opt._state_class()
    for name, got in values.items():
        missing = [f.name for f in fields if not f.optional and f.name not in got]
        if missing:
            raise CheckpointError(
                f"{where}: the state of {name!r} lacks {missing} (a {owner} state has {[f.name for f in fields]}); "
                "the state is damaged: save it again"
            )
        st = cls(**{f.name: got.get(f.name) for f in fields})
        try:
            opt._check_state(name, st)
        except TypedTensorError as e:
            raise CheckpointError(f"{where}: {e}") from None
        states[name] = st
    sched = {k[len(SCHEDULER) :]: v for k, v in state.items() if k.startswith(SCHEDULER)}
    if scheduler is not None:
        scheduler = _scheduler(opt, scheduler, where)
        if not sched:
            raise CheckpointError(
                f"{where}: the state holds no scheduler's position, but scheduler= was given; save it with "
                f"scheduler= too (opt.save_npz(path, scheduler=sched)), or load without scheduler="
            )
    elif sched:
        raise CheckpointError(
            f"{where}: the state holds the position of a {sched.get(TYPE, 'scheduler')!r} scheduler; pass that "
            "scheduler, built with the same arguments on this optimizer, as scheduler= to restore it"
        )
    return Staged(hparams, ext.options.count(state[STEPS], STEPS, where), states, scheduler, sched)


def _value(key: str, value: object, field: Field, shape: tuple[int, ...], dtype: np.dtype[Any], where: str) -> object:
    """One state entry checked: a non-negative int, or a finite array of the parameter's shape and dtype (a copy)."""
    if field.integer:
        arr = _array(value)
        raw: object = value
        if arr is not None and arr.size == 1 and arr.ndim <= 1:
            raw = cast("object", arr.reshape(()).item())
        n = ext.options.integer(raw)
        if n is None or not 0 <= n <= _INT64_MAX or (arr is not None and arr.dtype.kind not in "iu"):
            # DTypeError, as the file's header check and the module checkpoints' counters: one class for one mistake
            raise DTypeError(f"{where}: {key!r} must be a non-negative int (a count), got {_what(raw)}")
        return n
    if not isinstance(value, np.ndarray):
        raise CheckpointError(
            f"{where}: {key!r} must be a NumPy array ({dtype} of shape {shape}, like its parameter), got "
            f"{type(value).__name__}; pass the state_dict() the optimizer returned"
        )
    arr = cast("NDArray[Any]", value)
    check_array(key, arr.shape, arr.dtype, shape, dtype, where)
    if not np.isfinite(arr).all():
        raise CheckpointError(f"{where}: {key!r} holds NaN or infinite values; the state is damaged")
    return np.array(arr, dtype=dtype, order="C", copy=True)


def check_array(
    key: str, shape: tuple[int, ...], dtype: np.dtype[Any], want_shape: tuple[int, ...], want: np.dtype[Any], where: str
) -> None:
    """A state array's shape and dtype (a file's declared ones, before its data is read): its parameter's."""
    if shape != want_shape:
        raise ShapeError(
            f"{where}: {key!r} has shape {shape}, its parameter {want_shape}; load the state of this optimizer's model"
        )
    if dtype.newbyteorder("=") != want:
        raise DTypeError(
            f"{where}: {key!r} has dtype {dtype}, its parameter {want}; the state is kept in the parameter's dtype: "
            "load the state saved with the model in this dtype (or convert it with .astype)"
        )


def _array(value: object) -> NDArray[Any] | None:
    return cast("NDArray[Any]", value) if isinstance(value, np.ndarray) else None


def _what(value: object) -> str:
    arr = _array(value)
    if arr is not None:
        return f"an array of shape {arr.shape} and dtype {arr.dtype}"
    return repr(value)


def apply(opt: Optimizer[Any], staged: Staged) -> None:
    """Assign a validated state: the scheduler's position first (its own all-or-nothing load, the one step
    that may still refuse), then the hyper-parameters, ``steps`` and the states, which cannot fail."""
    if staged.scheduler is not None:
        staged.scheduler.load_state_dict(staged.scheduler_state)
    vars(opt).update(staged.hparams)
    opt.steps = staged.steps
    opt._state = cast("dict[str, Any]", dict(staged.states))
