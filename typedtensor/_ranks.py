"""Rank aliases (dfdx ``Rank0`` ... ``Rank4``): ``Rank2[L[2], L[3], np.float32, NoneTape]``."""

from __future__ import annotations

from typing import TypeAlias, TypeVar

import numpy as np

from ._tape import NoneTape, OwnedTape
from ._tensor import Tensor

__all__ = ["Rank0", "Rank1", "Rank2", "Rank3", "Rank4"]

_A = TypeVar("_A", bound=int)
_B = TypeVar("_B", bound=int)
_C = TypeVar("_C", bound=int)
_D = TypeVar("_D", bound=int)
_E = TypeVar("_E", bound=np.generic)
_T = TypeVar("_T", bound=NoneTape | OwnedTape)

Rank0: TypeAlias = Tensor[tuple[()], _E, _T]
Rank1: TypeAlias = Tensor[tuple[_A], _E, _T]
Rank2: TypeAlias = Tensor[tuple[_A, _B], _E, _T]
Rank3: TypeAlias = Tensor[tuple[_A, _B, _C], _E, _T]
Rank4: TypeAlias = Tensor[tuple[_A, _B, _C, _D], _E, _T]
