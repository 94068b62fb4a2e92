"""An optimizer belongs to the parameter tensors it was built for (as in PyTorch).

``opt.update(other_model, grads)`` with a model of the same structure used to apply the first model's
momentum buffers and moments to it; it is refused now, as is a model one of whose parameters was
replaced by a new tensor. ``load_state_dict`` writes into the existing tensors, so loading keeps the
optimizer. A refused update changes nothing: neither model's parameters, nor the optimizer's state.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import Gradients, OwnedTape, Tensor
from typedtensor.nn import BatchNorm1D, Linear, Module
from typedtensor.optim import SGD, Adam, AdamW, Optimizer, OptimizerError

F64 = np.float64
Array = NDArray[Any]
X = Tensor[tuple[int, int], np.float64, OwnedTape]

#: Each optimizer with options that give it per-parameter state (SGD: momentum buffers).
MAKERS: dict[str, Callable[[Module], Optimizer[Any]]] = {
    "SGD": lambda model: SGD(model, 0.1, momentum=0.9),
    "Adam": lambda model: Adam(model, 0.01),
    "AdamW": lambda model: AdamW(model, 0.01, weight_decay=0.1),
}


class Net(Module):
    """Linear -> BatchNorm1D -> tanh -> Linear, float64."""

    def __init__(self, seed: int) -> None:
        self.fc1 = Linear(3, 4, dtype=F64, seed=seed)
        self.bn = BatchNorm1D(4, dtype=F64)
        self.fc2 = Linear(4, 2, dtype=F64, seed=seed + 100)

    def forward_mut(self, x: X) -> X:
        return self.fc2.forward_mut(self.bn.forward_mut(self.fc1.forward_mut(x)).tanh())


def loss_grads(net: Net, step: int) -> Gradients:
    rng = np.random.default_rng(step)
    grads = net.alloc_grads()
    y = net.forward_mut(tt.tensor(rng.standard_normal((5, 3))).trace(grads))
    y.square().mean().backward()
    return grads


def params_of(model: Module) -> dict[str, Array]:
    return {name: t.numpy().copy() for name, t in model.named_parameters()}


def state_of(opt: Optimizer[Any]) -> dict[str, dict[str, Any]]:
    return {name: dataclasses.asdict(st) for name, st in opt._state.items()}  # deep copies


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same(a[key], b[key])
        else:
            np.testing.assert_array_equal(a[key], b[key])


def trained(kind: str) -> tuple[Net, Optimizer[Any]]:
    net = Net(seed=0)
    opt = MAKERS[kind](net)
    opt.update(net, loss_grads(net, 0))
    return net, opt


def assert_refused(opt: Optimizer[Any], models: list[Module], call: Callable[[], None], match: str) -> None:
    """``call`` raises OptimizerError and changes neither the models' parameters nor the optimizer."""
    before = [params_of(m) for m in models]
    state, steps = state_of(opt), opt.steps
    with pytest.raises(OptimizerError, match=match):
        call()
    for model, params in zip(models, before, strict=True):
        assert_same(params_of(model), params)
    assert_same(state_of(opt), state)
    assert opt.steps == steps


@pytest.mark.parametrize("kind", MAKERS)
def test_another_model_of_the_same_structure_is_refused(kind: str) -> None:
    net, opt = trained(kind)
    twin = Net(seed=1)
    grads = loss_grads(twin, 1)
    match = (
        rf"{kind}\.update: none of this model's parameters is a tensor this {kind} was built for \(another "
        rf"model\?\).*build a new {kind} for this model"
    )
    assert_refused(opt, [net, twin], lambda: opt.update(twin, grads), match)
    opt.update(net, loss_grads(net, 1))  # its own model still trains
    assert opt.steps == 2


@pytest.mark.parametrize("kind", MAKERS)
def test_another_model_is_refused_before_the_first_step(kind: str) -> None:
    net = Net(seed=0)
    opt = MAKERS[kind](net)
    twin = Net(seed=1)
    assert_refused(opt, [net, twin], lambda: opt.update(twin, loss_grads(twin, 0)), "none of this model's")


@pytest.mark.parametrize("kind", MAKERS)
def test_copies_of_the_model_are_refused(kind: str) -> None:
    """deepcopy and to_dtype make new tensors: the optimizer does not own them."""
    net, opt = trained(kind)
    for other in (copy.deepcopy(net), net.to_dtype(F64)):
        grads = loss_grads(other, 1)
        assert_refused(opt, [net, other], lambda: opt.update(other, grads), "none of this model's")  # noqa: B023


@pytest.mark.parametrize("kind", MAKERS)
def test_a_replaced_parameter_is_refused(kind: str) -> None:
    net, opt = trained(kind)
    net.fc2.weight = tt.tensor(net.fc2.weight.numpy().copy())  # same values, another tensor
    grads = loss_grads(net, 1)
    match = (
        rf"parameter 'fc2\.weight' is not the tensor this {kind} was built for \(replaced by assignment\?\).*"
        r"load_state_dict"
    )
    assert_refused(opt, [net], lambda: opt.update(net, grads), match)


@pytest.mark.parametrize("kind", MAKERS)
def test_load_state_dict_keeps_the_optimizer(kind: str) -> None:
    """Loading writes into the model's tensors: they stay the optimizer's, and its state carries on."""
    net, opt = trained(kind)
    tensors = [t for _, t in net.named_parameters()]
    net.load_state_dict(Net(seed=2).state_dict())
    assert [t for _, t in net.named_parameters()] == tensors
    opt.update(net, loss_grads(net, 1))
    assert opt.steps == 2


def test_an_optimizer_does_not_keep_its_model_alive() -> None:
    """The optimizer holds weak references: a dead model's optimizer refuses every other model."""
    net, opt = trained("Adam")
    alive = weakref.ref(net)
    del net
    gc.collect()
    assert alive() is None
    twin = Net(seed=0)
    assert_refused(opt, [twin], lambda: opt.update(twin, loss_grads(twin, 1)), "none of this model's")
