"""Dim expressions under mypy: ``Half[H]``, ``Mul[C, H, W]``, ``Add``, ``Sub``, ``Div`` (``typedtensor._dimexpr``).

Without the plugin each is a generic alias of ``Any``. With it, the type analyze hook turns each into a
canonical type, an instance of one of ``typedtensor._dimexpr._Static``'s classes, and folds it where its
arguments are Literal (``Half[Literal[32]]`` is ``Literal[16]``):

- ``Mul`` and ``Add`` are binary and nested to the right, their operands flattened, the Literal ones
  folded into one constant first, the others sorted by their text: ``Mul[W, C, H]`` and
  ``Mul[C, Mul[H, W]]`` are one type, ``Mul[C, H, W]``; a factor 1 or a term 0 is dropped.
- ``Sub[A, L[0]]`` and ``Div[A, L[1]]`` are ``A``; a Literal ``Sub`` below 0 or ``Div`` by 0 is an error; a
  product divided by a divisor of its constant is exact: ``Div[Mul[L[3], D], L[3]]`` is ``D`` (``chunk(3)``).

An expression dim matches only itself (as a TypeVar dim matches only itself): ``int`` in its place is an
error, as ``int`` where ``H`` is expected is. At a call of a user's function whose signature has
expressions, the expressions of its return type are folded once mypy has substituted its type variables
(``block(x)`` with ``H = Literal[32]`` gives ``Literal[16]`` where ``Half[H]`` was declared), and an
expression in a parameter accepts any dim: mypy solves type variables from the other dims, and the
run-time checks compare it.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.checker import TypeChecker
from mypy.nodes import TypeInfo
from mypy.plugin import AnalyzeTypeContext, FunctionContext, FunctionSigContext, MethodContext, MethodSigContext
from mypy.type_visitor import TypeQuery, TypeTranslator
from mypy.typeops import get_all_type_vars
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    LiteralType,
    Overloaded,
    Type,
    TypeAliasType,
    TypeOfAny,
    TypeVarType,
    get_proper_type,
)

from .dims import refined

MODULE = "typedtensor._dimexpr"
STATIC = f"{MODULE}._Static"
#: The public aliases: name -> (number of arguments, whether more may follow).
ALIASES: dict[str, tuple[int, bool]] = {
    "Half": (1, False),
    "Mul": (2, True),
    "Add": (2, True),
    "Sub": (2, False),
    "Div": (2, False),
}
_CLASSES = {f"{STATIC}.{name}": name for name in ALIASES}

Lookup = Callable[[str], TypeInfo | None]


def _literal(n: int, like: Instance) -> LiteralType:
    """``Literal[n]``; ``like`` is an expression instance (its ``int`` base is the fallback)."""
    fallback = like.type.bases[0] if like.type.bases else like
    return LiteralType(n, fallback)


def _value(t: Type) -> int | None:
    p = get_proper_type(t)
    if isinstance(p, LiteralType) and type(p.value) is int:
        return p.value
    return None


class Builder:
    """Makes canonical expression types from the classes of ``_Static`` (found through ``lookup``)."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._infos: dict[str, TypeInfo] = {}

    def info(self, name: str) -> TypeInfo | None:
        found = self._infos.get(name)
        if found is None:
            found = self._lookup(f"{STATIC}.{name}")
            if found is None:
                return None
            self._infos[name] = found
        return found

    def make(self, name: str, args: list[Type]) -> Type | str:
        """The canonical form of ``name[args]``, or a message saying why it is no size."""
        info = self.info(name)
        if info is None:
            return AnyType(TypeOfAny.special_form)
        probe = Instance(info, [AnyType(TypeOfAny.special_form)] * len(info.defn.type_vars))
        if name in ("Mul", "Add"):
            return self._assoc(name, info, args, probe)
        values = [_value(a) for a in args]
        if name == "Half":
            return _literal((values[0] + 1) // 2, probe) if values[0] is not None else Instance(info, args)
        a, b = values
        if name == "Sub":
            if b == 0:
                return args[0]
            if a is not None and b is not None:
                return _literal(a - b, probe) if a >= b else f"Sub[{a}, {b}] is negative, no size"
            return Instance(info, args)
        if b == 0:
            return f"Div[{args[0] if a is None else a}, 0] divides by 0"
        if b == 1:
            return args[0]
        if a is not None and b is not None:
            return _literal(a // b, probe)
        head = get_proper_type(args[0])
        if b is not None and isinstance(head, Instance) and head.type.fullname == f"{STATIC}.Mul":
            factor = _value(head.args[0])  # a product's constant comes first: Div[Mul[6, D], 3] is Mul[2, D]
            if factor is not None and factor % b == 0:
                return self.make("Mul", [_literal(factor // b, probe), head.args[1]])
        return Instance(info, args)

    def _assoc(self, name: str, info: TypeInfo, args: list[Type], probe: Instance) -> Type:
        terms: list[Type] = []
        stack = list(reversed(args))
        while stack:  # flatten nested products (sums)
            t = stack.pop()
            p = get_proper_type(t)
            if isinstance(p, Instance) and p.type.fullname == info.fullname:
                stack.extend(reversed(p.args))
            else:
                terms.append(t)
        mul = name == "Mul"
        constant = 1 if mul else 0
        others: list[Type] = []
        for t in terms:
            v = _value(t)
            if v is None:
                others.append(t)
            else:
                constant = constant * v if mul else constant + v
        if mul and constant == 0:
            return _literal(0, probe)
        others.sort(key=str)
        if constant != (1 if mul else 0) or not others:
            others.insert(0, _literal(constant, probe))
        out = others[-1]
        for t in reversed(others[:-1]):
            out = Instance(info, [t, out])
        return out


def analyze(ctx: AnalyzeTypeContext, name: str, builder: Builder) -> Type:
    """The type analyze hook of ``typedtensor.Half`` etc.: the canonical (folded) type."""
    arity, variadic = ALIASES[name]
    args = [ctx.api.analyze_type(a) for a in ctx.type.args]
    if len(args) != arity and not (variadic and len(args) >= arity):
        wanted = f"{arity} or more" if variadic else str(arity)
        ctx.api.fail(f"{name}[...] takes {wanted} dims, got {len(args)}", ctx.context)
        return AnyType(TypeOfAny.from_error)
    made = builder.make(name, args)
    if isinstance(made, str):
        ctx.api.fail(made, ctx.context)
        return AnyType(TypeOfAny.from_error)
    return made


class _Has(TypeQuery[bool]):
    def strategy(self, items: list[bool]) -> bool:
        return any(items)

    def visit_instance(self, t: Instance, /) -> bool:
        return t.type.fullname in _CLASSES or self.query_types(t.args)


def has_expr(t: Type) -> bool:
    """Whether an expression dim occurs anywhere in ``t``."""
    return t.accept(_Has())


class _Fold(TypeTranslator):
    def __init__(self, builder: Builder, anywhere: bool) -> None:
        super().__init__()
        self.builder = builder
        self.anywhere = anywhere  # False: expressions become Any (a parameter's)

    def visit_instance(self, t: Instance, /) -> Type:
        name = _CLASSES.get(t.type.fullname)
        args = [a.accept(self) for a in t.args]
        if name is None:
            return Instance(
                t.type, args, t.line, t.column, last_known_value=t.last_known_value, extra_attrs=t.extra_attrs
            )
        if not self.anywhere:
            return AnyType(TypeOfAny.special_form)
        made = self.builder.make(name, args)
        return AnyType(TypeOfAny.from_error) if isinstance(made, str) else made

    def visit_type_alias_type(self, t: TypeAliasType, /) -> Type:
        return get_proper_type(t).accept(self)


def fold(t: Type, builder: Builder) -> Type:
    """``t`` with every expression whose arguments are now Literal folded."""
    return t.accept(_Fold(builder, True))


def loosen(t: Type, builder: Builder) -> Type:
    """``t`` with every expression dim ``Any``."""
    return t.accept(_Fold(builder, False))


def folded_return(ctx: FunctionContext | MethodContext, builder: Builder) -> Type:
    """A call of a user's function whose return type has expressions: the expressions folded.

    The result yields to a context that asks for ``int`` dims there, as every dim the plugin computes
    does, except in the parameter of a generic function whose type variables mypy is solving: there
    the folded dims are what solves them (``down(down(x))``, a chain of user blocks, stays exact).
    """
    folded = fold(ctx.default_return_type, builder)
    api = ctx.api
    context = api.type_context[-1] if isinstance(api, TypeChecker) and api.type_context else None
    if context is not None and any(v.id.is_meta_var() for v in get_all_type_vars(context)):
        return folded
    return refined(ctx, folded)


def loosened_signature(ctx: FunctionSigContext | MethodSigContext, builder: Builder) -> FunctionLike:
    """A user's function with expressions in its parameters: those accept any dim."""
    sig = ctx.default_signature
    if isinstance(sig, Overloaded):
        return sig
    loosened = [loosen(a, builder) for a in sig.arg_types]
    return sig.copy_modified(arg_types=loosened)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias


def signature_has_expr(sig: Type) -> tuple[bool, bool]:
    """Whether a callable's return type and parameters have expressions."""
    p = get_proper_type(sig)
    items = p.items if isinstance(p, Overloaded) else [p] if isinstance(p, CallableType) else []
    ret = any(has_expr(c.ret_type) for c in items)
    params = any(has_expr(a) for c in items for a in c.arg_types)
    return ret, params


# ---- the dims layers compute from symbolic ones (typedtensor._mypy.layers) ----------------------------

#: The builder of the running plugin (``install``); None: no expressions are made (the dims stay ``int``).
_builder: Builder | None = None


def install(builder: Builder) -> None:
    """Make ``window`` and ``product`` build with the plugin's builder."""
    global _builder
    _builder = builder


def _symbolic(t: Type) -> bool:
    """A TypeVar dim or an expression (not ``int`` or ``Any``: those stay what they are)."""
    p = get_proper_type(t)
    return isinstance(p, TypeVarType) or (isinstance(p, Instance) and p.type.fullname in _CLASSES)


def _made(name: str, args: list[Type]) -> Type | None:
    if _builder is None:
        return None
    made = _builder.make(name, args)
    return None if isinstance(made, str) or isinstance(get_proper_type(made), AnyType) else made


def _const(n: int) -> Type | None:
    info = _builder.info("Half") if _builder is not None else None
    return _literal(n, Instance(info, [AnyType(TypeOfAny.special_form)])) if info is not None else None


def window(size: Type, kernel: int, stride: int, padding: int, dilation: int) -> Type | None:
    """The output length of a window over a symbolic ``size`` as an expression, else None.

    ``(L + 2P - D(K-1) - 1) // S + 1`` is ``(L + c) // S`` with ``c = 2P - D(K-1) - 1 + S``: ``Half[L]``
    for stride 2 and ``c = 1`` (kernel 3 / padding 1, kernel 1 / padding 0, ...), ``Div[L, S]`` for
    ``c = 0`` (``MaxPool2D(2)``), ``Add``/``Sub`` of ``c`` for stride 1, and ``Div[Add[L, c], S]``
    otherwise.
    """
    if not _symbolic(size) or stride < 1:
        return None
    c = 2 * padding - dilation * (kernel - 1) - 1 + stride
    if stride == 2 and c == 1:
        return _made("Half", [size])
    shifted: Type | None = size
    if c != 0:
        amount = _const(abs(c))
        shifted = None if amount is None else _made("Add" if c > 0 else "Sub", [size, amount])
    if shifted is None or stride == 1:
        return shifted
    divisor = _const(stride)
    return None if divisor is None else _made("Div", [shifted, divisor])


def product(dims: list[Type]) -> Type | None:
    """``Mul[d1, d2, ...]`` of dims that are Literal or symbolic (a Flatten), else None."""
    if not all(_symbolic(d) or _value(d) is not None for d in dims):
        return None
    if len(dims) == 1:
        return dims[0]
    return _made("Mul", dims)


def quotient(d: Type, k: int) -> Type | None:
    """``Div[d, L[k]]`` of a symbolic dim (a chunk of a TypeVar, exact for ``Mul[L[k], D]``), else None."""
    divisor = _const(k)
    return None if not _symbolic(d) or divisor is None else _made("Div", [d, divisor])
