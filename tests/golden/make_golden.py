"""Regenerate tests/golden/ops.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_golden

For every case of tests/opspec.py it stores the inputs, PyTorch's output and PyTorch's gradient of
``sum(out * w)`` for each input, all float64, under ``<case>/x<i>``, ``<case>/out``, ``<case>/g<i>``.
The suite compares typedtensor against this file, so it runs without torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.opspec import CASES, run_torch

OUT = Path(__file__).with_name("ops.npz")


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, np.ndarray] = {"torch_version": np.array(torch.__version__)}
    for case in CASES:
        xs = case.inputs()
        out, grads = run_torch(case, xs)
        data[f"{case.name}/out"] = out
        for i, (x, g) in enumerate(zip(xs, grads, strict=True)):
            data[f"{case.name}/x{i}"] = x
            data[f"{case.name}/g{i}"] = g
    np.savez_compressed(OUT, **data)  # type: ignore[arg-type]
    print(f"wrote {len(CASES)} cases from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
