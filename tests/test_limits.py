"""Allocation limits and out-of-range scalars: TypedTensorErrors, never MemoryError or OverflowError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import _create, nn

HUGE = 10**400  # a Python int beyond float64's range

# ---- allocation: refused before allocating, over the stated limit (issue 10, point 15) ------------

TOO_BIG: list[tuple[str, Callable[[], object]]] = [
    ("tensor of a broadcast view", lambda: tt.tensor(np.broadcast_to(0, (10**6, 10**6)))),
    ("tensor to int", lambda: tt.tensor(np.broadcast_to(np.int8(1), (10**6, 10**6)), np.int64)),
    ("randn", lambda: tt.randn((10**12,))),
    ("zeros", lambda: tt.zeros((10**6, 10**6))),
    ("ones", lambda: tt.ones((10**6, 10**6), np.float64)),
    ("full", lambda: tt.full((10**6, 10**6), 2.0)),
    ("full with more elements than 2**40", lambda: tt.full((2**41,), 2.0)),
    ("Linear", lambda: nn.Linear(10**7, 10**7)),
    ("Linear without bias", lambda: nn.Linear(10**7, 10**7, bias=False)),
    ("Conv2D", lambda: nn.Conv2D(10**5, 10**5, 99)),
    ("BatchNorm2D", lambda: nn.BatchNorm2D(10**13)),
    ("BatchNorm1D without affine", lambda: nn.BatchNorm1D(10**13, affine=False)),
]


@pytest.mark.parametrize(("name", "make"), TOO_BIG, ids=[n for n, _ in TOO_BIG])
def test_requests_over_the_limit_are_refused_before_allocating(name: str, make: Callable[[], object]) -> None:
    with pytest.raises(tt.ShapeError, match="more than this library allocates"):
        make()


def test_the_byte_limit_is_the_machines_memory() -> None:
    assert _create._MAX_ELEMENTS == 2**40
    assert 2**20 < _create._MAX_BYTES <= 2**62


@pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])
def test_the_byte_limit_counts_the_dtype_and_randns_float64_draw(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(_create, "_MAX_BYTES", 8000)
    with tt.checks(on):
        assert tt.zeros((1000,), np.float64).shape == (1000,)  # 8000 bytes: at the limit
        assert tt.zeros((2000,), np.float32).shape == (2000,)
        with pytest.raises(tt.ShapeError, match=r"8008 bytes.*\(8000, the machine's physical memory\)"):
            tt.zeros((1001,), np.float64)
        with pytest.raises(tt.ShapeError, match="more than this library allocates"):
            tt.tensor(np.zeros(2001, np.float32))
        assert tt.tensor(np.zeros(1000, np.int8), np.int64).shape == (1000,)
        with pytest.raises(tt.ShapeError, match="more than this library allocates"):
            tt.tensor(np.zeros(1001, np.int8), np.int64)  # the target dtype counts, not the source
        assert tt.randn((500,)).shape == (500,)  # drawn in float64 (4000) then cast (2000): 6000 bytes
        with pytest.raises(tt.ShapeError, match="more than this library allocates"):
            tt.randn((700,))
        assert nn.Linear(40, 20, dtype=np.float64).weight.shape == (20, 40)
        with pytest.raises(tt.ShapeError, match="Linear: shape"):
            nn.Linear(50, 21, dtype=np.float64)
        with pytest.raises(tt.ShapeError, match="Conv2D: shape"):
            nn.Conv2D(10, 10, 5, dtype=np.float64)


def _no_memory(*args: Any, **kwargs: Any) -> Any:
    raise MemoryError("simulated")


ALLOCATIONS: list[tuple[str, Any, str, Callable[[], object]]] = [
    ("zeros", np, "full", lambda: tt.zeros((3,))),
    ("full", np, "full", lambda: tt.full((3,), 1.0)),
    ("Linear", np, "full", lambda: nn.Linear(3, 3)),
    ("Conv2D", np, "full", lambda: nn.Conv2D(3, 3, 3)),
    ("BatchNorm2D", np, "full", lambda: nn.BatchNorm2D(3)),
    ("tensor", _create, "converted", lambda: tt.tensor(np.zeros(3))),
    ("tensor to int", _create, "converted", lambda: tt.tensor(np.zeros(3), np.int64)),
    ("tensor of a list", np, "asarray", lambda: tt.tensor([1.0, 2.0])),
]


@pytest.mark.parametrize(("name", "owner", "target", "make"), ALLOCATIONS, ids=[a[0] for a in ALLOCATIONS])
def test_a_failed_allocation_is_a_typedtensor_error(
    monkeypatch: pytest.MonkeyPatch, name: str, owner: Any, target: str, make: Callable[[], object]
) -> None:
    monkeypatch.setattr(owner, target, _no_memory)  # as an allocation under the limits that fails
    with pytest.raises(tt.TypedTensorError, match=f"{name.split()[0]}: not enough memory") as info:
        make()
    assert not isinstance(info.value, MemoryError)


class _NoMemoryGenerator(np.random.Generator):
    def standard_normal(self, *args: Any, **kwargs: Any) -> Any:
        raise MemoryError("simulated")


def test_a_failed_random_draw_is_a_typedtensor_error() -> None:
    with pytest.raises(tt.TypedTensorError, match="randn: not enough memory"):
        tt.randn((3,), seed=_NoMemoryGenerator(np.random.PCG64(0)))


# ---- scalars beyond the range of float64 or of the tensor's dtype ------------------------------


@pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])
def test_python_ints_beyond_float64_are_dtype_errors(on: bool) -> None:
    x: Any = tt.tensor(np.array([1.0, 2.0]))
    ops: list[Callable[[], object]] = [
        lambda: x * HUGE,
        lambda: HUGE * x,
        lambda: x + HUGE,
        lambda: HUGE - x,
        lambda: x / HUGE,
        lambda: HUGE / x,
        lambda: x > HUGE,
        lambda: x == -HUGE,
        lambda: x.clamp(HUGE),
        lambda: x.clamp(None, -HUGE),
        lambda: x.masked_fill(x > 0.0, HUGE),
        lambda: tt.full((2,), HUGE),
        lambda: tt.full((2,), -HUGE, np.float64),
        lambda: tt.where(x > 0.0, x, HUGE),
    ]
    with tt.checks(on):
        for op in ops:
            with pytest.raises(tt.DTypeError, match="1329 bits, beyond the float64 range"):
                op()


@pytest.mark.parametrize("on", [True, False], ids=["checks-on", "checks-off"])
def test_scalars_that_overflow_the_tensors_dtype_are_dtype_errors(on: bool) -> None:
    # NumPy would turn 1e5 into float16 inf first: 1e-4 * 1e5 would silently be inf, not 10
    h: Any = tt.tensor(np.array([1e-4, 2.0], np.float16))
    f: Any = tt.tensor(np.array([1.0, 2.0], np.float32))
    where: Any = tt.where
    ops: list[tuple[Callable[[], object], str]] = [
        (lambda: h * 1e5, "float16"),
        (lambda: 1e5 * h, "float16"),
        (lambda: h - 70000, "float16"),
        (lambda: 70000.0 - h, "float16"),
        (lambda: h / 1e5, "float16"),
        (lambda: 1e5 / h, "float16"),
        (lambda: h < 1e5, "float16"),
        (lambda: h.clamp(-1e5, 0.0), "float16"),
        (lambda: h.masked_fill(h > 0.0, 65520.0), "float16"),
        (lambda: f * 1e300, "float32"),
        (lambda: f.clamp(None, 1e39), "float32"),
        (lambda: tt.full((2,), 1e300), "float32"),
        (lambda: tt.full((2,), 1e5, np.float16), "float16"),
        (lambda: where(h > 0.0, h, 1e5), "float16"),
        (lambda: where(h > 0.0, -1e5, h), "float16"),
    ]
    with tt.checks(on):
        for op, name in ops:
            with pytest.raises(tt.DTypeError, match=f"too large for {name}"):
                op()


def test_scalars_the_dtype_holds_and_infinities_are_accepted() -> None:
    h = tt.tensor(np.array([1.0, -2.0], np.float16))
    np.testing.assert_array_equal((h * 0.5 * 65504.0).numpy(), [32752.0, -65504.0])
    np.testing.assert_array_equal((h * 0.5 * 65519).numpy(), [32752.0, -65504.0])  # 65519 rounds to 65504
    np.testing.assert_array_equal(h.masked_fill(h > 0.0, -np.inf).numpy(), [-np.inf, -2.0])
    np.testing.assert_array_equal(h.clamp(-np.inf, np.inf).numpy(), [1.0, -2.0])
    np.testing.assert_array_equal(tt.full((1,), np.nan, np.float16).numpy(), [np.nan])
    np.testing.assert_array_equal((tt.zeros((2,), np.float64) + 1e300).numpy(), [1e300, 1e300])
    np.testing.assert_array_equal((tt.zeros((1,)) + 2**127).numpy(), [2.0**127])


def test_initialisation_draws_in_chunks_the_values_of_one_draw() -> None:
    """uniform_fan_in keeps its float64 temporary bounded and draws exactly what one draw would."""
    from typedtensor.nn import _init

    for shape in [(3, 5), (2, 3, 3, 3), (0, 4)]:
        out = np.empty(shape, np.float32)
        _init.uniform_fan_in(np.random.default_rng(7), out, 9)
        want = np.random.default_rng(7).uniform(-1 / 3, 1 / 3, shape).astype(np.float32)
        np.testing.assert_array_equal(out, want)
    saved = _init._CHUNK
    try:
        _init._CHUNK = 4  # several chunks, an uneven last one
        out = np.empty((3, 7), np.float64)
        _init.uniform_fan_in(np.random.default_rng(1), out, 4)
        np.testing.assert_array_equal(out, np.random.default_rng(1).uniform(-0.5, 0.5, (3, 7)))
        strided = np.empty((3, 14))[:, ::2]
        _init.uniform_fan_in(np.random.default_rng(1), strided, 4)
        np.testing.assert_array_equal(strided, np.random.default_rng(1).uniform(-0.5, 0.5, (3, 7)))
    finally:
        _init._CHUNK = saved
