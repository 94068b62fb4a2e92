"""Regenerate tests/golden/attention.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_attention_golden

For every case of tests/attnspec.py: PyTorch's output and its gradients of ``sum(out * w)`` for every
input and parameter, in the case's dtype (``<case>/out``, ``<case>/gquery``, ``<case>/g/<name>``), and the
query (``<case>/query``), so that the test can tell a changed input from a changed result.
MultiheadAttention cases come first, TransformerEncoderLayer cases under ``block/<case>/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.attnspec import BLOCK_CASES, CASES, block_inputs, inputs, run_block_torch, run_torch
from tests.golden.write import write_golden

OUT = Path(__file__).with_name("attention.npz")


def _cases() -> Iterator[tuple[str, Mapping[str, Any]]]:
    for case in CASES:
        arrays, mask, params = inputs(case)
        yield case.name, {"query": arrays["query"], **run_torch(case, arrays, mask, params)}
    for block in BLOCK_CASES:
        x, w, mask, params = block_inputs(block)
        yield f"block/{block.name}", {"x": x, **run_block_torch(block, x, w, mask, params)}


if __name__ == "__main__":
    write_golden(OUT, "MultiheadAttention and TransformerEncoderLayer", _cases())
