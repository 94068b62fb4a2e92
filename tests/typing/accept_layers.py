"""Accept corpus: Conv2D channels, pooling and the functional conv/pool API infer exact types."""

from __future__ import annotations

from typing import Any, Self, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn
from typedtensor.nn import functional as F

F32 = np.float32

conv = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3, padding=1)
conv2 = nn.Conv2D[L[16], L[32]](16, 32, (3, 3), stride=2, padding=1, dilation=1, groups=2)
x: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((4, 1, 8, 8))
image: Tensor[tuple[L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((1, 8, 8))
grads = conv.alloc_grads()
xt = x.trace(grads)

# kernel 3 / padding 1 keeps H and W (a Conv2D[L[1], L[16], SameSize]): exact in every checker; the tape is
# the input's (no train/infer difference)
assert_type(conv.forward(x), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape])
assert_type(conv.forward(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(conv.forward_mut(xt), Tensor[tuple[int, L[16], L[8], L[8]], F32, OwnedTape])
assert_type(conv.forward(image), Tensor[tuple[L[16], L[8], L[8]], F32, NoneTape])
assert_type(conv2.forward(conv.forward(x)), Tensor[tuple[int, L[32], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(conv2.forward(conv.forward(x)), Tensor[tuple[int, L[32], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(conv.weight, Tensor[tuple[L[16], int, int, int], Any, NoneTape])

# pooling keeps batch and channels
pool = nn.MaxPool2D(2)
y = conv.forward_mut(xt)
assert_type(pool.forward(y), Tensor[tuple[int, L[16], int, int], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(pool.forward(y), Tensor[tuple[int, L[16], L[4], L[4]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.AvgPool2D(3, stride=2, padding=1).forward(x), Tensor[tuple[int, L[1], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(nn.AvgPool2D(3, stride=2, padding=1).forward(x), Tensor[tuple[int, L[1], L[4], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.GlobalAvgPool2D().forward(y), Tensor[tuple[int, L[16]], F32, OwnedTape])
assert_type(nn.GlobalAvgPool2D().forward_mut(image), Tensor[tuple[L[1]], F32, NoneTape])
head = nn.Linear[L[16], L[10]](16, 10)
# pyrefly 1.5.0 cannot chain two overloaded methods (conv, pool) through pipe's TypeVars, and pyright infers a
# union after a SameSize layer (whose overloads overlap) in the middle of a pipe (README, "nn.pipe")
assert_type(nn.pipe(xt, conv.forward_mut, pool.forward_mut, nn.GlobalAvgPool2D().forward_mut, head.forward_mut),  # pyrefly: ignore[assert-type]  # pyright: ignore[reportAssertTypeFailure, reportArgumentType]  # false-alarm: pyrefly, pyright, basedpyright
            Tensor[tuple[int, L[10]], F32, OwnedTape])  # fmt: skip
# a resizing layer first: exact in pyright too (pyrefly: as above)
down = nn.Conv2D[L[1], L[16]](1, 16, 3, stride=2, padding=1)
assert_type(nn.pipe(xt, down.forward_mut, nn.GlobalAvgPool2D().forward_mut), Tensor[tuple[int, L[16]], F32, OwnedTape])  # pyrefly: ignore[assert-type]  # false-alarm: pyrefly
# the same chain as nested calls: exact in every checker
chain = head.forward_mut(nn.GlobalAvgPool2D().forward_mut(pool.forward_mut(conv.forward_mut(xt))))
assert_type(chain, Tensor[tuple[int, L[10]], F32, OwnedTape])

# the spatial dims come back as constants through realize
same: Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape] = conv.forward(x).realize((4, 16, 8, 8))

# functional: batch and out-channels typed; a traced weight traces the result
w: Tensor[tuple[L[16], L[1], L[3], L[3]], F32, NoneTape] = tt.zeros((16, 1, 3, 3))
b: Tensor[tuple[L[16]], F32, NoneTape] = tt.zeros((16,))
assert_type(F.conv2d(x, w, b, padding=1), Tensor[tuple[int, L[16], int, int], F32, NoneTape])
assert_type(F.conv2d(xt, w, stride=(2, 1)), Tensor[tuple[int, L[16], int, int], F32, OwnedTape])
assert_type(F.conv2d(x, w.leaky_trace()), Tensor[tuple[int, L[16], int, int], F32, OwnedTape])
assert_type(F.conv2d(x, w, b.leaky_trace()), Tensor[tuple[int, L[16], int, int], F32, OwnedTape])
assert_type(F.conv2d(image, w, b, padding="same"), Tensor[tuple[L[16], int, int], F32, NoneTape])
assert_type(F.max_pool2d(x, 2), Tensor[tuple[int, L[1], int, int], F32, NoneTape])
assert_type(F.avg_pool2d(xt, (2, 2), 1, 1), Tensor[tuple[int, L[1], int, int], F32, OwnedTape])
assert_type(F.global_avg_pool2d(x), Tensor[tuple[int, L[1]], F32, NoneTape])
assert_type(F.global_avg_pool2d(image), Tensor[tuple[L[1]], F32, NoneTape])

# without type arguments the channels are plain int dims
plain = nn.Conv2D(3, 8, 3)
xi: Tensor[tuple[int, int, int, int], F32, NoneTape] = tt.zeros((2, 3, 8, 8))
assert_type(plain.forward(xi), Tensor[tuple[int, int, int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(plain.forward(xi), Tensor[tuple[int, L[8], int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


# a subclass of Conv2D states its own __new__ (the constructor overloads are Conv2D.__new__'s, whose
# return types name Conv2D) and its __init__; with SameSize in its base it keeps H and W
class Stem(nn.Conv2D[L[1], L[16], nn.SameSize]):
    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        return object.__new__(cls)

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1, 16, 3, padding=1, seed=seed)

    def fan_out(self) -> int:
        return 16 * 9


stem = Stem(seed=0)
assert_type(stem, Stem)
assert_type(stem.fan_out(), int)
assert_type(stem.forward(x), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape])

# GELU.forward_inplace: inference on a fresh untraced output, the same type as forward
assert_type(nn.GELU("tanh").forward_inplace(conv.forward(x)), Tensor[tuple[int, L[16], L[8], L[8]], F32, NoneTape])
