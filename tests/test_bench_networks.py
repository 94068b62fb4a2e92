"""bench.networks and bench._nets: the PyTorch twins compute what the typedtensor networks compute.

Nothing here is about speed (timings are the benchmark's output, never a test's): the benchmark's quick
mode runs end to end on a tiny batch and reports equal outputs, and each network's two sides give the
same logits, loss and gradients.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def environment() -> Iterator[None]:
    """bench.transformer_step unsets OpenBLAS variables when imported: give this process its environment back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_quick_run_reports_equal_outputs() -> None:
    pytest.importorskip("torch", reason="the benchmark compares against PyTorch")
    command = [sys.executable, "-m", "bench.networks", "--quick", "--networks", "digits", "--batches", "2"]
    command += ["--bn", "numpy", "--repeat", "1", "--no-memory", "--no-conv"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if "same outputs" in x)
    from bench._nets import TOLERANCES

    values = dict(re.findall(r"(\w+) \(BN numpy\) (\d\.\de[-+]\d+)", line))
    assert set(values) == set(TOLERANCES), line  # inference logits, loss, gradients
    assert all(float(v) <= TOLERANCES[k] for k, v in values.items()), line
    assert "training step, BN numpy" in done.stdout


@pytest.mark.usefixtures("environment")
@pytest.mark.parametrize(
    ("name", "batch"), [("resnet", 8), ("resnet", 64), ("vgg", 8), ("sort", 8)]
)  # digits: the quick run above
def test_twins_compute_the_same(name: str, batch: int) -> None:
    torch: Any = pytest.importorskip("torch", reason="the twins are PyTorch networks")
    from bench import _nets

    pair = _nets.build(name, batch, torch)
    before = {k: v.clone() for k, v in pair.torch_net.state_dict().items()}
    for key, value in pair.model.state_dict().items():  # the weight copy: every tensor, PyTorch's names
        torch_key = key.replace("scale", "weight") if key.endswith(".scale") else key
        assert (before[torch_key].numpy() == value).all(), key
    for _ in range(2):  # the benchmark checks once per BatchNorm backend: the first check must keep the weights equal
        result = _nets.parity(torch, pair)
        assert set(result) == set(_nets.TOLERANCES)
        assert all(v <= _nets.TOLERANCES[k] for k, v in result.items()), result


@pytest.mark.usefixtures("environment")
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="the resident set is read from /proc (Linux)")
def test_the_three_memory_measures_see_one_allocation() -> None:
    import time

    import numpy as np

    from bench import networks

    size = 40 << 20

    def call() -> None:
        block = np.ones(size, np.uint8)  # touched: resident
        time.sleep(0.02)  # long enough for the polling thread to see it
        del block

    for measure in (networks.rss_peak, networks.sampled_peak, networks.traced_peak):
        peak = measure(call)
        assert peak is not None
        assert 0.9 * size <= peak <= 1.5 * size, (measure.__name__, peak)


@pytest.mark.usefixtures("environment")
def test_describe_threads_marks_counts_not_in_force() -> None:
    from bench.networks import describe_threads

    line = describe_threads([("torch.get_num_threads()", 2), ("openblas (blas, x.so)", 4), ("numba layer", "omp")], 2)
    assert line == "torch.get_num_threads() 2, openblas (blas, x.so) 4 (NOT 2), numba layer omp"


def test_memory_child_measures_every_cell_it_is_given() -> None:
    command = [sys.executable, "-m", "bench.networks", "--child-memory", "tt", "numpy", "digits:2", "digits:4"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == {"digits 2", "digits 4"}
    for values in figures.values():
        assert set(values) == {f"{w} {m}" for w in ("step", "infer") for m in ("rss", "sampled", "traced")}
        assert all(v is None or v >= 0 for v in values.values())
    assert figures["digits 4"]["step traced"] > figures["digits 2"]["step traced"] > 0


@pytest.mark.usefixtures("environment")
def test_memory_check_compares_large_figures_relatively_small_ones_in_mb() -> None:
    from bench.networks import MB, Cell, memory_check

    big = Cell("resnet", 64, memory={"tt numpy step rss": 100 * MB, "tt numpy step sampled": 90 * MB})
    small = Cell("digits", 8, memory={"torch infer rss": 0.5 * MB, "torch infer sampled": 0.25 * MB})
    line = memory_check([big, small])
    assert "over 2 figures" in line
    assert "largest difference 10% (resnet 64 tt numpy step)" in line
    assert "at most 0.25 MB (digits 8 torch infer)" in line
    assert memory_check([Cell("digits", 8)]) == "no polled figures"
