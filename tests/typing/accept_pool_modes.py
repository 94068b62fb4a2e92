"""Accept corpus: pooling ceil_mode, count_include_pad and divisor_override.

Every checker types the spatial dims of a strided pool ``int`` and keeps them for a stride-1 ``SameSize``
pool (ceil_mode changes no stride-1 size); mypy+plugin computes them from literal options, with PyTorch's
ceil formula (and its dropped last window) when ``ceil_mode=True``, and falls back to ``int`` when the
ceil_mode is only known as ``bool`` or the input's dims are symbolic.
"""

from __future__ import annotations

from typing import Literal as L
from typing import TypeVar, assert_type

import numpy as np

import typedtensor as tt
from typedtensor import Div, NoneTape, OwnedTape, Tensor, nn
from typedtensor.nn import functional as F

F32 = np.float32
B = TypeVar("B", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)

x7: Tensor[tuple[int, L[3], L[7], L[7]], F32, NoneTape] = tt.zeros((2, 3, 7, 7))
x5: Tensor[tuple[int, L[3], L[5], L[5]], F32, NoneTape] = tt.zeros((2, 3, 5, 5))
x8: Tensor[tuple[int, L[3], L[8], L[6]], F32, NoneTape] = tt.zeros((2, 3, 8, 6))
image: Tensor[tuple[L[3], L[7], L[7]], F32, NoneTape] = tt.zeros((3, 7, 7))
xt = x7.leaky_trace()

# ceil((7 - 2) / 2) + 1 = 4 windows (floor mode: 3)
ceil = nn.MaxPool2D(2, ceil_mode=True)
assert_type(ceil, nn.MaxPool2D[nn.AnySize])
assert_type(ceil.forward(x7), Tensor[tuple[int, L[3], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(ceil.forward(x7), Tensor[tuple[int, L[3], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.MaxPool2D(2, ceil_mode=False).forward(x7), Tensor[tuple[int, L[3], L[3], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(ceil.forward(image), Tensor[tuple[L[3], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(ceil.forward_mut(xt), Tensor[tuple[int, L[3], L[4], L[4]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin

# model(x): forward's type (the plugin computes the call's dims as forward's)
assert_type(ceil(x7), Tensor[tuple[int, L[3], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(ceil(x7), Tensor[tuple[int, L[3], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(ceil(xt), Tensor[tuple[int, L[3], int, int], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(ceil(xt), Tensor[tuple[int, L[3], L[4], L[4]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.MaxPool2D(3, 1, 1, ceil_mode=True)(x7), Tensor[tuple[int, L[3], L[7], L[7]], F32, NoneTape])
assert_type(nn.GlobalAvgPool2D()(x7), Tensor[tuple[int, L[3]], F32, NoneTape])

# H = 5, kernel 2, stride 2, padding 1: ceil gives 4, but the 4th window would start in the padding: 3
drop = nn.AvgPool2D(2, 2, 1, ceil_mode=True, count_include_pad=False)
assert_type(drop.forward(x5), Tensor[tuple[int, L[3], L[3], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin

# a window longer than the input: PyTorch takes it in ceil mode (one output; floor mode refuses it: reject_pool_modes.py)
x3: Tensor[tuple[int, L[3], L[3], L[3]], F32, NoneTape] = tt.zeros((2, 3, 3, 3))
assert_type(nn.AvgPool2D(5, ceil_mode=True).forward(x3), Tensor[tuple[int, L[3], L[1], L[1]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin

# kernel 3, stride 2, padding 1 over 8 x 6: 5 x 4 in ceil mode (floor: 4 x 3); the divisor changes no size
avg = nn.AvgPool2D(3, stride=2, padding=1, ceil_mode=True, divisor_override=4)
assert_type(avg.forward(x8), Tensor[tuple[int, L[3], L[5], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.AvgPool2D(3, 2, 1).forward(x8), Tensor[tuple[int, L[3], L[4], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin

# stride 1 with a size-keeping padding: SameSize in ceil mode too, exact in every checker
same = nn.MaxPool2D(3, 1, 1, ceil_mode=True)
assert_type(same, nn.MaxPool2D[nn.SameSize])
assert_type(same.forward(x7), Tensor[tuple[int, L[3], L[7], L[7]], F32, NoneTape])
assert_type(
    nn.AvgPool2D(3, 1, 1, ceil_mode=True, count_include_pad=False).forward(image),
    Tensor[tuple[L[3], L[7], L[7]], F32, NoneTape],
)


# a ceil_mode known only as bool: int dims under the plugin too (the size depends on the value)
def pooled(flag: bool) -> Tensor[tuple[int, L[3], int, int], F32, NoneTape]:
    out = nn.MaxPool2D(2, ceil_mode=flag).forward(x7)
    assert_type(out, Tensor[tuple[int, L[3], int, int], F32, NoneTape])
    return out


# symbolic dims: floor mode is Div[H, 2] under the plugin; ceil mode is int (PyTorch's last-window rule depends
# on H), in every checker
def symbolic(x: Tensor[tuple[B, L[3], H, W], F32, NoneTape]) -> Tensor[tuple[B, L[3], int, int], F32, NoneTape]:
    assert_type(nn.MaxPool2D(2, ceil_mode=True).forward(x), Tensor[tuple[B, L[3], int, int], F32, NoneTape])
    return nn.AvgPool2D(2, ceil_mode=True).forward(x)


def symbolic_floor(
    x: Tensor[tuple[B, L[3], H, W], F32, NoneTape],
) -> Tensor[tuple[B, L[3], Div[H, L[2]], Div[W, L[2]]], F32, NoneTape]:
    return nn.MaxPool2D(2, ceil_mode=False).forward(x)


# the options on a module's attribute
class Net(nn.Module):
    def __init__(self) -> None:
        self.pool = nn.AvgPool2D(2, ceil_mode=True, count_include_pad=False)

    def forward(
        self, x: Tensor[tuple[int, L[3], L[7], L[7]], F32, NoneTape]
    ) -> Tensor[tuple[int, L[3], int, int], F32, NoneTape]:
        assert_type(self.pool.forward(x), Tensor[tuple[int, L[3], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
        return self.pool.forward(x)


# the functional API: int dims in every checker
assert_type(F.max_pool2d(x7, 2, ceil_mode=True), Tensor[tuple[int, L[3], int, int], F32, NoneTape])
assert_type(F.max_pool2d(image, 3, 2, 1, ceil_mode=True), Tensor[tuple[L[3], int, int], F32, NoneTape])
assert_type(
    F.avg_pool2d(xt, 3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=4),
    Tensor[tuple[int, L[3], int, int], F32, OwnedTape],
)
assert_type(F.avg_pool2d(image, (2, 3), divisor_override=None), Tensor[tuple[L[3], int, int], F32, NoneTape])

# the options read back
assert_type(avg.ceil_mode, bool)
assert_type(avg.count_include_pad, bool)
assert_type(avg.divisor_override, int | None)
