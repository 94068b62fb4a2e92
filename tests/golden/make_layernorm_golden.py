"""Regenerate tests/golden/layernorm.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_layernorm_golden

For every case of tests/lnspec.py: PyTorch's output and its gradients of ``sum(out * w)`` for the input
and each parameter, in the case's dtype, under ``<case>/out``, ``<case>/gx``, ``<case>/g/<name>``; and the
input (``<case>/x``), so that the test can tell a changed input from a changed result.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.lnspec import CASES, inputs, run_torch

OUT = Path(__file__).with_name("layernorm.npz")


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    for case in CASES:
        x, w, params = inputs(case)
        data[f"{case.name}/x"] = x
        for key, value in run_torch(case, x, w, params).items():
            data[f"{case.name}/{key}"] = value
    np.savez_compressed(OUT, **data)
    print(f"wrote {len(CASES)} LayerNorm cases from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
