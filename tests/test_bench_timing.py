"""bench._timing: the settle before a series of another side, the warm-up calls, the alternating order.

Nothing here is about speed: each test checks what the helpers do (when they wait, what they call in
which order), not how fast anything runs.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

from bench import _timing
from bench._timing import Case, median_alternating_s, median_call_us, series_warmup_calls, settle, spread


def test_settle_returns_when_no_other_thread_runs() -> None:
    assert settle(max_s=5.0) < 5.0


def test_settle_waits_while_another_thread_spins() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        settle(max_s=10.0)
        assert stop.is_set()  # it did not return while the spinner used a core
    finally:
        stop.set()
        timer.cancel()
        spinner.join()


def test_settle_gives_up_after_max_s() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        assert settle(max_s=0.1) >= 0.1
        assert not stop.is_set()
    finally:
        stop.set()
        spinner.join()


def test_settles_only_where_the_side_changes() -> None:
    waits: list[float] = []
    cases = [Case("f()", side="a"), Case("f()", side="a"), Case("f()", side="b")]
    median_call_us(cases, {"f": lambda: None}, repeat=2, target_s=0.001, warmup=1, waits=waits)
    # calibration a a b (one switch), then per repeat a (switch) a b (switch)
    assert len(waits) == 5


def test_no_settle_without_sides() -> None:
    waits: list[float] = []
    median_call_us(
        [Case("f()"), Case("g()")], {"f": lambda: None, "g": lambda: None}, repeat=2, target_s=0.001, waits=waits
    )
    assert waits == []


def test_series_warmup_calls() -> None:
    assert series_warmup_calls(0.0, 100, 0.05) == 0
    assert series_warmup_calls(0.02, 1, 0.05) == 1  # a long call: one untimed call
    assert series_warmup_calls(0.02, 100, 0.05) == 40
    assert series_warmup_calls(1e-9, 100, 0.05) == 1


def test_each_series_starts_with_untimed_calls() -> None:
    events: list[str] = []

    def call() -> None:
        time.sleep(0.003)  # longer than one calibration run must last: calibration is one warm-up and one run

    cases = [Case("f()", setup="mark()", side="a")]
    namespace: dict[str, object] = {"f": call, "mark": lambda: events.append("timeit block")}
    median_call_us(cases, namespace, repeat=3, target_s=0.001, warmup=1)
    assert len(events) == 2 + 3  # calibration, then one timed block per repeat
    events.clear()
    median_call_us(cases, namespace, repeat=3, target_s=0.001, warmup=1, series_warmup_s=0.001)
    assert len(events) == 2 + 2 * 3  # an untimed block before each timed one


def test_alternating_calls_in_turn_after_warmup_rounds() -> None:
    order: list[str] = []
    calls: _timing.Calls = {
        "a": (lambda: order.append("a"), nullcontext),
        "b": (lambda: order.append("b"), nullcontext),
    }
    result = median_alternating_s(calls, rounds=3, warmup_rounds=2)
    assert order == ["a", "b"] * 5
    assert set(result) == {"a", "b"}
    assert all(v >= 0 for v in result.values())


def test_alternating_times_each_call_alone() -> None:
    calls: _timing.Calls = {
        "slow": (lambda: time.sleep(0.02), nullcontext),
        "fast": (lambda: None, nullcontext),
    }
    result = median_alternating_s(calls, rounds=3, warmup_rounds=0)
    assert result["slow"] >= 0.02 > result["fast"]


def test_samples_are_handed_back_per_case() -> None:
    per_case: list[list[float]] = []
    cases = [Case("f()", side="a"), Case("f()", side="b")]
    median_call_us(cases, {"f": lambda: None}, repeat=3, target_s=0.001, warmup=1, samples_s=per_case)
    assert [len(s) for s in per_case] == [3, 3]
    by_name: dict[str, list[float]] = {}
    calls: _timing.Calls = {"a": (lambda: None, nullcontext), "b": (lambda: None, nullcontext)}
    median_alternating_s(calls, rounds=4, warmup_rounds=1, samples_s=by_name)
    assert {k: len(v) for k, v in by_name.items()} == {"a": 4, "b": 4}


def test_spread_is_the_interquartile_range_over_the_median() -> None:
    assert spread([]) == 0.0
    assert spread([5.0]) == 0.0
    assert spread([2.0, 2.0, 2.0]) == 0.0
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == (4.0 - 2.0) / 3.0
