"""``x.take_along_axis(indices, axis)`` and ``tt.gather(x, axis, index)`` (issue 12, Part B): NumPy's and torch's
semantics (one kernel), the scattered gradient (repeats accumulate, float16 summed in float32), integer indices of
any dtype and layout, tapes, and the errors with checks on and off; values and gradients of every layout are in
tests/opspec.py (finite differences, PyTorch golden data and live PyTorch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import typedtensor as tt

DTYPES = [np.float16, np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64, np.uint8]
RNG = np.random.default_rng(0)


def _x(shape: tuple[int, ...], dtype: type[Any] = np.float64) -> tt.Tensor[Any, Any, tt.NoneTape]:
    return tt.tensor(RNG.standard_normal(shape).astype(dtype), dtype)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "index_shape", "axis"),
    [((3, 4), (3, 5), 1), ((3, 4), (2, 4), 0), ((2, 3, 4), (2, 3, 1), -1), ((2, 3, 4), (1, 3, 2), 2),
     ((1, 4), (3, 2), 1), ((5,), (7,), 0)],
)  # fmt: skip
def test_values_and_scattered_gradient_match_numpy(
    dtype: type[Any], index_dtype: type[Any], shape: tuple[int, ...], index_shape: tuple[int, ...], axis: int
) -> None:
    x = _x(shape, dtype).leaky_trace()
    idx = RNG.integers(0, shape[axis], index_shape).astype(index_dtype)
    y = x.take_along_axis(tt.tensor(idx, index_dtype), axis)
    np.testing.assert_array_equal(y.numpy(), np.take_along_axis(x.numpy(), idx, axis))
    w = RNG.standard_normal(y.shape)
    g = (y * tt.tensor(w.astype(dtype), dtype)).sum().backward().get(x)
    assert g.dtype == np.dtype(dtype)
    # the reference: np.add.at on every position read, NumPy's broadcasting of the size-1 dims of x undone
    nd, ax = len(shape), axis % len(shape)
    full = np.broadcast_shapes(*(tuple(1 if d == ax else n for d, n in enumerate(s)) for s in (shape, idx.shape)))
    along = np.broadcast_to(idx, tuple(idx.shape[ax] if d == ax else full[d] for d in range(nd)))
    ref = np.zeros(tuple(shape[ax] if d == ax else full[d] for d in range(nd)))
    grid: list[Any] = list(np.indices(along.shape, sparse=True))
    grid[ax] = along
    np.add.at(ref, tuple(grid), w.astype(dtype).astype(np.float64))
    ref = ref.sum(axis=tuple(d for d, n in enumerate(shape) if n == 1 and ref.shape[d] != 1), keepdims=True)
    tol = 2e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(g.numpy().astype(np.float64), ref.reshape(shape), rtol=tol, atol=tol)


def test_gather_is_torch_gather() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: tests/golden covers gather")
    x = RNG.standard_normal((4, 5, 6))
    for axis in (0, 1, 2, -1):
        idx = RNG.integers(0, x.shape[axis], tuple(3 if d == axis % 3 else n for d, n in enumerate(x.shape)))
        xt = tt.tensor(x).leaky_trace()
        y = tt.gather(xt, axis, tt.tensor(idx, np.int64))
        g = (y * y).sum().backward().get(xt)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.gather(tx, axis, torch.as_tensor(idx))
        (ty * ty).sum().backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_float16_repeats_accumulate_in_float32() -> None:
    """4096 reads of one value: a float16 running sum stops at 2048 (2048 + 1 rounds to 2048); summed in float32
    and rounded once the gradient is exact."""
    x = tt.tensor(np.zeros((1, 3), np.float16), np.float16).leaky_trace()
    y = x.take_along_axis(tt.tensor(np.ones((1, 4096), np.int64), np.int64), 1)
    np.testing.assert_array_equal(y.sum().backward().get(x).numpy(), [[0, 4096, 0]])


def test_the_indices_carry_their_tape() -> None:
    grads = tt.Gradients()
    x = _x((2, 3))
    grads.alloc(x)
    ids = tt.tensor(np.array([[2], [0]]), np.int64).trace(grads)
    y = x.take_along_axis(ids, 1)
    assert y.traced
    y.sum().backward()
    np.testing.assert_array_equal(grads.get(x).numpy(), [[0, 0, 1], [1, 0, 0]])
    assert ids not in grads


def test_gather_and_take_along_axis_agree_where_both_apply() -> None:
    x = _x((3, 4))
    idx = tt.tensor(np.array([[3, 0], [1, 1], [0, 2]]), np.int64)
    np.testing.assert_array_equal(tt.gather(x, 1, idx).numpy(), x.take_along_axis(idx, 1).numpy())


@pytest.mark.parametrize("checks", [True, False])
def test_out_of_range_indices_are_shape_errors_naming_them(checks: bool) -> None:
    x = _x((2, 3))
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"index 3 at position \(1, 0\) of the indices is out of range: "
                                                r"expected 0 <= index < 3 \(axis 1 has length 3\)"):  # fmt: skip
            x.take_along_axis(tt.tensor(np.array([[0, 2], [3, 1]]), np.int64), 1)
        with pytest.raises(tt.ShapeError, match=r"gather: index -1 at position \(0, 1\)"):
            tt.gather(x, 1, tt.tensor(np.array([[0, -1], [2, 1]]), np.int32))
        with pytest.raises(tt.ShapeError, match=r"index 2 at position \(0, 1, 0\)"):
            x.reshape((2, 3, 1)).take_along_axis(tt.tensor(np.array([[[0], [2], [1]]]), np.int64), 0)


@pytest.mark.parametrize("checks", [True, False])
def test_float_and_bool_indices_are_dtype_errors_with_the_fix(checks: bool) -> None:
    x = _x((2, 3))
    floats: Any = tt.tensor(np.array([[0.0], [1.0]]))
    mask: Any = tt.tensor(np.array([[True], [False]]))
    with tt.checks(checks):
        with pytest.raises(tt.DTypeError, match="float64"):
            x.take_along_axis(floats, 1)
        with pytest.raises(tt.DTypeError, match="bool"):
            tt.gather(x, 1, mask)
        plain: Any = np.array([[0], [1]])
        with pytest.raises(tt.DTypeError, match=r"typedtensor\.Tensor"):
            x.take_along_axis(plain, 1)
    with tt.checks(False), pytest.raises(tt.DTypeError, match=r"got float64; build them with tt\.tensor\(ids, np\."):
        x.take_along_axis(floats, 1)


@pytest.mark.parametrize("checks", [True, False])
def test_shapes_that_do_not_fit(checks: bool) -> None:
    x = _x((2, 3))
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"rank 1 \(shape \(2,\)\) but the tensor has rank 2"):
            x.take_along_axis(tt.tensor(np.array([0, 1]), np.int64), 1)
        with pytest.raises(tt.ShapeError, match="does not broadcast with the tensor's"):
            x.take_along_axis(tt.tensor(np.zeros((3, 1), np.int64), np.int64), 1)
        with pytest.raises(tt.ShapeError, match=r"every dim but axis 1 must be equal \(dim 0: 1 vs 2\)"):
            tt.gather(x, 1, tt.tensor(np.zeros((1, 2), np.int64), np.int64))  # torch would read x[:1]
        with pytest.raises(tt.ShapeError, match="axis 2 is out of range"):
            x.take_along_axis(tt.tensor(np.zeros((2, 1), np.int64), np.int64), 2)


@pytest.mark.parametrize("checks", [True, False])
def test_masks_and_integer_tensors_are_gathered_too(checks: bool) -> None:
    """take_along_axis/gather move values, so a bool mask and an integer tensor are read like floats."""
    data = np.arange(12).reshape(3, 4)
    idx = np.array([[3, 0], [1, 1], [0, 2]])
    with tt.checks(checks):
        picked = tt.tensor(data % 2 == 0).take_along_axis(tt.tensor(idx, np.int64), 1)
        assert picked.dtype == np.bool_
        np.testing.assert_array_equal(picked.numpy(), np.take_along_axis(data % 2 == 0, idx, 1))
        ints = tt.gather(tt.tensor(data, np.int64).leaky_trace(), 1, tt.tensor(idx, np.int64))
        assert ints.dtype == np.int64
        assert ints.traced
        np.testing.assert_array_equal(ints.numpy(), np.take_along_axis(data, idx, 1))
