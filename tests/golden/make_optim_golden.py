"""Regenerate tests/golden/optim.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_optim_golden

Trains the small float64 model of tests/test_optim.py (x @ W1 -> BatchNorm1d (training) -> tanh ->
@ W2, mean squared error) for ``STEPS`` steps with each configuration of ``CONFIGS`` in
torch.optim (single-tensor implementation, ``foreach=False``), and stores, under ``<config>/``, the
gradients at each step (``grads``, one row per step) and the parameters after it (``params``),
each row every parameter flattened in ``SHAPES`` order (``pack``). The test feeds the stored gradients to typedtensor's optimizer and
compares the parameters; ``TorchRun`` also serves the live comparison when torch is installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

OUT = Path(__file__).with_name("optim.npz")
STEPS = 10
BATCH = 8
#: Parameters of the test model, by typedtensor's dotted name; W1 and W2 are (in, out) (x @ W).
SHAPES: Mapping[str, tuple[int, ...]] = {
    "layers.0.weight": (4, 6),
    "bn.scale": (6,),
    "bn.bias": (6,),
    "head.weight": (6, 3),
}
BN_EPS = 1e-5
F64 = NDArray[np.float64]
Kind = Literal["SGD", "Adam", "AdamW"]


@dataclass(frozen=True)
class Config:
    """One optimizer run: the class, its keyword arguments (lr included) and an optional lr schedule."""

    name: str
    kind: Kind
    options: Mapping[str, Any] = field(default_factory=dict[str, Any])
    #: From this step on the learning rate is halved (set between steps, as a schedule would).
    decay_at: int | None = None

    def lr_at(self, step: int) -> float:
        lr = float(self.options["lr"])
        return lr * 0.5 if self.decay_at is not None and step >= self.decay_at else lr


CONFIGS: tuple[Config, ...] = (
    Config("sgd", "SGD", {"lr": 0.1}),
    Config("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9}),
    Config("sgd_dampening", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    Config("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    Config("sgd_weight_decay", "SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05}),
    Config("sgd_maximize", "SGD", {"lr": 0.02, "weight_decay": 0.01, "maximize": True}),
    Config(
        "sgd_all_schedule",
        "SGD",
        {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.02, "maximize": True},
        decay_at=5,
    ),
    Config("adam", "Adam", {"lr": 0.01}),
    Config("adam_weight_decay", "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    Config("adam_amsgrad", "Adam", {"lr": 0.02, "amsgrad": True}),
    # beta1 = 0.3: torch.lerp's second form (weight 0.7 >= 0.5)
    Config("adam_all", "Adam", {"lr": 0.01, "betas": (0.3, 0.8), "eps": 1e-3, "weight_decay": 0.05, "amsgrad": True}),
    Config("adam_maximize_schedule", "Adam", {"lr": 0.01, "maximize": True}, decay_at=5),
    Config("adamw", "AdamW", {"lr": 0.01}),
    Config("adamw_amsgrad", "AdamW", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}),
    Config(
        "adamw_all_schedule",
        "AdamW",
        {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.05, "maximize": True},
        decay_at=5,
    ),
)


def initial_params() -> dict[str, F64]:
    """The initial parameters (float64), by dotted name."""
    rng = np.random.default_rng(2024)
    out: dict[str, F64] = {}
    for name, shape in SHAPES.items():
        if name == "bn.scale":
            out[name] = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name == "bn.bias":
            out[name] = 0.1 * rng.standard_normal(shape)
        else:
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[0])
    return out


def batch(step: int) -> tuple[F64, F64]:
    """Step ``step``'s input (BATCH, 4) and target (BATCH, 3)."""
    rng = np.random.default_rng(100 + step)
    return rng.standard_normal((BATCH, 4)), rng.standard_normal((BATCH, 3))


def pack(arrays: Mapping[str, NDArray[Any]]) -> F64:
    """Every parameter's array flattened and concatenated in ``SHAPES`` order."""
    return np.concatenate([np.asarray(arrays[name], np.float64).ravel() for name in SHAPES])


def unpack(row: NDArray[Any]) -> dict[str, F64]:
    """The inverse of ``pack``."""
    out: dict[str, F64] = {}
    start = 0
    for name, shape in SHAPES.items():
        size = int(np.prod(shape))
        out[name] = np.asarray(row[start : start + size], np.float64).reshape(shape)
        start += size
    return out


class TorchRun:
    """The model's parameters as torch leaves, trained by ``torch.optim.<kind>`` with ``cfg``'s options."""

    def __init__(self, cfg: Config, init: Mapping[str, NDArray[Any]]) -> None:
        self.torch: Any = importlib.import_module("torch")
        self.cfg = cfg
        self.params = {name: self.torch.tensor(np.array(v), requires_grad=True) for name, v in init.items()}
        cls = getattr(self.torch.optim, cfg.kind)
        self.opt = cls(list(self.params.values()), foreach=False, **cfg.options)

    def gradients(self, step: int) -> dict[str, NDArray[Any]]:
        """The gradients of the loss on ``batch(step)`` at the current parameters."""
        torch, p = self.torch, self.params
        dtype = p["head.weight"].dtype
        x, target = (torch.tensor(a, dtype=dtype) for a in batch(step))
        h = x @ p["layers.0.weight"]
        h = torch.nn.functional.batch_norm(h, None, None, p["bn.scale"], p["bn.bias"], training=True, eps=BN_EPS)
        loss = ((torch.tanh(h) @ p["head.weight"] - target) ** 2).mean()
        for t in p.values():
            t.grad = None
        loss.backward()
        return {name: t.grad.numpy().copy() for name, t in p.items()}

    def step(self, step: int, grads: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        """One optimizer step at ``cfg.lr_at(step)`` with the given gradients; the parameters after it."""
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr_at(step)
        for name, t in self.params.items():
            t.grad = self.torch.tensor(np.array(grads[name]))
        self.opt.step()
        return {name: t.detach().numpy().copy() for name, t in self.params.items()}


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    data["init"] = pack(initial_params())
    for cfg in CONFIGS:
        run = TorchRun(cfg, initial_params())
        for step in range(STEPS):
            grads = run.gradients(step)
            params = run.step(step, grads)
            data.setdefault(f"{cfg.name}/grads", []).append(pack(grads))
            data.setdefault(f"{cfg.name}/params", []).append(pack(params))
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in data.items()}
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(CONFIGS)} configurations x {STEPS} steps from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
