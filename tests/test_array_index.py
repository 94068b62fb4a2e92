# pyright: reportUnknownVariableType=false, reportUnknownArgumentType=false, reportUnknownMemberType=false
"""``x[index]`` with NumPy arrays and lists in the index: the gradient is the one flat scatter of integer-tensor
indexing (typedtensor/_ops/index.py), whatever mixes of basic and advanced parts NumPy's rules allow; repeats
accumulate (float16 in float32), and a list beside a mask is read as integers by both paths."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts

Array = np.ndarray[Any, Any]
RNG = np.random.default_rng(7)
_I = np.array([[0, 4, 4], [-1, 0, 2]])
_J = np.array([1, 1, -2])
_M2 = RNG.random((5, 6)) > 0.5
_ROW = np.array([False, True, False, False, False])
#: Index forms on a (5, 6, 7) tensor: integer arrays and lists in every position, with slices, None, ..., ints,
#: bool masks, 0-d and empty arrays (NumPy moves the advanced dims to the front when they are not adjacent).
INDEXES: dict[str, Any] = {
    "rows": _I,
    "rows_tuple": (_I,),
    "columns": (slice(None), _I),
    "pairs": (_I, _J),
    "every_axis": (_I, _J, _I % 7),
    "ellipsis": (Ellipsis, _J),
    "none_between": (_I, None, _J),
    "slice_between": (_I, slice(None), _J),
    "int_and_array": (0, _I),
    "int_slice_array": (1, slice(None), _J),
    "slices_around": (slice(1, None), _I, slice(None, None, 2)),
    "negative_step": (slice(None, None, -1), _J),
    "list": [0, 0, 3],
    "lists": ([1, 1], [2, 2], [3, 3]),
    "empty_list": [],
    "empty_array": np.zeros((0,), np.int64),
    "zero_d": np.array(3),
    "zero_d_pair": (np.array(2), slice(None), np.array([0, 0])),
    "mask": _M2,
    "mask_and_list": (_M2, [1] * int(_M2.sum())),
    "one_row_mask_and_repeated_list": (_ROW, [1, 1]),
    "mask_ellipsis_list": (np.ones(5, bool), Ellipsis, [0, 0, 1, 6, 6]),
    "views": (_I[::-1, ::2], _J[::2, None]),
    "uint8_and_int16": (np.array([4, 4, 0], np.uint8), np.array([-6, 5, -6], np.int16)),
}


def _at(x: tt.Tensor[Any, Any, Any], index: Any) -> tt.Tensor[Any, Any, Any]:
    """``x[index]`` typed for the checkers (an index of any form has no static shape)."""
    return x[index]


def _reference(shape: tuple[int, ...], index: Any, g: Array) -> Array:
    ref = np.zeros(shape)
    np.add.at(ref, index, g.astype(np.float64))
    return ref


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", INDEXES)
def test_gradient_is_numpys_add_at(name: str, dtype: type[Any]) -> None:
    index = INDEXES[name]
    for layout, data in layouts(RNG.standard_normal((5, 6, 7)).astype(dtype)).items():
        x = tt.tensor(data, dtype).leaky_trace()
        y = _at(x, index)
        np.testing.assert_array_equal(y.numpy(), data[index], err_msg=layout)
        g = np.asarray(RNG.standard_normal(tuple(y.numpy().shape)), dtype)
        grad = (y * tt.tensor(g, dtype)).sum().backward().get(x)
        assert grad.dtype == np.dtype(dtype)
        tol = 5e-3 if dtype == np.float16 else 1e-6
        np.testing.assert_allclose(grad.numpy(), _reference(data.shape, index, g), rtol=tol, atol=tol, err_msg=layout)


def test_a_list_beside_a_mask_tensor_accumulates_its_repeats() -> None:
    """A mask with one True row and the list [1, 1] read x[1, 1] twice: its gradient is 2 (it was 1, the list's
    repeats taken for a mask's positions, which never repeat)."""
    x = tt.tensor(np.arange(6.0).reshape(2, 3)).leaky_trace()
    y = x[tt.tensor(np.array([False, True])), [1, 1]]
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(y.sum().backward().get(x).numpy(), [[0, 0, 0], [0, 2, 0]])


@pytest.mark.parametrize(
    ("index", "where"),
    [
        (np.zeros(4096, np.int64), (0, slice(None))),
        ((np.zeros(4096, np.int64), 1), (0, 1)),
        ((slice(None), [1] * 4096), (slice(None), 1)),
    ],
)
def test_float16_repeats_are_summed_in_float32(index: Any, where: tuple[Any, ...]) -> None:
    """4096 reads of one float16 element: a float16 sum stops at 2048 (2048 + 1 rounds back to 2048)."""
    x = tt.tensor(np.ones((3, 4), np.float16), np.float16).leaky_trace()
    grad = _at(x, index).sum().backward().get(x).numpy()
    expected = np.zeros((3, 4), np.float16)
    expected[where] = 4096
    assert grad.dtype == np.float16
    np.testing.assert_array_equal(grad, expected)


def _as_tensor(part: object) -> object:
    """An index array as the tensor of its values and dtype; other parts as they are."""
    if isinstance(part, np.ndarray):
        return tt.tensor(part, part.dtype.type)
    return part


def _grad(data: Array, index: Any) -> Array:
    x = tt.tensor(data).leaky_trace()
    return (_at(x, index) * 3.0).sum().backward().get(x).numpy()


def test_numpy_and_tensor_indices_give_the_same_gradient() -> None:
    data = RNG.standard_normal((5, 6, 7))
    for name, index in INDEXES.items():
        parts = cast("tuple[object, ...]", index if isinstance(index, tuple) else (index,))
        as_tensors = tuple(_as_tensor(p) for p in parts)
        np.testing.assert_array_equal(_grad(data, index), _grad(data, as_tensors), err_msg=name)
