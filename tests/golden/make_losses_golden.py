"""Regenerate tests/golden/losses.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_losses_golden

For every case of tests/lossspec.py: the inputs (``<case>/x<i>``, so that the test can tell a changed input
from a changed result), ``torch.nn.functional``'s loss (``<case>/out``) and its gradients of ``sum(out * w)``
for each input (``<case>/g<i>``), in the case's dtype.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.golden.write import write_golden
from tests.lossspec import CASES, run_torch

OUT = Path(__file__).with_name("losses.npz")


def _cases() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for case in CASES:
        xs = case.inputs()
        yield case.name, {**{f"x{i}": x for i, x in enumerate(xs)}, **run_torch(case, xs)}


if __name__ == "__main__":
    write_golden(OUT, "loss", _cases())
