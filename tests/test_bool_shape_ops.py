"""Bool masks and integer tensors through the pure shape ops (issue 12, Part B): reshape, broadcast_to, permute,
transpose, squeeze, unsqueeze, tril/triu, indexing, split, concat and stack move values without computing, so they
take every dtype (an attention
mask (T, S) is unsqueezed and broadcast to (B, H, T, S) for masked_fill); ops that compute with the values still
refuse a bool mask."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt

Op = Callable[[Any], Any]
SHAPE_OPS: dict[str, tuple[Op, Op]] = {  # ours, NumPy's
    "reshape": (lambda t: t.reshape((3, 2, 2)), lambda a: a.reshape(3, 2, 2)),
    "reshape_minus_one": (lambda t: t.reshape((-1,)), lambda a: a.reshape(-1)),
    "broadcast_to": (lambda t: t.broadcast_to((5, 2, 6)), lambda a: np.broadcast_to(a, (5, 2, 6))),
    "permute": (lambda t: t.permute((1, 0)), lambda a: a.T),
    "transpose": (lambda t: t.transpose(), lambda a: a.T),
    "transpose_dims": (lambda t: t.transpose(-1, 0), lambda a: a.T),
    "unsqueeze": (lambda t: t.unsqueeze(1), lambda a: a[:, None]),
    "squeeze": (lambda t: t.unsqueeze(0).squeeze(0), lambda a: a),
    "tril": (lambda t: t.tril(1), lambda a: np.tril(a, 1)),
    "triu": (lambda t: t.triu(-1), lambda a: np.triu(a, -1)),
    "index": (lambda t: t[None, :, 1::2], lambda a: a[None, :, 1::2]),
    "split": (lambda t: t.split(2, 1)[1], lambda a: a[:, 2:4]),
    "concat": (lambda t: tt.concat((t, t), axis=1), lambda a: np.concatenate((a, a), axis=1)),
    "stack": (lambda t: tt.stack((t, t), axis=-1), lambda a: np.stack((a, a), axis=-1)),
}
DTYPES = [np.bool_, np.int64, np.int32, np.uint8, np.float32]


def _data(dtype: type[Any]) -> np.ndarray[Any, Any]:
    x = np.arange(12).reshape(2, 6)
    return (x % 3 == 0) if dtype is np.bool_ else x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops_take_every_dtype_checks_on_or_off(name: str, dtype: type[Any]) -> None:
    ours, numpys = SHAPE_OPS[name]
    x = _data(dtype)
    for checks in (True, False):
        with tt.checks(checks):
            y = ours(tt.tensor(x, dtype))
        assert y.dtype == np.dtype(dtype)
        assert not y.traced
        np.testing.assert_array_equal(y.numpy(), numpys(x))


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_a_traced_integer_tensor_keeps_its_tape_and_gets_no_gradient(name: str) -> None:
    ids = tt.tensor(_data(np.int64), np.int64).leaky_trace()
    y = SHAPE_OPS[name][0](ids)
    assert y.traced
    assert y.dtype == np.dtype(np.int64)


def test_attention_mask_unsqueezed_and_broadcast_for_masked_fill() -> None:
    """A (T, S) mask, True where a query may not see a key, applied to (B, H, T, S) scores as PyTorch does."""
    b, h, t, s = 2, 3, 4, 5
    mask = tt.ones((t, s), np.bool_).triu(1)
    full = mask.unsqueeze(0).unsqueeze(0).broadcast_to((b, h, t, s))
    assert full.shape == (b, h, t, s)
    assert full.dtype == np.dtype(np.bool_)
    scores = tt.tensor(np.random.default_rng(0).standard_normal((b, h, t, s)), np.float64).leaky_trace()
    filled = scores.masked_fill(full, -1e9)
    want = np.where(np.triu(np.ones((t, s), bool), 1), -1e9, scores.numpy())
    np.testing.assert_array_equal(filled.numpy(), want)
    g = filled.sum().backward().get(scores)
    np.testing.assert_array_equal(g.numpy(), np.broadcast_to(~np.triu(np.ones((t, s), bool), 1), (b, h, t, s)))


def test_a_batched_mask_reshaped_for_the_heads() -> None:
    """A (B, T, S) mask as (B, 1, T, S), then broadcast over the heads."""
    m = np.random.default_rng(1).random((2, 4, 5)) > 0.5
    full = tt.tensor(m).reshape((2, 1, 4, 5)).broadcast_to((2, 3, 4, 5))
    np.testing.assert_array_equal(full.numpy(), np.broadcast_to(m[:, None], (2, 3, 4, 5)))


COMPUTING: dict[str, Op] = {
    "exp": lambda m: m.exp(),
    "sum": lambda m: m.sum(),
    "add": lambda m: m + m,
    "sub": lambda m: m - m,
    "matmul": lambda m: m @ m.transpose(),
    "softmax": lambda m: m.softmax(-1),
    "log_softmax": lambda m: m.log_softmax(-1),
}


@pytest.mark.parametrize("name", list(COMPUTING))
def test_ops_that_compute_still_refuse_a_mask_checks_on_or_off(name: str) -> None:
    """Their kernels compute (NumPy's bool arithmetic is logic, not numbers); ``m - m``, softmax and log_softmax
    were NumPy's own TypeError before."""
    m: Any = tt.tensor(_data(np.bool_))
    for checks in (True, False):
        with tt.checks(checks), pytest.raises(tt.DTypeError, match="bool"):
            COMPUTING[name](m)


def test_shape_errors_are_the_same_for_a_mask() -> None:
    m = tt.tensor(_data(np.bool_))
    for checks in (True, False):
        with tt.checks(checks):
            with pytest.raises(tt.ShapeError, match="cannot view shape"):
                m.reshape((5, 5))
            with pytest.raises(tt.ShapeError, match="cannot broadcast"):
                m.broadcast_to((3, 6))
            with pytest.raises(tt.ShapeError, match="has size 2, expected 1"):
                m.squeeze(0)
            with pytest.raises(tt.ShapeError, match="out of range"):
                m.transpose(0, 2)
