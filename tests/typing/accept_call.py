"""Accept corpus: ``model(x)`` (issue 14 item 4): the checkers know which method runs and what it returns.

An untraced input gives ``forward``'s result, a traced one ``forward_mut``'s; a layer that behaves the same
in both modes declares ``__call__ = forward``, the others the overloads of both. A user's module declares its
own ``__call__`` the same two ways (below: a tape-generic one, and one written like the digits demo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, assert_type, overload
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=NoneTape | OwnedTape)

x: Tensor[tuple[int, L[4]], F32, NoneTape] = tt.zeros((3, 4))
grads = tt.Gradients()
xt = x.trace(grads)

# layers that behave the same in both modes: forward's type, the tape carried through
lin = nn.Linear[L[4], L[2]](4, 2)
assert_type(lin(x), Tensor[tuple[int, L[2]], F32, NoneTape])
assert_type(lin(xt), Tensor[tuple[int, L[2]], F32, OwnedTape])
assert_type(lin.forward_mut(xt), Tensor[tuple[int, L[2]], F32, OwnedTape])  # forward_mut = forward
assert_type(nn.ReLU()(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.GELU("tanh")(x), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(nn.LeakyReLU(0.1)(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.Identity()(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.LayerNorm[L[4]](4)(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
ids: Tensor[tuple[int, int], np.int64, NoneTape] = tt.zeros((2, 3), np.int64)
assert_type(nn.Embedding[L[10], L[8]](10, 8)(ids), Tensor[tuple[int, int, L[8]], Any, NoneTape])

m: Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape] = tt.zeros((2, 4, 8, 8))
mt = m.trace(grads)
conv = nn.Conv2D[L[4], L[8]](4, 8, kernel_size=3, padding=1)  # keeps H and W (SameSize)
assert_type(conv(m), Tensor[tuple[int, L[8], L[8], L[8]], F32, NoneTape])
assert_type(conv(mt), Tensor[tuple[int, L[8], L[8], L[8]], F32, OwnedTape])
down = nn.Conv2D[L[4], L[8]](4, 8, kernel_size=3, stride=2)
# the mypy plugin computes the strided size for a call as for forward (the others: int)
assert_type(down(mt), Tensor[tuple[int, L[8], int, int], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(down(mt), Tensor[tuple[int, L[8], L[3], L[3]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(nn.GroupNorm[L[4]](2, 4)(mt), Tensor[tuple[int, L[4], L[8], L[8]], F32, OwnedTape])
assert_type(nn.AdaptiveAvgPool2D[L[2], L[2]]((2, 2))(mt), Tensor[tuple[int, L[4], L[2], L[2]], F32, OwnedTape])
assert_type(nn.Flatten()(mt), Tensor[tuple[int, int], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(nn.Flatten()(mt), Tensor[tuple[int, L[256]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
seq_in: Tensor[tuple[int, L[2], L[10]], F32, NoneTape] = tt.zeros((3, 2, 10))
assert_type(nn.Conv1D[L[2], L[5]](2, 5, 3)(seq_in), Tensor[tuple[int, L[5], int], F32, NoneTape])

# layers that differ: forward takes only untraced input and forward_mut only traced input; the call takes either
bn = nn.BatchNorm2D[L[4]](4)
assert_type(bn(m), Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape])
assert_type(bn(mt), Tensor[tuple[int, L[4], L[8], L[8]], F32, OwnedTape])
image: Tensor[tuple[L[4], L[8], L[8]], F32, NoneTape] = tt.zeros((4, 8, 8))
assert_type(bn(image), Tensor[tuple[L[4], L[8], L[8]], F32, NoneTape])
assert_type(nn.BatchNorm1D[L[4]](4)(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.SyncBatchNorm2D[L[4]](4)(mt), Tensor[tuple[int, L[4], L[8], L[8]], F32, OwnedTape])
fused = nn.FusedBatchNorm2D[L[4]](4)
assert_type(fused(mt, m), Tensor[tuple[int, L[4], L[8], L[8]], F32, OwnedTape])  # an untraced addend trains too
assert_type(fused(m, addend=m), Tensor[tuple[int, L[4], L[8], L[8]], F32, NoneTape])
assert_type(nn.Dropout(0.1)(x), Tensor[tuple[int, L[4]], F32, NoneTape])
assert_type(nn.Dropout(0.1)(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])
assert_type(nn.Residual(nn.Linear[L[4], L[4]](4, 4))(xt), Tensor[tuple[int, L[4]], F32, OwnedTape])

# several inputs: the first one's tape decides
q: Tensor[tuple[int, int, L[8]], F32, NoneTape] = tt.zeros((2, 5, 8))
qt = q.trace(grads)
mha = nn.MultiHeadAttention[L[8]](8, 2)
assert_type(mha(q), Tensor[tuple[int, int, L[8]], F32, NoneTape])
assert_type(mha(qt), Tensor[tuple[int, int, L[8]], F32, OwnedTape])
assert_type(mha(q, q, q), Tensor[tuple[int, int, L[8]], F32, NoneTape])
assert_type(mha(qt, q, q), Tensor[tuple[int, int, L[8]], F32, OwnedTape])  # untraced keys and values train too
block = nn.TransformerBlock[L[8]](8, 2)
assert_type(block(qt), Tensor[tuple[int, int, L[8]], F32, OwnedTape])
assert_type(block(q, attn_mask=None), Tensor[tuple[int, int, L[8]], F32, NoneTape])

# layers built without type arguments: the mypy plugin types them Linear[L[4], L[2]] and still takes int features
xi: Tensor[tuple[int, int], F32, NoneTape] = tt.zeros((3, 4))
assert_type(nn.Linear(4, 2)(xi), Tensor[tuple[int, int], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(nn.Linear(4, 2)(xi), Tensor[tuple[int, L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin

# a call inside a chain: every link checked
assert_type(
    nn.Linear[L[8], L[3]](8, 3)(nn.ReLU()(nn.Linear[L[4], L[8]](4, 8)(xt))), Tensor[tuple[int, L[3]], F32, OwnedTape]
)


# a user module, tape-generic: one method, and the call has its type
class Head(nn.Module):
    def __init__(self) -> None:
        self.fc = nn.Linear[L[4], L[2]](4, 2)

    def forward(self, x: Tensor[tuple[B, L[4]], F32, T]) -> Tensor[tuple[B, L[2]], F32, T]:
        return self.fc(nn.ReLU()(x))

    forward_mut = forward
    if TYPE_CHECKING:
        __call__ = forward


assert_type(Head()(xt), Tensor[tuple[int, L[2]], F32, OwnedTape])


# a user module whose two modes differ (BatchNorm, Dropout inside): the overloads of both methods
class Net(nn.Module):
    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[1], L[4]](1, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2D[L[4]](4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear[L[4], L[10]](4, 10)

    if TYPE_CHECKING:

        @overload
        def __call__(
            self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, NoneTape], /
        ) -> Tensor[tuple[B, L[10]], F32, NoneTape]: ...
        @overload
        def __call__(
            self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, OwnedTape], /
        ) -> Tensor[tuple[B, L[10]], F32, OwnedTape]: ...
        def __call__(self, x: Any, /) -> Any: ...

    def forward(self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, NoneTape]) -> Tensor[tuple[B, L[10]], F32, NoneTape]:
        h = nn.ReLU()(self.bn(self.conv(x)))  # the calls inside follow x's tape, as the methods would
        v: Tensor[tuple[B, L[4]], F32, NoneTape] = h.mean(axis=(2, 3))
        return self.fc(self.drop(v))

    def forward_mut(
        self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, OwnedTape]
    ) -> Tensor[tuple[B, L[10]], F32, OwnedTape]:
        h = nn.ReLU()(self.bn(self.conv(x)))
        v: Tensor[tuple[B, L[4]], F32, OwnedTape] = h.mean(axis=(2, 3))
        return self.fc(self.drop(v))


images: Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape] = tt.zeros((5, 1, 8, 8))
net = Net()
assert_type(net(images), Tensor[tuple[int, L[10]], F32, NoneTape])
assert_type(net(images.trace(net.alloc_grads())), Tensor[tuple[int, L[10]], F32, OwnedTape])


# a model with BatchNorm and Dropout written once: each layer's call follows x's tape (training for a traced x)
class Once(nn.Module):
    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[1], L[4]](1, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2D[L[4]](4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear[L[4], L[10]](4, 10)

    def forward(self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, T]) -> Tensor[tuple[B, L[10]], F32, T]:
        h = nn.ReLU()(self.bn(self.conv(x)))
        v: Tensor[tuple[B, L[4]], F32, T] = h.mean(axis=(2, 3))
        return self.fc(self.drop(v))

    forward_mut = forward
    if TYPE_CHECKING:
        __call__ = forward


once = Once()
assert_type(once(images), Tensor[tuple[int, L[10]], F32, NoneTape])
assert_type(once(images.trace(once.alloc_grads())), Tensor[tuple[int, L[10]], F32, OwnedTape])
