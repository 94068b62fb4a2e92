"""The writing step the layer golden-data scripts share: PyTorch's results, keyed ``<case>/<name>``, into one npz."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def write_golden(out: Path, what: str, cases: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Save every case's arrays under ``<case>/<key>`` and the torch version to ``out`` (compressed npz)."""
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    count = 0
    for name, arrays in cases:
        count += 1
        for key, value in arrays.items():
            data[f"{name}/{key}"] = value
    np.savez_compressed(out, **data)
    print(f"wrote {count} {what} cases from torch {torch.__version__} to {out}")
