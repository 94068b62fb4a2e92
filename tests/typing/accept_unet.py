"""Accept corpus: a U-Net-style network: an encoder, a max-pool down, an upsampling step, skip connections
concatenated on the channel axis (``tt.concat(..., axis=1)``), a decoder.

typedtensor has no upsampling layer: ``upsample2x`` (nearest neighbour) is written with the ops there
are (``reshape``, ``broadcast_to``), differentiable and generic in the tape. The checkers without the
plugin type ``concat`` off axis 0 ``tuple[Any, ...]`` (the run-time checks judge it); mypy+plugin
computes it (the channels add up, the other dims must agree) and types every stage exactly. The
module also runs (tests/test_typing_models.py).
"""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
T = TypeVar("T", NoneTape, OwnedTape)


def upsample2x(x: Tensor[tuple[B, C, H, W], F32, T]) -> Tensor[tuple[B, C, int, int], F32, T]:
    """Nearest-neighbour upsampling by 2: each value repeated over a 2 x 2 block."""
    b, c, h, w = x.shape
    wide = x.reshape((b, c, h, 1, w, 1)).broadcast_to((b, c, h, 2, w, 2))
    return wide.reshape((b, c, h * 2, w * 2))


class UNet(nn.Module):
    """Two levels: 16 x 16 with 8 channels, 8 x 8 with 16; the decoder sees the skip at each level."""

    def __init__(self) -> None:
        self.enc1 = nn.Conv2D[L[3], L[8]](3, 8, 3, padding=1)
        self.pool = nn.MaxPool2D(2)
        self.enc2 = nn.Conv2D[L[8], L[16]](8, 16, 3, padding=1)
        self.mid = nn.Conv2D[L[16], L[16]](16, 16, 3, padding=1)
        self.dec2 = nn.Conv2D[L[32], L[16]](32, 16, 3, padding=1)  # mid + the enc2 skip: 16 + 16
        self.dec1 = nn.Conv2D[L[24], L[8]](24, 8, 3, padding=1)  # upsampled dec2 + the enc1 skip: 16 + 8
        self.head = nn.Conv2D[L[8], L[2]](8, 2, 1)  # two classes per pixel
        self.relu = nn.ReLU()

    def forward(self, x: Tensor[tuple[B, L[3], L[16], L[16]], F32, T]) -> Tensor[tuple[B, L[2], L[16], L[16]], F32, T]:
        e1 = self.relu.forward(self.enc1.forward(x))
        assert_type(e1, Tensor[tuple[B, L[8], L[16], L[16]], F32, T])
        e2 = self.relu.forward(self.enc2.forward(self.pool.forward(e1)))
        assert_type(e2, Tensor[tuple[B, L[16], L[8], L[8]], F32, T])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        m = self.relu.forward(self.mid.forward(e2))
        skip2 = tt.concat((m, e2), axis=1)
        assert_type(skip2, Tensor[tuple[B, L[32], L[8], L[8]], F32, T])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        assert_type(skip2, Tensor[tuple[Any, ...], F32, T])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
        d2 = self.relu.forward(self.dec2.forward(skip2))
        up = upsample2x(d2)
        skip1 = tt.concat((up, e1), axis=1)
        d1 = self.relu.forward(self.dec1.forward(skip1))
        return self.head.forward(d1)


net = UNet()
x: Tensor[tuple[L[2], L[3], L[16], L[16]], F32, NoneTape] = tt.randn((2, 3, 16, 16), seed=0)
out = net.forward(x)
assert_type(out, Tensor[tuple[L[2], L[2], L[16], L[16]], F32, NoneTape])
assert out.shape == (2, 2, 16, 16)

# the upsampling step: nearest neighbour, shape (B, C, 2H, 2W)
small: Tensor[tuple[L[1], L[1], L[2], L[2]], F32, NoneTape] = tt.tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]], F32))
big = upsample2x(small)
assert_type(big, Tensor[tuple[L[1], L[1], int, int], F32, NoneTape])
assert big.numpy().tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]

# one training step: a per-pixel loss on the traced output
grads = net.alloc_grads()
pred = net.forward(x.trace(grads))
assert_type(pred, Tensor[tuple[L[2], L[2], L[16], L[16]], F32, OwnedTape])
target: Tensor[tuple[L[2], L[2], L[16], L[16]], F32, NoneTape] = tt.zeros((2, 2, 16, 16))
loss = nn.mse_loss(pred, target)
assert_type(loss.backward(), tt.Gradients)
