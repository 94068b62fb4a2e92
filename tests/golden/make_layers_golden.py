"""Regenerate tests/golden/layers.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_layers_golden

For every case of tests/layerspec.py: the input, typedtensor's initial parameters (so PyTorch runs
with the same ones), PyTorch's output and its gradients of ``sum(out * w)`` for the input and every
parameter, float64, under ``<case>/x``, ``<case>/p/<name>``, ``<case>/out``, ``<case>/gx``, ``<case>/g/<name>``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.layerspec import LAYER_CASES, inputs, run_ours, run_torch

OUT = Path(__file__).with_name("layers.npz")


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    for case in LAYER_CASES:
        x, w = inputs(case)
        params = {k[2:]: v for k, v in run_ours(case, x, w).items() if k.startswith("p/")}
        data[f"{case.name}/x"] = x
        for name, p in params.items():
            data[f"{case.name}/p/{name}"] = p
        for key, value in run_torch(case, x, w, params).items():
            data[f"{case.name}/{key}"] = value
    np.savez_compressed(OUT, **data)
    print(f"wrote {len(LAYER_CASES)} layer cases from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
