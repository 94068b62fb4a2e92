"""Resuming training exactly: an optimizer's state (moments, momentum buffers, step counts, hyper-parameters,
groups, frozen set) and its scheduler's position saved with the model and loaded into fresh objects give, at
step n, the bytes of an uninterrupted run; ``state_dict`` round trips in every float dtype, lazily created
states included; and the state means what PyTorch's does (golden data, and live when torch is installed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.golden.make_clip_golden import SHAPES
from tests.golden.make_groups_golden import gradients, initial_params
from tests.golden.make_optim_state_golden import CONFIGS as GOLDEN_CONFIGS
from tests.golden.make_optim_state_golden import STEPS as GOLDEN_STEPS
from tests.golden.make_optim_state_golden import Config as GoldenConfig
from tests.golden.make_optim_state_golden import torch_state
from typedtensor import Gradients, OwnedTape, Tensor
from typedtensor import extend as ext
from typedtensor.nn import BatchNorm1D, Linear, Module
from typedtensor.optim import SGD, Adam, AdamW, Optimizer, ParamGroup, lr_scheduler, no_decay

pytest.importorskip("safetensors.numpy", reason="the io extra: pip install -e '.[io]'")

X = Tensor[tuple[int, int], Any, OwnedTape]
Array = NDArray[Any]
FORMATS = ("npz", "safetensors")
GOLDEN = np.load(Path(__file__).parent / "golden" / "optim_state.npz")
N, K = 9, 4


class Net(Module):
    """fc1 -> BatchNorm1D -> tanh -> fc2: parameters, running statistics and a counter."""

    def __init__(self, dtype: type[Any] = np.float32) -> None:
        self.fc1 = Linear(4, 6, seed=0, dtype=dtype)
        self.bn = BatchNorm1D(6, dtype=dtype)
        self.fc2 = Linear(6, 3, seed=1, dtype=dtype)

    def forward_mut(self, x: X) -> X:
        return self.fc2.forward_mut(self.bn.forward_mut(self.fc1.forward_mut(x)).tanh())


def batch(step: int, dtype: type[Any]) -> tuple[Array, Array]:
    rng = np.random.default_rng(100 + step)
    return rng.standard_normal((8, 4)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype)


def train_step(model: Net, opt: Optimizer[Any], step: int) -> None:
    dtype = ext.data(model.fc1.weight).dtype.type
    x, target = batch(step, dtype)
    grads: Gradients = opt.alloc_grads()
    y = model.forward_mut(tt.tensor(x).trace(grads))
    ((y - tt.tensor(target)).square()).mean().backward()
    opt.update(model, grads)


Build = Callable[[Net], Optimizer[Any]]
Schedule = Callable[[Optimizer[Any]], lr_scheduler.LRScheduler]


@dataclass(frozen=True)
class Case:
    name: str
    build: Build
    schedule: Schedule | None = None


def _groups(model: Net) -> list[ParamGroup]:
    return [ParamGroup(no_decay, lr_scale=0.5, weight_decay=0.0)]


def _one_cycle(opt: Optimizer[Any]) -> lr_scheduler.LRScheduler:
    return lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=N, pct_start=0.4, cycle_momentum=True)


def _warmup_cosine(opt: Optimizer[Any]) -> lr_scheduler.LRScheduler:
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=N - 3, eta_min=1e-4)
    return lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[3])


#: Adam's eps is 1e-4 so that the float16 runs stay finite (1e-8 rounds to 0 in float16).
CASES: tuple[Case, ...] = (
    Case("sgd_momentum", lambda m: SGD(m, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    Case("sgd_nesterov_groups", lambda m: SGD(m, lr=0.05, momentum=0.9, nesterov=True, groups=_groups(m))),
    Case("adam_amsgrad_frozen", lambda m: Adam(m, lr=0.01, eps=1e-4, amsgrad=True, frozen=[m.fc1])),
    Case(
        "adamw_groups_frozen", lambda m: AdamW(m, lr=0.01, eps=1e-4, weight_decay=0.1, groups=_groups(m), frozen=[m.bn])
    ),
    Case("sgd_one_cycle", lambda m: SGD(m, lr=0.05, momentum=0.9), _one_cycle),
    Case("adam_one_cycle_groups", lambda m: Adam(m, lr=0.01, eps=1e-4, groups=_groups(m)), _one_cycle),
    Case("adamw_warmup_cosine_frozen", lambda m: AdamW(m, lr=0.02, eps=1e-4, frozen=[m.fc2]), _warmup_cosine),
    Case("sgd_warmup_cosine", lambda m: SGD(m, lr=0.1, momentum=0.5), _warmup_cosine),
)


def setup(case: Case, dtype: type[Any] = np.float32) -> tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None]:
    model = Net(dtype)
    opt = case.build(model)
    return model, opt, None if case.schedule is None else case.schedule(opt)


def run(case: Case, start: int, stop: int, parts: tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None]) -> None:
    model, opt, sched = parts
    for step in range(start, stop):
        train_step(model, opt, step)
        if sched is not None:
            sched.step()


def save(parts: tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None], fmt: str, directory: Path) -> None:
    model, opt, sched = parts
    if fmt == "npz":
        model.save_npz(directory / "model.npz")
        opt.save_npz(directory / "opt.npz", scheduler=sched)
    else:
        model.save_safetensors(directory / "model.safetensors")
        opt.save_safetensors(directory / "opt.safetensors", scheduler=sched)


def load(parts: tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None], fmt: str, directory: Path) -> None:
    model, opt, sched = parts
    if fmt == "npz":
        model.load_npz(directory / "model.npz")
        opt.load_npz(directory / "opt.npz", scheduler=sched)
    else:
        model.load_safetensors(directory / "model.safetensors")
        opt.load_safetensors(directory / "opt.safetensors", scheduler=sched)


def snapshot(parts: tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None]) -> dict[str, object]:
    """Everything that decides the next steps, as bytes where arrays: model state, optimizer state, schedule."""
    model, opt, sched = parts
    out: dict[str, object] = {f"model.{k}": (v.dtype, v.shape, v.tobytes()) for k, v in model.state_dict().items()}
    for k, v in opt.state_dict(scheduler=sched).items():
        arr = cast("Array", v) if isinstance(v, np.ndarray) else None
        out[f"opt.{k}"] = (arr.dtype, arr.shape, arr.tobytes()) if arr is not None else v
    out["lr"], out["repr"] = opt.lr, repr(opt)
    if sched is not None:
        out["sched"] = (repr(sched), sched.get_last_lr())
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_resuming_from_a_checkpoint_gives_the_uninterrupted_runs_bytes(tmp_path: Path, case: Case, fmt: str) -> None:
    straight = setup(case)
    run(case, 0, N, straight)
    first = setup(case)
    run(case, 0, K, first)
    save(first, fmt, tmp_path)
    resumed = setup(case)  # fresh model, optimizer and scheduler, as a new process builds them
    load(resumed, fmt, tmp_path)
    assert snapshot(resumed) == snapshot(first)
    run(case, K, N, resumed)
    want, got = snapshot(straight), snapshot(resumed)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == value, key
    assert resumed[1].steps == N


@pytest.mark.parametrize("case", [CASES[2], CASES[4], CASES[6]], ids=lambda c: c.name)
def test_resuming_without_the_optimizers_state_does_not_give_those_bytes(tmp_path: Path, case: Case) -> None:
    """The resume test can fail: the model alone (fresh moments, momentum, schedule) trains differently."""
    straight = setup(case)
    run(case, 0, N, straight)
    first = setup(case)
    run(case, 0, K, first)
    first[0].save_npz(tmp_path / "model.npz")
    resumed = setup(case)
    resumed[0].load_npz(tmp_path / "model.npz")
    run(case, K, N, resumed)
    want, got = straight[0].state_dict(), resumed[0].state_dict()
    assert any(not np.array_equal(want[k], got[k]) for k in want)


# ---- state_dict ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_state_dict_round_trips_bit_for_bit_in_every_dtype(case: Case, dtype: type[Any]) -> None:
    first = setup(case, dtype)
    run(case, 0, K, first)
    state = first[1].state_dict(scheduler=first[2])
    arrays = [cast("Array", v) for v in state.values() if isinstance(v, np.ndarray)]
    assert arrays
    assert all(v.dtype == dtype for v in arrays)
    other = setup(case, dtype)
    other[0].load_state_dict(first[0].state_dict())
    other[1].load_state_dict(state, scheduler=other[2])
    assert snapshot(other) == snapshot(first)
    for parts in (first, other):
        run(case, K, K + 2, parts)
    assert snapshot(other) == snapshot(first)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_files_keep_the_state_bit_for_bit_in_every_dtype(tmp_path: Path, dtype: type[Any], fmt: str) -> None:
    """(float32: the resume tests.) Each state array comes back in its parameter's dtype, byte for byte."""
    first = setup(CASES[2], dtype)
    run(CASES[2], 0, K, first)
    save(first, fmt, tmp_path)
    other = setup(CASES[2], dtype)
    load(other, fmt, tmp_path)
    assert snapshot(other) == snapshot(first)
    assert any(k.endswith(".max_exp_avg_sq") for k in other[1].state_dict())


def test_state_dict_is_a_copy_in_both_directions() -> None:
    model, opt, _ = setup(CASES[2])
    run(CASES[2], 0, 2, (model, opt, None))
    state = opt.state_dict()
    key = "state.fc2.weight.exp_avg"
    before = cast("Array", state[key]).copy()
    cast("Array", state[key])[...] = 7.0  # the returned arrays are not the optimizer's
    np.testing.assert_array_equal(cast("Array", opt.state_dict()[key]), before)
    state[key] = before.copy()
    opt.load_state_dict(state)
    cast("Array", state[key])[...] = 9.0  # nor are the loaded ones kept
    np.testing.assert_array_equal(cast("Array", opt.state_dict()[key]), before)


def test_the_mappings_entries() -> None:
    model = Net()
    opt = Adam(model, lr=0.01, betas=(0.8, 0.9), groups=_groups(model), frozen=[model.fc1])
    run(CASES[0], 0, 2, (model, opt, None))
    state = opt.state_dict()
    assert state["type"] == "Adam"
    assert state["steps"] == 2
    assert state["hparams.lr"] == 0.01
    assert state["hparams.betas"] == (0.8, 0.9)
    assert state["hparams.amsgrad"] is False
    assert state["param.fc1.weight"] == ((6, 4), "float32")
    assert state["frozen"] == ("fc1.weight", "fc1.bias")
    assert state["group.fc2.bias"] == (0.5, 0.0)
    assert "group.fc2.weight" not in state
    assert state["state.fc2.weight.step"] == 2
    assert "state.fc1.weight.step" not in state  # frozen: no state
    assert "state.fc2.weight.max_exp_avg_sq" not in state  # no AMSGrad: None, not saved


def test_a_fresh_optimizers_state_round_trips(tmp_path: Path) -> None:
    """No step yet: no state arrays at all (a safetensors file of metadata only)."""
    for fmt in FORMATS:
        model = Net()
        opt = SGD(model, lr=0.1, momentum=0.9)
        save((model, opt, None), fmt, tmp_path)
        other = Net()
        o2 = SGD(other, lr=0.3, momentum=0.9)
        load((other, o2, None), fmt, tmp_path)
        assert (o2.lr, o2.steps, o2.state_dict()) == (0.1, 0, opt.state_dict())


@pytest.mark.parametrize("fmt", FORMATS)
def test_amsgrad_switched_on_later_round_trips_and_resumes(tmp_path: Path, fmt: str) -> None:
    """A state created before AMSGrad was switched on has no running max; it is created at the next step."""

    def parts() -> tuple[Net, Optimizer[Any], None]:
        m = Net()
        return m, Adam(m, lr=0.01), None

    straight, first = parts(), parts()
    for p in (straight, first):
        run(CASES[0], 0, 2, p)
        cast("Adam", p[1]).amsgrad = True  # switched on: the states have no running max until the next step
    saved = first[1].state_dict()
    assert saved["hparams.amsgrad"] is True
    assert not any(k.endswith(".max_exp_avg_sq") for k in saved)
    save(first, fmt, tmp_path)
    resumed = parts()
    load(resumed, fmt, tmp_path)
    assert cast("Adam", resumed[1]).amsgrad is True
    assert snapshot(resumed) == snapshot(first)
    run(CASES[0], 2, 5, straight)
    run(CASES[0], 2, 5, resumed)
    assert "state.fc1.weight.max_exp_avg_sq" in resumed[1].state_dict()
    assert snapshot(resumed) == snapshot(straight)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sgd_momentum_switched_on_later_round_trips(tmp_path: Path, fmt: str) -> None:
    """SGD without momentum has no buffer (None); switched on later, the buffer is created and saved."""

    def parts() -> tuple[Net, Optimizer[Any], None]:
        m = Net()
        return m, SGD(m, lr=0.05), None

    straight, first = parts(), parts()
    for p in (straight, first):
        run(CASES[0], 0, 2, p)
    assert not any(k.startswith("state.") for k in first[1].state_dict())
    for p in (straight, first):
        cast("SGD", p[1]).momentum = 0.9
        run(CASES[0], 2, 3, p)
    save(first, fmt, tmp_path)
    resumed = parts()
    load(resumed, fmt, tmp_path)
    assert cast("SGD", resumed[1]).momentum == 0.9
    run(CASES[0], 3, 6, straight)
    run(CASES[0], 3, 6, resumed)
    assert snapshot(resumed) == snapshot(straight)


def test_repr_after_loading_is_the_saved_optimizers() -> None:
    model, opt, sched = setup(CASES[5])
    run(CASES[5], 0, K, (model, opt, sched))
    other = setup(CASES[5])
    other[1].load_state_dict(opt.state_dict(scheduler=sched), scheduler=other[2])
    assert repr(other[1]) == repr(opt)
    assert f"steps={K}" in repr(other[1])
    assert "grouped=" in repr(other[1])
    assert repr(other[2]) == repr(sched)


# ---- the state's meaning: PyTorch's --------------------------------------------------------------


class MLP(Module):
    """make_clip_golden's two-layer MLP in float64 with make_groups_golden's initial parameters."""

    def __init__(self) -> None:
        self.fc1 = Linear(4, 6, dtype=np.float64, seed=0)
        self.fc2 = Linear(6, 3, dtype=np.float64, seed=1)
        self.load_state_dict(initial_params())


def our_state(cfg: GoldenConfig) -> dict[str, object]:
    model = MLP()
    cls: Any = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[cfg.kind]
    opt: Optimizer[Any] = cls(model, **cfg.options)
    for step in range(GOLDEN_STEPS):
        grads = model.alloc_grads()
        for name, t in model.named_parameters():
            ext.set_grad(grads, t, gradients(step)[name])
        opt.update(model, grads)
    return opt.state_dict()


def compare(cfg: GoldenConfig, theirs: dict[str, Array]) -> float:
    """The largest absolute difference of our saved state to torch's; every field of theirs is ours."""
    ours = our_state(cfg)
    ours_fields = {k.removeprefix("state.") for k in ours if k.startswith("state.")}
    assert {k.replace("/", ".") for k in theirs} == ours_fields
    worst = 0.0
    for key, value in theirs.items():
        name, field = key.split("/")
        mine = ours[f"state.{name}.{field}"]
        if field == "step":
            assert mine == int(value) == GOLDEN_STEPS
            continue
        arr = cast("Array", mine)
        assert arr.dtype == np.float64
        assert arr.shape == SHAPES[name]
        worst = max(worst, float(np.max(np.abs(arr - value))))
    return worst


@pytest.mark.parametrize("cfg", GOLDEN_CONFIGS, ids=[c.name for c in GOLDEN_CONFIGS])
def test_the_state_is_pytorchs_golden(cfg: GoldenConfig) -> None:
    theirs = {k[len(cfg.name) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(cfg.name + "/")}
    worst = compare(cfg, theirs)
    print(f"{cfg.name}: max abs difference of the state to torch's (golden) {worst:.3g}")
    assert worst <= 1e-15


@pytest.mark.parametrize("cfg", GOLDEN_CONFIGS, ids=[c.name for c in GOLDEN_CONFIGS])
def test_the_state_is_pytorchs_live(cfg: GoldenConfig) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this configuration")
    worst = compare(cfg, torch_state(cfg))
    print(f"{cfg.name}: max abs difference of the state to torch's (live) {worst:.3g}")
    assert worst <= 1e-15


def test_golden_matches_the_configs() -> None:
    assert {k.split("/")[0] for k in GOLDEN.files} == {"torch_version"} | {c.name for c in GOLDEN_CONFIGS}
