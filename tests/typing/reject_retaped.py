"""Reject corpus: ``retaped`` takes an untraced self and a traced like, and its result is traced."""

from __future__ import annotations

from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor

F32 = np.float32
a: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3))
at = a.leaky_trace()
pos: Tensor[tuple[L[3]], np.int64, NoneTape] = tt.tensor(np.arange(3), np.int64)

# like must carry a tape (an untraced like has none to give)
pos.retaped(a)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# self must be untraced (a traced tensor already has a tape: retape its detach())
pos.leaky_trace().retaped(at)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
# like must be a tensor
pos.retaped(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the result is traced: it is not an inference tensor
n: Tensor[tuple[L[3]], np.int64, NoneTape] = pos.retaped(at)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# the result keeps self's shape and dtype, not like's
s: Tensor[tuple[L[2], L[3]], F32, OwnedTape] = pos.retaped(at)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
