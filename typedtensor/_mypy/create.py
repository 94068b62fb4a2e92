"""``zeros``/``ones``/``full``/``randn``: a literal shape argument gives Literal dims without a target."""

from __future__ import annotations

from mypy.plugin import FunctionContext
from mypy.types import Type

from .dims import arg, refined, requested_dims, shape_relaxed, tensor, with_shape


def constructor(ctx: FunctionContext) -> Type:
    """``tt.zeros((2, 3))`` is ``Tensor[tuple[Literal[2], Literal[3]], float32, NoneTape]``.

    The result's shape is the shape argument's type (``zeros(shape: S2) -> Tensor[S2, ...]``): each
    literal int becomes ``Literal[n]``, the other items keep their type (``int``, a TypeVar). It is
    built from the argument even where a context made mypy solve S2 as ``Any``.
    """
    given = arg(ctx, "shape")
    dims = requested_dims(ctx.api, given) if given is not None else None
    if dims is None or tensor(ctx.default_return_type) is None:
        return ctx.default_return_type
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, dims), shape_relaxed(ctx))
