"""The BatchNorm parity grid, shared by the golden-data script and the tests.

Each configuration runs ``STEPS`` training steps (new input each step, loss ``sum(y * w)``), then one
inference forward, and records outputs, running statistics, num_batches_tracked and the gradients of
x, scale and bias. Everything is float64.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor.nn import BatchNorm1D, BatchNorm2D

Array = NDArray[np.float64]
STEPS = 3


@dataclass(frozen=True)
class Config:
    kind: str  # "2d" or "1d"
    shape: tuple[int, ...]
    momentum: float | None
    affine: bool
    track: bool

    @property
    def name(self) -> str:
        m = "none" if self.momentum is None else f"{self.momentum}"
        return f"{self.kind}_{'x'.join(map(str, self.shape))}_m{m}_a{int(self.affine)}_t{int(self.track)}"

    @property
    def channels(self) -> int:
        unbatched = self.kind == "2d" and len(self.shape) == 3
        return int(self.shape[0] if unbatched else self.shape[1])

    def data(self, step: int) -> tuple[Array, Array]:
        rng = np.random.default_rng(100 + step)
        x = rng.standard_normal(self.shape) * 2.0 + 0.5
        return x, rng.standard_normal(self.shape)

    def scale_bias(self) -> tuple[Array, Array]:
        steps = np.arange(self.channels, dtype=np.float64)
        return 1.0 + 0.25 * steps, 0.1 * steps - 0.05


SHAPES = {"2d": [(4, 3, 5, 5), (2, 3, 1, 2), (3, 4, 4)], "1d": [(6, 3), (4, 3, 5)]}
CONFIGS = [
    Config(kind, shape, m, a, t)
    for kind, shapes in SHAPES.items()
    for shape, m, a, t in itertools.product(shapes, [0.1, 0.5, None], [True, False], [True, False])
]


def run_ours(cfg: Config) -> dict[str, Array]:
    cls: Any = BatchNorm2D if cfg.kind == "2d" else BatchNorm1D
    bn = cls(cfg.channels, momentum=cfg.momentum, affine=cfg.affine, track_running_stats=cfg.track, dtype=np.float64)
    if cfg.affine:
        s, b = cfg.scale_bias()
        bn.scale._data[...] = s
        bn.bias._data[...] = b
    out: dict[str, Array] = {}
    for step in range(STEPS):
        xv, wv = cfg.data(step)
        x = tt.tensor(xv)
        grads = bn.alloc_grads()
        grads.alloc(x)
        y = bn.forward_mut(x.trace(grads))
        (y * tt.tensor(wv)).sum().backward()
        out[f"y{step}"] = np.array(y.numpy())
        out[f"dx{step}"] = np.array(grads.get(x).numpy())
        if cfg.affine:
            out[f"dscale{step}"] = np.array(grads.get(bn.scale).numpy())
            out[f"dbias{step}"] = np.array(grads.get(bn.bias).numpy())
        if cfg.track:
            out[f"rm{step}"] = np.array(bn.running_mean.numpy())
            out[f"rv{step}"] = np.array(bn.running_var.numpy())
            out[f"nbt{step}"] = np.array(bn.num_batches_tracked)
    xv, _ = cfg.data(STEPS)
    out["infer"] = np.array(bn.forward(tt.tensor(xv)).numpy())
    return out


def run_torch(cfg: Config) -> dict[str, Array]:
    torch: Any = importlib.import_module("torch")
    unbatched = cfg.kind == "2d" and len(cfg.shape) == 3
    cls = torch.nn.BatchNorm2d if cfg.kind == "2d" else torch.nn.BatchNorm1d
    bn = cls(cfg.channels, momentum=cfg.momentum, affine=cfg.affine, track_running_stats=cfg.track, dtype=torch.float64)
    if cfg.affine:
        s, b = cfg.scale_bias()
        with torch.no_grad():
            bn.weight.copy_(torch.tensor(s))
            bn.bias.copy_(torch.tensor(b))

    def fwd(xv: Array, requires_grad: bool) -> tuple[Any, Any]:
        x = torch.tensor(xv, requires_grad=requires_grad)
        y = bn(x[None] if unbatched else x)
        return x, (y[0] if unbatched else y)

    out: dict[str, Array] = {}
    bn.train()
    for step in range(STEPS):
        xv, wv = cfg.data(step)
        bn.zero_grad()
        x, y = fwd(xv, True)
        (y * torch.tensor(wv)).sum().backward()
        out[f"y{step}"] = y.detach().numpy()
        out[f"dx{step}"] = x.grad.numpy()
        if cfg.affine:
            out[f"dscale{step}"] = bn.weight.grad.numpy().copy()
            out[f"dbias{step}"] = bn.bias.grad.numpy().copy()
        if cfg.track:
            out[f"rm{step}"] = bn.running_mean.numpy().copy()
            out[f"rv{step}"] = bn.running_var.numpy().copy()
            out[f"nbt{step}"] = np.array(int(bn.num_batches_tracked))
    bn.eval()
    xv, _ = cfg.data(STEPS)
    with torch.no_grad():
        out["infer"] = fwd(xv, False)[1].numpy()
    return out
