"""Constructors, conversion and introspection."""

from __future__ import annotations

from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import NoneTape, Tensor


def test_zeros_ones_full_default_float32_and_dtype_argument() -> None:
    for make in (tt.zeros, tt.ones):
        t = make((2, 3))
        assert t.shape == (2, 3)
        assert t.dtype == np.float32
        assert not t.traced
        assert make((2,), np.float64).dtype == np.float64
        assert make((2,), np.float16).dtype == np.float16
    f = tt.full((2, 2), 1.5, np.float64)
    assert f.dtype == np.float64
    assert np.all(f.numpy() == 1.5)
    assert tt.zeros(()).shape == ()
    assert tt.zeros((0, 3)).shape == (0, 3)


def test_randn_is_seeded() -> None:
    a = tt.randn((3, 4), seed=0)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), tt.randn((3, 4), seed=0).numpy())
    assert not np.array_equal(a.numpy(), tt.randn((3, 4), seed=1).numpy())
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(
        tt.randn((2,), np.float64, seed=rng).numpy(), np.random.default_rng(5).standard_normal((2,))
    )


def test_tensor_dtype_rules() -> None:
    assert tt.tensor([1.0, 2.0]).dtype == np.float32  # Python data: float32, as PyTorch
    assert tt.tensor([1, 2]).dtype == np.float32
    assert tt.tensor(np.zeros(2)).dtype == np.float64  # a float array keeps its dtype
    assert tt.tensor(np.zeros(2, np.float16)).dtype == np.float16
    assert tt.tensor(np.arange(3)).dtype == np.float32  # integer arrays become float32
    assert tt.tensor([1, 2], np.float64).dtype == np.float64
    assert tt.tensor(np.array([True, False])).dtype == np.bool_
    assert tt.tensor(2.5).shape == ()


def test_tensor_copies_its_input_and_numpy_is_a_read_only_view() -> None:
    src = np.zeros(3)
    t = tt.tensor(src)
    src[0] = 1
    assert t.numpy()[0] == 0
    view = t.numpy()
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 5
    copy = np.array(t)
    copy[0] = 5
    assert t.numpy()[0] == 0


def test_annotated_construction_and_introspection() -> None:
    a: Tensor[tuple[L[2], L[3]], np.float32, NoneTape] = tt.zeros((2, 3))
    assert a.ndim == 2
    assert a.shape == (2, 3)
    assert tt.zeros((1,)).item() == 0.0
    with pytest.raises(tt.ShapeError, match="one element"):
        a.item()


def test_rank_aliases_are_tensor_hints_at_run_time() -> None:
    hint: Any = tt.Rank2[L[2], L[3], np.float32, NoneTape]
    assert isinstance(tt.zeros((2, 3)), hint)
    assert not isinstance(tt.zeros((3, 2)), hint)
