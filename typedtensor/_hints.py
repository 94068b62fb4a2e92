"""Hint classes: ``Tensor[S, E, T]`` at run time, and how a failed check is explained and classified.

``Tensor[S, E, T]`` is, at run time, a *hint class*: a class whose metaclass implements
``__instancecheck__`` with code generated for that one hint (dtype, tape, rank, constant dims and
symbolic dims). Symbolic dims (TypeVars, NewTypes, TypeVarTuples) bind through a per-call memo kept in
a ContextVar, which the checked wrappers of ``typedtensor._check`` set for the duration of a call.

When a check fails, beartype asks the hint for an explanation (``__instancecheck_str__``); the
explanation also records which kinds of problem it found (shape, dtype, tape), and the violation
class beartype raises, :class:`Violation`, turns that into the matching ``CheckError`` subclass.
"""

from __future__ import annotations

import threading
import types
import typing
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NewType, Self, TypeVar, TypeVarTuple, cast

import numpy as np

from ._dimexpr import DimExpr
from ._dtypes import astype_advice
from ._errors import CHECK_ERRORS, CheckError, DTypeCheckError, ShapeCheckError, TapeCheckError, TypedTensorError

__all__ = ["Bindings", "HintMeta", "Violation", "get_bindings", "reset_bindings", "set_bindings", "tensor_hint"]

Bindings = dict[object, Any]
_bindings: ContextVar[Bindings | None] = ContextVar("typedtensor_bindings", default=None)
get_bindings = _bindings.get
set_bindings = _bindings.set
reset_bindings = _bindings.reset
_get_bindings = get_bindings

# ---- what the last explanation found, for the class of the error beartype raises next ------------

_Kinds = frozenset[type[CheckError]]
_DTYPE: _Kinds = frozenset({DTypeCheckError})
_last = threading.local()


def _found(obj: object, kinds: _Kinds) -> None:
    """Record that ``obj`` failed a hint for problems of ``kinds`` (beartype raises right after).

    By id, so that the record never keeps a tensor alive.
    """
    _last.found = (id(obj), kinds)


class Violation(CheckError):
    """The violation class beartype is configured with: it builds the ``CheckError`` subclass naming
    the kinds of problem found, so that ``except ShapeError`` also catches a shape mismatch the
    annotation check found.

    beartype calls it with the message and the culprits (the argument or return value, then the
    item inside it that failed). A failure no tensor hint explained (a str for an int, an ndarray
    for a tensor) is a value of the wrong kind: a ``DTypeCheckError``.
    """

    def __init__(self, message: str = "", culprits: tuple[object, ...] = ()) -> None:
        super().__init__(message)  # not reached: __new__ returns an instance of another class

    def __new__(cls, message: str = "", culprits: tuple[object, ...] = ()) -> Self:
        found: tuple[int, _Kinds] | None = getattr(_last, "found", None)
        _last.found = None
        kinds = found[1] if found is not None and culprits and found[0] == id(culprits[-1]) else _DTYPE
        # Not an instance of cls, so Python does not call __init__ again: the error is complete.
        return cast(Self, CHECK_ERRORS[kinds](message))


def _is_symbol(x: object) -> bool:
    return isinstance(x, (TypeVar, NewType))


def _name(x: object) -> str:
    if isinstance(x, (TypeVar, TypeVarTuple)):
        return x.__name__
    if isinstance(x, NewType):
        return x.__name__
    if x is Any:
        return "Any"
    if isinstance(x, type):
        return x.__name__
    if typing.get_origin(x) is typing.Literal:
        return f"L[{typing.get_args(x)[0]}]"
    if typing.get_origin(x) is typing.Unpack:
        return "*" + _name(typing.get_args(x)[0])
    return repr(x)


class _DimSpec:
    """A parsed shape: fixed dims before and after an optional variadic part."""

    def __init__(self, shape: object) -> None:
        # kinds: ("const", n) | ("any", None) | ("sym", symbol) | ("expr", DimExpr)
        self.whole: object | None = None  # a TypeVar standing for the whole shape
        self.any_shape = False
        self.prefix: list[tuple[str, object]] = []
        self.suffix: list[tuple[str, object]] = []
        self.variadic: object | None = None  # None: fixed rank; a TypeVarTuple; or Any
        self.text = _name(shape)
        if shape is Any or shape is tuple:
            self.any_shape = True
            return
        if isinstance(shape, TypeVar):
            self.whole = shape
            return
        if typing.get_origin(shape) is not tuple:
            raise TypedTensorError(f"Tensor[S, E, T]: S must be a tuple[...] of dims, a TypeVar or Any, got {shape!r}")
        args = typing.get_args(shape)
        if args == ((),):  # typing.Tuple[()] spelling
            args = ()
        self.text = "tuple[" + ", ".join(_name(a) for a in args) + "]" if args else "tuple[()]"
        target = self.prefix
        for i, a in enumerate(args):
            if a is Ellipsis:
                if i != 1 or len(args) != 2:
                    raise TypedTensorError(f"Tensor[S, E, T]: '...' only as tuple[X, ...], got {shape!r}")
                if args[0] not in (int, Any):
                    raise TypedTensorError(
                        f"Tensor[S, E, T]: tuple[X, ...] is supported for X = int or Any, got {shape!r}; "
                        "use *Ts (a TypeVarTuple) for symbolic leading dims"
                    )
                self.any_shape = True
                return
            unpacked = _unpacked(a)
            if unpacked is not None:
                if self.variadic is not None:
                    raise TypedTensorError(f"Tensor[S, E, T]: at most one *Ts in a shape, got {shape!r}")
                inner = unpacked
                if typing.get_origin(inner) is tuple:  # *tuple[int, ...]
                    self.variadic = Any
                else:
                    self.variadic = inner
                target = self.suffix
                continue
            target.append(self._dim(a, shape))

    @staticmethod
    def _dim(a: object, shape: object) -> tuple[str, object]:
        if typing.get_origin(a) is typing.Literal:
            values = typing.get_args(a)
            if len(values) != 1 or not isinstance(values[0], int) or isinstance(values[0], bool) or values[0] < 0:
                raise TypedTensorError(
                    f"Tensor[S, E, T]: a constant dim is Literal[n] with one non-negative int n, got {a!r} in {shape!r}"
                )
            return ("const", values[0])
        if a is int or a is Any:
            return ("any", None)
        if _is_symbol(a):
            return ("sym", a)
        if isinstance(a, DimExpr):
            return ("expr", a)
        raise TypedTensorError(
            f"Tensor[S, E, T]: a dim must be Literal[n], int, a TypeVar, a NewType or an expression such as Half[H]; "
            f"got {a!r} in {shape!r}"
        )


def _unpacked(a: object) -> object | None:
    """``X`` for ``*X`` / ``Unpack[X]`` / a bare TypeVarTuple, else None."""
    if isinstance(a, TypeVarTuple):
        return a
    if getattr(a, "__unpacked__", False):  # *tuple[int, ...] evaluates to an unpacked tuple alias
        return typing.get_origin(a) or tuple
    origin: object = typing.get_origin(a)
    if origin is typing.Unpack:
        args: tuple[object, ...] = typing.get_args(a)
        return args[0]
    return None


def _scalar_type(e: object) -> np.dtype[Any] | None:
    """The dtype of a NumPy scalar type such as np.float32, else None."""
    return np.dtype(cast("type[Any]", e)) if isinstance(e, type) and issubclass(e, np.generic) else None


def _allowed_types(var: object) -> tuple[type, ...] | None:
    """The classes a TypeVar admits (its constraints, or the members of its bound), None for any."""
    options: tuple[object, ...] = getattr(var, "__constraints__", ()) or ()
    if not options:
        bound: object = getattr(var, "__bound__", None)
        if bound is None:
            return None
        options = typing.get_args(bound) if typing.get_origin(bound) in (typing.Union, types.UnionType) else (bound,)
    classes = tuple(typing.get_origin(o) or o for o in options)
    return tuple(c for c in classes if isinstance(c, type)) or None


def _free_vars(params: tuple[object, object, object]) -> list[object]:
    shape, dtype, tape = params
    items = list(typing.get_args(shape)) if typing.get_origin(shape) is tuple else [shape]
    out: list[object] = []
    for x in [*items, dtype, tape]:
        for v in x.symbols() if isinstance(x, DimExpr) else [x]:
            if isinstance(v, TypeVar) and v not in out:
                out.append(v)
    return out


def _substituted(a: object, sub: dict[object, object]) -> object:
    return a.substitute(sub) if isinstance(a, DimExpr) else sub.get(a, a)


def _dtype_name(e: object) -> str:
    dt = _scalar_type(e)
    return dt.name if dt is not None else _name(e)


class HintMeta(type):
    """Metaclass of hint classes: isinstance() runs the generated check."""

    _check: Callable[[object], bool]
    _explain: Callable[[object], str]
    _hint_repr: str
    _tensor_cls: type

    def __instancecheck__(cls, obj: object) -> bool:
        return cls._check(obj)

    def __instancecheck_str__(cls, obj: object) -> str:
        return cls._explain(obj)

    def __repr__(cls) -> str:
        return cls._hint_repr

    def __or__(cls, other: object) -> Any:
        return _union_hint(cls, other)

    def __getitem__(cls, args: object) -> type:
        """Substitute the hint's free TypeVars in order of appearance (generic aliases: ``Rank2[...]``)."""
        params: tuple[object, object, object] | None = getattr(cls, "_params", None)
        free = _free_vars(params) if params is not None else []
        given: tuple[object, ...] = cast("tuple[object, ...]", args) if isinstance(args, tuple) else (args,)
        if params is None or len(given) != len(free):
            raise TypedTensorError(f"{cls._hint_repr} takes {len(free)} type arguments, got {len(given)}")
        sub = dict(zip(free, given, strict=True))
        shape, dtype, tape = params
        if typing.get_origin(shape) is tuple:
            shape = tuple.__class_getitem__(tuple(_substituted(a, sub) for a in typing.get_args(shape)))
        else:
            shape = sub.get(shape, shape)
        return tensor_hint(cls._tensor_cls, (shape, sub.get(dtype, dtype), sub.get(tape, tape)))

    def __ror__(cls, other: object) -> Any:
        return _union_hint(cls, other)


def _union_hint(hint: HintMeta, other: object) -> type:
    """``Tensor[...] | float`` as one hint class, so a failure still gets the detailed message.

    (beartype reports a union member by its repr only.) Python numbers follow PEP 484's tower: an
    int is accepted for float.
    """
    plain: tuple[type, ...]
    if other is None or other is type(None):
        plain, label = (type(None),), "None"
    elif other is float:
        plain, label = (int, float, np.integer, np.floating), "float"
    elif other is int:
        plain, label = (int, np.integer), "int"
    else:
        return typing.Union[hint, other]  # type: ignore[return-value]  # noqa: UP007 (| would recurse)
    text = f"{hint._hint_repr} | {label}"
    tensor_check = hint._check
    tensor_explain = hint._explain

    def check(obj: object) -> bool:
        if isinstance(obj, plain) and not isinstance(obj, bool):
            return True
        return tensor_check(obj)

    def explain(obj: object) -> str:
        if obj.__class__.__name__ == "Tensor":
            return tensor_explain(obj)
        _found(obj, _DTYPE)
        return f"expected {text}, got {type(obj).__name__}"

    ns = {"_check": staticmethod(check), "_explain": staticmethod(explain), "_hint_repr": text}
    return HintMeta(text, (), ns)


_hint_cache: dict[tuple[type, object, object, object], type] = {}


def tensor_hint(tensor_cls: type, params: object) -> type:
    """The run-time hint class for ``Tensor[S, E, T]`` (cached per parameters)."""
    items: tuple[object, ...] = cast("tuple[object, ...]", params) if isinstance(params, tuple) else (params,)
    if len(items) != 3:
        raise TypedTensorError(f"Tensor takes three parameters, Tensor[Shape, DType, Tape]; got Tensor[{params!r}]")
    shape, dtype, tape = items
    key = (tensor_cls, shape, dtype, tape)
    hint = _hint_cache.get(key)
    if hint is None:
        hint = _hint_cache[key] = _build_hint(tensor_cls, shape, dtype, tape)
    return hint


def _tape_classes() -> tuple[type, type]:
    from ._tape import NoneTape, OwnedTape

    return NoneTape, OwnedTape


def _build_hint(tensor_cls: type, shape: object, dtype: Any, tape: Any) -> type:
    none_tape, owned_tape = _tape_classes()
    spec = _DimSpec(shape)
    env: dict[str, object] = {"Tensor": tensor_cls, "_get": _get_bindings, "NoneTape": none_tape}
    body: list[str] = ["if obj.__class__ is not Tensor: return False", "d = obj._data"]
    binds: list[tuple[object, str]] = []  # (symbol, expression) committed on success
    exprs: list[tuple[int, DimExpr, tuple[object, ...]]] = []  # (position, expression, its symbols)
    firsts: list[tuple[object, int]] = []  # (symbol, its first position) of this hint's symbolic dims

    # dtype
    if _scalar_type(dtype) is not None:
        env["DT"] = _scalar_type(dtype)
        body.append("if d.dtype is not DT: return False")
    elif _is_symbol(dtype):
        allowed = _allowed_types(dtype)
        if allowed is not None:
            env["DTS"] = allowed
            body.append("if not issubclass(d.dtype.type, DTS): return False")
        binds.append((dtype, "d.dtype.type"))
    elif dtype is not Any:
        raise TypedTensorError(f"Tensor[S, E, T]: E must be a NumPy scalar type such as np.float32, got {dtype!r}")

    # tape
    if tape is none_tape:
        body.append("if obj._tape is not None: return False")
    elif tape is owned_tape:
        body.append("if obj._tape is None: return False")
    elif _is_symbol(tape):
        env["OwnedTape"] = owned_tape
        allowed_tapes = _allowed_types(tape) or (none_tape, owned_tape)
        if none_tape not in allowed_tapes:
            body.append("if obj._tape is None: return False")
        if owned_tape not in allowed_tapes:
            body.append("if obj._tape is not None: return False")
        binds.append((tape, "(NoneTape if obj._tape is None else OwnedTape)"))
    elif tape is not Any:
        raise TypedTensorError(f"Tensor[S, E, T]: T must be NoneTape or OwnedTape, got {tape!r}")

    # shape
    if spec.whole is not None:
        binds.append((spec.whole, "d.shape"))
    elif not spec.any_shape:
        body.append("s = d.shape")
        p, q = len(spec.prefix), len(spec.suffix)
        if spec.variadic is None:
            body.append(f"if len(s) != {p}: return False")
        else:
            body.append(f"if len(s) < {p + q}: return False")
        seen: dict[object, str] = {}
        positions = [(i, d) for i, d in enumerate(spec.prefix)] + [(i - q, d) for i, d in enumerate(spec.suffix)]
        for i, (kind, val) in positions:
            if kind == "const":
                body.append(f"if s[{i}] != {val}: return False")
            elif kind == "sym":
                if val in seen:
                    body.append(f"if s[{i}] != {seen[val]}: return False")
                else:
                    seen[val] = f"s[{i}]"
                    binds.append((val, f"s[{i}]"))
                    firsts.append((val, i))
            elif kind == "expr":
                assert isinstance(val, DimExpr)
                exprs.append((i, val, tuple(val.symbols())))
        if spec.variadic is not None and spec.variadic is not Any:
            binds.append((spec.variadic, f"s[{p}:len(s)-{q}]" if q else f"s[{p}:]"))

    last = "return True"
    if exprs:
        env["_XC"] = _expr_check(exprs, firsts, spec.text)
        last = "return _XC(s, m)"
    if binds or exprs:
        body.append("m = _get()")
        # Outside a checked call there is nothing to bind across arguments; repeats of a symbol
        # inside this one hint were already compared directly above.
        body.append("if m is None: " + ("return _XC(s, None)" if exprs else "return True"))
        for j, (sym, expr) in enumerate(binds):
            env[f"K{j}"] = sym
            body.append(f"v{j} = {expr}")
            body.append(f"if m.get(K{j}, v{j}) != v{j}: return False")
        for j in range(len(binds)):
            body.append(f"m[K{j}] = v{j}")
        if binds:  # expressions of earlier tensors waiting for a symbol bound here
            env["P"], env["_PC"] = PENDING, _pending_ok
            body.append("if P in m and not _PC(m): return False")
    body.append(last)
    src = "def check(obj):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(src, f"<typedtensor hint {spec.text}>", "exec"), env)
    check = cast(Callable[[object], bool], env["check"])

    text = f"Tensor[{spec.text}, {_dtype_name(dtype)}, {_name(tape)}]"

    def explain(obj: object) -> str:
        return _explain(obj, spec, dtype, tape, text, tensor_cls, none_tape, owned_tape)

    # beartype requires repr(hint) == module.qualname (that is how unions print their members).
    ns = {
        "_check": staticmethod(check),
        "_explain": staticmethod(explain),
        "_hint_repr": "typedtensor." + text,
        "_params": (shape, dtype, tape),
        "_tensor_cls": tensor_cls,
    }
    hint = HintMeta(text, (), ns)
    hint.__module__ = "typedtensor"
    hint.__qualname__ = text
    return hint


#: Memo key of the expression dims checked before all their symbols were bound: (expression, its symbols,
#: the size found), compared as soon as a later tensor of the call binds the last of them.
PENDING = object()
_Waiting = list[tuple[DimExpr, tuple[object, ...], int, str]]


def _expr_check(
    exprs: list[tuple[int, DimExpr, tuple[object, ...]]], firsts: list[tuple[object, int]], shape_text: str
) -> Callable[[tuple[int, ...], Bindings | None], bool]:
    """The check of a hint's expression dims, after its symbolic dims are bound (``m``: the call's memo,
    or None outside a checked call: then only this hint's own symbols are known)."""
    labels = [f"dim {i} of an earlier tensor of the call, typed {shape_text}," for i, _, _ in exprs]

    def check(s: tuple[int, ...], m: Bindings | None) -> bool:
        known: Bindings = m if m is not None else {sym: s[i] for sym, i in firsts}
        for (i, e, syms), label in zip(exprs, labels, strict=True):
            if all(x in known for x in syms):
                if e.value(known) != s[i]:
                    return False
            elif m is not None:
                waiting: _Waiting = m.setdefault(PENDING, [])
                waiting.append((e, syms, s[i], label))
        return True

    return check


def _pending_ok(m: Bindings) -> bool:
    """Compare the waiting expressions whose symbols are now all bound; False if one differs (kept, for
    the explanation)."""
    waiting: _Waiting = m[PENDING]
    ok = True
    keep: _Waiting = []
    for item in waiting:
        e, syms, n, _ = item
        if not all(x in m for x in syms):
            keep.append(item)
        elif e.value(m) != n:
            ok = False
            keep.append(item)
    m[PENDING] = keep
    return ok


def _fmt_bindings(m: Bindings | None) -> str:
    if not m:
        return "none"
    parts: list[str] = []
    for k, v in m.items():
        if k is PENDING:
            continue
        if isinstance(v, type):
            v = v.__name__
        parts.append(f"{_name(k)}={v}")
    return ", ".join(parts)


def _explain(
    obj: object,
    spec: _DimSpec,
    dtype: object,
    tape: object,
    text: str,
    tensor_cls: type,
    none_tape: type,
    owned_tape: type,
) -> str:
    m = _get_bindings() or {}
    if not isinstance(obj, tensor_cls):
        _found(obj, _DTYPE)
        return f"expected {text}, got {type(obj).__name__} (pass a typedtensor.Tensor, e.g. tt.tensor(...))"
    data = cast("np.ndarray[Any, np.dtype[Any]]", getattr(obj, "_data"))  # noqa: B009
    actual_tape = "NoneTape" if getattr(obj, "_tape") is None else "OwnedTape"  # noqa: B009
    got = f"Tensor of shape {tuple(data.shape)}, dtype {data.dtype.name}, {actual_tape}"
    problems: list[str] = []
    if isinstance(dtype, type):
        if data.dtype != np.dtype(dtype):
            wanted = np.dtype(dtype)
            problems.append(f"dtype is {data.dtype.name} but {wanted.name} is expected ({astype_advice('it', wanted)})")
    elif _is_symbol(dtype) and dtype in m and m[dtype] is not data.dtype.type:
        held = np.dtype(m[dtype])
        problems.append(
            f"dtype is {data.dtype.name} but {_name(dtype)} is bound to {held.name} ({astype_advice('it', held)})"
        )
    elif _is_symbol(dtype) and not issubclass(data.dtype.type, _allowed_types(dtype) or object):
        allowed = ", ".join(c.__name__ for c in _allowed_types(dtype) or ())
        problems.append(f"dtype is {data.dtype.name} but {_name(dtype)} admits only {allowed}")
    after_dtype = len(problems)
    if tape is none_tape and actual_tape != "NoneTape":
        problems.append(
            "tape is OwnedTape but NoneTape is expected (this is an inference input: for a training step call the "
            "training method, e.g. forward_mut; to infer on these values pass x.detach())"
        )
    elif tape is owned_tape and actual_tape != "OwnedTape":
        problems.append(
            "tape is NoneTape but OwnedTape is expected (this is a training input: trace it with x.trace(grads); for "
            "inference call the inference method, e.g. forward)"
        )
    elif _is_symbol(tape) and tape in m and m[tape].__name__ != actual_tape:
        problems.append(f"tape is {actual_tape} but {_name(tape)} is bound to {m[tape].__name__}")
    elif _is_symbol(tape) and actual_tape not in {c.__name__ for c in _allowed_types(tape) or (none_tape, owned_tape)}:
        problems.append(f"tape is {actual_tape} but {_name(tape)} admits only the other tape")
    after_tape = len(problems)
    shape: tuple[int, ...] = tuple(data.shape)
    local: dict[object, int] = {}
    computed: list[tuple[int, DimExpr, int]] = []
    if spec.whole is not None:
        if spec.whole in m and tuple(m[spec.whole]) != shape:
            problems.append(f"shape {shape} differs from {_name(spec.whole)} = {tuple(m[spec.whole])}")
    elif not spec.any_shape:
        p, q = len(spec.prefix), len(spec.suffix)
        if spec.variadic is None and len(shape) != p:
            problems.append(f"rank is {len(shape)} but {p} is expected")
        elif spec.variadic is not None and len(shape) < p + q:
            problems.append(f"rank is {len(shape)} but at least {p + q} is expected")
        else:
            fixed = [(i, d) for i, d in enumerate(spec.prefix)] + [
                (len(shape) - q + i, d) for i, d in enumerate(spec.suffix)
            ]
            for i, (kind, val) in fixed:
                n = shape[i]
                if kind == "const" and n != val:
                    problems.append(f"dim {i} is {n} but {val} is expected")
                elif kind == "sym":
                    bound = m.get(val, local.get(val))
                    if bound is not None and bound != n:
                        problems.append(f"dim {i} ({_name(val)}) is {n} but {_name(val)} is bound to {bound}")
                    local.setdefault(val, n)
                elif kind == "expr":
                    assert isinstance(val, DimExpr)
                    computed.append((i, val, n))
            known = {**local, **m}
            for i, e, n in computed:
                if all(x in known for x in e.symbols()) and e.value(known) != n:
                    problems.append(f"dim {i} is {n} but {e.explain(known)} is expected")
            var = spec.variadic
            if var is not None and var is not Any and var in m:
                middle = shape[p : len(shape) - q]
                if tuple(m[var]) != middle:
                    problems.append(
                        f"dims {p}..{len(shape) - q - 1} ({_name(var)}) are {middle} but {_name(var)} is bound to "
                        f"{tuple(m[var])}"
                    )
    known = {**local, **m}
    waiting: _Waiting = m.get(PENDING, [])
    for e, syms, n, label in waiting:
        if all(x in known for x in syms) and e.value(known) != n:
            problems.append(f"{label} is {n} but {e.explain(known)} is expected")
    kinds: set[type[CheckError]] = set()
    if after_dtype:
        kinds.add(DTypeCheckError)
    if after_tape > after_dtype:
        kinds.add(TapeCheckError)
    if len(problems) > after_tape:
        kinds.add(ShapeCheckError)
    _found(obj, frozenset(kinds) or _DTYPE)
    if not problems:
        problems.append("it does not satisfy the hint")
    return f"expected {text}, got {got}: " + "; ".join(problems) + f" [bindings: {_fmt_bindings(m)}]"
