"""Dim expressions: a dim computed from others in an annotation, ``Tensor[tuple[B, C, Half[H], Half[W]], E, T]``.

``Half[H]`` is ``(H + 1) // 2`` (ceil(H / 2)): the output size of a stride-2 convolution with kernel 3 /
padding 1 or kernel 1 / padding 0, and of ``MaxPool2D(3, stride=2, padding=1)``, which is what ResNet
blocks do (``MaxPool2D(2)`` gives the floor, ``Div[H, L[2]]``). ``Mul[A, B, ...]`` and ``Add[A, B, ...]``
take two or more dims, ``Sub[A, B]`` and ``Div[A, B]`` (floor division) two. Their arguments are dims:
``Literal[n]``, TypeVars, NewTypes or other expressions.

Who understands them:

- The run-time checks (``typedtensor._hints``): an expression dim is compared with the value computed
  from the call's bindings once every symbol in it is bound (by any argument or the return value, in
  the order they are checked); a symbol never bound in the call leaves the expression unchecked (some
  value of it would fit). An expression never binds a symbol.
- mypy with ``typedtensor.mypy_plugin``: exact (``typedtensor._mypy.exprs``); ``Half[Literal[32]]`` is
  ``Literal[16]``, and an expression whose symbols a call binds to Literals is folded.
- Every other checker (plain mypy, pyright, basedpyright, pyrefly, ty): a generic alias of ``Any``, so
  an expression dim accepts and gives any dim (gradual); the run-time checks remain.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, NewType, TypeVar, cast

__all__ = ["Add", "DimExpr", "Div", "Half", "Mul", "Sub"]

_X = TypeVar("_X")
_Y = TypeVar("_Y")

if TYPE_CHECKING:
    from typing_extensions import TypeAliasType, TypeVarTuple

    _Xs = TypeVarTuple("_Xs")
    #: ``(H + 1) // 2``: ceil(H / 2), the output of a stride-2 window that keeps ceil (kernel 3 / padding 1).
    Half = TypeAliasType("Half", Any, type_params=(_X,))
    #: The product of two or more dims (a flatten: ``Mul[C, H, W]``).
    Mul = TypeAliasType("Mul", Any, type_params=(_Xs,))
    #: The sum of two or more dims (a concat: ``Add[C1, C2]``).
    Add = TypeAliasType("Add", Any, type_params=(_Xs,))
    #: ``A - B``.
    Sub = TypeAliasType("Sub", Any, type_params=(_X, _Y))
    #: ``A // B`` (floor division: ``MaxPool2D(2)`` gives ``Div[H, L[2]]``).
    Div = TypeAliasType("Div", Any, type_params=(_X, _Y))


# ---- the forms the mypy plugin turns the aliases into (never used at run time) ---------------------


class _Static:  # pyright: ignore[reportUnusedClass]  # used by the plugin, by name
    """Namespace of the plugin's canonical expression types (nested, so that mypy prints ``Half[H]``).

    Each subclasses ``int`` so that an expression dim meets a TypeVar's ``bound=int``. ``Mul`` and
    ``Add`` are binary (``Mul[C, Mul[H, W]]``, arguments sorted so that equal products are one type).
    """

    class Half(int, Generic[_X]):
        pass

    class Mul(int, Generic[_X, _Y]):
        pass

    class Add(int, Generic[_X, _Y]):
        pass

    class Sub(int, Generic[_X, _Y]):
        pass

    class Div(int, Generic[_X, _Y]):
        pass


# ---- run time ---------------------------------------------------------------------------------------


def _floordiv(a: int, b: int) -> int | None:
    return a // b if b > 0 else None


def _sub(a: int, b: int) -> int | None:
    return a - b if a >= b else None


class _Op:
    """An operator usable in annotations at run time: ``Half[H]`` builds a :class:`DimExpr`."""

    def __init__(self, name: str, arity: int, variadic: bool, fn: Callable[[list[int]], int | None]) -> None:
        self.name = name
        self.arity = arity
        self.variadic = variadic
        self.fn = fn

    def __getitem__(self, args: object) -> DimExpr:
        items: tuple[object, ...] = cast("tuple[object, ...]", args) if isinstance(args, tuple) else (args,)
        if len(items) != self.arity and not (self.variadic and len(items) >= self.arity):
            wanted = f"{self.arity} or more" if self.variadic else str(self.arity)
            raise _error(f"{self.name}[...] takes {wanted} dims, got {len(items)}")
        for a in items:
            _check_arg(self.name, a)
        return DimExpr(self, items)

    def __repr__(self) -> str:
        return f"typedtensor.{self.name}"


def _error(message: str) -> Exception:
    from ._errors import TypedTensorError

    return TypedTensorError(message)


def _check_arg(op: str, a: object) -> None:
    if isinstance(a, (DimExpr, TypeVar, NewType)):
        return
    if typing.get_origin(a) is typing.Literal:
        values = typing.get_args(a)
        if len(values) == 1 and isinstance(values[0], int) and not isinstance(values[0], bool) and values[0] >= 0:
            return
    raise _error(
        f"{op}[...]: each argument is a dim, Literal[n] with one int n >= 0, a TypeVar, a NewType or an expression; "
        f"got {a!r}"
    )


def _product(v: list[int]) -> int:
    out = 1
    for x in v:
        out *= x
    return out


def _ceil_half(v: list[int]) -> int:
    return (v[0] + 1) // 2


def _sum(v: list[int]) -> int:
    return sum(v)


def _minus(v: list[int]) -> int | None:
    return _sub(v[0], v[1])


def _div(v: list[int]) -> int | None:
    return _floordiv(v[0], v[1])


def _arg_name(a: object) -> str:
    if isinstance(a, DimExpr):
        return repr(a)
    if typing.get_origin(a) is typing.Literal:
        return f"L[{typing.get_args(a)[0]}]"
    return str(getattr(a, "__name__", a))


class DimExpr:
    """``Half[H]`` and the other expressions at run time: an operator applied to dims."""

    __slots__ = ("args", "op")

    def __init__(self, op: _Op, args: tuple[object, ...]) -> None:
        self.op = op
        self.args = args

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DimExpr) and other.op is self.op and other.args == self.args

    def __hash__(self) -> int:
        return hash((self.op.name, self.args))

    def __repr__(self) -> str:
        return f"{self.op.name}[{', '.join(_arg_name(a) for a in self.args)}]"

    def symbols(self) -> list[object]:
        """The TypeVars and NewTypes inside, each once, in order of appearance."""
        out: list[object] = []
        for a in self.args:
            for s in a.symbols() if isinstance(a, DimExpr) else [] if typing.get_origin(a) is typing.Literal else [a]:
                if s not in out:
                    out.append(s)
        return out

    def value(self, bound: Mapping[object, Any]) -> int | None:
        """The value from the bound symbols; None if one is unbound or the result is no size (``Sub`` below 0,
        ``Div`` by 0)."""
        values: list[int] = []
        for a in self.args:
            if isinstance(a, DimExpr):
                v = a.value(bound)
            elif typing.get_origin(a) is typing.Literal:
                v = typing.get_args(a)[0]
            else:
                v = bound.get(a)
            if v is None:
                return None
            values.append(int(v))
        return self.op.fn(values)

    def substitute(self, sub: Mapping[object, object]) -> DimExpr:
        """The expression with symbols replaced (a generic alias applied: ``Rank2[...]``)."""
        return DimExpr(
            self.op, tuple(a.substitute(sub) if isinstance(a, DimExpr) else sub.get(a, a) for a in self.args)
        )

    def explain(self, bound: Mapping[object, Any]) -> str:
        """``Half[H] = 16 (H = 32)``."""
        names = ", ".join(f"{_arg_name(s)} = {bound[s]}" for s in self.symbols() if s in bound)
        return f"{self!r} = {self.value(bound)}" + (f" ({names})" if names else "")


if not TYPE_CHECKING:
    Half = _Op("Half", 1, False, _ceil_half)
    Mul = _Op("Mul", 2, True, _product)
    Add = _Op("Add", 2, True, _sum)
    Sub = _Op("Sub", 2, False, _minus)
    Div = _Op("Div", 2, False, _div)
