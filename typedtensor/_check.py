"""Run-time checking derived from the same annotations mypy and pyright read.

``Tensor[S, E, T]`` is, at run time, a *hint class*: a class whose metaclass implements
``__instancecheck__`` with code generated for that one hint (dtype, tape, rank, constant dims and
symbolic dims). beartype type-checks every public op and module method against its annotations and
calls these hint classes. Symbolic dims (TypeVars, NewTypes, TypeVarTuples) bind once per call across
all arguments and the return value through a per-call memo kept in a ContextVar; a method's class
parameters are bound from ``self`` before the call.

Switch checking off with the environment variable ``TYPEDTENSOR_CHECKS=0`` (nothing is wrapped: zero
cost) or at run time with :func:`set_checks` / :func:`checks` (one branch per call).
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import typing
from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import Any, NewType, TypeVar, TypeVarTuple, cast

import numpy as np
from beartype import BeartypeConf, beartype
from beartype.roar import BeartypeException

from ._errors import CheckError, TypedTensorError

__all__ = ["checked", "checks", "checks_enabled", "set_checks"]

Bindings = dict[object, Any]
_bindings: ContextVar[Bindings | None] = ContextVar("typedtensor_bindings", default=None)
_get_bindings = _bindings.get
_set_bindings = _bindings.set
_reset_bindings = _bindings.reset

_ENV = "TYPEDTENSOR_CHECKS"
#: False when the environment switched checks off at import: nothing is wrapped at all.
WRAP = os.environ.get(_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


class _State:
    on: bool = WRAP


_state = _State()

_CONF = BeartypeConf(is_pep484_tower=True, violation_type=CheckError)

F = TypeVar("F", bound=Callable[..., Any])


def checks_enabled() -> bool:
    """Whether run-time checks are currently on."""
    return _state.on


def set_checks(enabled: bool) -> None:
    """Turn run-time checks on or off for the whole process.

    Checks switched off by ``TYPEDTENSOR_CHECKS=0`` at import were never installed and cannot be
    turned on again in that process.
    """
    if enabled and not WRAP:
        raise TypedTensorError(
            f"run-time checks were disabled at import by {_ENV}=0, so they are not installed; "
            f"unset {_ENV} and restart the process to use them"
        )
    _state.on = bool(enabled)


@contextlib.contextmanager
def checks(enabled: bool) -> Generator[None]:
    """Context manager: run the block with run-time checks on or off, then restore."""
    before = _state.on
    set_checks(enabled)
    try:
        yield
    finally:
        _state.on = before


# --------------------------------------------------------------------------------------------
# Hint classes
# --------------------------------------------------------------------------------------------


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
        # kinds: ("const", n) | ("any", None) | ("sym", symbol)
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
        raise TypedTensorError(
            f"Tensor[S, E, T]: a dim must be Literal[n], int, a TypeVar or a NewType; got {a!r} in {shape!r}"
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
        if isinstance(x, TypeVar) and x not in out:
            out.append(x)
    return out


def _dtype_name(e: object) -> str:
    dt = _scalar_type(e)
    return dt.name if dt is not None else _name(e)


class _HintMeta(type):
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
            shape = tuple.__class_getitem__(tuple(sub.get(a, a) for a in typing.get_args(shape)))
        else:
            shape = sub.get(shape, shape)
        return tensor_hint(cls._tensor_cls, (shape, sub.get(dtype, dtype), sub.get(tape, tape)))

    def __ror__(cls, other: object) -> Any:
        return _union_hint(cls, other)


def _union_hint(hint: _HintMeta, other: object) -> type:
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
        return f"expected {text}, got {type(obj).__name__}"

    ns = {"_check": staticmethod(check), "_explain": staticmethod(explain), "_hint_repr": text}
    return _HintMeta(text, (), ns)


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
        if spec.variadic is not None and spec.variadic is not Any:
            binds.append((spec.variadic, f"s[{p}:len(s)-{q}]" if q else f"s[{p}:]"))

    if binds:
        body.append("m = _get()")
        # Outside a checked call there is nothing to bind across arguments; repeats of a symbol
        # inside this one hint were already compared directly above.
        body.append("if m is None: return True")
        for j, (sym, expr) in enumerate(binds):
            env[f"K{j}"] = sym
            body.append(f"v{j} = {expr}")
            body.append(f"if m.get(K{j}, v{j}) != v{j}: return False")
        for j in range(len(binds)):
            body.append(f"m[K{j}] = v{j}")
    body.append("return True")
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
    hint = _HintMeta(text, (), ns)
    hint.__module__ = "typedtensor"
    hint.__qualname__ = text
    return hint


def _fmt_bindings(m: Bindings | None) -> str:
    if not m:
        return "none"
    parts: list[str] = []
    for k, v in m.items():
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
        return f"expected {text}, got {type(obj).__name__} (pass a typedtensor.Tensor, e.g. tt.tensor(...))"
    data = cast("np.ndarray[Any, np.dtype[Any]]", getattr(obj, "_data"))  # noqa: B009
    actual_tape = "NoneTape" if getattr(obj, "_tape") is None else "OwnedTape"  # noqa: B009
    got = f"Tensor of shape {tuple(data.shape)}, dtype {data.dtype.name}, {actual_tape}"
    problems: list[str] = []
    if isinstance(dtype, type):
        if data.dtype != np.dtype(dtype):
            problems.append(f"dtype is {data.dtype.name} but {np.dtype(dtype).name} is expected (convert with .astype)")
    elif _is_symbol(dtype) and dtype in m and m[dtype] is not data.dtype.type:
        problems.append(f"dtype is {data.dtype.name} but {_name(dtype)} is bound to {np.dtype(m[dtype]).name}")
    elif _is_symbol(dtype) and not issubclass(data.dtype.type, _allowed_types(dtype) or object):
        allowed = ", ".join(c.__name__ for c in _allowed_types(dtype) or ())
        problems.append(f"dtype is {data.dtype.name} but {_name(dtype)} admits only {allowed}")
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
    shape: tuple[int, ...] = tuple(data.shape)
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
            local: dict[object, int] = {}
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
            var = spec.variadic
            if var is not None and var is not Any and var in m:
                middle = shape[p : len(shape) - q]
                if tuple(m[var]) != middle:
                    problems.append(
                        f"dims {p}..{len(shape) - q - 1} ({_name(var)}) are {middle} but {_name(var)} is bound to "
                        f"{tuple(m[var])}"
                    )
    if not problems:
        problems.append("it does not satisfy the hint")
    return f"expected {text}, got {got}: " + "; ".join(problems) + f" [bindings: {_fmt_bindings(m)}]"


# --------------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------------

Prebind = Callable[[Any], Bindings]


def checked(fn: F) -> F:
    """Check a function's tensor arguments and return value against its annotations at run time.

    Symbolic dims (TypeVar, NewType, TypeVarTuple) bind once per call across every argument and
    the return value. Use it on your own functions::

        @tt.checked
        def attend(q: Tensor[tuple[B, N, D], F, T], k: Tensor[tuple[B, M, D], F, T]) -> ...: ...
    """
    return cast(F, _wrap(fn, None))


def _wrap(fn: Callable[..., Any], prebind: Prebind | None) -> Callable[..., Any]:
    if not WRAP:
        return fn
    state = _state
    lazy: list[Callable[..., Any]] = []
    # Decorate now, while the enclosing scope of a nested function still exists to resolve its names;
    # if an annotation names something defined later (a class being built), decorate on first call.
    with contextlib.suppress(BeartypeException):
        lazy.append(beartype(conf=_CONF)(fn))

    def bear() -> Callable[..., Any]:
        if not lazy:
            lazy.append(beartype(conf=_CONF)(fn))
        return lazy[0]

    if prebind is None:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not state.on:
                return fn(*args, **kwargs)
            token = _set_bindings({})
            try:
                return (lazy[0] if lazy else bear())(*args, **kwargs)
            finally:
                _reset_bindings(token)

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not state.on:
                return fn(*args, **kwargs)
            token = _set_bindings(prebind(args[0]))
            try:
                return (lazy[0] if lazy else bear())(*args, **kwargs)
            finally:
                _reset_bindings(token)

    wrapper.__typedtensor_checked__ = True  # type: ignore[attr-defined]
    return wrapper


def install(cls: type, prebind: Prebind, names: list[str] | None = None) -> None:
    """Wrap the methods of ``cls`` (all public ones and dunders defined on it, or ``names``)."""
    if not WRAP:
        return
    for name, value in list(vars(cls).items()):
        if names is not None and name not in names:
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        if name in _SKIP or not callable(value) or isinstance(value, (staticmethod, classmethod, type)):
            continue
        if getattr(value, "__typedtensor_checked__", False):
            continue
        setattr(cls, name, _wrap(value, prebind))


_SKIP = frozenset(
    {
        "__init__",
        "__new__",
        "__repr__",
        "__str__",
        "__class_getitem__",
        "__init_subclass__",
        "__array__",
        "__len__",
        "__hash__",
        "__eq__",
        "__getattr__",
        "__setattr__",
        "__getstate__",
        "__setstate__",
        "__bool__",
        "__iter__",
    }
)
