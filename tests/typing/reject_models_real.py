"""Reject corpus: the shape bugs of real models (ResNet, VGG, U-Net): Flatten into the wrong Linear, a
shortcut missing its stride, mismatched skips, reshape to a wrong size, permute of the wrong rank, a
Linear on the wrong axis.

Where the mistake needs arithmetic (a product, a sum of channels, a window's output size) or an op the
declared signatures type ``tuple[Any, ...]`` (concat off axis 0, reshape, permute of the wrong rank), only
mypy+plugin rejects it statically and the run-time checks do everywhere else; the others every checker rejects.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
C2 = TypeVar("C2", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)

feat: Tensor[tuple[int, L[32], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 32, 8, 8))
x: Tensor[tuple[L[2], L[8], L[16], L[16]], F32, NoneTape] = tt.zeros((2, 8, 16, 16))

# VGG: the Flatten gives 32*8*8 = 2048 features, the Linear expects 1000
nn.Linear[int, L[10]](1000, 10).forward(nn.Flatten().forward(feat))  # type: ignore[arg-type, unused-ignore]  # reject: mypy+plugin


class VGGHead(nn.Module):
    def __init__(self) -> None:
        self.pool = nn.MaxPool2D(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear[int, L[10]](32 * 8 * 8, 10)  # sized for 8 x 8, but the pool halves 8 x 8 to 4 x 4

    def forward(self, f: Tensor[tuple[B, L[32], L[8], L[8]], F32, NoneTape]) -> Tensor[tuple[B, L[10]], F32, NoneTape]:
        return self.fc.forward(self.flat.forward(self.pool.forward(f)))  # type: ignore[arg-type, unused-ignore]  # reject: mypy+plugin


# ResNet: the 1x1 projection shortcut forgot stride=2, so it keeps H and W (SameSize) where the main path
# halves them; every checker sees the shortcut keep H, W and the main path not
class ForgotStride(nn.Module, Generic[C, C2]):
    def __init__(self, channels: C, out: C2) -> None:
        self.conv = nn.Conv2D(channels, out, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2D(out)
        self.shortcut = nn.Conv2D(channels, out, 1, bias=False)  # bug: stride=2 missing

    def forward(self, x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C2, int, int], F32, NoneTape]:
        main = self.bn.forward(self.conv.forward(x))
        short = self.shortcut.forward(x)
        return main + short  # type: ignore[operator, no-any-return]  # pyright: ignore[reportOperatorIssue, reportUnknownVariableType]


# the same at literal sizes: 16 x 16 -> 8 x 8 on the main path, 16 x 16 on the shortcut
main = nn.Conv2D[L[8], L[16]](8, 16, 3, stride=2, padding=1).forward(x)
short = nn.Conv2D[L[8], L[16]](8, 16, 1).forward(x)
main + short  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
# nested in the sum, plain mypy picks the shortcut's overload that fits the + (int H, W) and accepts it: give
# the shortcut its own statement, as above
main + nn.Conv2D[L[8], L[16]](8, 16, 1).forward(x)  # type: ignore[operator, unused-ignore]  # pyright: ignore[reportOperatorIssue]  # reject: mypy+plugin, pyright, basedpyright, pyrefly, ty

# U-Net: a skip of another height and width (the decoder forgot to upsample): 8 x 8 against 16 x 16
low: Tensor[tuple[L[2], L[16], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 16, 8, 8))
tt.concat((low, x), axis=1)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# the wrong axis: on the height (2) the channels 16 and 8 must agree
up: Tensor[tuple[L[2], L[16], L[16], L[16]], F32, NoneTape] = tt.zeros((2, 16, 16, 16))
tt.concat((up, x), axis=2)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# the default axis 0 (the batch) where the channel axis was meant
tt.concat((up, x))  # type: ignore[misc]  # pyright: ignore[reportArgumentType]

# reshape to a wrong size: 2*8*16*16 = 4096 values into 2*8*100
x.reshape((2, 8, 100))  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# permute of the wrong rank: 3 axes for a rank-4 tensor
x.permute((0, 2, 1))  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin

# a Linear over the channels applied on the last axis (W = 16), not on the 8 channels
per_pixel = nn.Linear[L[8], L[4]](8, 4)
per_pixel.forward(x)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
# the permute puts H last, not the channels: (2, 16, 8, 16) (literal axes of a rank-4 tensor: every checker)
per_pixel.forward(x.permute((0, 2, 1, 3)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
