"""The run-time check of a hint and its explanation agree on every call (they are generated from one description).

Random hints (constant, symbolic, repeated and expression dims, a variadic part, a whole-shape TypeVar;
exact, constrained and symbolic dtypes; fixed and symbolic tapes) are checked against random tensors and
other values in calls of up to four arguments sharing one memo, as a checked call does. For each argument
an oracle written here from the hint's meaning (not from the description) says which kinds of problem
(dtype, tape, shape) the value has; the check must fail exactly when the oracle finds one, the explanation
of a failure must report problems of exactly those kinds (they choose the error class) and the
explanation of a passing value must report none. The same end to end through ``tt.checked`` (beartype): a
call raises the error class of the first wrong argument's problems.
"""

from __future__ import annotations

from typing import Any, Literal, NewType, TypeVar, TypeVarTuple, Unpack, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import typedtensor as tt
from typedtensor import _hints
from typedtensor._dimexpr import Add, DimExpr, Half, Mul, Sub
from typedtensor._errors import CHECK_ERRORS, CheckError, DTypeCheckError, ShapeCheckError, TapeCheckError

B = TypeVar("B")
N = TypeVar("N")
W = NewType("W", int)
Ts = TypeVarTuple("Ts")
E = TypeVar("E")
EF = TypeVar("EF", np.float32, np.float64)
T = TypeVar("T")
SH = TypeVar("SH")
SYMBOLS: list[object] = [B, N, W]
# built at run time, as the checks see them (the checkers would read them as annotations)
UNPACKED: object = cast(Any, Unpack)[Ts]
_half, _mul, _add, _sub = cast(Any, (Half, Mul, Add, Sub))
EXPRS: list[object] = [
    _half[N],
    _mul[B, N],
    _add[N, Literal[1]],
    _sub[B, Literal[1]],
    _half[W],
    _add[B, W],
    _mul[Literal[2], W],
]
FIXED_TAPES: tuple[object, ...] = (tt.NoneTape, tt.OwnedTape)

Kinds = frozenset[type[CheckError]]
D, TP, S = DTypeCheckError, TapeCheckError, ShapeCheckError


def _dims() -> st.SearchStrategy[object]:
    const = st.integers(0, 3).map(lambda n: Literal[n])
    sym = st.sampled_from(SYMBOLS)
    expr = st.sampled_from(EXPRS)
    return st.one_of(const, sym, expr, st.just(int))


@st.composite
def hints(draw: st.DrawFn) -> tuple[object, object, object]:
    form = draw(st.sampled_from(["dims", "dims", "dims", "variadic", "whole", "any"]))
    shape: object
    if form == "any":
        shape = Any
    elif form == "whole":
        shape = SH
    else:
        dims = draw(st.lists(_dims(), max_size=4))
        if form == "variadic":
            dims.insert(draw(st.integers(0, len(dims))), UNPACKED)
        shape = tuple.__class_getitem__(tuple(dims)) if dims else tuple[()]
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, E, EF, Any]))
    tape = draw(st.sampled_from([tt.NoneTape, tt.OwnedTape, T, Any]))
    return shape, dtype, tape


@st.composite
def values(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([1.5, None, np.zeros(2, np.float32), "x"]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=5)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int64]))
    x = tt.tensor(np.zeros(shape, dtype), cast(Any, dtype))
    return x.leaky_trace() if draw(st.booleans()) else x


@st.composite
def memos(draw: st.DrawFn) -> dict[object, Any] | None:
    """The memo a call starts with: None outside a checked call, or values bound before (``self``'s dims)."""
    if draw(st.integers(0, 4)) == 0:
        return None
    memo: dict[object, Any] = {}
    for sym in SYMBOLS:
        if draw(st.integers(0, 3)) == 0:
            memo[sym] = draw(st.integers(0, 4))
    if draw(st.integers(0, 3)) == 0:
        memo[E] = draw(st.sampled_from([np.float32, np.int64]))
    if draw(st.integers(0, 3)) == 0:
        memo[T] = draw(st.sampled_from([tt.NoneTape, tt.OwnedTape]))
    return memo


# ---- the oracle: the meaning of a hint, stated directly --------------------------------------------


def _oracle(params: tuple[object, object, object], obj: object, m: dict[object, Any]) -> Kinds:
    """The kinds of problem ``obj`` has against ``Tensor[params]`` given the memo ``m``."""
    shape, dtype, tape = params
    if type(obj) is not tt.Tensor:
        return frozenset({D})
    x = cast(Any, obj)
    data = x.numpy()
    found: set[type[CheckError]] = set()
    got = data.dtype.type
    if isinstance(dtype, TypeVar):
        if (dtype.__constraints__ and got not in dtype.__constraints__) or m.get(dtype, got) is not got:
            found.add(D)
    elif dtype is not Any and data.dtype != np.dtype(cast(Any, dtype)):
        found.add(D)
    has = tt.OwnedTape if x.traced else tt.NoneTape
    if (isinstance(tape, TypeVar) and m.get(tape, has) is not has) or (tape in FIXED_TAPES and tape is not has):
        found.add(TP)
    if _shape_fails(shape, tuple(data.shape), m):
        found.add(S)
    return frozenset(found)


def _shape_fails(shape: object, s: tuple[int, ...], m: dict[object, Any]) -> bool:
    if shape is Any:
        return False
    if isinstance(shape, TypeVar):
        return shape in m and tuple(m[shape]) != s
    dims: list[Any] = list(getattr(shape, "__args__", ()))
    if dims == [()]:
        dims = []
    split = next((i for i, a in enumerate(dims) if a is UNPACKED), None)
    fixed = dims if split is None else dims[:split] + dims[split + 1 :]
    if len(s) < len(fixed) or (split is None and len(s) != len(fixed)):
        return True
    at = list(range(len(fixed))) if split is None else [*range(split), *range(len(s) - len(fixed) + split, len(s))]
    own: dict[object, int] = {}
    for i, a in zip(at, fixed, strict=True):
        if a in SYMBOLS:
            if own.setdefault(a, s[i]) != s[i] or m.get(a, s[i]) != s[i]:
                return True
        elif getattr(a, "__origin__", None) is Literal and a.__args__[0] != s[i]:
            return True
    if split is not None and Ts in m and tuple(m[Ts]) != s[split : len(s) - len(fixed) + split]:
        return True
    known = {**own, **m}
    for i, a in zip(at, fixed, strict=True):
        if isinstance(a, DimExpr) and all(x in known for x in a.symbols()) and a.value(known) != s[i]:
            return True
    waiting: list[tuple[DimExpr, tuple[object, ...], int, str]] = m.get(_hints.PENDING, [])
    return any(all(x in known for x in xs) and e.value(known) != n for e, xs, n, _ in waiting)


def _copy(m: dict[object, Any]) -> dict[object, Any]:
    out = dict(m)
    if _hints.PENDING in out:
        out[_hints.PENDING] = list(out[_hints.PENDING])
    return out


@st.composite
def fitting(draw: st.DrawFn, params: tuple[object, object, object], call: dict[object, Any]) -> object:
    """A tensor that satisfies ``Tensor[params]`` with the call's symbols ``call``, sometimes with one thing changed."""
    shape, dtype, tape = params
    dt = call[E] if dtype is E else draw(st.sampled_from([np.float32, np.float64])) if dtype in (EF, Any) else dtype
    traced = (call[T] if tape is T else tape) is tt.OwnedTape if tape is not Any else draw(st.booleans())
    dims: list[int] = []
    if shape is SH:
        dims = list(call[SH])
    elif shape is not Any:
        for a in getattr(shape, "__args__", ()):
            if a is UNPACKED:
                dims += call[Ts]
            elif isinstance(a, DimExpr):
                v = a.value(call)
                dims.append(v if v is not None else 0)
            elif getattr(a, "__origin__", None) is Literal:
                dims.append(a.__args__[0])
            else:
                dims.append(call[a] if a in call else draw(st.integers(0, 3)))
    change = draw(st.sampled_from(["none", "none", "dtype", "tape", "dim", "rank"]))
    if change == "dtype":
        dt = np.int64 if dt is not np.int64 else np.float32
    elif change == "tape":
        traced = not traced
    elif change == "dim" and dims:
        i = draw(st.integers(0, len(dims) - 1))
        dims[i] += 1
    elif change == "rank":
        dims.append(1)
    make: Any = tt.tensor
    x = make(np.zeros(tuple(dims), cast(Any, dt)), dt)
    return x.leaky_trace() if traced else x


@st.composite
def assignments(draw: st.DrawFn, memo: dict[object, Any] | None) -> dict[object, Any]:
    """The values a call's symbols take (those of the memo it starts with, others drawn)."""
    call: dict[object, Any] = {sym: draw(st.integers(0, 4)) for sym in SYMBOLS}
    call[Ts] = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    call[SH] = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    call[E] = draw(st.sampled_from([np.float32, np.int64]))
    call[T] = draw(st.sampled_from([tt.NoneTape, tt.OwnedTape]))
    return {**call, **(memo or {})}


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_check_and_explanation_agree(data: st.DataObject) -> None:
    start = data.draw(memos())
    call = data.draw(assignments(start))
    token = _hints.set_bindings(start)
    try:
        for _ in range(data.draw(st.integers(1, 4))):
            params = data.draw(hints())
            obj = data.draw(
                st.one_of(fitting(params, call), values())
                if data.draw(st.integers(0, 3)) == 0
                else fitting(params, call)
            )
            hint = cast(Any, _hints.tensor_hint(tt.Tensor, params))
            memo = start if start is not None else {}
            before = _copy(memo)
            expected = _oracle(params, obj, before)
            passed = hint._check(obj)
            assert passed == (not expected), (params, obj, before, expected)
            if type(obj) is not tt.Tensor:
                assert "pass a typedtensor.Tensor" in hint._explain(obj)
                return
            problems: list[tuple[type[CheckError], str]] = hint._problems(obj, memo)
            if passed:
                assert problems == [], (params, obj, before, problems)
                assert hint._problems(obj, before) == [], (params, obj, before)
                continue
            assert frozenset(kind for kind, _ in problems) == expected, (params, obj, before, problems)
            text = hint._explain(obj)
            assert "it does not satisfy the hint" not in text
            assert all(message in text for _, message in problems)
            return  # a failed argument ends the call
    finally:
        _hints.reset_bindings(token)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_checked_call_raises_the_error_class_of_the_problems_found(data: st.DataObject) -> None:
    """End to end, through beartype: a call fails at the first argument the oracle finds wrong, with the error
    class of its kinds of problem, and its message is that argument's explanation; a call the oracle passes runs."""
    call = data.draw(assignments(None))
    params = [data.draw(hints()) for _ in range(3)]
    args = [data.draw(fitting(p, call)) if data.draw(st.integers(0, 4)) else data.draw(values()) for p in params]

    def fn(a: object, b: object, c: object) -> None:
        del a, b, c

    fn.__annotations__ = {name: _hints.tensor_hint(tt.Tensor, p) for name, p in zip("abc", params, strict=True)}
    checked = tt.checked(fn)
    memo: dict[object, Any] = {}
    wrong: tuple[str, Kinds] | None = None
    token = _hints.set_bindings(memo)
    try:  # the oracle's verdict on each argument in turn; the hint's own check binds the call's symbols
        for name, p, obj in zip("abc", params, args, strict=True):
            kinds = _oracle(p, obj, _copy(memo))
            assert cast(Any, _hints.tensor_hint(tt.Tensor, p))._check(obj) == (not kinds)
            if kinds:
                wrong = name, kinds
                break
    finally:
        _hints.reset_bindings(token)
    if wrong is None:
        checked(*args)
        return
    name, kinds = wrong
    with pytest.raises(CheckError) as caught:
        checked(*args)
    assert type(caught.value) is CHECK_ERRORS[kinds], (params, args, str(caught.value))
    assert f"parameter {name}=" in str(caught.value)
    assert "it does not satisfy the hint" not in str(caught.value)


def test_a_shape_mismatch_under_an_any_dtype_is_a_shape_error_only() -> None:
    """``Any`` is a class in Python 3.11+: the explanation once took it for a dtype to compare with (object),
    reported "dtype is float32 but object is expected" and raised a combined shape-and-dtype error."""

    @tt.checked
    def first(x: tt.Tensor[tuple[Literal[3]], Any, Any]) -> None:
        del x

    with pytest.raises(tt.ShapeError) as caught:
        first(cast(Any, tt.zeros((4,))))
    assert not isinstance(caught.value, tt.DTypeError)
    assert "dim 0 is 4 but 3 is expected" in str(caught.value)
    assert "dtype is" not in str(caught.value)
