"""Learning-rate schedulers: PyTorch parity over whole runs (golden data, and live when torch is installed),
the momentum OneCycleLR cycles, resuming from ``state_dict``, argument validation and error messages."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.golden.make_lr_scheduler_golden import CONFIGS, Config, momentum_of, torch_run
from tests.golden.make_optim_golden import STEPS, batch
from tests.test_optim import MLP, mlp_grads
from typedtensor import CheckpointError, TypedTensorError
from typedtensor.nn import Module
from typedtensor.optim import SGD, Adam, AdamW, Optimizer, OptimizerError
from typedtensor.optim import lr_scheduler as sch
from typedtensor.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    SchedulerError,
    SequentialLR,
    StepLR,
)

GOLDEN = np.load(Path(__file__).parent / "golden" / "lr_scheduler.npz")
F64 = NDArray[np.float64]


class One(Module):
    """A module with one float64 parameter: what a scheduler's optimizer needs."""

    param_names = ("w",)

    def __init__(self) -> None:
        self.w = tt.tensor(np.zeros(2))


def optimizer(kind: str = "SGD", lr: float = 0.1, momentum: float = 0.9) -> Optimizer[Any]:
    net = One()
    if kind == "SGD":
        return SGD(net, lr=lr, momentum=momentum)
    opt: Optimizer[Any] = {"Adam": Adam, "AdamW": AdamW}[kind](net, lr=lr)
    return opt


def ours(cfg: Config, steps: int | None = None) -> tuple[F64, F64, Optimizer[Any], LRScheduler]:
    opt = optimizer(cfg.kind, cfg.lr, cfg.momentum)
    s: LRScheduler = cfg.build(sch, opt)
    lrs, moms = [s.get_last_lr()[0]], [momentum_of(opt, cfg.kind)]
    for step in range(1, (cfg.steps if steps is None else steps) + 1):
        if cfg.set_lr is not None and cfg.set_lr[0] == step:
            opt.lr = cfg.set_lr[1]
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(momentum_of(opt, cfg.kind))
        assert s.last_epoch == step
        assert opt.lr == lrs[-1]
    return np.array(lrs), np.array(moms), opt, s


def _worst(a: F64, b: F64) -> float:
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)))


# ---- parity with PyTorch ---------------------------------------------------------------------------


def test_golden_matches_the_config_grid() -> None:
    names = {k.split("/")[0] for k in GOLDEN.files}
    assert names == {"torch_version"} | {c.name for c in CONFIGS}
    every = {"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR", "SequentialLR"}
    assert every <= {type(ours(c, 0)[3]).__name__ for c in CONFIGS}


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_parity_with_pytorch_golden(cfg: Config) -> None:
    lr, momentum, _, _ = ours(cfg)
    np.testing.assert_allclose(lr, GOLDEN[f"{cfg.name}/lr"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(momentum, GOLDEN[f"{cfg.name}/momentum"], rtol=1e-12, atol=0)
    # (not bit for bit: another platform's math.cos may round its last bit otherwise; the live test is exact)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_parity_with_pytorch_live(cfg: Config) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this configuration")
    lr, momentum, _, _ = ours(cfg)
    their_lr, their_momentum = torch_run(cfg)
    # the same formulas in the same order with the same math.cos: bit for bit
    assert _worst(lr, their_lr) == 0.0
    assert _worst(momentum, their_momentum) == 0.0


def test_the_golden_cosine_is_the_recursion_not_the_closed_form() -> None:
    """PyTorch's values come from its recursive step, which rounds differently from the closed form."""
    golden = GOLDEN["cosine_long/lr"]
    closed = np.array([0.01 + (0.5 - 0.01) * (1 + math.cos(math.pi * t / 97)) / 2 for t in range(len(golden))])
    np.testing.assert_allclose(golden, closed, rtol=1e-9)
    assert np.any(golden != closed)


def test_one_cycle_momentum_is_cycled_and_used_by_adam_as_in_pytorch() -> None:
    """OneCycleLR writes Adam's beta1 at each step; the training run with it matches torch's end to end."""
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: golden data pins the momentum values")
    model = MLP()
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    ref.load_state_dict(
        {k.replace("fc1", "0").replace("fc2", "2"): torch.tensor(v) for k, v in model.state_dict().items()}
    )
    opt = Adam(model, lr=0.01)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=0.01, foreach=False)
    s = OneCycleLR(opt, max_lr=0.05, total_steps=STEPS, pct_start=0.4)
    ref_s = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.05, total_steps=STEPS, pct_start=0.4)
    betas: list[float] = []
    for step in range(STEPS):
        opt.update(model, mlp_grads(model, step))
        s.step()
        x, target = (torch.tensor(a) for a in batch(step))
        ref_opt.zero_grad()
        ((ref(x) - target[:, :2]) ** 2).mean().backward()
        ref_opt.step()
        ref_s.step()
        assert opt.betas == ref_opt.param_groups[0]["betas"]
        betas.append(opt.betas[0])
    assert len(set(betas)) > 3  # it moved
    theirs = {k.replace("0.", "fc1.").replace("2.", "fc2."): v.detach().numpy() for k, v in ref.state_dict().items()}
    for name, t in model.named_parameters():
        np.testing.assert_allclose(t._data, theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_schedulers_are_in_the_optim_namespace() -> None:
    assert tt.optim.lr_scheduler.StepLR is StepLR
    assert issubclass(SchedulerError, OptimizerError)
    assert issubclass(SchedulerError, TypedTensorError)
    assert issubclass(SchedulerError, ValueError)


def test_a_second_scheduler_starts_from_the_first_ones_initial_lr() -> None:
    """As PyTorch's ``initial_lr``: the base of a later scheduler is the lr before the first one changed it."""
    opt = optimizer(lr=0.1)
    LinearLR(opt, start_factor=0.5)
    assert opt.lr == 0.05
    cos = CosineAnnealingLR(opt, T_max=4)
    assert cos.base_lr == 0.1
    assert opt.lr == 0.05  # its construction keeps the current lr, as PyTorch's


# ---- resuming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_resume_from_state_dict_continues_the_same_schedule(cfg: Config) -> None:
    whole, whole_m, _, _ = ours(cfg)
    k = cfg.steps // 2
    first, _, opt, s = ours(cfg, k)
    state = s.state_dict()
    assert all(isinstance(v, (int, float, str)) for v in state.values())
    saved_lr, saved_m = opt.lr, momentum_of(opt, cfg.kind)
    opt2 = optimizer(cfg.kind, cfg.lr, cfg.momentum)
    s2: LRScheduler = cfg.build(sch, opt2)
    opt2.lr = saved_lr  # what loading the optimizer's state restores (its hyper-parameters)
    if isinstance(opt2, Adam):
        opt2.betas = (saved_m, opt2.betas[1])
    elif isinstance(opt2, SGD):
        opt2.momentum = saved_m
    s2.load_state_dict(state)
    assert s2.last_epoch == k
    assert s2.get_last_lr() == [first[-1]]
    rest = [s2.get_last_lr()[0]]
    moms = [momentum_of(opt2, cfg.kind)]
    for step in range(k + 1, cfg.steps + 1):
        if cfg.set_lr is not None and cfg.set_lr[0] == step:
            opt2.lr = cfg.set_lr[1]
        s2.step()
        rest.append(s2.get_last_lr()[0])
        moms.append(momentum_of(opt2, cfg.kind))
    np.testing.assert_array_equal(np.array(rest), whole[k:])
    np.testing.assert_array_equal(np.array(moms), whole_m[k:])


def test_state_dict_survives_an_npz_file(tmp_path: Path) -> None:
    """Values read back from a file are NumPy 0-d arrays: they load."""
    cfg = next(c for c in CONFIGS if c.name == "sequential_three")
    _, _, _, s = ours(cfg, 7)
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in s.state_dict().items()}
    np.savez(tmp_path / "s.npz", **arrays)
    loaded = dict(np.load(tmp_path / "s.npz"))
    s2 = ours(cfg, 0)[3]
    s2.load_state_dict(loaded)
    assert s2.state_dict() == s.state_dict()
    assert s2.last_epoch == 7


Change = Callable[[dict[str, Any]], object]


def _bad_state(change: Change) -> dict[str, Any]:
    cfg = next(c for c in CONFIGS if c.name == "sequential_three")
    state: dict[str, Any] = dict(ours(cfg, 5)[3].state_dict())
    change(state)
    return state


STATE_CASES: list[tuple[Change, list[str]]] = [
    (lambda s: s.pop("last_epoch"), ["missing keys ['last_epoch']"]),
    (lambda s: s.update(extra=1), ["unexpected keys ['extra']"]),
    (lambda s: s.update({"schedulers.1.type": "ExponentialLR"}), ["'ExponentialLR'", "this scheduler is a StepLR"]),
    (lambda s: s.update({"schedulers.1.gamma": 0.25}), ["gamma=0.25", "gamma=0.5", "saved arguments"]),
    (lambda s: s.update(milestones="3,8"), ["milestones='3,8'", "milestones='3,9'"]),
    (
        lambda s: s.update({"schedulers.2.last_epoch": -2}),
        ["SequentialLR.schedulers[2].load_state_dict: last_epoch must be an int >= -1", "got -2"],
    ),
    (lambda s: s.update(last_epoch=-1), ["SequentialLR.load_state_dict: last_epoch must be a non-negative int"]),
    (lambda s: s.update({"schedulers.2.last_lr": "x"}), ["last_lr must be a real number"]),
    (
        lambda s: s.update({"schedulers.1.gamma": np.array([0.5, 0.5])}),
        ["schedulers[1].load_state_dict: gamma must be an int, a float or a str, got ndarray"],
    ),
    (lambda s: s.update(last_lr=None), ["SequentialLR.load_state_dict: last_lr must be an int, a float or a str"]),
]


@pytest.mark.parametrize(("change", "fragments"), STATE_CASES)
def test_load_state_dict_refuses_a_state_that_does_not_fit_and_changes_nothing(
    change: Change, fragments: list[str]
) -> None:
    cfg = next(c for c in CONFIGS if c.name == "sequential_three")
    s = ours(cfg, 2)[3]
    before = s.state_dict()
    with pytest.raises(CheckpointError) as info:
        s.load_state_dict(_bad_state(change))
    for fragment in fragments:
        assert fragment in str(info.value)
    assert s.state_dict() == before


def test_load_state_dict_refuses_a_non_mapping_and_a_one_cycle_past_its_end() -> None:
    s = StepLR(optimizer(), 3)
    with pytest.raises(CheckpointError, match="needs the mapping state_dict"):
        s.load_state_dict([1, 2])  # type: ignore[arg-type]
    cycle = OneCycleLR(optimizer(), 0.1, total_steps=10)
    state = cycle.state_dict()
    state["last_epoch"] = 11
    with pytest.raises(CheckpointError, match="past total_steps=10"):
        cycle.load_state_dict(state)
    assert cycle.last_epoch == 0


# ---- errors ---------------------------------------------------------------------------------------

Build = Callable[[Optimizer[Any]], object]


ARG_CASES: list[tuple[Build, list[str]]] = [
    (lambda o: StepLR(o, -1), ["StepLR: step_size must be a positive int", "got -1"]),
    (lambda o: StepLR(o, 0), ["step_size must be a positive int", "got 0"]),
    (lambda o: StepLR(o, 2.5), ["step_size must be a positive int", "got 2.5"]),  # type: ignore[arg-type]
    (lambda o: StepLR(o, 3, gamma=0.0), ["StepLR: gamma must be > 0", "multiplied by", "got 0.0"]),
    (lambda o: StepLR(o, 3, gamma=-0.1), ["gamma must be > 0", "got -0.1"]),
    (lambda o: StepLR(o, 3, gamma="0.5"), ["gamma must be a real number", "'0.5' (str)"]),  # type: ignore[arg-type]
    (lambda o: StepLR(o, 3, gamma=True), ["gamma must be a real number", "True (bool)"]),
    (lambda o: MultiStepLR(o, [5, 3]), ["increasing", "[5, 3]", "3 after 5", "sort them"]),
    (lambda o: MultiStepLR(o, [3, 3]), ["increasing", "3 after 3", "gamma**2"]),
    (lambda o: MultiStepLR(o, [-1, 4]), ["ints >= 0", "the entry -1"]),
    (lambda o: MultiStepLR(o, "35"), ["list of increasing ints", "'35'", "milestones=[30, 80]"]),  # type: ignore[arg-type]
    (lambda o: MultiStepLR(o, [1.5]), ["the entry 1.5"]),  # type: ignore[list-item]
    (lambda o: ExponentialLR(o, 0.0), ["ExponentialLR: gamma must be > 0"]),
    (lambda o: ExponentialLR(o, math.nan), ["gamma must be finite"]),
    (lambda o: CosineAnnealingLR(o, 0), ["CosineAnnealingLR: T_max must be a positive int", "got 0"]),
    (lambda o: CosineAnnealingLR(o, -5), ["T_max must be a positive int", "got -5"]),
    (lambda o: CosineAnnealingLR(o, 10, eta_min=-1e-3), ["eta_min must be >= 0", "lowest learning rate"]),
    (lambda o: LinearLR(o, start_factor=0.0), ["start_factor must be in (0, 1]", "got 0.0", "start_factor=0.1"]),
    (lambda o: LinearLR(o, start_factor=1.5), ["start_factor must be in (0, 1]", "got 1.5"]),
    (lambda o: LinearLR(o, end_factor=1.2), ["end_factor must be a number in [0, 1]", "got 1.2"]),
    (lambda o: LinearLR(o, total_iters=0), ["total_iters must be a positive int"]),
    (lambda o: OneCycleLR(o, 0.1), ["needs the length of the cycle", "total_steps=None", "total_steps=len"]),
    (lambda o: OneCycleLR(o, 0.1, epochs=3), ["total_steps, or epochs and steps_per_epoch", "epochs=3"]),
    (lambda o: OneCycleLR(o, 0.1, total_steps=0), ["total_steps must be a positive int", "got 0"]),
    (lambda o: OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-3), ["steps_per_epoch must be a positive int"]),
    (lambda o: OneCycleLR(o, 0.0, 10), ["max_lr must be > 0"]),
    (lambda o: OneCycleLR(o, 0.1, 10, pct_start=1.5), ["pct_start must be a number in [0, 1]"]),
    (lambda o: OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ["'cos' or 'linear'", "'exp'"]),  # type: ignore[arg-type]
    (lambda o: OneCycleLR(o, 0.1, 10, base_momentum=1.0), ["base_momentum must be in [0, 1)", "betas[0]"]),
    (lambda o: OneCycleLR(o, 0.1, 10, div_factor=0), ["div_factor must be > 0"]),
    (lambda o: OneCycleLR(o, 0.1, 10, three_phase=1), ["three_phase must be True or False"]),  # type: ignore[arg-type]
    (lambda o: OneCycleLR(o, 0.1, 10, pct_start=0.1), ["phase 1 of the cycle empty", "divides by zero"]),
    (lambda o: SequentialLR(o, [], []), ["non-empty list of schedulers", "LinearLR(opt"]),
    (lambda o: SequentialLR(o, [StepLR(o, 2)], [3]), ["1 schedulers need 0 milestones", "got 1"]),
    (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3)], [0]), ["increasing ints >= 1", "the entry 0"]),
    (
        lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3), StepLR(o, 4)], [5, 5]),
        ["increasing", "5 after 5"],
    ),
    (
        lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(optimizer(), 3)], [5]),
        ["schedulers[1] (StepLR) schedules another optimizer", "build every scheduler on the optimizer"],
    ),
    (
        lambda o: SequentialLR(o, [SequentialLR(o, [StepLR(o, 2)], []), StepLR(o, 3)], [5]),
        ["schedulers[0] must be a scheduler", "other than SequentialLR", "list the inner schedulers"],
    ),
    (
        lambda o: SequentialLR(o, [step := StepLR(o, 2), step], [5]),
        ["schedulers[1] is also an earlier entry", "build another StepLR"],
    ),
    (lambda o: SequentialLR(o, [o], []), ["schedulers[0] must be a scheduler", "got SGD"]),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("build", "fragments"), ARG_CASES)
def test_bad_arguments_raise_scheduler_error_and_change_nothing(build: Build, fragments: list[str]) -> None:
    opt = optimizer(lr=0.1, momentum=0.3)
    with pytest.raises(SchedulerError) as info:
        build(opt)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    if "SequentialLR" not in str(info.value) and "schedulers" not in str(info.value):
        assert opt.lr == 0.1
        assert isinstance(opt, SGD)
        assert opt.momentum == 0.3


MODULE_CASES: list[Callable[[Any], object]] = [
    lambda m: StepLR(m, 3),
    lambda m: CosineAnnealingLR(m, 10),
    lambda m: OneCycleLR(m, 0.1, 10),
    lambda m: SequentialLR(m, [], []),
]


@pytest.mark.parametrize("build", MODULE_CASES)
def test_a_module_instead_of_an_optimizer_is_refused(build: Callable[[Any], object]) -> None:
    with pytest.raises(SchedulerError, match=r"needs a typedtensor.optim optimizer .*got One; build the optimizer"):
        build(One())


def test_one_cycle_refuses_an_optimizer_without_momentum_unless_told() -> None:
    class Other(Optimizer[None]):
        def __init__(self, model: Module) -> None:
            self.lr = 0.1
            super().__init__(model)

        def _validate(self) -> None:
            pass

        def _step(self, param: Any, grad: Any, state: None) -> tuple[Any, None]:
            return param - self.lr * grad, None

    net = One()
    other = Other(net)
    with pytest.raises(SchedulerError, match=r"cycle_momentum needs an optimizer with a momentum .* got Other; pass"):
        OneCycleLR(other, 0.1, 10)
    assert other.lr == 0.1
    OneCycleLR(other, 0.1, 10, cycle_momentum=False)
    assert other.lr == pytest.approx(0.1 / 25)


def test_stepping_one_cycle_past_total_steps_raises_and_changes_nothing() -> None:
    opt = optimizer("Adam", 0.001)
    s = OneCycleLR(opt, 0.01, total_steps=6)
    for _ in range(6):  # total_steps steps after construction, as PyTorch allows
        s.step()
    lr, betas = opt.lr, opt.betas  # type: ignore[attr-defined]
    with pytest.raises(SchedulerError) as info:
        s.step()
    for fragment in ["step 7 is past the cycle's end", "total_steps is 6", "build the scheduler with the run's"]:
        assert fragment in str(info.value)
    assert (s.last_epoch, opt.lr, opt.betas, s.get_last_lr()) == (6, lr, betas, [lr])  # type: ignore[attr-defined]


def test_one_cycle_refuses_an_empty_last_phase_when_it_is_reached() -> None:
    """pct_start=1: the fall has no steps; PyTorch divides by zero at the last allowed step, we refuse."""
    s = OneCycleLR(optimizer(), 0.1, total_steps=5, pct_start=1.0, cycle_momentum=False)
    for _ in range(4):
        s.step()
    with pytest.raises(SchedulerError, match=r"phase 2 of the cycle empty .* and pct_start < 1"):
        s.step()
    assert s.last_epoch == 4


def test_a_learning_rate_set_to_garbage_by_hand_is_reported_at_the_next_step() -> None:
    opt = optimizer()
    s = ExponentialLR(opt, 0.5)
    opt.lr = "0.1"  # type: ignore[assignment]
    with pytest.raises(SchedulerError, match=r"ExponentialLR: the optimizer's lr must be a real number, got '0.1'"):
        s.step()
    assert s.last_epoch == 0


def test_repr_shows_the_position() -> None:
    s = StepLR(optimizer(lr=0.5), 1, 0.5)
    s.step()
    assert repr(s) == "StepLR(last_epoch=1, lr=0.25)"


def test_a_refused_scheduler_leaves_no_initial_lr_behind() -> None:
    """A OneCycleLR refused at its first step records no initial_lr: the next scheduler starts from opt.lr."""
    opt = optimizer(lr=0.1)
    with pytest.raises(SchedulerError):
        OneCycleLR(opt, 1.0, total_steps=10, pct_start=0.1)
    assert StepLR(opt, 2).base_lr == 0.1
