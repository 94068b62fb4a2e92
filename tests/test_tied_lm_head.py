# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""A language model's output layer tied to its token embedding (issue 12 A3's motivating case).

The PyTorch habit ``logits = h @ tok.weight.T`` does not carry over as written: ``tok.weight.transpose()``
of the untraced parameter is an untraced tensor of its own (a new id), so the traced ``h @ ...`` would
compute the gradient of that transposed copy, which nothing allocated, and none for ``tok.weight``. It is
a TapeError naming the fixes (README, Tapes and gradients), not a silently missing gradient. The two ways
that train the tied table are pinned here against torch: a ``Linear`` head whose ``weight`` is the
embedding's, and the parameter retaped onto ``h``'s tape before the transpose; ``detach()`` says that a
constant head is meant. tests/test_parameter_copies.py covers the other ops and the silent legitimate uses.
"""

from __future__ import annotations

from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn

torch: Any = pytest.importorskip("torch", reason="the comparisons are with torch")
IDS = np.array([[1, 2, 2, 0], [4, 4, 3, 1]], np.int64)


def _torch_grad(w: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    tw = torch.tensor(w, requires_grad=True)
    ((tw[torch.tensor(IDS)] @ tw.T).tanh() ** 2).sum().backward()
    assert tw.grad is not None
    grad: np.ndarray[Any, Any] = tw.grad.numpy()
    return grad


class LinearHead(nn.Module):
    def __init__(self) -> None:
        self.tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
        self.head = nn.Linear[L[3], L[5]](3, 5, bias=False, dtype=np.float64)
        self.head.weight = self.tok.weight  # minGPT's lm_head.weight = wte.weight


def test_a_linear_head_tied_to_the_embedding_gets_both_gradients_once() -> None:
    m = LinearHead()
    assert [n for n, _ in m.named_parameters()] == ["tok.weight"]
    assert m.num_trainable_params() == 15
    grads = m.alloc_grads()
    logits = m.head.forward_mut(m.tok.forward_mut(tt.tensor(IDS, np.int64).trace(grads)))
    g = (logits.tanh().square()).sum().backward()
    np.testing.assert_allclose(g.get(m.tok.weight).numpy(), _torch_grad(m.tok.weight.numpy()), rtol=1e-12)


def test_the_embedding_table_retaped_before_the_transpose_gets_both_gradients() -> None:
    tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
    grads = tok.alloc_grads()
    h = tok.forward_mut(tt.tensor(IDS, np.int64).trace(grads))
    g = ((h @ tok.weight.retaped(h).transpose()).tanh().square()).sum().backward()
    np.testing.assert_allclose(g.get(tok.weight).numpy(), _torch_grad(tok.weight.numpy()), rtol=1e-12)


@pytest.mark.parametrize("checks", [True, False], ids=["checks on", "checks off"])
def test_the_pytorch_habit_on_the_untraced_table_is_a_tape_error(checks: bool) -> None:
    """The trap: the head's gradient would go to the transposed copy and tok.weight would silently miss it."""
    tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
    grads = tok.alloc_grads()
    h = tok.forward_mut(tt.tensor(IDS, np.int64).trace(grads))
    with tt.checks(checks), pytest.raises(tt.TapeError, match=r"computed from a parameter this tape trains") as e:
        _ = h @ tok.weight.transpose()
    assert "w.retaped(h).transpose()" in str(e.value)
    assert "a Linear whose weight is w" in str(e.value)
    assert "w.detach().transpose()" in str(e.value)


def test_a_detached_table_is_a_constant_head() -> None:
    """``detach()`` says the head is a constant: only the embedding's gather reaches tok.weight."""
    tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
    w = tok.weight.numpy().copy()
    grads = tok.alloc_grads()
    h = tok.forward_mut(tt.tensor(IDS, np.int64).trace(grads))
    g = ((h @ tok.weight.detach().transpose()).tanh().square()).sum().backward()
    tw = torch.tensor(w, requires_grad=True)
    ((tw[torch.tensor(IDS)] @ torch.tensor(w).T).tanh() ** 2).sum().backward()  # the head's use as a constant
    assert tw.grad is not None
    np.testing.assert_allclose(g.get(tok.weight).numpy(), tw.grad.numpy(), rtol=1e-12)
