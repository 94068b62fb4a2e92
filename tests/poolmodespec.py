"""Pooling ``ceil_mode`` / ``count_include_pad`` / ``divisor_override`` cases, shared by tests/test_pool_modes.py
and their golden-data script tests/golden/make_pool_modes_golden.py.

A grid of (kind, kernel, stride, padding, H/W odd and even, ceil_mode, count_include_pad) plus the edge cases:
PyTorch dropping a last window that would start in the right padding, a ceil-mode window longer than the
input, a last window cut by ``min(start + k, H + pad)``, and ``divisor_override``. Each case runs the
functional pool on an input of distinct values (no ties: the maximum and the finite differences are
well defined) and takes the gradient of ``sum(out * g)``.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor.nn import functional as F

Array = NDArray[Any]
Size = int | tuple[int, int]


@dataclass(frozen=True)
class PoolCase:
    name: str
    kind: str  # "max" or "avg"
    shape: tuple[int, ...]
    kernel: Size
    stride: Size | None = None
    padding: Size = 0
    modes: dict[str, Any] = field(default_factory=dict[str, Any])  # ceil_mode, count_include_pad, divisor_override


def _grid() -> list[PoolCase]:
    cases: list[PoolCase] = []
    shapes = [(1, 2, 7, 6), (2, 1, 6, 7)]  # H odd / W even and the other way round
    kernels: list[Size] = [2, 3, (3, 2)]
    strides: list[Size | None] = [None, 2, (2, 3)]
    settings = itertools.product(kernels, strides, [0, 1], [False, True])
    for i, (kernel, stride, padding, ceil) in enumerate(settings):
        shape = shapes[i % 2]
        base = f"k{kernel}_s{stride}_p{padding}_{'ceil' if ceil else 'floor'}_{shape[2]}x{shape[3]}".replace(" ", "")
        cases.append(PoolCase(f"max_{base}", "max", shape, kernel, stride, padding, {"ceil_mode": ceil}))
        for include in (True, False):
            modes = {"ceil_mode": ceil, "count_include_pad": include}
            cases.append(
                PoolCase(f"avg_{base}_{'incl' if include else 'excl'}", "avg", shape, kernel, stride, padding, modes)
            )
    return cases


#: The edge cases (each named for what it pins).
EDGES: list[PoolCase] = [
    # H = 5, k = 2, s = 2, p = 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but the 4th window would start at 5 = H + p - 1 + 1,
    # in the right padding only: PyTorch drops it (3 windows, as floor mode)
    PoolCase("max_drops_last_window", "max", (1, 2, 5, 5), 2, 2, 1, {"ceil_mode": True}),
    PoolCase("avg_drops_last_window", "avg", (1, 2, 5, 5), 2, 2, 1, {"ceil_mode": True}),
    PoolCase(
        "avg_drops_last_window_excl", "avg", (1, 2, 5, 5), 2, 2, 1, {"ceil_mode": True, "count_include_pad": False}
    ),
    # a window longer than the input (PyTorch allows it in ceil mode): one output
    PoolCase("max_kernel_over_input", "max", (1, 2, 3, 4), 5, None, 0, {"ceil_mode": True}),
    PoolCase("avg_kernel_over_input", "avg", (1, 2, 3, 4), 5, None, 0, {"ceil_mode": True}),
    PoolCase("avg_kernel_over_input_padded", "avg", (1, 2, 3, 4), 5, 4, 2, {"ceil_mode": True}),
    # stride larger than the kernel: windows skip input, the ceil window holds the last rows only
    PoolCase("max_gaps", "max", (1, 1, 8, 9), 2, 3, 0, {"ceil_mode": True}),
    PoolCase("avg_gaps_excl", "avg", (1, 1, 8, 9), 2, 3, 1, {"ceil_mode": True, "count_include_pad": False}),
    # divisor_override, with and without ceil mode and padding
    PoolCase("avg_divisor", "avg", (2, 2, 6, 6), 2, None, 0, {"divisor_override": 3}),
    PoolCase("avg_divisor_ceil", "avg", (1, 2, 7, 6), 3, 2, 1, {"ceil_mode": True, "divisor_override": 5}),
    PoolCase(
        "avg_divisor_excl",
        "avg",
        (1, 2, 7, 5),
        3,
        2,
        1,
        {"ceil_mode": True, "count_include_pad": False, "divisor_override": 2},
    ),
    # unbatched (C, H, W)
    PoolCase("max_unbatched", "max", (3, 7, 6), 3, 2, 1, {"ceil_mode": True}),
    PoolCase("avg_unbatched", "avg", (3, 7, 6), 3, 2, 1, {"ceil_mode": True, "count_include_pad": False}),
]

POOL_CASES: list[PoolCase] = _grid() + EDGES


def inputs(case: PoolCase, dtype: Any = np.float64) -> tuple[Array, Array]:
    """Distinct input values (exact in float16) and a random upstream gradient of the output's shape."""
    rng = np.random.default_rng(11)
    size = int(np.prod(case.shape))
    x = ((rng.permutation(size) - size // 2) / 8).reshape(case.shape)
    y, _ = run_ours(case, x, None)
    g = np.round(rng.standard_normal(y.shape) * 8) / 8  # exact in float16 too
    return x.astype(dtype), g.astype(dtype)


def run_ours(case: PoolCase, x: Array, g: Array | None) -> tuple[Array, Array | None]:
    """typedtensor's output and, when ``g`` is given, the input's gradient of ``sum(out * g)``."""
    fn: Any = F.max_pool2d if case.kind == "max" else F.avg_pool2d
    if g is None:
        return fn(tt.tensor(x), case.kernel, case.stride, case.padding, **case.modes).numpy(), None
    xt = tt.tensor(x).leaky_trace()
    out = fn(xt, case.kernel, case.stride, case.padding, **case.modes)
    got = (out * tt.tensor(g)).sum().backward()
    return out.numpy().copy(), got.get(xt).numpy().copy()


def run_torch(case: PoolCase, x: Array, g: Array) -> tuple[Array, Array]:
    """PyTorch's output and input gradient, in x's dtype."""
    th: Any = importlib.import_module("torch")  # optional, untyped: the checkers pass without it (stubs/README.md)
    xt = th.tensor(x, requires_grad=True)
    fn = th.nn.functional.max_pool2d if case.kind == "max" else th.nn.functional.avg_pool2d
    out = fn(xt, case.kernel, case.stride, case.padding, **case.modes)
    (out * th.tensor(g)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


#: Max pool in ceil mode over NaN inputs: a window holding NaN gives NaN and sends its gradient to its last NaN.
NAN_CASE = PoolCase("max_nan_ceil", "max", (2, 2, 7, 6), 3, 2, 1, {"ceil_mode": True})


def nan_inputs(dtype: Any = np.float64) -> tuple[Array, Array]:
    """NaN cases' input: NaN in some windows, twice in some, at the ceil windows' edges too; its upstream gradient."""
    x, g = inputs(NAN_CASE, dtype)
    x = x.copy()
    x[0, 0, 6, 5] = np.nan  # the last row and column: only the ceil-mode windows hold it
    x[0, 1, 2, 2] = x[0, 1, 2, 3] = np.nan  # two NaN in one window (and overlapping windows)
    x[1, 0, 0, 0] = np.nan
    x[1, 1, 6, :] = np.nan  # a whole last row
    return x, g
