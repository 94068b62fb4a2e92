"""Timing helpers for noisy, shared machines: interleaved repeats, median per-call time.

Every helper measures its cases round-robin (case 1, case 2, ..., case 1, case 2, ...) so that a
slow phase of the machine hits all of them alike, and reports the MEDIAN over the repeats, which a
few disturbed repeats do not move. Only the standard library is imported here, so this module may be
imported before NumPy.
"""

import contextlib
import functools
import gc
import os
import statistics
import time
import timeit
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

__all__ = ["Calls", "Case", "PreparedCase", "median_call_us", "median_calls_s", "median_prepared_us", "unset_env"]

#: A factory for the context a case is timed in (e.g. ``lambda: tt.checks(False)``).
ContextFactory = Callable[[], AbstractContextManager[object]]

#: Each calibration run must last at least this long before its rate is trusted.
_MIN_CALIBRATION_S = 0.002


def unset_env(names: Sequence[str]) -> dict[str, str]:
    """Remove ``names`` from this process's environment; return the removed ``{name: value}``.

    Call it before importing the library the variables configure (they are read at load time).
    Child processes inherit the reduced environment.
    """
    return {name: os.environ.pop(name) for name in names if name in os.environ}


@dataclass(frozen=True)
class Case:
    """A statement timed with :mod:`timeit`: ``setup`` runs once per repeat, then ``stmt`` many times."""

    stmt: str
    setup: str = "pass"
    context: ContextFactory = field(default=nullcontext)


@dataclass(frozen=True)
class PreparedCase:
    """A call that needs fresh, untimed preparation each time (e.g. building a tape, then ``backward``).

    ``prepare()`` returns the zero-argument callable whose single call is timed.
    """

    prepare: Callable[[], Callable[[], object]]
    context: ContextFactory = field(default=nullcontext)


def _calibrate(timer: timeit.Timer, target_s: float, warmup: int = 10) -> int:
    """How many calls of ``timer``'s statement last about ``target_s`` (after ``warmup`` calls)."""
    timer.timeit(warmup)  # warm-up: first calls may build caches (e.g. lazily created wrappers)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= _MIN_CALIBRATION_S:
            return max(1, round(number * target_s / elapsed))
        number *= 4


#: Zero-argument calls to time by name, each with the factory of the context it runs in.
Calls = dict[str, tuple[Callable[[], object], ContextFactory]]


def median_calls_s(calls: Calls, *, repeat: int, target_s: float) -> dict[str, float]:
    """Median seconds per call of each named call (measured round-robin, as ``median_call_us``)."""
    namespace: dict[str, object] = {}
    cases: list[Case] = []
    for i, (call, context) in enumerate(calls.values()):
        namespace[f"call{i}"] = call
        cases.append(Case(f"call{i}()", context=context))
    medians_us = median_call_us(cases, namespace, repeat=repeat, target_s=target_s)
    return {name: us * 1e-6 for name, us in zip(calls, medians_us, strict=True)}


def median_call_us(
    cases: Sequence[Case], namespace: dict[str, object], *, repeat: int, target_s: float, warmup: int = 10
) -> list[float]:
    """Median time per call, in microseconds, of each case (repeats interleaved across cases).

    Each case is first called ``warmup`` times (fewer for calls that take long, such as a whole training step).
    """
    timers = [timeit.Timer(case.stmt, case.setup, globals=namespace) for case in cases]
    numbers: list[int] = []
    for case, timer in zip(cases, timers, strict=True):
        with case.context():
            numbers.append(_calibrate(timer, target_s, warmup))
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for case, timer, number, out in zip(cases, timers, numbers, samples, strict=True):
            with case.context():
                out.append(timer.timeit(number) / number)
    return [statistics.median(s) * 1e6 for s in samples]


def _time_prepared(case: PreparedCase, calls: int) -> float:
    """Mean seconds of one prepared call over ``calls`` fresh preparations (GC off while timing)."""
    total = 0.0
    with case.context():
        for _ in range(calls):
            call = case.prepare()
            gc_was_on = gc.isenabled()
            gc.disable()
            try:
                start = time.perf_counter()
                call()
                total += time.perf_counter() - start
            finally:
                if gc_was_on:
                    gc.enable()
    return total / calls


def median_prepared_us(cases: Sequence[PreparedCase], *, calls: int, repeat: int) -> list[float]:
    """Median (over ``repeat``) of the mean time in microseconds of ``calls`` prepared calls, per case."""
    for case in cases:
        _time_prepared(case, 3)  # warm-up
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for case, out in zip(cases, samples, strict=True):
            out.append(_time_prepared(case, calls))
    return [statistics.median(s) * 1e6 for s in samples]


@contextlib.contextmanager
def bn_backend(name: str) -> Generator[None]:
    """typedtensor's BatchNorm kernels of backend ``name`` inside the block, the previous ones after.

    typedtensor is imported here, on first use, so that importing this module still comes before NumPy.
    """
    from typedtensor.nn import _bn_backend

    before = _bn_backend.current()
    _bn_backend.use(name)
    try:
        yield
    finally:
        _bn_backend.use(before)


def backend_context(name: str) -> ContextFactory:
    """A context factory selecting BatchNorm backend ``name`` (for :class:`Case` and :data:`Calls`)."""
    return functools.partial(bn_backend, name)
