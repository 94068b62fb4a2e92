"""``Tensor[S, E, T]``: a NumPy array whose shape S, dtype E and tape T are part of its static type.

Binary ops between tensors need the same shape S (and dtype E); a Python scalar broadcasts. Any
other broadcasting is explicit, with ``broadcast_to`` (as in dfdx): that keeps every shape visible to
the type checkers. The result's tape follows the rule in ``typedtensor._tape``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

import numpy as np
from numpy.typing import NDArray

from . import _check, _malloc
from ._convert import fits
from ._dimexpr import Div
from ._dtypes import FLOAT_DTYPES, astype_advice, float_dtype
from ._errors import DTypeError, ShapeError, TapeError, TypedTensorError
from ._ops import elementwise as _ew
from ._ops import index as _ix
from ._ops import linalg as _la
from ._ops import reduce as _red
from ._ops import shape as _sh
from ._ops import softmax as _sm
from ._ops._types import Result
from ._shapes import D0, D1, DN, E2, S2, E, K, Lead, M, N, Rest, S, T
from ._tape import GradientStore, NoneTape, OwnedTape, backward, merge, record, refuse_copy

__all__ = ["Tensor"]

_malloc.tune()  # keep freed array memory for reuse (page faults otherwise): see typedtensor/_malloc.py

Index = int | np.integer[Any] | slice | None | EllipsisType | NDArray[np.integer[Any]] | NDArray[np.bool_] | list[int]
Axis = int | tuple[int, ...] | None

_ids = itertools.count()
_new = object.__new__
#: The dtype of an index tensor (take_along_axis, gather, w[ids]).
Ix = TypeVar("Ix", bound=np.integer[Any])


class Tensor(Generic[S, E, T]):
    """A typed tensor. Build one with ``tt.tensor``, ``tt.zeros``, ``tt.randn``...

    Type parameters: ``S`` a tuple of dims, ``E`` a NumPy scalar type, ``T`` ``NoneTape`` or
    ``OwnedTape``. Example: ``Tensor[tuple[B, Literal[3], H, W], np.float32, NoneTape]``.
    """

    __slots__ = ("__weakref__", "_data", "_id", "_src", "_tape")
    #: NumPy operands defer to Tensor's reflected operators (``np.float64(2) * t`` keeps the tape).
    __array_ufunc__ = None
    _data: NDArray[Any]
    _tape: OwnedTape | None
    _id: int
    #: Untraced results of ops of one tensor operand: the id of the root they were computed from (-1: none).
    _src: int

    def __init__(self) -> None:
        raise TypedTensorError("build tensors with tt.tensor(data), tt.zeros(shape), tt.randn(shape, seed=...)")

    if not TYPE_CHECKING:

        def __class_getitem__(cls, params):
            return _check.tensor_hint(cls, params)

    # ---- introspection -----------------------------------------------------------------------

    @property
    def shape(self) -> S:
        """The shape, a tuple of ints (typed as S)."""
        return self._data.shape  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype[E]:
        """The NumPy dtype."""
        return self._data.dtype

    @property
    def ndim(self) -> int:
        """The rank."""
        return self._data.ndim

    @property
    def traced(self) -> bool:
        """True when the tensor carries an OwnedTape."""
        return self._tape is not None

    def numpy(self) -> NDArray[E]:
        """The values as a read-only NumPy view (copy it with ``np.array(t.numpy())`` to edit)."""
        v = self._data.view()
        v.flags.writeable = False
        return v

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NDArray[Any]:
        return np.array(self._data, dtype=dtype, copy=True if copy is None else copy)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise ShapeError("len() of a rank-0 tensor: it has no first dim")
        return len(self._data)

    def __iter__(self: Tensor[tuple[D0, *Rest], E, T]) -> Iterator[Tensor[tuple[*Rest], E, T]]:
        """The sub-tensors along the first dim (each one a differentiable ``self[i]``)."""
        if self._data.ndim == 0:
            raise ShapeError("iteration over a rank-0 tensor: it has no first dim")
        return (self[i] for i in range(len(self._data)))

    def item(self) -> float:
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self._data.shape}")
        return float(self._data.item())

    def __repr__(self) -> str:
        tape = "NoneTape" if self._tape is None else "OwnedTape"
        body = np.array2string(self._data, precision=4, threshold=20, edgeitems=2, prefix="  ")
        return f"Tensor[{tuple(self._data.shape)}, {self._data.dtype.name}, {tape}](\n  {body})"

    # ---- tapes -------------------------------------------------------------------------------

    def trace(self: Tensor[S, E, NoneTape], grads: Gradients) -> Tensor[S, E, OwnedTape]:
        """Start recording into ``grads`` (kept: tensors ``grads`` allocated, e.g. a model's parameters).

        An integer tensor (token ids) carries the tape into the ops that read it but never gets a gradient.
        """
        data = _traceable(self, grads)
        if self._src >= 0:
            refuse_copy(self, [grads], "trace() of")
        return _make(data, OwnedTape(grads), self._id)

    def leaky_trace(self: Tensor[S, E, NoneTape]) -> Tensor[S, E, OwnedTape]:
        """Start recording into a fresh ``Gradients`` that keeps every gradient, intermediates too."""
        grads = Gradients(leaky=True)
        return _make(_traceable(self, grads), OwnedTape(grads), self._id)

    def detach(self) -> Tensor[S, E, NoneTape]:
        """The same values without a tape (a constant for the autodiff)."""
        return _make(self._data, None)

    def retaped(self: Tensor[S, E, NoneTape], like: Tensor[Any, Any, OwnedTape]) -> Tensor[S, E, OwnedTape]:
        """This untraced tensor on the tape of ``like`` (dfdx: ``put_tape`` of like's tape; PyTorch needs none).

        Ids built inside a model (``positions.retaped(x)``) then carry ``x``'s tape into ``Embedding.forward_mut``,
        whose table trains. A float tensor becomes a leaf of that tape as with ``trace``: its gradient is kept
        only if one of the tape's ``Gradients`` allocated it (or is leaky). A traced ``self`` (retape its
        ``detach()``), an untraced ``like`` and a tape consumed by ``backward()`` are ``TapeError``s, checks on
        or off; a bool ``self`` is a ``DTypeError``, as for ``trace``.
        """
        return _retape(self, like)

    def backward(self: Tensor[tuple[()], E, OwnedTape]) -> Gradients:
        """Back-propagate from this scalar loss; returns the Gradients (``grads.get(t)``)."""
        return backward(self, Gradients)

    def realize(self, shape: S2) -> Tensor[S2, E, T]:
        """The same tensor with the shape type ``S2``, checked at run time (dfdx ``realize``).

        Converts between run-time (``int``) and constant (``Literal``) dims:
        ``y: Tensor[tuple[L[2], L[3]], F, T] = x.realize((2, 3))``.
        """
        if tuple(shape) != self._data.shape:
            raise ShapeError(
                f"realize: the tensor has shape {self._data.shape} but {tuple(shape)} was requested; "
                "realize only re-types a shape, use reshape() to change it"
            )
        t = _make(self._data, self._tape, self._id)
        t._src = self._src
        return t

    if TYPE_CHECKING:

        def astype(self, dtype: type[E2]) -> Tensor[S, E2, T]:
            """Cast to another float dtype (np.float16, np.float32 or np.float64); the gradient is cast back."""
            ...

    else:

        def astype(self, dtype: object) -> Tensor[S, Any, T]:
            """Cast to another float dtype; the gradient is cast back. A bool mask or integer tensor becomes floats.

            As in PyTorch, a value too large for the target becomes +-inf (IEEE rounding); ``tt.tensor`` and
            ``Module.to_dtype`` refuse such a value instead. ``dtype`` is checked here with checks on or off: a
            NumPy float type, not a string, Python's float or an np.dtype (static errors too).
            """
            dt = _float_dtype(dtype, "astype")
            src = self._data.dtype
            with np.errstate(over="ignore"):
                out = self._data.astype(dt)
            return _apply((out, lambda g, need: (g.astype(src),)), (self,), keep_dtype=False)

    # ---- elementwise binary --------------------------------------------------------------------

    @overload
    def __add__(self, other: Tensor[S, E, NoneTape] | float) -> Tensor[S, E, T]: ...
    @overload
    def __add__(self, other: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
    @overload
    def __add__(self, other: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
    def __add__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, E, Any]:
        """Elementwise sum with a tensor of the same shape and dtype, or a scalar."""
        return _binary(self, other, _ew.add)

    @overload
    def __sub__(self, other: Tensor[S, E, NoneTape] | float) -> Tensor[S, E, T]: ...
    @overload
    def __sub__(self, other: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
    @overload
    def __sub__(self, other: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
    def __sub__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, E, Any]:
        """Elementwise difference with a tensor of the same shape and dtype, or a scalar."""
        if self._data.dtype is _BOOL:  # NumPy itself refuses bool - bool, before _apply could explain
            _refuse_bool()
        return _binary(self, other, _ew.sub)

    @overload
    def __mul__(self, other: Tensor[S, E, NoneTape] | float) -> Tensor[S, E, T]: ...
    @overload
    def __mul__(self, other: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
    @overload
    def __mul__(self, other: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
    def __mul__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, E, Any]:
        """Elementwise product with a tensor of the same shape and dtype, or a scalar."""
        return _binary(self, other, _ew.mul)

    @overload
    def __truediv__(self, other: Tensor[S, E, NoneTape] | float) -> Tensor[S, E, T]: ...
    @overload
    def __truediv__(self, other: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]: ...
    @overload
    def __truediv__(self, other: Tensor[S, E, T]) -> Tensor[S, E, T]: ...
    def __truediv__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, E, Any]:
        """Elementwise quotient by a tensor of the same shape and dtype, or a scalar."""
        return _binary(self, other, _ew.div)

    def __radd__(self, other: float) -> Tensor[S, E, T]:
        """scalar + tensor."""
        return _binary(self, other, _ew.add)

    def __rsub__(self, other: float) -> Tensor[S, E, T]:
        """scalar - tensor."""
        return _apply(_ew.rsub(self._data, _scalar(other, self._data.dtype)), (self,))

    def __rmul__(self, other: float) -> Tensor[S, E, T]:
        """scalar * tensor."""
        return _binary(self, other, _ew.mul)

    def __rtruediv__(self, other: float) -> Tensor[S, E, T]:
        """scalar / tensor."""
        return _apply(_ew.rdiv(self._data, _scalar(other, self._data.dtype)), (self,))

    def __pow__(self, exponent: float, modulo: None = None) -> Tensor[S, E, T]:
        """tensor ** exponent for a real number (PyTorch's gradient, also at 0); a tensor exponent is refused."""
        if modulo is not None:
            raise DTypeError(f"pow(tensor, exponent, modulo): a modulo is not supported, got {modulo!r}")
        return _apply(_ew.pow_(_float_operand(self, "**")._data, _exponent(exponent)), (self,))

    def __rpow__(self, base: float) -> Tensor[S, E, T]:
        """number ** tensor, for a real base (PyTorch's gradient: 0 where base is 0 and the exponent >= 0)."""
        return _apply(_ew.rpow(_float_operand(self, "**")._data, _scalar(base)), (self,))

    def __neg__(self) -> Tensor[S, E, T]:
        """-tensor."""
        if self._data.dtype is _BOOL:  # NumPy itself refuses -bool, before _apply could explain
            _refuse_bool()
        return _apply(_ew.neg(self._data), (self,))

    # ---- comparisons (not differentiable; the mask is a bool tensor) ---------------------------
    # ``==`` and ``!=`` are elementwise too (NumPy and PyTorch): ``bool()`` of the result needs one
    # element, so ``if a == b:`` on tensors is an error; use ``(a == b).all()``. Hashing stays by identity.

    def __eq__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:  # type: ignore[override]
        """Elementwise ``==``, as a bool tensor (NaN is unequal to everything, as in IEEE)."""
        return _make(np.equal(self._data, _operand(self, other)), None)

    def __ne__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:  # type: ignore[override]
        """Elementwise ``!=``, as a bool tensor."""
        return _make(np.not_equal(self._data, _operand(self, other)), None)

    def __hash__(self) -> int:
        """By identity (two tensors of equal values are different keys), as Gradients and dicts need."""
        return object.__hash__(self)

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; any other size is ambiguous (use ``any()``/``all()``)."""
        d = self._data
        if d.size != 1:
            raise ShapeError(
                f"the truth value of a tensor with {d.size} elements (shape {d.shape}) is ambiguous: use "
                ".any() or .all() (as NumPy and PyTorch; for an empty tensor too)"
            )
        return bool(d.reshape(()).item())

    if TYPE_CHECKING:
        any: _BoolReduction
        all: _BoolReduction
    else:

        def any(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, np.bool_, NoneTape]:
            """Whether any element along ``axis`` (all axes when None) is true (nonzero), as an untraced bool
            tensor; False over an empty axis."""
            return _make(np.asarray(np.any(self._data, _axes(self, axis), keepdims=keepdims)), None)

        def all(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, np.bool_, NoneTape]:
            """Whether every element along ``axis`` (all axes when None) is true (nonzero), as an untraced bool
            tensor; True over an empty axis."""
            return _make(np.asarray(np.all(self._data, _axes(self, axis), keepdims=keepdims)), None)

    # ---- conversion to Python numbers (as NumPy and PyTorch: one element only) -----------------

    def __float__(self) -> float:
        """The value of a one-element tensor; any other size is a ShapeError."""
        return float(_one(self, "float"))

    def __int__(self) -> int:
        """The value of a one-element tensor, truncated toward zero (as Python's int(2.7)); NaN and inf are
        DTypeErrors."""
        value = _one(self, "int")
        if isinstance(value, float) and not math.isfinite(value):
            shown = "NaN" if value != value else repr(value)
            raise DTypeError(f"int() of a tensor holding {shown}: no integer has that value")
        return int(value)

    def __index__(self) -> int:
        """An integer or bool tensor of one element as an index (``seq[t]``, ``range(t)``), as in PyTorch."""
        if self._data.dtype.kind not in "iub":
            raise DTypeError(
                f"only an integer or bool tensor of one element is an index, this one is {self._data.dtype.name}; "
                "use int(t) to truncate a float"
            )
        return int(_one(self, "index"))

    def __gt__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:
        """Elementwise ``>``, as a bool tensor for ``where``/``masked_fill``."""
        return _make(np.greater(self._data, _operand(self, other)), None)

    def __lt__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:
        """Elementwise ``<``, as a bool tensor."""
        return _make(np.less(self._data, _operand(self, other)), None)

    def __ge__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:
        """Elementwise ``>=``, as a bool tensor."""
        return _make(np.greater_equal(self._data, _operand(self, other)), None)

    def __le__(self, other: Tensor[S, E, Any] | float) -> Tensor[S, np.bool_, NoneTape]:
        """Elementwise ``<=``, as a bool tensor."""
        return _make(np.less_equal(self._data, _operand(self, other)), None)

    # ---- elementwise unary ---------------------------------------------------------------------

    def exp(self) -> Tensor[S, E, T]:
        """e ** x."""
        return _apply(_ew.exp(self._data), (self,))

    def log(self) -> Tensor[S, E, T]:
        """Natural logarithm."""
        return _apply(_ew.log(self._data), (self,))

    def sqrt(self) -> Tensor[S, E, T]:
        """Square root."""
        return _apply(_ew.sqrt(self._data), (self,))

    def square(self) -> Tensor[S, E, T]:
        """x * x."""
        return _apply(_ew.square(self._data), (self,))

    def abs(self) -> Tensor[S, E, T]:
        """|x| (derivative 0 at 0)."""
        return _apply(_ew.abs_(self._data), (self,))

    def relu(self) -> Tensor[S, E, T]:
        """max(x, 0) (derivative 0 at 0)."""
        return _apply(_ew.relu(self._data), (self,))

    def sigmoid(self) -> Tensor[S, E, T]:
        """1 / (1 + e ** -x), stable for every input."""
        return _apply(_ew.sigmoid(self._data), (self,))

    def tanh(self) -> Tensor[S, E, T]:
        """Hyperbolic tangent."""
        return _apply(_ew.tanh(self._data), (self,))

    def gelu(self, approximate: Literal["none", "tanh"] = "none") -> Tensor[S, E, T]:
        """x * Phi(x) (``approximate="tanh"``: PyTorch's tanh approximation, faster)."""
        if approximate == "none":
            return _apply(_ew.gelu(self._data), (self,))
        if approximate == "tanh":
            return _apply(_ew.gelu_tanh(self._data), (self,))
        raise TypedTensorError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor[S, E, T]:
        """Clip into [min, max]; the gradient passes where min <= x <= max."""
        if min is None and max is None:
            raise TypedTensorError("clamp() needs min, max or both")
        lo = None if min is None else _scalar(min, self._data.dtype)
        hi = None if max is None else _scalar(max, self._data.dtype)
        if lo is not None and hi is not None and lo > hi:
            raise TypedTensorError(f"clamp(): min ({min}) must not exceed max ({max})")
        return _apply(_ew.clamp(self._data, lo, hi), (self,))

    def softmax(self, axis: int = -1) -> Tensor[S, E, T]:
        """exp(x) / sum(exp(x)) along ``axis``."""
        if self._data.dtype is _BOOL:  # the kernel's x - max(x) would be NumPy's own TypeError
            _refuse_bool()
        return _apply(_sm.softmax(self._data, _nonempty_axis(self, axis)), (self,))

    def log_softmax(self, axis: int = -1) -> Tensor[S, E, T]:
        """log(softmax(x)) along ``axis``, computed stably."""
        if self._data.dtype is _BOOL:
            _refuse_bool()
        return _apply(_sm.log_softmax(self._data, _nonempty_axis(self, axis)), (self,))

    def masked_fill(self, mask: Tensor[S, np.bool_, Any], value: float) -> Tensor[S, E, T]:
        """``value`` where ``mask`` is True, x elsewhere; no gradient flows to filled places."""
        cond = _mask(mask, self, "masked_fill")
        return _apply(_ew.where(cond, _scalar(value, self._data.dtype), self._data), (None, self, mask))

    # ---- matmul --------------------------------------------------------------------------------
    # One triple of overloads (other untraced, other traced, both the same tape) per rank pattern. Batch
    # dims that differ but broadcast ((7, 1, 3, 4) @ (2, 4, 5)) have no declared type: the last triple
    # matches the inner dims only and gives tuple[Any, ...] (the mypy plugin computes the exact shape
    # and rejects batch dims that do not broadcast; at run time they are a ShapeError).
    @overload
    def __matmul__(self: Tensor[tuple[K], E, T], other: Tensor[tuple[K], E, NoneTape]) -> Tensor[tuple[()], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[K], E, Any], other: Tensor[tuple[K], E, OwnedTape]
    ) -> Tensor[tuple[()], E, OwnedTape]: ...
    @overload
    def __matmul__(self: Tensor[tuple[K], E, T], other: Tensor[tuple[K], E, T]) -> Tensor[tuple[()], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[K], E, T], other: Tensor[tuple[*Lead, K, N], E, NoneTape]
    ) -> Tensor[tuple[*Lead, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[K], E, Any], other: Tensor[tuple[*Lead, K, N], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, N], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[K], E, T], other: Tensor[tuple[*Lead, K, N], E, T]
    ) -> Tensor[tuple[*Lead, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[K], E, NoneTape]
    ) -> Tensor[tuple[*Lead, M], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, Any], other: Tensor[tuple[K], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, M], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[K], E, T]
    ) -> Tensor[tuple[*Lead, M], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[K, N], E, NoneTape]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, Any], other: Tensor[tuple[K, N], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, M, N], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[K, N], E, T]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[M, K], E, T], other: Tensor[tuple[*Lead, K, N], E, NoneTape]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[M, K], E, Any], other: Tensor[tuple[*Lead, K, N], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, M, N], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[M, K], E, T], other: Tensor[tuple[*Lead, K, N], E, T]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[*Lead, K, N], E, NoneTape]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, Any], other: Tensor[tuple[*Lead, K, N], E, OwnedTape]
    ) -> Tensor[tuple[*Lead, M, N], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[*Lead, K, N], E, T]
    ) -> Tensor[tuple[*Lead, M, N], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[*Rest, K, N], E, NoneTape]
    ) -> Tensor[tuple[Any, ...], E, T]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, Any], other: Tensor[tuple[*Rest, K, N], E, OwnedTape]
    ) -> Tensor[tuple[Any, ...], E, OwnedTape]: ...
    @overload
    def __matmul__(
        self: Tensor[tuple[*Lead, M, K], E, T], other: Tensor[tuple[*Rest, K, N], E, T]
    ) -> Tensor[tuple[Any, ...], E, T]: ...
    def __matmul__(self, other: Tensor[Any, E, Any]) -> Tensor[Any, E, Any]:
        """Matrix product at every rank, as torch.matmul: (K)@(K) is a scalar, a 1-D self is a row and a
        1-D other a column (their dim is dropped from the result), and the batch dims (all but the last
        two) broadcast: (7,1,3,4)@(2,4,5) is (7,2,3,5)."""
        a = self._data
        b = other._data if other.__class__ is Tensor else _tensor_arg(other, "matmul: other")._data
        sa, sb = a.shape, b.shape
        if not sa or not sb or sa[-1] != sb[-2 if len(sb) > 1 else 0] or (len(sa) > 2 < len(sb) and sa[:-2] != sb[:-2]):
            _la.check_shapes(sa, sb)  # raises, or returns for batch dims that broadcast
        if a.dtype != b.dtype:
            raise DTypeError(
                f"matmul: dtypes {a.dtype.name} and {b.dtype.name} differ; {astype_advice('one', b.dtype, a.dtype)}"
            )
        return _apply(_la.matmul(a, b), (self, other))

    if not TYPE_CHECKING:  # statically ``2 @ t`` is already an error: no signature to offer

        def __rmatmul__(self, other: object) -> None:  # never returns (NoReturn is no hint beartype takes here)
            """``other @ tensor`` where ``other`` is not a Tensor (a number, an ndarray): always a DTypeError."""
            raise DTypeError(
                f"matmul: both operands must be typedtensor.Tensor, got {type(other).__name__} @ Tensor; wrap arrays "
                "with tt.tensor(...), and scale by a number with *"
            )

    # ---- reductions ----------------------------------------------------------------------------

    if TYPE_CHECKING:
        sum: _Reduction
        mean: _Reduction
        max: _Reduction
        min: _Reduction
    else:

        def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, E, T]:
            """Sum over ``axis`` (all axes when None)."""
            return _apply(_red.sum_(self._data, _axes(self, axis), keepdims), (self,))

        def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, E, T]:
            """Mean over ``axis`` (all axes when None)."""
            return _apply(_red.mean(self._data, _axes(self, axis), keepdims), (self,))

        def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, E, T]:
            """Maximum over ``axis``; the gradient is shared evenly among ties."""
            return _apply(_red.max_(self._data, _nonempty(self, _axes(self, axis)), keepdims), (self,))

        def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, E, T]:
            """Minimum over ``axis``; the gradient is shared evenly among ties."""
            return _apply(_red.min_(self._data, _nonempty(self, _axes(self, axis)), keepdims), (self,))

    @overload
    def var(self, axis: None = None, *, correction: int = 1) -> Tensor[tuple[()], E, T]: ...
    @overload
    def var(
        self: Tensor[tuple[D0, *Rest], E, T], axis: Literal[0], *, correction: int = 1
    ) -> Tensor[tuple[*Rest], E, T]: ...
    @overload
    def var(
        self: Tensor[tuple[*Lead, DN], E, T], axis: Literal[-1], *, correction: int = 1
    ) -> Tensor[tuple[*Lead], E, T]: ...
    @overload
    def var(self, axis: Axis, keepdims: bool = False, *, correction: int = 1) -> Tensor[tuple[Any, ...], E, T]: ...
    def var(self, axis: Axis = None, keepdims: bool = False, *, correction: int = 1) -> Tensor[Any, E, T]:
        """Variance over ``axis``; ``correction=1`` (default, as PyTorch) is unbiased, 0 is biased."""
        return _spread(self, axis, keepdims, correction, _red.var, "var")

    @overload
    def std(self, axis: None = None, *, correction: int = 1) -> Tensor[tuple[()], E, T]: ...
    @overload
    def std(
        self: Tensor[tuple[D0, *Rest], E, T], axis: Literal[0], *, correction: int = 1
    ) -> Tensor[tuple[*Rest], E, T]: ...
    @overload
    def std(
        self: Tensor[tuple[*Lead, DN], E, T], axis: Literal[-1], *, correction: int = 1
    ) -> Tensor[tuple[*Lead], E, T]: ...
    @overload
    def std(self, axis: Axis, keepdims: bool = False, *, correction: int = 1) -> Tensor[tuple[Any, ...], E, T]: ...
    def std(self, axis: Axis = None, keepdims: bool = False, *, correction: int = 1) -> Tensor[Any, E, T]:
        """Standard deviation over ``axis`` (the square root of ``var``, same arguments); where it is 0 the
        gradient is 0, as in PyTorch."""
        return _spread(self, axis, keepdims, correction, _red.std, "std")

    @overload
    def argmax(self, axis: None = None) -> Tensor[tuple[()], np.int64, NoneTape]: ...
    @overload
    def argmax(self: Tensor[tuple[D0, *Rest], E, T], axis: Literal[0]) -> Tensor[tuple[*Rest], np.int64, NoneTape]: ...
    @overload
    def argmax(self: Tensor[tuple[*Lead, DN], E, T], axis: Literal[-1]) -> Tensor[tuple[*Lead], np.int64, NoneTape]: ...
    @overload
    def argmax(self, axis: int) -> Tensor[tuple[Any, ...], np.int64, NoneTape]: ...
    def argmax(self, axis: int | None = None) -> Tensor[Any, np.int64, NoneTape]:
        """The index of the largest value over ``axis`` (of the flattened tensor for None), int64 and untraced
        (no gradient); the first one at a tie, a NaN counts as the largest (both as ``torch.argmax``)."""
        d = self._data
        if axis is None:
            _nonempty(self, None)
            return _make(np.asarray(np.argmax(d), dtype=np.int64), None)
        ax = _nonempty_axis(self, axis)
        return _make(np.asarray(np.argmax(d, axis=ax), dtype=np.int64), None)

    # ---- shape ---------------------------------------------------------------------------------

    def reshape(self, shape: S2) -> Tensor[S2, E, T]:
        """The same values in ``shape`` (same element count; one dim may be -1 at run time)."""
        try:
            res = _sh.reshape(self._data, tuple(shape))
        except (ValueError, TypeError):
            raise ShapeError(
                f"reshape: cannot view shape {self._data.shape} ({self._data.size} elements) as {tuple(shape)}"
            ) from None
        return _moved(res, self)

    def broadcast_to(self, shape: S2) -> Tensor[S2, E, T]:
        """Repeat along new leading dims and size-1 dims (NumPy rules); the gradient sums back."""
        try:
            res = _sh.broadcast_to(self._data, tuple(shape))
        except (ValueError, TypeError):
            raise ShapeError(
                f"broadcast_to: shape {self._data.shape} cannot broadcast to {tuple(shape)}: dims must match "
                "or be 1, aligned from the right"
            ) from None
        return _moved(res, self)

    # permute and transpose: an overload per literal axis order of rank 2, 3 and 4, so that every checker moves
    # the dims, TypeVars included (a head split ``x.reshape((b, t, h, dh)).transpose(1, 2)``). The dims are
    # matched from the front (non-negative axes) and from the back (negative ones) around a *Rest, which makes
    # transpose exact at every rank; a permute whose length is not the rank is a ShapeError at run time. Other
    # axes (a positive dim after a negative one such as (3, -2) of rank 4, equal dims, rank 5 permutes,
    # non-literal ints) give tuple[Any, ...]: fixed-rank overloads for them would bind a tuple[Any, ...] tensor's
    # dims to Never in mypy. The mypy plugin computes literal axes at any rank and reports a wrong one.
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, *Rest], E, T], axes: tuple[Literal[0, -2], Literal[1, -1]]
    ) -> Tensor[tuple[D0, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, *Rest], E, T], axes: tuple[Literal[1, -1], Literal[0, -2]]
    ) -> Tensor[tuple[D1, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[0, -3], Literal[1, -2], Literal[2, -1]]
    ) -> Tensor[tuple[D0, D1, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[0, -3], Literal[2, -1], Literal[1, -2]]
    ) -> Tensor[tuple[D0, K, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[1, -2], Literal[0, -3], Literal[2, -1]]
    ) -> Tensor[tuple[D1, D0, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[1, -2], Literal[2, -1], Literal[0, -3]]
    ) -> Tensor[tuple[D1, K, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[2, -1], Literal[0, -3], Literal[1, -2]]
    ) -> Tensor[tuple[K, D0, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], axes: tuple[Literal[2, -1], Literal[1, -2], Literal[0, -3]]
    ) -> Tensor[tuple[K, D1, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[1, -3], Literal[2, -2], Literal[3, -1]],
    ) -> Tensor[tuple[D0, D1, K, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[1, -3], Literal[3, -1], Literal[2, -2]],
    ) -> Tensor[tuple[D0, D1, DN, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[2, -2], Literal[1, -3], Literal[3, -1]],
    ) -> Tensor[tuple[D0, K, D1, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[2, -2], Literal[3, -1], Literal[1, -3]],
    ) -> Tensor[tuple[D0, K, DN, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[3, -1], Literal[1, -3], Literal[2, -2]],
    ) -> Tensor[tuple[D0, DN, D1, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[0, -4], Literal[3, -1], Literal[2, -2], Literal[1, -3]],
    ) -> Tensor[tuple[D0, DN, K, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[0, -4], Literal[2, -2], Literal[3, -1]],
    ) -> Tensor[tuple[D1, D0, K, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[0, -4], Literal[3, -1], Literal[2, -2]],
    ) -> Tensor[tuple[D1, D0, DN, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[2, -2], Literal[0, -4], Literal[3, -1]],
    ) -> Tensor[tuple[D1, K, D0, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[2, -2], Literal[3, -1], Literal[0, -4]],
    ) -> Tensor[tuple[D1, K, DN, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[3, -1], Literal[0, -4], Literal[2, -2]],
    ) -> Tensor[tuple[D1, DN, D0, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[1, -3], Literal[3, -1], Literal[2, -2], Literal[0, -4]],
    ) -> Tensor[tuple[D1, DN, K, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[0, -4], Literal[1, -3], Literal[3, -1]],
    ) -> Tensor[tuple[K, D0, D1, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[0, -4], Literal[3, -1], Literal[1, -3]],
    ) -> Tensor[tuple[K, D0, DN, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[1, -3], Literal[0, -4], Literal[3, -1]],
    ) -> Tensor[tuple[K, D1, D0, DN, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[1, -3], Literal[3, -1], Literal[0, -4]],
    ) -> Tensor[tuple[K, D1, DN, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[3, -1], Literal[0, -4], Literal[1, -3]],
    ) -> Tensor[tuple[K, DN, D0, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[2, -2], Literal[3, -1], Literal[1, -3], Literal[0, -4]],
    ) -> Tensor[tuple[K, DN, D1, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[0, -4], Literal[1, -3], Literal[2, -2]],
    ) -> Tensor[tuple[DN, D0, D1, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[0, -4], Literal[2, -2], Literal[1, -3]],
    ) -> Tensor[tuple[DN, D0, K, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[1, -3], Literal[0, -4], Literal[2, -2]],
    ) -> Tensor[tuple[DN, D1, D0, K, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[1, -3], Literal[2, -2], Literal[0, -4]],
    ) -> Tensor[tuple[DN, D1, K, D0, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[2, -2], Literal[0, -4], Literal[1, -3]],
    ) -> Tensor[tuple[DN, K, D0, D1, *Rest], E, T]: ...
    @overload
    def permute(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T],
        axes: tuple[Literal[3, -1], Literal[2, -2], Literal[1, -3], Literal[0, -4]],
    ) -> Tensor[tuple[DN, K, D1, D0, *Rest], E, T]: ...
    @overload
    def permute(self, axes: tuple[int, ...]) -> Tensor[tuple[Any, ...], E, T]: ...
    def permute(self, axes: tuple[int, ...]) -> Tensor[Any, E, T]:
        """Reorder the axes (``axes[i]`` is the source of output axis i, negative ones count from the end), as
        ``torch.permute``; typed for literal axes up to rank 4, else realize() to re-type."""
        nd = self._data.ndim
        given = cast("object", axes)  # checked at run time too: with checks off anything may come
        if not isinstance(given, tuple):
            raise DTypeError(f"permute: axes must be a tuple of ints, got {type(given).__name__}")
        order = [_index(a, "permute: an axis") for a in cast("tuple[object, ...]", given)]
        if sorted(a % nd if -nd <= a < nd else a for a in order) != list(range(nd)):
            raise ShapeError(f"permute: axes {axes} are not a permutation of range({nd}) for shape {self._data.shape}")
        return _moved(_sh.permute(self._data, tuple(a % nd for a in order)), self)

    @overload
    def squeeze(self: Tensor[tuple[D0, *Rest], E, T], axis: Literal[0]) -> Tensor[tuple[*Rest], E, T]: ...
    @overload
    def squeeze(self: Tensor[tuple[*Lead, DN], E, T], axis: Literal[-1]) -> Tensor[tuple[*Lead], E, T]: ...
    @overload
    def squeeze(self, axis: int) -> Tensor[tuple[Any, ...], E, T]: ...
    def squeeze(self, axis: int) -> Tensor[Any, E, T]:
        """Drop ``axis``, which must have size 1 (PyTorch leaves other sizes alone; here that is a ShapeError)."""
        ax = _axis(self, axis, "squeeze: axis")
        if self._data.shape[ax] != 1:
            raise ShapeError(
                f"squeeze: axis {axis} of shape {self._data.shape} has size {self._data.shape[ax]}, expected 1; "
                "squeeze only a size-1 axis (reshape() merges or drops others)"
            )
        return _moved(_sh.squeeze(self._data, ax), self)

    @overload
    def unsqueeze(self: Tensor[tuple[*Rest], E, T], axis: Literal[0]) -> Tensor[tuple[Literal[1], *Rest], E, T]: ...
    @overload
    def unsqueeze(self: Tensor[tuple[*Rest], E, T], axis: Literal[-1]) -> Tensor[tuple[*Rest, Literal[1]], E, T]: ...
    @overload
    def unsqueeze(self, axis: int) -> Tensor[tuple[Any, ...], E, T]: ...
    def unsqueeze(self, axis: int) -> Tensor[Any, E, T]:
        """Insert a size-1 axis at ``axis`` of the result (-1 appends one, as ``torch.unsqueeze``)."""
        nd = self._data.ndim + 1
        a = _index(axis, "unsqueeze: axis")
        if not -nd <= a < nd:
            raise ShapeError(
                f"unsqueeze: axis {a} is out of range for shape {self._data.shape}: expected -{nd} <= axis < {nd} "
                "(the result has one more axis)"
            )
        return _moved(_sh.unsqueeze(self._data, a % nd), self)

    @overload
    def transpose(self: Tensor[tuple[*Lead, M, N], E, T]) -> Tensor[tuple[*Lead, N, M], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest], E, T], dim0: Literal[0], dim1: Literal[1]
    ) -> Tensor[tuple[D1, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest], E, T], dim0: Literal[1], dim1: Literal[0]
    ) -> Tensor[tuple[D1, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], dim0: Literal[0], dim1: Literal[2]
    ) -> Tensor[tuple[K, D1, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], dim0: Literal[2], dim1: Literal[0]
    ) -> Tensor[tuple[K, D1, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[0], dim1: Literal[3]
    ) -> Tensor[tuple[DN, D1, K, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[3], dim1: Literal[0]
    ) -> Tensor[tuple[DN, D1, K, D0, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], dim0: Literal[1], dim1: Literal[2]
    ) -> Tensor[tuple[D0, K, D1, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest], E, T], dim0: Literal[2], dim1: Literal[1]
    ) -> Tensor[tuple[D0, K, D1, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[1], dim1: Literal[3]
    ) -> Tensor[tuple[D0, DN, K, D1, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[3], dim1: Literal[1]
    ) -> Tensor[tuple[D0, DN, K, D1, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[2], dim1: Literal[3]
    ) -> Tensor[tuple[D0, D1, DN, K, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, DN, *Rest], E, T], dim0: Literal[3], dim1: Literal[2]
    ) -> Tensor[tuple[D0, D1, DN, K, *Rest], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1], E, T], dim0: Literal[-1], dim1: Literal[-2]
    ) -> Tensor[tuple[*Rest, D1, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1], E, T], dim0: Literal[-2], dim1: Literal[-1]
    ) -> Tensor[tuple[*Rest, D1, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K], E, T], dim0: Literal[-1], dim1: Literal[-3]
    ) -> Tensor[tuple[*Rest, K, D1, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K], E, T], dim0: Literal[-3], dim1: Literal[-1]
    ) -> Tensor[tuple[*Rest, K, D1, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-1], dim1: Literal[-4]
    ) -> Tensor[tuple[*Rest, DN, D1, K, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-4], dim1: Literal[-1]
    ) -> Tensor[tuple[*Rest, DN, D1, K, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K], E, T], dim0: Literal[-2], dim1: Literal[-3]
    ) -> Tensor[tuple[*Rest, D1, D0, K], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K], E, T], dim0: Literal[-3], dim1: Literal[-2]
    ) -> Tensor[tuple[*Rest, D1, D0, K], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-2], dim1: Literal[-4]
    ) -> Tensor[tuple[*Rest, K, D1, D0, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-4], dim1: Literal[-2]
    ) -> Tensor[tuple[*Rest, K, D1, D0, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-3], dim1: Literal[-4]
    ) -> Tensor[tuple[*Rest, D1, D0, K, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[*Rest, D0, D1, K, DN], E, T], dim0: Literal[-4], dim1: Literal[-3]
    ) -> Tensor[tuple[*Rest, D1, D0, K, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1], E, T], dim0: Literal[0], dim1: Literal[-1]
    ) -> Tensor[tuple[D1, *Rest, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1], E, T], dim0: Literal[-1], dim1: Literal[0]
    ) -> Tensor[tuple[D1, *Rest, D0], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1, K], E, T], dim0: Literal[0], dim1: Literal[-2]
    ) -> Tensor[tuple[D1, *Rest, D0, K], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1, K], E, T], dim0: Literal[-2], dim1: Literal[0]
    ) -> Tensor[tuple[D1, *Rest, D0, K], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1, K, DN], E, T], dim0: Literal[0], dim1: Literal[-3]
    ) -> Tensor[tuple[D1, *Rest, D0, K, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, *Rest, D1, K, DN], E, T], dim0: Literal[-3], dim1: Literal[0]
    ) -> Tensor[tuple[D1, *Rest, D0, K, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest, K], E, T], dim0: Literal[1], dim1: Literal[-1]
    ) -> Tensor[tuple[D0, K, *Rest, D1], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest, K], E, T], dim0: Literal[-1], dim1: Literal[1]
    ) -> Tensor[tuple[D0, K, *Rest, D1], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest, K, DN], E, T], dim0: Literal[1], dim1: Literal[-2]
    ) -> Tensor[tuple[D0, K, *Rest, D1, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, *Rest, K, DN], E, T], dim0: Literal[-2], dim1: Literal[1]
    ) -> Tensor[tuple[D0, K, *Rest, D1, DN], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest, DN], E, T], dim0: Literal[2], dim1: Literal[-1]
    ) -> Tensor[tuple[D0, D1, DN, *Rest, K], E, T]: ...
    @overload
    def transpose(
        self: Tensor[tuple[D0, D1, K, *Rest, DN], E, T], dim0: Literal[-1], dim1: Literal[2]
    ) -> Tensor[tuple[D0, D1, DN, *Rest, K], E, T]: ...
    @overload
    def transpose(self: Tensor[tuple[*Lead, M, N], E, T], dim0: int, dim1: int) -> Tensor[tuple[Any, ...], E, T]: ...
    # pyright cannot match the fixed-rank overloads' self to this one's tuple[*Lead, M, N] (each has rank >= 2,
    # which this annotation checks at run time for every form).
    def transpose(  # pyright: ignore[reportInconsistentOverload]
        self: Tensor[tuple[*Lead, M, N], E, T], dim0: int | None = None, dim1: int | None = None
    ) -> Tensor[Any, E, T]:
        """Swap the last two axes (PyTorch ``.mT``), or ``dim0`` and ``dim1`` (``torch.transpose``: negative dims
        count from the end, equal dims give the tensor unchanged). Rank >= 2 in either form."""
        d = self._data
        nd = d.ndim
        if nd < 2:
            raise ShapeError(f"transpose: needs rank >= 2, got shape {d.shape}")
        if dim0 is None and dim1 is None:
            axes = (*range(nd - 2), nd - 1, nd - 2)
        else:
            a, b = _transpose_dim(d.shape, dim0, "dim0"), _transpose_dim(d.shape, dim1, "dim1")
            order = list(range(nd))
            order[a], order[b] = b, a
            axes = tuple(order)
        return _moved(_sh.permute(d, axes), self)

    def tril(self: Tensor[tuple[*Lead, M, N], E, T], diagonal: int = 0) -> Tensor[tuple[*Lead, M, N], E, T]:
        """The lower triangle of the last two axes (``torch.tril``): elements above ``diagonal`` become 0 (False
        for a bool mask); ``diagonal`` > 0 keeps diagonals above the main one, < 0 drops those below it too. Any
        rank >= 2 and dtype; the gradient passes where the values are kept."""
        return _moved(_sh.tril(self._data, _diagonal(self, diagonal, "tril")), self)

    def triu(self: Tensor[tuple[*Lead, M, N], E, T], diagonal: int = 0) -> Tensor[tuple[*Lead, M, N], E, T]:
        """The upper triangle of the last two axes (``torch.triu``): elements below ``diagonal`` become 0 (False
        for a bool mask), so ``tt.ones((t, t), np.bool_).triu(1)`` is a causal mask, True where a query may not
        see a key. Any rank >= 2 and dtype; the gradient passes where the values are kept."""
        return _moved(_sh.triu(self._data, _diagonal(self, diagonal, "triu")), self)

    # ---- splitting and gathering (kernels in _ops/index.py) ------------------------------------

    @overload
    def split(
        self: Tensor[tuple[D0, *Rest], E, T], size: int | Sequence[int], axis: Literal[0] = 0
    ) -> tuple[Tensor[tuple[int, *Rest], E, T], ...]: ...
    @overload
    def split(
        self: Tensor[tuple[*Lead, DN], E, T], size: int | Sequence[int], axis: Literal[-1]
    ) -> tuple[Tensor[tuple[*Lead, int], E, T], ...]: ...
    @overload
    def split(self, size: int | Sequence[int], axis: int) -> tuple[Tensor[tuple[Any, ...], E, T], ...]: ...
    def split(self, size: int | Sequence[int], axis: int = 0) -> tuple[Tensor[Any, E, T], ...]:
        """``torch.split``: chunks of ``size`` along ``axis`` (the last one smaller), or chunks of the listed
        sizes (which must sum to the axis length). Each chunk is a view on the same tape; the gradient is
        joined into one buffer (zeros where a chunk is not used)."""
        ax = _axis(self, axis, "split: axis")
        return _split(self, _ix.split_sizes(self._data.shape[ax], size, ax, "split"), ax)

    @overload
    def chunk(
        self: Tensor[tuple[*Lead, DN], E, T], chunks: Literal[2], axis: Literal[-1]
    ) -> tuple[Tensor[tuple[*Lead, Div[DN, Literal[2]]], E, T], Tensor[tuple[*Lead, Div[DN, Literal[2]]], E, T]]: ...
    @overload
    def chunk(
        self: Tensor[tuple[*Lead, DN], E, T], chunks: Literal[3], axis: Literal[-1]
    ) -> tuple[
        Tensor[tuple[*Lead, Div[DN, Literal[3]]], E, T],
        Tensor[tuple[*Lead, Div[DN, Literal[3]]], E, T],
        Tensor[tuple[*Lead, Div[DN, Literal[3]]], E, T],
    ]: ...
    @overload
    def chunk(
        self: Tensor[tuple[D0, *Rest], E, T], chunks: Literal[2], axis: Literal[0] = 0
    ) -> tuple[Tensor[tuple[Div[D0, Literal[2]], *Rest], E, T], Tensor[tuple[Div[D0, Literal[2]], *Rest], E, T]]: ...
    @overload
    def chunk(
        self: Tensor[tuple[D0, *Rest], E, T], chunks: Literal[3], axis: Literal[0] = 0
    ) -> tuple[
        Tensor[tuple[Div[D0, Literal[3]], *Rest], E, T],
        Tensor[tuple[Div[D0, Literal[3]], *Rest], E, T],
        Tensor[tuple[Div[D0, Literal[3]], *Rest], E, T],
    ]: ...
    @overload
    def chunk(self, chunks: int, axis: int = 0) -> tuple[Tensor[tuple[Any, ...], E, T], ...]: ...
    def chunk(self, chunks: int, axis: int = 0) -> tuple[Tensor[Any, E, T], ...]:
        """``chunks`` equal parts along ``axis``: ``qkv.chunk(3, -1)`` splits (B, T, 3*D) into three (B, T, D).
        The length must divide by ``chunks`` (a ShapeError otherwise; ``torch.chunk`` then returns unequal or
        fewer chunks)."""
        ax = _axis(self, axis, "chunk: axis")
        n = _index(chunks, "chunk: chunks")
        length = self._data.shape[ax]
        if n <= 0 or length % n:
            raise ShapeError(
                f"chunk: axis {ax} of shape {self._data.shape} has length {length}, which does not split into "
                f"{n} equal chunks; chunks must be a positive divisor of it (split() takes unequal sizes)"
            )
        return _split(self, [length // n] * n, ax)

    @overload
    def take_along_axis(self, indices: Tensor[Any, Ix, NoneTape], axis: int) -> Tensor[tuple[Any, ...], E, T]: ...
    @overload
    def take_along_axis(
        self, indices: Tensor[Any, Ix, OwnedTape], axis: int
    ) -> Tensor[tuple[Any, ...], E, OwnedTape]: ...
    @overload
    def take_along_axis(
        self: Tensor[S, E, T], indices: Tensor[Any, Ix, T], axis: int
    ) -> Tensor[tuple[Any, ...], E, T]: ...
    def take_along_axis(self, indices: Tensor[Any, Ix, Any], axis: int) -> Tensor[Any, E, Any]:
        """``np.take_along_axis``: ``out[..., j, ...] = x[..., indices[..., j, ...], ...]`` along ``axis``, for
        integer ``indices`` of x's rank whose other dims equal x's or are 1 (they broadcast, as NumPy's).
        Every index must be in ``[0, x.shape[axis])`` (torch.gather's rule: a negative one is a ShapeError);
        the gradient scatters back, repeated indices accumulating. The result has the indices' tape too."""
        return _gather(self, indices, axis, "take_along_axis", exact=False)

    @overload
    def __getitem__(self: Tensor[tuple[D0, *Rest], E, T], index: int) -> Tensor[tuple[*Rest], E, T]: ...
    @overload
    def __getitem__(self: Tensor[tuple[D0, *Rest], E, T], index: slice) -> Tensor[tuple[int, *Rest], E, T]: ...
    @overload
    def __getitem__(
        self: Tensor[tuple[D0, *Rest], E, T], index: Tensor[tuple[N], Ix, NoneTape]
    ) -> Tensor[tuple[N, *Rest], E, T]: ...
    @overload
    def __getitem__(
        self: Tensor[tuple[D0, *Rest], E, Any], index: Tensor[tuple[N], Ix, OwnedTape]
    ) -> Tensor[tuple[N, *Rest], E, OwnedTape]: ...
    @overload
    def __getitem__(
        self: Tensor[tuple[D0, *Rest], E, T], index: Tensor[tuple[M, N], Ix, NoneTape]
    ) -> Tensor[tuple[M, N, *Rest], E, T]: ...
    @overload
    def __getitem__(
        self: Tensor[tuple[D0, *Rest], E, Any], index: Tensor[tuple[M, N], Ix, OwnedTape]
    ) -> Tensor[tuple[M, N, *Rest], E, OwnedTape]: ...
    @overload
    def __getitem__(self: Tensor[S, E, T], index: Tensor[S, np.bool_, NoneTape]) -> Tensor[tuple[int], E, T]: ...
    @overload
    def __getitem__(self, index: Index | tuple[Index, ...]) -> Tensor[tuple[Any, ...], E, T]: ...
    @overload
    def __getitem__(
        self,
        index: Tensor[Any, Ix, NoneTape]
        | Tensor[Any, np.bool_, NoneTape]
        | tuple[Index | Tensor[Any, Any, NoneTape], ...],
    ) -> Tensor[tuple[Any, ...], E, T]: ...
    @overload
    def __getitem__(
        self, index: Tensor[Any, Ix, Any] | tuple[Index | Tensor[Any, Any, Any], ...]
    ) -> Tensor[tuple[Any, ...], E, Any]: ...
    def __getitem__(
        self, index: Index | Tensor[Any, Any, Any] | tuple[Index | Tensor[Any, Any, Any], ...]
    ) -> Tensor[Any, E, Any]:
        """NumPy indexing: ints, slices, None, ..., integer and bool arrays (gradient scatters back).

        An integer tensor indexes like an integer array (``w[ids]`` gathers rows; ids in ``[-n, n)``, a
        ShapeError naming the first one out of range) and a bool tensor like a mask; the result carries their
        tape too, and repeated ids accumulate their gradients."""
        if index.__class__ is not int and _check_index(index):
            return _tensor_index(self, index)
        try:
            res = _sh.getitem(self._data, index)
        except (IndexError, ValueError, TypeError) as e:
            raise ShapeError(f"index {index!r} does not fit shape {self._data.shape}: {e}") from None
        return _moved(res, self)


if TYPE_CHECKING:

    class _Reducer(Generic[S, E, T]):
        """The static signature of sum/mean/max/min, bound to a tensor of shape S."""

        @overload
        def __call__(self, axis: None = None, keepdims: Literal[False] = False) -> Tensor[tuple[()], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[D0, *Rest], E, T], axis: Literal[0], keepdims: Literal[False] = False
        ) -> Tensor[tuple[*Rest], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[D0, *Rest], E, T], axis: Literal[0], keepdims: Literal[True]
        ) -> Tensor[tuple[Literal[1], *Rest], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[D0, D1, *Rest], E, T], axis: Literal[1], keepdims: Literal[False] = False
        ) -> Tensor[tuple[D0, *Rest], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[D0, D1, *Rest], E, T], axis: Literal[1], keepdims: Literal[True]
        ) -> Tensor[tuple[D0, Literal[1], *Rest], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[*Lead, DN], E, T], axis: Literal[-1], keepdims: Literal[False] = False
        ) -> Tensor[tuple[*Lead], E, T]: ...
        @overload
        def __call__(
            self: _Reducer[tuple[*Lead, DN], E, T], axis: Literal[-1], keepdims: Literal[True]
        ) -> Tensor[tuple[*Lead, Literal[1]], E, T]: ...
        @overload
        def __call__(self, axis: Axis = None, keepdims: bool = False) -> Tensor[tuple[Any, ...], E, T]: ...
        def __call__(self, axis: Axis = None, keepdims: bool = False) -> Tensor[Any, E, T]: ...

    class _Reduction:
        @overload
        def __get__(self, obj: None, owner: type[Any]) -> _Reduction: ...
        @overload
        def __get__(self, obj: Tensor[S, E, T], owner: type[Any]) -> _Reducer[S, E, T]: ...
        def __get__(self, obj: Tensor[S, E, T] | None, owner: type[Any]) -> _Reducer[S, E, T] | _Reduction: ...

    class _BoolReduction:
        """any/all: reduce like sum, to an untraced bool tensor."""

        @overload
        def __get__(self, obj: None, owner: type[Any]) -> _BoolReduction: ...
        @overload
        def __get__(self, obj: Tensor[S, E, T], owner: type[Any]) -> _Reducer[S, np.bool_, NoneTape]: ...
        def __get__(
            self, obj: Tensor[S, E, T] | None, owner: type[Any]
        ) -> _Reducer[S, np.bool_, NoneTape] | _BoolReduction: ...


# ---- recording helpers ---------------------------------------------------------------------------


def _make(data: NDArray[Any], tape: OwnedTape | None, tid: int | None = None) -> Tensor[Any, Any, Any]:
    t: Tensor[Any, Any, Any] = _new(Tensor)  # pyright: ignore[reportUnknownVariableType]
    t._data = data
    t._tape = tape
    t._id = next(_ids) if tid is None else tid
    t._src = -1
    return t


def _apply(
    res: Result, parents: tuple[Tensor[Any, Any, Any] | None, ...], keep_dtype: bool = True
) -> Tensor[Any, Any, Any]:
    """The one recorder of every op: the kernel's output as a tensor, its backward on the tape.

    ``parents`` are the kernel's operands in its order, ``None`` for a constant in a tensor's place (a
    scalar operand, a missing bias): the backward gets one ``need`` per parent. The result is traced
    when any parent is (tapes merge as ``_tape`` describes). With ``keep_dtype`` the output must have
    the dtype of the first tensor parent, and a bool one is refused.
    """
    y, bwd = res
    if y.__class__ is not np.ndarray:  # ufuncs return NumPy scalars for 0-d input
        y = np.asarray(y)
    if keep_dtype:
        first = parents[0]
        if first is None:  # where(cond, 2.0, b): the first tensor sets the dtype
            first = next(p for p in parents if p is not None)
        dt = first._data.dtype
        if dt is _BOOL:
            _refuse_bool()
        if y.dtype is not dt and y.dtype != dt:
            _refuse_promotion(dt, y.dtype)
    tape: OwnedTape | None = None
    one: Tensor[Any, Any, Any] | None = None
    several = False
    for p in parents:
        if p is not None:
            several = one is not None
            one = p
            pt = p._tape
            if pt is not None:
                tape = pt._root() if tape is None else merge(tape, pt)
    out = _make(y, tape)
    if tape is not None:
        record(tape, out._id, parents, bwd)
    elif not several and one is not None and (keep_dtype or y.dtype.kind == "f"):
        # One tensor operand (w.transpose(), 2.0 * w): remember its root, so that a traced op reading this
        # copy of a trained parameter is refused (_tape.refuse_copy) instead of silently dropping its gradient.
        # A non-float result (w.astype(np.int64)) breaks the chain: nothing flows back through it.
        src = one._src
        out._src = one._id if src < 0 else src
    return out


_BOOL = np.dtype(np.bool_)
_F32 = np.dtype(np.float32)


def _refuse_promotion(src: np.dtype[Any], res: np.dtype[Any]) -> None:
    """An op would change the dtype (NumPy's promotion: int64 * 2.0 is float64), which its type says it keeps."""
    raise DTypeError(
        f"this op would turn a tensor of {src.name} into {res.name} (NumPy's promotion), but ops keep their input's "
        f"dtype; {astype_advice('the tensor first', _F32)}"
    )


def _refuse_bool() -> None:
    raise DTypeError(
        "this op needs a float tensor but got a bool mask; use it with where()/masked_fill(), or "
        f"{astype_advice('it', _F32)}"
    )


def _traceable(x: Tensor[Any, Any, Any], grads: object) -> NDArray[Any]:
    if x._tape is not None:
        raise TapeError("this tensor is already traced; trace the untraced tensor (or .detach() first)")
    if not isinstance(grads, Gradients):
        raise TapeError(
            f"trace() needs a Gradients (model.alloc_grads() or tt.Gradients()), got {type(grads).__name__}"
        )
    return _not_bool(x)


def _not_bool(x: Tensor[Any, Any, Any]) -> NDArray[Any]:
    if x._data.dtype is _BOOL:
        raise DTypeError(
            "only float and integer tensors can be traced, this one is bool; a mask takes part in traced ops "
            "untraced (where(), masked_fill())"
        )
    return x._data


def _retape(x: Tensor[Any, Any, Any], like: object) -> Tensor[Any, Any, Any]:
    """``x.retaped(like)``: x's data and id on the root of like's tape (which must not be consumed)."""
    if x._tape is not None:
        raise TapeError(
            "retaped() puts an untraced tensor on another's tape, but this one is already traced; its ops "
            "merge with like's tape by themselves (use it as it is), or start it afresh: x.detach().retaped(like)"
        )
    if not isinstance(like, Tensor):
        raise DTypeError(f"retaped(like) needs a traced typedtensor Tensor as like, got {type(like).__name__}")
    tape = like._tape
    if tape is None:
        raise TapeError(
            "retaped(like) needs a traced tensor (OwnedTape) to take the tape of, got an untraced one; pass the "
            "traced input (x.trace(grads)), or keep this tensor untraced when like is"
        )
    root = tape._root()
    if root._used:
        raise TapeError(
            "retaped(like): like's tape was already consumed by backward(); trace the inputs again "
            "(x.trace(grads)) for a new step and retape onto the new traced input"
        )
    if x._src >= 0:
        refuse_copy(x, root._sinks, "retaped() of")
    return _make(_not_bool(x), root, x._id)


def _mask(mask: Any, x: Tensor[Any, Any, Any], where: str) -> NDArray[Any]:
    data = getattr(mask, "_data", None)
    if data is None or data.dtype is not _BOOL:
        raise DTypeError(f"{where}: the mask must be a bool tensor (e.g. x > 0.0), got {type(mask).__name__}")
    if data.shape != x._data.shape:
        raise ShapeError(f"{where}: mask shape {data.shape} differs from the tensor's {x._data.shape}")
    result: NDArray[Any] = data
    return result


def _scalar(v: Any, dt: np.dtype[Any] | None = None) -> float:
    """``v`` as a float; with ``dt``, a float that dtype holds (a finite v must not become inf in it)."""
    cls: type[Any] = v.__class__
    if issubclass(cls, (bool, np.bool_)) or not issubclass(cls, (int, float, np.integer, np.floating)):
        wrap = "; wrap arrays with tt.tensor(...)" if issubclass(cls, (np.ndarray, list, tuple)) else ""
        raise DTypeError(f"expected a Python number, got {cls.__name__}{wrap}")
    try:
        f = float(v)
    except OverflowError:
        raise DTypeError(
            f"the scalar is an int of {int(v).bit_length()} bits, beyond the float64 range (about 1.8e308)"
        ) from None
    return f if dt is None else fits(f, dt)


_INTS = (int, np.integer)


def _is_int(v: object) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(v, _INTS) and not isinstance(v, bool)


_EXACT = 1 << 53  # float64 holds every integer up to this magnitude exactly


def _exponent(v: Any) -> float:
    """A pow exponent: a real number, an integer one exactly representable (its parity decides the sign)."""
    p = _scalar(v)
    if isinstance(v, _INTS):
        whole = int(cast("int", v))
        if not -_EXACT <= whole <= _EXACT:
            raise DTypeError(f"pow: the integer exponent {whole} is beyond 2**53, which float64 cannot hold exactly")
    return p


def _float_operand(x: Tensor[Any, Any, Any], op: str) -> Tensor[Any, Any, Any]:
    """``x`` when it holds floats (the op computes in them), else the DTypeError saying how to convert."""
    dt = x._data.dtype
    if dt is _BOOL:
        _refuse_bool()
    if dt not in _FLOATS:
        raise DTypeError(f"{op} needs a float tensor, this one is {dt.name}; {astype_advice('it', _F32)}")
    return x


def _one(x: Tensor[Any, Any, Any], what: str) -> Any:
    """The single value of x as a Python number; a ShapeError unless x has exactly one element."""
    d = x._data
    if d.size != 1:
        raise ShapeError(
            f"{what}() of a tensor with {d.size} elements (shape {d.shape}): only a tensor of one element converts; "
            "use .item() on one element (t[i]) or .numpy() for all the values"
        )
    return d.reshape(()).item()


def _check_index(index: object) -> bool:
    """DTypeError for a part of the wrong kind (what the ``Index`` annotation refuses, and non-int slice
    bounds), ShapeError for a zero slice step; whether the index fits the shape is NumPy's to decide.
    True when a part is a tensor (``_tensor_index`` checks its dtype and values)."""
    tensors = False
    parts = cast("tuple[object, ...]", index if index.__class__ is tuple else (index,))
    for p in parts:
        kind = p.__class__
        if kind is int or p is None or p is Ellipsis:
            continue
        if kind is slice:
            sl = cast("slice[object, object, object]", p)
            if not all(b is None or _is_int(b) for b in (sl.start, sl.stop, sl.step)):
                raise DTypeError(f"index: slice bounds must be ints or None, got {sl!r}")
            if sl.step == 0:
                raise ShapeError(f"index: a slice step must not be zero, got {sl!r}")
        elif issubclass(kind, _INTS):  # a bool scalar too: NumPy's 0-d mask (a new axis)
            continue
        elif issubclass(kind, np.ndarray):
            dt = cast("NDArray[Any]", p).dtype
            if dt.kind not in "iub":
                raise DTypeError(f"index: an index array must hold integers or bools, got dtype {dt}")
        elif issubclass(kind, list):
            if not all(_is_int(i) for i in cast("list[object]", p)):
                raise DTypeError(f"index: an index list must hold ints, got {p!r}")
        elif kind is Tensor:
            tensors = True
        else:
            raise DTypeError(
                "index: an index is an int, slice, None, ..., integer or bool array or tensor, or list of ints, got "
                f"{kind.__name__}"
            )
    return tensors


def _split(x: Tensor[Any, Any, Any], sizes: list[int], axis: int) -> tuple[Tensor[Any, Any, Any], ...]:
    """The chunks of split/chunk: a join recorded on x (when traced), then each chunk as a view of it."""
    join, chunks = _ix.split(x._data, sizes, axis)
    whole = x if x._tape is None else _apply(join, (x,))
    return tuple(_moved(c, whole) for c in chunks)


def _gather(x: Tensor[Any, Any, Any], indices: object, axis: object, what: str, exact: bool) -> Tensor[Any, Any, Any]:
    """take_along_axis and gather: the indices checked (integers, x's rank, dims that fit, values in range)."""
    idx = _tensor_arg(indices, f"{what}: indices")
    ax = _axis(x, axis, f"{what}: axis")
    _ix.along_indices(x._data.shape, idx._data, ax, what, exact)
    return _apply(_ix.take_along_axis(x._data, idx._data, ax), (x, idx), keep_dtype=False)  # moves values


def _tensor_index(x: Tensor[Any, Any, Any], index: object) -> Tensor[Any, Any, Any]:
    """``x[index]`` where the index holds integer or bool tensors (its other parts checked by ``_check_index``):
    NumPy's advanced indexing by their data, the tensors as parents (their tape joins, they get no gradient)."""
    parts = cast("tuple[object, ...]", index if index.__class__ is tuple else (index,))
    tensors: list[Tensor[Any, Any, Any]] = []
    plain: list[object] = []
    for i, p in enumerate(parts):
        if p.__class__ is Tensor:
            t: Tensor[Any, Any, Any] = p  # pyright: ignore[reportAssignmentType]
            _ix.index_dtype(t._data, i)
            tensors.append(t)
            plain.append(t._data)
        else:
            plain.append(p)
    _ix.index_ranges(x._data.shape, tuple(plain))
    try:
        res = _ix.advanced(x._data, tuple(plain), len(tensors))
    except (IndexError, ValueError, TypeError) as e:
        raise ShapeError(f"index does not fit shape {x._data.shape}: {e}") from None
    return _apply(res, (x, *tensors), keep_dtype=False)  # moves values: a mask or integer x too


def _operand(x: Tensor[Any, Any, Any], other: Any) -> NDArray[Any] | float:
    """The data of a binary op's second operand: a tensor of x's shape and dtype, or a number that fits
    x's dtype (a ShapeError or DTypeError, saying how to fix it, otherwise)."""
    if other.__class__ is Tensor:
        o: Tensor[Any, Any, Any] = other
        if o._data.shape != x._data.shape:
            raise ShapeError(
                f"elementwise op: shapes {x._data.shape} and {o._data.shape} differ; make them equal with "
                "broadcast_to() (broadcasting between tensors is explicit)"
            )
        if o._data.dtype != x._data.dtype:
            raise DTypeError(
                f"elementwise op: dtypes {x._data.dtype.name} and {o._data.dtype.name} differ; "
                f"{astype_advice('one', o._data.dtype, x._data.dtype)}"
            )
        return o._data
    return _scalar(other, x._data.dtype)


def _binary(x: Tensor[Any, Any, Any], other: object, kernel: Any) -> Tensor[Any, Any, Any]:
    o = _operand(x, other)
    if isinstance(o, float):
        return _apply(kernel(x._data, o), (x, None))
    return _apply(kernel(x._data, o), (x, other))  # type: ignore[arg-type]


def _index(v: object, what: str) -> int:
    """``v`` as an int when it is a Python or NumPy integer, else a DTypeError (checks on or off).

    A bool is refused although Python counts it as an int: ``sum(axis=True)`` is a mistake, not axis 1.
    """
    if isinstance(v, int) and v.__class__ is not bool:
        return v
    if isinstance(v, np.integer):
        number: np.integer[Any] = v  # pyright: ignore[reportUnknownVariableType]
        return int(number)
    raise DTypeError(f"{what} must be an int (or a NumPy integer), got {type(v).__name__}")


def _tensor_arg(x: object, where: str) -> Tensor[Any, Any, Any]:
    """``x`` if it is a Tensor, else the DTypeError the annotation check raises with checks on."""
    cls: type = x.__class__  # a class test, cheap enough for every unchecked call
    if cls is not Tensor:
        raise DTypeError(f"{where}: expected a typedtensor.Tensor, got {cls.__name__}; wrap arrays with tt.tensor(...)")
    return cast("Tensor[Any, Any, Any]", x)


def _axis(x: Tensor[Any, Any, Any], axis: object, what: str = "axis") -> int:
    nd = x._data.ndim
    a: int = axis if type(axis) is int else _index(axis, what)
    if not -nd <= a < nd:
        raise ShapeError(f"axis {a} is out of range for shape {x._data.shape} (rank {nd})")
    return a % nd


def _moved(res: Result, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
    """The recorder of the pure shape ops (reshape, broadcast_to, permute, transpose, squeeze, unsqueeze,
    tril/triu, indexing, split/chunk; take_along_axis and tensor indexing pass ``keep_dtype=False`` likewise):
    they move or zero values and never compute with them, so a bool mask and an integer tensor pass (a mask
    unsqueezed and broadcast for masked_fill); no gradient is ever computed for either."""
    return _apply(res, (x,), keep_dtype=False)


def _diagonal(x: Tensor[Any, Any, Any], diagonal: object, what: str) -> int:
    """tril/triu's ``diagonal`` (an int, checks on or off), clipped to the last two axes (the same triangle: a
    huge one must not overflow NumPy's index arithmetic); a ShapeError below rank 2."""
    shape = x._data.shape
    if len(shape) < 2:
        raise ShapeError(f"{what}: needs rank >= 2 (it works on the last two axes), got shape {shape}")
    k = _index(diagonal, f"{what}: diagonal")
    return max(-int(shape[-2]), min(k, int(shape[-1])))


def _transpose_dim(shape: tuple[int, ...], dim: object, name: str) -> int:
    """One dim of ``transpose(dim0, dim1)`` as a non-negative axis (both must be given: a DTypeError for None)."""
    if dim is None:
        raise DTypeError(f"transpose: {name} is missing; give both dim0 and dim1, or neither to swap the last two axes")
    a = _index(dim, f"transpose: {name}")
    nd = len(shape)
    if not -nd <= a < nd:
        raise ShapeError(
            f"transpose: {name}={a} is out of range for shape {shape} (rank {nd}): expected -{nd} <= dim < {nd}"
        )
    return a % nd


def _axes(x: Tensor[Any, Any, Any], axis: object) -> tuple[int, ...] | None:
    """Validate ``axis`` against x's rank; None (all axes) or sorted non-negative axes.

    ``axis`` is checked here too: with checks off anything may come.
    """
    if axis is None:
        return None
    if not isinstance(axis, tuple):
        return (_axis(x, axis, "axis (an int, a tuple of ints or None)"),)
    out = tuple(sorted(_axis(x, a) for a in cast("tuple[object, ...]", axis)))
    if len(set(out)) != len(out):
        raise ShapeError(f"axis {axis} repeats an axis of shape {x._data.shape}")
    return out


def _spread(
    x: Tensor[Any, Any, Any], axis: object, keepdims: bool, correction: object, kernel: Any, name: str
) -> Tensor[Any, Any, Any]:
    """var/std: the axes and ``correction`` checked (an int leaving at least one degree of freedom)."""
    axes = _axes(x, axis)
    c = _index(correction, f"{name}: correction")
    n = int(np.prod([x._data.shape[a] for a in (range(x.ndim) if axes is None else axes)]))
    if n - c <= 0:
        raise ShapeError(
            f"{name}: {n} value(s) per result with correction={c} leaves no degrees of freedom; "
            "reduce over more values or use correction=0"
        )
    return _apply(kernel(x._data, axes, keepdims, c), (x,))


def _nonempty_axis(x: Tensor[Any, Any, Any], axis: int) -> int:
    ax = _axis(x, axis)
    _nonempty(x, (ax,))
    return ax


def _nonempty(x: Tensor[Any, Any, Any], axes: tuple[int, ...] | None) -> tuple[int, ...] | None:
    shape = x._data.shape
    if any(shape[a] == 0 for a in (range(len(shape)) if axes is None else axes)):
        raise ShapeError(f"this reduction over an empty axis of shape {shape} has no value")
    return axes


_FLOATS = FLOAT_DTYPES
#: The check of every float ``dtype=`` argument (layers import it from here).
_float_dtype = float_dtype


def _prebind(x: Tensor[Any, Any, Any]) -> dict[object, Any]:
    d = x._data
    return {S: d.shape, E: d.dtype.type, T: NoneTape if x._tape is None else OwnedTape}


class Gradients(GradientStore):
    """Gradients of a backward pass, looked up by tensor: ``grads.get(t)``.

    ``Gradients()`` keeps the gradients of the tensors allocated in it (``alloc``; modules allocate
    their parameters) and accumulates into them across backward passes until ``zero()``.
    ``Gradients(leaky=True)`` (what ``leaky_trace`` uses) keeps every gradient, intermediates too.
    (The store is the tape's, ``_tape.GradientStore``; the lookup by tensor is here, beside ``Tensor``.)
    """

    __slots__ = ()

    def get(self, t: Tensor[S, E, Any]) -> Tensor[S, E, NoneTape]:
        """The gradient of ``t`` as an untraced tensor of ``t``'s shape and dtype."""
        g = self._grads.get(t._id)
        if g is None and t._data.dtype.kind != "f":
            raise TapeError(
                f"no gradient is stored for this {t._data.dtype} tensor (shape {t._data.shape}): an integer or "
                "bool tensor never gets one; it carries a tape into the ops that read it, as their constant"
            )
        if g is None:
            raise TapeError(
                f"no gradient is stored for this tensor (shape {t._data.shape}): it was not on the path "
                "to the loss, or the tape was not leaky and the tensor was not allocated; use "
                "x.leaky_trace(), or grads.alloc(x) / model.alloc_grads() before tracing"
            )
        return _make(g.copy(), None)  # a snapshot: later backward() or zero() calls do not change it


_check.install(Tensor, _prebind)
# == is an elementwise op like <: checked like it, although the checker leaves object's __eq__ alone.
Tensor.__eq__ = _check._wrap(Tensor.__eq__, _prebind)  # type: ignore[method-assign]
_check.install(Gradients, lambda _: {}, ["get"])
