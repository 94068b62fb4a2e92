"""Reject corpus: split/chunk, take_along_axis/gather and w[ids] with float indices, results taken for another
shape or tape, and chunks that do not divide the axis."""

from __future__ import annotations

from typing import Any, TypeVar
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)

x: Tensor[tuple[int, L[6]], F32, NoneTape] = tt.zeros((4, 6))
x7: Tensor[tuple[int, L[7]], F32, NoneTape] = tt.zeros((4, 7))
labels: Tensor[tuple[int, L[1]], np.int64, NoneTape] = tt.tensor(np.zeros((4, 1)), np.int64)
floats: Tensor[tuple[int, L[1]], F32, NoneTape] = tt.zeros((4, 1))
w: Tensor[tuple[L[10], L[8]], F32, NoneTape] = tt.zeros((10, 8))
ids: Tensor[tuple[int, L[5]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 5)), np.int64)

# float indices: indices are positions (an integer tensor)
x.take_along_axis(floats, 1)  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
tt.gather(x, 1, floats)  # type: ignore[type-var]  # pyright: ignore[reportCallIssue, reportArgumentType]
w[floats]  # type: ignore[type-var, index]  # pyright: ignore[reportCallIssue, reportArgumentType]
# gather's result has the index's shape, and the tape of its operands
g: Tensor[tuple[int, L[2]], F32, NoneTape] = tt.gather(x, 1, labels)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
h: Tensor[tuple[int, L[1]], F32, OwnedTape] = tt.gather(x, 1, labels)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
u: Tensor[tuple[Any, ...], F32, OwnedTape] = x.take_along_axis(labels, 1)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# w[ids]: the rows of w after the ids' shape, untraced when both are
r: Tensor[tuple[int, L[5], L[9]], F32, NoneTape] = w[ids]  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
v: Tensor[tuple[int, L[5], L[8]], F32, OwnedTape] = w[ids]  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# a split chunk's length is only known at run time
s: Tensor[tuple[L[2], L[6]], F32, NoneTape] = x.split(2)[0]  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
# chunk(3) gives three tensors
p, q = x.chunk(3, axis=-1)  # type: ignore[misc]  # pyright: ignore[reportAssignmentType]
# split sizes that do not sum to a known length, a chunk size of 0 (the plugin; the run time refuses both)
x.split([2, 3], axis=-1)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
x.split(0)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# take_along_axis: indices of another rank, or a dim that neither equals x's nor is 1 (the plugin; run time too)
flat: Tensor[tuple[int], np.int64, NoneTape] = tt.tensor(np.zeros((4,)), np.int64)
x.take_along_axis(flat, 1)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
three: Tensor[tuple[L[2], L[3]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 3)), np.int64)
x.take_along_axis(three, 0)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin
# a mask of another shape than the dims it reads (the plugin; the run time refuses it too)
cube: Tensor[tuple[L[10], L[8], L[3]], F32, NoneTape] = tt.zeros((10, 8, 3))
narrow: Tensor[tuple[L[10], L[4]], np.bool_, NoneTape] = tt.zeros((10, 4), np.bool_)
cube[narrow]  # type: ignore[type-var, index, unused-ignore]  # reject: mypy+plugin
# a length that does not divide (the plugin knows L[7]; the others see Div[...] as Any, run time refuses it)
x7.chunk(3, axis=-1)  # type: ignore[tt-shape, unused-ignore]  # reject: mypy+plugin


# a qkv projection of width 3*D split in two instead of three: with the plugin Div[Mul[3, D], 2] is no D
def qk(qkv: Tensor[tuple[B, T, tt.Mul[L[3], D]], F32, NoneTape]) -> Tensor[tuple[B, T, D], F32, NoneTape]:
    query, _ = qkv.chunk(2, axis=-1)
    return query  # type: ignore[return-value, unused-ignore]  # reject: mypy+plugin
