"""``chunk`` under mypy: with a literal number of chunks k and a literal axis, each chunk's dim is the axis
length divided by k (a Literal, ``D`` for ``Mul[L[k], D]``, ``Div[H, L[k]]`` for a TypeVar H, ``int`` for
``int``), and a known length that does not divide by k is an error, as it is at run time."""

from __future__ import annotations

from mypy.plugin import MethodContext
from mypy.types import TupleType, Type, get_proper_type

from .dims import arg, describe, dim, fail, int_type, literal, refined, shape, value, with_shape
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
