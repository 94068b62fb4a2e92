"""What the demos share: their common options and a BLAS thread limit (their progress bar, metrics record and
plot are the public ``typedtensor.progress``)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

__all__ = ["blas_threads", "demo_parser"]


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
