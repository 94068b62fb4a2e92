"""Regenerate tests/golden/embedding.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_embedding_golden

For every case of tests/embspec.py: PyTorch's output and the gradient of ``sum(out * w)`` for the weight,
in the case's dtype, under ``<case>/out`` and ``<case>/g/weight``; and the ids (``<case>/ids``), so that
the test can tell changed inputs from a changed result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.embspec import CASES, inputs, run_torch
from tests.golden.write import write_golden

OUT = Path(__file__).with_name("embedding.npz")


def _cases() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for case in CASES:
        weight, ids, w = inputs(case)
        yield case.name, {"ids": ids, **run_torch(case, weight, ids, w)}


if __name__ == "__main__":
    write_golden(OUT, "Embedding", _cases())
