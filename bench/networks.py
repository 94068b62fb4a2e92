"""Whole networks, typedtensor vs PyTorch CPU: training step, inference batch, peak memory, convolution speed.

    python -m bench.networks [--quick] [--networks digits resnet vgg sort] [--batches 8 64 256]
                             [--bn both|numpy|numba] [--repeat N] [--no-memory] [--no-conv]
                             [--no-alternating]

The networks are those of ``bench._nets`` (the digits CNN, a small ResNet and a VGG-style stack on
3x32x32, the sort demo's Transformer), each built in typedtensor and in PyTorch with the same weights.
For each network and batch size the run:

1. checks that both sides compute the same, once, before timing: the inference logits, then one
   training step from the same weights with dropout off (the loss and every parameter's gradient);
   largest difference relative to PyTorch's largest value of each tensor; the run stops if the logits or
   the loss differ by more than ``bench._nets.TOLERANCES`` (1e-4), and marks gradients beyond theirs (1e-2:
   see ``check_parity``);
2. times one training step (zero the gradients, ``forward_mut``, loss, backward, optimizer update) and
   one inference batch of each side, typedtensor once per BatchNorm backend asked for (``--bn``: NumPy's
   kernels, numba's, or both, switched with ``typedtensor.nn._bn_backend.use`` around each series), with
   torch imported in the same process. Each case is timed in its own series of calls (``bench._timing.
   median_call_us``): the series of all cases run in turn, repeated, and each case's figure is the median
   over the repeats of its series' mean time per call. Before a series that follows one of the other library, the run waits
   until the process's other threads are idle (``bench._timing.settle``: two 10 ms windows in a row in
   which they use under 5% of a core; the run prints how long it waited): a thread pool keeps spinning
   after its library's last call (OpenBLAS's worker ~0.1 s after a typedtensor call, torch's libgomp
   worker a few ms, measured here with the other threads' CPU time after each kind of call), and a series
   timed while the other pool spins measures both libraries. Each series then starts with untimed calls
   (about 20 ms of them, at least one) that bring its own pools to the state of a loop of such calls. So
   each side is measured as a user running only it would see (checked against a process that imports
   only one library, small ResNet at batch 64, load ~2.5: typedtensor step / inference 57.6 / 16.7 ms here
   vs 63.0 / 14.5 ms there, PyTorch 22.7 / 5.4 vs 26.9 / 5.0 ms: within this machine's noise; the
   round-robin timing this replaced had typedtensor's inference at 23-25 ms and PyTorch's at 14.5 ms);
3. the ALTERNATING figure, issue 13's goal 3 case (torch imported and used in the same process): the
   typedtensor call and the PyTorch call of the same kind in turn, each call timed alone right after the
   other side's (``bench._timing.median_alternating_s``; medians over rounds lasting about 1 s in all,
   at least 5), per BatchNorm backend; both sides' figures then include the other's spinning pool;
4. reads the thread counts in force right after the timings, as each library reports them
   (``torch.get_num_threads()``, every pool threadpoolctl finds: NumPy's OpenBLAS, torch's OpenMP runtime,
   any other; ``numba.get_num_threads()`` and numba's threading layer), marking any that differs from
   ``--threads``;
5. times every convolution of the typedtensor network alone at the input shape it sees there (per
   convolution: ``conv.forward(x)``, and ``forward_mut`` + backward with the input and weight gradients
   measured as in bench.conv: ``(conv.forward_mut(x.trace(g)) * dy).sum().backward()`` minus the same
   multiply-sum-backward on an output-sized tensor), and reports their FLOPs (forward: 2 x output
   elements x Cin/groups x kh x kw; forward + backward: 3 times that) over the sum of their median
   times as a fraction of the machine's SGEMM peak, measured in the same run (``np.matmul`` of two
   float32 square matrices, the fastest of the repeats, at the start and the end of the run: the larger
   is the peak), and the share of the network's time they take;
6. measures the peak memory of one training step and one inference batch of each side in a fresh
   process per side (and per BatchNorm backend; one process measures every network and batch size of the
   run, each network built, measured and dropped in turn): after two warm-up calls, ``gc.collect()`` and
   ``malloc_trim(0)`` (freed memory back to the kernel), the resident set (VmRSS) is read and its
   high-water mark reset (``/proc/self/clear_refs``), one call runs, and the peak is VmHWM minus that
   VmRSS. It counts what the call touches beyond what the process held before it (activations, saved
   tensors, scratch, PyTorch's gradient tensors, which ``zero_grad`` frees), not the memory held across
   calls (weights, optimizer state, typedtensor's preallocated gradients, caches). Two checks by other
   means: a thread polling ``/proc/self/statm`` during another call gives the largest resident set it
   sees (a lower bound, independent of VmHWM; the run prints the largest difference between the two),
   and tracemalloc, which sees NumPy's allocations (not PyTorch's allocator, nor the numba kernels' own),
   gives typedtensor's peak of allocated bytes during a third call. Checked on the small ResNet at batch
   64 and 256: VmHWM delta, polled RSS and tracemalloc agree within 2-8% (64.8 / 61.0 / 60.1 MB for a
   step at batch 64, 188.2 / 188.3 / 184.1 MB at 256).

The run prints its total time at the end: the default run (4 networks, 3 batch sizes, both BatchNorm
backends) took 396 s on the 2-core machine at load 2.5; ``--quick`` about a minute for two networks.

Threads: PyTorch's intra-op threads, every BLAS pool (through threadpoolctl: NumPy's OpenBLAS, and
SciPy's, which numba's compiled ``np.dot`` loads on first use: set again once the checks ran) and
numba's pool are all set to ``--threads`` (default 2); the run prints them (step 4). Ratios are typedtensor / PyTorch: lower is better.
The run prints the load average with each figure: on a shared machine only figures taken at a low
load compare with others.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines here set and which slow NumPy's OpenBLAS,
are unset for this process (and its children) before NumPy is imported; the run prints what it unset.
"""

from __future__ import annotations

from bench._timing import unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import argparse  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from bench import _nets  # noqa: E402
from bench._timing import (  # noqa: E402
    SETTLE_MAX_S,
    Calls,
    Case,
    backend_context,
    bn_backend,
    median_alternating_s,
    median_call_us,
    median_calls_s,
    spread,
)
from typedtensor import extend, nn  # noqa: E402
from typedtensor._ops import conv_parallel as _conv_parallel  # noqa: E402
from typedtensor.nn import _bn_backend  # noqa: E402

THREADS = 2
BATCHES = (8, 64, 256)
QUICK_BATCH = 64
ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Settings:
    repeat: int
    target_s: float
    conv_repeat: int
    conv_target_s: float
    sgemm_n: int
    sgemm_repeat: int
    #: untimed calls before each series (about this long, at least one call)
    series_warmup_s: float
    #: the alternating figure: rounds of about this long in all (at least ``alt_min_rounds``)
    alt_s: float
    alt_min_rounds: int


FULL = Settings(
    repeat=9,
    target_s=0.05,
    conv_repeat=5,
    conv_target_s=0.03,
    sgemm_n=2048,
    sgemm_repeat=7,
    series_warmup_s=0.02,
    alt_s=1.0,
    alt_min_rounds=5,
)
QUICK = Settings(
    repeat=3,
    target_s=0.02,
    conv_repeat=3,
    conv_target_s=0.01,
    sgemm_n=512,
    sgemm_repeat=3,
    series_warmup_s=0.01,
    alt_s=0.1,
    alt_min_rounds=3,
)


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


# ---- threads and backends ------------------------------------------------------------------------------


def limit_threads(torch: Any | None, stack: contextlib.ExitStack, threads: int, numba: bool) -> str:
    """Set every pool to ``threads`` (undone when ``stack`` closes); describe them. ``numba``: also numba's
    (which starts its pool: only when its kernels run)."""
    parts: list[str] = []
    if torch is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        stack.callback(torch.set_num_threads, before)
        parts.append(f"torch intra-op {torch.get_num_threads()}")
    parts.append(limit_blas(stack, threads))
    if numba:
        module: Any = importlib.import_module("numba")
        before_numba = module.get_num_threads()
        module.set_num_threads(min(threads, module.config.NUMBA_NUM_THREADS))
        stack.callback(module.set_num_threads, before_numba)
        parts.append(f"numba {module.get_num_threads()}")
    return ", ".join(parts)


def limit_blas(stack: contextlib.ExitStack, threads: int) -> str:
    """Set every BLAS pool loaded now to ``threads`` (undone when ``stack`` closes); describe them.

    Call it again once everything timed has run once: numba's compiled ``np.dot`` calls go to SciPy's
    OpenBLAS (``scipy.linalg.cython_blas``), a second pool beside NumPy's, loaded on the first such call.
    """
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
    except ImportError:
        return "OpenBLAS: its default (threadpoolctl is not installed)"
    stack.enter_context(threadpoolctl.threadpool_limits(threads, user_api="blas"))
    blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return "BLAS " + ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in blas)


def thread_state(torch: Any | None, numba: bool) -> list[tuple[str, int | str]]:
    """The thread counts in force now, as each library reports them: torch's intra-op count, every pool
    threadpoolctl finds (NumPy's OpenBLAS, torch's OpenMP runtime, any other), numba's count and layer."""
    state: list[tuple[str, int | str]] = []
    if torch is not None:
        state.append(("torch.get_num_threads()", torch.get_num_threads()))
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
    except ImportError:
        state.append(("threadpoolctl", "not installed"))
    else:
        for pool in threadpoolctl.threadpool_info():
            name = f"{pool['internal_api']} ({pool['user_api']}, {Path(pool['filepath']).name})"
            state.append((name, int(pool["num_threads"])))
    if numba:
        module: Any = importlib.import_module("numba")
        state.append(("numba.get_num_threads()", module.get_num_threads()))
        try:
            state.append(("numba layer", str(module.threading_layer())))
        except ValueError:
            state.append(("numba layer", "not started"))
    return state


def describe_threads(state: Sequence[tuple[str, int | str]], threads: int) -> str:
    """``state`` as one line, each count that is not ``threads`` marked."""
    return ", ".join(
        f"{name} {value}" + (f" (NOT {threads})" if isinstance(value, int) and value != threads else "")
        for name, value in state
    )


# ---- SGEMM peak ----------------------------------------------------------------------------------------


def sgemm_gflops(n: int, repeat: int) -> float:
    """GFLOP/s of the fastest of ``repeat`` float32 ``np.matmul`` calls on (n, n) matrices."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


# ---- timing --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    """The figures of one network at one batch size."""

    name: str
    batch: int
    parity: dict[str, float] = dataclasses.field(default_factory=dict[str, float])
    #: median ms per call by case name: "tt step numpy", "tt infer numba", "torch step", ...
    ms: dict[str, float] = dataclasses.field(default_factory=dict[str, float])
    #: the alternating figure, median ms per call by "tt step numpy" / "torch step numpy" (its partner's backend)
    alt_ms: dict[str, float] = dataclasses.field(default_factory=dict[str, float])
    #: the interquartile range over the median of each figure's samples, by the key of ``ms`` or "alt " + that of ``alt_ms``
    spread: dict[str, float] = dataclasses.field(default_factory=dict[str, float])
    #: seconds :func:`bench._timing.settle` waited at each switch of side
    waits: list[float] = dataclasses.field(default_factory=list[float])
    #: the thread counts each library reported right after the timings
    threads: list[tuple[str, int | str]] = dataclasses.field(default_factory=list[tuple[str, int | str]])
    load: str = ""
    conv: dict[str, float] = dataclasses.field(default_factory=dict[str, float])
    #: peak bytes by "side mode [backend] method": "tt step numpy rss", "torch infer rss", "tt step numpy traced"
    memory: dict[str, float] = dataclasses.field(default_factory=dict[str, float])


def time_pair(pair: _nets.Pair, backends: Sequence[str], settings: Settings, cell: Cell) -> None:
    """Median ms per call of the training step and inference of each side (typedtensor per backend), each
    timed in its own series, the series interleaved; the side switches settle first (in ``cell.ms``,
    ``cell.waits``)."""
    namespace: dict[str, object] = {"tt_step": pair.step, "tt_infer": pair.infer}
    cases: list[Case] = []
    names: list[str] = []
    for backend in backends:
        for what in ("step", "infer"):
            cases.append(Case(f"tt_{what}()", context=backend_context(backend), side="tt"))
            names.append(f"tt {what} {backend}")
    if pair.torch_step is not None:
        namespace |= {"torch_step": pair.torch_step, "torch_infer": pair.torch_infer}
        for what in ("step", "infer"):
            cases.append(Case(f"torch_{what}()", side="torch"))
            names.append(f"torch {what}")
    samples: list[list[float]] = []
    us = median_call_us(
        cases,
        namespace,
        repeat=settings.repeat,
        target_s=settings.target_s,
        warmup=2,
        series_warmup_s=settings.series_warmup_s,
        waits=cell.waits,
        samples_s=samples,
    )
    cell.ms = {name: t / 1e3 for name, t in zip(names, us, strict=True)}
    cell.spread |= {name: spread(x) for name, x in zip(names, samples, strict=True)}


def time_alternating(pair: _nets.Pair, backends: Sequence[str], settings: Settings, cell: Cell) -> None:
    """The alternating figure (torch imported and called in the same process): each typedtensor call right
    after a PyTorch call of the same kind and each PyTorch call right after a typedtensor one, per backend
    (in ``cell.alt_ms``). Needs ``cell.ms`` (the number of rounds comes from it)."""
    if pair.torch_step is None or pair.torch_infer is None:
        return
    theirs = {"step": pair.torch_step, "infer": pair.torch_infer}
    for backend in backends:
        for what, ours in (("step", pair.step), ("infer", pair.infer)):
            round_s = (cell.ms[f"tt {what} {backend}"] + cell.ms[f"torch {what}"]) / 1e3
            rounds = max(settings.alt_min_rounds, math.ceil(settings.alt_s / round_s))
            calls: Calls = {"tt": (ours, backend_context(backend)), "torch": (theirs[what], nullcontext)}
            samples: dict[str, list[float]] = {}
            s = median_alternating_s(calls, rounds=rounds, samples_s=samples)
            for side in ("tt", "torch"):
                cell.alt_ms[f"{side} {what} {backend}"] = s[side] * 1e3
                cell.spread[f"alt {side} {what} {backend}"] = spread(samples[side])


def conv_inputs(pair: _nets.Pair) -> list[tuple[nn.Conv2D[Any, Any, Any], tuple[int, ...]]]:
    """Every convolution the typedtensor network calls in one inference batch, with its input shape."""
    seen: list[tuple[nn.Conv2D[Any, Any, Any], tuple[int, ...]]] = []
    original: Callable[..., Any] = getattr(nn.Conv2D, "forward")  # noqa: B009 (restored below)

    def recording(self: nn.Conv2D[Any, Any, Any], x: Any) -> Any:
        seen.append((self, tuple(x.shape)))
        return original(self, x)

    setattr(nn.Conv2D, "forward", recording)  # noqa: B010 (mypy refuses assigning to a method)
    try:
        pair.infer()
    finally:
        setattr(nn.Conv2D, "forward", original)  # noqa: B010
    return seen


def time_convs(pair: _nets.Pair, settings: Settings) -> dict[str, float]:
    """The network's convolutions alone: forward and forward + backward FLOPs and median seconds (summed)."""
    calls: Calls = {}
    flops = 0.0
    rng = np.random.default_rng(1)
    for i, (conv, shape) in enumerate(conv_inputs(pair)):
        x: tt.Tensor[Any, np.float32, tt.NoneTape] = tt.tensor(rng.standard_normal(shape, dtype=np.float32))
        out: np.ndarray[Any, np.dtype[np.float32]] = conv.forward(x).numpy()
        out_shape: tuple[int, ...] = out.shape
        flops += 2.0 * out.size * int(np.prod(conv.weight.shape[1:]))
        dy: tt.Tensor[Any, np.float32, tt.NoneTape] = tt.tensor(rng.standard_normal(out_shape, dtype=np.float32))
        y: tt.Tensor[Any, np.float32, tt.NoneTape] = tt.tensor(np.array(out))
        grads = conv.alloc_grads()

        def fwd(conv: Any = conv, x: Any = x) -> object:
            return conv.forward(x)

        def step(conv: Any = conv, x: Any = x, dy: Any = dy, grads: Any = grads) -> object:
            return (conv.forward_mut(x.trace(grads)) * dy).sum().backward()

        def mulsum(y: Any = y, dy: Any = dy, grads: Any = grads) -> object:
            return (y.trace(grads) * dy).sum().backward()

        calls |= {
            f"{i} fwd": (fwd, nullcontext),
            f"{i} step": (step, nullcontext),
            f"{i} mulsum": (mulsum, nullcontext),
        }
    if not calls:
        return {}
    s = median_calls_s(calls, repeat=settings.conv_repeat, target_s=settings.conv_target_s)
    count = len(calls) // 3
    fwd_s = sum(s[f"{i} fwd"] for i in range(count))
    fb_s = sum(max(s[f"{i} step"] - s[f"{i} mulsum"], 0.0) for i in range(count))
    return {"count": count, "flops": flops, "fwd_s": fwd_s, "fb_s": fb_s}


# ---- peak memory, in a fresh process per side ---------------------------------------------------------

_libc: list[Any] = []  # libc, loaded on first use


def _status_kb(field_name: str) -> int:
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    if found is None:
        raise OSError(f"/proc/self/status has no {field_name}")
    return int(found.group(1))


def rss_peak(call: Callable[[], object]) -> float | None:
    """Bytes the resident set grows to during ``call()`` above what it was just before (None off Linux)."""
    try:
        if not _libc:
            _libc.append(ctypes.CDLL("libc.so.6"))
        gc.collect()
        _libc[0].malloc_trim(0)
        base = _status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        call()
        return float(_status_kb("VmHWM") - base) * 1024
    except OSError:
        return None


def traced_peak(call: Callable[[], object]) -> float:
    """Peak bytes allocated through Python's allocators (NumPy's arrays included) during ``call()``."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sampled_peak(call: Callable[[], object]) -> float | None:
    """The check of :func:`rss_peak` by other means: the largest resident set a thread polling
    ``/proc/self/statm`` sees during ``call()``, above the one before (None off Linux). A lower bound
    (the poller may miss a short peak), taken by another counter than VmHWM and without resetting it."""
    try:
        gc.collect()
        if not _libc:
            _libc.append(ctypes.CDLL("libc.so.6"))
        _libc[0].malloc_trim(0)
        base = _rss_bytes()
    except OSError:
        return None
    peak = [base]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        call()
    finally:
        done.set()
        poller.join()
    return float(peak[0] - base)


def child_memory(
    cells: Sequence[tuple[str, int]], side: str, backend: str, threads: int
) -> dict[str, dict[str, float | None]]:
    """In this (fresh) process: the peak memory of one training step and one inference batch of one side,
    for each (network, batch), by ``"network batch"``; each network is dropped before the next is built."""
    torch: Any = importlib.import_module("torch") if side == "torch" else None
    result: dict[str, dict[str, float | None]] = {}
    with contextlib.ExitStack() as stack:
        limit_threads(torch, stack, threads, side == "tt" and backend == "numba")
        if side == "tt":
            stack.enter_context(bn_backend(backend))
        for name, batch in cells:
            pair = _nets.build(name, batch, torch)
            calls = {"step": pair.step, "infer": pair.infer}
            if torch is not None:
                assert pair.torch_step is not None
                assert pair.torch_infer is not None
                calls = {"step": pair.torch_step, "infer": pair.torch_infer}
            out: dict[str, float | None] = {}
            for what, call in calls.items():
                call()
                call()  # warm-up: compiled kernels, lazily built state, index plans
                limit_blas(stack, threads)
                out[f"{what} rss"] = rss_peak(call)
                out[f"{what} sampled"] = sampled_peak(call)
                if side == "tt":
                    out[f"{what} traced"] = traced_peak(call)
            result[f"{name} {batch}"] = out
            del pair, calls
            gc.collect()
    return result


def measure_memory(cells: Sequence[Cell], backends: Sequence[str], with_torch: bool, threads: int) -> None:
    """Run one child process per side (and BatchNorm backend) for all ``cells``; store the figures in ``cell.memory``."""
    runs = [("tt", backend) for backend in backends] + ([("torch", backends[0])] if with_torch else [])
    by_key = {f"{cell.name} {cell.batch}": cell for cell in cells}
    for side, backend in runs:
        command = [sys.executable, "-m", "bench.networks", "--threads", str(threads), "--child-memory", side, backend]
        command += [f"{cell.name}:{cell.batch}" for cell in cells]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"memory child {' '.join(command[2:])} failed:\n{done.stderr}")
        figures: dict[str, dict[str, float | None]] = json.loads(done.stdout.strip().splitlines()[-1])
        label = side if side == "torch" else f"tt {backend}"
        for key, values in figures.items():
            for name, value in values.items():
                what, method = name.split()
                if value is not None:
                    by_key[key].memory[f"{label} {what} {method}"] = value


#: :func:`memory_check` compares figures of at least this many bytes relatively, smaller ones in bytes.
CHECK_FLOOR = 4 * MB


def memory_check(cells: Sequence[Cell]) -> str:
    """How far the polled resident set is from the VmHWM delta, over every figure that has both: the
    largest relative difference among figures of ``CHECK_FLOOR`` or more, the largest in MB below it."""
    relative: list[tuple[float, str]] = []
    absolute: list[tuple[float, str]] = []
    for cell in cells:
        for key, hwm in cell.memory.items():
            sampled = cell.memory.get(key.removesuffix(" rss") + " sampled") if key.endswith(" rss") else None
            if sampled is None:
                continue
            where = f"{cell.name} {cell.batch} {key.removesuffix(' rss')}"
            if hwm >= CHECK_FLOOR:
                relative.append((abs(sampled - hwm) / hwm, where))
            else:
                absolute.append((abs(sampled - hwm) / MB, where))
    if not relative and not absolute:
        return "no polled figures"
    parts = [f"largest difference {max(relative)[0]:.0%} ({max(relative)[1]})"] if relative else []
    if absolute:
        parts.append(f"below {CHECK_FLOOR / MB:.0f} MB at most {max(absolute)[0]:.2f} MB ({max(absolute)[1]})")
    return f"polled RSS vs VmHWM delta over {len(relative) + len(absolute)} figures: " + "; ".join(parts)


# ---- the run -------------------------------------------------------------------------------------------


def check_parity(torch: Any, pair: _nets.Pair) -> dict[str, float]:
    """The two sides' differences; stop the run if the logits or the loss differ beyond their tolerance.

    Gradients beyond theirs are reported, not fatal: float32 rounding puts an activation that is ~0 on the
    other side of a ReLU (or a near-tie in a max pool) more often as the batch grows, and everything
    upstream of it then differs (the VGG stack at batch 256: 1.0e-2).
    """
    result = _nets.parity(torch, pair)
    bad = {k: v for k, v in result.items() if k != "gradients" and not v <= _nets.TOLERANCES[k]}
    if bad:
        raise SystemExit(
            f"{pair.name} batch {pair.batch}: the two sides differ (relative) {bad}, tolerances {_nets.TOLERANCES}"
        )
    return result


def ratio(ours: float | None, theirs: float | None) -> str:
    return "n/a" if ours is None or not theirs else f"{ours / theirs:.2f}x"


def _iqr(cell: Cell, ours: str, theirs: str) -> str:
    return ", ".join(f"{cell.spread[k]:.0%}" if k in cell.spread else "n/a" for k in (ours, theirs))


def print_cell(cell: Cell, backends: Sequence[str], threads: int) -> None:
    print(f"\n{cell.name}, batch {cell.batch} ({cell.load} at the end of its timing)")
    if cell.parity:
        print(
            "  same outputs (max |tt - torch| / max |torch|): "
            + ", ".join(
                f"{k} {v:.1e}{' (beyond 1e-2)' if v > _nets.TOLERANCES[k.split()[0]] else ''}"
                for k, v in cell.parity.items()
            )
        )
    print(f"  {'each side in its own series':40}{'typedtensor':>13}{'PyTorch':>13}{'ratio':>8}  IQR/median tt, torch")
    for what, label in (("step", "training step"), ("infer", "inference")):
        theirs = cell.ms.get(f"torch {what}")
        for backend in backends:
            ours = cell.ms[f"tt {what} {backend}"]
            torch_ms = f"{theirs:11.3f}ms" if theirs else f"{'n/a':>13}"
            iqr = _iqr(cell, f"tt {what} {backend}", f"torch {what}")
            print(f"  {label + ', BN ' + backend:40}{ours:11.3f}ms{torch_ms}{ratio(ours, theirs):>8}  {iqr}")
    if cell.alt_ms:
        print("  alternating (goal 3: each call right after the other side's)")
        for what, label in (("step", "training step"), ("infer", "inference")):
            for backend in backends:
                ours, theirs = cell.alt_ms[f"tt {what} {backend}"], cell.alt_ms[f"torch {what} {backend}"]
                iqr = _iqr(cell, f"alt tt {what} {backend}", f"alt torch {what} {backend}")
                print(
                    f"  {'  ' + label + ', BN ' + backend:40}{ours:11.3f}ms{theirs:11.3f}ms"
                    f"{ratio(ours, theirs):>8}  {iqr}"
                )
    if cell.waits:
        waits = sorted(cell.waits)
        gave_up = sum(w >= SETTLE_MAX_S for w in waits)
        print(
            f"  settle at each side switch: median {waits[len(waits) // 2] * 1e3:.0f} ms, max {waits[-1] * 1e3:.0f} ms"
            f" over {len(waits)} switches" + (f", {gave_up} gave up after {SETTLE_MAX_S} s" if gave_up else "")
        )
    print(f"  threads right after the timings: {describe_threads(cell.threads, threads)}")
    if cell.conv:
        c = cell.conv
        fb = f"{3 * c['flops'] / c['fb_s'] / 1e9:.1f} GFLOP/s" if c["fb_s"] else "n/a"
        print(
            f"  {int(c['count'])} convolutions alone ({c['flops'] / 1e6:.1f} MFLOP forward): fwd {c['fwd_s'] * 1e3:.3f} ms, "
            f"{c['flops'] / c['fwd_s'] / 1e9:.1f} GFLOP/s, {c['fwd_s'] * 1e3 / cell.ms[f'tt infer {backends[0]}']:.0%} of "
            f"inference (BN {backends[0]}); f+b {c['fb_s'] * 1e3:.3f} ms, {fb}, "
            f"{c['fb_s'] * 1e3 / cell.ms[f'tt step {backends[0]}']:.0%} of the step"
        )


def print_memory(cell: Cell, backends: Sequence[str]) -> None:
    parts: list[str] = []
    for what in ("step", "infer"):
        sides = [f"tt/BN {b} {cell.memory.get(f'tt {b} {what} rss', float('nan')) / MB:.2f}" for b in backends]
        sides.append(f"torch {cell.memory.get(f'torch {what} rss', float('nan')) / MB:.2f}")
        traced = ", ".join(f"{cell.memory.get(f'tt {b} {what} traced', float('nan')) / MB:.2f}" for b in backends)
        parts.append(f"{what} {' / '.join(sides)} MB (tt tracemalloc {traced})")
    print(f"  {cell.name:7} batch {cell.batch:4}: " + "; ".join(parts))


def print_summary(cells: Sequence[Cell], backends: Sequence[str], sgemm: float) -> None:
    print(
        "\nsummary: ratio typedtensor / PyTorch (median ms; each side alone, then alternating), peak RSS delta of"
        " a step, convolutions' share of SGEMM peak"
    )
    short = {"numpy": "np", "numba": "nb"}
    head = f"{'network':8}{'batch':>6}"
    for prefix in ("", "alt "):
        for what in ("step", "infer"):
            head += "".join(f"{prefix + what + ' ' + short.get(b, b):>13}" for b in backends)
    head += f"{'step MB tt/torch':>18}{'conv fwd':>9}{'conv f+b':>9}  load"
    print(head)
    for cell in cells:
        line = f"{cell.name:8}{cell.batch:>6}"
        for what in ("step", "infer"):
            line += "".join(f"{ratio(cell.ms[f'tt {what} {b}'], cell.ms.get(f'torch {what}')):>13}" for b in backends)
        for what in ("step", "infer"):
            line += "".join(
                f"{ratio(cell.alt_ms.get(f'tt {what} {b}'), cell.alt_ms.get(f'torch {what} {b}')):>13}"
                for b in backends
            )
        tt_mb = cell.memory.get(f"tt {backends[0]} step rss")
        torch_mb = cell.memory.get("torch step rss")
        mem = "n/a" if tt_mb is None else f"{tt_mb / MB:.1f}/" + ("n/a" if torch_mb is None else f"{torch_mb / MB:.1f}")
        line += f"{mem:>18}"
        if cell.conv:
            c = cell.conv
            line += f"{c['flops'] / c['fwd_s'] / 1e9 / sgemm:>9.1%}"
            line += f"{3 * c['flops'] / c['fb_s'] / 1e9 / sgemm:>9.1%}" if c["fb_s"] else f"{'n/a':>9}"
        else:
            line += f"{'-':>9}{'-':>9}"
        print(line + "  " + cell.load.removeprefix("load "))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.networks", description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"few repeats, one batch size ({QUICK_BATCH}) unless --batches"
    )
    parser.add_argument("--networks", nargs="+", choices=_nets.NETWORKS, default=list(_nets.NETWORKS))
    parser.add_argument("--batches", nargs="+", type=int, default=None, help=f"batch sizes (default {BATCHES})")
    parser.add_argument(
        "--bn", choices=("both", "numpy", "numba"), default="both", help="BatchNorm backend(s) of typedtensor"
    )
    parser.add_argument("--repeat", type=int, default=None, help="interleaved repeats of each timing")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"threads of every pool (default {THREADS})")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--no-conv", action="store_true", help="skip the per-convolution timing")
    parser.add_argument("--no-alternating", action="store_true", help="skip the alternating figure")
    parser.add_argument("--child-memory", nargs="+", metavar="SIDE BN NET:BATCH", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse(argv)
    if args.child_memory is not None:
        side, backend, *specs = args.child_memory
        wanted: list[tuple[str, int]] = []
        for spec in specs:
            net, batch = str(spec).split(":")
            wanted.append((net, int(batch)))
        print(json.dumps(child_memory(wanted, side, backend, args.threads)))
        return
    settings = QUICK if args.quick else FULL
    if args.repeat:
        settings = dataclasses.replace(settings, repeat=args.repeat, conv_repeat=args.repeat)
    batches = args.batches or ([QUICK_BATCH] if args.quick else list(BATCHES))
    available = _bn_backend.available()
    backends = [b for b in ("numpy", "numba") if b in available] if args.bn == "both" else [args.bn]
    if args.bn == "numba" and "numba" not in available:
        raise SystemExit("--bn numba: numba is not installed (pip install 'typedtensor[fast]')")
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        torch = None
    if torch is not None and "numba" in backends and "NUMBA_THREADING_LAYER" not in os.environ:
        # typedtensor.nn (imported before torch here) picks numba's workqueue layer only when another OpenMP
        # runtime is loaded first; limit_threads starts numba's pool itself, so this bench makes the same
        # choice for its own process (and its memory subprocesses): otherwise numba's default 'omp' layer
        # loads a second OpenMP runtime beside torch's and the two pools fight for the cores.
        os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    with contextlib.ExitStack() as stack:
        threads = limit_threads(torch, stack, args.threads, "numba" in backends)
        stack.enter_context(bn_backend(backends[0]))  # outside the timed calls too (numba's pool starts on first use)
        print(
            "whole networks: typedtensor vs PyTorch CPU, float32, same weights" + (" (--quick)" if args.quick else "")
        )
        print(
            f"python {platform.python_version()}, numpy {np.__version__}, typedtensor {tt.__version__}, "
            f"torch {'not installed: typedtensor only' if torch is None else torch.__version__}; "
            f"CPUs {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}"
        )
        print(f"threads set: {threads}; run-time checks on: {tt.checks_enabled()}")
        print(
            f"glibc allocator settings (typedtensor/_malloc.py, process-wide: both sides run in this process):"
            f" {extend.allocator_state()}; convolutions split over up to {len(_conv_parallel.parts(1 << 20, 1 << 62))}"
            f" threads, parts of at least {_conv_parallel._MIN_MACS} multiply-adds (typedtensor/_ops/conv_parallel.py)"
        )
        print(f"typedtensor BatchNorm backend(s) timed: {', '.join(backends)} (available: {', '.join(available)})")
        if UNSET:
            print(
                "unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET.items()) + " before importing numpy"
            )
        print(
            f"each case timed in its own series of about {settings.target_s} s after {settings.series_warmup_s} s of"
            f" untimed calls, the series of all cases interleaved, median of {settings.repeat} repeats; before a"
            f" series that follows one of the other library, wait until the process's other threads are idle; {load()}"
        )
        sgemm_start = sgemm_gflops(settings.sgemm_n, settings.sgemm_repeat)
        print(
            f"SGEMM (np.matmul float32 {settings.sgemm_n}^2, fastest of {settings.sgemm_repeat}): {sgemm_start:.1f} GFLOP/s; {load()}"
        )
        cells: list[Cell] = []
        for name in args.networks:
            for batch in batches:
                cell = Cell(name, batch)
                pair = _nets.build(name, batch, torch)
                if torch is not None:
                    for backend in backends:  # each step keeps both sides' weights equal (within float rounding)
                        with bn_backend(backend):
                            parity = check_parity(torch, pair)
                        cell.parity |= {f"{k} (BN {backend})": v for k, v in parity.items()}
                limit_blas(stack, args.threads)  # the pools the checks loaded (SciPy's, for numba's kernels)
                time_pair(pair, backends, settings, cell)
                cell.threads = thread_state(torch, "numba" in backends)
                cell.load = load()
                if not args.no_alternating:
                    time_alternating(pair, backends, settings, cell)
                if not args.no_conv:
                    cell.conv = time_convs(pair, settings)
                cells.append(cell)
                print_cell(cell, backends, args.threads)
        sgemm_end = sgemm_gflops(settings.sgemm_n, settings.sgemm_repeat)
        sgemm = max(sgemm_start, sgemm_end)
        print(
            f"\nSGEMM at the end: {sgemm_end:.1f} GFLOP/s; peak used for the fractions: {sgemm:.1f} GFLOP/s; {load()}"
        )
    if not args.no_memory:
        print(f"\npeak memory, RSS delta of one call in a fresh process per side and backend ({load()}):")
        measure_memory(cells, backends, torch is not None, args.threads)
        for cell in cells:
            print_memory(cell, backends)
        print(f"  check: {memory_check(cells)}")
    print_summary(cells, backends, sgemm)
    print(f"\ntotal time of the run: {time.perf_counter() - started:.0f} s; {load()}")


if __name__ == "__main__":
    main()
