"""The extension API: what a new op, layer, optimizer or training tool is written against.

``typedtensor.nn``, ``typedtensor.optim``, ``typedtensor.distributed`` and the examples use only this
module and the public API (tests/test_extension_boundary.py enforces it), so a layer written outside
the package has the same tools as the built-in ones. An op states its forward and its local derivative
side by side and records them with :func:`record`::

    import numpy as np
    from typedtensor import extend as ext

    def cube(x):
        xd = ext.data(x)
        def backward(g, need):  # need[i]: whether parent i wants a gradient
            return (g * 3 * xd * xd if need[0] else None,)
        return ext.record((x,), xd * xd * xd, backward)

Contracts:

- :func:`data` is the tensor's own array, not a copy (nothing is paid on a hot path): read it, never
  write it. Tensors share arrays (``detach``, ``realize`` and views of reshape/transpose), and a
  traced op's backward may hold it. :func:`data_mut` is the same array for the owner of an untraced
  tensor (a layer's parameters and buffers, an optimizer's update, a checkpoint load).
- A backward takes the upstream gradient ``g`` (the output's shape and dtype) and ``need`` (one bool
  per parent, always as many as the parents) and returns one array or ``None`` per parent, each of that
  parent's shape and dtype. ``need[i]`` is False for a constant (``None`` in the parents: a scalar
  operand, a missing bias) and for an integer or bool parent (indices, labels, a mask: taking part in
  the op, and carrying a tape, but never getting a gradient); a gradient returned where ``need`` is
  False is dropped.
- Gradients are keyed by :func:`tensor_id`, the identity the tape uses (``trace``, ``realize`` and
  ``detach`` of a parameter keep it or make a new one as documented on each).
- Constructor and call options are checked with :mod:`options <typedtensor._options>` (``ext.options.real``,
  ``unit``, ``flag``, ``positive_int``, ``count``, ``seed`` ...): one checker and one message per kind of
  mistake, the same in every layer and optimizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from . import _check, _malloc
from . import _options as options
from ._create import _filled, _room
from ._dtypes import FLOAT_DTYPES, astype_advice, float_dtype, input_dtype_error
from ._errors import DTypeError, ShapeError, TapeError
from ._ops._types import Array, Backward, Grads, Result
from ._ops.index import first_outside
from ._tape import NoneTape
from ._tensor import Gradients, Tensor, _apply, _make, _operand, _scalar, _tensor_arg

__all__ = [
    "FLOAT_DTYPES",
    "Array",
    "Backward",
    "Grads",
    "Result",
    "accumulate_grad",
    "allocator_state",
    "astype_advice",
    "data",
    "data_mut",
    "filled",
    "first_outside",
    "float_dtype",
    "grad_array",
    "input_dtype_error",
    "install_checks",
    "iter_grads",
    "operand",
    "options",
    "record",
    "room",
    "scalar",
    "set_grad",
    "tensor_arg",
    "tensor_id",
    "wrap",
]

E = TypeVar("E", bound=np.generic)

#: ``tensor_arg(x, where)``: ``x`` if it is a Tensor, else the DTypeError the annotation check raises.
tensor_arg = _tensor_arg
#: ``scalar(v, dtype=None)``: ``v`` as a float (a DTypeError for a bool, an array or a non-number);
#: with ``dtype``, a float that dtype holds.
scalar = _scalar
#: ``operand(x, other)``: the data of a binary op's second operand, a tensor of x's shape and dtype
#: (its array) or a Python number x's dtype holds (a float); a ShapeError or DTypeError otherwise.
operand = _operand
#: ``filled(shape, value, dtype, where)``: a new untraced tensor; ``dtype`` an np.dtype from
#: :func:`float_dtype`, ``where`` names the caller in the errors (bad shape, too large to allocate).
filled = _filled
#: ``room(shape, dtype, where, bytes_per_element=0)``: a ShapeError when a result of ``shape`` would need more
#: elements or bytes than this library allocates (the machine's physical memory), before a kernel allocates it.
room = _room
#: ``install_checks(cls, bindings, names=None, refusing=(), refuse=None)``: wrap the public methods of ``cls``
#: (or ``names``) in the run-time check of their annotations, with the dims ``bindings(self)`` returns (a
#: dict of TypeVar to value) bound before each call; ``nn.Module`` installs it on every layer class.
#: ``refusing`` names methods whose failed argument check goes to ``refuse(self, error)`` before it is raised.
install_checks = _check.install
#: ``allocator_state()``: what the tensor core did to glibc's allocator when it loaded (typedtensor/_malloc.py):
#: "tuned", "system" (``TYPEDTENSOR_MALLOC=system``), "user" (glibc settings in the environment), "unavailable"
#: (not glibc) or "failed"; benchmarks print it (the settings are process-wide).
allocator_state = _malloc.state

_WRAPPABLE = frozenset("fiub")
_F32 = np.dtype(np.float32)


def data(t: Tensor[Any, Any, Any]) -> NDArray[Any]:
    """The tensor's array itself (no copy, no check): read it, do not write it (see the module docstring)."""
    return t._data


def data_mut(t: Tensor[Any, Any, Any]) -> NDArray[Any]:
    """The untraced tensor's array, for its owner to write in place; a TapeError for a traced tensor.

    A traced tensor's values may be held by the backward of the ops already recorded: change a copy.
    """
    if t._tape is not None:
        raise TapeError(
            "data_mut: this tensor is traced and its values may be saved for backward; write into an untraced "
            "tensor (x.detach() makes one) or build a new one"
        )
    return t._data


def wrap(array: NDArray[E]) -> Tensor[tuple[Any, ...], E, NoneTape]:
    """``array`` itself (no copy) as an untraced tensor of its shape and dtype.

    The dtype must be one a tensor holds: float16/32/64, bool or an integer type (a DTypeError otherwise,
    e.g. for complex, object or float128 arrays). The caller gives up the array: the tensor owns it now.
    """
    if array.__class__ is not np.ndarray:
        raise DTypeError(
            f"wrap: expected a NumPy ndarray, got {type(array).__name__}; use tt.tensor(...) for other data"
        )
    dt = array.dtype
    if dt.kind not in _WRAPPABLE or (dt.kind == "f" and dt not in FLOAT_DTYPES):
        raise DTypeError(
            f"wrap: a tensor holds float16/32/64, bool or integer values, got dtype {dt}; "
            f"{astype_advice('the array first', _F32)}"
        )
    return _make(array, None)


def record(parents: tuple[Tensor[Any, Any, Any] | None, ...], out: Array, backward: Backward) -> Tensor[Any, Any, Any]:
    """The result of an op on ``parents``: ``out`` as a tensor, with ``backward`` on the tape.

    The result is traced when any parent is (tapes merge as ``typedtensor._tape`` describes) and untraced
    otherwise (``backward`` is then dropped). A ``None`` parent is a constant in a tensor's place: the
    backward still gets its ``need`` (False). ``out`` must keep the first tensor parent's dtype (a
    DTypeError names NumPy's promotion otherwise); a bool first tensor parent is refused. Kernels
    returning a ``Result`` pair record with ``record(parents, *kernel(...))``.
    """
    try:
        return _apply((out, backward), parents)
    except (AttributeError, IndexError, TypeError, StopIteration):  # parents checked only on failure: no cost otherwise
        _check_parents(parents)
        raise


def _check_parents(parents: object) -> None:
    if not isinstance(parents, tuple) or all(p is None for p in cast("tuple[object, ...]", parents)):
        raise TapeError(
            f"record: parents must be a non-empty tuple of tensors (None for a constant, at least one tensor), got "
            f"{parents!r}; wrap() a result that has no parent"
        )
    for p in cast("tuple[object, ...]", parents):
        if p is not None and p.__class__ is not Tensor:
            raise DTypeError(f"record: every parent must be a typedtensor.Tensor, got {type(p).__name__}")


def tensor_id(t: Tensor[Any, Any, Any]) -> int:
    """The key the tape and ``Gradients`` know ``t`` by (``trace`` and ``realize`` keep it)."""
    return t._id


def grad_array(grads: Gradients, t: Tensor[Any, Any, Any]) -> Array | None:
    """The stored gradient of ``t`` itself (not a copy, unlike ``grads.get(t)``), or None when none is stored.

    Writing into it changes the stored gradient (an optimizer's clipping, ``zero_grads``).
    """
    return grads._grads.get(t._id)


def _checked_grad(t: Tensor[Any, Any, Any], g: Array, where: str) -> None:
    shape, dt = t._data.shape, t._data.dtype
    if g.shape != shape:
        raise ShapeError(f"{where}: the gradient has shape {g.shape} but the tensor {shape}; they must be equal")
    if g.dtype != dt:
        raise DTypeError(f"{where}: the gradient has dtype {g.dtype} but the tensor {dt}; {astype_advice('it', dt)}")


def set_grad(grads: Gradients, t: Tensor[Any, Any, Any], g: Array) -> None:
    """Make ``g`` the stored gradient of ``t``: written into the stored array when there is one, else a copy.

    ``g`` must have ``t``'s shape and dtype (ShapeError, DTypeError).
    """
    _checked_grad(t, g, "set_grad")
    old = grads._grads.get(t._id)
    if old is None:
        grads._grads[t._id] = np.array(g, copy=True)
    else:
        old[...] = g


def accumulate_grad(grads: Gradients, t: Tensor[Any, Any, Any], g: Array) -> None:
    """Add ``g`` to the stored gradient of ``t`` (store a copy when there is none), as ``backward`` does."""
    _checked_grad(t, g, "accumulate_grad")
    grads._accumulate(t._id, g)


def iter_grads(grads: Gradients) -> Iterator[tuple[int, Array]]:
    """Every stored gradient as ``(tensor_id, array)`` (the arrays themselves), in storing order."""
    return iter(list(grads._grads.items()))
