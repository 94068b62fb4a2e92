"""Accept corpus: a VGG-style stack (3x3 convolutions, ReLU, 2x2 max pools, Flatten, Linear), typed through every layer.

The 3x3 / padding 1 convolutions are ``SameSize``: they keep H and W in every checker. Each pool
halves them: ``int`` in the checkers without the plugin, the Literal under mypy+plugin, which also
types the Flatten output ``(B, 32*8*8)`` and checks it against the ``Linear``'s ``in_features``. The
``Linear`` after the ``Flatten`` is typed ``Linear[int, L[64]]`` so that the other checkers, whose
Flatten gives ``int`` features, accept it. The logits are exact in every checker. The forward pass
is generic in the tape (no BatchNorm or Dropout here): the same code runs in inference and training.
The module also runs (tests/test_typing_models.py).
"""

from __future__ import annotations

from typing import Literal as L
from typing import TypeVar, assert_type

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", NoneTape, OwnedTape)


class VGG(nn.Module):
    """Two stages of two convolutions and a pool (32 -> 16 -> 8), then a two-layer classifier."""

    def __init__(self) -> None:
        self.conv1 = nn.Conv2D[L[3], L[16]](3, 16, 3, padding=1)
        self.conv2 = nn.Conv2D[L[16], L[16]](16, 16, 3, padding=1)
        self.conv3 = nn.Conv2D[L[16], L[32]](16, 32, 3, padding=1)
        self.conv4 = nn.Conv2D[L[32], L[32]](32, 32, 3, padding=1)
        self.pool = nn.MaxPool2D(2)
        self.relu = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear[int, L[64]](32 * 8 * 8, 64)
        self.fc2 = nn.Linear[L[64], L[10]](64, 10)

    def forward(self, x: Tensor[tuple[B, L[3], L[32], L[32]], F32, T]) -> Tensor[tuple[B, L[10]], F32, T]:
        c1 = self.relu.forward(self.conv2.forward(self.relu.forward(self.conv1.forward(x))))
        assert_type(c1, Tensor[tuple[B, L[16], L[32], L[32]], F32, T])  # SameSize: every checker
        p1 = self.pool.forward(c1)
        assert_type(p1, Tensor[tuple[B, L[16], L[16], L[16]], F32, T])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        assert_type(p1, Tensor[tuple[B, L[16], int, int], F32, T])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
        c2 = self.relu.forward(self.conv4.forward(self.relu.forward(self.conv3.forward(p1))))
        p2 = self.pool.forward(c2)
        assert_type(p2, Tensor[tuple[B, L[32], L[8], L[8]], F32, T])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        flat = self.flat.forward(p2)
        assert_type(flat, Tensor[tuple[B, L[2048]], F32, T])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        assert_type(flat, Tensor[tuple[B, int], F32, T])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
        return self.fc2.forward(self.relu.forward(self.fc1.forward(flat)))


net = VGG()
x: Tensor[tuple[L[2], L[3], L[32], L[32]], F32, NoneTape] = tt.randn((2, 3, 32, 32), seed=0)

logits = net.forward(x)
assert_type(logits, Tensor[tuple[L[2], L[10]], F32, NoneTape])
assert logits.shape == (2, 10)

# a batch of another size: B is the caller's
xb: Tensor[tuple[int, L[3], L[32], L[32]], F32, NoneTape] = tt.zeros((3, 3, 32, 32))
assert_type(net.forward(xb), Tensor[tuple[int, L[10]], F32, NoneTape])
assert net.forward(xb).shape == (3, 10)

# one training step through the same forward: the tape comes through
grads = net.alloc_grads()
train_logits = net.forward(x.trace(grads))
assert_type(train_logits, Tensor[tuple[L[2], L[10]], F32, OwnedTape])
labels: Tensor[tuple[L[2]], np.int64, NoneTape] = tt.tensor(np.array([3, 9]), np.int64)
loss = nn.cross_entropy(train_logits, labels)
assert_type(loss.backward(), tt.Gradients)
