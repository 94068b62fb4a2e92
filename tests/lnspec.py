"""LayerNorm cases shared by tests/test_layernorm.py and their golden-data script (PyTorch).

Each case builds ``nn.LayerNorm`` and ``torch.nn.LayerNorm`` with the same random weight and bias (not
PyTorch's 1 and 0, so that their gradients matter), runs both on the same input in one dtype, and takes
the gradients of ``sum(out * w)`` (w fixed and random) for the input and each parameter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from tests.layerspec import torch_gradients
from typedtensor import extend as ext
from typedtensor import nn

Array = NDArray[Any]


@dataclass(frozen=True)
class LNCase:
    name: str
    shape: tuple[int, ...]
    dtype: type[Any] = np.float64
    options: dict[str, Any] = field(default_factory=dict[str, Any])
    #: the input's mean (rows far from zero test the statistics)
    offset: float = 0.0

    def module(self) -> nn.LayerNorm[int]:
        return nn.LayerNorm(self.shape[-1], dtype=self.dtype, **self.options)


CASES: list[LNCase] = [
    LNCase("f64", (4, 5)),
    LNCase("f64_rank1", (5,)),
    LNCase("f64_rank3", (2, 3, 6)),
    LNCase("f64_rank4", (2, 2, 3, 4)),
    LNCase("f64_nobias", (3, 4), options={"bias": False}),
    LNCase("f64_noaffine", (3, 4), options={"elementwise_affine": False}),
    LNCase("f64_eps", (3, 4), options={"eps": 0.1}),
    LNCase("f64_d1", (3, 1)),
    LNCase("f64_offset", (3, 8), offset=1e4),
    LNCase("f32", (6, 16), np.float32),
    LNCase("f32_rank3", (2, 5, 32), np.float32),
    LNCase("f32_offset", (4, 64), np.float32, offset=1e4),
    LNCase("f16", (6, 16), np.float16),
    LNCase("f16_rank3", (2, 5, 32), np.float16),
]


def inputs(case: LNCase) -> tuple[Array, Array, dict[str, Array]]:
    """x, the loss weights w, and the parameters by PyTorch name, all in the case's dtype."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(case.shape) + case.offset).astype(case.dtype)
    w = rng.standard_normal(case.shape).astype(case.dtype)
    d = case.shape[-1]
    params = {"weight": 1 + 0.5 * rng.standard_normal(d), "bias": rng.standard_normal(d)}
    names = [n for n, _ in case.module().named_parameters()]
    return x, w, {n: params[n].astype(case.dtype) for n in names}


def run_ours(case: LNCase, x: Array, w: Array, params: dict[str, Array]) -> dict[str, Array]:
    """Output and gradients (``gx``, ``g/<name>``) of typedtensor's LayerNorm."""
    module = case.module()
    for name, value in params.items():
        ext.data_mut(getattr(module, name))[...] = value
    grads = module.alloc_grads()
    xt = tt.tensor(x).trace(grads)
    grads.alloc(xt)
    out: tt.Tensor[Any, Any, Any] = module.forward_mut(xt)
    got = (out * tt.tensor(w)).sum().backward()
    result = {"out": out.numpy().copy(), "gx": got.get(xt).numpy().copy()}
    for name, p in module.named_parameters():
        result[f"g/{name}"] = got.get(p).numpy().copy()
    return result


def run_torch(case: LNCase, x: Array, w: Array, params: dict[str, Array]) -> dict[str, Array]:
    """The same for ``torch.nn.LayerNorm`` in the case's dtype."""
    th: Any = importlib.import_module("torch")  # optional, untyped: the checkers pass without it
    module = th.nn.LayerNorm(case.shape[-1], **case.options).to(getattr(th, np.dtype(case.dtype).name))
    return torch_gradients(th, module, x, w, params)
