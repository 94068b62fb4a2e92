"""Reject corpus: ``model(x)`` (issue 14 item 4): what the call takes is what its methods take, and the tape of
the result is the input's; a module class that declares no ``__call__`` is not callable for the checkers."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=NoneTape | OwnedTape)

x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((3, 4))
x5: Tensor[tuple[int, L[5]], F32, NoneTape] = tt.zeros((3, 5))
grads = tt.Gradients()
xt = x.trace(grads)
m: Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 4, 8, 8))
mt = m.trace(grads)
lin = nn.Linear[L[4], L[2]](4, 2)
bn = nn.BatchNorm2D[L[4]](4)

# another feature count, a NumPy array, and the result's tape is the input's
lin(x5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
lin(np.zeros((3, 4), np.float32))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
untraced: Tensor[tuple[int, L[2]], F32, NoneTape] = lin(xt)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
traced: Tensor[tuple[int, L[2]], F32, OwnedTape] = lin(x)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# BatchNorm2D: rank 3 or 4 with C channels, on either tape
bn(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
nn.BatchNorm2D[L[3]](3)(m)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
bn_out: Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape] = bn(mt)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
# forward and forward_mut keep their one tape
bn.forward(mt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
bn.forward_mut(m)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
nn.Dropout(0.1).forward(xt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# several inputs: an untraced query cannot take traced keys and values (inference records nothing)
q: Tensor[tuple[int, int, L[8]], F32, NoneTape] = tt.zeros((2, 5, 8))
qt = q.trace(grads)
mha = nn.MultiHeadAttention[L[8]](8, 2)
mha(q, qt, qt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
nn.FusedBatchNorm2D[L[4]](4)(m, addend=mt)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
nn.TransformerBlock[L[8]](8, 2)(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


class Plain(nn.Module):
    def forward(self, x: Tensor[tuple[int, L[4]], F32, NoneTape]) -> Tensor[tuple[int, L[4]], F32, NoneTape]:
        return x

    def forward_mut(self, x: Tensor[tuple[int, L[4]], F32, OwnedTape]) -> Tensor[tuple[int, L[4]], F32, OwnedTape]:
        return x


Plain()(x)  # type: ignore[operator]  # pyright: ignore[reportCallIssue]  # declares no __call__: run time would dispatch, but the checkers cannot know the type


# a model written once (its layers' calls follow the tape) still checks its input
class Once(nn.Module):
    def __init__(self) -> None:
        self.bn = nn.BatchNorm1D[L[4]](4)

    def forward(self, x: Tensor[tuple[B, L[4]], F32, T]) -> Tensor[tuple[B, L[4]], F32, T]:
        return self.bn(x)

    forward_mut = forward
    if TYPE_CHECKING:
        __call__ = forward


Once()(x5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
bad_tape: Tensor[tuple[int, L[4]], F32, NoneTape] = Once()(xt)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
