"""``x.retaped(like)``: an untraced tensor on a traced tensor's tape.

Position ids built inside a model carry no tape; retaped onto the traced input they carry its tape into
``Embedding.forward_mut``, whose table then trains as PyTorch's ``x + pos(torch.arange(T))`` does. A float
tensor retaped is a leaf of that tape (its gradient kept only if a Gradients of the tape allocated it); a
traced self, an untraced or non-tensor like and a consumed tape are refused with checks on and off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
import typedtensor.extend as ext
from tests.fd import numeric_gradient
from typedtensor import nn

Array = NDArray[Any]
B, T, P, D = 3, 5, 7, 4  # batch, sequence, table rows (P > T: rows T.. are never read), features


def _inputs() -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((B, T, D)), rng.standard_normal((P, D)), rng.standard_normal((B, T, D))


def _ours(x: Array, table: Array, w: Array, grads_of_x: bool = True) -> tuple[Array, Array | None]:
    """The gradients of sum((x + pos(arange(T))) * w) for the table and x, positions retaped onto x."""
    pos = nn.Embedding(P, D, dtype=np.float64, seed=0)
    pos.load_state_dict({"weight": table})
    grads = pos.alloc_grads()
    xs = tt.tensor(x, np.float64)
    if grads_of_x:
        grads.alloc(xs)
    xt = xs.trace(grads)
    ids = tt.tensor(np.arange(T), np.int64).retaped(xt)
    y = xt + pos.forward_mut(ids).broadcast_to(xt.shape)
    result = (y * tt.tensor(w, np.float64)).sum().backward()
    gx = result.get(xs).numpy() if grads_of_x else None
    return result.get(pos.weight).numpy(), gx


def test_retaped_positions_train_the_table_as_torch_does() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: the numeric test covers retaped positions")
    x, table, w = _inputs()
    pos = torch.nn.Embedding(P, D, dtype=torch.float64)
    with torch.no_grad():
        pos.weight.copy_(torch.from_numpy(table))
    xt = torch.tensor(x, requires_grad=True)
    ((xt + pos(torch.arange(T))) * torch.from_numpy(w)).sum().backward()
    g_table, g_x = _ours(x, table, w)
    assert g_x is not None
    assert pos.weight.grad is not None
    assert xt.grad is not None
    np.testing.assert_allclose(g_table, pos.weight.grad.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(g_x, xt.grad.numpy(), rtol=1e-12, atol=0)
    assert np.all(g_table[T:] == 0)
    assert np.all(g_table[:T] != 0)


def test_retaped_positions_match_finite_differences() -> None:
    x, table, w = _inputs()

    def loss(values: list[Array]) -> float:
        return float(np.sum((x + values[0][np.arange(T)]) * w))

    expected = numeric_gradient(loss, [table.copy()], 0)
    g_table, _ = _ours(x, table, w, grads_of_x=False)
    np.testing.assert_allclose(g_table, expected, rtol=1e-8, atol=1e-9)


def test_untraced_positions_are_the_gap_retaped_closes() -> None:
    # Without retaped the ids carry no tape: the embedding's output is untraced and its table gets nothing.
    pos = nn.Embedding(P, D, dtype=np.float64, seed=0)
    grads = pos.alloc_grads()
    xt = tt.zeros((B, T, D), np.float64).trace(grads)
    plain: tt.Tensor[Any, Any, Any] = pos.forward_mut(tt.tensor(np.arange(T), np.int64))
    assert not plain.traced
    (xt + plain.broadcast_to(xt.shape)).sum().backward()
    assert np.all(grads.get(pos.weight).numpy() == 0)
    retaped: tt.Tensor[Any, Any, Any] = pos.forward_mut(
        tt.tensor(np.arange(T), np.int64).retaped(xt.detach().trace(grads))
    )
    assert retaped.traced


def test_the_result_shares_self_and_keeps_its_identity() -> None:
    ids = tt.tensor(np.array([[2, 0], [1, 1]]), np.int32)
    on = ids.retaped(tt.zeros((3,)).leaky_trace())
    assert on.traced
    assert not ids.traced
    assert on.shape == (2, 2)
    assert on.dtype == np.int32
    np.testing.assert_array_equal(on.numpy(), ids.numpy())
    assert ext.tensor_id(on) == ext.tensor_id(ids)  # as trace(): grads.get(ids) names both


def test_a_float_tensor_retaped_is_a_leaf_kept_only_when_allocated() -> None:
    grads = tt.Gradients()
    xs = tt.tensor(np.array([1.0, 2.0, 3.0]), np.float64)
    kept = tt.tensor(np.array([4.0, 5.0, 6.0]), np.float64)
    other = tt.tensor(np.array([7.0, 8.0, 9.0]), np.float64)
    grads.alloc(xs)
    grads.alloc(kept)
    xt = xs.trace(grads)
    ((xt * kept.retaped(xt)) * other.retaped(xt)).sum().backward()
    np.testing.assert_array_equal(grads.get(kept).numpy(), xs.numpy() * other.numpy())
    np.testing.assert_array_equal(grads.get(xs).numpy(), kept.numpy() * other.numpy())
    assert other not in grads  # a constant of that tape: not allocated, not kept
    # a leaky tape keeps every gradient, that of a retaped leaf too
    leaky = tt.tensor(np.array([1.0, 2.0]), np.float64).leaky_trace()
    c = tt.tensor(np.array([3.0, 4.0]), np.float64)
    g = (leaky * c.retaped(leaky)).sum().backward()
    np.testing.assert_array_equal(g.get(c).numpy(), [1.0, 2.0])


def test_retaped_onto_a_merged_tape_reaches_every_gradients() -> None:
    g1, g2 = tt.Gradients(), tt.Gradients()
    a, b, c = (tt.tensor(np.array([v, v]), np.float64) for v in (1.0, 2.0, 3.0))
    g1.alloc(a)
    g2.alloc(c)
    at, bt = a.trace(g1), b.trace(g2)
    ab = at + bt  # merges the two tapes; bt's tape object is no longer the root
    loss = (ab * c.retaped(bt)).sum()
    loss.backward()
    np.testing.assert_array_equal(g1.get(a).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(g2.get(c).numpy(), [3.0, 3.0])


@pytest.mark.parametrize("checks", [True, False])
def test_a_consumed_tape_is_refused(checks: bool) -> None:
    xt = tt.zeros((2,)).leaky_trace()
    xt.sum().backward()
    ids = tt.tensor(np.arange(2), np.int64)
    with tt.checks(checks), pytest.raises(tt.TapeError, match=r"consumed by backward\(\).*trace the inputs again"):
        ids.retaped(xt)


@pytest.mark.parametrize("checks", [True, False])
def test_a_traced_self_or_an_untraced_like_is_a_tape_error_with_the_fix(checks: bool) -> None:
    ids: Any = tt.tensor(np.arange(3), np.int64)
    xt = tt.zeros((3,)).leaky_trace()
    with tt.checks(checks):
        with pytest.raises(tt.TapeError, match=r"detach\(\)"):
            ids.leaky_trace().retaped(xt)
        with pytest.raises(tt.TapeError, match=r"trace\(grads\)"):
            ids.retaped(tt.zeros((3,)))


@pytest.mark.parametrize("checks", [True, False])
def test_a_non_tensor_like_or_a_bool_self_is_a_dtype_error(checks: bool) -> None:
    ids: Any = tt.tensor(np.arange(3), np.int64)
    xt = tt.zeros((3,)).leaky_trace()
    with tt.checks(checks):
        with pytest.raises(tt.DTypeError, match="Tensor"):
            ids.retaped(np.zeros(3))
        with pytest.raises(tt.DTypeError, match="bool"):
            (ids > 0).retaped(xt)
