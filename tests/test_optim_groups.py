"""Parameter groups and frozen parameters: PyTorch parity of grouped runs (golden data, and live when torch is
installed), the no-decay recipe, frozen sub-modules (no update, no state, no gradient needed), first-match
order, schedules moving every group, and the checks of ``groups`` / ``frozen``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

import typedtensor as tt
from tests.golden.make_clip_golden import pack
from tests.golden.make_groups_golden import CONFIGS, STEPS, Config, gradients, initial_params, lr_factor, torch_run
from typedtensor import Gradients, OwnedTape, Tensor
from typedtensor import extend as ext
from typedtensor.nn import LayerNorm, Linear, Module
from typedtensor.optim import (
    SGD,
    Adam,
    AdamW,
    MissingGradientError,
    Optimizer,
    OptimizerError,
    ParamGroup,
    Selector,
    clip_grad_norm,
    no_decay,
)

GOLDEN = np.load(Path(__file__).parent / "golden" / "optim_groups.npz")
X = Tensor[tuple[int, int], Any, OwnedTape]


class MLP(Module):
    """fc1 -> tanh -> fc2 (float64): the model of tests/golden/make_groups_golden.py."""

    def __init__(self) -> None:
        self.fc1 = Linear(4, 6, dtype=np.float64, seed=0)
        self.fc2 = Linear(6, 3, dtype=np.float64, seed=1)
        self.load_state_dict(initial_params())

    def forward_mut(self, x: X) -> X:
        return self.fc2.forward_mut(self.fc1.forward_mut(x).tanh())


def names_selector(names: Sequence[str]) -> Selector:
    chosen = frozenset(names)
    return lambda name, _: name in chosen


def build(cfg: Config, model: MLP) -> Optimizer[Any]:
    groups = [ParamGroup(names_selector(names), lr_scale=s, weight_decay=wd) for names, s, wd in cfg.groups]
    frozen = [names_selector(cfg.frozen)] if cfg.frozen else []
    cls: Any = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[cfg.kind]
    opt: Optimizer[Any] = cls(model, **cfg.options, groups=groups, frozen=frozen)
    return opt


def run(cfg: Config) -> np.ndarray[Any, Any]:
    model = MLP()
    opt = build(cfg, model)
    lr = float(cfg.options["lr"])
    rows: list[np.ndarray[Any, Any]] = []
    for step in range(STEPS):
        opt.lr = lr * lr_factor(step)
        grads = opt.alloc_grads()
        for name, t in model.named_parameters():
            if name not in cfg.frozen:
                ext.set_grad(grads, t, gradients(step)[name])
        opt.update(model, grads)
        rows.append(pack({name: ext.data(t) for name, t in model.named_parameters()}))
    return np.stack(rows)


def test_golden_matches_the_configs() -> None:
    assert {k.split("/")[0] for k in GOLDEN.files} == {"torch_version"} | {c.name for c in CONFIGS}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_parity_with_pytorch_golden(cfg: Config) -> None:
    np.testing.assert_allclose(run(cfg), GOLDEN[f"{cfg.name}/params"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_parity_with_pytorch_live(cfg: Config) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this configuration")
    np.testing.assert_allclose(run(cfg), torch_run(cfg), rtol=1e-12, atol=1e-14)


def test_the_groups_change_the_run() -> None:
    """Each grouped configuration differs from the same optimizer without groups (the groups are used)."""
    for cfg in CONFIGS:
        plain = Config(cfg.name, cfg.kind, cfg.options)
        assert not np.allclose(run(cfg)[-1], run(plain)[-1]), cfg.name


# ---- frozen parameters ---------------------------------------------------------------------------------


def test_a_frozen_sub_module_is_not_updated_and_needs_no_gradient() -> None:
    model = MLP()
    opt = AdamW(model, lr=0.1, weight_decay=0.5, frozen=[model.fc1])
    assert opt.frozen == ("fc1.weight", "fc1.bias")
    before = {name: ext.data(t).copy() for name, t in model.named_parameters()}
    grads = opt.alloc_grads()
    assert model.fc1.weight not in grads
    assert model.fc2.weight in grads
    x = tt.tensor(np.random.default_rng(0).standard_normal((5, 4)))
    model.forward_mut(x.trace(grads)).square().mean().backward()  # no MissingGradientError below
    opt.update(model, grads)
    for name, t in model.named_parameters():
        same = np.array_equal(ext.data(t), before[name])
        assert same == name.startswith("fc1."), name
    assert set(opt._state) == {"fc2.weight", "fc2.bias"}  # no state for a frozen parameter


def test_a_frozen_parameter_is_not_updated_even_with_a_gradient() -> None:
    model = MLP()
    opt = SGD(model, lr=0.1, weight_decay=0.1, frozen=[lambda name, _: name == "fc2.bias"])
    before = ext.data(model.fc2.bias).copy() if model.fc2.bias is not None else None
    grads = model.alloc_grads()
    for _, t in model.named_parameters():
        ext.set_grad(grads, t, np.ones(ext.data(t).shape))
    opt.update(model, grads)
    assert model.fc2.bias is not None
    np.testing.assert_array_equal(ext.data(model.fc2.bias), before)


def test_without_freezing_a_missing_gradient_is_still_refused() -> None:
    model = MLP()
    opt = SGD(model, lr=0.1, frozen=[model.fc1])
    grads = model.fc1.alloc_grads()  # the frozen one only
    with pytest.raises(MissingGradientError, match=r"'fc2.weight', 'fc2.bias'"):
        opt.update(model, grads)


def test_clipping_with_the_optimizers_gradients_counts_only_the_trained_parameters() -> None:
    model = MLP()
    opt = SGD(model, lr=0.1, frozen=[model.fc1])
    grads = opt.alloc_grads()
    for _, t in model.named_parameters():
        if t in grads:
            ext.set_grad(grads, t, np.full(ext.data(t).shape, 2.0))
    assert clip_grad_norm(model, grads, np.inf) == pytest.approx(2.0 * np.sqrt(21), rel=1e-12)


# ---- groups -------------------------------------------------------------------------------------------


class Block(Module):
    def __init__(self) -> None:
        self.fc = Linear(4, 4, dtype=np.float64, seed=0)
        self.norm = LayerNorm(4, dtype=np.float64)

    def forward_mut(self, x: X) -> X:
        return self.norm.forward_mut(self.fc.forward_mut(x))


def test_no_decay_selects_biases_and_norms() -> None:
    model = Block()
    chosen = [name for name, t in model.named_parameters() if no_decay(name, t)]
    assert chosen == [name for name, _ in model.named_parameters() if name != "fc.weight"]
    assert len(chosen) == 3


def test_no_decay_recipe_decays_only_the_weights() -> None:
    """With lr 0 but weight decay, AdamW's decoupled decay is the only change: weights move, the rest does not."""
    model = Block()
    opt = AdamW(model, lr=0.1, weight_decay=0.5, groups=[ParamGroup(no_decay, weight_decay=0.0)])
    before = {name: ext.data(t).copy() for name, t in model.named_parameters()}
    grads = model.alloc_grads()  # zero gradients: Adam's step is 0, only the decay acts
    opt.update(model, grads)
    for name, t in model.named_parameters():
        if name == "fc.weight":
            np.testing.assert_array_equal(ext.data(t), before[name] * (1.0 - 0.1 * 0.5))
        else:
            np.testing.assert_array_equal(ext.data(t), before[name])


def test_a_parameter_takes_the_first_group_that_selects_it_and_frozen_wins() -> None:
    model = MLP()
    opt = SGD(
        model,
        lr=1.0,
        groups=[ParamGroup(model.fc2, lr_scale=2.0), ParamGroup(no_decay, lr_scale=3.0)],
        frozen=[lambda name, _: name == "fc2.bias"],
    )
    before = {name: ext.data(t).copy() for name, t in model.named_parameters()}
    grads = model.alloc_grads()
    for _, t in model.named_parameters():
        ext.set_grad(grads, t, np.ones(ext.data(t).shape))
    opt.update(model, grads)
    moved = {name: float(np.mean(before[name] - ext.data(t))) for name, t in model.named_parameters()}
    assert moved == pytest.approx({"fc1.weight": 1.0, "fc1.bias": 3.0, "fc2.weight": 2.0, "fc2.bias": 0.0})
    assert "grouped=2" in repr(opt)
    assert "frozen=1" in repr(opt)


def test_a_schedule_moves_every_group() -> None:
    model = MLP()
    opt = SGD(model, lr=1.0, groups=[ParamGroup(model.fc2, lr_scale=10.0)])
    sched = tt.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.update(model, model.alloc_grads())
    sched.step()
    before = ext.data(model.fc2.weight).copy()
    grads = model.alloc_grads()
    ext.set_grad(grads, model.fc2.weight, np.ones((3, 6)))
    opt.update(model, grads)
    np.testing.assert_allclose(before - ext.data(model.fc2.weight), 5.0, rtol=1e-15)


def _grouped_sgd_lrs(schedule: str) -> list[float]:
    """fc2's learning rate at each of 10 steps of a plain SGD whose fc2 group has lr_scale=10, read off the update."""
    model = MLP()
    opt = SGD(model, lr=0.1, groups=[ParamGroup(model.fc2, lr_scale=10.0)])
    lrs = tt.optim.lr_scheduler
    sched = (
        lrs.OneCycleLR(opt, max_lr=0.05, total_steps=10, cycle_momentum=False)  # peak at step 2
        if schedule == "one_cycle"
        else lrs.CosineAnnealingLR(opt, T_max=3, eta_min=0.01)
    )
    out: list[float] = []
    for _ in range(10):
        before = float(ext.data(model.fc2.weight)[0, 0])
        grads = opt.alloc_grads()
        for _, t in model.named_parameters():
            ext.set_grad(grads, t, np.ones(ext.data(t).shape))
        opt.update(model, grads)
        out.append(before - float(ext.data(model.fc2.weight)[0, 0]))
        sched.step()
    return out


def test_a_non_multiplicative_schedule_scales_each_group_by_its_lr_scale() -> None:
    """OneCycleLR's max_lr and CosineAnnealingLR's eta_min are the optimizer's lr; a group gets lr_scale times them
    (torch: the same max_lr and eta_min for every group). The README and lr_scheduler's docstring say so."""
    one_cycle = _grouped_sgd_lrs("one_cycle")
    assert max(one_cycle) == pytest.approx(10.0 * 0.05, rel=1e-12)  # torch's scalar max_lr: 0.05 for every group
    cosine = _grouped_sgd_lrs("cosine")
    assert cosine[3] == pytest.approx(10.0 * 0.01, rel=1e-12)  # at T_max: lr_scale * eta_min, not eta_min
    torch: Any = pytest.importorskip("torch", reason="the torch equivalents below need torch")
    fc1, fc2 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    ref = torch.optim.SGD([{"params": [fc1]}, {"params": [fc2], "lr": 1.0}], lr=0.1)
    ref_sched = torch.optim.lr_scheduler.OneCycleLR(
        ref, max_lr=[0.05, 10.0 * 0.05], total_steps=10, cycle_momentum=False
    )
    torch_lrs: list[float] = []
    for _ in range(10):
        torch_lrs.append(float(ref.param_groups[1]["lr"]))
        ref.step()
        ref_sched.step()
    # torch with max_lr=[max_lr * lr_scale per group] (atol: the rates are read off parameter differences)
    np.testing.assert_allclose(one_cycle, torch_lrs, rtol=1e-12, atol=1e-15)


def one(name: str, param: object) -> int:
    """A selector returning an int, not a bool."""
    return 1


@pytest.mark.parametrize(
    ("kwargs", "err", "fragment"),
    [
        ({"groups": ParamGroup(no_decay)}, OptimizerError, r"groups must be a list of ParamGroup, got ParamGroup"),
        ({"groups": [no_decay]}, OptimizerError, r"groups\[0\] must be a ParamGroup, got function"),
        ({"groups": [ParamGroup(no_decay, lr_scale=-1.0)]}, OptimizerError, r"groups\[0\]: lr_scale must be >= 0"),
        ({"groups": [ParamGroup(no_decay, weight_decay=float("nan"))]}, OptimizerError, r"weight_decay must be finite"),
        (
            {"groups": [ParamGroup(cast("Any", "fc1"))]},
            OptimizerError,
            r"groups\[0\]\.select must be a sub-module of the model or",
        ),
        (
            {"groups": [ParamGroup(cast("Any", one))]},
            OptimizerError,
            r"the selector returned 1 for 'fc1.weight'",
        ),
        ({"frozen": Linear(2, 2)}, OptimizerError, r"frozen must be a list of sub-modules or selectors, got Linear"),
        ({"frozen": [Linear(2, 2)]}, OptimizerError, r"frozen\[0\]: the sub-module Linear given has parameters that"),
    ],
)
def test_bad_groups_and_frozen_are_refused(kwargs: dict[str, Any], err: type[Exception], fragment: str) -> None:
    with pytest.raises(err, match=fragment):
        SGD(MLP(), lr=0.1, **kwargs)


def test_alloc_grads_without_freezing_is_the_models() -> None:
    model = MLP()
    grads = SGD(model, lr=0.1).alloc_grads()
    assert isinstance(grads, Gradients)
    assert all(t in grads for _, t in model.named_parameters())


class Plain(Optimizer[None]):
    """An optimizer written outside the package, with only ``_step``: frozen works, groups are refused."""

    def __init__(self, model: Module, **kwargs: Any) -> None:
        self.lr = 0.5
        super().__init__(model, **kwargs)

    def _validate(self) -> None:
        pass

    def _step(self, param: Any, grad: Any, state: None) -> tuple[Any, None]:
        return param - self.lr * grad, None


def test_an_optimizer_with_only_step_supports_frozen_and_refuses_groups() -> None:
    model = MLP()
    with pytest.raises(OptimizerError, match=r"Plain does not support parameter groups .*_step_group"):
        Plain(model, groups=[ParamGroup(no_decay)])
    opt = Plain(model, frozen=[model.fc2])
    before = ext.data(model.fc1.weight).copy()
    grads = opt.alloc_grads()
    ext.set_grad(grads, model.fc1.weight, np.ones((6, 4)))
    opt.update(model, grads)
    np.testing.assert_array_equal(ext.data(model.fc1.weight), before - 0.5)
