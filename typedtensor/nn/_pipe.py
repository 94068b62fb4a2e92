"""``pipe``: compose module forwards so that mypy and pyright check every link of the chain.

``pipe(x, conv.forward, bn.forward, relu.forward)`` is ``relu.forward(bn.forward(conv.forward(x)))``
read left to right. Each stage's input type is the previous stage's output type, so a channel
mismatch between two layers, or a training ``forward_mut`` fed an untraced tensor, is reported by
the type checkers at the stage where it happens. Write each stage as its own expression
(``self.relu.forward`` twice, not one local ``r = self.relu.forward`` passed twice): mypy gives one
generic callable object passed twice in a call a single set of type variables, and then fails.
Likewise give each stage's result its own name: mypy types a variable by its first assignment. (A ``Sequential`` object cannot be typed this way:
its forward would be generic over a generic function, which neither checker can express.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from .._errors import TypedTensorError

__all__ = ["pipe"]

X0 = TypeVar("X0")
X1 = TypeVar("X1")
X2 = TypeVar("X2")
X3 = TypeVar("X3")
X4 = TypeVar("X4")
X5 = TypeVar("X5")
X6 = TypeVar("X6")
X7 = TypeVar("X7")
X8 = TypeVar("X8")
X9 = TypeVar("X9")
X10 = TypeVar("X10")


@overload
def pipe(x: X0, f1: Callable[[X0], X1], /) -> X1: ...
@overload
def pipe(x: X0, f1: Callable[[X0], X1], f2: Callable[[X1], X2], /) -> X2: ...
@overload
def pipe(x: X0, f1: Callable[[X0], X1], f2: Callable[[X1], X2], f3: Callable[[X2], X3], /) -> X3: ...
@overload
def pipe(
    x: X0, f1: Callable[[X0], X1], f2: Callable[[X1], X2], f3: Callable[[X2], X3], f4: Callable[[X3], X4], /
) -> X4: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    /,
) -> X5: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    f6: Callable[[X5], X6],
    /,
) -> X6: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    f6: Callable[[X5], X6],
    f7: Callable[[X6], X7],
    /,
) -> X7: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    f6: Callable[[X5], X6],
    f7: Callable[[X6], X7],
    f8: Callable[[X7], X8],
    /,
) -> X8: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    f6: Callable[[X5], X6],
    f7: Callable[[X6], X7],
    f8: Callable[[X7], X8],
    f9: Callable[[X8], X9],
    /,
) -> X9: ...
@overload
def pipe(
    x: X0,
    f1: Callable[[X0], X1],
    f2: Callable[[X1], X2],
    f3: Callable[[X2], X3],
    f4: Callable[[X3], X4],
    f5: Callable[[X4], X5],
    f6: Callable[[X5], X6],
    f7: Callable[[X6], X7],
    f8: Callable[[X7], X8],
    f9: Callable[[X8], X9],
    f10: Callable[[X9], X10],
    /,
) -> X10: ...
def pipe(x: Any, *stages: Callable[[Any], Any]) -> Any:
    """Apply ``stages`` (usually bound ``forward`` or ``forward_mut`` methods) to ``x`` in order."""
    for i, stage in enumerate(stages):
        if not callable(stage):
            raise TypedTensorError(
                f"pipe: stage {i + 1} is a {type(stage).__name__}, not a function; pass bound methods such as "
                "layer.forward"
            )
        x = stage(x)
    return x
