"""A cheap proof that a module tree still has the structure an optimizer walked last time.

The walk (``named_parameters``: every module, every parameter once, tied ones under their first name)
is a noticeable part of an update on a small network at small batches. An optimizer keeps the walk's
result with a :class:`Snapshot` of what it depended on, and walks again whenever the snapshot no longer
matches. The snapshot records, for every distinct module of the tree: its class (and the class's
``param_names`` and ``buffer_names``), the attribute names in ``vars(module)`` order, the exact type of
every attribute's value, and, by weak reference, each value the walk reads by identity (a sub-module, a
parameter or buffer tensor, the modules in a list or tuple, with the types of all the items). Anything
the walk could see differently (an assigned, replaced, re-tied or removed parameter, an added or
replaced sub-module, a list changed in place, ``to_dtype``'s copy) therefore fails the match, and a dead
reference matches nothing. A tree the snapshot cannot describe (a parameter or buffer that is not in
``vars(module)``, such as a property; a class overriding the walk) is never cached: it is walked at
every update.

It holds weak references only, so the optimizer does not keep the model alive.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from operator import is_, methodcaller
from typing import Any, NamedTuple, cast

from ..nn._module import Module

__all__ = ["Snapshot", "snapshot"]

_Ref = weakref.ref[Any]
#: ``ref()`` for each ref, at C speed in a ``map``.
_deref = methodcaller("__call__")


class _Seq(NamedTuple):
    """A list or tuple attribute: its items' types, and its modules by position."""

    key: str
    types: tuple[type, ...]
    positions: tuple[int, ...]
    refs: tuple[_Ref, ...]


class _Record(NamedTuple):
    """One module as the walk saw it."""

    ref: weakref.ref[Module]
    cls: type[Module]
    param_names: tuple[str, ...]
    buffer_names: tuple[str, ...]
    keys: tuple[str, ...]
    types: tuple[type, ...]
    #: The attributes read by identity (sub-modules; parameter and buffer tensors) and their values.
    id_keys: tuple[str, ...]
    id_refs: tuple[_Ref, ...]
    seqs: tuple[_Seq, ...]


class Snapshot:
    """What a walk of a tree depended on (see the module docstring); ``valid()`` says it still holds."""

    __slots__ = ("_records",)

    def __init__(self, records: tuple[_Record, ...]) -> None:
        self._records = records

    def valid(self) -> bool:
        for r in self._records:
            module = r.ref()
            if module is None:
                return False
            cls = type(module)
            if cls is not r.cls or cls.param_names is not r.param_names or cls.buffer_names is not r.buffer_names:
                return False
            attrs = vars(module)
            if tuple(attrs) != r.keys or tuple(map(type, attrs.values())) != r.types:
                return False
            if not all(map(is_, map(_deref, r.id_refs), map(attrs.__getitem__, r.id_keys))):
                return False
            for s in r.seqs:
                seq = cast("Sequence[object]", attrs[s.key])
                if tuple(map(type, seq)) != s.types:
                    return False
                if not all(map(is_, map(_deref, s.refs), map(seq.__getitem__, s.positions))):
                    return False
        return True


def _record(module: Module) -> _Record | None:
    cls = type(module)
    if cls.named_modules is not Module.named_modules or cls.named_parameters is not Module.named_parameters:
        return None
    fields = frozenset(cls.param_names + cls.buffer_names)
    attrs = vars(module)
    if not fields <= attrs.keys():
        return None
    id_keys: list[str] = []
    id_refs: list[_Ref] = []
    seqs: list[_Seq] = []
    try:
        for key, value in attrs.items():
            if isinstance(value, Module) or (key in fields and value is not None and not isinstance(value, int)):
                id_keys.append(key)
                id_refs.append(weakref.ref(value))
            elif isinstance(value, (list, tuple)):
                items = cast("Sequence[object]", value)
                positions = tuple(i for i, item in enumerate(items) if isinstance(item, Module))
                refs = tuple(weakref.ref(items[i]) for i in positions)
                seqs.append(_Seq(key, tuple(map(type, items)), positions, refs))
    except TypeError:  # not weak-referenceable
        return None
    return _Record(
        weakref.ref(module),
        cls,
        cls.param_names,
        cls.buffer_names,
        tuple(attrs),
        tuple(map(type, attrs.values())),
        tuple(id_keys),
        tuple(id_refs),
        tuple(seqs),
    )


def snapshot(model: Module) -> Snapshot | None:
    """A snapshot of ``model``'s tree as the walk sees it now, or None when it cannot be cached."""
    records: list[_Record] = []
    seen: set[int] = set()
    for _, module in model.named_modules():
        if id(module) in seen:
            continue
        seen.add(id(module))
        record = _record(module)
        if record is None:
            return None
        records.append(record)
    return Snapshot(tuple(records))
