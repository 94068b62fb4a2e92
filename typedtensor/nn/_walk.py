"""The one walk of a module tree's state: each parameter and buffer once, with every name it has.

A tensor is reachable under several names when it is tied: the same layer under two attributes
(``self.head = self.embed``), or the same parameter tensor assigned to two layers
(``b.weight = a.weight``). :func:`state` yields it once, at its first place in tree order (modules in
``named_modules`` order, each one's ``param_names`` then ``buffer_names``), with all its names and
all the (module, attribute) places holding it. Everything that counts, updates, converts, saves,
loads, reduces or broadcasts the state goes through it, so a tied tensor is handled once.

Identity is the tape's for a tensor (the key of its gradient), and the (module, attribute) place for a counter (an int
buffer is tied only when its module is). A tensor that is a parameter in one place and a buffer in
another is a parameter (it is trained).
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .. import extend as ext
from .._tensor import Tensor

if TYPE_CHECKING:
    from ._module import Module

__all__ = ["Entry", "by_name", "join", "missing", "state"]


class Entry(NamedTuple):
    """One parameter or buffer of the tree."""

    #: Every dotted name it is reachable under, in tree order; the first is its name.
    names: tuple[str, ...]
    #: Every distinct (module, attribute) holding it; the first is its owner.
    places: tuple[tuple[Module, str], ...]
    value: Tensor[Any, Any, Any] | int
    #: Whether it is a parameter (trained) rather than a buffer.
    param: bool

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def owner(self) -> Module:
        return self.places[0][0]

    @property
    def attr(self) -> str:
        return self.places[0][1]


def state(module: Module, naming: Literal["typedtensor", "torch"] = "typedtensor") -> list[Entry]:
    """Every parameter and buffer of ``module``'s tree once (see the module docstring), keys under ``naming``."""
    found: dict[object, list[Any]] = {}  # key -> [names, places, value, param]
    for prefix, owner in module.named_modules():
        public = owner._torch_names_inverse() if naming == "torch" else None
        dot = prefix + "." if prefix else ""
        params = owner.param_names
        for attr in params + owner.buffer_names:
            value: Tensor[Any, Any, Any] | int | None = getattr(owner, attr)
            if value is None:
                continue
            # a tensor's identity is the tape's (``realize`` keeps it: the same tensor, as gradients see it)
            key: object = ext.tensor_id(value) if isinstance(value, Tensor) else (id(owner), attr)
            name = dot + (attr if public is None else public.get(attr, attr))
            entry = found.get(key)
            if entry is None:
                found[key] = [[name], [(owner, attr)], value, attr in params]
                continue
            entry[0].append(name)
            if not any(m is owner and a == attr for m, a in entry[1]):
                entry[1].append((owner, attr))
            entry[3] = entry[3] or attr in params
    return [Entry(tuple(n), tuple(p), v, is_param) for n, p, v, is_param in found.values()]


def join(prefix: str, name: str) -> str:
    """The dotted name of ``name`` under ``prefix`` ('' for the root)."""
    return f"{prefix}.{name}" if prefix else name


def by_name(entries: list[Entry]) -> dict[str, Entry]:
    """Every name of ``entries``, to its entry (a tied tensor's names all map to one)."""
    return {name: e for e in entries for name in e.names}


def missing(entries: list[Entry], keys: Container[str]) -> list[str]:
    """The names of the entries that ``keys`` holds under none of their names, sorted."""
    return sorted(e.name for e in entries if not any(n in keys for n in e.names))
