"""Reject corpus: ``nn.Sequential`` (issue 14 item 4): a link whose input is not the previous layer's output, an
input type no first layer takes, and calls that contradict the typed chain."""

from __future__ import annotations

from typing import Any
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32

x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((3, 4))
x5: Tensor[tuple[int, L[5]], F32, NoneTape] = tt.zeros((3, 5))
x64: Tensor[tuple[int, L[4]], np.float64, NoneTape] = tt.zeros((3, 4), np.float64)
mlp = nn.Sequential(
    Tensor[tuple[int, L[4]], F32, Any], nn.Linear[L[4], L[8]](4, 8), nn.ReLU(), nn.Linear[L[8], L[2]](8, 2)
)

# a link that does not fit: 8 features into a Linear that takes 4
nn.Sequential(Tensor[tuple[int, L[4]], F32, Any], nn.Linear[L[4], L[8]](4, 8), nn.Linear[L[4], L[2]](4, 2))  # type: ignore[misc]  # pyright: ignore[reportArgumentType, reportCallIssue]
# the declared input does not fit the first layer
nn.Sequential(Tensor[tuple[int, L[5]], F32, Any], nn.Linear[L[4], L[8]](4, 8))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
# calls: another input shape or dtype, and the result's tape is the input's
mlp(x5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
mlp(x64)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
wrong: Tensor[tuple[int, L[3]], F32, NoneTape] = mlp(x)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
untraced: Tensor[tuple[int, L[2]], F32, NoneTape] = mlp(x.trace(mlp.alloc_grads()))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
mlp.forward(x.trace(mlp.alloc_grads()))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
traced: Tensor[tuple[int, L[2]], F32, OwnedTape] = mlp.forward_mut(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# a module class that declares no __call__ is not a layer of a typed chain
class Plain(nn.Module):
    def forward(self, x: Tensor[tuple[int, L[2]], F32, NoneTape]) -> Tensor[tuple[int, L[2]], F32, NoneTape]:
        return x


nn.Sequential(Tensor[tuple[int, L[2]], F32, Any], Plain())  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]
# the layers are Modules: a function is not one (nn.pipe composes functions)
nn.Sequential(nn.ReLU(), print)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]
