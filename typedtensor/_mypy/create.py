"""``zeros``/``ones``/``full``/``randn``: a literal shape argument gives Literal dims without a target."""

from __future__ import annotations

from mypy.plugin import FunctionContext
from mypy.types import Type

from .dims import arg, literal, refined, shape, value, with_shape


def constructor(ctx: FunctionContext) -> Type:
    """``tt.zeros((2, 3))`` is ``Tensor[tuple[Literal[2], Literal[3]], float32, NoneTape]``.

    Each dim of the shape argument that is a literal int becomes ``Literal[n]``; the others stay what
    the declared signature inferred (a TypeVar, ``int``).
    """
    given = arg(ctx, "shape")
    declared = shape(ctx.default_return_type)
    if given is None or declared is None:
        return ctx.default_return_type
    items = shape(given)
    if items is None or len(items) != len(declared):
        return ctx.default_return_type
    dims: list[Type] = []
    for item, old in zip(items, declared, strict=True):
        n = value(item)
        dims.append(literal(ctx.api, n) if type(n) is int and n >= 0 else old)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, dims))
