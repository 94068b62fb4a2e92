"""Reject corpus: Embedding[N, D] fed float ids, its output taken for another width, or built with mismatched arguments."""

from __future__ import annotations

from typing import Any
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
emb = nn.Embedding[L[100], L[16]](100, 16)
ids: Tensor[tuple[int, L[10]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 10)), np.int64)
x: Tensor[tuple[int, L[10]], F32, NoneTape] = tt.zeros((2, 10))

# float input: ids are row numbers (an integer tensor)
emb.forward(x)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
emb.forward_mut(x.leaky_trace())  # type: ignore[type-var]  # pyright: ignore[reportArgumentType]
# the output's last dim is D, not some other width
y: Tensor[tuple[int, L[10], L[8]], Any, NoneTape] = emb.forward(ids)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# the output keeps the ids' shape: (B, T) does not become (B,)
z: Tensor[tuple[int, L[16]], Any, NoneTape] = emb.forward(ids)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# the ids' tape: untraced ids give an untraced output
t: Tensor[tuple[int, L[10], L[16]], Any, OwnedTape] = emb.forward(ids)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# the type arguments and the constructor disagree
nn.Embedding[L[100], L[16]](100, 8)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# options of the wrong kind
nn.Embedding[L[100], L[16]](100, 16, padding_idx="pad")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# embedded tokens (width 16) into a Linear expecting 32 features
nn.Linear[L[32], L[4]](32, 4).forward(emb.forward(ids))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
