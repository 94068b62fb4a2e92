"""What a training step holds: saved activations are released when no backward needs them, and a
backward's work buffers stay small beside the gradient it returns.

Each test fails on a version that kept one more buffer alive (a ReLU closing over its input, BatchNorm over
its output) or allocated whole-size work copies (the narrow max-pool backward). Buffers are followed with
weak references to the arrays that own the memory, allocations with tracemalloc; nothing is timed.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.nn import _bn_backend


def _peak(call: Callable[[], object]) -> int:
    """Peak bytes allocated during ``call()`` (tracemalloc: NumPy's arrays included)."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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


def test_narrow_max_pool_backward_allocates_about_its_gradient() -> None:
    """A 2x2 pool to 8x8 (the (H, W, N*C) path) on 8 MiB of input: dx and chunk-sized work buffers (about
    1.5 MiB), not whole transposed copies of x, dx, y and g besides dx (about 3.9 times the input)."""
    from typedtensor._ops import pool as pool_kernel

    x = np.random.default_rng(0).standard_normal((128, 64, 16, 16)).astype(np.float32)
    y, bwd = pool_kernel.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    pool_kernel._kept.buffers.clear()  # work arrays kept from earlier calls would not be counted
    out: list[Any] = []
    peak = _peak(lambda: out.extend(bwd(g, (True,))))
    (dx,) = out
    assert dx is not None
    assert np.count_nonzero(dx) == y.size  # one maximum per window here
    assert peak < 1.6 * x.nbytes, peak / x.nbytes


def test_wide_max_pool_backward_with_ties_allocates_about_its_gradient() -> None:
    """A 2x2 pool to 16x16 after a ReLU (windows tie at 0: the NCHW block loop) on 16 MiB of input: dx and
    masks of a chunk of images, not masks and picked values of the whole output (another 0.375x the input)."""
    from typedtensor._ops import pool as pool_kernel

    x = np.maximum(np.random.default_rng(0).standard_normal((256, 16, 32, 32)), 0).astype(np.float32)
    y, bwd = pool_kernel.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    out: list[Any] = []
    peak = _peak(lambda: out.extend(bwd(g, (True,))))
    (dx,) = out
    assert dx is not None
    assert np.count_nonzero(dx) <= y.size
    assert peak < 1.25 * x.nbytes, peak / x.nbytes


def test_relu_backward_allocates_its_gradient_and_one_block_of_mask() -> None:
    """g * (y > 0) with a mask of y's size takes another quarter of the gradient (float32); block by block
    the mask is 64 KiB, and the products are the same bits (NaN and -0.0 included)."""
    from typedtensor._ops import elementwise as ew

    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 256, 256)).astype(np.float32)
    a.flat[::7], a.flat[1::11] = np.nan, -0.0
    g = rng.standard_normal(a.shape).astype(np.float32)
    g.flat[::5], g.flat[2::9] = np.nan, -0.0
    _y, bwd = ew.relu(a)  # the output stays alive: the backward reads it
    out: list[Any] = []
    peak = _peak(lambda: out.extend(bwd(g, (True,))))
    (dx,) = out
    assert dx is not None
    np.testing.assert_array_equal(dx.view(np.uint32), (g * (a > 0)).view(np.uint32))
    assert peak < 1.1 * g.nbytes, peak / g.nbytes


def test_adamw_update_holds_five_arrays_of_a_parameter_at_most() -> None:
    """One AdamW step of a 192 KiB weight: the decayed weight, the new moments, the denominator and the new
    value (5x the weight) at most; one fresh array per operation peaked at 6x (NumPy reuses the temporaries
    of an expression in place only for arrays of 256 KiB or more). Bit-identical to the formula."""
    lin = nn.Linear(256, 192, bias=False, seed=0)
    grads = lin.alloc_grads()
    opt = tt.optim.AdamW(lin, lr=1e-3, weight_decay=1e-2)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32))

    def step() -> int:
        lin.zero_grads(grads)
        y: tt.Tensor[Any, Any, tt.OwnedTape] = lin.forward_mut(x.trace(grads))
        y.square().mean().backward()
        return _peak(lambda: opt.update(lin, grads))

    step()
    w = lin.weight.numpy().copy()
    peak = step()  # the second update has its moments already: only the step's own arrays count
    assert peak < 5.5 * w.nbytes, peak / w.nbytes
    b1, b2, lr, wd, eps = 0.9, 0.999, 1e-3, 1e-2, 1e-8
    state = opt._state["weight"]
    m, v = state.exp_avg, state.exp_avg_sq
    want = w * (1.0 - lr * wd) + (-(lr / (1.0 - b1**2)) * m) / (np.sqrt(v) / (1.0 - b2**2) ** 0.5 + eps)
    np.testing.assert_array_equal(lin.weight.numpy(), want)
