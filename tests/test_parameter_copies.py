# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""An untraced copy of a trained parameter used on its tape is a TapeError, not a silently dropped gradient.

An op of one tensor operand on an untraced parameter (``w.transpose()``, ``w[1:]``, ``2.0 * w``,
``w.reshape(...)``, chains of them) gives an untraced tensor with its own id. A traced op reading it would
compute the gradient of that copy, which nothing keeps, and ``w`` would silently miss it (PyTorch's
``h @ tok.weight.T``). The copy remembers the root it was computed from and the recorder refuses it when
a ``Gradients`` of the tape keeps that root; ``trace()`` and ``retaped()`` of such a copy too. Checks on
and off (a correctness check, not an annotation check), and with ``TYPEDTENSOR_CHECKS=0`` in a subprocess.
The legitimate uses of untraced tensors stay silent: constants and masks not computed from a kept tensor,
``w.detach()...``, a copy that is itself allocated, frozen parameters, leaky tapes, inference, training
steps with an optimizer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn, optim

ROOT = Path(__file__).resolve().parent.parent
IDS = np.array([[1, 2, 2, 0], [4, 4, 3, 1]], np.int64)
CHECKS = pytest.mark.parametrize("checks", [True, False], ids=["checks on", "checks off"])

#: Each: the head's right operand computed from the untraced table w (5, 3), for h (2, 4, 3) @ it.
COPIES: dict[str, Callable[[Any], Any]] = {
    "transpose": lambda w: w.transpose(),
    "index": lambda w: w[1:].transpose(),
    "scalar mul": lambda w: (2.0 * w).transpose(),
    "scalar div": lambda w: (w / 4.0).transpose(),
    "unary": lambda w: w.tanh().transpose(),
    "reshape": lambda w: w.reshape((3, 5)),
    "transpose then reshape": lambda w: w.transpose().reshape((15,)).reshape((3, 5)),
    "realize": lambda w: w.transpose().realize((3, 5)),
}


def _refused(copy: Callable[[Any], Any]) -> str:
    """The TapeError's message of ``h @ copy(tok.weight)`` with the embedding's table trained ("" if none)."""
    tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
    grads = tok.alloc_grads()
    h = tok.forward_mut(tt.tensor(IDS, np.int64).trace(grads))
    try:
        _ = h @ copy(tok.weight)
    except tt.TapeError as e:
        return str(e)
    return ""


@CHECKS
@pytest.mark.parametrize("name", list(COPIES))
def test_a_traced_op_reading_a_copy_of_a_trained_parameter_is_refused(name: str, checks: bool) -> None:
    with tt.checks(checks):
        message = _refused(COPIES[name])
    assert "computed from a parameter this tape trains" in message, message
    for fix in ("w.retaped(h).transpose()", "a Linear whose weight is w", "w.detach().transpose()"):
        assert fix in message, message


def test_the_copies_are_refused_without_the_checks_installed() -> None:
    code = (
        "import json, typedtensor as tt\n"
        "from tests.test_parameter_copies import COPIES, _refused\n"
        "assert not tt.checks_enabled()\n"
        "print(json.dumps({n: _refused(c) for n, c in COPIES.items()}))\n"
    )
    env = dict(os.environ, TYPEDTENSOR_CHECKS="0")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    results: dict[str, str] = json.loads(proc.stdout)
    assert set(results) == set(COPIES)
    silent = [n for n, m in results.items() if "computed from a parameter this tape trains" not in m]
    assert not silent, results


@CHECKS
def test_trace_and_retaped_of_a_copy_of_a_trained_parameter_are_refused(checks: bool) -> None:
    w = tt.randn((5, 3), seed=0)
    grads = tt.Gradients()
    grads.alloc(w)
    x = tt.randn((2, 5), seed=1).trace(grads)
    with tt.checks(checks):
        with pytest.raises(tt.TapeError, match="trace\\(\\) of an untraced tensor of shape \\(3, 5\\) computed"):
            w.transpose().trace(grads)
        with pytest.raises(tt.TapeError, match="retaped\\(\\) of an untraced tensor of shape \\(3, 5\\) computed"):
            w.transpose().retaped(x)
        y = x @ w.retaped(x)  # the parameter itself: trained
    g = y.sum().backward()
    np.testing.assert_allclose(g.get(w).numpy(), np.broadcast_to(x.numpy().sum(0)[:, None], (5, 3)))


@CHECKS
def test_a_parameter_computed_by_an_op_is_a_root_once_allocated(checks: bool) -> None:
    """``0.5 * randn`` remembers randn; alloc makes it a root, so its own transpose is refused."""
    w = 0.5 * tt.randn((5, 3), seed=0)
    grads = tt.Gradients()
    grads.alloc(w)
    x = tt.randn((2, 3), seed=1).trace(grads)
    with tt.checks(checks), pytest.raises(tt.TapeError, match="computed from a parameter this tape trains"):
        _ = x @ w.transpose()


@CHECKS
def test_constants_and_masks_not_computed_from_a_kept_tensor_stay_silent(checks: bool) -> None:
    w = tt.randn((3, 3), seed=0)
    grads = tt.Gradients()
    grads.alloc(w)
    with tt.checks(checks):
        x = tt.randn((3, 3), seed=1).trace(grads)
        upper = tt.ones((3, 3)).triu(1)  # a mask computed from an untraced tensor nobody trains
        scale = 2.0 * tt.randn((3, 3), seed=2).transpose()
        frozen = tt.randn((3, 3), seed=3)  # a parameter this tape does not train: a constant
        y = (x * upper + x * scale) @ frozen.transpose() + x.masked_fill(w > 0.0, 0.0)  # a mask from w: a constant
        y = y * (w > 0.0).astype(np.float32) + x @ w.detach().transpose()  # detach() says a constant is meant
        g = (y @ w).sum().backward()
    assert g.get(w).shape == (3, 3)


@CHECKS
def test_an_allocated_copy_leaky_tapes_and_inference_stay_silent(checks: bool) -> None:
    w = tt.randn((5, 3), seed=0)
    wt = w.transpose()
    grads = tt.Gradients()
    grads.alloc(w)
    grads.alloc(wt)  # the copy trains as a tensor of its own: it gets its gradient
    with tt.checks(checks):
        x = tt.randn((2, 3), seed=1).trace(grads)
        g = (x @ wt).sum().backward()
        np.testing.assert_allclose(g.get(wt).numpy(), np.broadcast_to(x.numpy().sum(0)[:, None], (3, 5)))
        leaky = tt.randn((2, 3), seed=1).leaky_trace()  # keeps intermediates, allocates no untraced leaf
        gl = (leaky @ w.transpose()).sum().backward()
        assert w not in gl
        tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
        tok.alloc_grads()
        logits = tok.forward(tt.tensor(IDS, np.int64)) @ tok.weight.transpose()  # inference: nothing recorded
    assert logits.numpy().shape == (2, 4, 5)


class TiedLM(nn.Module):
    def __init__(self) -> None:
        self.tok = nn.Embedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
        self.norm = nn.LayerNorm[L[3]](3, dtype=np.float64)

    def logits(self, ids: tt.Tensor[Any, np.int64, Any]) -> Any:
        h = self.norm.forward_mut(self.tok.forward_mut(ids))
        return h @ self.tok.weight.retaped(h).transpose()


@CHECKS
def test_training_steps_with_an_optimizer_stay_silent_and_learn(checks: bool) -> None:
    """The optimizer updates the parameters in place: the next step's tape still trains the same tensors."""
    m = TiedLM()
    opt = optim.Adam(m, lr=0.05)
    with tt.checks(checks):
        losses = []
        for _ in range(5):
            grads = m.alloc_grads()
            loss = m.logits(tt.tensor(IDS, np.int64).trace(grads)).square().mean()
            losses.append(loss.item())
            opt.update(m, loss.backward())
    assert losses[-1] < losses[0]


def test_the_quickstart_biases_get_their_gradients() -> None:
    """The quickstart broadcast its untraced biases (an op of their own), so they silently never trained."""
    torch: Any = pytest.importorskip("torch", reason="the comparison is with torch")
    from typedtensor.examples import quickstart as q

    xy, labels = q.spirals(64, seed=0)
    onehot = np.eye(2, dtype=np.float32)[labels]
    p = q.Params(tt.randn((2, 32), seed=1), tt.randn((32,), seed=3), tt.randn((32, 2), seed=2), tt.randn((2,), seed=4))
    grads = p.alloc_grads()
    q.cross_entropy(q.forward(p, tt.tensor(xy).trace(grads)), tt.tensor(onehot)).backward()
    params: list[tt.Tensor[Any, Any, Any]] = [p.w1, p.b1, p.w2, p.b2]
    tp = [torch.tensor(t.numpy(), requires_grad=True) for t in params]
    logits = (torch.tensor(xy) @ tp[0] + tp[1]).tanh() @ tp[2] + tp[3]
    (-(logits.log_softmax(-1) * torch.tensor(onehot)).sum(-1).mean()).backward()
    for t, ref in zip(params, tp, strict=True):
        np.testing.assert_allclose(grads.get(t).numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-6)
