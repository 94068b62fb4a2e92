"""BatchNorm2D speed: typedtensor (NumPy and numba kernels) against PyTorch CPU, and against memory bandwidth.

Run from the repository root::

    python -m bench.batchnorm [--shapes all|small|networks] [--repeat N]

For float32 inputs of shapes (32, 64, 56, 56), (128, 64, 32, 32), (8, 256, 14, 14) and (4, 3, 8, 8)
(``--shapes small``: the last two only; ``--shapes networks``: the benchmark networks' (64, 16, 32, 32),
(64, 32, 16, 16), (256, 16, 32, 32), (8, 16, 32, 32)) it times, through the public API with run-time checks on:

* ``fwd``: the training forward ``bn.forward_mut(x.trace(grads))``;
* ``step``: the training step ``(bn.forward_mut(x.trace(grads)) * g).sum().backward()``, whose upstream
  gradient of the BatchNorm output is the fixed random array ``g``;
* ``mulsum``: ``(x.trace(grads) * g).sum().backward()`` on a plain traced tensor: what ``step`` spends
  outside BatchNorm;
* ``f+b`` = ``step - mulsum``: BatchNorm's forward and backward, the headline training number;
* ``inf``: the inference forward ``bn.forward(x)``;

for each BatchNorm kernel backend (``typedtensor.nn._bn_backend``), and PyTorch's
``torch.nn.BatchNorm2d`` as the reference: train mode ``bn(x).backward(g)`` on a leaf requiring grad,
and eval mode under ``torch.no_grad()``. PyTorch and numba get one thread per CPU of this process.

It also measures the machine's copy bandwidth (``np.copyto`` between two 256 MB arrays, read + write
bytes) and reports, per shape, the fraction of the bandwidth limit each implementation reaches: the
limit moves ``5 * x.nbytes`` for a training forward+backward (forward: read x, write y; backward: read
x, read g, write dx) and ``2 * x.nbytes`` for inference.

Method: the machine is shared and noisy, so every number is the MEDIAN over the repeats of a batch of
calls lasting about ``TARGET_S`` (after a warm-up), and all implementations of one shape are measured
round-robin so that a slow phase hits them alike.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` slow NumPy on some processors here; this module unsets
them for its own process before NumPy is imported, and says so in its output.
"""

import sys

from bench._timing import unset_env

#: OpenBLAS variables removed before NumPy loads: {name: old value}.
UNSET_OPENBLAS = unset_env(("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
#: True when NumPy was loaded before the variables could be unset (then unsetting had no effect).
NUMPY_PRELOADED = "numpy" in sys.modules

import argparse  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Self  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

import typedtensor as tt  # noqa: E402
from bench._timing import Calls, ContextFactory, backend_context, bn_backend, median_calls_s  # noqa: E402
from typedtensor.nn import BatchNorm2D, _bn_backend  # noqa: E402

Shape = tuple[int, int, int, int]
F32 = NDArray[np.float32]

#: Every shape benchmarked; the first three are the "large" shapes of the goals, the last the tiny one.
SHAPES: tuple[Shape, ...] = ((32, 64, 56, 56), (128, 64, 32, 32), (8, 256, 14, 14), (4, 3, 8, 8))
LARGE_SHAPES = SHAPES[:3]
TINY_SHAPE = SHAPES[3]
#: ``--shapes small``: the two smallest shapes only (a quick check).
SMALL_SHAPES = SHAPES[2:]
#: ``--shapes networks``: the BatchNorm inputs of the benchmark networks (bench._nets: the small ResNet and
#: the VGG stack at batch 64 and 256, the ResNet's first block at batch 8). Alone, not in-network: between
#: convolutions the kernels run differently (see ``typedtensor.nn._bn_numba._PARALLEL_MIN``).
NETWORK_SHAPES: tuple[Shape, ...] = ((64, 16, 32, 32), (64, 32, 16, 16), (256, 16, 32, 32), (8, 16, 32, 32))
#: Inputs of at least this many bytes get ``REPEAT_BIG`` repeats, the others ``REPEAT_SMALL``.
BIG_BYTES = 8 << 20
REPEAT_BIG = 11
REPEAT_SMALL = 15
#: Each timed batch of calls lasts about this long.
TARGET_S = 0.05
#: Copy-bandwidth measurement: array size and repeats.
COPY_BYTES = 256 << 20
COPY_REPEAT = 9
#: Minimum bytes a BatchNorm must move, in units of x.nbytes (see the module docstring).
TRAIN_BYTES_FACTOR = 5
INFER_BYTES_FACTOR = 2
#: Above this share of the CPUs used by other processes, the summary warns that parallel timings suffer.
BUSY_WARNING = 0.1
#: Before each measurement, wait at most this long, polling every QUIET_POLL_S, for the other processes
#: to use less than BUSY_WARNING of the CPUs (the machine's load comes and goes).
QUIET_WAIT_S = 20.0
QUIET_POLL_S = 0.5
#: Goals: the NumPy path at most this many times PyTorch on the large shapes.
NUMPY_LARGE_LIMIT = 2.0

# Measurement keys: f"{impl}.{what}" with impl a backend name or TORCH.
TORCH = "torch"
FWD = "fwd"
STEP = "step"
INFER = "inf"
TRAIN = "train"
MULSUM = "mulsum"
#: Short names of the implementations in column headers.
ABBREV = {"numpy": "np", "numba": "nb", TORCH: "pt"}

#: An input of the benchmark as a tensor.
Input = tt.Tensor[tuple[int, int, int, int], np.float32, tt.NoneTape]
DESCRIPTION = "BatchNorm2D speed: typedtensor (NumPy and numba kernels) against PyTorch CPU and memory bandwidth."


def key(impl: str, what: str) -> str:
    """The measurement key of ``what`` (FWD, STEP, INFER, TRAIN) for ``impl`` (a backend or TORCH)."""
    return f"{impl}.{what}"


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """What to run: the shapes, and the repeat count (None: per-shape default)."""

    shapes: tuple[Shape, ...]
    repeat: int | None


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """The command line as a :class:`Config`."""
    parser = argparse.ArgumentParser(prog="python -m bench.batchnorm", description=DESCRIPTION)
    parser.add_argument(
        "--shapes",
        choices=("all", "small", "networks"),
        default="all",
        help="'small': the two small shapes; 'networks': the benchmark networks' BatchNorm inputs",
    )
    parser.add_argument("--repeat", type=int, default=None, help="repeats per measurement (default: per shape)")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be >= 1")
    shapes = {"small": SMALL_SHAPES, "networks": NETWORK_SHAPES}.get(args.shapes, SHAPES)
    return Config(shapes=shapes, repeat=args.repeat)


def cpu_count() -> int:
    """How many CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_optional(name: str) -> Any | None:
    """The module ``name``, or None when it is not installed (typed Any: no stubs needed)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def version(module: Any | None) -> str:
    """``module.__version__``, or 'not installed'."""
    return "not installed" if module is None else str(module.__version__)


def warm_up(backend: str) -> float:
    """Run one training step and one inference on a small input with ``backend``; return the seconds.

    For numba this compiles the kernels (or loads them from numba's cache), so later timings hold no
    compilation.
    """
    x: Input = tt.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4), dtype=np.float32))
    bn = BatchNorm2D(3)
    grads = bn.alloc_grads()
    start = time.perf_counter()
    with bn_backend(backend):
        bn.forward_mut(x.trace(grads)).sum().backward()
        bn.forward(x)
    return time.perf_counter() - start


def inputs(shape: Shape) -> tuple[F32, F32]:
    """The fixed random input x and upstream gradient g of ``shape`` (float32)."""
    rng = np.random.default_rng(sum(shape))
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# The timed calls
# --------------------------------------------------------------------------------------------


def typedtensor_calls(xa: F32, ga: F32, backends: Sequence[str]) -> Calls:
    """The typedtensor calls for input ``xa`` and upstream gradient ``ga``, per backend, by key."""
    x: Input = tt.tensor(xa)
    g: Input = tt.tensor(ga)
    bn = BatchNorm2D(xa.shape[1])
    grads = bn.alloc_grads()

    def fwd() -> object:
        return bn.forward_mut(x.trace(grads))

    def step() -> object:
        return (bn.forward_mut(x.trace(grads)) * g).sum().backward()

    def mulsum() -> object:
        return (x.trace(grads) * g).sum().backward()

    def infer() -> object:
        return bn.forward(x)

    calls: Calls = {MULSUM: (mulsum, nullcontext)}
    for backend in backends:
        context = backend_context(backend)
        calls |= {key(backend, FWD): (fwd, context), key(backend, STEP): (step, context)}
        calls[key(backend, INFER)] = (infer, context)
    return calls


def torch_calls(torch: Any, xa: F32, ga: F32) -> Calls:
    """PyTorch's training forward+backward and eval-mode forward (in ``torch.no_grad()``), by key."""
    channels = xa.shape[1]
    train_bn = torch.nn.BatchNorm2d(channels).train()
    eval_bn = torch.nn.BatchNorm2d(channels).eval()
    xt = torch.from_numpy(xa.copy()).requires_grad_()
    xe = torch.from_numpy(xa.copy())
    gt = torch.from_numpy(ga.copy())

    def train() -> object:
        xt.grad = None
        train_bn(xt).backward(gt)
        return xt.grad

    def infer() -> object:
        return eval_bn(xe)

    no_grad: ContextFactory = torch.no_grad
    return {key(TORCH, TRAIN): (train, nullcontext), key(TORCH, INFER): (infer, no_grad)}


def copy_bandwidth() -> float:
    """The machine's copy bandwidth in bytes/s: median over repeats of np.copyto, read + write bytes."""
    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    np.copyto(dst, src)  # warm-up: maps dst's pages (np.zeros_like leaves them unmapped until written)
    samples: list[float] = []
    for _ in range(COPY_REPEAT):
        start = time.perf_counter()
        np.copyto(dst, src)
        samples.append(time.perf_counter() - start)
    return 2 * src.nbytes / statistics.median(samples)


def cpu_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``; None off Linux).

    Busy: user, nice, system, irq, softirq and steal (time the hypervisor gave to other guests).
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LoadProbe:
    """A snapshot from which :meth:`others` tells how busy OTHER processes kept the CPUs since."""

    wall: float
    busy: float | None
    own: float

    @classmethod
    def start(cls) -> Self:
        """Take the snapshot now."""
        return cls(time.perf_counter(), cpu_busy_seconds(), time.process_time())

    def others(self) -> float:
        """The share of the machine's CPUs used by other processes since the snapshot (nan if unknown)."""
        busy = cpu_busy_seconds()
        wall = time.perf_counter() - self.wall
        if busy is None or self.busy is None or wall <= 0:
            return math.nan
        foreign = (busy - self.busy) - (time.process_time() - self.own)
        return min(1.0, max(0.0, foreign / (wall * (os.cpu_count() or 1))))


def wait_for_quiet() -> float:
    """Wait until other processes leave the CPUs nearly idle (at most ``QUIET_WAIT_S``); return the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < QUIET_WAIT_S:
        probe = LoadProbe.start()
        time.sleep(QUIET_POLL_S)
        if not probe.others() > BUSY_WARNING:  # also stops when the load is unknown (nan)
            break
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeResult:
    """The median seconds per call of every measurement of one shape (keys: see :func:`key`)."""

    shape: Shape
    nbytes: int
    repeat: int
    seconds: dict[str, float]
    #: Share of the CPUs other processes used while this shape was measured (nan: unknown).
    others: float

    def train(self, impl: str) -> float:
        """Training forward+backward seconds: ``step - mulsum`` for a backend, as measured for torch."""
        if impl == TORCH:
            return self.seconds[key(TORCH, TRAIN)]
        return self.seconds[key(impl, STEP)] - self.seconds[MULSUM]

    def infer(self, impl: str) -> float:
        """Inference seconds."""
        return self.seconds[key(impl, INFER)]

    def ratio(self, backend: str, train: bool) -> float:
        """typedtensor / PyTorch time (train fwd+bwd or inference); nan when a time is not positive."""
        ours, theirs = (self.train(backend), self.train(TORCH)) if train else (self.infer(backend), self.infer(TORCH))
        return ours / theirs if ours > 0 and theirs > 0 else math.nan

    def bandwidth_fraction(self, impl: str, train: bool, bandwidth: float) -> float:
        """Bandwidth-limit time over measured time (1.0: as fast as copying the minimum bytes)."""
        factor, measured = (TRAIN_BYTES_FACTOR, self.train(impl)) if train else (INFER_BYTES_FACTOR, self.infer(impl))
        return factor * self.nbytes / bandwidth / measured if measured > 0 else math.nan


def repeat_for(shape: Shape, config: Config) -> int:
    """The repeat count for ``shape``: ``--repeat``, or fewer for the big inputs."""
    if config.repeat is not None:
        return config.repeat
    return REPEAT_BIG if 4 * math.prod(shape) >= BIG_BYTES else REPEAT_SMALL


def measure_shape(shape: Shape, backends: Sequence[str], torch: Any | None, repeat: int) -> ShapeResult:
    """Every measurement of ``shape``, typedtensor and PyTorch interleaved."""
    xa, ga = inputs(shape)
    calls = typedtensor_calls(xa, ga, backends)
    if torch is not None:
        calls |= torch_calls(torch, xa, ga)
    probe = LoadProbe.start()
    seconds = median_calls_s(calls, repeat=repeat, target_s=TARGET_S)
    return ShapeResult(shape, xa.nbytes, repeat, seconds, probe.others())


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds with at least 3 significant digits (36.0, 7.16, 0.180, 0.0215)."""
    ms = seconds * 1e3
    size = abs(ms)
    decimals = 1 if size >= 10 else 2 if size >= 1 else 3 if size >= 0.1 else 4
    return f"{ms:.{decimals}f}"


def fmt_ratio(value: float) -> str:
    """A ratio with two decimals ('n/a' for nan)."""
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def fmt_fraction(value: float) -> str:
    """A fraction as a whole percentage ('n/a' for nan)."""
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def abbrev(impl: str) -> str:
    """The short name of an implementation in column headers (np, nb, pt)."""
    return ABBREV.get(impl, impl)


def fmt_shape(shape: Sequence[int]) -> str:
    """(32, 64, 56, 56) as '32x64x56x56'."""
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class Column:
    """One table column: its group label (shared by neighbours), header and cells."""

    group: str
    header: str
    cells: list[str]
    left: bool = False


def render_table(columns: Sequence[Column], sep: str = "  ") -> list[str]:
    """The lines of a table whose neighbouring columns with the same group share a group header."""
    widths = [max(len(c.header), *(len(v) for v in c.cells)) for c in columns]
    spans: list[tuple[str, int]] = []  # (group, width of the span)
    for col, width in zip(columns, widths, strict=True):
        if spans and spans[-1][0] == col.group:
            spans[-1] = (col.group, spans[-1][1] + len(sep) + width)
        else:
            spans.append((col.group, width))
    group_line = sep.join(f" {g} ".center(w, "-") if g else " " * w for g, w in spans)

    def line(cells: Sequence[str]) -> str:
        parts = [v.ljust(w) if c.left else v.rjust(w) for c, v, w in zip(columns, cells, widths, strict=True)]
        return sep.join(parts).rstrip()

    lines = [group_line.rstrip(), line([c.header for c in columns])]
    lines += [line([c.cells[i] for c in columns]) for i in range(len(columns[0].cells))]
    return lines


def table_columns(
    results: Sequence[ShapeResult], backends: Sequence[str], bandwidth: float, torch: bool
) -> list[Column]:
    """The columns of the results table (times in ms, ratios to PyTorch, bandwidth fractions)."""
    cols = [
        Column("", "shape", [fmt_shape(r.shape) for r in results], left=True),
        Column("", "rep", [str(r.repeat) for r in results]),
        Column("", "others", [fmt_fraction(r.others) for r in results]),
        Column("", "mulsum", [fmt_ms(r.seconds[MULSUM]) for r in results]),
    ]
    for b in backends:
        group = f"{b} (ms)"
        cols += [
            Column(group, "fwd", [fmt_ms(r.seconds[key(b, FWD)]) for r in results]),
            Column(group, "step", [fmt_ms(r.seconds[key(b, STEP)]) for r in results]),
            Column(group, "f+b", [fmt_ms(r.train(b)) for r in results]),
            Column(group, "inf", [fmt_ms(r.infer(b)) for r in results]),
        ]
    impls = list(backends)
    if torch:
        impls.append(TORCH)
        cols += [
            Column("torch (ms)", "f+b", [fmt_ms(r.train(TORCH)) for r in results]),
            Column("torch (ms)", "inf", [fmt_ms(r.infer(TORCH)) for r in results]),
        ]
        for b in backends:
            cols += [
                Column("tt/torch", f"{abbrev(b)} f+b", [fmt_ratio(r.ratio(b, True)) for r in results]),
                Column("tt/torch", f"{abbrev(b)} inf", [fmt_ratio(r.ratio(b, False)) for r in results]),
            ]
    for impl in impls:
        for train, what in ((True, "f+b"), (False, "inf")):
            cells = [fmt_fraction(r.bandwidth_fraction(impl, train, bandwidth)) for r in results]
            cols.append(Column("bandwidth fraction", f"{abbrev(impl)} {what}", cells))
    return cols


LEGEND = (
    "fwd: bn.forward_mut(x.trace(grads)); step: (bn.forward_mut(x.trace(grads)) * g).sum().backward();",
    "mulsum: (x.trace(grads) * g).sum().backward(), no BatchNorm; f+b = step - mulsum: BatchNorm forward+backward",
    "(the headline); inf: bn.forward(x). torch f+b: bn(x).backward(g) in train mode; torch inf: eval mode in",
    "torch.no_grad(). np, nb, pt: numpy backend, numba backend, PyTorch.",
    "tt/torch: typedtensor time / PyTorch time (< 1: typedtensor faster).",
    "bandwidth fraction: (5 * x.nbytes for f+b, 2 * x.nbytes for inf) / copy bandwidth / measured time;",
    "> 100% when the data stays in cache (L3 here: see lscpu).",
    "rep: repeats; every time is the median over them of a ~50 ms batch of calls. others: share of the CPUs that",
    "other processes used meanwhile (parallel code, numba's and PyTorch's, suffers most when it is not ~0%);",
    f"before each shape the run waits up to {QUIET_WAIT_S:g} s for them to use < {BUSY_WARNING:.0%} of the CPUs.",
)


def goal_lines(results: Sequence[ShapeResult], backend: str) -> list[str]:
    """Whether ``backend`` meets its goal on every measured shape, with one line per shape.

    The NumPy path: at most ``NUMPY_LARGE_LIMIT`` x PyTorch on the large shapes, faster on the tiny one.
    Any other (compiled) path: faster than PyTorch on every shape. Both for train f+b and inference.
    """
    if backend == "numpy":
        goal = f"<= {NUMPY_LARGE_LIMIT:g}x PyTorch on {len(LARGE_SHAPES)} large shapes, < 1x on {fmt_shape(TINY_SHAPE)}"
    else:
        goal = "< 1x PyTorch on every shape"
    details: list[str] = []
    holds = True
    for r in results:
        limit = NUMPY_LARGE_LIMIT if backend == "numpy" and r.shape in LARGE_SHAPES else 1.0
        checks: list[str] = []
        for train, what in ((True, "train f+b"), (False, "inference")):
            ratio = r.ratio(backend, train)
            ok = ratio <= limit if limit > 1 else ratio < limit  # nan fails both
            holds &= ok
            checks.append(f"{what} {fmt_ratio(ratio)}x {'ok' if ok else 'MISSED'}")
        details.append(f"    {fmt_shape(r.shape):<12} (limit {limit:g}x): {', '.join(checks)}")
    missing = [fmt_shape(s) for s in SHAPES if s not in {r.shape for r in results}]
    verdict = "HOLDS" if holds else "DOES NOT HOLD"
    if missing and holds:
        verdict += f" on the measured shapes (not measured: {', '.join(missing)})"
    return [f"  {backend}: goal {goal}: {verdict}", *details]


def header_lines(torch: Any | None, numba: Any | None, cpus: int, backends: Sequence[str]) -> list[str]:
    """Versions, CPUs, threads, backends and the environment changes of this run."""
    lines = ["BatchNorm2D benchmark: typedtensor vs PyTorch CPU (float32)"]
    lines.append(
        f"python {platform.python_version()}, numpy {np.__version__}, numba {version(numba)}, torch {version(torch)}, "
        f"typedtensor {tt.__version__}"
    )
    lines.append(f"CPUs available: {cpus} (torch and numba threads set to {cpus}); machine: {platform.machine()}")
    lines.append(f"typedtensor BatchNorm backends: {', '.join(backends)}; run-time checks on: {tt.checks_enabled()}")
    if UNSET_OPENBLAS:
        unset = ", ".join(f"{k}={v}" for k, v in UNSET_OPENBLAS.items())
        effect = " (but numpy was already imported: no effect)" if NUMPY_PRELOADED else " before importing numpy"
        lines.append(f"unset for this process: {unset}{effect}")
    else:
        lines.append("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set, nothing to unset")
    if torch is None:
        lines.append("PyTorch is not installed: its columns, the ratios and the goals are skipped")
    return lines


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print everything (see the module docstring)."""
    config = parse_args(argv)
    cpus = cpu_count()
    torch = load_optional("torch")
    numba = load_optional("numba") if "numba" in _bn_backend.available() else None
    backends = [b for b in ("numpy", "numba") if b in _bn_backend.available()]
    if torch is not None:
        torch.set_num_threads(cpus)
    if numba is not None:
        numba.set_num_threads(cpus)
    for line in header_lines(torch, numba, cpus, backends):
        print(line)
    for backend in backends:
        what = " (JIT compile or numba cache load)" if backend == "numba" else ""
        print(f"warm-up of the {backend} backend{what}: {warm_up(backend):.2f} s")
    if numba is not None:
        print(f"numba threading layer: {numba.threading_layer()}")
    waited = wait_for_quiet()
    probe = LoadProbe.start()
    bandwidth = copy_bandwidth()
    others = fmt_fraction(probe.others())
    print(
        f"copy bandwidth (np.copyto, 2 x {COPY_BYTES >> 20} MB float32, read + write, median of {COPY_REPEAT}): "
        f"{bandwidth / 1e9:.1f} GB/s (other processes used {others} of the CPUs meanwhile; waited {waited:.1f} s "
        "for a quieter machine first)"
    )
    print(flush=True)

    results: list[ShapeResult] = []
    probe = LoadProbe.start()
    for shape in config.shapes:
        waited = wait_for_quiet()
        results.append(measure_shape(shape, backends, torch, repeat_for(shape, config)))
        elapsed = time.perf_counter() - probe.wall
        print(
            f"measured {fmt_shape(shape)} after waiting {waited:.1f} s for a quieter machine ({elapsed:.0f} s so far)",
            flush=True,
        )
    print(f"other processes used {fmt_fraction(probe.others())} of the CPUs over the run (waits included)")
    print()
    for line in render_table(table_columns(results, backends, bandwidth, torch is not None)):
        print(line)
    print()
    for line in LEGEND:
        print(line)
    print()
    if torch is None:
        print("Goals: not evaluated (no PyTorch)")
        return
    print("Goals (train f+b and inference, typedtensor / PyTorch):")
    for backend in backends:
        for line in goal_lines(results, backend):
            print(line)
    busy = max((r.others for r in results), default=math.nan)
    if busy > BUSY_WARNING:
        print(
            f"Caution: other processes used up to {busy:.0%} of the CPUs during a shape; the parallel timings (numba, "
            "PyTorch) suffer most from that: rerun on a quiet machine before trusting their ratios."
        )


if __name__ == "__main__":
    main()
