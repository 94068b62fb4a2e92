"""The one recorder: every backward gets one ``need`` entry per parent, and integer tensors take part in traced ops.

A kernel's parents are fixed by the kernel (``mul`` has two, ``linear`` and ``conv2d`` three, ``where`` three:
both branches and the condition); a constant in a parent's place (a scalar, a missing bias) is ``None`` and its
``need`` is False, as is an integer or bool parent's: no kernel looks at ``len(need)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor._ops import elementwise as _ew
from typedtensor._ops import linalg as _la
from typedtensor._ops import losses as _lo
from typedtensor.extend import Array

Needs = list[tuple[bool, ...]]


def _spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Needs:
    """Replace ``module.name`` by a kernel that records the ``need`` each of its backwards receives."""
    seen: Needs = []
    real: Callable[..., ext.Result] = getattr(module, name)

    def kernel(*args: Any) -> ext.Result:
        y, bwd = real(*args)

        def back(g: Array, need: tuple[bool, ...]) -> ext.Grads:
            seen.append(need)
            return bwd(g, need)

        return y, back

    monkeypatch.setattr(module, name, kernel)
    return seen


def _x() -> tt.Tensor[tuple[int, int], np.float64, tt.NoneTape]:
    return tt.tensor(np.array([[1.0, -2.0, 3.0], [0.5, 2.0, -1.0]]), np.float64).realize((2, 3))


Op = Callable[[Any, Any], Any]
#: (kernel, op on a traced t and an untraced u, the need its backward gets)
CASES: list[tuple[str, Op, tuple[bool, ...]]] = [
    ("mul", lambda t, u: t * 2.0, (True, False)),
    ("mul", lambda t, u: 2.0 * t, (True, False)),
    ("mul", lambda t, u: t * u, (True, False)),
    ("mul", lambda t, u: u * t, (False, True)),
    ("add", lambda t, u: t + 1.0, (True, False)),
    ("sub", lambda t, u: t - u, (True, False)),
    ("div", lambda t, u: t / 4.0, (True, False)),
    ("where", lambda t, u: tt.where(u > 0.0, t, 0.0), (True, False, False)),
    ("where", lambda t, u: tt.where(u > 0.0, u, t), (False, True, False)),
    ("where", lambda t, u: t.masked_fill(u > 0.0, 0.0), (False, True, False)),
]


@pytest.mark.parametrize(("kernel", "op", "need"), CASES)
def test_each_backward_gets_one_need_per_parent(
    monkeypatch: pytest.MonkeyPatch, kernel: str, op: Callable[[Any, Any], Any], need: tuple[bool, ...]
) -> None:
    seen = _spy(monkeypatch, _ew, kernel)
    x, u = _x(), _x()
    op(x.trace(tt.Gradients()), u).sum().backward()
    assert seen == [need]


def test_linear_and_conv_without_bias_still_have_three_parents(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch, _la, "linear")
    lin = nn.Linear(3, 2, bias=False, dtype=np.float64, seed=0)
    lin.forward_mut(_x().trace(lin.alloc_grads())).sum().backward()
    assert seen == [(True, True, False)]
    from typedtensor._ops import conv as _conv

    seen = _spy(monkeypatch, _conv, "conv2d")
    conv: Any = nn.Conv2D(1, 2, 3, bias=False, seed=0)
    image: Any = tt.randn((1, 1, 4, 4), seed=1)
    conv.forward_mut(image.trace(conv.alloc_grads())).sum().backward()
    assert seen == [(True, True, False)]


def test_integer_labels_are_a_parent_that_needs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch, _lo, "cross_entropy")
    logits = _x().leaky_trace()
    grads = nn.cross_entropy(logits, tt.tensor([2, 0], np.int64)).backward()
    assert seen == [(True, False)]  # leaky: every float parent, never the labels
    assert grads.get(logits).shape == (2, 3)


@pytest.mark.parametrize("leaky", [False, True])
def test_traced_integer_labels_are_accepted_and_never_get_a_gradient(leaky: bool) -> None:
    """Labels cut from traced token ids (a language model's shifted targets) carry the ids' tape."""
    lin = nn.Linear(3, 3, dtype=np.float64, seed=0)
    grads = lin.alloc_grads()
    ids = tt.tensor([2, 0], np.int64)
    labels = ids.leaky_trace() if leaky else ids.trace(grads)
    # the loss carries the logits' tape: untraced logits give an untraced loss, as their static type says
    assert not nn.cross_entropy(lin.forward(_x()), labels).traced
    logits = lin.forward_mut(_x().trace(grads))
    for reduction in ("sum", "none"):
        assert nn.cross_entropy(logits, labels, reduction).traced
    back = nn.cross_entropy(logits, labels).backward()
    assert back.get(lin.weight).shape == (3, 3)
    assert labels not in back
    with pytest.raises(tt.TapeError):
        back.get(labels)


def _gather(w: tt.Tensor[Any, Any, Any], ids: tt.Tensor[Any, Any, Any]) -> tt.Tensor[Any, Any, Any]:
    """Rows of ``w`` picked by the integer ``ids`` (an Embedding's forward), as a user writes it."""
    wd, idx = ext.data(w), ext.data(ids)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        assert len(need) == 2
        assert not need[1]
        dw = np.zeros_like(wd)
        np.add.at(dw, idx, g)
        return (dw if need[0] else None, None)

    return ext.record((w, ids), wd[idx], backward)


def test_an_integer_tensor_carries_the_tape_into_a_gather() -> None:
    w = tt.tensor(np.arange(8.0).reshape(4, 2), np.float64)
    grads = tt.Gradients()
    grads.alloc(w)
    ids = tt.tensor([0, 2, 2], np.int64).trace(grads)
    assert ids.traced
    assert ids.dtype == np.int64
    out = _gather(w, ids)
    assert out.traced
    (out * 3.0).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [[3.0, 3.0], [0.0, 0.0], [6.0, 6.0], [0.0, 0.0]])
    assert ids not in grads


def test_leaky_trace_of_an_integer_tensor() -> None:
    ids = tt.tensor([1, 2, 3], np.int64).leaky_trace()
    shifted = ids + ids
    assert shifted.traced
    assert shifted.dtype == np.int64
    x = tt.tensor([1.0, 1.0, 1.0], np.float64).leaky_trace()
    grads = (shifted.astype(np.float64) * x).sum().backward()
    np.testing.assert_array_equal(grads.get(x).numpy(), [2.0, 4.0, 6.0])
    for t in (ids, shifted):  # integer tensors get no gradient, even on a leaky tape
        with pytest.raises(tt.TapeError, match="no gradient is stored"):
            grads.get(t)


def test_integer_ops_alone_record_nothing() -> None:
    ids = tt.tensor([1, 2, 3], np.int64).leaky_trace()
    y = (ids * ids + ids).sum()
    assert y.traced
    assert "ops=0" in repr(y._tape)


def test_a_backward_returning_a_gradient_for_an_integer_parent_is_ignored() -> None:
    w = tt.tensor([1.0, 2.0], np.float64).leaky_trace()
    ids = tt.tensor([1, 0], np.int64).leaky_trace()
    wd, idx = ext.data(w), ext.data(ids)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        return (g[idx], g)  # the second one is wrong (an int parent): need[1] is False and it is dropped

    grads = ext.record((w, ids), wd[idx], backward).sum().backward()
    np.testing.assert_array_equal(grads.get(w).numpy(), [1.0, 1.0])
    assert ids not in grads


def test_a_constant_parent_is_none() -> None:
    x = _x().leaky_trace()
    xd = ext.data(x)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        assert need == (True, False)
        return (g * 2.0, None)

    grads = ext.record((x, None), xd * 2.0, backward).sum().backward()
    np.testing.assert_array_equal(grads.get(x).numpy(), np.full((2, 3), 2.0))


def test_bool_tensors_are_still_not_traced() -> None:
    m: Any = tt.zeros((2,)) > 0.0
    with pytest.raises(tt.DTypeError, match="only float and integer tensors can be traced, this one is bool"):
        m.leaky_trace()


def _spy_record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, tuple[bool, ...], int]]:
    """Replace ``extend.record`` by one that notes, for each backward run: the number of parents, the ``need``
    it gets and the number of gradients it returns."""
    seen: list[tuple[int, tuple[bool, ...], int]] = []
    real = ext.record

    def record(parents: tuple[Any, ...], out: Array, backward: ext.Backward) -> Any:
        def back(g: Array, need: tuple[bool, ...]) -> ext.Grads:
            grads = backward(g, need)
            seen.append((len(parents), need, len(grads)))
            return grads

        return real(parents, out, back)

    monkeypatch.setattr(ext, "record", record)
    return seen


@pytest.mark.parametrize(("affine", "bias"), [(True, True), (True, False), (False, False)])
def test_layer_norm_has_three_parents_whatever_its_options(
    monkeypatch: pytest.MonkeyPatch, affine: bool, bias: bool
) -> None:
    seen = _spy_record(monkeypatch)
    norm: Any = nn.LayerNorm(3, elementwise_affine=affine, bias=bias, dtype=np.float64)
    x = _x()
    grads = norm.alloc_grads()
    grads.alloc(x)
    (norm.forward_mut(x.trace(grads)) * _x()).sum().backward()
    # x, weight, bias: an absent parameter is a None parent (need False), not a shorter list
    assert seen == [(3, (True, affine, affine and bias), 3)]
    assert grads.get(x).shape == (2, 3)


@pytest.mark.parametrize(
    ("affine", "freeze", "addend"),
    [(True, False, False), (False, False, False), (True, True, False), (True, False, True), (False, True, True)],
)
def test_batch_norm_has_four_parents_whatever_its_options(
    monkeypatch: pytest.MonkeyPatch, affine: bool, freeze: bool, addend: bool
) -> None:
    seen = _spy_record(monkeypatch)
    layer: Any = nn.FusedBatchNorm2D if addend else nn.BatchNorm2D
    norm: Any = layer(2, affine=affine, freeze=freeze, dtype=np.float64)
    x: Any = tt.randn((3, 2, 2, 2), np.float64, seed=0)
    grads = norm.alloc_grads()
    grads.alloc(x)
    args: list[Any] = [x.trace(grads)]
    if addend:
        other: Any = tt.randn((3, 2, 2, 2), np.float64, seed=1)
        grads.alloc(other)
        args.append(other.trace(grads))
    (norm.forward_mut(*args) * tt.randn((3, 2, 2, 2), np.float64, seed=2)).sum().backward()
    # x, scale, bias, addend: parameters without a gradient (affine=False, freeze) and no addend are None parents
    wants = affine and not freeze
    assert seen[:1] == [(4, (True, wants, wants, addend), 4)]
    assert grads.get(x).shape == (3, 2, 2, 2)
