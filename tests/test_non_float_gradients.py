"""Integer and bool tensors never get a gradient (issue 12 A2): they can carry a tape (``ids.trace(grads)``)
into the ops that read them, but ``Gradients`` refuses to allocate one for them (a zero integer
"gradient" would be kept and returned as if it meant something, where PyTorch refuses ``requires_grad``
on an integer tensor: a DTypeError), and asking for theirs (the TapeError of a missing gradient) says why
none exists instead of advising ``leaky_trace`` or ``alloc``, which cannot help. Checks on and off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import DTypeError, nn

NON_FLOAT = [
    pytest.param(np.array([1, 2, 2]), np.int64, id="int64"),
    pytest.param(np.array([1, 2, 2], np.uint8), np.uint8, id="uint8"),
    pytest.param(np.array([True, False, True]), None, id="bool"),
]


@pytest.fixture(params=[True, False], ids=["checks-on", "checks-off"])
def checks(request: pytest.FixtureRequest) -> Iterator[bool]:
    with tt.checks(request.param):
        yield request.param


@pytest.mark.parametrize(("values", "dtype"), NON_FLOAT)
def test_alloc_refuses_an_integer_or_bool_tensor(checks: bool, values: Any, dtype: Any) -> None:
    t = tt.tensor(values) if dtype is None else tt.tensor(values, dtype)
    grads = tt.Gradients()
    with pytest.raises(DTypeError, match=r"never gets a gradient.*trace\(grads\) without allocating"):
        grads.alloc(t)
    assert len(grads) == 0  # nothing half-done


def test_traced_ids_get_no_gradient_and_asking_says_why(checks: bool) -> None:
    emb = nn.Embedding[L[5], L[3]](5, 3, seed=0)
    grads = emb.alloc_grads()
    ids = tt.tensor(np.array([1, 2, 2]), np.int64).realize((3,))
    result = emb.forward_mut(ids.trace(grads)).sum().backward()
    assert result.get(emb.weight).numpy()[2, 0] == 2.0  # the table's gradient is there
    with pytest.raises(tt.TapeError, match=r"int64 tensor .*never gets one"):
        result.get(ids)


def test_a_float_tensor_without_a_gradient_keeps_the_tape_advice(checks: bool) -> None:
    x = tt.tensor(np.ones(3))
    with pytest.raises(tt.TapeError, match="leaky_trace"):
        tt.Gradients().get(x)
