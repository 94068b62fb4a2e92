"""Accept corpus: split/chunk (a qkv split of the last axis), take_along_axis/gather with integer indices, and
indexing by integer and bool tensors (``w[ids]`` gathers rows), each with its tape."""

from __future__ import annotations

from typing import Any, TypeVar, assert_type
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor

F32 = np.float32
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)

x: Tensor[tuple[int, L[6]], F32, NoneTape] = tt.zeros((4, 6))
xt = x.leaky_trace()

# split: the split axis becomes int (its chunks' lengths differ), the other dims stay (the plugin: see the end)
for part in x.split(2):
    assert_type(part, Tensor[tuple[int, L[6]], F32, NoneTape])
assert_type(x.split([2, 4], axis=-1), tuple[Tensor[tuple[int, int], F32, NoneTape], ...])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(xt.split(2, axis=0), tuple[Tensor[tuple[int, L[6]], F32, OwnedTape], ...])
assert_type(x.split(1, axis=1), tuple[Tensor[tuple[Any, ...], F32, NoneTape], ...])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin

# chunk(3, axis=-1): three tensors; the split dim is Div[D, 3] (Any for the checkers without the plugin)
a, b, c = xt.chunk(3, axis=-1)
first: Tensor[tuple[int, L[2]], F32, OwnedTape] = a
q, k = x.chunk(2, axis=0)
assert_type(x.chunk(5), tuple[Tensor[tuple[Any, ...], F32, NoneTape], ...])


# a qkv projection split into query, key and value of width D, generic in B, T and D
def qkv_split(
    qkv: Tensor[tuple[B, T, tt.Mul[L[3], D]], F32, OwnedTape],
) -> tuple[Tensor[tuple[B, T, D], F32, OwnedTape], Tensor[tuple[B, T, D], F32, OwnedTape]]:
    query, key, value = qkv.chunk(3, axis=-1)
    return query + value, key


# take_along_axis: integer indices of any int dtype; the result has the indices' tape too
labels: Tensor[tuple[int, L[1]], np.int64, NoneTape] = tt.tensor(np.zeros((4, 1)), np.int64)
assert_type(x.take_along_axis(labels, 1), Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(xt.take_along_axis(labels, -1), Tensor[tuple[Any, ...], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(x.take_along_axis(labels.leaky_trace(), 1), Tensor[tuple[Any, ...], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
small: Tensor[tuple[int, L[1]], np.int32, NoneTape] = tt.tensor(np.zeros((4, 1)), np.int32)
x.take_along_axis(small, 1)

# gather (torch's argument order): the result has the index's shape
assert_type(tt.gather(x, 1, labels), Tensor[tuple[int, L[1]], F32, NoneTape])
assert_type(tt.gather(xt, 1, labels), Tensor[tuple[int, L[1]], F32, OwnedTape])
assert_type(tt.gather(x, 1, labels.leaky_trace()), Tensor[tuple[int, L[1]], F32, OwnedTape])

# w[ids]: rows gathered, the ids' shape in front of the row's
w: Tensor[tuple[L[10], L[8]], F32, NoneTape] = tt.zeros((10, 8))
ids: Tensor[tuple[int, L[5]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 5)), np.int64)
flat: Tensor[tuple[int], np.int32, NoneTape] = tt.tensor([1, 2], np.int32)
assert_type(w[ids], Tensor[tuple[int, L[5], L[8]], F32, NoneTape])
assert_type(w[flat], Tensor[tuple[int, L[8]], F32, NoneTape])
assert_type(w[ids.leaky_trace()], Tensor[tuple[int, L[5], L[8]], F32, OwnedTape])
assert_type(w.leaky_trace()[ids], Tensor[tuple[int, L[5], L[8]], F32, OwnedTape])
# other positions and mixed indices: the shape is NumPy's to compute (the plugin does: see the end)
assert_type(w[:, flat], Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
assert_type(w[flat, 1:], Tensor[tuple[Any, ...], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # reject: mypy+plugin
# a bool mask of the tensor's shape picks its true elements
mask = w > 0.0
assert_type(w[mask], Tensor[tuple[int], F32, NoneTape])

# with the plugin the chunk dims are exact: Div[L[6], L[3]] is L[2], Div[Mul[L[3], D], L[3]] is D
assert_type(a, Tensor[tuple[int, L[2]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(q, Tensor[tuple[int, L[6]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
# with the plugin literal split sizes give a tuple of that many tensors with Literal dims
X2 = Tensor[tuple[int, L[2]], F32, NoneTape]
X4 = Tensor[tuple[int, L[4]], F32, NoneTape]
assert_type(x.split([2, 4], axis=-1), tuple[X2, X4])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(x.split(4, axis=1), tuple[X4, X2])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
# with the plugin take_along_axis has NumPy's broadcast shape: labels (B, 1) on logits (B, 6) pick (B, 1)
assert_type(x.take_along_axis(labels, 1), Tensor[tuple[int, L[1]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
row: Tensor[tuple[L[1], L[3]], np.int64, NoneTape] = tt.tensor(np.zeros((1, 3)), np.int64)
assert_type(x.take_along_axis(row, -1), Tensor[tuple[int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


def pick(logits: Tensor[tuple[B, L[6]], F32, OwnedTape], ids: Tensor[tuple[B, L[2]], np.int64, NoneTape]) -> None:
    assert_type(logits.take_along_axis(ids, 1), Tensor[tuple[B, L[2]], F32, OwnedTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin


# with the plugin an index tensor's dims take the place of the axis it reads, and a mask's count is int
cube: Tensor[tuple[L[10], L[8], L[3]], F32, NoneTape] = tt.zeros((10, 8, 3))
ids3: Tensor[tuple[int, L[5], L[7]], np.int64, NoneTape] = tt.tensor(np.zeros((2, 5, 7)), np.int64)
plane: Tensor[tuple[L[10], L[8]], np.bool_, NoneTape] = tt.zeros((10, 8), np.bool_)
assert_type(cube[ids3], Tensor[tuple[int, L[5], L[7], L[8], L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(cube[:, flat], Tensor[tuple[L[10], int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(cube[..., ids3], Tensor[tuple[L[10], L[8], int, L[5], L[7]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
assert_type(cube[plane], Tensor[tuple[int, L[3]], F32, NoneTape])  # type: ignore[assert-type, unused-ignore]  # pyright: ignore[reportAssertTypeFailure]  # accept: mypy+plugin
# an int beside an index tensor is an advanced index too (NumPy may move the dims to the front): not computed
assert_type(cube[0, :, ids3], Tensor[tuple[Any, ...], F32, NoneTape])
