"""Type variables and aliases for shapes, dtypes and tapes.

Dims inside a shape tuple are ``Literal[n]`` (constant), ``int`` (known at run time) or a TypeVar /
NewType (symbolic: equal wherever it appears in one call).
"""

from __future__ import annotations

from typing import Any, TypeVar, TypeVarTuple

import numpy as np

from ._tape import NoneTape, OwnedTape

__all__ = [
    "D0",
    "D1",
    "DN",
    "E2",
    "S2",
    "E",
    "K",
    "Lead",
    "M",
    "N",
    "Rest",
    "S",
    "T",
    "Tape",
]

#: The shape parameter of ``Tensor`` (invariant: see the README on variance).
S = TypeVar("S")
#: A shape requested by the caller (``reshape``, ``broadcast_to``, ``realize``, constructors).
S2 = TypeVar("S2", bound=tuple[Any, ...])
#: The dtype parameter: a NumPy scalar type such as ``np.float32``.
E = TypeVar("E", bound=np.generic)
E2 = TypeVar("E2", bound=np.generic)
#: Either tape kind.
Tape = NoneTape | OwnedTape
#: The tape parameter: ``NoneTape`` or ``OwnedTape``.
T = TypeVar("T", bound=NoneTape | OwnedTape)

D0 = TypeVar("D0", bound=int)
D1 = TypeVar("D1", bound=int)
DN = TypeVar("DN", bound=int)
M = TypeVar("M", bound=int)
K = TypeVar("K", bound=int)
N = TypeVar("N", bound=int)
Lead = TypeVarTuple("Lead")
Rest = TypeVarTuple("Rest")
