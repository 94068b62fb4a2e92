"""Accept corpus: every line here must type-check under mypy --strict and pyright strict."""

from __future__ import annotations

import operator
from typing import Any, NewType, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import Gradients, NoneTape, OwnedTape, Tensor

B = TypeVar("B", bound=int)
Batch = NewType("Batch", int)
F32 = np.float32

a: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3))
b: Tensor[tuple[L[3], L[4]], F32, NoneTape] = tt.randn((3, 4), seed=0)
# the dtype argument becomes E (without a target, mypy infers int dims, pyright Literal dims)
assert_type(tt.zeros((2, 3), np.float64).dtype, np.dtype[np.float64])
assert_type(tt.zeros((2, 3)).dtype, np.dtype[np.float32])
h: Tensor[tuple[L[4]], np.float16, NoneTape] = tt.ones((4,), np.float16)
f: Tensor[tuple[int], F32, NoneTape] = tt.full((2,), 1.5)
rt: Tensor[tuple[int, int], F32, NoneTape] = tt.randn((2, 3), F32, seed=1)
any_shape = tt.tensor([[1.0, 2.0]])
assert_type(any_shape, Tensor[tuple[Any, ...], np.float32, NoneTape])
assert_type(tt.tensor(np.zeros(3)), Tensor[tuple[Any, ...], np.float64, NoneTape])

# tapes
at = a.leaky_trace()
assert_type(at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(a.trace(Gradients()), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
# an integer tensor carries a tape too (token ids into an embedding); it never gets a gradient
ids: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor([1, 2], np.int64)
assert_type(ids.trace(Gradients()), Tensor[tuple[int], np.int64, OwnedTape])
assert_type(ids.leaky_trace(), Tensor[tuple[int], np.int64, OwnedTape])
loss = (at @ b).relu().mean()
assert_type(loss, Tensor[tuple[()], F32, OwnedTape])
grads = loss.backward()
assert_type(grads, Gradients)
assert_type(grads.get(a), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(at.detach(), Tensor[tuple[L[2], L[3]], F32, NoneTape])

# tape merging: the result is traced if either side is
assert_type(a + a, Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(at + a, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(a + at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(a * at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(a - 1.0, Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(2 * at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(1.0 / a, Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(-at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])

# unary ops keep the type
assert_type(a.exp().log().sqrt().square().abs().sigmoid().tanh(), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(a.clamp(0.0, 1.0).softmax().log_softmax(0), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(a.masked_fill(a > 0.0, 0.0), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(a > 0.0, Tensor[tuple[L[2], L[3]], np.bool_, NoneTape])
# == and != are elementwise like >, with a tensor of the same shape and dtype or a number
assert_type(a == a, Tensor[tuple[L[2], L[3]], np.bool_, NoneTape])
assert_type(at != 1.0, Tensor[tuple[L[2], L[3]], np.bool_, NoneTape])
assert_type(a == at, Tensor[tuple[L[2], L[3]], np.bool_, NoneTape])
assert_type((a > 0.0) == (a < 1.0), Tensor[tuple[L[2], L[3]], np.bool_, NoneTape])
# any()/all() reduce to a rank-0 bool tensor (as PyTorch); bool() of it is a Python bool
assert_type((a > 0.0).any(), Tensor[tuple[()], np.bool_, NoneTape])
assert_type(at.all(), Tensor[tuple[()], np.bool_, NoneTape])
assert_type(bool((a == a).all()), bool)
if (a > 0.0).any():
    pass
# any()/all() take axis and keepdims like sum(); the result is an untraced bool tensor
assert_type((a > 0.0).any(0), Tensor[tuple[L[3]], np.bool_, NoneTape])
assert_type(at.all(1, keepdims=True), Tensor[tuple[L[2], L[1]], np.bool_, NoneTape])
assert_type(a.any(axis=-1), Tensor[tuple[L[2]], np.bool_, NoneTape])
# a one-element tensor converts to a Python number (ShapeError at run time otherwise)
assert_type(float(a.sum()), float)
assert_type(int(a.sum()), int)
# an integer tensor of one element is also an index (operator.index, seq[t])
assert_type(operator.index(tt.tensor(np.array(1), np.int64)), int)
# refusals of a layer that writes into its input are their own class, under the root
inplace_error: type[tt.TypedTensorError] = tt.InplaceError
# Conv2D's per-thread work buffers are released on request
assert_type(tt.nn.functional.release_conv_buffers(), None)
# ** with a real exponent or base keeps the type
assert_type(a**2, Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(at**0.5, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(2.0**a, Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(2**at, Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type({a: 1}[a], int)  # tensors hash by identity

# matmul: inner dims match statically
assert_type(a @ b, Tensor[tuple[L[2], L[4]], F32, NoneTape])
assert_type(at @ b, Tensor[tuple[L[2], L[4]], F32, OwnedTape])
assert_type(a @ b.leaky_trace(), Tensor[tuple[L[2], L[4]], F32, OwnedTape])
v: Tensor[tuple[L[3]], F32, NoneTape] = tt.zeros((3,))
assert_type(v @ b, Tensor[tuple[L[4]], F32, NoneTape])
x3: Tensor[tuple[L[5], L[2], L[3]], F32, NoneTape] = tt.zeros((5, 2, 3))
assert_type(x3 @ b, Tensor[tuple[L[5], L[2], L[4]], F32, NoneTape])
y3: Tensor[tuple[L[5], L[3], L[4]], F32, NoneTape] = tt.zeros((5, 3, 4))
assert_type(x3 @ y3, Tensor[tuple[L[5], L[2], L[4]], F32, NoneTape])
# matmul at every rank (torch.matmul): a 1-D operand's dim is dropped, batch dims broadcast
u: Tensor[tuple[L[3]], F32, NoneTape] = tt.zeros((3,))
assert_type(v @ u, Tensor[tuple[()], F32, NoneTape])
assert_type((v.leaky_trace() @ u).backward(), Gradients)
assert_type(a @ u, Tensor[tuple[L[2]], F32, NoneTape])
assert_type(x3 @ u.leaky_trace(), Tensor[tuple[L[5], L[2]], F32, OwnedTape])
assert_type(v @ y3, Tensor[tuple[L[5], L[4]], F32, NoneTape])
assert_type(a @ y3, Tensor[tuple[L[5], L[2], L[4]], F32, NoneTape])
x4: Tensor[tuple[L[7], L[1], L[2], L[3]], F32, NoneTape] = tt.zeros((7, 1, 2, 3))
z4: Tensor[tuple[L[7], L[5], L[2], L[4]], F32, NoneTape] = x4 @ y3  # broadcast batch dims: no false alarm
assert_type(x4 @ y3, Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x4.leaky_trace() @ y3, Tensor[tuple[L[7], L[5], L[2], L[4]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


def matvec(
    m: Tensor[tuple[B, L[3]], F32, NoneTape], x: Tensor[tuple[L[3]], F32, NoneTape]
) -> Tensor[tuple[B], F32, NoneTape]:
    return m @ x


def bmm(x: Tensor[tuple[B, L[1], L[2], L[3]], F32, NoneTape]) -> Tensor[tuple[B, L[5], L[2], L[4]], F32, NoneTape]:
    return x @ y3  # the plugin keeps B and computes 5 from the broadcast; the others give tuple[Any, ...]


# reductions
assert_type(a.sum(), Tensor[tuple[()], F32, NoneTape])
assert_type(a.sum(0), Tensor[tuple[L[3]], F32, NoneTape])
assert_type(a.mean(-1), Tensor[tuple[L[2]], F32, NoneTape])
assert_type(a.max(1), Tensor[tuple[L[2]], F32, NoneTape])
assert_type(a.min(0, keepdims=True), Tensor[tuple[L[1], L[3]], F32, NoneTape])
assert_type(x3.sum(1), Tensor[tuple[L[5], L[3]], F32, NoneTape])
assert_type(x3.sum(-1, keepdims=True), Tensor[tuple[L[5], L[2], L[1]], F32, NoneTape])
assert_type(x3.sum((0, 2)), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x3.sum((0, 2)), Tensor[tuple[L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(a.var(), Tensor[tuple[()], F32, NoneTape])
assert_type(a.var(0, correction=0), Tensor[tuple[L[3]], F32, NoneTape])
assert_type(a.std(), Tensor[tuple[()], F32, NoneTape])
assert_type(at.std(-1, correction=0), Tensor[tuple[L[2]], F32, OwnedTape])
assert_type(a.std(0), Tensor[tuple[L[3]], F32, NoneTape])
assert_type(at.argmax(), Tensor[tuple[()], np.int64, NoneTape])
assert_type(at.argmax(-1), Tensor[tuple[L[2]], np.int64, NoneTape])
assert_type(a.argmax(0), Tensor[tuple[L[3]], np.int64, NoneTape])

# shapes
r: Tensor[tuple[L[6]], F32, NoneTape] = a.reshape((6,))
assert_type(a.transpose(), Tensor[tuple[L[3], L[2]], F32, NoneTape])
assert_type(x3.transpose(), Tensor[tuple[L[5], L[3], L[2]], F32, NoneTape])
bc: Tensor[tuple[L[4], L[2], L[3]], F32, NoneTape] = a.broadcast_to((4, 2, 3))
assert_type(a.unsqueeze(0), Tensor[tuple[L[1], L[2], L[3]], F32, NoneTape])
assert_type(a.unsqueeze(-1), Tensor[tuple[L[2], L[3], L[1]], F32, NoneTape])
assert_type(at.unsqueeze(0).squeeze(0), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(a.unsqueeze(-1).squeeze(-1), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(a.unsqueeze(1), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(a.unsqueeze(1), Tensor[tuple[L[2], L[1], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(x3.unsqueeze(2).squeeze(2), Tensor[tuple[L[5], L[2], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(a[0], Tensor[tuple[L[3]], F32, NoneTape])
assert_type(a[0:1], Tensor[tuple[int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(a[0:1], Tensor[tuple[L[1], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(a[:, 1], Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(a[:, 1], Tensor[tuple[L[2]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(tt.concat([a, a]), Tensor[tuple[int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(tt.concat([a, a]), Tensor[tuple[L[4], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(tt.concat([at, at]), Tensor[tuple[int, L[3]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(tt.concat([at, at]), Tensor[tuple[L[4], L[3]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(tt.concat([a, a], axis=1), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(tt.concat([a, a], axis=1), Tensor[tuple[L[2], L[6]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(tt.stack([a, a]), Tensor[tuple[int, L[2], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(tt.stack([a, a]), Tensor[tuple[L[2], L[2], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(tt.where(a > 0.0, a, 0.0), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(tt.where(a > 0.0, a, at), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(tt.maximum(a, a), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(tt.maximum(a, 0.0), Tensor[tuple[L[2], L[3]], F32, NoneTape])
assert_type(tt.maximum(at, a), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
assert_type(tt.maximum(a, at), Tensor[tuple[L[2], L[3]], F32, OwnedTape])

# realize: run-time dims <-> constant dims
dyn: Tensor[tuple[int, int], F32, NoneTape] = a.realize((2, 3))
back: Tensor[tuple[L[2], L[3]], F32, NoneTape] = dyn.realize((2, 3))
assert_type(a.realize(a.shape), Tensor[tuple[L[2], L[3]], F32, NoneTape])


# symbolic dims in user functions, rank aliases, NewType dims
def first_row(x: Tensor[tuple[B, L[3]], F32, NoneTape]) -> Tensor[tuple[L[3]], F32, NoneTape]:
    return x[0]


assert_type(first_row(a), Tensor[tuple[L[3]], F32, NoneTape])
nt: Tensor[tuple[Batch, L[3]], F32, NoneTape] = tt.zeros((Batch(4), 3))
assert_type(nt + nt, Tensor[tuple[Batch, L[3]], F32, NoneTape])
rk: tt.Rank2[L[2], L[3], F32, NoneTape] = a
assert_type(rk, Tensor[tuple[L[2], L[3]], F32, NoneTape])


# tape-generic code: the same function serves training and inference
T2 = TypeVar("T2", NoneTape, OwnedTape)


def block(
    x: Tensor[tuple[B, L[3]], F32, T2], w: Tensor[tuple[L[3], L[3]], F32, NoneTape]
) -> Tensor[tuple[B, L[3]], F32, T2]:
    centred = x - x.mean(-1, keepdims=True).broadcast_to(x.shape)
    return x + (centred @ w).relu()


x2: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((2, 3))
sq: Tensor[tuple[L[3], L[3]], F32, NoneTape] = tt.zeros((3, 3))
assert_type(block(x2, sq), Tensor[tuple[int, L[3]], F32, NoneTape])
assert_type(block(x2.leaky_trace(), sq), Tensor[tuple[int, L[3]], F32, OwnedTape])

# concat of tensors whose first dims differ (a tuple: mypy joins a list display of different types)
c4: Tensor[tuple[L[4], L[3]], F32, NoneTape] = tt.zeros((4, 3))
assert_type(tt.concat((a, c4)), Tensor[tuple[int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(tt.concat((a, c4)), Tensor[tuple[L[6], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
# with an annotated target ty accepts it too (it cannot solve *Rest from a tuple of two shapes: README, "ty")
joined: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.concat((a, c4))

# iteration yields the sub-tensors
for row in a:
    assert_type(row, Tensor[tuple[L[3]], F32, NoneTape])
