"""Edge cases: NumPy interplay, odd inputs, checks off, generic code; each must give the right value
or a TypedTensorError that says what to do (never a raw NumPy error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, TypeVarTuple
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor
from typedtensor.nn import Module

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
D = TypeVar("D", bound=int)
Ts = TypeVarTuple("Ts")
F32 = np.float32


def test_numpy_operands_defer_to_tensor_and_keep_the_tape() -> None:
    at = tt.zeros((2, 3)).leaky_trace()
    y = np.float64(2.0) * at
    assert isinstance(y, Tensor)
    assert y.traced
    assert y.dtype == np.float32
    with pytest.raises(TypeError):
        _ = np.ones((2, 3)) + at  # NumPy arrays must be wrapped with tt.tensor


def test_checked_nested_function_with_local_names() -> None:
    q = TypeVar("q", bound=int)

    @tt.checked
    def f(x: Tensor[tuple[q, L[3]], F32, NoneTape], y: Tensor[tuple[q], F32, NoneTape]) -> None:
        pass

    f(tt.zeros((2, 3)), tt.zeros((2,)))
    with pytest.raises(tt.CheckError, match="q is bound to 2"):
        f(tt.zeros((2, 3)), tt.zeros((3,)))


def test_iteration_and_len() -> None:
    a = tt.tensor(np.arange(6.0).reshape(2, 3))
    rows = list(a)
    assert len(a) == 2
    assert [r.shape for r in rows] == [(3,), (3,)]
    at = a.leaky_trace()
    first, second = list(at)
    g = (first * 2.0 + second).sum().backward().get(a).numpy()
    np.testing.assert_array_equal(g, [[2, 2, 2], [1, 1, 1]])
    with pytest.raises(tt.ShapeError, match="rank-0"):
        len(tt.zeros(()))


def test_clamp_bounds_keep_the_dtype() -> None:
    y = tt.zeros((2,)).clamp(np.float64(0.5))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), [0.5, 0.5])
    any_t: Any = tt.zeros((2,))
    with tt.checks(False), pytest.raises(tt.TypedTensorError, match="expected a Python number"):
        any_t.clamp("a")


def test_float16_reductions_accumulate_in_float32() -> None:
    h = tt.full((1000,), 100.0, np.float16)
    assert float(h.mean().item()) == 100.0
    assert h.sum().dtype == np.float16
    assert np.isinf(h.sum().item())  # 1e5 overflows float16, as in PyTorch


def test_mean_of_nothing_is_nan_without_warnings() -> None:
    assert np.isnan(tt.zeros((0, 3)).mean().item())
    np.testing.assert_array_equal(np.isnan(tt.zeros((0, 3)).mean(0).numpy()), [True, True, True])
    assert tt.zeros((2, 0)).mean(1, keepdims=True).shape == (2, 1)


def test_bool_masks_refuse_arithmetic_and_tracing() -> None:
    m: Any = tt.zeros((2,)) > 0.0
    ops: list[Any] = [lambda: m.exp(), lambda: -m, lambda: m.sum(), lambda: m + m]
    for op in ops:
        with pytest.raises(tt.DTypeError, match="bool mask"):
            op()
    with pytest.raises(tt.TypedTensorError, match="only float and integer tensors can be traced"), tt.checks(False):
        m.leaky_trace()


def test_tensor_dtype_matches_the_static_type() -> None:
    assert tt.tensor(np.arange(3)).dtype == np.float32  # integer arrays: float32 (static type too)
    assert tt.tensor(np.float64(1.0)).dtype == np.float32  # a NumPy scalar is data, not an array
    with pytest.raises(tt.DTypeError, match="numeric"):
        tt.tensor(np.array([1 + 2j]))
    with pytest.raises(tt.ShapeError, match="rectangular"):
        tt.tensor([[1.0, 2.0], [3.0]])


def test_bad_input_gives_typedtensor_errors() -> None:
    a: Any = tt.zeros((2, 3))
    any_tt: Any = tt
    cases: list[tuple[Any, str]] = [
        (lambda: tt.zeros((2, 0)).softmax(), "empty axis"),
        (lambda: tt.randn((2,), seed=-1), "seed must be a non-negative int"),
        (lambda: tt.zeros((10**12, 10**12)), "more than this library allocates"),
        (lambda: a.reshape((2.0, 3)), "cannot view shape"),
        (lambda: a.broadcast_to(("a", 3)), "cannot broadcast"),
        (lambda: any_tt.concat([a, np.zeros((2, 3))]), "ndarray"),
        (lambda: tt.Gradients().alloc(np.zeros(3)), "needs a typedtensor Tensor"),  # type: ignore[arg-type]
        (lambda: a.leaky_trace().leaky_trace(), "tape is OwnedTape but NoneTape is expected"),
        (lambda: a.trace("grads"), "parameter grads="),
    ]
    for fn, fragment in cases:
        with pytest.raises(tt.TypedTensorError) as info:
            fn()
        assert fragment in str(info.value)


def test_checks_off_still_refuses_mismatches() -> None:
    a: Any = tt.zeros((2, 3))
    with tt.checks(False):
        with pytest.raises(tt.DTypeError, match="dtypes float32 and float64 differ"):
            _ = a @ tt.zeros((3, 2), np.float64)
        with pytest.raises(tt.ShapeError, match=r"mask shape \(4, 2, 3\) differs"):
            tt.where(tt.zeros((4, 2, 3)) > -1.0, a.leaky_trace(), 0.0)
        with pytest.raises(tt.DTypeError, match="must be a bool tensor"):
            a.masked_fill(a, 0.0)
        with pytest.raises(tt.TapeError, match="already traced"):
            a.leaky_trace().leaky_trace()
        with pytest.raises(tt.TapeError, match="needs a Gradients"):
            a.trace("grads")


def test_typevar_bounds_and_constraints_are_checked() -> None:
    ec = TypeVar("ec", np.float32, np.float64)
    ef = TypeVar("ef", bound=np.floating[Any])
    to = TypeVar("to", bound=OwnedTape)

    @tt.checked
    def f(x: Tensor[tuple[int], ec, Any]) -> None:
        pass

    @tt.checked
    def g(x: Tensor[tuple[int], ef, Any]) -> None:
        pass

    @tt.checked
    def h(x: Tensor[tuple[int], F32, to]) -> None:
        pass

    ok: list[Tensor[tuple[int], Any, Any]] = [tt.zeros((2,), np.float64), tt.zeros((2,), np.float16)]
    f(ok[0])
    g(ok[1])
    one: Tensor[tuple[int], F32, NoneTape] = tt.zeros((2,))
    h(one.leaky_trace())
    bad_f: Any = f
    bad_g: Any = g
    bad_h: Any = h
    with pytest.raises(tt.CheckError, match="dtype is float16 but ec admits only float32, float64"):
        bad_f(tt.zeros((2,), np.float16))
    with pytest.raises(tt.CheckError, match="dtype is bool but ef admits only floating"):
        bad_g(tt.zeros((2,)) > 0.0)
    with pytest.raises(tt.CheckError, match="tape is NoneTape but to admits only the other tape"):
        bad_h(tt.zeros((2,)))


class Id(Module, Generic[C]):
    dim_attrs: ClassVar[Mapping[str, str]] = {"C": "channels"}

    def __init__(self, channels: C) -> None:
        self.channels = channels

    def forward(self, x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:
        return x


class Id3(Id[L[3]]):
    pass


class Renamed(Id[D]):
    def forward2(self, x: Tensor[tuple[B, D], F32, NoneTape]) -> Tensor[tuple[B, D], F32, NoneTape]:
        return x


def test_module_dims_follow_subclassing() -> None:
    bad: Any = tt.zeros((2, 4))
    with pytest.raises(tt.CheckError, match="C is bound to 3"):
        Id3(3).forward(bad)
    with pytest.raises(tt.CheckError, match="D is bound to 3"):
        Renamed(3).forward2(bad)
    with pytest.raises(tt.CheckError, match="Id3 fixes C = 3 but this instance was built with 4"):
        Id3(4).forward(bad)  # type: ignore[arg-type]


def test_module_dim_attrs_must_name_an_attribute() -> None:
    class Broken(Module, Generic[C]):
        dim_attrs: ClassVar[Mapping[str, str]] = {"C": "width"}

        def forward(self, x: Tensor[tuple[C], F32, NoneTape]) -> None:
            pass

    make: Any = Broken
    broken = make()
    with pytest.raises(tt.TypedTensorError, match="names 'width', which the instance lacks"):
        broken.forward(tt.zeros((2,)))


def test_hint_forms() -> None:
    hint: Any = tt.Tensor
    lead_two = hint[tuple[L[2], *tuple[int, ...]], F32, Any]
    assert isinstance(tt.zeros((2, 3, 4)), lead_two)
    assert not isinstance(tt.zeros((3, 3)), lead_two)
    for bad, fragment in [
        (tuple[L[2], ...], "tuple[X, ...] is supported for X = int or Any"),
        (tuple[L[2, 3]], "one non-negative int"),
        (int, "S must be a tuple[...] of dims, a TypeVar or Any"),
    ]:
        with pytest.raises(tt.TypedTensorError, match="Tensor\\[S, E, T\\]") as info:
            hint[bad, F32, Any]
        assert fragment in str(info.value)

    @tt.checked
    def f(x: Tensor[tuple[*Ts, L[3]], F32, Any], y: Tensor[tuple[*Ts], F32, Any]) -> None:
        pass

    f(tt.zeros((2, 5, 3)), tt.zeros((2, 5)))
    with pytest.raises(tt.CheckError, match=r"dims 0..1 \(Ts\) are \(2, 4\) but Ts is bound to \(2, 5\)"):
        f(tt.zeros((2, 5, 3)), tt.zeros((2, 4)))


def residual(
    x: Tensor[tuple[B, L[3]], F32, Any], w: Tensor[tuple[L[3], L[3]], F32, NoneTape]
) -> Tensor[tuple[B, L[3]], F32, Any]:
    return x + (x @ w).relu()


def test_tape_generic_code_runs_both_ways() -> None:
    x: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.randn((4, 3), seed=0)
    w: Tensor[tuple[L[3], L[3]], F32, NoneTape] = tt.randn((3, 3), seed=1)
    assert not residual(x, w).traced
    assert residual(x.leaky_trace(), w).traced
