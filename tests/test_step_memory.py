"""What a training step holds: saved activations are released when no backward needs them.

Each test fails on a version that kept one more buffer alive (a ReLU closing over its input, BatchNorm over
its output). Buffers are followed with weak references to the arrays that own the memory; nothing is timed.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.nn import _bn_backend


def _owner(t: tt.Tensor[Any, Any, Any]) -> weakref.ref[np.ndarray[Any, Any]]:
    """A weak reference to the array owning ``t``'s memory (a view's base: the view alone may die first)."""
    data = ext.data(t)
    base = data.base
    owner = data if base is None else base
    assert isinstance(owner, np.ndarray)
    return weakref.ref(owner)


def test_relu_backward_keeps_the_output_not_the_input() -> None:
    grads = tt.Gradients()
    x = tt.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), np.float64).realize((3, 4))
    grads.alloc(x)
    h = x.trace(grads) * 2.0  # an intermediate only h holds
    held = _owner(h)
    y = h.relu()
    del h
    gc.collect()
    assert held() is None  # the ReLU's input is freed after the forward
    y.sum().backward()
    np.testing.assert_array_equal(grads.get(x).numpy(), np.where(x.numpy() > 0, 2.0, 0.0))


def test_relu_gradient_is_zero_at_zero_negative_zero_and_nan() -> None:
    grads = tt.Gradients()
    x = tt.tensor(np.array([-1.0, -0.0, 0.0, 1e-300, np.nan, np.inf, -np.inf]), np.float64).realize((7,))
    grads.alloc(x)
    x.trace(grads).relu().sum().backward()
    np.testing.assert_array_equal(grads.get(x).numpy(), [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("backend", _bn_backend.available())
def test_batchnorm_without_fused_relu_does_not_keep_its_output(backend: str) -> None:
    before = _bn_backend.current()
    _bn_backend.use(backend)
    try:
        for shape in [(4, 3, 5, 5), (64, 3, 32, 32)]:  # the small fused kernels and the general path
            bn = nn.BatchNorm2D(3)
            grads = bn.alloc_grads()
            x = tt.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
            out = bn.forward_mut(x.trace(grads))
            held = _owner(out)
            y = out.relu()  # keeps its own output; nothing else should keep BatchNorm's
            del out
            gc.collect()
            assert held() is None, shape
            y.sum().backward()
            assert bn.scale is not None
            assert np.isfinite(grads.get(bn.scale).numpy()).all()
    finally:
        _bn_backend.use(before)
