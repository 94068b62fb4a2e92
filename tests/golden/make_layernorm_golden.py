"""Regenerate tests/golden/layernorm.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_layernorm_golden

For every case of tests/lnspec.py: PyTorch's output and its gradients of ``sum(out * w)`` for the input
and each parameter, in the case's dtype, under ``<case>/out``, ``<case>/gx``, ``<case>/g/<name>``; and the
input (``<case>/x``), so that the test can tell a changed input from a changed result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.golden.write import write_golden
from tests.lnspec import CASES, inputs, run_torch

OUT = Path(__file__).with_name("layernorm.npz")


def _cases() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for case in CASES:
        x, w, params = inputs(case)
        yield case.name, {"x": x, **run_torch(case, x, w, params)}


if __name__ == "__main__":
    write_golden(OUT, "LayerNorm", _cases())
