"""What typedtensor's run-time checks and gradient tape cost per call, on a tiny (2, 3) float32 tensor.

Run from the repository root::

    python -m bench.checks [--repeat 9] [--target-ms 25]

For ``a + b``, ``a.relu()``, ``a @ w`` and ``a.sum(0)`` it times raw NumPy, the op with run-time checks
on (the default), inside ``with tt.checks(False):`` (the API switch: one branch per call) and, in a
subprocess started with ``TYPEDTENSOR_CHECKS=0``, the zero-cost path (nothing wrapped). It then times
the same ops on a traced tensor (``a.leaky_trace()``) to get the tape's cost per op, the cost of
``backward()`` per recorded op, and PyTorch's cost for the same ops as a reference when it is installed.

Method: the machine is shared and noisy, so each number is the MEDIAN over ``--repeat`` repeats of
a timeit batch lasting about ``--target-ms``, and the variants of one op are measured round-robin.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` slow NumPy on some processors here; this module unsets
them for its own process (and its subprocess) before NumPy is imported, and says so in its output.
"""

import sys

from bench._timing import unset_env

#: OpenBLAS variables removed before NumPy loads: {name: old value}.
UNSET_OPENBLAS = unset_env(("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
#: True when NumPy was loaded before the variables could be unset (then unsetting had no effect).
NUMPY_PRELOADED = "numpy" in sys.modules

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from contextlib import AbstractContextManager, nullcontext  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from bench._timing import Case, ContextFactory, PreparedCase, median_call_us, median_prepared_us  # noqa: E402
from typedtensor import extend as ext  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_OVERHEAD_US = 3.0
#: relu + add pairs in the chain whose backward() is timed; the final sum() makes one more op.
CHAIN_PAIRS = 50
RECORDED_OPS = 2 * CHAIN_PAIRS + 1
#: Fresh chains timed per repeat of the backward() measurement.
BACKWARD_CALLS = 20

# Column keys of the results.
NUMPY = "numpy"
CHECKED = "checked"
API_OFF = "api_off"
ENV_OFF = "env_off"
TRACED = "traced"
TRACED_API_OFF = "traced_api_off"
TRACED_ENV_OFF = "traced_env_off"
TORCH = "torch"
TORCH_GRAD = "torch_grad"

Row = dict[str, float]
Tensor23 = tt.Tensor[Any, np.float32, tt.NoneTape]


@dataclass(frozen=True)
class Op:
    """One benchmarked op; ``{x}`` in a template stands for the (2, 3) operand's name."""

    name: str
    typedtensor: str
    numpy: str
    torch: str


OPS = (
    Op("a + b", "{x} + b", "an + bn", "{x} + tb"),
    Op("a.relu()", "{x}.relu()", "np.maximum(an, 0)", "torch.relu({x})"),
    Op("a @ w", "{x} @ w", "an @ wn", "{x} @ tw"),
    Op("a.sum(0)", "{x}.sum(0)", "an.sum(0)", "{x}.sum(0)"),
)


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``repeat`` batches of about ``target_s`` seconds per number."""

    repeat: int
    target_s: float


@dataclass
class EnvOffResult:
    """What the ``TYPEDTENSOR_CHECKS=0`` subprocess measured."""

    wrapped: bool
    ops: dict[str, Row]
    backward_us: float


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def checks_off() -> AbstractContextManager[object]:
    """The API switch under test: ``tt.checks(False)``."""
    return tt.checks(False)


def load_torch() -> Any | None:
    """PyTorch limited to 2 threads, or None when it is not installed."""
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def operands() -> tuple[Tensor23, Tensor23, Tensor23]:
    """The (2, 3) tensors ``a`` and ``b`` and the (3, 4) tensor ``w``."""
    return tt.randn((2, 3), seed=0), tt.randn((2, 3), seed=1), tt.randn((3, 4), seed=2)


def namespace(torch: Any | None) -> dict[str, object]:
    """The globals the timed statements run in (typedtensor, NumPy and, if given, torch operands)."""
    a, b, w = operands()
    ns: dict[str, object] = {"np": np, "a": a, "b": b, "w": w, "an": ext.data(a), "bn": ext.data(b), "wn": ext.data(w)}
    if torch is not None:
        ta = torch.from_numpy(ext.data(a).copy())
        ns.update(
            torch=torch,
            ta=ta,
            tb=torch.from_numpy(ext.data(b).copy()),
            tw=torch.from_numpy(ext.data(w).copy()),
            tg=ta.detach().clone().requires_grad_(),
        )
    return ns


def typedtensor_cases(op: Op, context: ContextFactory = nullcontext) -> tuple[Case, Case]:
    """``op`` on the untraced ``a`` and on a traced copy ``at`` (fresh tape per repeat), in ``context``."""
    untraced = Case(op.typedtensor.format(x="a"), context=context)
    traced = Case(op.typedtensor.format(x="at"), setup="at = a.leaky_trace()", context=context)
    return untraced, traced


def op_cases(op: Op, with_torch: bool) -> dict[str, Case]:
    """Every variant of ``op`` measured in this process, by column key."""
    checked, traced = typedtensor_cases(op)
    api_off, traced_api_off = typedtensor_cases(op, checks_off)
    cases = {
        NUMPY: Case(op.numpy),
        CHECKED: checked,
        API_OFF: api_off,
        TRACED: traced,
        TRACED_API_OFF: traced_api_off,
    }
    if with_torch:
        cases[TORCH] = Case(op.torch.format(x="ta"))
        cases[TORCH_GRAD] = Case(op.torch.format(x="tg"))
    return cases


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def time_cases(cases: dict[str, Case], ns: dict[str, object], settings: Settings) -> Row:
    """Median microseconds per call of each case, by key (measured round-robin)."""
    medians = median_call_us(list(cases.values()), ns, repeat=settings.repeat, target_s=settings.target_s)
    return dict(zip(cases, medians, strict=True))


def chain_backward(a: Tensor23, b: Tensor23) -> Callable[[], object]:
    """Record ``CHAIN_PAIRS`` x (relu, add) and a sum on a fresh tape; return the loss's ``backward``."""
    x = a.leaky_trace()
    for _ in range(CHAIN_PAIRS):
        x = x.relu() + b
    return x.sum().backward


def torch_chain_backward(torch: Any, ta: Any, tb: Any) -> Callable[[], object]:
    """The same chain in PyTorch on a fresh leaf with ``requires_grad``; return the loss's ``backward``."""
    x = ta.detach().clone().requires_grad_()
    for _ in range(CHAIN_PAIRS):
        x = torch.relu(x) + tb
    backward: Callable[[], object] = x.sum().backward
    return backward


def time_backward(contexts: dict[str, ContextFactory], torch: Any | None, settings: Settings) -> Row:
    """Median microseconds per ``backward()`` of the chain, per context key (and ``TORCH`` if given)."""
    a, b, _ = operands()
    cases = {key: PreparedCase(lambda: chain_backward(a, b), context) for key, context in contexts.items()}
    if torch is not None:
        ta, tb = torch.from_numpy(ext.data(a).copy()), torch.from_numpy(ext.data(b).copy())
        cases[TORCH] = PreparedCase(lambda: torch_chain_backward(torch, ta, tb))
    medians = median_prepared_us(list(cases.values()), calls=BACKWARD_CALLS, repeat=settings.repeat)
    return dict(zip(cases, medians, strict=True))


def measure_env_off(settings: Settings) -> EnvOffResult:
    """Untraced and traced ops and backward() in this process, where checks must be off at import."""
    if tt.checks_enabled():
        raise RuntimeError("the zero-cost measurement must run with TYPEDTENSOR_CHECKS=0")
    ns = namespace(None)
    ops: dict[str, Row] = {}
    for op in OPS:
        untraced, traced = typedtensor_cases(op)
        ops[op.name] = time_cases({ENV_OFF: untraced, TRACED_ENV_OFF: traced}, ns, settings)
    backward = time_backward({ENV_OFF: nullcontext}, None, settings)[ENV_OFF]
    relu: object = vars(tt.Tensor)["relu"]
    wrapped = bool(getattr(relu, "__typedtensor_checked__", False))
    return EnvOffResult(wrapped=wrapped, ops=ops, backward_us=backward)


def run_env_off_subprocess(settings: Settings) -> EnvOffResult | None:
    """Run :func:`measure_env_off` in ``python -m bench.checks --worker`` with ``TYPEDTENSOR_CHECKS=0``."""
    cmd = [sys.executable, "-m", "bench.checks", "--worker", "--repeat", str(settings.repeat)]
    cmd += ["--target-ms", str(settings.target_s * 1e3)]
    env = {**os.environ, "TYPEDTENSOR_CHECKS": "0"}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        stderr = exc.stderr if isinstance(exc.stderr, str) else ""
        print(f"warning: the TYPEDTENSOR_CHECKS=0 subprocess failed ({exc}); its columns are n/a\n{stderr}")
        return None
    raw: dict[str, Any] = json.loads(proc.stdout)
    ops = {name: {key: float(v) for key, v in row.items()} for name, row in raw["ops"].items()}
    return EnvOffResult(wrapped=bool(raw["wrapped"]), ops=ops, backward_us=float(raw["backward_us"]))


def worker_main(settings: Settings) -> int:
    """The subprocess side: measure with checks off at import and print the result as JSON."""
    result = measure_env_off(settings)
    json.dump({"wrapped": result.wrapped, "ops": result.ops, "backward_us": result.backward_us}, sys.stdout)
    return 0


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(value: float | None, width: int = 9) -> str:
    """A time in microseconds right-aligned in ``width`` columns, or ``n/a``."""
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.2f}"


def diff(x: float | None, y: float | None) -> float | None:
    """``x - y``, or None when either is unknown."""
    return None if x is None or y is None else x - y


def ratio(x: float | None, y: float | None) -> str:
    """``x / y`` as ``1.23x``, or ``n/a``."""
    return f"{'n/a':>10}" if x is None or y is None or y == 0 else f"{x / y:9.2f}x"


def median_of(values: Sequence[float | None]) -> float | None:
    """The median of the known values, or None when none is known."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def print_header(torch: Any | None, settings: Settings) -> None:
    """Versions, machine load, method, and what was done to the environment."""
    torch_version = "not installed" if torch is None else str(torch.__version__)
    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, typedtensor {tt.__version__}, "
        f"torch {torch_version}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    if UNSET_OPENBLAS:
        names = ", ".join(f"{k}={v}" for k, v in UNSET_OPENBLAS.items())
        when = "AFTER NumPy was loaded, so it had no effect" if NUMPY_PRELOADED else "before importing NumPy"
        print(f"unset {names} for this process and its subprocess ({when})")
    else:
        print("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were not set; nothing unset")
    print(
        f"method: median over {settings.repeat} repeats of ~{settings.target_s * 1e3:.0f} ms timeit batches, "
        "variants measured round-robin; all times in microseconds per call"
    )


def print_check_table(results: dict[str, Row]) -> None:
    """Part 1: checked vs unchecked (API switch and environment) vs NumPy, and vs torch."""
    print("\n1. run-time check overhead, (2,3) float32, untraced (us/call)")
    heads = ("numpy", "checked", "off(API)", "off(env)", "ovh(env)", "ovh(API)", "torch", "chk/torch")
    print(f"{'op':<10}" + "".join(f"{h:>9}" for h in heads[:-1]) + f"{heads[-1]:>10}")
    for op in OPS:
        r = results[op.name]
        checked = r.get(CHECKED)
        cells = [r.get(NUMPY), checked, r.get(API_OFF), r.get(ENV_OFF)]
        cells += [diff(checked, r.get(ENV_OFF)), diff(checked, r.get(API_OFF)), r.get(TORCH)]
        print(f"{op.name:<10}" + "".join(fmt(c) for c in cells) + ratio(checked, r.get(TORCH)))
    print("ovh(env) = checked - off(env): TYPEDTENSOR_CHECKS=0 (subprocess, nothing wrapped)")
    print("ovh(API) = checked - off(API): inside `with tt.checks(False):` (one branch per call)")


def print_tape_table(results: dict[str, Row]) -> None:
    """Part 2a: traced vs untraced per op, per checking mode, and torch's autograd for comparison."""
    print("\n2. tape overhead per op: on `at = a.leaky_trace()` vs on `a` (us/call)")
    print(f"{'op':<10}{'mode':<24}{'untraced':>9}{'traced':>9}{'tape':>9}")
    modes = (
        ("checks on", CHECKED, TRACED),
        ("tt.checks(False)", API_OFF, TRACED_API_OFF),
        ("TYPEDTENSOR_CHECKS=0", ENV_OFF, TRACED_ENV_OFF),
        ("torch requires_grad", TORCH, TORCH_GRAD),
    )
    for op in OPS:
        r = results[op.name]
        for i, (label, plain, traced) in enumerate(modes):
            name = op.name if i == 0 else ""
            cells = (r.get(plain), r.get(traced), diff(r.get(traced), r.get(plain)))
            print(f"{name:<10}{label:<24}" + "".join(fmt(c) for c in cells))


def print_backward_table(backward: Row) -> None:
    """Part 2b: backward() of the relu/add chain, total and per recorded op."""
    print(
        f"\n   backward() of a {RECORDED_OPS}-op chain ({CHAIN_PAIRS} x relu, {CHAIN_PAIRS} x add, sum) "
        "on a leaky-traced (2,3) tensor"
    )
    print(f"{'':<10}{'mode':<24}{'us/call':>9}{'us/op':>9}")
    for label, key in (
        ("checks on", CHECKED),
        ("tt.checks(False)", API_OFF),
        ("TYPEDTENSOR_CHECKS=0", ENV_OFF),
        ("torch requires_grad", TORCH),
    ):
        total = backward.get(key)
        per_op = None if total is None else total / RECORDED_OPS
        print(f"{'':<10}{label:<24}{fmt(total)}{fmt(per_op)}")


def print_summary(results: dict[str, Row], backward: Row) -> None:
    """The one-line verdicts."""
    rows = [results[op.name] for op in OPS]
    env = median_of([diff(r.get(CHECKED), r.get(ENV_OFF)) for r in rows])
    api = median_of([diff(r.get(CHECKED), r.get(API_OFF)) for r in rows])
    tape = median_of([diff(r.get(TRACED), r.get(CHECKED)) for r in rows])
    headline, reference = (env, "TYPEDTENSOR_CHECKS=0") if env is not None else (api, "tt.checks(False)")
    total = backward.get(CHECKED)
    per_op = None if total is None else total / RECORDED_OPS
    verdict = "n/a" if headline is None else ("OK" if headline <= TARGET_OVERHEAD_US else "OVER TARGET")
    print()
    print(f"tape overhead (checks on): median {fmt(tape, 0)} us/op; backward(): {fmt(per_op, 0)} us/recorded op")
    print(f"API-switch check overhead (vs tt.checks(False)): median {fmt(api, 0)} us/call")
    print(
        f"check overhead on a (2,3) tensor: median {fmt(headline, 0)} us/call "
        f"(target <= {TARGET_OVERHEAD_US:g} us; vs {reference}) {verdict}"
    )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.checks", description="Cost per call of typedtensor run-time checks and tape."
    )
    parser.add_argument("--repeat", type=int, default=9, help="repeats per number; the median is reported")
    parser.add_argument("--target-ms", type=float, default=25.0, help="duration of one timeit batch")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole benchmark and print the report."""
    args = parse_args(argv)
    settings = Settings(repeat=max(1, int(args.repeat)), target_s=float(args.target_ms) / 1e3)
    if args.worker:
        return worker_main(settings)
    if not tt.checks_enabled():
        print("run-time checks are off (TYPEDTENSOR_CHECKS=0?); unset it to benchmark them", file=sys.stderr)
        return 2
    torch = load_torch()
    print_header(torch, settings)
    env_off = run_env_off_subprocess(settings)
    ns = namespace(torch)
    results = {op.name: time_cases(op_cases(op, torch is not None), ns, settings) for op in OPS}
    backward = time_backward({CHECKED: nullcontext, API_OFF: checks_off}, torch, settings)
    if env_off is not None:
        for name, row in env_off.ops.items():
            results[name].update(row)
        backward[ENV_OFF] = env_off.backward_us
        print(f"TYPEDTENSOR_CHECKS=0 subprocess: Tensor methods wrapped = {env_off.wrapped} (expected False)")
    print_check_table(results)
    print_tape_table(results)
    print_backward_table(backward)
    print_summary(results, backward)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
