"""Where the run-time checks apply.

- Coroutines, generators and async generators bind their symbolic dims once for the whole call:
  the arguments, every yielded (and sent) value and the return value share one scope, which never
  leaks into the caller or into other tasks while the call is suspended.
- ``tt.checks(...)`` switches checks for the current thread or asyncio task only; ``tt.set_checks``
  sets the process-wide default that every context without a ``tt.checks`` block follows.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import NoneTape, Tensor
from typedtensor.nn import Module

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
F32 = np.float32
Vec = Tensor[tuple[B], F32, NoneTape]
Mat = Tensor[tuple[B, C], F32, NoneTape]
Row = Tensor[tuple[C], F32, NoneTape]


def z(*shape: int) -> Any:
    return tt.zeros(shape)


def unbound() -> bool:
    """True when no binding of B or C is visible here (outside a checked call a hint binds nothing)."""
    vec: Any = Vec
    row: Any = Row
    return isinstance(z(9), vec) and isinstance(z(9), row)


# ---- coroutines ----------------------------------------------------------------------------------


@tt.checked
async def add_async(x: Vec[B], y: Vec[B]) -> Vec[B]:
    await asyncio.sleep(0)
    return x + y


@tt.checked
async def swap_async(x: Mat[B, C]) -> Tensor[tuple[C, B], F32, NoneTape]:
    await asyncio.sleep(0)
    return x  # type: ignore[return-value]


def test_coroutine_binds_dims_across_its_arguments() -> None:
    assert inspect.iscoroutinefunction(add_async)
    assert asyncio.run(add_async(z(2), z(2))).shape == (2,)
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)parameter y=.*dim 0 \(B\) is 5 but B is bound to 2"):
        asyncio.run(add_async(z(2), z(5)))


def test_coroutine_return_is_checked_with_the_arguments_bindings() -> None:
    assert asyncio.run(swap_async(z(3, 3))).shape == (3, 3)
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)return.*dim 0 \(C\) is 2 but C is bound to 3"):
        asyncio.run(swap_async(z(2, 3)))


def test_nested_coroutines_restore_the_outer_bindings() -> None:
    @tt.checked
    async def outer(x: Vec[B], give_inner: bool) -> Vec[B]:
        inner = await add_async(z(7), z(7))  # its own B
        return inner if give_inner else x

    assert asyncio.run(outer(z(2), False)).shape == (2,)
    with pytest.raises(tt.ShapeCheckError, match="B is bound to 2"):
        asyncio.run(outer(z(2), True))


def test_concurrent_coroutines_keep_their_own_bindings() -> None:
    async def main() -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        started, release = asyncio.Event(), asyncio.Event()

        @tt.checked
        async def held(x: Vec[B]) -> Vec[B]:
            started.set()
            await release.wait()  # suspended with B = 2 bound
            return x

        task = asyncio.create_task(held(z(2)))
        await started.wait()
        other = await add_async(z(5), z(5))  # B = 5 in this task, while held is suspended
        clean = unbound()
        release.set()
        return (await task).shape, other.shape, clean

    assert asyncio.run(main()) == ((2,), (5,), True)


def test_checks_off_runs_a_coroutine_unchecked() -> None:
    with tt.checks(False):
        assert asyncio.run(add_async(z(2), z(2))).shape == (2,)
        with pytest.raises(tt.ShapeError, match="shapes"):  # the op's own check, not the annotation's
            asyncio.run(add_async(z(2), z(5)))


class AsyncScale(Module, Generic[C]):
    """A module with an async method: checked with C bound from the instance."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels

    async def forward_async(self, x: Mat[B, C]) -> Mat[B, C]:
        await asyncio.sleep(0)
        return x

    async def rows(self, x: Mat[B, C]) -> AsyncIterator[Row[C]]:
        for i in range(x.shape[0]):
            await asyncio.sleep(0)
            yield x[i]


def test_async_module_methods_are_checked_with_the_instance_dims() -> None:
    m = AsyncScale[L[3]](3)
    assert inspect.iscoroutinefunction(m.forward_async)
    assert inspect.isasyncgenfunction(m.rows)
    assert getattr(vars(AsyncScale)["forward_async"], "__typedtensor_checked__", False)
    assert asyncio.run(m.forward_async(z(2, 3))).shape == (2, 3)
    bad: Any = m
    with pytest.raises(tt.ShapeCheckError, match=r"dim 1 \(C\) is 4 but C is bound to 3"):
        asyncio.run(bad.forward_async(z(2, 4)))

    async def rows(x: Any) -> list[tuple[int, ...]]:
        return [r.shape async for r in bad.rows(x)]

    assert asyncio.run(rows(z(2, 3))) == [(3,), (3,)]
    with pytest.raises(tt.ShapeCheckError, match="C is bound to 3"):
        asyncio.run(rows(z(2, 4)))


# ---- generators ----------------------------------------------------------------------------------


@tt.checked
def rows(x: Mat[B, C], weights: Vec[B]) -> Iterator[Row[C]]:
    for i in range(x.shape[0]):
        yield x[i]


@tt.checked
def rows_then(x: Mat[B, C], extra: Any) -> Iterator[Row[C]]:
    yield x[0]
    yield extra


def test_generator_binds_dims_across_its_arguments() -> None:
    assert inspect.isgeneratorfunction(rows)
    assert [r.shape for r in rows(z(2, 3), z(2))] == [(3,), (3,)]
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)parameter weights=.*B is bound to 2"):
        next(rows(z(2, 3), z(5)))


def test_generator_yields_are_checked_with_the_call_bindings() -> None:
    assert [r.shape for r in rows_then(z(2, 3), z(3))] == [(3,), (3,)]
    g = rows_then(z(2, 3), z(7))
    assert next(g).shape == (3,)
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)rows_then\(\) yielded .*C is bound to 3"):
        next(g)
    with pytest.raises(tt.DTypeCheckError, match="yielded"):
        list(rows_then(z(2, 3), np.zeros(3)))


def test_generator_bindings_do_not_leak_between_steps() -> None:
    g = rows(z(2, 3), z(2))
    next(g)
    assert unbound()  # C = 3 is bound inside the generator only
    assert next(g).shape == (3,)


def test_generator_send_throw_close_and_return_value() -> None:
    closed: list[bool] = []

    @tt.checked
    def accumulate(x: Vec[B], wrong_result: bool) -> Generator[Vec[B], Vec[B] | None, Vec[B]]:
        total = x
        try:
            while True:
                got = yield total
                if got is None:
                    return z(9) if wrong_result else total
                total = total + got
        finally:
            closed.append(True)

    g = accumulate(tt.ones((2,)), False)
    assert next(g).shape == (2,)
    assert float(g.send(tt.ones((2,))).numpy()[0]) == 2.0
    with pytest.raises(StopIteration) as stop:
        g.send(None)
    assert stop.value.value.shape == (2,)
    assert closed == [True]

    g = accumulate(tt.ones((2,)), True)
    next(g)
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)returned .*B is bound to 2"):
        g.send(None)

    g = accumulate(tt.ones((2,)), False)
    next(g)
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)was sent .*B is bound to 2"):
        g.send(z(4))

    g = accumulate(tt.ones((2,)), False)
    next(g)
    with pytest.raises(KeyError):
        g.throw(KeyError("k"))
    g = accumulate(tt.ones((2,)), False)
    next(g)
    closed.clear()
    g.close()
    assert closed == [True]


def test_checks_off_runs_a_generator_unchecked() -> None:
    with tt.checks(False):
        assert [r.shape for r in rows_then(z(2, 3), z(7))] == [(3,), (7,)]


# ---- async generators ----------------------------------------------------------------------------


@tt.checked
async def arows(x: Mat[B, C], weights: Vec[B], extra: Any = None) -> AsyncIterator[Row[C]]:
    for i in range(x.shape[0]):
        await asyncio.sleep(0)
        yield x[i]
    if extra is not None:
        yield extra


def _collect(agen: AsyncIterator[Any]) -> list[tuple[int, ...]]:
    async def run() -> list[tuple[int, ...]]:
        return [r.shape async for r in agen]

    return asyncio.run(run())


def test_async_generator_binds_arguments_and_checks_yields() -> None:
    assert inspect.isasyncgenfunction(arows)
    assert _collect(arows(z(2, 3), z(2))) == [(3,), (3,)]
    with pytest.raises(tt.ShapeCheckError, match="B is bound to 2"):
        _collect(arows(z(2, 3), z(5)))
    with pytest.raises(tt.ShapeCheckError, match=r"(?s)yielded .*C is bound to 3"):
        _collect(arows(z(2, 3), z(2), z(4)))
    with tt.checks(False):
        assert _collect(arows(z(2, 3), z(5), z(4))) == [(3,), (3,), (4,)]


def test_async_generator_asend_athrow_aclose() -> None:
    closed: list[bool] = []

    @tt.checked
    async def echo(x: Vec[B]) -> AsyncGenerator[Any, Any]:
        try:
            got: Any = x
            while True:
                sent: Any = yield got
                got = x if sent is None else sent
        finally:
            closed.append(True)

    async def run() -> tuple[int, ...]:
        g: Any = echo(z(2))
        assert (await g.asend(None)).shape == (2,)
        shape: tuple[int, ...] = (await g.asend(z(4))).shape
        with pytest.raises(KeyError):
            await g.athrow(KeyError("k"))
        g = echo(z(2))
        await g.asend(None)
        await g.aclose()
        return shape

    assert asyncio.run(run()) == (4,)
    assert closed == [True, True]


# ---- the switch: per thread, per task --------------------------------------------------------------


@tt.checked
def wrong_return(x: Mat[B, C]) -> Tensor[tuple[C, B], F32, NoneTape]:
    return x  # type: ignore[return-value]


def checking() -> bool:
    """Whether checks are on here, seen through a checked call (not only through checks_enabled)."""
    try:
        wrong_return(z(2, 3))
    except tt.CheckError:
        assert tt.checks_enabled()
        return True
    assert not tt.checks_enabled()
    return False


def test_overlapping_blocks_in_two_threads() -> None:
    """A enters, B enters, A leaves (B is still off, A is on again), B leaves (both on)."""
    step = threading.Barrier(2, timeout=30)
    seen: dict[str, bool] = {}

    def thread_a() -> None:
        with tt.checks(False):
            step.wait()  # 1: both inside
            seen["a inside"] = checking()
            step.wait()  # 2
        seen["a after"] = checking()
        step.wait()  # 3: A outside while B is inside
        step.wait()  # 4

    def thread_b() -> None:
        with tt.checks(False):
            step.wait()  # 1
            step.wait()  # 2
            step.wait()  # 3: A has left its block
            seen["b inside after a left"] = checking()
        step.wait()  # 4
        seen["b after"] = checking()

    _run_threads(thread_a, thread_b)
    assert seen == {"a inside": False, "a after": True, "b inside after a left": False, "b after": True}
    assert checking()


def test_a_block_in_one_thread_leaves_the_others_checked() -> None:
    inside, done = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def off() -> None:
        with tt.checks(False):
            inside.set()
            done.wait(30)
            seen["off"] = checking()

    def other() -> None:
        inside.wait(30)
        seen["other"] = checking()
        done.set()

    _run_threads(off, other)
    assert seen == {"off": False, "other": True}


def test_overlapping_blocks_in_two_asyncio_tasks() -> None:
    async def main() -> dict[str, bool]:
        seen: dict[str, bool] = {}
        a_in, b_in, a_out, b_done = (asyncio.Event() for _ in range(4))

        async def task_a() -> None:
            with tt.checks(False):
                a_in.set()
                await b_in.wait()
                seen["a inside"] = checking()
            seen["a after"] = checking()
            a_out.set()
            await b_done.wait()

        async def task_b() -> None:
            await a_in.wait()
            with tt.checks(False):
                b_in.set()
                await a_out.wait()
                seen["b inside after a left"] = checking()
            seen["b after"] = checking()
            b_done.set()

        async def bystander() -> None:
            await b_in.wait()
            seen["bystander"] = checking()

        await asyncio.gather(task_a(), task_b(), bystander())
        seen["main"] = checking()
        return seen

    assert asyncio.run(main()) == {
        "a inside": False,
        "bystander": True,
        "a after": True,
        "b inside after a left": False,
        "b after": True,
        "main": True,
    }


def test_tasks_inherit_a_block_new_threads_start_at_the_default() -> None:
    async def child() -> bool:
        return checking()

    async def main() -> tuple[bool, bool, bool]:
        with tt.checks(False):
            in_task = await asyncio.create_task(child())
            in_to_thread = await asyncio.to_thread(checking)  # copies the context
            box: list[bool] = []
            thread = threading.Thread(target=lambda: box.append(checking()))
            thread.start()
            thread.join(30)
        return in_task, in_to_thread, box[0]

    assert asyncio.run(main()) == (False, False, True)


def test_set_checks_sets_the_default_a_block_overrides_it() -> None:
    def in_new_thread() -> bool:
        box: list[bool] = []
        thread = threading.Thread(target=lambda: box.append(checking()))
        thread.start()
        thread.join(30)
        return box[0]

    try:
        tt.set_checks(False)
        assert not checking()
        assert not in_new_thread()
        with tt.checks(True):
            assert checking()
            assert not in_new_thread()  # the default, not this block
            tt.set_checks(True)
            tt.set_checks(False)
            assert checking()  # the block's own setting wins inside it
        assert not checking()
        with tt.checks(False):
            tt.set_checks(True)
            assert not checking()
            assert in_new_thread()
        assert checking()
    finally:
        tt.set_checks(True)
    with tt.checks(False), tt.checks(True):
        assert checking()
    with tt.checks(True), tt.checks(False):
        assert not checking()
    assert checking()


def test_environment_switch_with_blocks_and_threads() -> None:
    code = (
        "import threading, typedtensor as tt\n"
        "assert not tt.checks_enabled()\n"
        "with tt.checks(False):\n    assert not tt.checks_enabled()\n"
        "try:\n    tt.checks(True).__enter__()\nexcept tt.TypedTensorError as e:\n    print('refused:', e)\n"
        "box = []\nt = threading.Thread(target=lambda: box.append(tt.checks_enabled()))\nt.start(); t.join()\n"
        "print('thread:', box[0], 'main:', tt.checks_enabled())\n"
    )
    env = dict(os.environ, TYPEDTENSOR_CHECKS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "refused: run-time checks were disabled at import by TYPEDTENSOR_CHECKS=0" in out
    assert "thread: False main: False" in out


def _run_threads(*targets: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guard(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as e:  # re-raised in the main thread
                errors.append(e)

        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
