"""Reading and writing dims in mypy types: Literal ints, shape tuples, Tensor instances.

A dim is *known* when it is a ``Literal[n]`` type; anything else (a TypeVar, ``int``, ``Any``) is kept as
it is where it passes through an op unchanged and becomes ``int`` where it would have to be computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mypy.checker import TypeChecker
from mypy.erasetype import erase_typevars
from mypy.errorcodes import ErrorCode, error_codes
from mypy.nodes import Expression, IntExpr, OpExpr, TupleExpr, UnaryExpr
from mypy.plugin import CheckerPluginInterface, FunctionContext, FunctionSigContext, MethodContext, MethodSigContext
from mypy.subtypes import is_subtype
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    LiteralType,
    Overloaded,
    ProperType,
    TupleType,
    Type,
    TypeOfAny,
    UnionType,
    UnpackType,
    get_proper_type,
)

TENSOR = "typedtensor._tensor.Tensor"

#: The code of the shape errors only the plugin finds (a type-ignore comment names it: tt-shape).
SHAPE = ErrorCode("tt-shape", "A static shape mismatch found by typedtensor's mypy plugin", "typedtensor")

Ctx = FunctionContext | MethodContext


def dim(t: Type) -> int | None:
    """The value of a ``Literal[n]`` dim, else None (a dim inside a shape is known only as a Literal)."""
    p = get_proper_type(t)
    if isinstance(p, LiteralType) and type(p.value) is int:
        return p.value
    return None


def value(t: Type) -> int | str | None:
    """The literal value of an argument's type: ``3``, ``-1``, ``"same"`` (not bool), else None."""
    p = get_proper_type(t)
    if isinstance(p, Instance) and p.last_known_value is not None:
        p = p.last_known_value
    v = p.value if isinstance(p, LiteralType) else None
    return v if isinstance(v, int | str) and not isinstance(v, bool) else None


def values(t: Type) -> tuple[int | str | None, ...] | None:
    """The items of a tuple argument (each as ``value``), or None when it is not a fixed-length tuple."""
    p = get_proper_type(t)
    if isinstance(p, TupleType) and not any(isinstance(get_proper_type(i), UnpackType) for i in p.items):
        return tuple(value(i) for i in p.items)
    return None


def pair(t: Type | None) -> tuple[int, int] | None:
    """An ``int | tuple[int, int]`` argument as a pair of known ints, else None."""
    if t is None:
        return None
    v = value(t)
    if type(v) is int:
        return (v, v)
    vs = values(t)
    if vs is not None and len(vs) == 2 and type(vs[0]) is int and type(vs[1]) is int:
        return (vs[0], vs[1])
    return None


def arg(ctx: Ctx, name: str) -> Type | None:
    """The type of the actual argument for the formal ``name`` (None when it was not passed).

    Int arithmetic on literals, which mypy types ``int`` (``nn.Linear(32 * 8 * 8, 10)``,
    ``x.reshape((b, 16 * 5 * 5))``), is folded to ``Literal`` values here.
    """
    if name not in ctx.callee_arg_names:
        return None
    index = ctx.callee_arg_names.index(name)
    types = ctx.arg_types[index]
    if len(types) != 1:
        return None
    exprs = ctx.args[index] if index < len(ctx.args) else []
    return _folded(ctx.api, exprs[0], types[0]) if len(exprs) == 1 else types[0]


_FOLD: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def fold(e: Expression) -> int | None:
    """The value of an int expression made of literals and ``+ - * // %``, else None."""
    if isinstance(e, IntExpr):
        return e.value
    if isinstance(e, UnaryExpr) and e.op == "-":
        inner = fold(e.expr)
        return None if inner is None else -inner
    if isinstance(e, OpExpr) and e.op in _FOLD:
        a, b = fold(e.left), fold(e.right)
        if a is None or b is None or (e.op in ("//", "%") and b == 0):
            return None
        return _FOLD[e.op](a, b)
    return None


def _folded(api: CheckerPluginInterface, e: Expression, t: Type) -> Type:
    """``t`` with the int expressions of ``e`` (an int or a tuple display) mypy left ``int`` as Literals."""
    if isinstance(e, OpExpr) and value(t) is None:
        n = fold(e)
        return t if n is None else literal(api, n)
    p = get_proper_type(t)
    if isinstance(e, TupleExpr) and isinstance(p, TupleType) and len(e.items) == len(p.items):
        items = [_folded(api, i, item) for i, item in zip(e.items, p.items, strict=True)]
        if all(a is b for a, b in zip(items, p.items, strict=True)):
            return t
        return p.copy_modified(items=items)
    return t


def passed(ctx: Ctx, name: str) -> bool:
    """Whether the call passed the formal ``name`` (explicitly, by position or keyword)."""
    return name in ctx.callee_arg_names and bool(ctx.arg_types[ctx.callee_arg_names.index(name)])


def literal(api: CheckerPluginInterface, n: int) -> LiteralType:
    return LiteralType(n, api.named_generic_type("builtins.int", []))


def int_type(api: CheckerPluginInterface) -> Instance:
    return api.named_generic_type("builtins.int", [])


def known_or_int(api: CheckerPluginInterface, n: int | None) -> Type:
    return int_type(api) if n is None else literal(api, n)


def tensor(t: Type) -> Instance | None:
    """``t`` as a ``Tensor[S, E, T]`` instance, else None."""
    p = get_proper_type(t)
    if isinstance(p, Instance) and p.type.fullname == TENSOR and len(p.args) == 3:
        return p
    return None


def shape(t: Type) -> list[Type] | None:
    """The dims of a tensor type (or of a shape tuple) when it has a fixed rank, else None."""
    inst = tensor(t)
    p: ProperType = get_proper_type(inst.args[0]) if inst is not None else get_proper_type(t)
    if not isinstance(p, TupleType):
        return None
    if any(isinstance(get_proper_type(i), UnpackType) for i in p.items):
        return None
    return list(p.items)


def with_shape(api: CheckerPluginInterface, t: Type, dims: Sequence[Type]) -> Type:
    """The tensor type ``t`` with its shape replaced by ``tuple[*dims]`` (``t`` unchanged if no tensor)."""
    inst = tensor(t)
    if inst is None:
        return t
    fallback = api.named_generic_type("builtins.tuple", [int_type(api)])
    return with_args(inst, [TupleType(list(dims), fallback), *inst.args[1:]])


def with_args(inst: Instance, args: list[Type]) -> Instance:
    """``inst`` with other type arguments, its extra attributes kept (``copy_modified`` without its
    ``Bogus`` parameter types, which pyright cannot see)."""
    return Instance(
        inst.type,
        args,
        inst.line,
        inst.column,
        last_known_value=inst.last_known_value,
        extra_attrs=inst.extra_attrs,
    )


def lookup(api: CheckerPluginInterface, expr: Expression) -> Type | None:
    """The type mypy already inferred for ``expr`` (a sub-expression of the call), or None."""
    if not isinstance(api, TypeChecker):
        return None
    try:
        return api.lookup_type(expr)
    except KeyError:
        return None


def _context(api: CheckerPluginInterface) -> Type | None:
    """The type the call's result is checked against (an annotated target, a parameter, a return)."""
    # The interface declares a method; mypy's TypeChecker implements it as a property.
    if not isinstance(api, TypeChecker) or not api.type_context:
        return None
    context = api.type_context[-1]
    if context is None or isinstance(get_proper_type(context), AnyType):
        return None
    return erase_typevars(context)


def refined(ctx: Ctx, t: Type, relaxed: bool = False) -> Type:
    """``t``, or ``t`` with Literal dims widened to the ``int`` its context asks for.

    A computed Literal dim must never turn code that type-checks into an error: where the context asks
    for ``int`` (``a: Tensor[tuple[int, int], ...] = tt.zeros((2, 3))``, an ``int``-typed parameter or
    return) those dims become ``int`` (sound: ``int`` is a dim known at run time), else the type mypy
    inferred from the declared signature is kept if it fits. Where nothing fits, the code is wrong
    either way and the computed type makes the better message.
    """
    context = _context(ctx.api)
    if context is None or is_subtype(t, context):
        return t
    p = get_proper_type(context)
    for option in p.items if isinstance(p, UnionType) else [p]:
        widened = _widen(t, option)
        if widened is not t and is_subtype(widened, context):
            return widened
    default = ctx.default_return_type
    if not is_subtype(default, context) or (relaxed and _contradicts(default, t)):
        return t  # relaxed: the argument met relax_shape's tuple[int, ...], S2 came from the context
    return default


def _contradicts(default: Type, t: Type) -> bool:
    """Whether the declared result has a Literal dim the computed one disagrees with.

    That dim came from the context (mypy solved a TypeVar from it, an argument the plugin accepts as
    ``tuple[int, ...]``), not from the call: keeping it would hide the mistake.
    """
    ours, declared = shape(t), shape(default)
    if ours is None or declared is None or len(ours) != len(declared):
        return False
    return any(
        dim(a) is not None and dim(b) is not None and dim(a) != dim(b) for a, b in zip(ours, declared, strict=True)
    )


def _widen(t: Type, context: Type) -> Type:
    """``t`` with each Literal int where ``context`` has ``int`` replaced by ``int`` (same structure)."""
    p, c = get_proper_type(t), get_proper_type(context)
    if isinstance(p, LiteralType) and isinstance(c, Instance) and c.type.fullname == "builtins.int":
        return c
    if isinstance(p, Instance) and isinstance(c, Instance) and p.type == c.type and len(p.args) == len(c.args):
        args = [_widen(a, b) for a, b in zip(p.args, c.args, strict=True)]
        return p if all(a is b for a, b in zip(args, p.args, strict=True)) else with_args(p, args)
    if isinstance(p, TupleType) and isinstance(c, TupleType) and len(p.items) == len(c.items):
        items = [_widen(a, b) for a, b in zip(p.items, c.items, strict=True)]
        return p if all(a is b for a, b in zip(items, p.items, strict=True)) else p.copy_modified(items=items)
    return t


def fail(ctx: Ctx, message: str, code: ErrorCode = SHAPE) -> None:
    """Report a shape mistake at the call; a note on mypy's own error if mypy already reported one there.

    (One mistake, one error: a ``# type: ignore[misc]`` written for mypy's error covers the line.)
    """
    api, line = ctx.api, ctx.context.line
    if isinstance(api, TypeChecker):
        errors = api.msg.errors
        found = [e.code for e in errors.error_info_map.get(errors.file, []) if e.line == line and e.severity == "error"]
        ignored = errors.used_ignored_lines.get(errors.file, {}).get(line, [])  # mypy's error, ignored
        found += [error_codes.get(c) for c in ignored]
        if found:
            api.note(message, ctx.context, code=found[-1])
            return
    api.fail(message, ctx.context, code=code)


def any_type() -> AnyType:
    return AnyType(TypeOfAny.special_form)


def show(t: Type) -> str:
    """A dim for a message: its value when known, else its type (``H``, ``int``)."""
    n = dim(t)
    return str(n) if n is not None else str(t)


def describe(dims: Sequence[Type]) -> str:
    """A shape for a message, as the run-time messages print it: ``(2, 3)``, ``(B, 3)``."""
    shown = [show(d) for d in dims]
    return f"({shown[0]},)" if len(shown) == 1 else f"({', '.join(shown)})"


def flag(t: Type | None) -> bool | None:
    """The value of a literal bool argument, else None."""
    if t is None:
        return None
    p = get_proper_type(t)
    if isinstance(p, Instance) and p.last_known_value is not None:
        p = p.last_known_value
    if isinstance(p, LiteralType) and type(p.value) is bool:
        return p.value
    return None


def requested_dims(api: CheckerPluginInterface, t: Type) -> list[Type] | None:
    """The dims a shape argument asks for: literal ints as ``Literal[n]`` (``-1`` as ``int``), other
    items as their type (``int``, a TypeVar); None when it is not a fixed-length tuple."""
    items = shape(t)
    if items is None:
        return None
    dims: list[Type] = []
    for item in items:
        n = value(item)
        plain = get_proper_type(item)
        if type(n) is int and n >= 0:
            dims.append(literal(api, n))
        elif isinstance(plain, Instance) and plain.type.fullname == "builtins.int":
            dims.append(int_type(api))  # without its last known value
        else:
            dims.append(item)
    return dims


def relax_shape(ctx: FunctionSigContext | MethodSigContext) -> FunctionLike:
    """A signature whose ``shape: S2`` also accepts ``tuple[int, ...]`` when the plugin computes dims
    the argument's own type does not hold (a ``-1``, ``2 * 3``).

    Where the call is checked against a context (``self.y = x.reshape((1, -1))`` is, a second time,
    against the attribute's inferred ``Tensor[tuple[L[1], L[6]], ...]``), mypy solves S2 from it and
    would refuse the argument ``tuple[L[1], L[-1]]``.
    """
    sig = ctx.default_signature
    if isinstance(sig, Overloaded):
        return Overloaded([_relaxed(ctx, item) for item in sig.items])
    return _relaxed(ctx, sig)


def computed_shape(exprs: Sequence[Expression]) -> bool:
    """Whether a shape argument has items the plugin computes (``-1``, ``2 * 3``): ``relax_shape``'s test."""
    if len(exprs) != 1 or not isinstance(exprs[0], TupleExpr):
        return False
    return any(isinstance(e, OpExpr) or (isinstance(e, UnaryExpr) and fold(e) == -1) for e in exprs[0].items)


def shape_relaxed(ctx: Ctx) -> bool:
    """Whether ``relax_shape`` relaxed this call's ``shape`` parameter."""
    return "shape" in ctx.callee_arg_names and computed_shape(ctx.args[ctx.callee_arg_names.index("shape")])


def _relaxed(ctx: FunctionSigContext | MethodSigContext, sig: CallableType) -> CallableType:
    if "shape" not in sig.arg_names:
        return sig
    index = sig.arg_names.index("shape")
    if not computed_shape(ctx.args[index] if index < len(ctx.args) else []):
        return sig
    ints = ctx.api.named_generic_type("builtins.tuple", [int_type(ctx.api)])
    types = list(sig.arg_types)
    types[index] = UnionType([types[index], ints])
    return sig.copy_modified(arg_types=types)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias
