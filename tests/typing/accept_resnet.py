"""Accept corpus: a ResNet-style network, written as a user would, typed through every layer.

A ``BasicBlock`` keeps (B, C, H, W) for TypeVar H, W in every checker (its 3x3 / padding 1
convolutions are ``Conv2D[C, C, SameSize]``); a stride-2 ``Down`` block with a 1x1 stride-2
projection shortcut types its output ``Half[H], Half[W]`` (folded to Literals by the plugin, ``Any``
for the other checkers; the same block typed ``int``: ``down_to_int``). Layers take explicit type
arguments (``nn.Conv2D[L[3], L[8]](3, 8, ...)``): every checker but mypy+plugin widens a literal
constructor argument to ``int``. The logits are exact everywhere, the intermediate spatial dims
under mypy+plugin. The module also runs (tests/test_typing_models.py): one inference pass and one
training step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import Half, NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
C2 = TypeVar("C2", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)


class BasicBlock(nn.Module, Generic[C]):
    """Two 3x3 convolutions with BatchNorm and ReLU, and the identity shortcut."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels
        self.conv1 = nn.Conv2D(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2D(channels)
        self.conv2 = nn.Conv2D(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2D(channels)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, H, W], F32, NoneTape]:
        h = self.relu.forward(self.bn1.forward(self.conv1.forward(x)))
        h = self.bn2.forward(self.conv2.forward(h))
        return self.relu.forward(h + x)

    def forward_mut(self, x: Tensor[tuple[B, C, H, W], F32, OwnedTape]) -> Tensor[tuple[B, C, H, W], F32, OwnedTape]:
        h = self.relu.forward_mut(self.bn1.forward_mut(self.conv1.forward_mut(x)))
        h = self.bn2.forward_mut(self.conv2.forward_mut(h))
        return self.relu.forward_mut(h + x)


class Down(nn.Module, Generic[C, C2]):
    """A stride-2 block: 3x3 stride-2 then 3x3 convolutions, and a 1x1 stride-2 projection shortcut."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "in_channels", "C2": "out_channels"}

    def __init__(self, in_channels: C, out_channels: C2) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv1 = nn.Conv2D(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2D(out_channels)
        self.conv2 = nn.Conv2D(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2D(out_channels)
        self.shortcut = nn.Conv2D(in_channels, out_channels, 1, stride=2, bias=False)
        self.bn_shortcut = nn.BatchNorm2D(out_channels)
        self.relu = nn.ReLU()

    def forward(
        self, x: Tensor[tuple[B, C, H, W], F32, NoneTape]
    ) -> Tensor[tuple[B, C2, Half[H], Half[W]], F32, NoneTape]:
        h = self.relu.forward(self.bn1.forward(self.conv1.forward(x)))
        h = self.bn2.forward(self.conv2.forward(h))
        return self.relu.forward(h + self.bn_shortcut.forward(self.shortcut.forward(x)))

    def forward_mut(
        self, x: Tensor[tuple[B, C, H, W], F32, OwnedTape]
    ) -> Tensor[tuple[B, C2, Half[H], Half[W]], F32, OwnedTape]:
        h = self.relu.forward_mut(self.bn1.forward_mut(self.conv1.forward_mut(x)))
        h = self.bn2.forward_mut(self.conv2.forward_mut(h))
        return self.relu.forward_mut(h + self.bn_shortcut.forward_mut(self.shortcut.forward_mut(x)))


def down_to_int(
    block: Down[C, C2], x: Tensor[tuple[B, C, H, W], F32, NoneTape]
) -> Tensor[tuple[B, C2, int, int], F32, NoneTape]:
    """The down block's path typed ``int`` H, W, as without dim expressions: the plugin types ``main``
    ``Half[H]`` (a stride-2 conv over a TypeVar) and yields it to the ``int`` the result meets."""
    main = block.bn1.forward(block.conv1.forward(x))
    return block.relu.forward(main + block.bn_shortcut.forward(block.shortcut.forward(x)))


class ResNet(nn.Module):
    """Stem (7x7 stride-2 convolution, 3x3 stride-2 max pool), two stages, global pooling, a Linear head."""

    def __init__(self) -> None:
        self.stem = nn.Conv2D[L[3], L[8]](3, 8, 7, stride=2, padding=3, bias=False)
        self.stem_bn = nn.BatchNorm2D[L[8]](8)
        self.stem_pool = nn.MaxPool2D(3, stride=2, padding=1)
        self.stage1 = BasicBlock[L[8]](8)
        self.down = Down[L[8], L[16]](8, 16)
        self.stage2 = BasicBlock[L[16]](16)
        self.pool = nn.GlobalAvgPool2D()
        self.head = nn.Linear[L[16], L[10]](16, 10)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor[tuple[B, L[3], H, W], F32, NoneTape]) -> Tensor[tuple[B, L[10]], F32, NoneTape]:
        stem = self.stem_pool.forward(self.relu.forward(self.stem_bn.forward(self.stem.forward(x))))
        features = self.stage2.forward(self.down.forward(self.stage1.forward(stem)))
        return self.head.forward(self.pool.forward(features))

    def forward_mut(self, x: Tensor[tuple[B, L[3], H, W], F32, OwnedTape]) -> Tensor[tuple[B, L[10]], F32, OwnedTape]:
        stem = self.stem_pool.forward_mut(self.relu.forward_mut(self.stem_bn.forward_mut(self.stem.forward_mut(x))))
        features = self.stage2.forward_mut(self.down.forward_mut(self.stage1.forward_mut(stem)))
        return self.head.forward_mut(self.pool.forward_mut(features))


net = ResNet()
x: Tensor[tuple[L[2], L[3], L[16], L[16]], F32, NoneTape] = tt.randn((2, 3, 16, 16), seed=0)

# the logits, in every checker
logits = net.forward(x)
assert_type(logits, Tensor[tuple[L[2], L[10]], F32, NoneTape])
assert logits.shape == (2, 10)

# a block keeps the shape, TypeVar H and W included
block = BasicBlock[L[8]](8)
y: Tensor[tuple[L[2], L[8], L[4], L[4]], F32, NoneTape] = tt.zeros((2, 8, 4, 4))
assert_type(block.forward(y), Tensor[tuple[L[2], L[8], L[4], L[4]], F32, NoneTape])

# the down block halves H and W (4 -> 2): Half[L[4]] is L[2] under the plugin, Any for the other checkers
down = Down[L[8], L[16]](8, 16)
assert_type(down.forward(y), Tensor[tuple[L[2], L[16], L[2], L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(down.forward(y), Tensor[tuple[L[2], L[16], Any, Any], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
as_int: Tensor[tuple[L[2], L[16], int, int], F32, NoneTape] = down.forward(y)
assert down.forward(y).shape == (2, 16, 2, 2)
assert down_to_int(down, y).shape == (2, 16, 2, 2)

# layer by layer, the plugin computes every spatial dim from the literal input (16 -> 8 -> 4 -> 2); the
# other checkers type the resized ones int
s = net.stem.forward(x)
assert_type(s, Tensor[tuple[L[2], L[8], L[8], L[8]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(s, Tensor[tuple[L[2], L[8], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
p = net.stem_pool.forward(s)
assert_type(p, Tensor[tuple[L[2], L[8], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(net.stage1.forward(p), Tensor[tuple[L[2], L[8], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(net.down.conv1.forward(p), Tensor[tuple[L[2], L[16], L[2], L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(net.down.shortcut.forward(p), Tensor[tuple[L[2], L[16], L[2], L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert p.shape == (2, 8, 4, 4)

# one training step: trace the input into the parameters' gradients, a loss, backward
grads = net.alloc_grads()
labels: Tensor[tuple[L[2]], np.int64, NoneTape] = tt.tensor(np.array([1, 7]), np.int64)
train_logits = net.forward_mut(x.trace(grads))
assert_type(train_logits, Tensor[tuple[L[2], L[10]], F32, OwnedTape])
loss = nn.cross_entropy(train_logits, labels)
assert_type(loss, Tensor[tuple[()], F32, OwnedTape])
assert_type(loss.backward(), tt.Gradients)
