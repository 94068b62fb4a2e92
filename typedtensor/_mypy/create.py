"""``zeros``/``ones``/``full``/``randn``: a literal shape argument gives Literal dims without a target."""

from __future__ import annotations

from mypy.plugin import FunctionContext
from mypy.types import Instance, Type, get_proper_type

from .dims import arg, literal, refined, shape, tensor, value, with_shape


def constructor(ctx: FunctionContext) -> Type:
    """``tt.zeros((2, 3))`` is ``Tensor[tuple[Literal[2], Literal[3]], float32, NoneTape]``.

    The result's shape is the shape argument's type (``zeros(shape: S2) -> Tensor[S2, ...]``): each
    literal int becomes ``Literal[n]``, the other items keep their type (``int``, a TypeVar). It is
    built from the argument even where a context made mypy solve S2 as ``Any``.
    """
    given = arg(ctx, "shape")
    items = shape(given) if given is not None else None
    if items is None or tensor(ctx.default_return_type) is None:
        return ctx.default_return_type
    dims: list[Type] = []
    for item in items:
        n = value(item)
        plain = get_proper_type(item)
        if type(n) is int and n >= 0:
            dims.append(literal(ctx.api, n))
        elif isinstance(plain, Instance) and plain.last_known_value is not None:
            dims.append(plain.copy_modified(last_known_value=None))  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias
        else:
            dims.append(item)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, dims))
