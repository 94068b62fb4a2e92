"""Tape semantics (dfdx): trace vs leaky_trace, the merge rule, accumulation, freeing, misuse."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import Gradients


def _t(values: list[float]) -> tt.Tensor[tuple[int], np.float64, tt.NoneTape]:
    return tt.tensor(np.array(values), np.float64).realize((len(values),))


def test_leaky_trace_keeps_input_and_intermediate_gradients() -> None:
    a = _t([1.0, -2.0, 3.0])
    at = a.leaky_trace()
    h = at * 2.0
    loss = h.relu().sum()
    grads = loss.backward()
    np.testing.assert_array_equal(grads.get(a).numpy(), [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(grads.get(h).numpy(), [1.0, 0.0, 1.0])
    assert grads.get(at).shape == (3,)  # the traced tensor shares its source's identity


def test_trace_keeps_only_allocated_tensors() -> None:
    w = _t([1.0, 2.0, 3.0])
    x = _t([4.0, 5.0, 6.0])
    grads = Gradients()
    grads.alloc(w)
    h = x.trace(grads) * w
    loss = h.sum()
    assert loss.backward() is grads
    np.testing.assert_array_equal(grads.get(w).numpy(), [4.0, 5.0, 6.0])  # an untraced parameter
    with pytest.raises(tt.TapeError, match="no gradient is stored"):
        grads.get(x)
    with pytest.raises(tt.TapeError, match="no gradient is stored"):
        grads.get(h)


def test_allocated_gradients_accumulate_until_zeroed() -> None:
    w = _t([1.0, 2.0])
    x = _t([3.0, 4.0])
    grads = Gradients()
    grads.alloc(w)
    for _ in range(2):
        (x.trace(grads) * w).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [6.0, 8.0])
    grads.zero()
    np.testing.assert_array_equal(grads.get(w).numpy(), [0.0, 0.0])
    assert len(grads) == 1
    assert w in grads
    assert x not in grads


def test_binary_op_merges_tapes_and_writes_every_gradients() -> None:
    """Rule: the result is traced if either input is; two tapes merge into one history, and
    backward writes into every Gradients either tape started with."""
    a, b = _t([1.0, 2.0]), _t([3.0, 4.0])
    ga, gb = Gradients(), Gradients()
    ga.alloc(a)
    gb.alloc(b)
    at, bt = a.trace(ga), b.trace(gb)
    ha = at.square()  # recorded on a's tape
    hb = bt.exp()  # recorded on b's tape
    loss = (ha * hb).sum()
    assert loss.traced
    merged = loss.backward()
    np.testing.assert_allclose(ga.get(a).numpy(), 2 * a.numpy() * np.exp(b.numpy()))
    np.testing.assert_allclose(gb.get(b).numpy(), a.numpy() ** 2 * np.exp(b.numpy()))
    assert a not in gb  # each store keeps its own tensors
    assert b not in ga
    np.testing.assert_array_equal(merged.get(a).numpy(), ga.get(a).numpy())  # the result answers for both
    np.testing.assert_array_equal(merged.get(b).numpy(), gb.get(b).numpy())


def test_merged_gradients_do_not_depend_on_operand_order() -> None:
    a, b = _t([1.0, 2.0]), _t([3.0, 4.0])
    for order in (0, 1):
        ga = Gradients()
        ga.alloc(a)
        at, bt = a.trace(ga), b.leaky_trace()
        loss = ((at * bt) if order == 0 else (bt * at)).sum()
        grads = loss.backward()
        np.testing.assert_array_equal(grads.get(a).numpy(), b.numpy())
        np.testing.assert_array_equal(grads.get(b).numpy(), a.numpy())


def test_gradients_get_returns_a_snapshot() -> None:
    w = _t([1.0, 2.0])
    grads = Gradients()
    grads.alloc(w)
    (w.leaky_trace() * 0.0 + w).sum()  # unrelated tape
    (_t([3.0, 4.0]).trace(grads) * w).sum().backward()
    snapshot = grads.get(w)
    grads.zero()
    np.testing.assert_array_equal(snapshot.numpy(), [3.0, 4.0])


def test_traced_with_untraced_operand_keeps_tape_either_side() -> None:
    a, c = _t([1.0, 2.0]), _t([5.0, 7.0])
    at = a.leaky_trace()
    for out in (at + c, c + at, c * at, tt.where(c > 6.0, at, c)):
        assert out.traced
    assert not (c + c).traced


def test_shared_subexpression_gradients_add_up() -> None:
    a = _t([1.0, 2.0])
    at = a.leaky_trace()
    h = at.square()
    loss = (h + h * 3.0).sum()  # d/da (4 a^2) = 8a
    np.testing.assert_allclose(loss.backward().get(a).numpy(), [8.0, 16.0])


def test_backward_consumes_the_tape() -> None:
    at = _t([1.0]).leaky_trace()
    h = at.exp()
    h.sum().backward()
    with pytest.raises(tt.TapeError, match="consumed by backward"):
        h.sum().backward()
    with pytest.raises(tt.TapeError, match="consumed"):
        _ = h + _t([1.0]).leaky_trace()


def test_backward_needs_scalar_traced_loss_at_run_time() -> None:
    a = _t([1.0, 2.0])
    with pytest.raises(tt.TypedTensorError, match="OwnedTape"):
        a.sum().backward()  # type: ignore[misc]
    with pytest.raises(tt.TypedTensorError, match="rank is 1 but 0 is expected"):
        a.leaky_trace().backward()  # type: ignore[misc]


def test_backward_frees_saved_buffers() -> None:
    at = tt.zeros((1000,), np.float64).leaky_trace()
    h = at.exp()
    saved = weakref.ref(h._data)  # exp saves its output for the backward
    loss = h.sum()
    del h
    gc.collect()
    assert saved() is not None  # still held by the tape
    grads = loss.backward()
    assert grads.leaky
    gc.collect()
    # with a leaky tape the gradient of h is kept, but the op's saved output is released
    assert saved() is None


def test_non_leaky_backward_drops_intermediate_gradients() -> None:
    x = _t([1.0, 2.0])
    grads = Gradients()
    grads.alloc(x)
    h = x.trace(grads).exp()
    (h * 2.0).sum().backward()
    assert h not in grads
    assert x in grads


def test_detach_cuts_the_tape() -> None:
    a = _t([1.0, 2.0])
    at = a.leaky_trace()
    loss = (at * at.detach()).sum()  # d/da (a * const(a)) = a
    np.testing.assert_allclose(loss.backward().get(a).numpy(), [1.0, 2.0])


def test_unreached_parameter_reports_zero_when_allocated() -> None:
    w = _t([1.0, 2.0])
    grads = Gradients()
    grads.alloc(w)
    (_t([3.0]).trace(grads) * 2.0).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [0.0, 0.0])


def test_astype_gradient_is_cast_back() -> None:
    a = _t([1.0, 2.0])
    loss = (a.leaky_trace().astype(np.float32) * 3.0).sum()
    g = loss.backward().get(a)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0])


def test_repr_shows_shape_dtype_and_tape() -> None:
    a = tt.zeros((2, 3))
    assert repr(a).startswith("Tensor[(2, 3), float32, NoneTape]")
    assert "OwnedTape" in repr(a.leaky_trace())
    assert "Gradients(" in repr(Gradients())
