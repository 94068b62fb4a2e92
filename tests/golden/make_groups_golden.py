"""Regenerate tests/golden/optim_groups.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_groups_golden

Each configuration of ``CONFIGS`` trains the parameters of make_clip_golden's two-layer MLP (``SHAPES``) with
``torch.optim.<kind>`` (``foreach=False``) given as parameter groups: a group per ``(names, lr_scale,
weight_decay)`` of ``groups`` (lr ``lr_scale * lr``), the other parameters in a last group with the
optimizer's options, the ``frozen`` names in no group (``requires_grad`` False, no gradient). The
gradients of each step are seeded (``gradients``); from ``DECAY_AT`` every group's lr is halved (a
schedule). Stored under ``<config>/``: the parameters after each step, flattened in ``SHAPES`` order.
``torch_run`` also serves the live test.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tests.golden.make_clip_golden import SHAPES, pack  # the same MLP (float64 here)
from tests.golden.make_optim_golden import Kind
from tests.golden.write import write_golden

OUT = Path(__file__).with_name("optim_groups.npz")
STEPS = 8
DECAY_AT = 5
BIASES = ("fc1.bias", "fc2.bias")


@dataclass(frozen=True)
class Config:
    name: str
    kind: Kind
    options: Mapping[str, Any]
    #: (parameter names, lr_scale, weight_decay or None), first match wins.
    groups: tuple[tuple[tuple[str, ...], float, float | None], ...] = ()
    frozen: tuple[str, ...] = field(default=())


CONFIGS: tuple[Config, ...] = (
    Config("adamw_no_decay", "AdamW", {"lr": 0.01, "weight_decay": 0.1}, ((BIASES, 1.0, 0.0),)),
    Config(
        "sgd_head_lr_frozen_fc1",
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05},
        ((("fc2.weight", "fc2.bias"), 10.0, None),),
        frozen=("fc1.weight", "fc1.bias"),
    ),
    Config(
        "adam_two_groups",
        "Adam",
        {"lr": 0.02, "weight_decay": 0.01, "amsgrad": True},
        ((BIASES, 1.0, 0.0), (("fc2.weight",), 0.5, 0.2)),
    ),
    Config("adamw_frozen_bias", "AdamW", {"lr": 0.01}, (), frozen=("fc2.bias",)),
)


def initial_params() -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(5)
    return {n: 0.5 * rng.standard_normal(s) for n, s in SHAPES.items()}


def gradients(step: int) -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(200 + step)
    return {n: rng.standard_normal(s) for n, s in SHAPES.items()}


def lr_factor(step: int) -> float:
    return 0.5 if step >= DECAY_AT else 1.0


def torch_run(cfg: Config) -> NDArray[np.float64]:
    """The parameters after each step (one row per step)."""
    torch: Any = importlib.import_module("torch")
    params = {n: torch.tensor(v, requires_grad=n not in cfg.frozen) for n, v in initial_params().items()}
    lr = float(cfg.options["lr"])
    groups: list[dict[str, Any]] = []
    taken: set[str] = set(cfg.frozen)
    for names, scale, wd in cfg.groups:
        chosen = [n for n in names if n not in taken]
        taken |= set(chosen)
        group: dict[str, Any] = {"params": [params[n] for n in chosen], "lr": scale * lr}
        if wd is not None:
            group["weight_decay"] = wd
        groups.append(group)
    rest = [params[n] for n in SHAPES if n not in taken]
    groups.append({"params": rest})
    opt = getattr(torch.optim, cfg.kind)(groups, foreach=False, **cfg.options)
    initial = [g["lr"] for g in opt.param_groups]
    rows: list[NDArray[np.float64]] = []
    for step in range(STEPS):
        for g, lr0 in zip(opt.param_groups, initial, strict=True):
            g["lr"] = lr0 * lr_factor(step)
        for n, g in gradients(step).items():
            params[n].grad = None if n in cfg.frozen else torch.tensor(g)
        opt.step()
        rows.append(pack({n: t.detach().numpy() for n, t in params.items()}))
    return np.stack(rows)


def main() -> None:
    write_golden(OUT, "parameter-group", ((c.name, {"params": torch_run(c)}) for c in CONFIGS))


if __name__ == "__main__":
    main()
