"""Regenerate tests/golden/metrics.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_metrics_golden

Per case of ``CASES``: the logits and labels (seeded), and for every k in [1, K] the number of items whose label
PyTorch puts among the k largest logits. Without ties (case ``distinct``) that is the ``torch.topk`` computation
torchmetrics' top-k accuracy makes; with ties (``ties``: small integer logits) ``torch.topk``'s order of equal
values is unspecified, so the reference is ``torch.sort(descending=True, stable=True)``, the rule
``nn.top_k_accuracy`` documents (lower class index first among equal logits), whose k=1 is ``torch.argmax``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.golden.write import write_golden

OUT = Path(__file__).with_name("metrics.npz")
CASES = ("distinct", "ties")


def inputs(case: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The (B, K) float64 logits and (B,) int64 labels of ``case``."""
    rng = np.random.default_rng(14)
    if case == "distinct":
        return rng.standard_normal((64, 10)), rng.integers(0, 10, 64)
    return rng.integers(-2, 3, (80, 6)).astype(np.float64), rng.integers(0, 6, 80)


def torch_correct(case: str, logits: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], k: int) -> int:
    """PyTorch's count of items whose label is among the top ``k`` (see the module docstring for the rule)."""
    torch: Any = importlib.import_module("torch")
    z, y = torch.from_numpy(logits), torch.from_numpy(labels)
    if case == "distinct":
        top = torch.topk(z, k, dim=1).indices
    else:
        top = torch.sort(z, dim=1, descending=True, stable=True).indices[:, :k]
    return int((top == y[:, None]).any(dim=1).sum())


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for case in CASES:
        z, y = inputs(case)
        counts = [torch_correct(case, z, y, k) for k in range(1, z.shape[1] + 1)]
        yield case, {"logits": z, "labels": y, "correct": np.array(counts, dtype=np.int64)}


if __name__ == "__main__":
    write_golden(OUT, "metrics", _cases())
