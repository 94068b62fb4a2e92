"""Accept corpus: dim expressions (``Half``, ``Mul``, ``Div``) in annotations.

Exact under mypy+plugin (an expression folds to a Literal once its symbols are Literal; a stride-2
convolution over a TypeVar H gives ``Half[H]``, a Flatten ``Mul[C, H, W]``); a generic alias of
``Any`` for every other checker, so the same code passes there with ``Any`` dims.
"""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import Div, Half, Mul, NoneTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)


class Down(nn.Module):
    """A ResNet-style downsampling block: 3x3 stride-2 convolution, BatchNorm, 1x1 stride-2 projection."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[16], L[32]](16, 32, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2D[L[32]](32)
        self.proj = nn.Conv2D[L[16], L[32]](16, 32, 1, stride=2)

    def forward(
        self, x: Tensor[tuple[B, L[16], H, W], F32, NoneTape]
    ) -> Tensor[tuple[B, L[32], Half[H], Half[W]], F32, NoneTape]:
        return self.bn.forward(self.conv.forward(x)) + self.proj.forward(x)


def pooled(
    x: Tensor[tuple[B, L[32], H, W], F32, NoneTape],
) -> Tensor[tuple[B, L[32], Div[H, L[2]], Div[W, L[2]]], F32, NoneTape]:
    return nn.MaxPool2D(2).forward(x)


def flat(x: Tensor[tuple[B, L[32], H, W], F32, NoneTape]) -> Tensor[tuple[B, Mul[L[32], H, W]], F32, NoneTape]:
    return nn.Flatten().forward(x)


down = Down()
x: Tensor[tuple[int, L[16], L[32], L[31]], F32, NoneTape] = tt.zeros((4, 16, 32, 31))
y = down.forward(x)
# every checker: the call fits a target with int dims
as_int: Tensor[tuple[int, L[32], int, int], F32, NoneTape] = down.forward(x)
# the plugin folds Half[L[32]] and Half[L[31]]; the others read Any
assert_type(y, Tensor[tuple[int, L[32], L[16], L[16]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(y, Tensor[tuple[int, L[32], Any, Any], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
exact: Tensor[tuple[int, L[32], L[16], L[16]], F32, NoneTape] = down.forward(x)
assert_type(pooled(exact), Tensor[tuple[int, L[32], L[8], L[8]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(flat(pooled(exact)), Tensor[tuple[int, L[2048]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
# the Flatten into the matching Linear: checked by the plugin, passes everywhere
logits = nn.Linear[L[2048], L[10]](2048, 10).forward(flat(pooled(exact)))
