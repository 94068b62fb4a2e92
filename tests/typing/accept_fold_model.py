"""Accept corpus: nn.fold_batchnorms returns the model's own class, so forward keeps its exact type."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)


class Net(nn.Module):
    """conv -> bn -> relu -> global average pool -> linear -> bn1d."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[1], L[4]](1, 4, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2D[L[4]](4)
        self.relu = nn.ReLU()
        self.gap = nn.GlobalAvgPool2D()
        self.fc = nn.Linear[L[4], L[3]](4, 3)
        self.bn1 = nn.BatchNorm1D[L[3]](3)

    def forward(self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, NoneTape]) -> Tensor[tuple[B, L[3]], F32, NoneTape]:
        h: Tensor[tuple[B, L[4], L[8], L[8]], F32, NoneTape] = self.relu.forward(self.bn.forward(self.conv.forward(x)))
        return self.bn1.forward(self.fc.forward(self.gap.forward(h)))

    def forward_mut(
        self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, OwnedTape]
    ) -> Tensor[tuple[B, L[3]], F32, OwnedTape]:
        h: Tensor[tuple[B, L[4], L[8], L[8]], F32, OwnedTape] = self.relu.forward_mut(
            self.bn.forward_mut(self.conv.forward_mut(x))
        )
        return self.bn1.forward_mut(self.fc.forward_mut(self.gap.forward_mut(h)))


net = Net()
x: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 1, 8, 8))
folded = nn.fold_batchnorms(net, x)
assert_type(folded, Net)
assert_type(folded.forward(x), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(folded.conv, nn.Conv2D[L[1], L[4], nn.SameSize])
assert_type(folded.bn, nn.BatchNorm2D[L[4]])
assert_type(nn.folded_batchnorms(folded), dict[str, str])

# any module, and any untraced example: the example's shape and dtype are the model's business (checked at run time)
some: Tensor[Any, Any, NoneTape] = tt.zeros((2, 1, 8, 8))
assert_type(nn.fold_batchnorms(net, some), Net)
seq = nn.Conv2D[L[1], L[4]](1, 4, kernel_size=3)
assert_type(nn.fold_batchnorms(seq, x), nn.Conv2D[L[1], L[4]])


def any_module(model: nn.Module) -> None:
    assert_type(nn.fold_batchnorms(model, x), nn.Module)


# a Sequential keeps its chain's types; its call picks forward on the untraced input
untyped = nn.Sequential(nn.Conv2D(1, 4, 3, padding=1), nn.BatchNorm2D(4), nn.ReLU())
assert_type(nn.fold_batchnorms(untyped, x), nn.Sequential[Any, Any, Any, Any])
v: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((2, 4))
typed = nn.Sequential(Tensor[tuple[int, L[4]], F32, Any], nn.Linear[L[4], L[3]](4, 3), nn.ReLU())
folded_seq = nn.fold_batchnorms(typed, v)
assert_type(folded_seq(v), Tensor[tuple[int, L[3]], F32, NoneTape])
