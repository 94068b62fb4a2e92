"""float16 BatchNorm gradients that pass float16's range: IEEE inf without a raw NumPy warning, and an
optimizer that refuses to write them into the parameters (found by the PyTorch port's half-overflow case)."""

from __future__ import annotations

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn
from typedtensor.optim import SGD, OptimizerError


def test_a_float16_bias_gradient_beyond_65504_is_inf_and_the_optimizer_refuses_it() -> None:
    bn = nn.BatchNorm2D(2, dtype=np.float16)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 2, 150, 150)).astype(np.float16))
    grads = bn.alloc_grads()
    y = bn.forward_mut(x.trace(grads))
    g = y.sum().backward()  # d(sum)/dy = 1: dbias = 90000 values per channel summed, over float16's max
    assert bn.bias is not None
    assert np.isinf(g.get(bn.bias).numpy()).all()
    before = np.array(bn.bias.numpy())
    with pytest.raises(OptimizerError, match="bias"):
        SGD(bn, lr=0.1).update(bn, g)
    np.testing.assert_array_equal(bn.bias.numpy(), before)
