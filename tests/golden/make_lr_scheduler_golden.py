"""Regenerate tests/golden/lr_scheduler.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_lr_scheduler_golden

Runs each configuration of ``CONFIGS`` with ``torch.optim.lr_scheduler`` on a one-parameter
``torch.optim.<kind>`` (float64 learning rates are Python floats in both libraries) and stores,
under ``<config>/``, the learning rate after construction and after each ``step()`` (``lr``, one
entry per step from 0) and the momentum the optimizer then has (``momentum``: SGD's ``momentum`` or
Adam's ``betas[0]``; OneCycleLR cycles it). A configuration's ``build`` is called with the
scheduler module (torch's or typedtensor's, the same names and arguments) and the optimizer;
``set_lr`` sets the optimizer's learning rate by hand before the given step (the schedules then
carry on from it, as PyTorch's recursive formulas do). ``torch_run`` also serves the live test.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.golden.make_optim_golden import F64, Kind
from tests.golden.write import write_golden

OUT = Path(__file__).with_name("lr_scheduler.npz")


@dataclass(frozen=True)
class Config:
    """One schedule run: the optimizer (kind, lr, momentum for SGD), the scheduler and the number of steps."""

    name: str
    kind: Kind
    lr: float
    steps: int
    build: Callable[[Any, Any], Any]
    momentum: float = 0.9
    #: (step, lr): before this ``step()`` (1-based) the optimizer's lr is set to lr by hand.
    set_lr: tuple[int, float] | None = None


def _warmup_cosine(m: Any, opt: Any) -> Any:
    return m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(opt, T_max=15)], milestones=[5]
    )


def _three_parts(m: Any, opt: Any) -> Any:
    return m.SequentialLR(
        opt,
        [
            m.ExponentialLR(opt, gamma=0.9),
            m.StepLR(opt, step_size=2, gamma=0.5),
            m.CosineAnnealingLR(opt, T_max=4, eta_min=0.001),
        ],
        milestones=[3, 9],
    )


def _onecycle_tail(m: Any, opt: Any) -> Any:
    return m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.5, total_iters=3), m.OneCycleLR(opt, max_lr=0.2, total_steps=8)], [4]
    )


CONFIGS: tuple[Config, ...] = (
    Config("step", "SGD", 0.1, 20, lambda m, opt: m.StepLR(opt, step_size=3)),
    Config("step_gamma", "Adam", 0.01, 25, lambda m, opt: m.StepLR(opt, 4, gamma=0.7)),
    Config("step_set_lr", "SGD", 0.1, 20, lambda m, opt: m.StepLR(opt, 3, 0.5), set_lr=(7, 0.03)),
    Config("multistep", "SGD", 0.1, 30, lambda m, opt: m.MultiStepLR(opt, milestones=[5, 12, 20])),
    Config("multistep_zero", "Adam", 0.02, 12, lambda m, opt: m.MultiStepLR(opt, [0, 4, 5], gamma=0.3)),
    Config("exponential", "SGD", 0.1, 40, lambda m, opt: m.ExponentialLR(opt, gamma=0.93)),
    Config("exponential_up", "AdamW", 0.001, 20, lambda m, opt: m.ExponentialLR(opt, 1.1)),
    Config("cosine", "SGD", 0.1, 50, lambda m, opt: m.CosineAnnealingLR(opt, T_max=10)),
    Config("cosine_eta_min", "Adam", 0.003, 45, lambda m, opt: m.CosineAnnealingLR(opt, T_max=7, eta_min=1e-4)),
    Config("cosine_long", "SGD", 0.5, 300, lambda m, opt: m.CosineAnnealingLR(opt, 97, 0.01)),
    Config("cosine_set_lr", "SGD", 0.1, 30, lambda m, opt: m.CosineAnnealingLR(opt, 12), set_lr=(5, 0.2)),
    Config("linear", "SGD", 0.1, 10, lambda m, opt: m.LinearLR(opt)),
    Config("linear_down", "Adam", 0.01, 30, lambda m, opt: m.LinearLR(opt, 1.0, 0.05, total_iters=20)),
    Config("linear_warmup", "SGD", 0.2, 15, lambda m, opt: m.LinearLR(opt, start_factor=0.01, total_iters=9)),
    Config("onecycle_cos_sgd", "SGD", 0.1, 100, lambda m, opt: m.OneCycleLR(opt, max_lr=0.5, total_steps=100)),
    Config(
        "onecycle_linear_adam",
        "Adam",
        0.001,
        60,
        lambda m, opt: m.OneCycleLR(opt, 0.01, epochs=6, steps_per_epoch=10, anneal_strategy="linear"),
    ),
    Config(
        "onecycle_three_phase",
        "AdamW",
        0.001,
        50,
        lambda m, opt: m.OneCycleLR(opt, max_lr=0.02, total_steps=50, pct_start=0.25, three_phase=True),
    ),
    Config(
        "onecycle_three_phase_linear",
        "SGD",
        0.1,
        40,
        lambda m, opt: m.OneCycleLR(
            opt,
            0.3,
            total_steps=40,
            pct_start=0.4,
            anneal_strategy="linear",
            three_phase=True,
            base_momentum=0.8,
            max_momentum=0.9,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    Config(
        "onecycle_no_momentum",
        "SGD",
        0.1,
        30,
        lambda m, opt: m.OneCycleLR(opt, 1.0, total_steps=30, cycle_momentum=False, pct_start=0.5),
        momentum=0.5,
    ),
    Config("sequential_warmup_cosine", "SGD", 0.1, 40, _warmup_cosine),
    Config("sequential_warmup_cosine_adam", "Adam", 0.002, 25, _warmup_cosine),
    Config("sequential_three", "SGD", 0.1, 20, _three_parts),
    Config("sequential_onecycle", "Adam", 0.01, 12, _onecycle_tail),
)


def momentum_of(opt: Any, kind: Kind) -> float:
    """SGD's momentum or Adam's/AdamW's beta1, from a torch or a typedtensor optimizer."""
    if hasattr(opt, "param_groups"):
        group = opt.param_groups[0]
        return float(group["momentum"] if kind == "SGD" else group["betas"][0])
    return float(opt.momentum if kind == "SGD" else opt.betas[0])


def torch_run(cfg: Config) -> tuple[F64, F64]:
    """PyTorch's learning rate and momentum after construction and after each of ``cfg.steps`` steps."""
    torch: Any = importlib.import_module("torch")
    param = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    cls = getattr(torch.optim, cfg.kind)
    extra = {"momentum": cfg.momentum} if cfg.kind == "SGD" else {}
    opt = cls([param], lr=cfg.lr, foreach=False, **extra)
    sched = cfg.build(torch.optim.lr_scheduler, opt)
    lrs, moms = [sched.get_last_lr()[0]], [momentum_of(opt, cfg.kind)]
    for step in range(1, cfg.steps + 1):
        param.grad = torch.ones_like(param)
        opt.step()
        if cfg.set_lr is not None and cfg.set_lr[0] == step:
            for group in opt.param_groups:
                group["lr"] = cfg.set_lr[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # none expected; a future torch warning must not change the data
            sched.step()
        lrs.append(sched.get_last_lr()[0])
        moms.append(momentum_of(opt, cfg.kind))
        assert lrs[-1] == opt.param_groups[0]["lr"]
    return np.array(lrs, np.float64), np.array(moms, np.float64)


def main() -> None:
    def cases() -> Any:
        for cfg in CONFIGS:
            lr, momentum = torch_run(cfg)
            yield cfg.name, {"lr": lr, "momentum": momentum}

    write_golden(OUT, "lr_scheduler", cases())


if __name__ == "__main__":
    main()
