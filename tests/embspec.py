"""Embedding cases shared by tests/test_embedding.py and tests/golden/make_embedding_golden.py.

Each case: a weight (N, D) from a seeded generator, integer ids with repeats (and the padding row), and
the upstream gradient ``w`` of ``sum(out * w)``; run by typedtensor and by PyTorch the same way.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn

Array = NDArray[Any]


@dataclass(frozen=True)
class EmbCase:
    name: str
    dtype: type[Any]
    rows: int
    dim: int
    shape: tuple[int, ...]
    padding_idx: int | None = None


CASES = [
    EmbCase(f"{dt.__name__}_{tag}", dt, rows, dim, shape, pad)
    for dt in (np.float64, np.float32, np.float16)
    for tag, rows, dim, shape, pad in (
        ("bt", 7, 5, (3, 4), None),
        ("flat_pad", 6, 3, (9,), 2),
        ("rank3_negpad", 5, 4, (2, 3, 2), -1),
    )
]


def inputs(case: EmbCase) -> tuple[Array, Array, Array]:
    """(weight, ids, w): every id appears, some several times (the scatter's accumulation)."""
    rng = np.random.default_rng(len(case.name) * 7 + case.rows)
    weight = rng.standard_normal((case.rows, case.dim)).astype(case.dtype)
    size = int(np.prod(case.shape))
    ids = np.concatenate([np.arange(case.rows), rng.integers(0, case.rows, max(size - case.rows, 0))])[:size]
    ids = rng.permutation(ids).reshape(case.shape).astype(np.int64)
    w = rng.standard_normal((*case.shape, case.dim)).astype(case.dtype)
    return weight, ids, w


def run_ours(case: EmbCase, weight: Array, ids: Array, w: Array) -> dict[str, Array]:
    layer = nn.Embedding(case.rows, case.dim, case.padding_idx, dtype=case.dtype)
    layer.load_state_dict({"weight": weight})
    grads = tt.Gradients()
    grads.alloc(layer.weight)
    out: tt.Tensor[Any, Any, Any] = layer.forward_mut(tt.tensor(ids, np.int64).trace(grads))
    result = (out * tt.tensor(w, case.dtype)).sum().backward()
    return {"out": out.numpy(), "g/weight": result.get(layer.weight).numpy()}


def run_torch(case: EmbCase, weight: Array, ids: Array, w: Array) -> dict[str, Array]:
    torch: Any = importlib.import_module("torch")
    dt = {np.float64: torch.float64, np.float32: torch.float32, np.float16: torch.float16}[case.dtype]
    layer = torch.nn.Embedding(case.rows, case.dim, case.padding_idx, dtype=dt)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
    out = layer(torch.as_tensor(ids))
    (out * torch.as_tensor(w)).sum().backward()
    return {"out": out.detach().numpy(), "g/weight": layer.weight.grad.numpy()}
