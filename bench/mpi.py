"""Data-parallel cost over MPI: the all-reduce per training step and the digits demo from 1 to 2 processes.

Run from the repository root (needs the ``mpi`` and ``examples`` extras)::

    python -m bench.mpi [--repeat N] [--epochs E (20)] [--processes P]

It launches workers, alternately one plain process and ``mpiexec -n P python -m mpi4py -m bench.mpi
--worker`` (default P = 2), ``--repeat`` times each, and reports medians over the launches. Each worker
runs the digits demo's network (``typedtensor.examples.digits.DigitsNet``, float32, AdamW):

* ``step``: one training step (zero the gradients, forward of this process's share of the batch,
  cross-entropy, backward, gradient all-reduce, update) at global batch 64 (the demo's) and 256;
  median over blocks of steps, each block started after a barrier;
* inside those steps (P processes), the time spent in the gradient all-reduce
  (``distributed.average_gradients``: the 24,058 gradients in one fused float32 ``Allreduce``) and in the
  SyncBatchNorm2D all-gathers (two per layer and step: statistics forward, gradient sums backward),
  waiting for the slower process included;
* ``allreduce alone``: ``average_gradients`` in a tight loop after a barrier (the transport's cost);
* ``demo``: ``digits.train`` for ``--epochs`` epochs (data loading and process start-up excluded) and
  the held-out accuracy it reaches.

Data-parallel workers call ``distributed.share_cores()`` (one BLAS thread per process on a two-core
machine); the single process keeps its default threads, as the demo does. The machine is shared and
noisy: launches are interleaved and medians reported. ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``
are unset before NumPy loads (and for the workers), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._timing import unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from typedtensor import _mpi, nn  # noqa: E402
from typedtensor import distributed as dist  # noqa: E402
from typedtensor.examples import digits  # noqa: E402

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
BATCHES = (64, 256)
WORKER_TIMEOUT_S = 600


class Timer:
    """Accumulated seconds spent in wrapped calls."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def _barrier(dp: bool) -> None:
    if dp:
        dist.world().Barrier()


def step_times(batch: int, dp: bool, steps: int = 30, blocks: int = 5) -> dict[str, float]:
    """Median ms per training step, and (data-parallel) us per step in the all-reduce and all-gathers."""
    model = digits.DigitsNet(0)
    if dp:
        model = nn.convert_sync_batchnorm(model)
        dist.broadcast_parameters(model)
    grads = model.alloc_grads()
    opt = tt.optim.AdamW(model, lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, batch)
    part = dist.shard(batch) if dp else slice(None)
    images, labels = digits._images(x[part]), digits._labels(y[part])
    reduce_timer, gather_timer = Timer(), Timer()
    average = reduce_timer.wrap(dist.average_gradients)
    original_allgather = _mpi.allgather
    _mpi.allgather = gather_timer.wrap(original_allgather)  # what the SyncBatchNorm layers call

    def step() -> None:
        model.zero_grads(grads)
        loss = nn.cross_entropy(model.forward_mut(images.trace(grads)), labels, "sum") * (1.0 / batch)
        loss.backward()
        if dp:
            average(model, grads, op="sum")
        opt.update(model, grads)

    try:
        for _ in range(10):
            step()
        samples: list[float] = []
        reduce_timer.seconds = gather_timer.seconds = 0.0
        for _ in range(blocks):
            _barrier(dp)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            samples.append((time.perf_counter() - start) / steps)
    finally:
        _mpi.allgather = original_allgather
    total = steps * blocks
    out = {"step_ms": statistics.median(samples) * 1e3}
    if dp:
        out["allreduce_in_step_us"] = reduce_timer.seconds / total * 1e6
        out["allgathers_in_step_us"] = gather_timer.seconds / total * 1e6
        out["allreduce_alone_us"] = allreduce_alone(model, grads)
        out["floats"] = float(model.num_trainable_params())
    return out


def allreduce_alone(model: digits.DigitsNet, grads: tt.Gradients, calls: int = 200, blocks: int = 5) -> float:
    """Median us of ``average_gradients`` in a loop started after a barrier."""
    samples: list[float] = []
    for _ in range(blocks):
        _barrier(True)
        start = time.perf_counter()
        for _ in range(calls):
            dist.average_gradients(model, grads, op="sum")
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples) * 1e6


def worker(epochs: int) -> None:
    """One launch's measurements, printed as one JSON line by rank 0."""
    dp = dist.launched_size() > 1
    result: dict[str, Any] = {"processes": dist.size() if dp else 1}
    if dp:
        result["threads"] = dist.share_cores()
    for batch in BATCHES:
        result[f"batch{batch}"] = step_times(batch, dp)
    data = digits.load_data(0)
    _barrier(dp)
    start = time.perf_counter()
    model, _ = digits.train(data, epochs, verbose=False, distributed=dp)
    result["demo_s"] = time.perf_counter() - start
    result["accuracy"] = digits.evaluate(model, data.x_test, data.y_test)[1]
    if not dp or dist.rank() == 0:
        print(json.dumps(result), flush=True)


def launch(command: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({' '.join(command)}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="data-parallel training over MPI: all-reduce cost and scaling")
    parser.add_argument("--repeat", type=int, default=3, help="launches of each configuration (interleaved)")
    parser.add_argument("--epochs", type=int, default=20, help="demo epochs timed per launch (the demo's default)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.epochs)
        return
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install 'typedtensor[mpi]' (mpi4py and the MPICH wheels)")
    print("data-parallel digits training over MPI: 1 process vs", args.processes)
    print(f"python {platform.python_version()}, numpy {np.__version__}, typedtensor {tt.__version__}")
    print(f"mpi4py {_version('mpi4py')}, MPICH wheel {_version('mpich')} (mpiexec: {mpiexec})")
    print(f"CPUs available: {CPUS}")
    if UNSET:
        print("unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET.items()) + " before importing numpy")
    worker_cmd = ["-m", "bench.mpi", "--worker", "--epochs", str(args.epochs)]
    single_cmd = [sys.executable, *worker_cmd]
    multi_cmd = [mpiexec, "-n", str(args.processes), sys.executable, "-m", "mpi4py", *worker_cmd]
    singles: list[dict[str, Any]] = []
    multis: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        singles.append(launch(single_cmd))
        multis.append(launch(multi_cmd))

    def med(runs: list[dict[str, Any]], *keys: str) -> float:
        values: list[float] = []
        for run in runs:
            value: Any = run
            for key in keys:
                value = value[key]
            values.append(float(value))
        return statistics.median(values)

    p = args.processes
    print(f"\nmedians over {args.repeat} launches of each; {p} processes with {multis[0]['threads']} thread(s) each")
    print(f"\n{'training step (ms)':28} {'1 process':>10} {f'{p} processes':>12} {'speed-up':>9}")
    for batch in BATCHES:
        one, many = med(singles, f"batch{batch}", "step_ms"), med(multis, f"batch{batch}", "step_ms")
        print(f"{f'global batch {batch}':28} {one:10.2f} {many:12.2f} {one / many:8.2f}x")
    print(f"\nper training step with {p} processes (us)")
    floats = int(med(multis, "batch64", "floats"))
    for batch in BATCHES:
        reduce_us = med(multis, f"batch{batch}", "allreduce_in_step_us")
        gather_us = med(multis, f"batch{batch}", "allgathers_in_step_us")
        step_us = med(multis, f"batch{batch}", "step_ms") * 1e3
        print(
            f"  batch {batch}: gradient all-reduce ({floats:,} float32) {reduce_us:7.1f}, SyncBatchNorm all-gathers "
            f"(6) {gather_us:7.1f}: {100 * (reduce_us + gather_us) / step_us:4.1f}% of the step"
        )
    print(f"  gradient all-reduce alone (after a barrier): {med(multis, 'batch64', 'allreduce_alone_us'):.1f}")
    one, many = med(singles, "demo_s"), med(multis, "demo_s")
    print(f"\ndigits demo, {args.epochs} epochs of training (start-up and data loading excluded)")
    print(f"  1 process  {one:6.2f} s, held-out accuracy {100 * med(singles, 'accuracy'):.2f}%")
    print(f"  {p} processes {many:6.2f} s, held-out accuracy {100 * med(multis, 'accuracy'):.2f}%: {one / many:.2f}x")


def _version(name: str) -> str:
    """An installed distribution's version (the parent does not initialise MPI itself)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
