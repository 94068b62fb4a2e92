"""Reading and writing dims in mypy types: Literal ints, shape tuples, Tensor instances.

A dim is *known* when it is a ``Literal[n]`` type; anything else (a TypeVar, ``int``, ``Any``) is kept as
it is where it passes through an op unchanged and becomes ``int`` where it would have to be computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mypy.checker import TypeChecker
from mypy.erasetype import erase_typevars
from mypy.errorcodes import ErrorCode, error_codes
from mypy.nodes import CallExpr, Expression, IntExpr, OpExpr, TupleExpr, UnaryExpr
from mypy.plugin import CheckerPluginInterface, FunctionContext, FunctionSigContext, MethodContext, MethodSigContext
from mypy.subtypes import is_same_type, is_subtype
from mypy.typeops import get_all_type_vars
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
    TypeVarLikeType,
    TypeVarType,
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
    if len(exprs) != 1:
        return types[0]
    return _folded(ctx.api, exprs[0], _without_context(ctx.api, exprs[0], types[0]))


#: Arguments inferred again by ``_without_context``: id -> (the expression, kept so the id stays its own;
#: the binder version it was inferred at; the type).
_REINFERRED: dict[int, tuple[Expression, int, Type]] = {}


def _without_context(api: CheckerPluginInterface, expr: Expression, t: Type) -> Type:
    """``t``, or the type of ``expr`` inferred without a type context where the context erased dims.

    mypy infers a generic call passed as an argument against the parameter's type: in
    ``pool.forward(relu.forward(x))`` the parameter's ``Tensor[tuple[B, C, Any, Any], ...]`` solves
    ``relu.forward``'s shape with ``Any`` for H and W, which the window could have computed. Such an
    argument is inferred again with no context (its errors and types discarded: mypy's own pass keeps
    them).
    """
    dims = shape(t)
    if (
        dims is None
        or not isinstance(expr, CallExpr)
        or not isinstance(api, TypeChecker)
        or not any(isinstance(get_proper_type(d), AnyType) for d in dims)
    ):
        return t
    cached = _REINFERRED.get(id(expr))
    if cached is not None and cached[0] is expr and cached[1] == api.binder.version:
        again = cached[2]
    else:  # (cached: a nested call would be inferred again at every level above it, 2**depth times)
        with api.msg.filter_errors(), api.local_type_map:
            again = api.expr_checker.accept(expr)
        _REINFERRED[id(expr)] = (expr, api.binder.version, again)
    found = shape(again)
    return again if found is not None and len(found) == len(dims) else t


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
    """The type the call's result is checked against (an annotated target, a parameter, a return),
    with its type variables (the enclosing function's, the callee's being solved) as they are."""
    # The interface declares a method; mypy's TypeChecker implements it as a property.
    if not isinstance(api, TypeChecker) or not api.type_context:
        return None
    context = api.type_context[-1]
    if context is None or isinstance(get_proper_type(context), AnyType):
        return None
    return context


def refined(ctx: Ctx, t: Type, relaxed: bool = False) -> Type:
    """``t``, or ``t`` with Literal dims widened to the ``int`` its context asks for.

    A computed Literal dim must never turn code that type-checks into an error: where the context asks
    for ``int`` (``a: Tensor[tuple[int, int], ...] = tt.zeros((2, 3))``, an ``int``-typed parameter or
    return) those dims become ``int`` (sound: ``int`` is a dim known at run time), else the type mypy
    inferred from the declared signature is kept if it fits. Where nothing fits, the code is wrong
    either way and the computed type makes the better message.
    """
    raw = _context(ctx.api)
    if raw is None or _other_rank(t, ctx.default_return_type, raw):
        return t
    t = _unsolved(t, ctx.default_return_type, raw)
    context = erase_typevars(raw)
    if is_subtype(t, context):
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


def _other_rank(t: Type, default: Type, context: Type) -> bool:
    """Whether the declared result has no fixed rank (``tuple[Any, ...]``: a rank-5 permute, ``squeeze(2)``,
    ``sum(2)``) and the context asks for a fixed rank other than the computed one.

    mypy tries the overloads of an enclosing call by inferring this call in each parameter's context (``a @
    c.squeeze(2)`` in the vector overload's ``Tensor[tuple[K], ...]``): the declared result fits any context, so
    yielding to it would make the wrong overload match, with a wrong result. The computed rank is kept (a
    context of another rank is a mistake either way).
    """
    computed, wanted = shape(t), shape(context)
    return computed is not None and wanted is not None and shape(default) is None and len(computed) != len(wanted)


def yielding_signature(ctx: FunctionSigContext | MethodSigContext) -> FunctionLike:
    """A shape-keeping signature whose result meets a context with ``int`` dims: its tensor parameters of
    the result's shape also accept that shape with those dims ``Any``.

    mypy solves ``S`` of ``relu.forward(h)`` from the context first (``return`` into ``tuple[B, L[3],
    int, int]``), then refuses an ``h`` whose dims the plugin computed (``L[4]``): plain mypy typed ``h``
    ``int`` and accepts the call, so the plugin must. The context's rank and its other dims still bind.
    """
    sig = ctx.default_signature
    raw = _context(ctx.api)
    context, ret = tensor(raw) if raw is not None else None, tensor(sig.ret_type)
    if context is None or ret is None:
        return sig
    loose = _int_dims_any(context.args[0])
    if loose is None:
        return sig
    # Only a shape the call is still solving, from this one argument: where another operand binds it (``a +
    # b``, ``where(m, a, b)``) the argument must still match the other.
    shape_var = get_proper_type(ret.args[0])
    solved = {v.id for v in sig.variables}
    if not isinstance(shape_var, TypeVarType) or shape_var.id not in solved:
        return sig
    keeping = [i for i, t in enumerate(sig.arg_types) if _shape_is(t, shape_var)]
    if len(keeping) != 1 or any(_mentions(t, shape_var) for i, t in enumerate(sig.arg_types) if i != keeping[0]):
        return sig
    types = list(sig.arg_types)
    p = tensor(types[keeping[0]])
    assert p is not None
    types[keeping[0]] = UnionType([types[keeping[0]], with_args(p, [loose, *p.args[1:]])])
    return sig.copy_modified(arg_types=types)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias


def _shape_is(t: Type, var: TypeVarType) -> bool:
    p = tensor(t)
    return p is not None and is_same_type(p.args[0], var)


def _mentions(t: Type, var: TypeVarType) -> bool:
    return any(v.id == var.id for v in get_all_type_vars(t))


def _int_dims_any(shape_type: Type) -> Type | None:
    """A shape tuple with its ``int`` dims ``Any`` (None when it has none)."""
    p = get_proper_type(shape_type)
    if not isinstance(p, TupleType):
        return None
    items = [any_type() if _is_int(i) else i for i in p.items]
    return p.copy_modified(items=items) if any(a is not b for a, b in zip(items, p.items, strict=True)) else None


def _is_int(t: Type) -> bool:
    p = get_proper_type(t)
    return isinstance(p, Instance) and p.type.fullname == "builtins.int"


def refined_default(ctx: Ctx) -> Type:
    """The declared result of the call, yielding to its context (``refined``)."""
    return refined(ctx, ctx.default_return_type)


def _solving(t: Type) -> bool:
    """Whether ``t`` is a type variable mypy is solving (the callee's, in an argument's context) that
    no hook of the plugin sees: one declared outside typedtensor (a user's generic function)."""
    p = get_proper_type(t)
    if isinstance(p, UnpackType):
        p = get_proper_type(p.type)
    return isinstance(p, TypeVarLikeType) and p.id.is_meta_var() and not p.fullname.startswith("typedtensor.")


def _solves(context: Type) -> bool:
    """Whether ``context`` holds a type variable mypy is solving (as ``_solving``)."""
    return any(_solving(v) for v in get_all_type_vars(context))


def _unsolved(t: Type, default: Type | None, context: Type) -> Type:
    """``t`` loosened (``_loose``) wherever ``context`` has a type variable mypy is solving.

    An argument's context is the callee's parameter type, its type variables still unsolved. A dim
    the plugin computed is one more constraint on them, one that another argument, typed ``int``
    where the plugin is not at work, contradicts: ``pair(tt.zeros((2, 3)), tt.zeros((n, 5)))`` with
    ``B`` in both parameters would leave ``B`` without a solution. ``int`` there would clash with an
    argument that holds a computed Literal already (``x = tt.zeros((2, 3)); pair(x, tt.zeros((2,
    5)))``); ``Any`` clashes with nothing. The dims the context fixes (a ``Literal[3]``, ``int``)
    keep the plugin's values, so they are still checked.
    """
    p, c = get_proper_type(t), get_proper_type(context)
    if isinstance(c, UnionType):
        for option in c.items:
            t = _unsolved(t, default, option)
        return t
    if _solving(c) or not _solves(c):
        return _loose(t, default) if _solving(c) else t
    d = get_proper_type(default) if default is not None else None
    if isinstance(p, Instance) and isinstance(c, Instance) and p.type == c.type and len(p.args) == len(c.args):
        defaults = _args(d, p)
        args = [_unsolved(a, b, x) for a, b, x in zip(p.args, defaults, c.args, strict=True)]
        return p if all(a is b for a, b in zip(args, p.args, strict=True)) else with_args(p, args)
    if isinstance(p, TupleType) and isinstance(c, TupleType) and shape(p) is not None:
        items = _tuple_unsolved(p.items, _items(d, len(p.items)), c.items)
        if items is not None:
            return p if all(a is b for a, b in zip(items, p.items, strict=True)) else p.copy_modified(items=items)
    return _loose(t, default)  # mapped to a base class or a protocol, ranks that cannot match: all of it


def _loose(t: Type, default: Type | None) -> Type:
    """``t`` with ``Any`` for each part that differs from the declared result ``default`` (for each
    Literal int where ``default`` has no such part): the constraint mypy would have without the plugin,
    or none."""
    p, d = get_proper_type(t), get_proper_type(default) if default is not None else None
    if isinstance(p, Instance) and p.type.fullname != "builtins.int":
        args = [_loose(a, b) for a, b in zip(p.args, _args(d, p), strict=True)]
        return p if all(a is b for a, b in zip(args, p.args, strict=True)) else with_args(p, args)
    if isinstance(p, TupleType) and shape(p) is not None:
        items = [_loose(a, b) for a, b in zip(p.items, _items(d, len(p.items)), strict=True)]
        return p if all(a is b for a, b in zip(items, p.items, strict=True)) else p.copy_modified(items=items)
    if isinstance(d, Instance) and d.last_known_value is not None:
        d = Instance(d.type, d.args)  # ``Literal[2]?``: mypy's int with the value it came from
    if d is not None:
        return t if is_same_type(p, d) else any_type()
    return any_type() if dim(p) is not None else t


def _args(default: ProperType | None, like: Instance) -> list[Type | None]:
    """The type arguments of ``default`` when it is an instance of ``like``'s class, else Nones."""
    if isinstance(default, Instance) and default.type == like.type and len(default.args) == len(like.args):
        return list(default.args)
    return [None] * len(like.args)


def _items(default: ProperType | None, n: int) -> list[Type | None]:
    """The ``n`` items of the declared shape ``default`` (``tuple[X, ...]`` gives ``X`` each), or Nones."""
    if isinstance(default, TupleType) and len(default.items) == n and shape(default) is not None:
        return list(default.items)
    if isinstance(default, Instance) and default.type.fullname == "builtins.tuple" and len(default.args) == 1:
        return [default.args[0]] * n
    return [None] * n


def _tuple_unsolved(items: list[Type], defaults: list[Type | None], context: list[Type]) -> list[Type] | None:
    """The dims ``items`` against the context's dims, one of which may be an unpacked ``*Ts`` (it stands
    for the dims between those before it and those after it); None where the ranks cannot match."""
    unpacks = [i for i, x in enumerate(context) if isinstance(get_proper_type(x), UnpackType)]
    if not unpacks:
        if len(items) != len(context):
            return None
        return [_unsolved(a, b, x) for a, b, x in zip(items, defaults, context, strict=True)]
    k, after = unpacks[0], len(context) - unpacks[0] - 1
    if len(unpacks) > 1 or len(items) < k + after:
        return None
    middle = len(items) - after
    out = [_unsolved(items[i], defaults[i], context[i]) for i in range(k)]
    out += [_loose(items[i], defaults[i]) if _solving(context[k]) else items[i] for i in range(k, middle)]
    out += [_unsolved(items[i], defaults[i], context[i - middle + k + 1]) for i in range(middle, len(items))]
    return out


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
        here = [e for e in errors.error_info_map.get(errors.file, []) if e.line == line]
        if any(e.message == message for e in here):
            return  # said already: mypy infers an argument again for each overload of the call around it
        found = [e.code for e in here if e.severity == "error"]
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
