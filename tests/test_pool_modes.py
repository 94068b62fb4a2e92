"""Pooling ``ceil_mode``, ``count_include_pad=False`` and ``divisor_override``: PyTorch parity (golden data and
live), finite differences, every memory layout and dtype on every kernel path, NaN inputs, output sizes (and
the mypy plugin's), the layers' options (validation, repr, fixed, checkpoints).

The cases are tests/poolmodespec.py's (a grid plus the edge cases), the golden data
tests/golden/pool_modes.npz (``python -m tests.golden.make_pool_modes_golden``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.poolmodespec import NAN_CASE, POOL_CASES, PoolCase, inputs, nan_inputs, run_ours, run_torch
from tests.test_pool_paths import layouts  # C, F, channels-last, strided, negative strides
from typedtensor import NoneTape, Tensor, nn
from typedtensor._ops import pool as pool_kernel
from typedtensor.nn import functional as F

GOLDEN = np.load(Path(__file__).parent / "golden" / "pool_modes.npz")
DTYPES = [np.float16, np.float32, np.float64]
#: (rtol, atol) against PyTorch per dtype (a float16 average rounds once more than PyTorch's may).
TOLERANCE = {np.float16: (1e-3, 1e-3), np.float32: (1e-6, 1e-6), np.float64: (1e-13, 1e-13)}


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch is not installed: the golden-data tests cover these cases")


def _compare(case: PoolCase, y: Any, dx: Any, ty: Any, tdx: Any, dtype: Any) -> None:
    rtol, atol = TOLERANCE[dtype]
    assert y.shape == ty.shape, (case.name, y.shape, ty.shape)
    if case.kind == "max":
        np.testing.assert_array_equal(y, ty, err_msg=case.name)  # a maximum is one of the inputs
    else:
        np.testing.assert_allclose(y, ty, rtol=rtol, atol=atol, err_msg=case.name)
    np.testing.assert_allclose(dx, tdx, rtol=rtol, atol=atol, err_msg=case.name)


@pytest.mark.parametrize("case", POOL_CASES, ids=[c.name for c in POOL_CASES])
def test_matches_pytorch_golden(case: PoolCase) -> None:
    x, g = GOLDEN[f"{case.name}/x"], GOLDEN[f"{case.name}/g"]
    np.testing.assert_array_equal(x, inputs(case)[0])  # the spec still makes the golden inputs
    y, dx = run_ours(case, x, g)
    _compare(case, y, dx, GOLDEN[f"{case.name}/y"], GOLDEN[f"{case.name}/dx"], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=[c.name for c in POOL_CASES])
def test_matches_pytorch_live(case: PoolCase, dtype: Any) -> None:
    _torch()
    x, g = inputs(case, dtype)
    y, dx = run_ours(case, x, g)
    assert dx is not None
    assert y.dtype == dtype
    assert dx.dtype == dtype
    _compare(case, y, dx, *run_torch(case, x, g), dtype)


def test_the_grid_exercises_ceil_mode() -> None:
    """The ceil-mode cases add windows past the input (else they test nothing new), the edge cases are edges."""
    longer = [c.name for c in POOL_CASES if c.modes.get("ceil_mode") and _sizes(c, True) != _sizes(c, False)]
    assert len(longer) >= 30, longer
    drop = next(c for c in POOL_CASES if c.name == "max_drops_last_window")
    h, k, s, p = 5, 2, 2, 1
    assert drop.shape[2] == h
    assert (drop.kernel, drop.stride, drop.padding) == (k, s, p)
    assert -(-(h + 2 * p - k) // s) + 1 == 4  # ceil's count before PyTorch's rule
    assert _sizes(drop, True) == (3, 3)  # the 4th window would start in the right padding: dropped


def _sizes(case: PoolCase, ceil: bool) -> tuple[int, int]:
    k = case.kernel if isinstance(case.kernel, tuple) else (case.kernel, case.kernel)
    s = k if case.stride is None else case.stride if isinstance(case.stride, tuple) else (case.stride, case.stride)
    p = case.padding if isinstance(case.padding, tuple) else (case.padding, case.padding)
    h, w = case.shape[-2:]
    return pool_kernel.out_size(h, k[0], s[0], p[0], ceil), pool_kernel.out_size(w, k[1], s[1], p[1], ceil)


SIZE_GRID = list(itertools.product(range(1, 12), range(1, 6), range(1, 5), range(3)))


def test_output_sizes_are_pytorchs() -> None:
    """Every (size, kernel, stride, padding) PyTorch accepts, in both modes: the same output length."""
    torch = _torch()
    for size, k, s, p in SIZE_GRID:
        if 2 * p > k:
            continue
        for ceil in (False, True):
            try:
                theirs = torch.nn.functional.max_pool2d(
                    torch.zeros(1, 1, size, 1), (k, 1), (s, 1), (p, 0), ceil_mode=ceil
                )
            except RuntimeError:  # output too small: ours must refuse it too
                with pytest.raises(tt.ShapeError, match="does not fit"):
                    F.max_pool2d(tt.zeros((1, 1, size, 1)), (k, 1), (s, 1), (p, 0), ceil_mode=ceil)
                continue
            assert pool_kernel.out_size(size, k, s, p, ceil) == theirs.shape[2], (size, k, s, p, ceil)


def test_stride_one_keeps_the_size_in_ceil_mode() -> None:
    """What ``SameSize`` (kernel 3 / padding 1, stride 1 ...) declares holds in ceil mode too."""
    for size, k in itertools.product(range(1, 30), range(1, 8)):
        for p in range(k // 2 + 1):
            assert pool_kernel.out_size(size, k, 1, p, True) == pool_kernel.out_size(size, k, 1, p, False)


def test_mypy_plugin_sizes_are_the_kernels() -> None:
    """The plugin's static H and W (literal options) are the run-time ones: a wrong one is a silent wrong type."""
    from typedtensor._mypy import layers  # (imports mypy: only this test needs it)

    for size, k, s, p in SIZE_GRID:
        for ceil in (False, True):
            assert layers.out_len(size, k, s, p, 1, ceil) == pool_kernel.out_size(size, k, s, p, ceil), (size, k, s, p)


# ---- finite differences --------------------------------------------------------------------------


FD_CASES = [c for i, c in enumerate(POOL_CASES) if i % 4 == 0 or c.name.startswith(("max_drops", "avg_drops", "avg_k"))]


@pytest.mark.parametrize("case", FD_CASES, ids=[c.name for c in FD_CASES])
def test_gradient_matches_finite_differences(case: PoolCase) -> None:
    """<dx, v> against the central difference of sum(out * g) along random directions v (float64)."""
    x, g = inputs(case)
    _, dx = run_ours(case, x, g)
    assert dx is not None
    rng = np.random.default_rng(3)
    eps = 1e-6  # the inputs are 1/8 apart: a max keeps its argmax
    for _ in range(3):
        v = rng.standard_normal(x.shape)
        plus, _ = run_ours(case, x + eps * v, None)
        minus, _ = run_ours(case, x - eps * v, None)
        numeric = float(((plus - minus) * g).sum()) / (2 * eps)
        assert abs(numeric - float((dx * v).sum())) < 1e-6 * (1 + abs(numeric)), case.name


# ---- memory layouts, dtypes and kernel paths -----------------------------------------------------


#: Every kernel path in ceil mode: max pool's backward with the planes transposed (narrow outputs), in
#: NCHW, tiled (stride = kernel, no padding: the ceil window past the input must leave the tiled path), and
#: avg pool with a per-window divisor (count_include_pad both ways) and an override.
PATH_CASES = {
    "max_planes_last": (PoolCase("p", "max", (2, 3, 7, 6), 3, 2, 1, {"ceil_mode": True}), 1 << 30),
    "max_nchw": (PoolCase("n", "max", (2, 3, 7, 6), 3, 2, 1, {"ceil_mode": True}), -1),
    "max_tiled_overhang": (PoolCase("t", "max", (2, 3, 7, 5), 2, None, 0, {"ceil_mode": True}), -1),
    "max_tiled_exact": (PoolCase("e", "max", (2, 3, 8, 6), 2, None, 0, {"ceil_mode": True}), -1),
    "avg_incl": (PoolCase("a", "avg", (2, 3, 7, 6), 3, 2, 1, {"ceil_mode": True}), -1),
    "avg_excl": (PoolCase("b", "avg", (2, 3, 7, 6), 3, 2, 1, {"ceil_mode": True, "count_include_pad": False}), -1),
    "avg_override": (PoolCase("d", "avg", (2, 3, 7, 6), 3, 2, 1, {"ceil_mode": True, "divisor_override": 4}), -1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", list(PATH_CASES))
def test_every_layout_and_dtype_on_every_path(path: str, dtype: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each path's result in every layout of x and g is the C layout's, bit for bit, and the C one is PyTorch's
    (golden float64 results for the default path cover the rest of the grid)."""
    case, planes_last = PATH_CASES[path]
    monkeypatch.setattr(pool_kernel, "_PLANES_LAST", planes_last)
    x, g = inputs(case, dtype)
    y, dx = run_ours(case, x, g)
    assert dx is not None
    for (xname, xl), (gname, gl) in itertools.product(layouts(x).items(), layouts(g).items()):
        yl, dxl = run_ours(case, xl, gl)
        np.testing.assert_array_equal(yl, y, err_msg=f"{path}: x {xname}, g {gname}")
        np.testing.assert_array_equal(dxl, dx, err_msg=f"{path}: x {xname}, g {gname}")
    with contextlib.suppress(pytest.skip.Exception):
        _torch()
        _compare(case, y, dx, *run_torch(case, x, g), dtype)


def test_tiled_backward_is_used_when_the_ceil_windows_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ceil mode keeps the tiled fast path where no window runs past the input, and leaves it where one does."""
    calls: list[bool] = []
    tiled = pool_kernel._tiled_backward

    def spy(*args: Any) -> bool:
        calls.append(True)
        return tiled(*args)

    monkeypatch.setattr(pool_kernel, "_tiled_backward", spy)
    monkeypatch.setattr(pool_kernel, "_PLANES_LAST", -1)
    for case_name, used in (("max_tiled_exact", True), ("max_tiled_overhang", False)):
        calls.clear()
        case, _ = PATH_CASES[case_name]
        run_ours(case, *inputs(case))
        assert bool(calls) == used, case_name


# ---- NaN -----------------------------------------------------------------------------------------


def test_nan_max_pool_ceil_golden() -> None:
    x, g = nan_inputs()
    np.testing.assert_array_equal(x, GOLDEN[f"{NAN_CASE.name}/x"])
    y, dx = run_ours(NAN_CASE, x, g)
    np.testing.assert_array_equal(y, GOLDEN[f"{NAN_CASE.name}/y"])  # NaN where PyTorch has NaN
    np.testing.assert_array_equal(dx, GOLDEN[f"{NAN_CASE.name}/dx"])
    assert np.isnan(y[0, 0, -1, -1])  # only the ceil windows hold x[0, 0, 6, 5]
    assert np.isnan(y[1, 1, -1]).all()


@pytest.mark.parametrize("planes", ["many", "one"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("planes_last", [True, False], ids=["planes_last", "nchw"])
def test_nan_max_pool_ceil_live(dtype: Any, planes_last: bool, planes: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On many planes and on one (the work arrays of the planes-last backward are then (H, W, 1))."""
    _torch()
    monkeypatch.setattr(pool_kernel, "_PLANES_LAST", 1 << 30 if planes_last else -1)
    x, g = nan_inputs(dtype)
    case = NAN_CASE
    if planes == "one":
        x, g = x[1:, 1:].copy(), g[1:, 1:].copy()  # the plane with a NaN last row
        case = PoolCase("one", "max", x.shape, NAN_CASE.kernel, NAN_CASE.stride, NAN_CASE.padding, NAN_CASE.modes)
    ty, tdx = run_torch(case, x, g)
    for xl in layouts(x).values():
        y, dx = run_ours(case, xl, g)
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_array_equal(dx, tdx)


# ---- layers ----------------------------------------------------------------------------------------


#: name -> (our layer, PyTorch's class name and the same arguments).
LAYERS: dict[str, tuple[Any, str, tuple[Any, ...], dict[str, Any]]] = {
    "max": (nn.MaxPool2D(3, 2, 1, ceil_mode=True), "MaxPool2d", (3, 2, 1), {"ceil_mode": True}),
    "avg_excl": (
        nn.AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False),
        "AvgPool2d",
        (3, 2, 1),
        {"ceil_mode": True, "count_include_pad": False},
    ),
    "avg_override": (
        nn.AvgPool2D((2, 3), (2, 2), 1, ceil_mode=True, divisor_override=5),
        "AvgPool2d",
        ((2, 3), (2, 2), 1),
        {"ceil_mode": True, "divisor_override": 5},
    ),
}


@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 6, 7)], ids=["rank4", "rank3"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_match_pytorch(name: str, shape: tuple[int, ...]) -> None:
    torch = _torch()
    module, cls, args, kwargs = LAYERS[name]
    reference = getattr(torch.nn, cls)(*args, **kwargs)
    x = np.random.default_rng(4).standard_normal(shape)
    xt = tt.tensor(x).leaky_trace()
    out: Any = module.forward_mut(xt)
    out_shape: tuple[int, ...] = out.shape
    g = np.random.default_rng(5).standard_normal(out_shape)
    dx = (out * tt.tensor(g)).sum().backward().get(xt).numpy()
    tx = torch.tensor(x, requires_grad=True)
    ty = reference(tx)
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(module.forward(tt.tensor(x)).numpy(), out.numpy())  # forward = forward_mut
    np.testing.assert_array_equal(module(tt.tensor(x)).numpy(), out.numpy())  # model(x)


def test_extra_repr_names_the_options_that_differ() -> None:
    assert repr(nn.MaxPool2D(2)) == "MaxPool2D(kernel_size=2, stride=2, padding=0)"
    assert (
        repr(nn.MaxPool2D(3, 2, 1, ceil_mode=True)) == "MaxPool2D(kernel_size=3, stride=2, padding=1, ceil_mode=True)"
    )
    assert repr(nn.AvgPool2D(2, count_include_pad=False)) == (
        "AvgPool2D(kernel_size=2, stride=2, padding=0, count_include_pad=False)"
    )
    assert nn.AvgPool2D(2, ceil_mode=True, divisor_override=3).extra_repr() == (
        "kernel_size=2, stride=2, padding=0, ceil_mode=True, divisor_override=3"
    )


@contextlib.contextmanager
def _raises(kind: type[Exception], *fragments: str) -> Generator[None]:
    with pytest.raises(kind) as info:
        yield
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_bad_flags_are_refused(bad: Any) -> None:
    x = tt.zeros((1, 1, 4, 4))
    with _raises(tt.TypedTensorError, "MaxPool2D: ceil_mode must be True or False", repr(bad)):
        nn.MaxPool2D(2, ceil_mode=bad)
    with _raises(tt.TypedTensorError, "AvgPool2D: count_include_pad must be True or False", repr(bad)):
        nn.AvgPool2D(2, count_include_pad=bad)
    for enabled in (True, False):  # the functions: a DTypeError whatever the checks switch says
        with tt.checks(enabled), _raises(tt.DTypeError, "ceil_mode"):
            F.max_pool2d(x, 2, ceil_mode=bad)
        with tt.checks(enabled), _raises(tt.DTypeError, "count_include_pad"):
            F.avg_pool2d(x, 2, count_include_pad=bad)


def test_numpy_bools_are_flags_in_every_pool() -> None:
    """The layers take NumPy's bools as every other layer flag of the library does (AvgPool2D's
    count_include_pad refused np.True_ where MaxPool2D's ceil_mode took it)."""
    x = tt.tensor(np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5))
    avg: Any = nn.AvgPool2D  # NumPy bools: accepted at run time, as the other flags, not typed as bool
    mx: Any = nn.MaxPool2D
    for flag in (np.True_, np.False_):
        want = nn.AvgPool2D(2, 2, 1, ceil_mode=bool(flag), count_include_pad=bool(flag)).forward(x)
        got = avg(2, 2, 1, ceil_mode=flag, count_include_pad=flag).forward(x)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert mx(2, ceil_mode=flag).ceil_mode is bool(flag)


def test_bad_divisors_are_refused() -> None:
    x = tt.zeros((1, 1, 4, 4))
    for bad in (0, -2):
        with _raises(tt.TypedTensorError, "AvgPool2D: divisor_override must be a positive int or None", "or None"):
            nn.AvgPool2D(2, divisor_override=bad)
        for enabled in (True, False):
            with (
                tt.checks(enabled),
                _raises(tt.TypedTensorError, "avg_pool2d: divisor_override must be a positive int"),
            ):
                F.avg_pool2d(x, 2, divisor_override=bad)
    wrong: list[Any] = [2.0, True, "2"]
    for bad_type in wrong:
        with _raises(tt.TypedTensorError, "AvgPool2D: divisor_override must be a positive int or None"):
            nn.AvgPool2D(2, divisor_override=bad_type)
        for enabled in (True, False):
            with tt.checks(enabled), _raises(tt.DTypeError, "divisor_override"):
                F.avg_pool2d(x, 2, divisor_override=bad_type)
    numpy_int: Any = np.int64(3)
    assert nn.AvgPool2D(2, divisor_override=numpy_int).divisor_override == 3  # NumPy ints are ints
    assert type(nn.AvgPool2D(2, divisor_override=numpy_int).divisor_override) is int


def test_options_are_fixed_once_built() -> None:
    pool = nn.AvgPool2D(2, ceil_mode=True, count_include_pad=False)
    for name, value in (("ceil_mode", False), ("count_include_pad", True), ("divisor_override", 2), ("kernel_size", 3)):
        with _raises(
            tt.TypedTensorError, f"AvgPool2D.{name} is fixed when the module is built", "build a new AvgPool2D"
        ):
            setattr(pool, name, value)
    assert pool.ceil_mode
    assert not pool.count_include_pad


class _Net(nn.Module):
    def __init__(self, ceil_mode: bool = True, count_include_pad: bool = False, divisor: int | None = 3) -> None:
        self.conv = nn.Conv2D(2, 3, 3, dtype=np.float64, seed=0)
        self.max = nn.MaxPool2D(2, ceil_mode=ceil_mode)
        self.avg = nn.AvgPool2D(
            3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor
        )

    def forward(self, x: Tensor[tuple[int, int, int, int], np.float64, NoneTape]) -> Tensor[Any, np.float64, NoneTape]:
        return self.avg.forward(self.max.forward(self.conv.forward(x)))


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_checkpoint_round_trip_keeps_and_checks_the_options(fmt: str, tmp_path: Path) -> None:
    if fmt == "safetensors":
        pytest.importorskip("safetensors")
    net, path = _Net(), tmp_path / f"net.{fmt}"
    getattr(net, f"save_{fmt}")(path)
    again = _Net()
    zero: Any = tt.zeros((3, 2, 3, 3), np.float64)
    again.conv.weight = zero  # the load must bring the weights back
    getattr(again, f"load_{fmt}")(path)
    x = tt.tensor(np.random.default_rng(0).standard_normal((1, 2, 10, 9)))
    np.testing.assert_array_equal(again.forward(x).numpy(), net.forward(x).numpy())
    for changed, message in (
        (_Net(ceil_mode=False), "'avg.ceil_mode' is True in the file but False"),
        (_Net(count_include_pad=True), "'avg.count_include_pad' is False in the file but True"),
        (_Net(divisor=None), "'avg.divisor_override' is 3 in the file but None"),
    ):
        with _raises(tt.CheckpointError, message, "to load this file"):
            getattr(changed, f"load_{fmt}")(path)
