"""Hint classes: ``Tensor[S, E, T]`` at run time, and how a failed check is explained and classified.

``Tensor[S, E, T]`` is, at run time, a *hint class*: a class whose metaclass implements
``__instancecheck__`` with code generated for that one hint (dtype, tape, rank, constant dims and
symbolic dims). Symbolic dims (TypeVars, NewTypes, TypeVarTuples) bind through a per-call memo kept in
a ContextVar, which the checked wrappers of ``typedtensor._check`` set for the duration of a call.

A hint is first described as a list of clauses (:class:`Clause`: the kind of problem, the test that
finds it, the symbol it binds, the message that reports it); the check and its explanation are both
generated from that one list, so they cannot disagree. When a check fails, beartype asks the hint for
an explanation (``__instancecheck_str__``); the explanation also records which kinds of problem it
found (shape, dtype, tape), and the violation class beartype raises, :class:`Violation`, turns that
into the matching ``CheckError`` subclass.
"""

from __future__ import annotations

import threading
import types
import typing
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple, NewType, Self, TypeVar, TypeVarTuple, cast

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
    desc = _describe(tensor_cls, shape, dtype, tape)
    env = dict(desc.env)
    exec(compile(_check_source(desc), f"<typedtensor hint {desc.text}>", "exec"), env)
    exec(compile(_problems_source(desc), f"<typedtensor explanation {desc.text}>", "exec"), env)
    check = cast(Callable[[object], bool], env["check"])
    problems = cast(_Problems, env["problems"])
    text = desc.text

    def explain(obj: object) -> str:
        m = _get_bindings() or {}
        if obj.__class__ is not tensor_cls:  # the check's first test
            _found(obj, _DTYPE)
            return f"expected {text}, got {type(obj).__name__} (pass a typedtensor.Tensor, e.g. tt.tensor(...))"
        found = problems(obj, m)
        data = cast("np.ndarray[Any, np.dtype[Any]]", getattr(obj, "_data"))  # noqa: B009
        actual_tape = "NoneTape" if getattr(obj, "_tape") is None else "OwnedTape"  # noqa: B009
        got = f"Tensor of shape {tuple(data.shape)}, dtype {data.dtype.name}, {actual_tape}"
        _found(obj, frozenset(kind for kind, _ in found) or _DTYPE)
        said = "; ".join(message for _, message in found) or "it does not satisfy the hint"
        return f"expected {text}, got {got}: {said} [bindings: {_fmt_bindings(m)}]"

    # beartype requires repr(hint) == module.qualname (that is how unions print their members).
    ns = {
        "_check": staticmethod(check),
        "_explain": staticmethod(explain),
        "_problems": staticmethod(problems),
        "_hint_repr": "typedtensor." + text,
        "_params": (shape, dtype, tape),
        "_tensor_cls": tensor_cls,
    }
    hint = HintMeta(text, (), ns)
    hint.__module__ = "typedtensor"
    hint.__qualname__ = text
    return hint


# ---- a hint as a list of clauses, from which both its check and its explanation are generated -------

#: The stages of a check. LOCAL clauses read only the tensor; BOUND ones compare a value of it with the
#: call's memo and bind the symbol when every clause passed; LATE ones compare the expression dims that
#: earlier tensors of the call left waiting; KNOWN ones compare this tensor's expression dims with the
#: symbols known so far.
LOCAL, BOUND, LATE, KNOWN = range(4)

#: Memo key of the expression dims checked before all their symbols were bound: (expression, its symbols,
#: the size found, where it was found), compared as soon as a later tensor of the call binds the last of them.
PENDING = object()

_Problems = Callable[[object, Bindings], list[tuple[type[CheckError], str]]]


class Clause(NamedTuple):
    """One condition a tensor meets to satisfy a hint, written once for the check and its explanation.

    ``fails`` is a Python expression, true when the condition is violated: the generated check returns
    False on it, the generated explanation reports ``message`` (the body of an f-string). Both are
    source over the tensor ``obj``, its data ``d`` and shape ``s``, the call's memo ``m``, the known
    dim values ``k`` (KNOWN and LATE clauses), the clause's ``value`` as ``v{j}`` and its symbol as
    ``K{j}`` (BOUND clauses), the waiting item ``w`` (LATE clauses) and the names of the hint's env.
    """

    kind: type[CheckError]
    stage: int
    fails: str
    message: str
    #: BOUND: ``j``, the clause's symbol ``K{j}`` bound to ``v{j} = value`` when the whole check passed.
    bound: int = -1
    value: str = ""
    #: KNOWN: the clause applies only when ``ready``; until then the check leaves ``wait`` in the memo for LATE.
    ready: str = ""
    wait: str = ""
    #: When violated, the explanation skips the later clauses of its kind (they presume it, or repeat it).
    moot: bool = False


class Description(NamedTuple):
    """A hint's clauses in the order the explanation reports them, and the names their source uses."""

    text: str
    clauses: list[Clause]
    env: dict[str, object]
    shaped: bool  #: the clauses read ``s``
    local: str  #: source of the dict of this hint's own symbolic dims (``{K3: s[0]}``)


_KIND_NAMES: dict[type[CheckError], str] = {DTypeCheckError: "DTK", TapeCheckError: "TPK", ShapeCheckError: "SHK"}


def _lit(text: str) -> str:
    """``text`` as literal f-string source."""
    return text.replace("{", "{{").replace("}", "}}")


def _all_known(symbols: tuple[object, ...], known: Bindings) -> bool:
    return all(x in known for x in symbols)


def _it_advice(dtype: np.dtype[Any]) -> str:
    return astype_advice("it", dtype)


class _Describer:
    """Builds a hint's :class:`Description`: the clauses and the environment their source reads."""

    def __init__(self, tensor_cls: type) -> None:
        self.none_tape, self.owned_tape = _tape_classes()
        self.env: dict[str, object] = {
            "Tensor": tensor_cls,
            "NoneTape": self.none_tape,
            "OwnedTape": self.owned_tape,
            "P": PENDING,
            "_get": _get_bindings,
            "_all": _all_known,
            "_advice": _it_advice,
            "_dt": np.dtype,
            **{name: kind for kind, name in _KIND_NAMES.items()},
        }
        self.out: list[Clause] = []
        self.local: list[str] = []  # this hint's own symbolic dims, as ``K{j}: s[i]``

    def put(self, value: object, prefix: str) -> str:
        """A name for ``value`` in the environment."""
        key = f"{prefix}{len(self.env)}"
        self.env[key] = value
        return key

    def add(self, kind: type[CheckError], stage: int, fails: str, message: str, **more: Any) -> None:
        self.out.append(Clause(kind, stage, fails, message, **more))

    def symbol(self, symbol: object) -> int:
        """``j``: the symbol is ``K{j}`` in the environment, the value a BOUND clause gives it ``v{j}``."""
        j = len(self.env)
        self.env[f"K{j}"] = symbol
        return j

    def bind(self, kind: type[CheckError], j: int, value: str, message: str, moot: bool = False) -> None:
        """A BOUND clause: ``v{j} = value`` agrees with the symbol's value in the memo (if any)."""
        self.add(kind, BOUND, f"m.get(K{j}, v{j}) != v{j}", message, bound=j, value=value, moot=moot)

    def dtype(self, dtype: object) -> None:
        D = DTypeCheckError
        exact = _scalar_type(dtype)
        if exact is not None:
            self.env["DT"] = exact
            self.add(D, LOCAL, "d.dtype is not DT", "dtype is {d.dtype.name} but {DT.name} is expected ({_advice(DT)})")
        elif _is_symbol(dtype):
            name = _lit(_name(dtype))
            j = self.symbol(dtype)
            held = f"_dt(m[K{j}])"
            said = f"dtype is {{d.dtype.name}} but {name} is bound to {{{held}.name}} ({{_advice({held})}})"
            self.bind(D, j, "d.dtype.type", said, moot=True)
            allowed = _allowed_types(dtype)
            if allowed is not None:
                names = _lit(", ".join(c.__name__ for c in allowed))
                fails = f"not issubclass(d.dtype.type, {self.put(allowed, 'A')})"
                self.add(D, LOCAL, fails, f"dtype is {{d.dtype.name}} but {name} admits only {names}")
        elif dtype is not Any:
            raise TypedTensorError(f"Tensor[S, E, T]: E must be a NumPy scalar type such as np.float32, got {dtype!r}")

    def tape(self, tape: object) -> None:
        T = TapeCheckError
        if tape is self.none_tape:
            self.add(T, LOCAL, "obj._tape is not None", _lit(_NOT_INFERENCE))
        elif tape is self.owned_tape:
            self.add(T, LOCAL, "obj._tape is None", _lit(_NOT_TRAINING))
        elif _is_symbol(tape):
            name = _lit(_name(tape))
            actual = "(NoneTape if obj._tape is None else OwnedTape)"
            j = self.symbol(tape)
            self.bind(T, j, actual, f"tape is {{v{j}.__name__}} but {name} is bound to {{m[K{j}].__name__}}", moot=True)
            allowed = _allowed_types(tape) or (self.none_tape, self.owned_tape)
            if self.none_tape not in allowed:
                self.add(T, LOCAL, "obj._tape is None", f"tape is NoneTape but {name} admits only the other tape")
            if self.owned_tape not in allowed:
                self.add(T, LOCAL, "obj._tape is not None", f"tape is OwnedTape but {name} admits only the other tape")
        elif tape is not Any:
            raise TypedTensorError(f"Tensor[S, E, T]: T must be NoneTape or OwnedTape, got {tape!r}")

    def shape(self, spec: _DimSpec) -> None:
        S = ShapeCheckError
        if spec.whole is not None:
            name = _lit(_name(spec.whole))
            j = self.symbol(spec.whole)
            self.bind(S, j, "d.shape", f"shape {{v{j}}} differs from {name} = {{tuple(m[K{j}])}}")
            return
        if spec.any_shape:
            return
        p, q = len(spec.prefix), len(spec.suffix)
        if spec.variadic is None:
            self.add(S, LOCAL, f"len(s) != {p}", f"rank is {{len(s)}} but {p} is expected", moot=True)
        else:
            self.add(S, LOCAL, f"len(s) < {p + q}", f"rank is {{len(s)}} but at least {p + q} is expected", moot=True)
        firsts: dict[object, tuple[int, int]] = {}  # symbol: (its clause's j, its first index)
        exprs: list[tuple[int, str, DimExpr]] = []
        positions = [(i, d) for i, d in enumerate(spec.prefix)] + [(i - q, d) for i, d in enumerate(spec.suffix)]
        for i, (kind, val) in positions:
            at = str(i) if i >= 0 else f"{{len(s) - {-i}}}"  # the position counted from the start, in a message
            if kind == "const":
                self.add(S, LOCAL, f"s[{i}] != {val}", f"dim {at} is {{s[{i}]}} but {val} is expected")
            elif kind == "sym":
                name = _lit(_name(val))
                if val in firsts:  # a repeat within the hint: equal to its first occurrence, without the memo
                    j, first = firsts[val]
                    said = f"dim {at} ({name}) is {{s[{i}]}} but {name} is bound to {{m.get(K{j}, s[{first}])}}"
                    self.add(S, LOCAL, f"s[{i}] != s[{first}]", said)
                else:
                    j = self.symbol(val)
                    self.bind(S, j, f"s[{i}]", f"dim {at} ({name}) is {{v{j}}} but {name} is bound to {{m[K{j}]}}")
                    firsts[val] = (j, i)
                    self.local.append(f"K{j}: s[{i}]")
            elif kind == "expr":
                assert isinstance(val, DimExpr)
                exprs.append((i, at, val))
        for i, at, e in exprs:
            ex, xs = self.put(e, "E"), self.put(tuple(e.symbols()), "X")
            label = self.put(f"dim {i} of an earlier tensor of the call, typed {spec.text},", "L")
            said = f"dim {at} is {{s[{i}]}} but {{{ex}.explain(k)}} is expected"
            wait = f"({ex}, {xs}, s[{i}], {label})"
            self.add(S, KNOWN, f"{ex}.value(k) != s[{i}]", said, ready=f"_all({xs}, k)", wait=wait)
        var = spec.variadic
        if var is not None and var is not Any:
            name = _lit(_name(var))
            middle = f"s[{p}:len(s)-{q}]" if q else f"s[{p}:]"
            j = self.symbol(var)
            said = f"dims {p}..{{len(s) - {q + 1}}} ({name}) are {{v{j}}} but {name} is bound to {{tuple(m[K{j}])}}"
            self.bind(S, j, middle, said)

    def late(self) -> None:
        """Expressions of earlier tensors waiting for a symbol: compared when this hint binds one."""
        if any(c.stage == BOUND for c in self.out):
            said = "{w[3]} is {w[2]} but {w[0].explain(k)} is expected"
            self.add(ShapeCheckError, LATE, "w[0].value(k) != w[2]", said, ready="_all(w[1], k)")


def _describe(tensor_cls: type, shape: object, dtype: Any, tape: Any) -> Description:
    """The clauses of ``Tensor[shape, dtype, tape]``: dtype, tape, then shape, each in the order of the hint."""
    spec = _DimSpec(shape)
    build = _Describer(tensor_cls)
    build.dtype(dtype)
    build.tape(tape)
    build.shape(spec)
    build.late()
    text = f"Tensor[{spec.text}, {_dtype_name(dtype)}, {_name(tape)}]"
    shaped = spec.whole is None and not spec.any_shape
    return Description(text, build.out, build.env, shaped, "{" + ", ".join(build.local) + "}")


_NOT_INFERENCE = (
    "tape is OwnedTape but NoneTape is expected (this is an inference input: for a training step call the "
    "training method, e.g. forward_mut; to infer on these values pass x.detach())"
)
_NOT_TRAINING = (
    "tape is NoneTape but OwnedTape is expected (this is a training input: trace it with x.trace(grads); for "
    "inference call the inference method, e.g. forward)"
)


def _stage(desc: Description, stage: int) -> list[Clause]:
    return [c for c in desc.clauses if c.stage == stage]


def _check_source(desc: Description) -> str:
    """``check(obj)``: False at the first clause that fails, stage by stage; the symbols bound on success."""
    body = ["if obj.__class__ is not Tensor: return False", "d = obj._data"]
    for c in _stage(desc, LOCAL):
        if desc.shaped and c.kind is ShapeCheckError and "s = d.shape" not in body:
            body.append("s = d.shape")  # after the dtype and tape clauses (the rank clause comes first)
        body.append(f"if {c.fails}: return False")
    bound, late, known = _stage(desc, BOUND), _stage(desc, LATE), _stage(desc, KNOWN)
    if bound or known:
        body.append("m = _get()")
        # Outside a checked call there is nothing to bind across arguments; repeats of a symbol inside
        # this one hint were compared by LOCAL clauses, and its expressions see its own symbols.
        body.append("if m is None:")
        if known:
            body.append(f"    k = {desc.local}")
            body += [f"    if {c.ready} and {c.fails}: return False" for c in known]
        body.append("    return True")
        for c in bound:
            body += [f"v{c.bound} = {c.value}", f"if {c.fails}: return False"]
        body += [f"m[K{c.bound}] = v{c.bound}" for c in bound]
        if late or known:
            body.append("k = m")
        for c in late:
            body += ["if P in m:", "    for w in m[P]:", f"        if {c.ready} and {c.fails}: return False"]
        for c in known:
            body += [f"if not {c.ready}: m.setdefault(P, []).append({c.wait})", f"elif {c.fails}: return False"]
    body.append("return True")
    return "def check(obj):\n" + "".join(f"    {line}\n" for line in body)


def _problems_source(desc: Description) -> str:
    """``problems(obj, m)``: every clause that fails, in order, as (kind, message); ``m`` is the memo or {}.

    Stated for a Tensor (the check's first test). A clause marked ``moot`` that fails makes the later
    clauses of its kind skipped; ``k`` is this hint's own symbolic dims and the memo's.
    """
    body = ["out = []", "d = obj._data"] + (["s = d.shape"] if desc.shaped else [])
    body += [f"{flag} = False" for flag in ("mDTK", "mTPK", "mSHK")]
    for c in desc.clauses:
        kind = _KIND_NAMES[c.kind]
        report = [f"out.append(({kind}, f{c.message!r}))"] + ([f"m{kind} = True"] if c.moot else [])
        inner = [f"v{c.bound} = {c.value}"] if c.stage == BOUND else []
        if c.stage in (LATE, KNOWN):  # shape clauses: read when the rank is right
            inner.append(f"k = {{**{desc.local}, **m}}")
        test = f"{c.ready} and {c.fails}" if c.ready else c.fails
        if c.stage == LATE:
            inner += ["for w in m.get(P, ()):", f"    if {test}:", *(f"        {r}" for r in report)]
        else:
            inner += [f"if {test}:", *(f"    {r}" for r in report)]
        body += [f"if not m{kind}:", *(f"    {line}" for line in inner)]
    body.append("return out")
    return "def problems(obj, m):\n" + "".join(f"    {line}\n" for line in body)


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
