"""bench.demos: its typedtensor side is the demos' own training loop, and its smallest run works end to end.

Nothing here is about speed (timings are the benchmark's output, never a test's). The typedtensor side
needs no torch and is always tested; the comparison run needs torch (skipped only when it is not
installed, as the other live-PyTorch tests). The digits demo needs the examples extra (scikit-learn
ships its data), as tests/test_digits.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
#: the smallest run: one digits epoch, 3 sort steps evaluated on 20 held-out problems, one repeat, one thread
#: a side (two-threaded pools on a busy 2-core machine wait for each other's time slices: seconds per epoch)
SMALLEST = ["--repeat", "1", "--epochs", "1", "--steps", "3", "--held-out", "20", "--threads", "1"]


@pytest.fixture(autouse=True)
def environment() -> Iterator[None]:
    """bench.demos unsets OpenBLAS variables when imported: give this process its environment back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _run(*options: str) -> str:
    command = [sys.executable, "-m", "bench.demos", *SMALLEST, *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sort_side_is_the_demos_loop(tmp_path: Path) -> None:
    from bench import demos
    from typedtensor.examples import sort

    result = demos.run_side("tt", demos.config("sort", length=12, held_out=30))
    demo = sort.main(["--steps", "12", "--held-out", "30", "--quiet", "--out", str(tmp_path)])
    assert result.loss == demo["final_loss"]  # the same problems, schedule, optimizer and BLAS threads
    assert result.accuracy == demo["accuracy"]
    assert result.seconds > 0


@pytest.mark.skipif(not HAS_SKLEARN, reason="the digits demo needs the examples extra: pip install -e '.[examples]'")
def test_digits_side_is_the_demos_loop(tmp_path: Path) -> None:
    from bench import demos
    from typedtensor.examples import digits

    result = demos.run_side("tt", demos.config("digits", length=1))
    demo = digits.main(["--epochs", "1", "--quiet", "--out", str(tmp_path)])
    assert result.accuracy == demo["accuracy"]  # the demo's data, batches, schedule and optimizer


def test_default_configurations_are_the_demos() -> None:
    from bench import demos

    full, quick = demos.config("digits"), demos.config("digits", quick=True)
    assert (full.length, full.batch_size, full.lr, full.seed) == (20, 64, 3e-3, 0)
    assert quick.length < full.length
    sort_cfg = demos.config("sort")
    assert (sort_cfg.length, sort_cfg.evals, sort_cfg.held_out, sort_cfg.threads) == (1000, 5, 1000, 1)
    with pytest.raises(ValueError, match="unknown demo"):
        demos.config("mnist")


def test_typedtensor_only_run_never_loads_torch() -> None:
    names = ["sort", "digits"] if HAS_SKLEARN else ["sort"]
    out = _run("--no-torch", "--demos", *names)
    runs = [line for line in out.splitlines() if "torch loaded:" in line]
    assert len(runs) == len(names), out
    assert all("torch loaded: False" in line for line in runs), out
    for name in names:
        assert re.search(rf"^{name} +\d+\.\d+s +typedtensor \d+\.\d+%", out, re.MULTILINE), out
    assert "PyTorch" not in out.split("medians of")[1]


def test_run_against_torch_reports_both_sides() -> None:
    pytest.importorskip("torch", reason="the comparison runs the same loop in PyTorch")
    out = _run("--demos", "sort")  # digits' PyTorch loop: the next test (a child process per side costs seconds)
    runs = [line for line in out.splitlines() if "torch loaded:" in line]
    assert len(runs) == 2, out  # two sides, each in its own process
    for line in runs:
        assert ("torch loaded: True" in line) == ("PyTorch" in line), line  # typedtensor's child never loads torch
    diff = re.search(r"initial logits differ by (\S+)\)", out)
    assert diff is not None, out
    assert float(diff[1]) < 1e-5, out  # the same initial weights
    assert re.search(r"^sort +\d+\.\d+s +\d+\.\d+s +\d+\.\d+x", out, re.MULTILINE), out
    losses = re.search(r"^sort .*; (\d+\.\d+) / (\d+\.\d+)$", out, re.MULTILINE)
    assert losses is not None, out
    ours, theirs = float(losses[1]), float(losses[2])
    assert abs(ours - theirs) < 1e-3 * theirs, out  # the same problems and updates: the same loss


@pytest.mark.skipif(not HAS_SKLEARN, reason="the digits demo needs the examples extra: pip install -e '.[examples]'")
def test_digits_torch_loop_trains_as_the_demo() -> None:
    pytest.importorskip("torch", reason="the comparison runs the same loop in PyTorch")
    from bench import demos

    cfg = demos.config("digits", length=1, threads=1)
    ours, theirs = demos.run_side("tt", cfg), demos.run_side("torch", cfg)
    assert theirs.initial_logit_diff is not None
    assert theirs.initial_logit_diff < 1e-5  # the same initial weights
    # the same batches, schedule and optimizer; only the dropout masks differ (1.61 and 1.60 after one epoch)
    assert abs(ours.loss - theirs.loss) < 0.1 * ours.loss, (ours, theirs)
    assert abs(ours.accuracy - theirs.accuracy) < 0.1, (ours, theirs)
