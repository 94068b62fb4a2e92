"""``split(size, axis)`` and ``chunk(chunks, axis)`` (issue 12, Part B): torch.split's chunk sizes, one gradient
buffer joined from the chunks (zeros where a chunk is unused), tapes, dtypes and errors with checks on and off;
values and gradients of every layout are in tests/opspec.py (finite differences, PyTorch golden data and live
PyTorch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import typedtensor as tt

DTYPES = [np.float16, np.float32, np.float64]


def _x(shape: tuple[int, ...], dtype: type[Any] = np.float64) -> tt.Tensor[Any, Any, tt.NoneTape]:
    return tt.tensor(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype), dtype)


@pytest.mark.parametrize(
    ("length", "size", "sizes"),
    [(5, 2, [2, 2, 1]), (6, 3, [3, 3]), (2, 5, [2]), (4, [1, 0, 3], [1, 0, 3]), (3, (3,), [3]), (0, 2, [0])],
)
def test_chunk_sizes_follow_torch_split(length: int, size: Any, sizes: list[int]) -> None:
    chunks = _x((3, length)).split(size, axis=1)
    assert [c.shape for c in chunks] == [(3, n) for n in sizes]
    np.testing.assert_array_equal(np.concatenate([c.numpy() for c in chunks], axis=1), _x((3, length)).numpy())


def test_chunk_sizes_match_torch_live() -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the sizes are written out above")
    cases: list[tuple[int, Any]] = [(5, 2), (7, 3), (2, 5), (0, 2), (6, [1, 0, 5])]
    for length, size in cases:
        ours = [c.shape for c in _x((length, 2)).split(size)]
        theirs = [tuple(c.shape) for c in torch.zeros(length, 2).split(size)]
        assert ours == theirs, (length, size)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unused_chunks_get_zeros_and_used_ones_their_gradient(dtype: type[Any]) -> None:
    x = _x((2, 6), dtype).leaky_trace()
    a, _, c = x.split([1, 2, 3], axis=-1)
    grads = (a * 2.0).sum().backward()
    g = grads.get(x)
    assert g.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(g.numpy(), [[2, 0, 0, 0, 0, 0]] * 2)
    x = _x((2, 6), dtype).leaky_trace()
    a, b, c = x.split([1, 2, 3], axis=-1)
    g = ((c * 3.0).sum() + b.sum() * 2.0).backward().get(x)
    np.testing.assert_array_equal(g.numpy(), [[0, 2, 2, 3, 3, 3]] * 2)


def test_a_chunk_used_twice_and_the_input_used_elsewhere_accumulate() -> None:
    x = _x((4, 3)).leaky_trace()
    top, bottom = x.split(2)
    loss = (top * top).sum() + top.sum() + (x * 10.0).sum() + bottom.sum() * 0.5
    g = loss.backward().get(x).numpy()
    xs = _x((4, 3)).numpy()
    expected = np.full((4, 3), 10.0)
    expected[:2] += 2 * xs[:2] + 1
    expected[2:] += 0.5
    np.testing.assert_array_equal(g, expected)


def test_chunks_keep_their_own_gradients_on_a_leaky_tape() -> None:
    x = _x((2, 4)).leaky_trace()
    q, k = x.chunk(2, axis=-1)
    grads = (q * k).sum().backward()
    np.testing.assert_array_equal(grads.get(q).numpy(), k.numpy())
    np.testing.assert_array_equal(grads.get(k).numpy(), q.numpy())
    np.testing.assert_array_equal(grads.get(x).numpy(), np.concatenate([k.numpy(), q.numpy()], axis=1))


def test_a_parameter_split_on_a_kept_tape() -> None:
    """An allocated tensor (a model's weight) traced into Gradients that keep only it: the join must still run."""
    w = _x((6, 2))
    grads = tt.Gradients()
    grads.alloc(w)
    _, b, _ = w.trace(grads).chunk(3)
    (b * 4.0).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [[0, 0], [0, 0], [4, 4], [4, 4], [0, 0], [0, 0]])


def test_qkv_split_of_the_last_axis() -> None:
    qkv = _x((2, 5, 3 * 4)).leaky_trace()
    q, k, v = qkv.chunk(3, axis=-1)
    assert q.shape == k.shape == v.shape == (2, 5, 4)
    np.testing.assert_array_equal(v.numpy(), qkv.numpy()[..., 8:])
    g = (q + 2.0 * k + 3.0 * v).sum().backward().get(qkv)
    np.testing.assert_array_equal(g.numpy()[0, 0], [1] * 4 + [2] * 4 + [3] * 4)


def test_untraced_chunks_are_views_and_integer_tensors_split() -> None:
    x = _x((4, 6))
    for c in x.split(4, axis=1):
        assert np.shares_memory(c.numpy(), x.numpy())
        assert not c.traced
    ids = tt.tensor(np.arange(6), np.int64).leaky_trace()
    first, second = ids.chunk(2)
    assert first.dtype == np.int64
    assert first.traced
    np.testing.assert_array_equal(second.numpy(), [3, 4, 5])


@pytest.mark.parametrize("checks", [True, False])
def test_bad_sizes_and_axes(checks: bool) -> None:
    x: Any = _x((3, 4))
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match="chunk size must be a positive int, got 0"):
            x.split(0)
        with pytest.raises(tt.ShapeError, match=r"sizes \[2, 1\] must be >= 0 and sum to the length of axis 1, 4"):
            x.split([2, 1], axis=1)
        with pytest.raises(tt.ShapeError, match=r"sizes \[4, -1\] must be >= 0"):
            x.split([4, -1], axis=1)
        with pytest.raises(tt.ShapeError, match="axis 2 is out of range"):
            x.split(1, axis=2)
        with pytest.raises(tt.DTypeError):
            x.split(1.5)
        with pytest.raises(tt.DTypeError):
            x.split([1, 2.0], axis=1)
        with pytest.raises(tt.DTypeError):
            x.split(True)
        with pytest.raises(tt.ShapeError, match=r"length 4, which does not split into 3 equal chunks"):
            x.chunk(3, axis=1)
        with pytest.raises(tt.ShapeError, match="into 0 equal chunks"):
            x.chunk(0)
        with pytest.raises(tt.DTypeError):
            x.chunk(1.0)


def test_split_sizes_numpy_integers() -> None:
    two: Any = np.int64(2)  # the annotations say int: NumPy integers are accepted at run time too
    five: Any = np.int32(5)
    x: Any = _x((5,))
    assert [c.shape for c in _x((5,)).split(two)] == [(2,), (2,), (1,)]
    parts: tuple[tt.Tensor[Any, Any, Any], ...] = x.chunk(five)
    assert [c.shape for c in parts] == [(1,)] * 5


@pytest.mark.parametrize("checks", [True, False])
def test_masks_and_integer_tensors_split_too(checks: bool) -> None:
    """split/chunk move values (they never compute), so a bool mask and an integer tensor split as floats do."""
    data = np.arange(12).reshape(3, 4)
    with tt.checks(checks):
        mask = tt.tensor(data % 3 == 0)
        left, right = mask.chunk(2, axis=1)
        assert left.dtype == np.bool_
        np.testing.assert_array_equal(right.numpy(), data[:, 2:] % 3 == 0)
        parts = tt.tensor(data, np.int32).split([1, 2], axis=0)
        assert parts[1].dtype == np.int32
        np.testing.assert_array_equal(parts[1].numpy(), data[1:])
