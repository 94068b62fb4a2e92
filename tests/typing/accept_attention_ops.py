"""Accept corpus: the shape ops of a multi-head attention, typed in every checker.

``transpose(dim0, dim1)`` with literal dims (0 to 3 from the front, -1 to -4 from the back) moves the dims at every
rank, and ``permute(axes)`` with literal axes those of a rank-2, 3 or 4 tensor (TypeVars included, each axis
also by its negative index); equal dims, other axes and non-literal ones give ``tuple[Any, ...]`` (the mypy plugin
computes literal axes at any rank).
"""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
H = TypeVar("H", bound=int)
Dh = TypeVar("Dh", bound=int)
D = TypeVar("D", bound=int)
Tp = TypeVar("Tp", NoneTape, OwnedTape)


# ---- the head split and merge of a multi-head attention, in a function generic in every dim ----


def split_heads(x: Tensor[tuple[B, T, D], F32, Tp], h: H, dh: Dh) -> Tensor[tuple[B, H, T, Dh], F32, Tp]:
    """(B, T, D) -> (B, T, H, Dh) -> (B, H, T, Dh)."""
    b, t, _ = x.shape
    return x.reshape((b, t, h, dh)).transpose(1, 2)


def merge_heads(x: Tensor[tuple[B, H, T, Dh], F32, Tp], d: D) -> Tensor[tuple[B, T, D], F32, Tp]:
    """(B, H, T, Dh) -> (B, T, H, Dh) -> (B, T, D): the dims of the reshape are read from the tensor it reshapes,
    so a missing transpose puts H where T belongs (reject_attention_ops.py)."""
    y = x.transpose(1, 2)
    b, t, _, _ = y.shape
    return y.reshape((b, t, d))


def merge(x: Tensor[tuple[B, T, H, Dh], F32, Tp], d: D) -> Tensor[tuple[B, T, D], F32, Tp]:
    """The merge as a typed step of its own: it takes (B, T, H, Dh)."""
    b, t, _, _ = x.shape
    return x.reshape((b, t, d))


def attend(
    q: Tensor[tuple[B, T, D], F32, Tp],
    k: Tensor[tuple[B, T, D], F32, Tp],
    v: Tensor[tuple[B, T, D], F32, Tp],
    h: int,
) -> Tensor[tuple[B, T, D], F32, Tp]:
    d = q.shape[2]
    dh = d // h
    qh, kh, vh = split_heads(q, h, dh), split_heads(k, h, dh), split_heads(v, h, dh)
    scores = qh @ kh.transpose(-2, -1)  # (B, H, T, Dh) @ (B, H, Dh, T)
    assert_type(scores, Tensor[tuple[B, int, T, T], F32, Tp])
    out = scores.softmax(-1) @ vh
    assert_type(out, Tensor[tuple[B, int, T, int], F32, Tp])
    assert_type(out.permute((0, 2, 1, 3)), Tensor[tuple[B, T, int, int], F32, Tp])
    assert_type(merge(out.transpose(1, 2), d), Tensor[tuple[B, T, D], F32, Tp])
    return merge_heads(out, d)


x4: Tensor[tuple[L[2], L[3], L[4], L[5]], F32, NoneTape] = tt.zeros((2, 3, 4, 5))
x3: Tensor[tuple[L[2], L[3], L[4]], F32, NoneTape] = tt.zeros((2, 3, 4))
x2: Tensor[tuple[L[2], L[3]], F32, NoneTape] = tt.zeros((2, 3))
assert_type(attend(x3, x3, x3, 2), Tensor[tuple[L[2], L[3], L[4]], F32, NoneTape])

# ---- transpose(dim0, dim1): each pair, both orders, negative spellings ----
assert_type(x4.transpose(1, 2), Tensor[tuple[L[2], L[4], L[3], L[5]], F32, NoneTape])
assert_type(x4.transpose(2, 1), Tensor[tuple[L[2], L[4], L[3], L[5]], F32, NoneTape])
assert_type(x4.transpose(-3, -2), Tensor[tuple[L[2], L[4], L[3], L[5]], F32, NoneTape])
assert_type(x4.transpose(0, 3), Tensor[tuple[L[5], L[3], L[4], L[2]], F32, NoneTape])
assert_type(x4.transpose(-1, 0), Tensor[tuple[L[5], L[3], L[4], L[2]], F32, NoneTape])
assert_type(x4.transpose(0, 1), Tensor[tuple[L[3], L[2], L[4], L[5]], F32, NoneTape])
assert_type(x4.transpose(0, -2), Tensor[tuple[L[4], L[3], L[2], L[5]], F32, NoneTape])
assert_type(x4.transpose(1, -1), Tensor[tuple[L[2], L[5], L[4], L[3]], F32, NoneTape])
assert_type(x4.transpose(2, -1), Tensor[tuple[L[2], L[3], L[5], L[4]], F32, NoneTape])
assert_type(x3.transpose(0, 2), Tensor[tuple[L[4], L[3], L[2]], F32, NoneTape])
assert_type(x3.transpose(-2, 0), Tensor[tuple[L[3], L[2], L[4]], F32, NoneTape])
assert_type(x3.transpose(1, -1), Tensor[tuple[L[2], L[4], L[3]], F32, NoneTape])
assert_type(x2.transpose(0, 1), Tensor[tuple[L[3], L[2]], F32, NoneTape])
assert_type(x2.transpose(-1, -2), Tensor[tuple[L[3], L[2]], F32, NoneTape])
assert_type(x2.transpose(0, -1), Tensor[tuple[L[3], L[2]], F32, NoneTape])
# the dims are matched from the front and from the back, so one overload is exact at every rank
x6: Tensor[tuple[L[1], L[2], L[3], L[4], L[5], L[6]], F32, NoneTape] = tt.zeros((1, 2, 3, 4, 5, 6))
assert_type(x6.transpose(1, 2), Tensor[tuple[L[1], L[3], L[2], L[4], L[5], L[6]], F32, NoneTape])
assert_type(x6.transpose(-1, -3), Tensor[tuple[L[1], L[2], L[3], L[6], L[5], L[4]], F32, NoneTape])
assert_type(x6.transpose(0, -1), Tensor[tuple[L[6], L[2], L[3], L[4], L[5], L[1]], F32, NoneTape])
# a positive dim that comes after a negative one at this rank ((3, -2) of rank 4 is (3, 2)): tuple[Any, ...]
# (the plugin computes it)
assert_type(x4.transpose(3, -2), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x4.transpose(3, -2), Tensor[tuple[L[2], L[3], L[5], L[4]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(x4.leaky_trace().transpose(1, 2), Tensor[tuple[L[2], L[4], L[3], L[5]], F32, OwnedTape])
# the no-argument form still swaps the last two axes at any rank
assert_type(x4.transpose(), Tensor[tuple[L[2], L[3], L[5], L[4]], F32, NoneTape])

# equal dims (the tensor unchanged) and non-literal dims: tuple[Any, ...] (the plugin computes literal ones)
assert_type(x2.transpose(1, 1), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x2.transpose(1, 1), Tensor[tuple[L[2], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(x4.transpose(1, -3), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x4.transpose(1, -3), Tensor[tuple[L[2], L[3], L[4], L[5]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


def dynamic(x: Tensor[tuple[B, T, D], F32, NoneTape], a: int, b: int) -> None:
    assert_type(x.transpose(a, b), Tensor[tuple[Any, ...], F32, NoneTape])
    assert_type(x.permute((a, b, 0)), Tensor[tuple[Any, ...], F32, NoneTape])


# ---- permute: every order of rank 2, 3 and 4, negative axes too ----
assert_type(x4.permute((0, 2, 1, 3)), Tensor[tuple[L[2], L[4], L[3], L[5]], F32, NoneTape])
assert_type(x4.permute((3, 2, 1, 0)), Tensor[tuple[L[5], L[4], L[3], L[2]], F32, NoneTape])
assert_type(x4.permute((0, -1, 1, -2)), Tensor[tuple[L[2], L[5], L[3], L[4]], F32, NoneTape])
assert_type(x3.permute((2, 0, 1)), Tensor[tuple[L[4], L[2], L[3]], F32, NoneTape])
assert_type(x3.permute((-1, -3, -2)), Tensor[tuple[L[4], L[2], L[3]], F32, NoneTape])
assert_type(x2.permute((1, 0)), Tensor[tuple[L[3], L[2]], F32, NoneTape])
assert_type(x2.permute((0, 1)), Tensor[tuple[L[2], L[3]], F32, NoneTape])
# rank 5: tuple[Any, ...] (the plugin computes it)
x5: Tensor[tuple[L[1], L[2], L[3], L[4], L[5]], F32, NoneTape] = tt.zeros((1, 2, 3, 4, 5))
assert_type(x5.permute((4, 0, 1, 2, 3)), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x5.transpose(0, 4), Tensor[tuple[L[5], L[2], L[3], L[4], L[1]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


# ---- masks: tril/triu keep the shape (rank >= 2, any dtype); a bool mask goes through the shape ops ----
assert_type(x4.tril(), Tensor[tuple[L[2], L[3], L[4], L[5]], F32, NoneTape])
assert_type(x2.leaky_trace().triu(1), Tensor[tuple[L[2], L[3]], F32, OwnedTape])
ones45: Tensor[tuple[L[4], L[5]], np.bool_, NoneTape] = tt.ones((4, 5), np.bool_)
causal = ones45.triu(1)
assert_type(causal.tril(-1), Tensor[tuple[L[4], L[5]], np.bool_, NoneTape])
assert_type(causal.unsqueeze(0), Tensor[tuple[L[1], L[4], L[5]], np.bool_, NoneTape])
assert_type(causal.transpose(0, 1), Tensor[tuple[L[5], L[4]], np.bool_, NoneTape])
ids: Tensor[tuple[L[2], L[3]], np.int64, NoneTape] = tt.tensor([[1, 2, 3], [4, 5, 6]], np.int64)
assert_type(ids.tril(), Tensor[tuple[L[2], L[3]], np.int64, NoneTape])
assert_type(ids.unsqueeze(-1), Tensor[tuple[L[2], L[3], L[1]], np.int64, NoneTape])


def masked_scores(
    scores: Tensor[tuple[B, H, T, T], F32, Tp], mask: Tensor[tuple[T, T], np.bool_, NoneTape]
) -> Tensor[tuple[B, H, T, T], F32, Tp]:
    """A (T, T) mask unsqueezed and broadcast to the scores' (B, H, T, T) for masked_fill."""
    b, h, t, _ = scores.shape
    full = mask.unsqueeze(0).unsqueeze(0).broadcast_to((b, h, t, t))
    return scores.masked_fill(full, -1e9)


def causal_scores(scores: Tensor[tuple[B, H, T, T], F32, Tp]) -> Tensor[tuple[B, H, T, T], F32, Tp]:
    b, h, t, _ = scores.shape
    mask = tt.ones((t, t), np.bool_).triu(1)
    return scores.masked_fill(mask.broadcast_to((b, h, t, t)), -1e9)
