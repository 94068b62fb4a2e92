"""Timing helpers for noisy, shared machines: interleaved repeats, median per-call time.

Every helper measures its cases round-robin (case 1, case 2, ..., case 1, case 2, ...) so that a
slow phase of the machine hits all of them alike, and reports the MEDIAN over the repeats, which a
few disturbed repeats do not move. Each case of :func:`median_call_us` is timed as a series of calls
(one ``timeit`` block per case per repeat). A case may name its ``side``, the library whose thread
pools it runs (``"tt"``, ``"torch"``): when the series of one side follows one of another side,
:func:`settle` first waits until the process's other threads are idle (the previous side's pool
spinning after its last call: OpenBLAS's workers busy-wait ~0.1 s, libgomp's a few ms), and
``series_warmup_s`` of untimed calls then bring the case's own pools to their steady state, so each
side is timed as a user running only it would see. :func:`median_alternating_s` measures the other
case on purpose: each call right after a call of the other side. Only the standard library is
imported here, so this module may be imported before NumPy.
"""

import contextlib
import functools
import gc
import math
import os
import statistics
import time
import timeit
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

__all__ = [
    "Calls",
    "Case",
    "PreparedCase",
    "median_alternating_s",
    "median_call_us",
    "median_calls_s",
    "median_prepared_us",
    "other_threads_cpu_s",
    "series_warmup_calls",
    "settle",
    "spread",
    "unset_env",
]

#: A factory for the context a case is timed in (e.g. ``lambda: tt.checks(False)``).
ContextFactory = Callable[[], AbstractContextManager[object]]

#: Each calibration run must last at least this long before its rate is trusted.
_MIN_CALIBRATION_S = 0.002
#: :func:`settle`: the length of one observation window, the share of one core the other threads may use
#: in a window that counts as idle, the idle windows in a row it waits for, and the longest it waits.
SETTLE_WINDOW_S = 0.01
SETTLE_IDLE_SHARE = 0.05
SETTLE_IDLE_WINDOWS = 2
SETTLE_MAX_S = 1.0


def other_threads_cpu_s() -> float:
    """CPU seconds used so far by this process's threads other than the calling one (pools' workers)."""
    return time.process_time() - time.thread_time()


def settle(
    *,
    window_s: float = SETTLE_WINDOW_S,
    idle_share: float = SETTLE_IDLE_SHARE,
    idle_windows: int = SETTLE_IDLE_WINDOWS,
    max_s: float = SETTLE_MAX_S,
) -> float:
    """Sleep until the process's other threads are idle; return the seconds waited.

    Idle: ``idle_windows`` windows in a row of ``window_s`` in which the other threads together used
    less than ``idle_share`` of one core (a thread pool spinning after its last call uses a whole core,
    or its share of one on a loaded machine). Gives up after ``max_s`` (then the return value is
    ``max_s`` or a little more: something keeps running).
    """
    start = time.perf_counter()
    idle = 0
    cpu, at = other_threads_cpu_s(), start
    while idle < idle_windows:
        now = time.perf_counter()
        if now - start >= max_s:
            break
        time.sleep(window_s)
        cpu_now, at_now = other_threads_cpu_s(), time.perf_counter()
        idle = idle + 1 if cpu_now - cpu < idle_share * (at_now - at) else 0
        cpu, at = cpu_now, at_now
    return time.perf_counter() - start


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
    #: The library whose thread pools the case runs: a series after one of another side starts after :func:`settle`.
    side: str = ""


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


def spread(samples: Sequence[float]) -> float:
    """The interquartile range of ``samples`` over their median (0 for fewer than two samples)."""
    if len(samples) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return (q3 - q1) / statistics.median(samples)


def series_warmup_calls(warmup_s: float, number: int, target_s: float) -> int:
    """Untimed calls lasting about ``warmup_s`` before a series of ``number`` calls lasting about ``target_s``:
    none if ``warmup_s`` is not positive, else at least one."""
    return 0 if warmup_s <= 0 else max(1, math.ceil(warmup_s * number / target_s))


def median_call_us(
    cases: Sequence[Case],
    namespace: dict[str, object],
    *,
    repeat: int,
    target_s: float,
    warmup: int = 10,
    series_warmup_s: float = 0.0,
    waits: list[float] | None = None,
    samples_s: list[list[float]] | None = None,
) -> list[float]:
    """Median time per call, in microseconds, of each case (repeats interleaved across cases).

    Each case is first called ``warmup`` times (fewer for calls that take long, such as a whole training
    step), then calibrated to series of about ``target_s``. Each repeat times one series of each case in
    turn; before a series, :func:`settle` runs if the case's ``side`` differs from the previous case's
    (the seconds it waited are appended to ``waits``), then untimed calls of the case lasting about
    ``series_warmup_s`` (at least one call if it is positive). ``samples_s`` gets, per case, the seconds
    per call of each of its series.
    """
    timers = [timeit.Timer(case.stmt, case.setup, globals=namespace) for case in cases]
    numbers: list[int] = []
    last_side: list[str] = []

    def enter(case: Case) -> None:
        if last_side and last_side[-1] != case.side:
            waited = settle()
            if waits is not None:
                waits.append(waited)
        last_side[:] = [case.side]

    for case, timer in zip(cases, timers, strict=True):
        with case.context():
            enter(case)
            numbers.append(_calibrate(timer, target_s, warmup))
    warm_calls = [series_warmup_calls(series_warmup_s, n, target_s) for n in numbers]
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for case, timer, number, warm, out in zip(cases, timers, numbers, warm_calls, samples, strict=True):
            with case.context():
                enter(case)
                if warm:
                    timer.timeit(warm)
                out.append(timer.timeit(number) / number)
    if samples_s is not None:
        samples_s.extend(samples)
    return [statistics.median(s) * 1e6 for s in samples]


def median_alternating_s(
    calls: Calls, *, rounds: int, warmup_rounds: int = 2, samples_s: dict[str, list[float]] | None = None
) -> dict[str, float]:
    """Median seconds of each named call when the calls run in turn, one call each (a, b, a, b, ...).

    Each call is timed alone (``time.perf_counter`` around it, inside its context, garbage collection off
    during a round), right after the previous call of the round (or of the previous round) returned: with
    the calls of two libraries, each is timed while the other's thread pool may still be spinning.
    ``warmup_rounds`` untimed rounds come first. ``samples_s`` gets each call's timed seconds by name.
    """
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(warmup_rounds + rounds):
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            for name, (call, context) in calls.items():
                with context():
                    start = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - start
                if index >= warmup_rounds:
                    samples[name].append(elapsed)
        finally:
            if gc_was_on:
                gc.enable()
    if samples_s is not None:
        samples_s.update(samples)
    return {name: statistics.median(s) for name, s in samples.items()}


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
