"""Layers: constructors record their literal arguments, ``forward`` computes the output dims from them.

``nn.Linear(1024, 10)`` is ``Linear[Literal[1024], Literal[10]]`` and ``nn.Conv2D(3, 16, 3)`` is
``Conv2D[Literal[3], Literal[16]]``: the channel/feature arguments become the type arguments. The
options that are not type parameters (kernel, stride, padding, dilation) travel on the instance type
itself as mypy "extra attributes" (``Instance.extra_attrs``, the mechanism mypy uses for module
objects): the inferred type of ``conv = nn.Conv2D(...)`` or ``self.conv = nn.Conv2D(...)`` carries
them, mypy's cache serializes them, and they play no part in subtyping, so they can never make code
an error; an annotated target (``conv: Conv2D[L[3], L[16]] = ...``) declares a type without them and
``forward`` then types H and W as the declared signature does (``int``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from mypy.errorcodes import ARG_TYPE
from mypy.nodes import CallExpr, Expression, MemberExpr, OpExpr
from mypy.plugin import FunctionContext, FunctionSigContext, MethodContext, MethodSigContext
from mypy.types import (
    AnyType,
    ExtraAttrs,
    FunctionLike,
    Instance,
    LiteralType,
    NoneType,
    TupleType,
    Type,
    TypeOfAny,
    TypeVarType,
    UninhabitedType,
    UnionType,
    get_proper_type,
)

from . import exprs
from .dims import (
    Ctx,
    arg,
    dim,
    fail,
    fold,
    literal,
    lookup,
    pair,
    passed,
    refined,
    shape,
    tensor,
    value,
    with_args,
    with_shape,
)

CONV = "typedtensor.nn._conv.Conv2D"
LINEAR = "typedtensor.nn._linear.Linear"
FLATTEN = "typedtensor.nn._flatten.Flatten"
MAX_POOL = "typedtensor.nn._pool.MaxPool2D"
AVG_POOL = "typedtensor.nn._pool.AvgPool2D"

_OPTIONS = ("kernel", "stride", "padding", "dilation")
_ATTR = "__typedtensor_{}__"
#: The pools' ``ceil_mode``, recorded only when it is True (absent: floor mode, as every Conv2D).
_CEIL = _ATTR.format("ceil_mode")

#: What the first type argument of a layer counts, for messages.
_NAMES = {"Linear": ("features", "in_features")}
#: BatchNorm classes and the position of their channel dim (the checked one).
BATCHNORM = {
    "typedtensor.nn._batchnorm.BatchNorm2D": -3,
    "typedtensor.nn._batchnorm.FusedBatchNorm2D": -3,
    "typedtensor.nn._batchnorm.BatchNorm1D": 1,
}
SYNC_BATCHNORM = ("typedtensor.nn._sync_batchnorm.SyncBatchNorm2D", "typedtensor.nn._sync_batchnorm.SyncBatchNorm1D")

Pair = tuple[int, int]


class Window(NamedTuple):
    """A window layer's options, as recorded on its type."""

    kernel: Pair
    stride: Pair
    padding: Pair | str  # a pair or "same"
    dilation: Pair
    ceil_mode: bool = False  # the pools' PyTorch ceil_mode: the output size rounded up


def _literal_args(ctx: FunctionContext, names: tuple[str, ...]) -> Type:
    """The constructed type with each ``int`` type argument replaced by its literal argument's value.

    Its forward still accepts ``int`` for those dims, as the ``Linear[int, int]`` mypy inferred without
    the plugin did (see ``relax``).
    """
    ret = get_proper_type(ctx.default_return_type)
    if not isinstance(ret, Instance) or len(ret.args) < len(names):
        return ctx.default_return_type
    args: list[Type] = []
    for name, old in zip(names, ret.args, strict=False):  # (Conv2D's S, after I and O, is kept)
        given = arg(ctx, name)
        n = value(given) if given is not None else None
        plain = get_proper_type(old)
        # int: widened by mypy; Never: unsolved, the argument met the ``int`` of ``folded_arguments``
        widened = isinstance(plain, UninhabitedType) or (
            isinstance(plain, Instance) and plain.type.fullname == "builtins.int"
        )
        args.append(literal(ctx.api, n) if widened and type(n) is int and n > 0 else old)
    return with_args(ret, [*args, *ret.args[len(names) :]])


def folded_arguments(ctx: FunctionSigContext, names: tuple[str, ...]) -> FunctionLike:
    """The constructor's signature with ``int`` also accepted for the channel arguments mypy types ``int``.

    ``nn.Linear(32 * 8 * 8, 10)``: mypy types the product ``int``; the plugin folds it to 2048 (``arg``).
    Where the call is checked against a context (``self.fc = ...`` is, a second time, against the
    attribute's inferred ``Linear[L[2048], L[10]]``), I is solved as ``Literal[2048]`` and the ``int``
    argument would be refused; ``I | int`` accepts it.
    """
    sig = ctx.default_signature
    folds = {
        name
        for name, exprs in zip(sig.arg_names, ctx.args, strict=False)
        if name in names and len(exprs) == 1 and isinstance(exprs[0], OpExpr) and fold(exprs[0]) is not None
    }
    if not folds:
        return sig
    int_type = ctx.api.named_generic_type("builtins.int", [])
    types = [
        UnionType([t, int_type]) if name in folds else t for name, t in zip(sig.arg_names, sig.arg_types, strict=True)
    ]
    return sig.copy_modified(arg_types=types)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias


def _record(t: Type, attrs: Mapping[str, Type]) -> Type:
    """``t`` with ``attrs`` added to its extra attributes (``t`` itself when it is no instance)."""
    p = get_proper_type(t)
    if not isinstance(p, Instance) or not attrs:
        return t
    merged = dict(p.extra_attrs.attrs) if p.extra_attrs is not None else {}
    merged.update(attrs)
    recorded = with_args(p, list(p.args))
    recorded.extra_attrs = ExtraAttrs(merged, set(merged))
    return recorded


def _with_window(ctx: FunctionContext, t: Type, window: Window | None) -> Type:
    if window is None:
        return t
    attrs: dict[str, Type] = {}
    if window.ceil_mode:
        attrs[_CEIL] = LiteralType(True, ctx.api.named_generic_type("builtins.bool", []))
    options: tuple[Pair | str, ...] = (window.kernel, window.stride, window.padding, window.dilation)
    for name, v in zip(_OPTIONS, options, strict=True):
        if isinstance(v, str):
            attrs[_ATTR.format(name)] = LiteralType(v, ctx.api.named_generic_type("builtins.str", []))
        else:
            fallback = ctx.api.named_generic_type("builtins.tuple", [ctx.api.named_generic_type("builtins.int", [])])
            attrs[_ATTR.format(name)] = TupleType([literal(ctx.api, v[0]), literal(ctx.api, v[1])], fallback)
    return _record(t, attrs)


def window(t: Type) -> Window | None:
    """The options a constructor recorded on a layer's type, or None."""
    p = get_proper_type(t)
    if not isinstance(p, Instance) or p.extra_attrs is None:
        return None
    found: list[Pair | None] = []
    padding: Pair | str | None = None
    for name in _OPTIONS:
        recorded = p.extra_attrs.attrs.get(_ATTR.format(name))
        if recorded is None:
            return None
        v = value(recorded)
        if name == "padding":
            padding = v if isinstance(v, str) else pair(recorded)
        else:
            found.append(pair(recorded))
    kernel, stride, dilation = found
    if kernel is None or stride is None or dilation is None or padding is None:
        return None
    return Window(kernel, stride, padding, dilation, _CEIL in p.extra_attrs.attrs)


def _option(ctx: FunctionContext, name: str, default: Pair) -> Pair | None:
    return pair(arg(ctx, name)) if passed(ctx, name) else default


def linear_new(ctx: FunctionContext) -> Type:
    return refined(ctx, _literal_args(ctx, ("in_features", "out_features")))


def _conv_options(ctx: FunctionContext, kernel: Pair | None) -> Window | None:
    """Conv2D's / conv2d's stride, padding and dilation arguments with ``kernel``, when all are literal."""
    stride, dilation = _option(ctx, "stride", (1, 1)), _option(ctx, "dilation", (1, 1))
    padding: Pair | str | None = _option(ctx, "padding", (0, 0))
    given = arg(ctx, "padding")
    if passed(ctx, "padding") and given is not None and value(given) in ("same", "valid"):
        padding = "same" if value(given) == "same" else (0, 0)
    if kernel is None or stride is None or dilation is None or padding is None:
        return None
    return Window(kernel, stride, padding, dilation)


def _pool_options(ctx: FunctionContext) -> Window | None:
    """The window pools' kernel_size, stride (None: the kernel), padding and ceil_mode, when all are literal
    (a ceil_mode only known as ``bool`` records nothing: ``forward`` then types H and W ``int``)."""
    kernel = pair(arg(ctx, "kernel_size"))
    given = arg(ctx, "stride")
    stride = kernel if given is None or isinstance(get_proper_type(given), NoneType) else pair(given)
    padding = _option(ctx, "padding", (0, 0))
    ceil = _flag(arg(ctx, "ceil_mode")) if passed(ctx, "ceil_mode") else False
    if kernel is None or stride is None or padding is None or ceil is None:
        return None
    return Window(kernel, stride, padding, (1, 1), ceil)


def _flag(t: Type | None) -> bool | None:
    """A ``bool`` argument's literal value (``True``, ``False``), else None."""
    p = get_proper_type(t) if t is not None else None
    if isinstance(p, Instance) and p.last_known_value is not None:
        p = p.last_known_value
    v = p.value if isinstance(p, LiteralType) else None
    return v if isinstance(v, bool) else None


def conv_new(ctx: FunctionContext) -> Type:
    found = _conv_options(ctx, pair(arg(ctx, "kernel_size")))
    typed = refined(ctx, _literal_args(ctx, ("in_channels", "out_channels")))
    return _with_window(ctx, typed, found)


def pool_new(ctx: FunctionContext) -> Type:
    return _with_window(ctx, ctx.default_return_type, _pool_options(ctx))


def out_len(size: int, kernel: int, stride: int, padding: int | str, dilation: int, ceil_mode: bool = False) -> int:
    """PyTorch's output length: ``(L + 2*P - D*(K-1) - 1)//S + 1`` (``"same"``: L); with ``ceil_mode`` the
    quotient rounded up, less one when the last window would start in the right padding (PyTorch's rule)."""
    if padding == "same":
        return size
    assert isinstance(padding, int)
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    return n - 1 if (n - 1) * stride >= size + padding else n


def _keeps(kernel: int, stride: int, padding: int | str, dilation: int) -> bool:
    """Whether every input length gives an output of the same length (stride 1, padding d*(k-1)/2)."""
    return stride == 1 and (padding == "same" or (isinstance(padding, int) and 2 * padding == dilation * (kernel - 1)))


def conv_forward(ctx: MethodContext, producers: Mapping[str, str]) -> Type:
    """Conv2D ``forward``: the channels must be in_channels, then H and W as the window pools'."""
    if not check_input(ctx, -3, producers):
        return ctx.default_return_type
    return window_forward(ctx)


def window_forward(ctx: MethodContext) -> Type:
    """Conv2D / MaxPool2D / AvgPool2D ``forward``: H and W from the recorded options when all are known."""
    layer = get_proper_type(ctx.type)
    return spatial(ctx, window(layer), layer.type.name if isinstance(layer, Instance) else "layer")


def spatial(ctx: Ctx, options: Window | None, where: str) -> Type:
    """The call's result with the input's H and W (its last two dims) passed through the window."""
    x = arg(ctx, "x")
    dims = shape(x) if x is not None else None
    out = shape(ctx.default_return_type)
    if options is None or dims is None or out is None or len(dims) != len(out) or len(dims) not in (3, 4):
        return refined(ctx, ctx.default_return_type)
    kernel, stride, padding, dilation, ceil = options
    for axis, side in ((0, "height"), (1, "width")):
        given = dims[len(dims) - 2 + axis]
        size = dim(given)
        pad = padding if isinstance(padding, str) else padding[axis]
        if size is None:
            if _keeps(kernel[axis], stride[axis], pad, dilation[axis]):
                out[len(out) - 2 + axis] = given  # H stays H: kernel 3 / padding 1, "same", ...
            elif isinstance(pad, int) and not ceil:  # a TypeVar H through stride 2, kernel 3, padding 1 is Half[H]
                out[len(out) - 2 + axis] = (
                    exprs.window(given, kernel[axis], stride[axis], pad, dilation[axis]) or out[len(out) - 2 + axis]
                )
            continue
        n = out_len(size, kernel[axis], stride[axis], pad, dilation[axis], ceil)
        if n < 1:
            fail(
                ctx,
                f"{where}: a kernel of {kernel[axis]} (stride {stride[axis]}, padding {pad}, dilation "
                f"{dilation[axis]}) does not fit the input's {side} {size}: the output would be {n}",
            )
            return ctx.default_return_type
        out[len(out) - 2 + axis] = literal(ctx.api, n)
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, out))


def flatten_forward(ctx: MethodContext) -> Type:
    """Flatten ``forward``: (B, d1, d2, ...) -> (B, d1*d2*...) when every merged dim is known."""
    x = arg(ctx, "x")
    dims = shape(x) if x is not None else None
    out = shape(ctx.default_return_type)
    if dims is None or out is None or len(dims) < 1 or len(out) != 2:
        return ctx.default_return_type
    product = 1
    for d in dims[1:]:
        n = dim(d)
        if n is None:  # symbolic dims: their product, Mul[C, H, W]
            made = exprs.product(dims[1:])
            return (
                ctx.default_return_type
                if made is None
                else refined(ctx, with_shape(ctx.api, ctx.default_return_type, [out[0], made]))
            )
        product *= n
    return refined(ctx, with_shape(ctx.api, ctx.default_return_type, [out[0], literal(ctx.api, product)]))


def relax(ctx: MethodSigContext) -> FunctionLike:
    """The forward signature of a layer the plugin typed: its Literal input dims accept any dim.

    Without the plugin ``nn.Linear(3, 4)`` is ``Linear[int, int]`` and takes ``int`` features; with it,
    it is ``Linear[Literal[3], Literal[4]]``, which would refuse them (Tensor's shape is invariant). So
    the dims of the tensor parameters that are the layer's first type argument (in_features,
    in_channels, num_features: the only Literal dims these signatures hold) are ``Any`` in the
    signature and ``check_input`` judges them: another Literal or a TypeVar is an error, ``int``
    passes (also for a layer the user typed ``Linear[L[3], L[4]]``: the plugin cannot tell it from
    one a generic function returned, ``fold_batchnorm``; the run-time check still refuses a wrong one).
    """
    sig = ctx.default_signature
    layer = get_proper_type(ctx.type)
    if not isinstance(layer, Instance) or not layer.args:
        return sig
    expected = dim(layer.args[0])
    relaxed = [_any_at(t, expected) for t in sig.arg_types]
    return sig.copy_modified(arg_types=relaxed)  # pyright: ignore[reportUnknownMemberType]  # mypy's Bogus alias


def _any_at(t: Type, expected: int | None) -> Type:
    """A tensor type (or an optional one) with its ``Literal[expected]`` dims made ``Any``."""
    p = get_proper_type(t)
    if isinstance(p, UnionType):
        return UnionType([_any_at(i, expected) for i in p.items], p.line, p.column)
    x = tensor(p)
    items = get_proper_type(x.args[0]) if x is not None else None
    if x is None or not isinstance(items, TupleType) or expected is None:
        return t
    dims = [AnyType(TypeOfAny.special_form) if dim(d) == expected else d for d in items.items]
    return with_args(x, [items.copy_modified(items=dims), *x.args[1:]])


def check_input(ctx: MethodContext, position: int, producers: Mapping[str, str]) -> bool:
    """Whether the inputs' dims at ``position`` may be the layer's first type argument; else report it.

    The inputs are ``x`` and, for FusedBatchNorm2D, ``addend``. The message names the dims in the
    style of the run-time one and, when the input comes straight from a layer's ``forward``
    (``Flatten``), that layer. The code is ``arg-type``, mypy's own for this mistake, so one
    ``# type: ignore[arg-type]`` covers the line with or without the plugin.
    """
    layer = get_proper_type(ctx.type)
    if not isinstance(layer, Instance) or not layer.args:
        return True
    expected = dim(layer.args[0])
    if expected is None:
        return True
    what, name = _NAMES.get(layer.type.name, ("channels", "in_channels"))
    if any(info.fullname in BATCHNORM for info in layer.type.mro):
        name = "num_features"
    for formal in ("x", "addend"):
        given = arg(ctx, formal)
        dims = shape(given) if given is not None else None
        if dims is None or not -len(dims) <= position < len(dims):
            continue
        found = dims[position]
        got = dim(found)
        if got == expected or (got is None and not isinstance(get_proper_type(found), TypeVarType)):
            continue  # int passes (Linear(3, 4) was Linear[int, int] before the plugin); a TypeVar does not
        shown = str(found) if got is None else str(got)
        index = ctx.callee_arg_names.index(formal)
        source = _producer(ctx, ctx.args[index][0] if ctx.args[index] else None, producers)
        if source is not None:
            message = f"{source} gives {shown} {what}; {layer.type.name} expects {expected}"
        else:
            message = f"{layer.type.name} expects {expected} input {what} ({name}), got {shown}"
            if formal != "x":
                message += f" in {formal}"
        fail(ctx, message, ARG_TYPE)
        return False
    return True


def checked_forward(ctx: MethodContext, position: int, producers: Mapping[str, str]) -> Type:
    """Linear / BatchNorm ``forward``: the input's dim at ``position`` must be the layer's (``check_input``)."""
    check_input(ctx, position, producers)
    return refined(ctx, ctx.default_return_type)


def batchnorm_new(ctx: FunctionContext) -> Type:
    return refined(ctx, _literal_args(ctx, ("num_features",)))


def _producer(ctx: MethodContext, expr: Expression | None, producers: Mapping[str, str]) -> str | None:
    """The layer class whose ``forward`` made the argument (``Flatten``), when it is a direct call."""
    if not isinstance(expr, CallExpr) or not isinstance(expr.callee, MemberExpr):
        return None
    if expr.callee.name not in ("forward", "forward_mut"):
        return None
    receiver = get_proper_type(lookup(ctx.api, expr.callee.expr))
    if not isinstance(receiver, Instance):
        return None
    for info in receiver.type.mro:
        if info.fullname in producers:
            return producers[info.fullname]
    return None
