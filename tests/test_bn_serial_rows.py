"""The numba row kernels' serial twins give the parallel kernels' bits (the size between ``_ROWS_MIN`` and
``_PARALLEL_MIN`` picks one or the other, so moving that threshold must not change a result): statistics,
the affine pass, the backward's sums and its combine, for float32 and float64, through the public layer
(training forward and backward, inference) and kernel by kernel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn
from typedtensor.nn import _bn_backend

pytestmark = pytest.mark.skipif("numba" not in _bn_backend.available(), reason="numba is not installed")


def _numba() -> Any:
    from typedtensor.nn import _bn_numba

    return _bn_numba


def _step(dtype: Any, x: np.ndarray[Any, Any], g: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """A training forward and backward and an inference of a fresh BatchNorm2D: y, dx, dscale, dbias, inference y."""
    bn: Any = nn.BatchNorm2D(x.shape[1], dtype=dtype)
    # uneven scale and bias (a fresh module has 1 and 0), so every coefficient matters
    bn.load_state_dict(
        {"scale": np.linspace(0.5, 2.0, x.shape[1]), "bias": np.linspace(-1, 1, x.shape[1])}, strict=False
    )
    grads = bn.alloc_grads()
    xt = tt.tensor(x, dtype)
    grads.alloc(xt)
    y = bn.forward_mut(xt.trace(grads))
    (y * tt.tensor(g, dtype)).sum().backward()
    inferred = bn.forward(tt.tensor(x, dtype))
    return [y.numpy(), grads.get(xt).numpy(), grads.get(bn.scale).numpy(), grads.get(bn.bias).numpy(), inferred.numpy()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serial_row_kernels_give_the_parallel_bits(dtype: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _bn_backend.current()
    _bn_backend.use("numba")
    try:
        m = _numba()
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((6, 5, 17, 23)) * 3 + 40).astype(dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        monkeypatch.setattr(m, "_ROWS_MIN", 0)
        monkeypatch.setattr(m, "_ROWS_MIN_INFER", 0)
        serial = _step(dtype, x, g)
        monkeypatch.setattr(m, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(m, "_PARALLEL_MIN_INFER", 0)
        parallel = _step(dtype, x, g)
        monkeypatch.setattr(m, "_ROWS_MIN", 1 << 40)
        monkeypatch.setattr(m, "_ROWS_MIN_INFER", 1 << 40)
        monkeypatch.setattr(m, "_PARALLEL_MIN", 1 << 40)
        monkeypatch.setattr(m, "_PARALLEL_MIN_INFER", 1 << 40)
        fused = _step(dtype, x, g)  # the whole-direction serial kernels: another summation order
    finally:
        _bn_backend.use(before)
    for s, p, f in zip(serial, parallel, fused, strict=True):
        np.testing.assert_array_equal(s, p)
        np.testing.assert_allclose(s, f, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_serial_row_kernel_matches_its_parallel_twin(dtype: Any) -> None:
    m = _numba()
    rng = np.random.default_rng(1)
    rows = (rng.standard_normal((37, 301)) * 2 + 5).astype(dtype)
    g = rng.standard_normal(rows.shape).astype(dtype)
    c = 37  # one channel per row: every coefficient differs
    a, b, k = (rng.standard_normal(c).astype(dtype) for _ in range(3))
    mean = rng.standard_normal(c)
    outs: list[tuple[np.ndarray[Any, Any], ...]] = []
    for moments, affine, sums, combine in (
        (m._row_moments, m._row_affine, m._row_grad_sums, m._row_combine),
        (m._row_moments_serial, m._row_affine_serial, m._row_grad_sums_serial, m._row_combine_serial),
    ):
        shift, s1, s2, sg, sgd = (np.empty(37) for _ in range(5))
        y, dx = np.empty_like(rows), np.empty_like(rows)
        moments(rows, shift, s1, s2)
        affine(rows, a, b, y)
        sums(g, rows, mean, sg, sgd)
        combine(g, rows, a, b, k, dx)
        outs.append((shift, s1, s2, y, sg, sgd, dx))
    for p, s in zip(*outs, strict=True):
        np.testing.assert_array_equal(p, s)
