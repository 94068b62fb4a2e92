# pyright: reportUnknownLambdaType=false, reportUnknownArgumentType=false, reportUnknownVariableType=false, reportUnknownMemberType=false
"""Indexing by integer and bool tensors (issue 12, Part B): ``w[ids]`` gathers rows (NumPy's advanced indexing in
general positions too), the gradient scatters back with repeats accumulating, the index tensors carry their
tape, and out-of-range ids and float indices are errors with checks on and off; values and gradients of every
layout are in tests/opspec.py (finite differences, PyTorch golden data and live PyTorch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt

DTYPES = [np.float16, np.float32, np.float64]
RNG = np.random.default_rng(0)
LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "C": lambda t: t,
    "F": lambda t: t.transpose(),
    "strided": lambda t: t[:, ::2],
    "negative": lambda t: t[::-1, ::-1],
}


def _w(shape: tuple[int, ...], dtype: type[Any] = np.float64) -> tt.Tensor[Any, Any, tt.NoneTape]:
    return tt.tensor(RNG.standard_normal(shape).astype(dtype), dtype)


def _reference(w: np.ndarray[Any, Any], index: tuple[Any, ...], g: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    ref = np.zeros(w.shape)
    np.add.at(ref, index, g.astype(np.float64))
    return ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w_layout", LAYOUTS)
@pytest.mark.parametrize("ids_layout", LAYOUTS)
@pytest.mark.parametrize("ids_dtype", [np.int32, np.int64, np.uint16])
def test_rows_gather_and_scatter_back(dtype: type[Any], w_layout: str, ids_layout: str, ids_dtype: type[Any]) -> None:
    w = LAYOUTS[w_layout](_w((6, 8), dtype)).leaky_trace()
    ids = LAYOUTS[ids_layout](tt.tensor(RNG.integers(0, w.shape[0], (4, 6)).astype(ids_dtype), ids_dtype))
    y = w[ids]
    wd, idd = w.numpy(), ids.numpy()
    assert y.shape == (*idd.shape, w.shape[1])
    np.testing.assert_array_equal(y.numpy(), wd[idd])
    g = RNG.standard_normal(y.shape)
    grad = (y * tt.tensor(g.astype(dtype), dtype)).sum().backward().get(w)
    assert grad.dtype == np.dtype(dtype)
    tol = 5e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(grad.numpy(), _reference(wd, (idd,), g.astype(dtype)), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "make",
    [
        lambda w, i, j: w[:, i],
        lambda w, i, j: w[i, 1:],
        lambda w, i, j: w[i, j],
        lambda w, i, j: w[..., j],
        lambda w, i, j: w[i, None, j],
        lambda w, i, j: w[i, :, j],
        lambda w, i, j: w[0, i],
    ],
)
def test_general_positions_follow_numpy(make: Callable[..., Any]) -> None:
    w = _w((4, 5, 6)).leaky_trace()
    ids = np.array([[0, 3, 3], [1, 0, 2]])
    i, j = tt.tensor(ids, np.int64), tt.tensor(ids[::-1].copy(), np.int32)
    y = make(w, i, j)
    expected = make(w.numpy(), ids, ids[::-1])
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.numpy(), expected)
    g = RNG.standard_normal(y.shape)
    grad = (y * tt.tensor(g)).sum().backward().get(w)
    positions = make(np.arange(w.numpy().size).reshape(w.shape), ids, ids[::-1])
    ref = np.bincount(positions.reshape(-1), weights=g.reshape(-1), minlength=w.numpy().size).reshape(w.shape)
    np.testing.assert_allclose(grad.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_general_positions_match_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the NumPy reference covers this")
    wd = RNG.standard_normal((4, 5, 6))
    ids = np.array([[0, 3, -1], [1, 0, 2]])
    makes: list[Callable[[Any, Any], Any]] = [lambda w, i: w[i], lambda w, i: w[:, i], lambda w, i: w[i, :, i],
                                              lambda w, i: w[..., i]]  # fmt: skip
    for make in makes:
        w = tt.tensor(wd).leaky_trace()
        y = make(w, tt.tensor(ids, np.int64))
        grad = (y * y).sum().backward().get(w)
        tw = torch.tensor(wd, requires_grad=True)
        ty = make(tw, torch.as_tensor(ids))
        (ty * ty).sum().backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_allclose(grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_scalar_id_and_negative_ids() -> None:
    w = _w((3, 2))
    np.testing.assert_array_equal(w[tt.tensor(np.int64(2), np.int64)].numpy(), w.numpy()[2])
    np.testing.assert_array_equal(w[tt.tensor(np.array([-1, -3]), np.int64)].numpy(), w.numpy()[[2, 0]])


def test_the_ids_carry_the_tape_into_a_model_weight() -> None:
    grads = tt.Gradients()
    w = _w((4, 3))
    grads.alloc(w)
    ids = tt.tensor(np.array([[1, 1], [3, 1]]), np.int64).trace(grads)
    y = w[ids]
    assert y.traced
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [[0] * 3, [6] * 3, [0] * 3, [2] * 3])
    assert ids not in grads


def test_same_rows_as_embedding() -> None:
    emb = tt.nn.Embedding(7, 3, seed=1)
    ids = tt.tensor(np.array([[0, 6, 6], [2, 3, 0]]), np.int64)
    np.testing.assert_array_equal(emb.forward(ids).numpy(), emb.weight[ids].numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_bool_mask_tensor(dtype: type[Any]) -> None:
    x = _w((3, 4), dtype).leaky_trace()
    mask = x > 0.0
    y = x[mask]
    np.testing.assert_array_equal(y.numpy(), x.numpy()[mask.numpy()])
    grad = (y * 3.0).sum().backward().get(x)
    np.testing.assert_array_equal(grad.numpy(), np.where(mask.numpy(), 3.0, 0.0).astype(dtype))
    rows = tt.tensor(np.array([True, False, True]))
    assert x.detach()[rows].shape == (2, 4)  # a mask over the leading dims, as in NumPy


@pytest.mark.parametrize("checks", [True, False])
def test_out_of_range_ids_are_shape_errors_naming_the_id(checks: bool) -> None:
    w = _w((3, 2))
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"index 3 at position \(1, 0\) of the indices is out of range: "
                                                r"expected -3 <= index < 3 \(axis 0 has length 3\)"):  # fmt: skip
            w[tt.tensor(np.array([[0, 1], [3, 2]]), np.int64)]
        with pytest.raises(tt.ShapeError, match=r"index -4 at position \(0,\).*axis 0 has length 3"):
            w[tt.tensor(np.array([-4]), np.int64)]
        with pytest.raises(tt.ShapeError, match=r"index 2 at position \(1,\).*axis 1 has length 2"):
            w[:, tt.tensor(np.array([0, 2]), np.int64)]
        with pytest.raises(tt.ShapeError, match=r"index 5 at position \(0,\).*axis 1 has length 2"):
            w[..., tt.tensor(np.array([5]), np.int64)]
        with pytest.raises(tt.ShapeError, match=r"does not fit shape \(3, 2\)"):
            w[tt.tensor(np.array([True, False]))]  # a mask of the wrong length
        with pytest.raises(tt.ShapeError, match=r"does not fit shape \(3, 2\)"):
            w[tt.tensor(np.array([0, 1]), np.int64), tt.tensor(np.array([0, 1, 1]), np.int64)]  # no broadcast


@pytest.mark.parametrize("checks", [True, False])
def test_float_index_tensors_are_dtype_errors_with_the_fix(checks: bool) -> None:
    w: Any = _w((3, 2))
    floats = tt.tensor(np.array([0.0, 1.0]))
    with tt.checks(checks):
        with pytest.raises(tt.DTypeError, match=r"position 0 of the index holds float64.*tt\.tensor\(ids, np\.int64\)"):
            w[floats]
        with pytest.raises(tt.DTypeError, match=r"position 1 of the index holds float64"):
            w[:, floats]
        with pytest.raises(tt.DTypeError, match="slice bounds must be ints"):
            w[tt.tensor(np.array([0]), np.int64), 0.5:]


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_scatter_edge_cases(dtype: type[Any]) -> None:
    """A 0-d id, a 1-D table, no ids at all, and float16 repeats summed in float32 (a float16 sum stops at 2048)."""
    w = _w((3, 2), dtype).leaky_trace()
    g = (w[tt.tensor(np.int64(-1), np.int64)] * 2.0).sum().backward().get(w)
    np.testing.assert_array_equal(g.numpy(), [[0, 0], [0, 0], [2, 2]])
    v = _w((4,), dtype).leaky_trace()
    g = v[tt.tensor(np.array([[3, 3], [0, 3]]), np.int64)].sum().backward().get(v)
    np.testing.assert_array_equal(g.numpy(), [1, 0, 0, 3])
    w = _w((3, 2), dtype).leaky_trace()
    empty = w[tt.tensor(np.zeros((0,), np.int64), np.int64)]
    assert empty.shape == (0, 2)
    np.testing.assert_array_equal((empty.sum() + w.sum()).backward().get(w).numpy(), np.ones((3, 2)))
    w = _w((2, 1), dtype).leaky_trace()
    g = w[tt.tensor(np.ones(4096, np.int64), np.int64)].sum().backward().get(w)
    np.testing.assert_array_equal(g.numpy(), [[0], [4096]])


@pytest.mark.parametrize("checks", [True, False])
def test_masks_and_integer_tensors_are_indexed_too(checks: bool) -> None:
    """Indexing moves values, so a bool mask and an integer tensor (a lookup table) index like floats."""
    data = np.arange(12).reshape(3, 4)
    rows = np.array([2, 0, 2])
    with tt.checks(checks):
        mask = tt.tensor(data % 3 == 0)
        for picked, expected in ((mask[1], data[1] % 3 == 0), (mask[:, ::-2], data[:, ::-2] % 3 == 0),
                                 (mask[tt.tensor(rows, np.int64)], data[rows] % 3 == 0)):  # fmt: skip
            assert picked.dtype == np.bool_
            np.testing.assert_array_equal(picked.numpy(), expected)
        table = tt.tensor(data, np.int64)
        np.testing.assert_array_equal(table[tt.tensor(rows, np.int32)].numpy(), data[rows])
        np.testing.assert_array_equal(table[mask].numpy(), data[data % 3 == 0])
