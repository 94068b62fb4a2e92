"""The optimizer keeps its walk of the model while the tree is unchanged, and never uses a stale one.

``update`` walks the model (every module, each parameter once) only when the snapshot of the last
walk (``typedtensor.optim._tree``) no longer matches the tree: a replaced, re-tied, added or removed
parameter, an added sub-module, a list of modules changed in place, or another model (``to_dtype``'s
copy) is noticed at the next update, which then checks the model as a first update does: refused, or
applied to exactly the tensors the model holds now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import Gradients, OwnedTape, Tensor
from typedtensor.nn import Linear, Module
from typedtensor.optim import SGD, Adam, Optimizer, OptimizerError
from typedtensor.optim._tree import snapshot

F64 = np.float64
Array = NDArray[Any]
X = Tensor[tuple[int, int], np.float64, OwnedTape]


class Pair(Module):
    """Two Linear(3, 3) in a row, and a list of two more (walked as ``blocks.0``, ``blocks.1``)."""

    def __init__(self, seed: int) -> None:
        self.a = Linear(3, 3, dtype=F64, seed=seed)
        self.b = Linear(3, 3, dtype=F64, seed=seed + 1)
        self.blocks = [Linear(3, 3, dtype=F64, seed=seed + 2), Linear(3, 3, dtype=F64, seed=seed + 3)]

    def forward_mut(self, x: X) -> X:
        y: X = self.b.forward_mut(self.a.forward_mut(x).tanh())
        for block in self.blocks:
            y = block.forward_mut(y)
        return y


def grads_of(net: Pair, step: int) -> Gradients:
    grads = net.alloc_grads()
    x = tt.tensor(np.random.default_rng(step).standard_normal((4, 3))).trace(grads)
    net.forward_mut(x).square().mean().backward()
    return grads


def values(net: Module) -> dict[str, Array]:
    return {name: t.numpy().copy() for name, t in net.named_parameters()}


def reference(net: Pair, steps: int) -> dict[str, Array]:
    """The parameters after ``steps`` SGD-momentum updates that walk the model at every update."""
    opt = SGD(net, 0.1, momentum=0.9)
    for step in range(steps):
        opt._walked = None
        opt.update(net, grads_of(net, step))
    return values(net)


def test_cached_walk_gives_the_walked_updates() -> None:
    net = Pair(0)
    opt = SGD(net, 0.1, momentum=0.9)
    for step in range(4):
        opt.update(net, grads_of(net, step))
        assert opt._walked is not None
    want = reference(Pair(0), 4)
    got = values(net)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


MUTATIONS: dict[str, Callable[[Pair], None]] = {
    "replace a parameter": lambda net: setattr(net.a, "weight", tt.tensor(np.ones((3, 3)))),
    "retie a parameter": lambda net: setattr(net.b, "weight", net.a.weight),
    "retie a layer": lambda net: setattr(net, "b", net.a),
    "replace a sub-module": lambda net: setattr(net, "b", Linear(3, 3, dtype=F64, seed=9)),
    "remove an optional parameter": lambda net: setattr(net.a, "bias", None),  # its dead weak reference is no match
    "append to a list of modules": lambda net: net.blocks.append(Linear(3, 3, dtype=F64, seed=9)),
    "replace in a list of modules": lambda net: net.blocks.__setitem__(0, Linear(3, 3, dtype=F64, seed=9)),
    "drop from a list of modules": lambda net: net.blocks.__delitem__(-1),
    "reorder a list of modules": lambda net: net.blocks.reverse(),
}


@pytest.mark.parametrize("what", list(MUTATIONS))
def test_a_changed_tree_fails_the_snapshot(what: str) -> None:
    net = Pair(0)
    snap = snapshot(net)
    assert snap is not None
    assert snap.valid()
    MUTATIONS[what](net)
    assert not snap.valid()


@pytest.mark.parametrize("what", list(MUTATIONS))
@pytest.mark.parametrize("adam", [False, True])
def test_a_changed_tree_is_refused_at_the_next_update(what: str, adam: bool) -> None:
    net = Pair(0)
    opt: Optimizer[Any] = Adam(net, 0.01) if adam else SGD(net, 0.1, momentum=0.9)
    opt.update(net, grads_of(net, 0))
    opt.update(net, grads_of(net, 1))  # the cached walk
    MUTATIONS[what](net)
    before = values(net)
    with pytest.raises(OptimizerError):  # every name keeps its tensor's state: a moved tensor is refused too
        opt.update(net, grads_of(net, 2))
    after = values(net)
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def test_a_parameter_put_back_is_trained_again() -> None:
    net = Pair(0)
    opt = SGD(net, 0.1)
    opt.update(net, grads_of(net, 0))
    weight = net.a.weight
    net.a.weight = tt.tensor(np.ones((3, 3)))
    with pytest.raises(OptimizerError):
        opt.update(net, grads_of(net, 1))
    net.a.weight = weight
    before = weight.numpy().copy()
    opt.update(net, grads_of(net, 1))
    assert not np.array_equal(weight.numpy(), before)


def test_load_state_dict_between_updates_is_trained_in_place() -> None:
    net, source = Pair(0), Pair(5)
    opt = SGD(net, 0.1)
    opt.update(net, grads_of(net, 0))
    tensors = dict(net.named_parameters())
    net.load_state_dict(source.state_dict())
    loaded = values(net)
    grads = grads_of(net, 1)
    opt.update(net, grads)
    for name, t in net.named_parameters():
        assert t is tensors[name]
        g = grads.get(t)
        assert g is not None
        np.testing.assert_allclose(t.numpy(), loaded[name] - 0.1 * g.numpy(), rtol=0, atol=1e-15)


def test_to_dtype_copy_is_refused_after_cached_updates() -> None:
    net = Pair(0)
    opt = SGD(net, 0.1)
    opt.update(net, grads_of(net, 0))
    opt.update(net, grads_of(net, 1))
    copy = net.to_dtype(np.float64)
    with pytest.raises(OptimizerError):
        opt.update(copy, grads_of(copy, 2))
    opt.update(net, grads_of(net, 2))  # the optimizer's own model is still accepted


def test_the_optimizer_does_not_keep_the_model_alive() -> None:
    import gc
    import weakref

    net = Pair(0)
    opt = SGD(net, 0.1)
    opt.update(net, grads_of(net, 0))
    alive = weakref.ref(net.a.weight)
    del net
    gc.collect()
    assert alive() is None
    assert opt.steps == 1
