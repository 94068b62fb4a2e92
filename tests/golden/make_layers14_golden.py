"""Regenerate tests/golden/layers14.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_layers14_golden

For every case of tests/layers14spec.py, as tests/golden/make_layers_golden.py does for tests/layerspec.py: the
input, typedtensor's initial parameters, PyTorch's output and its gradients of ``sum(out * w)``, float64.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.golden.write import write_golden
from tests.layers14spec import LAYER14_CASES
from tests.layerspec import inputs, run_ours, run_torch

OUT = Path(__file__).with_name("layers14.npz")


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for case in LAYER14_CASES:
        x, w = inputs(case)
        params = {k[2:]: v for k, v in run_ours(case, x, w).items() if k.startswith("p/")}
        arrays: dict[str, Any] = {"x": x, **{f"p/{n}": p for n, p in params.items()}}
        arrays.update(run_torch(case, x, w, params))
        yield case.name, arrays


def main() -> None:
    write_golden(OUT, "layer", _cases())


if __name__ == "__main__":
    main()
