"""Reject corpus: the shape bugs of a multi-head attention's typed steps, in functions generic in every dim.

Merging the heads without the transpose back, splitting them without the transpose, or swapping the wrong
pair of axes leaves H where T belongs: every checker rejects the result against the declared (B, T, D) or
(B, H, T, Dh). A dim out of range is a mypy+plugin error (the others type the call ``tuple[Any, ...]``; it is
a ShapeError at run time).
"""

from __future__ import annotations

from typing import Literal as L
from typing import TypeVar

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


def merge(x: Tensor[tuple[B, T, H, Dh], F32, Tp], d: D) -> Tensor[tuple[B, T, D], F32, Tp]:
    b, t, _, _ = x.shape
    return x.reshape((b, t, d))


# the merge without the transpose back: (B, H, T, Dh) read as (B, T, H, Dh) gives (B, H, D)
def merge_heads_no_transpose(x: Tensor[tuple[B, H, T, Dh], F32, Tp], d: D) -> Tensor[tuple[B, T, D], F32, Tp]:
    b, t, _, _ = x.shape  # t is H here
    return x.reshape((b, t, d))  # type: ignore[arg-type]  # pyright: ignore[reportReturnType]


def heads_merged_untransposed(out: Tensor[tuple[B, H, T, Dh], F32, Tp], d: D) -> Tensor[tuple[B, T, D], F32, Tp]:
    return merge(out, d)  # type: ignore[arg-type]  # pyright: ignore[reportReturnType]


# the split without the transpose: (B, T, H, Dh) where (B, H, T, Dh) is declared
def split_heads_no_transpose(x: Tensor[tuple[B, T, D], F32, Tp], h: H, dh: Dh) -> Tensor[tuple[B, H, T, Dh], F32, Tp]:
    b, t, _ = x.shape
    return x.reshape((b, t, h, dh))  # type: ignore[arg-type]  # pyright: ignore[reportReturnType]


# the wrong pair of axes: transpose(1, 3) gives (B, Dh, H, T)
def split_heads_wrong_axes(x: Tensor[tuple[B, T, D], F32, Tp], h: H, dh: Dh) -> Tensor[tuple[B, H, T, Dh], F32, Tp]:
    b, t, _ = x.shape
    return x.reshape((b, t, h, dh)).transpose(1, 3)  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


# keys not transposed before q @ k: (B, H, T, Dh) @ (B, H, T, Dh) pairs Dh with T
def scores_untransposed(
    q: Tensor[tuple[B, H, T, Dh], F32, NoneTape], k: Tensor[tuple[B, H, T, Dh], F32, NoneTape]
) -> None:
    q @ k  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]


# a permute that keeps the heads in front
def permute_wrong(x: Tensor[tuple[B, H, T, Dh], F32, Tp]) -> Tensor[tuple[B, T, H, Dh], F32, Tp]:
    return x.permute((0, 1, 3, 2))  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


x4: Tensor[tuple[L[2], L[3], L[4], L[5]], F32, NoneTape] = tt.zeros((2, 3, 4, 5))
# a dim out of range (4 for rank 4), as the run-time ShapeError says
x4.transpose(1, 4)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
x4.transpose(-5, 0)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# the wrong result of a right call
wrong: Tensor[tuple[L[2], L[3], L[4], L[5]], F32, NoneTape] = x4.transpose(1, 2)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# transpose needs rank >= 2 in both forms
v: Tensor[tuple[L[3]], F32, NoneTape] = tt.zeros((3,))
v.transpose(0, 0)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
# one dim alone is refused (give both, or neither)
x4.transpose(1)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]


# ---- masks ----
# a (T, T) mask straight into masked_fill on the (B, H, T, T) scores: broadcast it first
def unbroadcast_mask(
    scores: Tensor[tuple[B, H, T, T], F32, Tp], mask: Tensor[tuple[T, T], np.bool_, NoneTape]
) -> Tensor[tuple[B, H, T, T], F32, Tp]:
    return scores.masked_fill(mask, -1e9)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# a mask of the key/query lengths swapped: (S, T) where (T, S) belongs
def swapped_mask(
    scores: Tensor[tuple[B, H, T, D], F32, Tp], mask: Tensor[tuple[D, T], np.bool_, NoneTape]
) -> Tensor[tuple[B, H, T, D], F32, Tp]:
    b, h, t, s = scores.shape
    return scores.masked_fill(mask.broadcast_to((b, h, s, t)), -1e9)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# tril/triu need rank >= 2
v.tril()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
v.triu(1)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
# the diagonal is an int
x4.tril(1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
