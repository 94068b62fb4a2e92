"""Regenerate tests/golden/clip.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_clip_golden

For each case of ``CASES`` (a dtype, a clipping, an SGD step) the parameters of a two-layer MLP
(``SHAPES``, typedtensor's and PyTorch's dotted names alike) get the seeded gradients of ``gradients``
as their ``.grad``; ``torch.nn.utils.clip_grad_norm_`` (or ``clip_grad_value_``) clips them and
``torch.optim.SGD`` (momentum 0.9, ``foreach=False``) takes one step. Stored under ``<case>/``: the
returned total norm (``norm``, NaN for value clipping), the clipped gradients (``grads``) and the
parameters after the step (``params``), each flattened in ``SHAPES`` order. ``torch_case`` also
serves the live test.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from tests.golden.write import write_golden

OUT = Path(__file__).with_name("clip.npz")
SHAPES: Mapping[str, tuple[int, ...]] = {
    "fc1.weight": (6, 4),
    "fc1.bias": (6,),
    "fc2.weight": (3, 6),
    "fc2.bias": (3,),
}
LR = 0.1
MOMENTUM = 0.9
_Dtype = Literal["float32", "float64"]
_Kind = Literal["norm", "value"]


@dataclass(frozen=True)
class Case:
    """One clipping: ``kind`` "norm" (``limit`` is max_norm, with ``norm_type``) or "value" (clip_value)."""

    name: str
    dtype: _Dtype
    kind: _Kind
    limit: float
    norm_type: float = 2.0
    #: Scale of the seeded N(0, 1) gradients.
    scale: float = 1.0


_GRID: tuple[tuple[_Kind, str, float, float, float], ...] = (
    ("norm", "l2_clipped", 1.0, 2.0, 1.0),
    ("norm", "l2_unclipped", 100.0, 2.0, 1.0),
    ("norm", "l2_measure", math.inf, 2.0, 1.0),
    ("norm", "l1_clipped", 2.0, 1.0, 1.0),
    ("norm", "inf_clipped", 0.5, math.inf, 1.0),
    ("norm", "p3_5_clipped", 0.7, 3.5, 1.0),
    ("norm", "l2_large", 3.0, 2.0, 1e4),
    ("value", "0_3", 0.3, 2.0, 1.0),
    ("value", "unclipped", 10.0, 2.0, 1.0),
)
_DTYPES: tuple[_Dtype, ...] = ("float32", "float64")
#: Every clipping of ``_GRID`` (kind, label, limit, norm_type, gradient scale) in both dtypes.
CASES: tuple[Case, ...] = tuple(
    Case(f"{kind}_{label}_{dtype}", dtype, kind, limit, norm_type, scale)
    for dtype in _DTYPES
    for kind, label, limit, norm_type, scale in _GRID
)


def gradients(case: Case) -> dict[str, NDArray[Any]]:
    """The case's gradients by dotted name, in its dtype."""
    rng = np.random.default_rng(7)
    return {n: (case.scale * rng.standard_normal(s)).astype(case.dtype) for n, s in SHAPES.items()}


def initial_params(case: Case) -> dict[str, NDArray[Any]]:
    """The parameters before the step, by dotted name, in the case's dtype."""
    rng = np.random.default_rng(11)
    return {n: (0.5 * rng.standard_normal(s)).astype(case.dtype) for n, s in SHAPES.items()}


def pack(arrays: Mapping[str, NDArray[Any]]) -> NDArray[Any]:
    """Every array flattened and concatenated in ``SHAPES`` order (dtype kept)."""
    return np.concatenate([np.asarray(arrays[n]).ravel() for n in SHAPES])


def torch_case(case: Case) -> dict[str, NDArray[Any]]:
    """PyTorch's norm, clipped gradients and parameters after one SGD step for ``case``."""
    torch: Any = importlib.import_module("torch")
    params = {n: torch.tensor(v, requires_grad=True) for n, v in initial_params(case).items()}
    for n, g in gradients(case).items():
        params[n].grad = torch.tensor(g)
    ps = list(params.values())
    if case.kind == "norm":
        norm = float(torch.nn.utils.clip_grad_norm_(ps, case.limit, norm_type=case.norm_type, foreach=False))
    else:
        torch.nn.utils.clip_grad_value_(ps, case.limit, foreach=False)
        norm = math.nan
    clipped = {n: t.grad.numpy().copy() for n, t in params.items()}
    torch.optim.SGD(ps, lr=LR, momentum=MOMENTUM, foreach=False).step()
    after = {n: t.detach().numpy().copy() for n, t in params.items()}
    return {"norm": np.array(norm), "grads": pack(clipped), "params": pack(after)}


def main() -> None:
    write_golden(OUT, "gradient clipping", ((c.name, torch_case(c)) for c in CASES))


if __name__ == "__main__":
    main()
