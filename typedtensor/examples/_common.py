"""What the demos share: their common options, a progress bar on stderr, matplotlib's pyplot, a BLAS thread limit."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

__all__ = ["ProgressBar", "blas_threads", "demo_parser", "pyplot", "save_figure"]


def demo_parser(name: str, doc: str | None, lr: str, quiet: str) -> argparse.ArgumentParser:
    """The command line of ``python -m typedtensor.examples.NAME`` with the options every demo takes.

    ``--batch-size`` (64), ``--lr`` (3e-3, described by ``lr``), ``--seed`` (0), ``--out`` (default
    ``NAME-output`` in the current directory) and ``--quiet`` (what it silences: ``quiet``); the demo adds
    its own. The description is the first line of ``doc``.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m typedtensor.examples.{name}", description=(doc or "").split("\n")[0]
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help=lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(f"{name}-output"),
        help=f"where the checkpoint and plot go (default: {name}-output in the current directory)",
    )
    parser.add_argument("--quiet", action="store_true", help=quiet)
    return parser


class ProgressBar:
    """A one-line progress bar on stderr (no dependency): steps done, loss, elapsed time.

    On a terminal it redraws in place; in a log (stderr not a terminal) it prints ``lines`` lines
    evenly spread over the run, the last when done.
    """

    def __init__(self, total: int, label: str, width: int = 24, lines: int = 1) -> None:
        self.total, self.label, self.width = total, label, width
        self.start = time.perf_counter()
        self.interactive = sys.stderr.isatty()
        self.lines = max(1, min(lines, total))

    def update(self, done: int, loss: float) -> None:
        if not self.interactive and done * self.lines // self.total == (done - 1) * self.lines // self.total:
            return  # in logs, only at each of the ``lines`` marks
        filled = self.width * done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        end = "\n" if done == self.total or not self.interactive else ""
        print(f"\r{self.label} [{bar}] {done}/{self.total} loss {loss:.4f} {elapsed:5.1f}s", end=end, file=sys.stderr)


def pyplot() -> Any:
    """matplotlib.pyplot drawing into files only (the Agg backend, no display); untyped, used through Any."""
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def save_figure(fig: Any, path: Path) -> None:
    """Lay out ``fig`` (a matplotlib figure), write it to ``path`` (PNG at 100 dpi) and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def blas_threads(threads: int) -> AbstractContextManager[object]:
    """A context that limits NumPy's BLAS to ``threads`` threads (0: leave its default), through threadpoolctl.

    threadpoolctl comes with the examples extra; without it the context does nothing. For a small
    model's matrices (a few hundred rows and columns) a second OpenBLAS thread gains little on an idle
    machine and costs several times over on a busy one, where each call waits for both threads.
    """
    if threads == 0:
        return contextlib.nullcontext()
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")  # untyped: used through Any
    except ImportError:
        return contextlib.nullcontext()
    limits: AbstractContextManager[object] = threadpoolctl.threadpool_limits(threads, user_api="blas")
    return limits
