"""Regenerate tests/golden/pool_modes.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_pool_modes_golden

For every case of tests/poolmodespec.py (pooling ceil_mode, count_include_pad, divisor_override), float64:
the input, the upstream gradient, PyTorch's output and its input gradient of ``sum(out * g)``; plus one
max-pool case with NaN inputs in ceil mode (``max_nan_ceil``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.golden.write import write_golden
from tests.poolmodespec import NAN_CASE, POOL_CASES, inputs, nan_inputs, run_torch

OUT = Path(__file__).with_name("pool_modes.npz")


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for case in POOL_CASES:
        x, g = inputs(case)
        y, dx = run_torch(case, x, g)
        yield case.name, {"x": x, "g": g, "y": y, "dx": dx}
    x, g = nan_inputs()
    y, dx = run_torch(NAN_CASE, x, g)
    yield NAN_CASE.name, {"x": x, "g": g, "y": y, "dx": dx}


def main() -> None:
    write_golden(OUT, "pooling mode", _cases())


if __name__ == "__main__":
    main()
