"""The NumPy BatchNorm kernels' per-channel sums (over N, then along L) on the short-row paths match float64 sums."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from typedtensor.nn import _bn_numpy as bn

#: Short rows (L < 64, any size), small tensors (<= 32768 values), a 1-D BatchNorm's L = 1, an empty batch, a tiny
#: tensor (one reduce call).
SHAPES = [(64, 64, 16), (5, 3, 70), (7, 4, 1), (0, 4, 3), (4, 3, 64)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_short_path_sums_are_float64_sums(shape: tuple[int, int, int], dtype: type[Any]) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 100).astype(dtype)  # a large mean: centring must hold the variance
    g = rng.standard_normal(shape).astype(dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    sums = bn.channel_sums(x)
    assert sums.dtype == np.float64
    np.testing.assert_allclose(sums, x64.sum(axis=(0, 2)), rtol=1e-13, atol=1e-13)
    if shape[0] == 0:
        return
    mean, var = bn.stats(x)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-13)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-9)
    sg, sgd = bn.grad_sums(g, x, mean)
    np.testing.assert_allclose(sg, g64.sum(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sgd, (g64 * (x64 - mean[:, None])).sum(axis=(0, 2)), rtol=1e-9, atol=1e-9)
    if bn.is_small(x):
        out, m2, v2, save = bn.train_small(x, None, None, 1e-5)
        np.testing.assert_allclose(m2, mean, rtol=1e-13)
        np.testing.assert_allclose(v2, var, rtol=1e-12)
        expected = (x64 - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
        np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
        _, dscale, dbias = bn.backward_small(g, save)
        np.testing.assert_allclose(dbias, g64.sum(axis=(0, 2)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dscale, (g64 * expected).sum(axis=(0, 2)), rtol=1e-6, atol=1e-6)
