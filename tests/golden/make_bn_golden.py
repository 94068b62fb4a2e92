"""Regenerate tests/golden/batchnorm.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_bn_golden

Runs every configuration of tests/bngrid.py through torch.nn.BatchNorm1d/2d (float64) and stores
the outputs, running statistics, counters and gradients under ``<config>/<key>``. Unbatched (C, H, W)
input is given to PyTorch with a batch dim of 1.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.bngrid import CONFIGS, run_torch

OUT = Path(__file__).with_name("batchnorm.npz")


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    for cfg in CONFIGS:
        for key, value in run_torch(cfg).items():
            data[f"{cfg.name}/{key}"] = value
    np.savez_compressed(OUT, **data)
    print(f"wrote {len(CONFIGS)} configurations from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
