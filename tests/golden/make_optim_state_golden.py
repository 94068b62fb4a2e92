"""Regenerate tests/golden/optim_state.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_optim_state_golden

What an optimizer's saved state means: each configuration of ``CONFIGS`` trains the parameters of
make_clip_golden's two-layer MLP (float64, ``initial_params``) for ``STEPS`` steps with the seeded
gradients of make_groups_golden (``gradients``) and ``torch.optim.<kind>`` (``foreach=False``). Stored
under ``<config>/<parameter>/<field>``: torch's ``optimizer.state[p]`` after the last step, under
typedtensor's field names (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``step``;
``momentum_buffer``). ``torch_state`` also serves the live test.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tests.golden.make_clip_golden import SHAPES
from tests.golden.make_groups_golden import gradients, initial_params
from tests.golden.make_optim_golden import Kind
from tests.golden.write import write_golden

OUT = Path(__file__).with_name("optim_state.npz")
STEPS = 5


@dataclass(frozen=True)
class Config:
    name: str
    kind: Kind
    options: Mapping[str, Any]


CONFIGS: tuple[Config, ...] = (
    Config("adam", "Adam", {"lr": 0.01, "weight_decay": 0.01}),
    Config("adam_amsgrad", "Adam", {"lr": 0.02, "betas": (0.8, 0.99), "amsgrad": True}),
    Config("adamw", "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    Config("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
)


def torch_state(cfg: Config) -> dict[str, NDArray[Any]]:
    """``<parameter>/<field>`` of torch's state after ``STEPS`` steps."""
    torch: Any = importlib.import_module("torch")
    params = {n: torch.tensor(v, requires_grad=True) for n, v in initial_params().items()}
    opt = getattr(torch.optim, cfg.kind)(list(params.values()), foreach=False, **cfg.options)
    for step in range(STEPS):
        for n, g in gradients(step).items():
            params[n].grad = torch.tensor(g)
        opt.step()
    out: dict[str, NDArray[Any]] = {}
    for n in SHAPES:
        for field, value in opt.state[params[n]].items():
            out[f"{n}/{field}"] = np.asarray(value.detach().numpy())
    return out


def main() -> None:
    write_golden(OUT, "optimizer-state", ((c.name, torch_state(c)) for c in CONFIGS))


if __name__ == "__main__":
    main()
