"""Tensor shape ops: reshape, broadcast_to, permute, transpose, squeeze/unsqueeze, reductions, basic indexing, concat and
stack.

Dims that an op moves without computing (permute, the kept dims of a reduction or an index) keep their
type, TypeVar or not; computed dims (products, sums, slice lengths) are Literal when all their inputs
are and ``int`` otherwise.
"""

from __future__ import annotations

import math

from mypy.nodes import (
    CallExpr,
    EllipsisExpr,
    Expression,
    IntExpr,
    ListExpr,
    MemberExpr,
    NameExpr,
    SliceExpr,
    TupleExpr,
    UnaryExpr,
)
from mypy.plugin import FunctionContext, MethodContext, MethodSigContext
from mypy.subtypes import is_same_type
from mypy.types import (
    FunctionLike,
    Instance,
    LiteralType,
    NoneType,
    TupleType,
    Type,
    UninhabitedType,
    UnionType,
    get_proper_type,
)

from .dims import (
    Ctx,
    arg,
    describe,
    dim,
    fail,
    flag,
    fold,
    int_type,
    literal,
    lookup,
    passed,
    refined,
    requested_dims,
    shape,
    shape_relaxed,
    value,
    values,
    with_shape,
)
from .index import indexed, reads, tensor_part


def _requested(ctx: MethodContext) -> tuple[list[Type], tuple[int | str | None, ...]] | None:
    """The default result's dims and the literal values of the ``shape`` argument, when both are fixed."""
    given = arg(ctx, "shape")
    wanted = values(given) if given is not None else None
    out = shape(ctx.default_return_type)  # S2 as mypy solved it (from the argument, or from a context)
    if out is None and given is not None:  # unsolved: the argument met relax_shape's tuple[int, ...]
        out = requested_dims(ctx.api, given)
    if out is None or wanted is None or len(out) != len(wanted):
        return None
    return out, wanted


def reshape(ctx: MethodContext) -> Type:
    """Literal sizes become Literal dims; one ``-1`` is solved; a wrong element count is an error."""
    found = _requested(ctx)
    dims = shape(ctx.type)
    if found is None:
        return ctx.default_return_type
    out, wanted = found
    sizes = [dim(d) for d in dims] if dims is not None else [None]
    total = math.prod(n for n in sizes if n is not None) if None not in sizes else None
    free = [i for i, v in enumerate(wanted) if v == -1]
    known = [v for v in wanted if type(v) is int and v >= 0]
    if total is not None and len(known) == len(wanted) - len(free) and len(free) <= 1 and dims is not None:
        rest = math.prod(v for v in known if type(v) is int)
        if (rest == 0 or total % rest) if free else rest != total:
            fail(ctx, f"reshape: cannot view shape {describe(dims)} ({total} elements) as {tuple(wanted)}")
            return ctx.default_return_type
        if free:
            out[free[0]] = literal(ctx.api, total // rest)
    for i, v in enumerate(wanted):
        if type(v) is int and v >= 0:
            out[i] = literal(ctx.api, v)
        elif v == -1 and dim(out[i]) is None:
            out[i] = int_type(ctx.api)  # not solved: the declared type's int, without its -1 value
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out), shape_relaxed(ctx))


def broadcast_to(ctx: MethodContext) -> Type:
    """Literal sizes become Literal dims; a known dim that is neither 1 nor the target's is an error."""
    found = _requested(ctx)
    dims = shape(ctx.type)
    if found is None:
        return ctx.default_return_type
    out, wanted = found
    if dims is not None:
        if len(dims) > len(wanted):
            fail(ctx, f"broadcast_to: shape {describe(dims)} has more dims than {tuple(wanted)}")
            return ctx.default_return_type
        for d, v in zip(reversed(dims), reversed(wanted), strict=False):
            n = dim(d)
            if n is not None and type(v) is int and n not in (1, v):
                fail(
                    ctx,
                    f"broadcast_to: shape {describe(dims)} cannot broadcast to {tuple(wanted)}: dims must match "
                    "or be 1, aligned from the right",
                )
                return ctx.default_return_type
    for i, v in enumerate(wanted):
        if type(v) is int and v >= 0:
            out[i] = literal(ctx.api, v)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out), shape_relaxed(ctx))


def permute(ctx: MethodContext) -> Type:
    """Any permutation of a fixed-rank shape; a wrong length or a repeated axis is an error."""
    dims = shape(ctx.type)
    given = arg(ctx, "axes")
    axes = values(given) if given is not None else None
    if dims is None or axes is None or not all(type(a) is int for a in axes):
        return ctx.default_return_type
    nd = len(dims)
    order = [a for a in axes if type(a) is int]
    if sorted(a % nd if -nd <= a < nd else a for a in order) != list(range(nd)):
        fail(ctx, f"permute: axes {tuple(order)} are not a permutation of range({nd}) for shape {describe(dims)}")
        return ctx.default_return_type
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, [dims[a % nd] for a in order]))


def transpose(ctx: MethodContext) -> Type:
    """``transpose(dim0, dim1)`` with literal dims of a fixed-rank shape: the two dims swapped, TypeVars
    included; a dim out of range is an error worded as at run time (no arguments: the declared type)."""
    dims = shape(ctx.type)
    if dims is None or not passed(ctx, "dim0") or not passed(ctx, "dim1"):
        return ctx.default_return_type
    picked: list[int] = []
    nd = len(dims)
    for name in ("dim0", "dim1"):
        given = arg(ctx, name)
        a = value(given) if given is not None else None
        if type(a) is not int:
            return ctx.default_return_type
        if not -nd <= a < nd:
            fail(
                ctx,
                f"transpose: {name}={a} is out of range for shape {describe(dims)} (rank {nd}): expected -{nd} <= dim < {nd}",
            )
            return ctx.default_return_type
        picked.append(a % nd)
    out = list(dims)
    out[picked[0]], out[picked[1]] = dims[picked[1]], dims[picked[0]]
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def _is_literal_param(t: Type) -> bool:
    """A parameter of a literal-axes overload: ``Literal[1, -3]`` or a tuple of such."""
    p = get_proper_type(t)
    if isinstance(p, TupleType):
        return any(_is_literal_param(i) for i in p.items)
    if isinstance(p, UnionType):
        return all(isinstance(get_proper_type(i), LiteralType) for i in p.items)
    return isinstance(p, LiteralType)


def _axes_valid(ctx: MethodSigContext, rank: int) -> bool:
    """Whether the call's axes, where all are int literals, fit a fixed rank (True when any is not a literal:
    the overloads judge it). permute needs a permutation, transpose two dims in range."""
    given = [e for exprs in ctx.args for e in exprs]
    if len(given) == 1 and isinstance(given[0], TupleExpr):
        found = [fold(e) for e in given[0].items]
        axes = [a for a in found if a is not None]
        if len(axes) != len(found):
            return True
        return sorted(a % rank if -rank <= a < rank else a for a in axes) == list(range(rank))
    found = [fold(e) for e in given]
    return any(a is None for a in found) or all(-rank <= a < rank for a in found if a is not None)


def general_axes(ctx: MethodSigContext) -> FunctionLike:
    """permute/transpose with literal axes that do not fit a fixed-rank receiver: only the general overload.

    The literal-axes overloads type every checker, and the method hook computes the same result at any rank;
    where an axis is wrong, mypy would report a mismatch against the first literal overload, so they are set
    aside (``Never`` parameters: none matches) and the method hook reports the run-time message. Elsewhere
    they stay: an argument's context (``a @ b.transpose(-2, -1)``) would otherwise meet the general
    overload's ``tuple[Any, ...]``, which fits any rank.
    """
    sig = ctx.default_signature  # one overload: mypy runs the hook for each
    if not any(ctx.args) or not any(_is_literal_param(t) for t in sig.arg_types):
        return sig
    dims = shape(ctx.type)
    if dims is None or _axes_valid(ctx, len(dims)):
        return sig
    never = UninhabitedType()
    types = [never if _is_literal_param(t) else t for t in sig.arg_types]
    return sig.copy_modified(arg_types=types)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias


def squeeze(ctx: MethodContext) -> Type:
    """Drop a literal axis; out of range, or a known dim other than 1, is an error (as at run time)."""
    dims = shape(ctx.type)
    given = arg(ctx, "axis")
    a = value(given) if given is not None else None
    if dims is None or type(a) is not int:
        return ctx.default_return_type
    nd = len(dims)
    if not -nd <= a < nd:
        fail(ctx, f"squeeze: axis {a} is out of range for shape {describe(dims)} (rank {nd})")
        return ctx.default_return_type
    n = dim(dims[a % nd])
    if n is not None and n != 1:
        fail(ctx, f"squeeze: axis {a} of shape {describe(dims)} has size {n}, expected 1")
        return ctx.default_return_type
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, dims[: a % nd] + dims[a % nd + 1 :]))


def unsqueeze(ctx: MethodContext) -> Type:
    """A Literal 1 inserted at a literal axis of the result; out of range is an error."""
    dims = shape(ctx.type)
    given = arg(ctx, "axis")
    a = value(given) if given is not None else None
    if dims is None or type(a) is not int:
        return ctx.default_return_type
    nd = len(dims) + 1
    if not -nd <= a < nd:
        fail(ctx, f"unsqueeze: axis {a} is out of range for shape {describe(dims)}: expected -{nd} <= axis < {nd}")
        return ctx.default_return_type
    out = list(dims)
    out.insert(a % nd, literal(ctx.api, 1))
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def _name(ctx: Ctx, default: str) -> str:
    call = ctx.context
    if isinstance(call, CallExpr) and isinstance(call.callee, MemberExpr):
        return call.callee.name
    return default


def reduce(ctx: MethodContext) -> Type:
    """sum/mean/max/min/var over an int or a tuple of ints, with keepdims."""
    receiver = get_proper_type(ctx.type)
    if not isinstance(receiver, Instance) or not receiver.args:
        return ctx.default_return_type
    dims = shape(receiver.args[0])
    given = arg(ctx, "axis")
    keep = flag(arg(ctx, "keepdims")) if passed(ctx, "keepdims") else False
    if dims is None or keep is None:
        return ctx.default_return_type
    if given is None or isinstance(get_proper_type(given), NoneType):  # every axis
        return refined(
            ctx, with_shape(ctx.api, ctx.default_return_type, [literal(ctx.api, 1)] * len(dims) if keep else [])
        )
    single = value(given)
    axes = (single,) if type(single) is int else values(given)
    if axes is None or not all(type(a) is int for a in axes):
        return ctx.default_return_type  # axis=None and non-literal axes: the declared overloads
    nd, name = len(dims), _name(ctx, "reduction")
    picked: list[int] = []
    for a in axes:
        assert type(a) is int
        if not -nd <= a < nd:
            fail(ctx, f"{name}: axis {a} is out of range for shape {describe(dims)} (rank {nd})")
            return ctx.default_return_type
        picked.append(a % nd)
    if len(set(picked)) != len(picked):
        fail(ctx, f"{name}: axis {tuple(axes)} repeats an axis of shape {describe(dims)}")
        return ctx.default_return_type
    out = [literal(ctx.api, 1) if i in picked else d for i, d in enumerate(dims) if keep or i not in picked]
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def _int_expr(e: Expression | None) -> int | None:
    if isinstance(e, IntExpr):
        return e.value
    if isinstance(e, UnaryExpr) and e.op == "-" and isinstance(e.expr, IntExpr):
        return -e.expr.value
    return None


def _is_none(e: Expression | None) -> bool:
    return isinstance(e, NameExpr) and e.fullname == "builtins.None"


def _bound(e: Expression | None) -> tuple[bool, int | None]:
    """(known, value) of a slice bound: absent and None are known (None)."""
    if e is None or _is_none(e):
        return True, None
    n = _int_expr(e)
    return n is not None, n


def _sliced(ctx: MethodContext, d: Type, s: SliceExpr) -> Type | None:
    """The dim after a basic slice; None when the slice is not made of literals (the declared type)."""
    parts = [_bound(s.begin_index), _bound(s.end_index), _bound(s.stride)]
    if not all(known for known, _ in parts):
        return None
    start, stop, step = (v for _, v in parts)
    if step == 0:
        fail(ctx, "index: a slice step cannot be zero")
        return None
    if start is None and stop is None and step in (None, 1):
        return d
    n = dim(d)
    if n is None:
        return int_type(ctx.api)
    return literal(ctx.api, len(range(*slice(start, stop, step).indices(n))))


def getitem(ctx: MethodContext) -> Type:
    """Basic indexing with literal ints, slices, None and ``...``; an int out of a known range is an error.
    One integer or bool tensor among them (``w[ids]``, ``x[:, ids]``, ``x[mask]``): ``index.tensor_part``."""
    dims = shape(ctx.type)
    index = ctx.args[0][0] if ctx.args and ctx.args[0] else None
    if dims is None or index is None:
        return ctx.default_return_type
    items = list(index.items) if isinstance(index, TupleExpr) else [index]
    if sum(isinstance(i, EllipsisExpr) for i in items) > 1:
        return ctx.default_return_type
    parts = [tensor_part(lookup(ctx.api, i)) for i in items]
    tensors = sum(p is not None for p in parts)
    if tensors > 1 or (tensors and any(_int_expr(i) is not None for i in items)):
        return ctx.default_return_type  # several advanced indices (an int counts): NumPy may move dims to the front
    used = sum(
        reads(p) for i, p in zip(items, parts, strict=True) if not isinstance(i, EllipsisExpr) and not _is_none(i)
    )
    if used > len(dims):
        fail(ctx, f"index: {used} indices for shape {describe(dims)} (rank {len(dims)})")
        return ctx.default_return_type
    out: list[Type] = []
    axis = 0
    for item, part in zip(items, parts, strict=True):
        if part is not None:
            got = indexed(part, dims[axis : axis + reads(part)], int_type(ctx.api))
            if isinstance(got, str):
                fail(ctx, f"index: {got} at axis {axis} of shape {describe(dims)}")
                return ctx.default_return_type
            out.extend(got)
            axis += reads(part)
        elif isinstance(item, EllipsisExpr):
            skip = len(dims) - used
            out.extend(dims[axis : axis + skip])
            axis += skip
        elif _is_none(item):
            out.append(literal(ctx.api, 1))
        elif isinstance(item, SliceExpr):
            new = _sliced(ctx, dims[axis], item)
            if new is None:
                return ctx.default_return_type
            out.append(new)
            axis += 1
        else:
            i, n = _int_expr(item), dim(dims[axis])
            if i is None:
                return ctx.default_return_type  # arrays, variables: the declared overloads
            if n is not None and not -n <= i < n:
                fail(ctx, f"index {i} is out of range for axis {axis} of shape {describe(dims)}")
                return ctx.default_return_type
            axis += 1
    out.extend(dims[axis:])
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def _inputs(ctx: FunctionContext) -> list[list[Type]] | None:
    """The shapes of the tensors passed to concat/stack as a tuple or list display, when all are fixed."""
    given = arg(ctx, "tensors")
    if given is None:
        return None
    p = get_proper_type(given)
    items: list[Type] = []
    expr = ctx.args[0][0] if ctx.args and ctx.args[0] else None
    if isinstance(p, TupleType):
        items = list(p.items)
    elif isinstance(expr, ListExpr | TupleExpr) and expr.items:
        found = [lookup(ctx.api, e) for e in expr.items]
        items = [t for t in found if t is not None]
        if len(items) != len(found):
            return None
    shapes = [shape(t) for t in items]
    if not shapes or any(s is None for s in shapes):
        return None
    return [s for s in shapes if s is not None]


def _agree(ctx: FunctionContext, where: str, shapes: list[list[Type]], skip: int | None) -> list[Type] | None:
    """One dim per position from tensors that must agree there (all but ``skip``); None after an error."""
    out: list[Type] = []
    for axis, column in enumerate(zip(*shapes, strict=True)):
        if axis == skip:
            out.append(column[0])
            continue
        known = {n for n in (dim(d) for d in column) if n is not None}
        if len(known) > 1:
            got = ", ".join(f"tensor {i} has {describe(s)}" for i, s in enumerate(shapes))
            fail(
                ctx,
                f"{where}: dim {axis} differs ({got}); need {'all dims but the axis' if skip is not None else 'the same shape'}",
            )
            return None
        first = column[0]
        same = all(is_same_type(d, first) for d in column)
        out.append(first if same else literal(ctx.api, known.pop()) if known else int_type(ctx.api))
    return out


def _axis(ctx: FunctionContext, rank: int, where: str) -> int | None:
    given = arg(ctx, "axis")
    a = value(given) if given is not None else 0
    if type(a) is not int:
        return None
    if not -rank <= a < rank:
        fail(ctx, f"{where}: axis {a} is out of range for rank-{rank} {'output' if where == 'stack' else 'inputs'}")
        return None
    return a % rank


def _one_rank(ctx: FunctionContext, name: str, need: str) -> tuple[list[list[Type]], int] | None:
    """The fixed shapes passed to concat/stack and their common rank; an error (and None) when ranks differ."""
    shapes = _inputs(ctx)
    if shapes is None:
        return None
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        fail(ctx, f"{name}: the tensors have ranks {[len(s) for s in shapes]}; need {need}")
        return None
    return shapes, ranks.pop()


def concat(ctx: FunctionContext) -> Type:
    """Join along an axis: the sizes there add up, the other dims must agree."""
    given = _one_rank(ctx, "concat", "one rank")
    if given is None:
        return ctx.default_return_type
    shapes, rank = given
    axis = _axis(ctx, rank, "concat")
    if axis is None:
        return ctx.default_return_type
    out = _agree(ctx, "concat", shapes, axis)
    if out is None:
        return ctx.default_return_type
    sizes = [dim(s[axis]) for s in shapes]
    out[axis] = literal(ctx.api, sum(n for n in sizes if n is not None)) if None not in sizes else int_type(ctx.api)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def stack(ctx: FunctionContext) -> Type:
    """Stack same-shaped tensors along a new axis of size the number of tensors."""
    given = _one_rank(ctx, "stack", "the same shape")
    if given is None:
        return ctx.default_return_type
    shapes, rank = given
    axis = _axis(ctx, rank + 1, "stack")
    if axis is None:
        return ctx.default_return_type
    out = _agree(ctx, "stack", shapes, None)
    if out is None:
        return ctx.default_return_type
    out.insert(axis, literal(ctx.api, len(shapes)))
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))
