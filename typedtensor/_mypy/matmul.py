"""``a @ b`` at every rank (torch.matmul's rules): the output shape, broadcast batch dims included.

The declared overloads are exact for vectors and for equal batch dims; batch dims that differ get
``tuple[Any, ...]`` there. The method hook computes the shape from the operands' fixed-rank shapes: a
1-D self is a row and a 1-D other a column (their dim is dropped), the batch dims (all but the last
two) broadcast aligned from the right.

Mistakes, worded like the run-time ShapeError (``typedtensor._ops.linalg.check_shapes``), are reported
by the signature hook, which mypy runs once per overload before it tries them (a message from the
method hook, which runs inside those tries, would only disqualify the overload it came from): batch
dims that do not broadcast are a ``tt-shape`` error (the declared fallback overload accepts them);
inner dims that differ and rank-0 operands, which no declared overload accepts, are a note on mypy's
own error. mypy keeps one copy of a message repeated on a line.
"""

from __future__ import annotations

from mypy.errorcodes import OPERATOR
from mypy.plugin import MethodContext, MethodSigContext
from mypy.subtypes import is_same_type
from mypy.types import FunctionLike, Type

from .dims import SHAPE, describe, dim, int_type, lookup, refined, shape, with_shape


def _describe(dims: list[Type]) -> str:
    return describe(dims) if dims else "()"


def _pair(x: Type, y: Type, ctx: MethodContext) -> Type:
    """One broadcast batch dim from two that are not known to conflict."""
    nx, ny = dim(x), dim(y)
    if is_same_type(x, y) or ny == 1:
        return x
    if nx == 1:
        return y
    if nx is not None:  # y is 1 or nx at run time (anything else is a ShapeError there)
        return x
    return y if ny is not None else int_type(ctx.api)


def _batch(a: list[Type], b: list[Type]) -> list[tuple[int, Type | None, Type | None]]:
    """The batch dims of ``a @ b`` paired from the right: (i for batch dim -i, self's, other's)."""
    ba, bb = a[:-2], b[:-2]
    n = max(len(ba), len(bb))
    return [(i, ba[-i] if i <= len(ba) else None, bb[-i] if i <= len(bb) else None) for i in range(n, 0, -1)]


def mistake(a: list[Type], b: list[Type]) -> tuple[str, bool] | None:
    """The run-time message for ``a @ b`` when the dims prove a ShapeError, and whether the declared
    overloads accept the call (only batch dims that do not broadcast); None when it may be right."""
    if not a or not b:
        message = f"matmul: both operands must have rank >= 1, got shapes {_describe(a)} @ {_describe(b)}; "
        return message + "a rank-0 tensor is a scalar: multiply by it with *", False
    shown = f"self {describe(a)} @ other {describe(b)}"
    ka, kb = dim(a[-1]), dim(b[-2] if len(b) > 1 else b[0])
    if ka is not None and kb is not None and ka != kb:
        where = "second-to-last dim" if len(b) > 1 else "only dim (it is 1-D)"
        return (
            f"matmul: inner dims differ: {shown} pairs {ka} with {kb}; the last dim of self must equal other's {where}",
            False,
        )
    bad = [
        f"{nx} with {ny} at batch dim -{i}"
        for i, x, y in _batch(a, b)
        if x is not None and y is not None
        for nx, ny in [(dim(x), dim(y))]
        if nx is not None and ny is not None and nx != ny and 1 not in (nx, ny)
    ]
    if not bad:
        return None
    return (
        f"matmul: batch dims do not broadcast: {shown} has batch dims {describe(a[:-2])} and {describe(b[:-2])}, "
        f"which pair {', '.join(bad)}; batch dims must be equal or 1, aligned from the right (make them so with "
        "broadcast_to() or reshape())",
        True,
    )


def signature(ctx: MethodSigContext) -> FunctionLike:
    """Report a mismatch the dims prove (the signature is kept: the overloads judge the call)."""
    a = shape(ctx.type)
    other = lookup(ctx.api, ctx.args[0][0]) if ctx.args and len(ctx.args[0]) == 1 else None
    b = shape(other) if other is not None else None
    found = mistake(a, b) if a is not None and b is not None else None
    if found is not None:
        message, accepted = found
        if accepted:
            ctx.api.fail(message, ctx.context, code=SHAPE)
        else:
            ctx.api.msg.note(message, ctx.context, code=OPERATOR)
    return ctx.default_signature


def matmul(ctx: MethodContext) -> Type:
    """The shape of ``self @ other`` when both ranks are fixed and the dims do not prove a mistake."""
    a = shape(ctx.type)
    b = shape(ctx.arg_types[0][0]) if ctx.arg_types and len(ctx.arg_types[0]) == 1 else None
    if a is None or b is None or mistake(a, b) is not None:
        return ctx.default_return_type
    batch = [_pair(x, y, ctx) if x is not None and y is not None else x or y for _, x, y in _batch(a, b)]
    out = [*(d for d in batch if d is not None), *a[-2:-1], *b[-1:] * (len(b) > 1)]
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))
