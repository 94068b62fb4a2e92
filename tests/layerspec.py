"""Layer cases shared by the layer tests and their golden-data script (PyTorch).

Each case builds a typedtensor module and the PyTorch module with the same parameters, runs both on
the same float64 input, and takes gradients of ``sum(out * w)`` (w fixed and random, so the upstream
gradient is not all ones) with respect to the input and every parameter.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn

Array = NDArray[np.float64]


@dataclass(frozen=True)
class LayerCase:
    name: str
    shape: tuple[int, ...]
    ours: Callable[[], nn.Module]
    torch: Callable[[Any], Any]  # torch module -> torch.nn.Module (same parameters as ours, by name)


LAYER_CASES: list[LayerCase] = [
    LayerCase("linear", (4, 3), lambda: nn.Linear(3, 5, dtype=np.float64, seed=0), lambda th: th.nn.Linear(3, 5)),
    LayerCase(
        "linear_nobias",
        (4, 3),
        lambda: nn.Linear(3, 2, bias=False, dtype=np.float64, seed=1),
        lambda th: th.nn.Linear(3, 2, bias=False),
    ),
    LayerCase("linear_rank1", (3,), lambda: nn.Linear(3, 4, dtype=np.float64, seed=2), lambda th: th.nn.Linear(3, 4)),
    LayerCase(
        "linear_rank3", (2, 4, 3), lambda: nn.Linear(3, 4, dtype=np.float64, seed=3), lambda th: th.nn.Linear(3, 4)
    ),
    LayerCase("relu", (3, 4), nn.ReLU, lambda th: th.nn.ReLU()),
    LayerCase("gelu", (3, 4), nn.GELU, lambda th: th.nn.GELU()),
    LayerCase("tanh", (3, 4), nn.Tanh, lambda th: th.nn.Tanh()),
    LayerCase("sigmoid", (3, 4), nn.Sigmoid, lambda th: th.nn.Sigmoid()),
    LayerCase("flatten", (2, 3, 2, 2), nn.Flatten, lambda th: th.nn.Flatten()),
]


def inputs(case: LayerCase) -> tuple[Array, Array]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(case.shape)
    module: Any = case.ours()  # each layer's forward has its own signature
    shape: tuple[int, ...] = module.forward(tt.tensor(x)).shape
    return x, rng.standard_normal(shape)


def run_ours(case: LayerCase, x: Array, w: Array) -> dict[str, Array]:
    """Output and gradients (input ``x`` and each parameter by name) of typedtensor's module."""
    module: Any = case.ours()
    grads = module.alloc_grads()
    xt = tt.tensor(x).trace(grads)
    grads.alloc(xt)
    out = module.forward_mut(xt)
    got = (out * tt.tensor(w)).sum().backward()
    result = {"out": out.numpy().copy(), "gx": got.get(xt).numpy().copy()}
    for name, p in module.named_parameters():
        result[f"p/{name}"] = p.numpy().copy()
        result[f"g/{name}"] = got.get(p).numpy().copy()
    return result


def run_torch(case: LayerCase, x: Array, w: Array, params: dict[str, Array]) -> dict[str, Array]:
    """The same for PyTorch, with the parameters copied from ours (``params``: name -> values)."""
    th: Any = importlib.import_module("torch")  # optional, untyped: the checkers pass without it (stubs/README.md)
    return torch_gradients(th, case.torch(th).double(), x, w, params)


def torch_gradients(th: Any, module: Any, x: Array, w: Array, params: dict[str, Array]) -> dict[str, Array]:
    """A PyTorch module's output and gradients of ``sum(out * w)`` (``gx``, ``g/<name>``), its parameters
    first set to ``params``; ``th`` is the torch module."""
    with th.no_grad():
        for name, p in module.named_parameters():
            p.copy_(th.as_tensor(params[name]))
    xt = th.tensor(x, requires_grad=True)
    out = module(xt)
    (out * th.as_tensor(w)).sum().backward()
    assert xt.grad is not None
    result = {"out": out.detach().numpy(), "gx": xt.grad.numpy()}
    for name, p in module.named_parameters():
        assert p.grad is not None
        result[f"g/{name}"] = p.grad.numpy()
    return result
