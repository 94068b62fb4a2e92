"""Gradient tapes and the store of gradient arrays (dfdx semantics).

A tensor either carries no tape (``NoneTape``: inference, nothing recorded) or an ``OwnedTape``: a
shared record of every operation done on traced tensors since ``trace``/``leaky_trace``.

Tape rule for operations with several inputs: the result carries a tape when any input does. When
two inputs carry different tapes, the tapes are merged into one: the merged tape holds both
histories in recording order, and ``backward`` writes gradients into every ``Gradients`` either tape
was started with. Untraced inputs of a taped op are constants unless a ``Gradients`` of the tape
allocated them (model parameters) or the tape is leaky: then their gradient is computed too. An untraced
tensor computed from an allocated one by ops of one tensor operand (``w.transpose()``) is refused as a
parent (``refuse_copy``): its gradient would go to the copy, and the allocated tensor would silently miss it.
Integer tensors carry a tape like float ones (``ids.trace(grads)`` feeds an embedding) but never get a
gradient: an integer or bool parent's ``need`` is always False.

``backward`` consumes the tape: saved buffers are released as each op is run, intermediate
gradients are freed as soon as they are consumed (unless the tape is leaky), and a second
``backward`` on the same tape is an error.

The tape knows a tensor only as a ``Node`` (its data, identity and tape), so that it stands below the
tensor: the public ``Gradients``, whose ``get`` returns a tensor, is ``_tensor``'s subclass of ``GradientStore``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._errors import DTypeError, ShapeError, TapeError, TypedTensorError

__all__ = ["GradientStore", "Node", "NoneTape", "OwnedTape", "refuse_copy"]

Array = NDArray[Any]
#: A recorded op's local derivative: upstream gradient and which parents need one (one bool per parent:
#: False for a constant, an integer or bool parent) -> one gradient or None per parent.
Backward = Callable[[Array, tuple[bool, ...]], tuple[Array | None, ...]]

#: The public store (``Gradients``) a backward pass returns.
G = TypeVar("G", bound="GradientStore")

_seq = itertools.count()


class NoneTape:
    """Type-level marker: the tensor records nothing (inference mode)."""

    __slots__ = ()

    def __init__(self) -> None:
        raise TypedTensorError("NoneTape is a type-level marker; an untraced tensor simply has no tape")


class Node(Protocol):
    """What the tape reads of a tensor (``Tensor`` is one)."""

    @property
    def _data(self) -> Array: ...
    @property
    def _id(self) -> int: ...
    @property
    def _tape(self) -> OwnedTape | None: ...

    #: The id of the tensor an untraced tensor was computed from by ops of one tensor operand
    #: (``w.transpose()``, ``w[1:]``, ``2.0 * w``; -1: none), so that using it on a tape that trains that
    #: tensor is refused (``refuse_copy``) rather than silently giving it no gradient.
    _src: int


class OwnedTape:
    """The tape of a traced tensor: the recorded ops and the Gradients they will write to."""

    __slots__ = ("_ops", "_parent", "_sinks", "_used")

    def __init__(self, sink: GradientStore) -> None:
        #: (order, output id, parent ids (-1: a constant), traced float parents, float parents, backward)
        self._ops: list[tuple[int, int, tuple[int, ...], tuple[bool, ...], tuple[bool, ...], Backward]] = []
        self._sinks: list[GradientStore] = [sink]
        self._parent: OwnedTape | None = None
        self._used = False

    def _root(self) -> OwnedTape:
        t = self
        while t._parent is not None:
            t = t._parent
        return t

    def __repr__(self) -> str:
        r = self._root()
        return f"OwnedTape(ops={len(r._ops)}, used={r._used})"


def merge(a: OwnedTape, b: OwnedTape) -> OwnedTape:
    """One tape holding both histories (see the module docstring for the rule)."""
    a, b = a._root(), b._root()
    if a is b:
        return a
    if a._used or b._used:
        raise TapeError(
            "cannot combine a tensor whose tape was already consumed by backward(); "
            "trace the inputs again (x.trace(grads)) for a new step"
        )
    a._ops = list(heapq.merge(a._ops, b._ops))
    for s in b._sinks:
        if s not in a._sinks:
            a._sinks.append(s)
    b._ops = []
    b._parent = a
    return a


def record(tape: OwnedTape, out_id: int, parents: tuple[Node | None, ...], bwd: Backward) -> None:
    """Append one op to ``tape`` (already the root); ``None`` parents are constants.

    Only float parents can ever need a gradient: an op whose parents are all integer, bool or constant is
    not recorded at all (its result still carries the tape).
    """
    if tape._used:
        raise TapeError("this tape was consumed by backward(); trace the inputs again (x.trace(grads)) for a new step")
    pids: list[int] = []
    traced: list[bool] = []
    floats: list[bool] = []
    for p in parents:
        if p is None:
            pids.append(-1)
            traced.append(False)
            floats.append(False)
        else:
            f = p._data.dtype.kind == "f"
            pids.append(p._id)
            if p._tape is not None:
                traced.append(f)
            else:
                traced.append(False)
                if f and p._src >= 0:
                    refuse_copy(p, tape._sinks, "a traced op reads")
            floats.append(f)
    if True in floats:
        tape._ops.append((next(_seq), out_id, tuple(pids), tuple(traced), tuple(floats), bwd))


def refuse_copy(t: Node, sinks: list[GradientStore], where: str) -> None:
    """A TapeError when untraced ``t`` was computed from a tensor one of ``sinks`` keeps, and is not kept itself.

    Its gradient would go to ``t``, which nothing keeps, and the kept tensor (a parameter being trained)
    would silently miss it: PyTorch's ``h @ tok.weight.T`` with ``tok.weight`` untraced.
    """
    src, tid = t._src, t._id
    if any(src in s._keep for s in sinks) and not any(tid in s._keep for s in sinks):
        shape = tuple(t._data.shape)
        raise TapeError(
            f"{where} an untraced tensor of shape {shape} computed from a parameter this tape trains (an op such as "
            "w.transpose(), w[1:], 2.0 * w or w.reshape(...) on the untraced parameter w gives a new untraced tensor "
            "of its own): its gradient would go to that copy, which nothing keeps, and the parameter would silently "
            "miss it. To train w through this use, put it on the tape before the op: w.retaped(h).transpose() "
            "(h a traced tensor of this step), or use the parameter itself (e.g. a Linear whose weight is w); "
            "if a constant is meant, say so: w.detach().transpose()"
        )


class GradientStore:
    """The gradient arrays of backward passes, by tensor id (the tensor-level lookup is ``Gradients.get``)."""

    __slots__ = ("_grads", "_keep", "leaky")

    def __init__(self, *, leaky: bool = False) -> None:
        self._grads: dict[int, Array] = {}
        self._keep: set[int] = set()
        self.leaky = leaky

    def alloc(self, t: Node) -> None:
        """Keep (and accumulate) the gradient of ``t``, starting from zeros."""
        if getattr(t, "_id", None) is None or not hasattr(t, "_data"):
            raise TapeError(f"Gradients.alloc needs a typedtensor Tensor, got {type(t).__name__}")
        if t._data.dtype.kind != "f":
            raise DTypeError(
                f"Gradients.alloc: a {t._data.dtype} tensor never gets a gradient (integer ids and labels are "
                "constants of the ops that read them, bool masks too); trace ids with ids.trace(grads) without "
                "allocating them"
            )
        if t._id not in self._grads:
            self._grads[t._id] = np.zeros_like(t._data)
        self._keep.add(t._id)
        t._src = -1  # a parameter is a root: what is computed from it names it, not what it was computed from

    def zero(self) -> None:
        """Set every stored gradient to zero (in place), keeping the allocations."""
        for g in self._grads.values():
            g[...] = 0

    def __contains__(self, t: object) -> bool:
        return getattr(t, "_id", None) in self._grads

    def __len__(self) -> int:
        return len(self._grads)

    def _accumulate(self, gid: int, g: Array) -> None:
        old = self._grads.get(gid)
        if old is None:
            self._grads[gid] = np.array(g, copy=True)
        else:
            old += g

    def __repr__(self) -> str:
        return f"Gradients({len(self._grads)} tensors, leaky={self.leaky})"


def backward(loss: Node, kind: type[G]) -> G:
    """Run the tape of the rank-0 ``loss`` backwards; return its store (of class ``kind``: ``Gradients``).

    When the tape merged several tapes, each of their stores receives its own tensors' gradients
    and the returned one (a new ``kind``) holds all of them.
    """
    tape = loss._tape
    if tape is None:
        raise TapeError(
            "backward() needs a traced loss (OwnedTape) but this tensor has no tape; "
            "trace an input first: x.leaky_trace() or x.trace(grads)"
        )
    if loss._data.ndim != 0:
        raise ShapeError(
            f"backward() needs a scalar loss (shape ()), got shape {loss._data.shape}; reduce it first "
            "with .sum() or .mean()"
        )
    tape = tape._root()
    if tape._used:
        raise TapeError("this tape was already consumed by backward(); trace the inputs again for a new step")
    tape._used = True
    sinks = tape._sinks
    leaky = any(s.leaky for s in sinks)
    keep: set[int] = set[int]().union(*(s._keep for s in sinks))
    grads: dict[int, Array] = {loss._id: np.ones_like(loss._data)}
    ops = tape._ops
    tape._ops = []
    while ops:
        _, out_id, pids, traced, floats, bwd = ops.pop()  # drops the op's saved buffers once run
        g = grads.get(out_id) if (leaky or out_id in keep) else grads.pop(out_id, None)
        if g is None:
            continue
        if leaky:
            need = floats
        elif keep:
            need = tuple(t or (f and pid in keep) for pid, t, f in zip(pids, traced, floats, strict=True))
        else:
            need = traced
        for pid, gi, n in zip(pids, bwd(g, need), need, strict=True):
            if gi is None or not n:  # a parent that needs none (a constant, an integer) gets none
                continue
            old = grads.get(pid)
            grads[pid] = gi if old is None else old + gi
    for sink in sinks:
        for gid, g in grads.items():
            if sink.leaky or gid in sink._keep:
                sink._accumulate(gid, g)
    if len(sinks) == 1 and isinstance(sinks[0], kind):
        return sinks[0]
    # Merged tapes: one store answering for every tensor any of them kept (as dfdx merges them).
    merged = kind(leaky=leaky)
    for sink in sinks:
        merged._grads.update(sink._grads)
        merged._keep |= sink._keep
    return merged
