"""Run-time checking derived from the same annotations mypy and pyright read.

beartype type-checks every public op and module method against its annotations and calls the hint
classes of ``typedtensor._hints`` for the tensors. Symbolic dims (TypeVars, NewTypes, TypeVarTuples)
bind once per call across all arguments and the return value through a per-call memo kept in a
ContextVar; a method's class parameters are bound from ``self`` before the call. A coroutine, a
generator or an async generator is one call: its arguments, every value it yields or is sent, and
its return value share one memo, which is in effect only while its own code runs.

Switch checking off with the environment variable ``TYPEDTENSOR_CHECKS=0`` (nothing is wrapped: zero
cost) or at run time (one context-variable read per call): :func:`set_checks` sets the process-wide
default, :func:`checks` overrides it in the current thread or asyncio task for the duration of a
block (tasks started inside the block inherit it; new threads start at the default).
"""

from __future__ import annotations

import collections.abc as abc
import contextlib
import functools
import inspect
import os
import typing
from collections.abc import AsyncGenerator, Callable, Collection, Generator
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import numpy as np
from beartype import BeartypeConf, FrozenDict, beartype
from beartype.door import die_if_unbearable, is_bearable
from beartype.roar import BeartypeException

from ._errors import CheckError, TypedTensorError
from ._hints import Bindings, HintMeta, Violation, get_bindings, reset_bindings, set_bindings, tensor_hint

__all__ = ["checked", "checks", "checks_enabled", "install", "set_checks", "tensor_hint"]

_ENV = "TYPEDTENSOR_CHECKS"
#: False when the environment switched checks off at import: nothing is wrapped at all.
WRAP = os.environ.get(_ENV, "1").strip().lower() not in ("0", "false", "off", "no")

# A NumPy integer is accepted wherever an int is annotated (an axis, a dim), as NumPy accepts it and
# as the ops do with checks off; an int is accepted for a float (PEP 484's tower).
_CONF = BeartypeConf(
    is_pep484_tower=True,
    violation_type=Violation,
    hint_overrides=FrozenDict({int: int | np.integer}),
)

F = TypeVar("F", bound=Callable[..., Any])
_get_bindings, _set_bindings, _reset_bindings = get_bindings, set_bindings, reset_bindings


# --------------------------------------------------------------------------------------------
# The switch
# --------------------------------------------------------------------------------------------


class _Switch:
    """Whether checks are on: the process-wide default (mutable), or a block's fixed setting."""

    __slots__ = ("on",)

    def __init__(self, on: bool) -> None:
        self.on = on


_DEFAULT = _Switch(WRAP)
_ON, _OFF = _Switch(True), _Switch(False)
#: The current context's switch: ``_DEFAULT`` unless a ``checks(...)`` block is active here.
_switch: ContextVar[_Switch] = ContextVar("typedtensor_checks", default=_DEFAULT)
_get_switch = _switch.get


def checks_enabled() -> bool:
    """Whether run-time checks are on in the current thread or asyncio task."""
    return _get_switch().on


def _refuse_on() -> None:
    if not WRAP:
        raise TypedTensorError(
            f"run-time checks were disabled at import by {_ENV}=0, so they are not installed; "
            f"unset {_ENV} and restart the process to use them"
        )


def set_checks(enabled: bool) -> None:
    """Set the process-wide default: checks on or off in every thread and task without a ``checks`` block.

    Inside a ``with tt.checks(...)`` block the block's setting still applies. Checks switched off by
    ``TYPEDTENSOR_CHECKS=0`` at import were never installed and cannot be turned on in that process.
    """
    if enabled:
        _refuse_on()
    _DEFAULT.on = bool(enabled)


@contextlib.contextmanager
def checks(enabled: bool) -> Generator[None]:
    """Run the block with run-time checks on or off in the current thread or asyncio task, then restore.

    Other threads and tasks are not affected; asyncio tasks created inside the block inherit its
    setting (they copy the context), new threads start at the process-wide default.
    """
    on = bool(enabled)
    if on:
        _refuse_on()
    before = _get_switch()
    _switch.set(_ON if on else _OFF)
    try:
        yield
    finally:
        # set, not reset(token): a block left in another context (a generator resumed elsewhere) must not raise
        _switch.set(before)


# --------------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------------

Prebind = Callable[[Any], Bindings]


def checked(fn: F) -> F:
    """Check a function's tensor arguments and return value against its annotations at run time.

    Symbolic dims (TypeVar, NewType, TypeVarTuple) bind once per call across every argument and
    the return value. Use it on your own functions::

        @tt.checked
        def attend(q: Tensor[tuple[B, N, D], F, T], k: Tensor[tuple[B, M, D], F, T]) -> ...: ...

    ``async def`` functions, generators and async generators are checked too: the arguments when the
    body starts (first ``await``/``next``), then each yielded value against the yield type of
    ``Iterator[...]``/``Generator[...]``/``AsyncIterator[...]``, each value sent in (other than None)
    against the send type and the return value, all with the same bindings.
    """
    return cast(F, _wrap(fn, None))


#: What a method named in ``install``'s ``refusing`` does when its argument check fails, before the error
#: is raised: ``refuse(self, error)`` (it may raise an error of its own instead).
Refuse = Callable[[Any, CheckError], None]


def _wrap(fn: Callable[..., Any], prebind: Prebind | None, refuse: Refuse | None = None) -> Callable[..., Any]:
    if not WRAP:
        return fn
    if refuse is not None and prebind is not None:
        return _mark(_refusing(fn, prebind, refuse))
    lazy: list[Callable[..., Any]] = []
    # Decorate now, while the enclosing scope of a nested function still exists to resolve its names;
    # if an annotation names something defined later (a class being built), decorate on first call.
    with contextlib.suppress(BeartypeException):
        lazy.append(beartype(conf=_CONF)(fn))

    def bear() -> Callable[..., Any]:
        if not lazy:
            lazy.append(beartype(conf=_CONF)(fn))
        return lazy[0]

    if inspect.iscoroutinefunction(fn):
        return _mark(_coroutine(fn, bear, prebind))
    if inspect.isasyncgenfunction(fn):
        return _mark(_async_generator(fn, bear, prebind, _Flow(fn)))
    if inspect.isgeneratorfunction(fn):
        return _mark(_generator(fn, bear, prebind, _Flow(fn)))
    switch = _get_switch
    if prebind is None:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not switch().on:
                return fn(*args, **kwargs)
            token = _set_bindings({})
            try:
                return (lazy[0] if lazy else bear())(*args, **kwargs)
            finally:
                _reset_bindings(token)

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not switch().on:
                return fn(*args, **kwargs)
            token = _set_bindings(prebind(args[0]))
            try:
                return (lazy[0] if lazy else bear())(*args, **kwargs)
            finally:
                _reset_bindings(token)

    return _mark(wrapper)


def _refusing(fn: Callable[..., Any], prebind: Prebind, refuse: Refuse) -> Callable[..., Any]:
    """A method wrapper that hands a failed argument check to ``refuse(self, error)`` before raising it.

    The arguments are checked first on their own, by beartype's check of ``fn``'s signature (so the
    error's class and message are those of a plain checked call); when they pass, the call runs as
    any checked call does (the arguments again, in the same bindings, then the body and the return value).
    """
    lazy: list[Callable[..., Any]] = []

    def checks_of() -> list[Callable[..., Any]]:
        if not lazy:
            call = beartype(conf=_CONF)(fn)  # resolves fn's string annotations in place

            def arguments(*args: Any, **kwargs: Any) -> None:
                """Nothing: beartype checks the arguments against fn's signature (through __wrapped__)."""

            functools.update_wrapper(arguments, fn)
            arguments.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "return"}
            lazy.extend((call, beartype(conf=_CONF)(arguments)))
        return lazy

    with contextlib.suppress(BeartypeException):  # as _wrap: names defined later resolve at the first call
        checks_of()
    switch = _get_switch

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not switch().on:
            return fn(*args, **kwargs)
        call, arguments = lazy if lazy else checks_of()
        token = _set_bindings(prebind(args[0]))
        try:
            try:
                arguments(*args, **kwargs)
            except CheckError as error:
                refuse(args[0], error)
                raise
            return call(*args, **kwargs)
        finally:
            _reset_bindings(token)

    setattr(wrapper, "__typedtensor_refuse__", refuse)  # noqa: B010
    return wrapper


def _mark(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    setattr(wrapper, "__typedtensor_checked__", True)  # noqa: B010
    return wrapper


# --------------------------------------------------------------------------------------------
# Coroutines and generators: one memo for the whole call, in effect only while its code runs
# --------------------------------------------------------------------------------------------


def _memo(prebind: Prebind | None, args: tuple[Any, ...]) -> Bindings:
    return {} if prebind is None else prebind(args[0])


def _coroutine(fn: Callable[..., Any], bear: Callable[[], Callable[..., Any]], prebind: Prebind | None) -> Any:
    """An ``async def`` wrapper: the memo is set in the awaiting task's context for the whole coroutine.

    While the coroutine is suspended, only other tasks run, each in its own context; a coroutine it
    awaits directly sets its own memo and restores this one.
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _get_switch().on:
            return await fn(*args, **kwargs)
        memo = _memo(prebind, args)
        outer = _get_bindings()
        _set_bindings(memo)
        try:
            return await bear()(*args, **kwargs)  # beartype's wrapper checks arguments, awaits, checks the return
        finally:
            _set_bindings(outer)

    return wrapper


Check = Callable[[object], None]


class _Flow:
    """The checks of the values a generator yields, is sent and returns (from its return annotation).

    Read on first use, after beartype has resolved the annotations (``from __future__ import
    annotations`` leaves strings). Parts annotated ``Any`` or left out are not checked.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.ready = False
        self.on_yield: Check | None = None
        self.on_send: Check | None = None
        self.on_return: Check | None = None

    def load(self) -> _Flow:
        if not self.ready:
            hint: object = getattr(self.fn, "__annotations__", {}).get("return")
            origin: object = typing.get_origin(hint)
            args: tuple[object, ...] = typing.get_args(hint)
            parts = min(_FLOW_PARTS.get(origin, 0), len(args))  # yield, send, return
            if parts >= 1:
                self.on_yield = self._check(args[0], "yielded")
            if parts >= 2:
                self.on_send = self._check(args[1], "was sent")
            if parts >= 3:
                self.on_return = self._check(args[2], "returned")
            self.ready = True
        return self

    def _check(self, hint: Any, what: str) -> Check | None:
        if hint is Any or hint is object:
            return None
        kind = "Asynchronous generator" if inspect.isasyncgenfunction(self.fn) else "Generator"
        prefix = f"{kind} {self.fn.__module__}.{self.fn.__qualname__}() {what} "
        if isinstance(hint, HintMeta):
            fast = hint._check

            def check_tensor(value: object) -> None:
                if not fast(value):
                    die_if_unbearable(value, cast(Any, hint), conf=_CONF, exception_prefix=prefix)

            return check_tensor

        def check(value: object) -> None:
            if not is_bearable(value, hint, conf=_CONF):
                die_if_unbearable(value, hint, conf=_CONF, exception_prefix=prefix)

        return check


#: How many of (yield, send, return) each generator annotation gives.
_FLOW_PARTS: dict[object, int] = {
    abc.Iterator: 1,
    abc.Iterable: 1,
    abc.AsyncIterator: 1,
    abc.AsyncIterable: 1,
    abc.AsyncGenerator: 2,
    abc.Generator: 3,
}


def _generator(
    fn: Callable[..., Any], bear: Callable[[], Callable[..., Any]], prebind: Prebind | None, flow: _Flow
) -> Any:
    """A generator wrapper that drives beartype's generator one step at a time under the call's memo."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if not _get_switch().on:
            unchecked: Generator[Any, Any, Any] = fn(*args, **kwargs)
            return (yield from unchecked)
        memo = _memo(prebind, args)
        gen: Generator[Any, Any, Any] = bear()(*args, **kwargs)
        checks = flow.load()  # after bear(): beartype resolves string annotations in place
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                outer = _get_bindings()
                _set_bindings(memo)
                try:
                    if thrown is not None:
                        item = gen.throw(thrown)
                    else:
                        if sent is not None and checks.on_send is not None:
                            checks.on_send(sent)
                        item = gen.send(sent)
                    if checks.on_yield is not None:
                        checks.on_yield(item)
                except StopIteration as stop:
                    if checks.on_return is not None:
                        checks.on_return(stop.value)
                    return stop.value
                finally:
                    _set_bindings(outer)
                sent, thrown = None, None
                try:
                    sent = yield item
                except GeneratorExit:
                    raise
                except BaseException as e:  # thrown in by the caller: passed on to the generator
                    thrown = e
        finally:
            gen.close()

    return wrapper


def _async_generator(
    fn: Callable[..., Any], bear: Callable[[], Callable[..., Any]], prebind: Prebind | None, flow: _Flow
) -> Any:
    """An async generator wrapper: each step (``asend``/``athrow``) of beartype's runs under the call's memo.

    With checks off the original generator is driven the same way, without the memo or the checks.
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        memo: Bindings | None = None
        checks = _NO_FLOW
        if _get_switch().on:
            memo = _memo(prebind, args)
            agen: AsyncGenerator[Any, Any] = bear()(*args, **kwargs)
            checks = flow.load()  # after bear(): beartype resolves string annotations in place
        else:
            agen = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                outer = _get_bindings()
                if memo is not None:
                    _set_bindings(memo)
                try:
                    if thrown is not None:
                        item = await agen.athrow(thrown)
                    else:
                        if sent is not None and checks.on_send is not None:
                            checks.on_send(sent)
                        item = await agen.asend(sent)
                    if checks.on_yield is not None:
                        checks.on_yield(item)
                except StopAsyncIteration:
                    return
                finally:
                    if memo is not None:
                        _set_bindings(outer)
                sent, thrown = None, None
                try:
                    sent = yield item
                except GeneratorExit:
                    raise
                except BaseException as e:  # thrown in by the caller: passed on to the generator
                    thrown = e
        finally:
            await agen.aclose()

    return wrapper


_NO_FLOW = _Flow(lambda: None).load()


def install(
    cls: type,
    prebind: Prebind,
    names: list[str] | None = None,
    refusing: Collection[str] = (),
    refuse: Refuse | None = None,
) -> None:
    """Wrap the methods of ``cls`` (all public ones and dunders defined on it, or ``names``).

    The methods named in ``refusing``, defined on ``cls`` or inherited, hand a failed argument check to
    ``refuse(self, error)`` before it is raised: a method that must act even on arguments it refuses (a
    collective every process has to join) gets that chance, with the error a plain checked call raises.
    """
    if not WRAP:
        return
    if refuse is not None:
        for name in refusing:
            current = getattr(cls, name, None)  # (a mixin may name a method its subclasses get elsewhere)
            if current is not None and getattr(current, "__typedtensor_refuse__", None) is not refuse:
                setattr(cls, name, _wrap(inspect.unwrap(current), prebind, refuse))
    for name, value in list(vars(cls).items()):
        if names is not None and name not in names:
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        if name in _SKIP or not callable(value) or isinstance(value, (staticmethod, classmethod, type)):
            continue
        if getattr(value, "__typedtensor_checked__", False):
            continue
        setattr(cls, name, _wrap(value, prebind))


_SKIP = frozenset(
    {
        "__init__",
        "__new__",
        "__repr__",
        "__str__",
        "__class_getitem__",
        "__init_subclass__",
        "__array__",
        "__len__",
        "__hash__",
        "__eq__",
        "__getattr__",
        "__setattr__",
        "__getstate__",
        "__setstate__",
        "__bool__",
        "__iter__",
    }
)
