"""Regenerate tests/golden/embedding.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_embedding_golden

For every case of tests/embspec.py: PyTorch's output and the gradient of ``sum(out * w)`` for the weight,
in the case's dtype, under ``<case>/out`` and ``<case>/g/weight``; and the ids (``<case>/ids``), so that
the test can tell changed inputs from a changed result.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.embspec import CASES, inputs, run_torch

OUT = Path(__file__).with_name("embedding.npz")


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    for case in CASES:
        weight, ids, w = inputs(case)
        data[f"{case.name}/ids"] = ids
        for key, value in run_torch(case, weight, ids, w).items():
            data[f"{case.name}/{key}"] = value
    np.savez_compressed(OUT, **data)
    print(f"wrote {len(CASES)} Embedding cases from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
