"""``split`` and ``chunk`` under mypy, for a literal axis.

- ``chunk(k)`` with a literal k: each chunk's dim is the axis length divided by k (a Literal, ``D`` for
  ``Mul[L[k], D]``, ``Div[H, L[k]]`` for a TypeVar H, ``int`` for ``int``); a known length that does not
  divide by k is an error, as it is at run time.
- ``split(sizes)`` with a list or tuple display of literal sizes: a tuple of that many tensors, each with its
  Literal size; ``split(n)`` of a known length: its chunks' Literal sizes (the last one smaller). Sizes that do
  not sum to a known length, or a size below 1, are errors as at run time.
- ``x[ids]`` and ``x[mask]`` among basic indices (``typedtensor._mypy.ops.getitem``): an integer tensor's dims
  take the place of the axis it reads, a bool tensor reads as many axes as it has dims and leaves one ``int``
  (its count of True); a mask dim that differs from a known dim it reads is an error.
- ``take_along_axis(indices, axis)``: NumPy's broadcast of the other dims (a size-1 dim takes the other's, a
  Literal beats ``int``), the indices' dim on the axis; a rank that differs or two known sizes that neither
  equal nor are 1 are errors, as at run time.
"""

from __future__ import annotations

from mypy.nodes import ListExpr, TupleExpr
from mypy.plugin import MethodContext
from mypy.subtypes import is_same_type
from mypy.types import Instance, TupleType, Type, get_proper_type

from .dims import arg, describe, dim, fail, fold, int_type, literal, refined, shape, tensor, value, with_shape
from .exprs import quotient


def chunk(ctx: MethodContext) -> Type:
    """``x.chunk(k, axis)``: the chunk dim computed; the declared type otherwise."""
    dims = shape(ctx.type)
    given, where = arg(ctx, "chunks"), arg(ctx, "axis")
    k = value(given) if given is not None else None
    a = value(where) if where is not None else 0
    if dims is None or type(k) is not int or type(a) is not int or not -len(dims) <= a < len(dims):
        return ctx.default_return_type
    ax = a % len(dims)
    n = dim(dims[ax])
    if n is not None and (k <= 0 or n % k):
        fail(
            ctx, f"chunk: axis {a} of shape {describe(dims)} has length {n}, which does not split into {k} equal chunks"
        )
        return ctx.default_return_type
    ret = get_proper_type(ctx.default_return_type)
    if not isinstance(ret, TupleType) or k <= 0:
        return ctx.default_return_type  # chunks not typed one by one: tuple[Tensor[...], ...]
    part = literal(ctx.api, n // k) if n is not None else quotient(dims[ax], k) or int_type(ctx.api)
    out = [*dims[:ax], part, *dims[ax + 1 :]]
    return refined(ctx, ret.copy_modified(items=[with_shape(ctx.api, item, out) for item in ret.items]))


def _sizes(ctx: MethodContext) -> int | list[int] | None:
    """The ``size`` argument: a literal int, a display of literal ints, else None."""
    index = ctx.callee_arg_names.index("size") if "size" in ctx.callee_arg_names else -1
    exprs = ctx.args[index] if 0 <= index < len(ctx.args) else []
    if len(exprs) != 1:
        return None
    e = exprs[0]
    if isinstance(e, ListExpr | TupleExpr):
        items = [fold(i) for i in e.items]
        return [i for i in items if i is not None] if None not in items and items else None
    given = arg(ctx, "size")
    n = value(given) if given is not None else None
    return n if type(n) is int else None


def split(ctx: MethodContext) -> Type:
    """``x.split(size, axis)``: the chunks' Literal sizes where the call fixes them."""
    dims = shape(ctx.type)
    where = arg(ctx, "axis")
    a = value(where) if where is not None else 0
    sizes = _sizes(ctx)
    ret = get_proper_type(ctx.default_return_type)
    if dims is None or type(a) is not int or not -len(dims) <= a < len(dims) or sizes is None:
        return ctx.default_return_type
    if not isinstance(ret, Instance) or ret.type.fullname != "builtins.tuple" or len(ret.args) != 1:
        return ctx.default_return_type
    ax = a % len(dims)
    n = dim(dims[ax])
    if isinstance(sizes, int):
        if sizes <= 0:
            fail(ctx, f"split: the chunk size must be a positive int, got {sizes}")
            return ctx.default_return_type
        if n is None:
            return ctx.default_return_type  # how many chunks depends on the run-time length
        sizes = [min(sizes, n - i) for i in range(0, n, sizes)] if n else [0]
    elif min(sizes) < 0 or (n is not None and sum(sizes) != n):
        fail(ctx, f"split: sizes {sizes} must be >= 0 and sum to the length of axis {a} of shape {describe(dims)}")
        return ctx.default_return_type
    item = ret.args[0]
    parts = [with_shape(ctx.api, item, [*dims[:ax], literal(ctx.api, m), *dims[ax + 1 :]]) for m in sizes]
    return refined(ctx, TupleType(parts, ret))


def _broadcast(api_int: Type, a: Type, b: Type) -> Type | str:
    """The broadcast of two dims (either may be 1), or why they cannot broadcast."""
    va, vb = dim(a), dim(b)
    if va == 1:
        return b
    if vb == 1 or is_same_type(a, b):
        return a
    if va is not None and vb is not None:
        return f"{va} vs {vb}"
    if va is not None:
        return a
    if vb is not None:
        return b
    return api_int


def take_along_axis(ctx: MethodContext) -> Type:
    """``x.take_along_axis(indices, axis)`` with a literal axis: the broadcast shape."""
    dims = shape(ctx.type)
    given, where = arg(ctx, "indices"), arg(ctx, "axis")
    idims = shape(given) if given is not None else None
    a = value(where) if where is not None else None
    if dims is None or idims is None or type(a) is not int:
        return ctx.default_return_type
    if len(idims) != len(dims):
        fail(ctx, f"take_along_axis: the indices {describe(idims)} need the tensor's rank {len(dims)} {describe(dims)}")
        return ctx.default_return_type
    if not -len(dims) <= a < len(dims):
        fail(ctx, f"take_along_axis: axis {a} is out of range for shape {describe(dims)} (rank {len(dims)})")
        return ctx.default_return_type
    ax = a % len(dims)
    out: list[Type] = []
    for d, (x_dim, i_dim) in enumerate(zip(dims, idims, strict=True)):
        both = i_dim if d == ax else _broadcast(int_type(ctx.api), x_dim, i_dim)
        if isinstance(both, str):
            fail(
                ctx,
                f"take_along_axis: the indices {describe(idims)} do not broadcast with the tensor {describe(dims)} "
                f"at dim {d} ({both})",
            )
            return ctx.default_return_type
        out.append(both)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


#: An index tensor's kind (True: a bool mask, False: integer positions) and its dims.
Part = tuple[bool, list[Type]]


def tensor_part(t: Type | None) -> Part | None:
    """An index part typed as an integer or bool tensor of a fixed rank, else None."""
    inst = tensor(t) if t is not None else None
    dims = shape(inst) if inst is not None else None
    if inst is None or dims is None:
        return None
    dtype = get_proper_type(inst.args[1])
    if not isinstance(dtype, Instance):
        return None
    if dtype.type.has_base("numpy.integer"):
        return False, dims
    if dtype.type.fullname in ("numpy.bool", "numpy.bool_"):
        return True, dims
    return None


def reads(part: Part | None) -> int:
    """How many axes of the tensor an index part reads: a mask its rank, everything else one."""
    return len(part[1]) if part is not None and part[0] else 1


def indexed(part: Part, read: list[Type], count: Type) -> list[Type] | str:
    """The result dims an index tensor gives for the dims ``read`` it indexes, or why it does not fit."""
    mask, dims = part
    if not mask:
        return list(dims)
    if len(read) != len(dims):
        return f"a mask of rank {len(dims)} for {len(read)} remaining axes"
    for m, n in zip(dims, read, strict=True):
        if dim(m) is not None and dim(n) is not None and dim(m) != dim(n):
            return f"a mask of shape {describe(dims)} does not match the dims {describe(read)} it reads"
    return [count]
