"""Reject corpus: dim expressions that do not match what the code computes (mypy+plugin only: the other
checkers read an expression as ``Any``, and the run-time checks catch these)."""

from __future__ import annotations

from typing import Literal as L
from typing import TypeVar

import numpy as np

import typedtensor as tt
from typedtensor import Half, Mul, NoneTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)


class Down(nn.Module):
    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[16], L[32]](16, 32, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2D[L[16], L[32]](16, 32, 1)  # forgot stride=2

    def forward(
        self, x: Tensor[tuple[B, L[16], H, W], F32, NoneTape]
    ) -> Tensor[tuple[B, L[32], Half[H], Half[W]], F32, NoneTape]:
        return self.conv.forward(x)

    def shortcut_only(
        self, x: Tensor[tuple[B, L[16], H, W], F32, NoneTape]
    ) -> Tensor[tuple[B, L[32], Half[H], Half[W]], F32, NoneTape]:
        # the shortcut keeps H and W: Half[H] is declared
        return self.shortcut.forward(x)  # type: ignore[return-value, unused-ignore]  # reject: mypy+plugin


def flat(x: Tensor[tuple[B, L[32], H, W], F32, NoneTape]) -> Tensor[tuple[B, Mul[H, W]], F32, NoneTape]:
    # the channels are flattened too: Mul[L[32], H, W]
    return nn.Flatten().forward(x)  # type: ignore[return-value, unused-ignore]  # reject: mypy+plugin


x: Tensor[tuple[int, L[16], L[32], L[31]], F32, NoneTape] = tt.zeros((4, 16, 32, 31))
# Half[L[31]] is 16 (ceil), not 15
wrong: Tensor[tuple[int, L[32], L[16], L[15]], F32, NoneTape] = Down().forward(x)  # type: ignore[assignment, unused-ignore]  # reject: mypy+plugin
# a Literal expression that is no size
negative: Tensor[tuple[L[2], tt.Sub[L[1], L[2]]], F32, NoneTape]  # type: ignore[misc, unused-ignore]  # reject: mypy+plugin
