"""The batch-split convolution (typedtensor/_ops/conv_parallel.py): the same results as one whole call.

Outputs, input gradients, weight and bias gradients must equal ``conv.conv2d``'s on the whole batch within
float rounding (OpenBLAS may pick another kernel, or block the sums otherwise, for a product with fewer
columns; weight and bias gradients are summed per part). The
split is forced here (``_MIN_MACS`` 1 and a thread count of 2 or 3) so that small inputs take it.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn
from typedtensor._ops import blas, conv_parallel
from typedtensor._ops import conv as conv_kernel
from typedtensor.nn import functional as F

Pair = tuple[int, int]
CASES: list[tuple[tuple[int, int, int, int], int, int, int, int, int]] = [
    # (x shape, out channels, kernel, stride, padding, groups)
    ((5, 4, 9, 9), 6, 3, 1, 1, 1),
    ((4, 4, 10, 10), 6, 3, 2, 1, 1),
    ((6, 4, 8, 8), 8, 1, 2, 0, 1),
    ((3, 6, 7, 7), 6, 3, 1, 2, 2),
]


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make every call split into ``count`` parts (when it has that many images)."""

    def force(count: int) -> None:
        monkeypatch.setattr(conv_parallel, "_MIN_MACS", 1)
        monkeypatch.setattr(blas, "threads", lambda: count)
        monkeypatch.setattr(conv_parallel, "_cpus", lambda: count)

    return force


def _layouts(a: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    return {
        "C": np.ascontiguousarray(a),
        "F": np.asfortranarray(a),
        "channels_last": np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
        "strided": np.repeat(a, 2, axis=3)[:, :, :, ::2],
        "negative": np.ascontiguousarray(a[::-1, :, ::-1])[::-1, :, ::-1],
    }


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("parts", [2, 3])
def test_split_calls_equal_the_whole_call(
    forced: Callable[[int], None],
    dtype: type[np.floating[Any]],
    case: tuple[tuple[int, int, int, int], int, int, int, int, int],
    parts: int,
) -> None:
    shape, o, k, s, p, groups = case
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((o, shape[1] // groups, k, k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    args = ((s, s), ((p, p), (p, p)), (1, 1), groups)
    y0, back0 = conv_kernel.conv2d(x0, w, b, *args)
    g = rng.standard_normal(y0.shape).astype(dtype)
    want = back0(g, (True, True, True))
    forced(parts)
    assert len(conv_parallel.parts(shape[0], 1 << 30)) == parts
    tol = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-14}[dtype]

    def close(a: np.ndarray[Any, Any] | None, b: np.ndarray[Any, Any] | None, name: str) -> None:
        assert a is not None
        assert b is not None
        assert a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * float(np.abs(b).max()), err_msg=name)

    for name, x in _layouts(x0).items():
        y, back = conv_parallel.conv2d(x, w, b, *args)
        assert y.dtype == x0.dtype, name
        close(y, y0, name)
        dx, dw, db = back(g, (True, True, True))
        assert dx is not None
        assert dw is not None
        assert db is not None
        close(dx, want[0], name)
        close(dw, want[1], name)
        close(db, want[2], name)
        only_w = back(g, (False, True, False))
        assert only_w[0] is None
        assert only_w[2] is None
        np.testing.assert_array_equal(only_w[1], dw)


def test_no_bias_and_no_weight_gradient(forced: Callable[[int], None]) -> None:
    forced(2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 6, 6))
    w = rng.standard_normal((5, 3, 3, 3))
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    y, back = conv_parallel.conv2d(x, w, None, *args)
    y0, back0 = conv_kernel.conv2d(x, w, None, *args)
    np.testing.assert_allclose(y, y0, rtol=1e-13, atol=1e-13)
    g = rng.standard_normal(y.shape)
    dx, dw, db = back(g, (True, False, False))
    assert dw is None
    assert db is None
    want = back0(g, (True, False, False))[0]
    assert dx is not None
    assert want is not None
    np.testing.assert_allclose(dx, want, rtol=1e-13, atol=1e-13)


def test_split_gradients_match_finite_differences(forced: Callable[[int], None]) -> None:
    forced(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)

    def loss(x: np.ndarray[Any, Any], w: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
        return float((conv_parallel.conv2d(x, w, b, *args)[0] ** 2).sum())

    y, back = conv_parallel.conv2d(x, w, b, *args)
    grads = back(2 * y, (True, True, True))
    eps = 1e-6
    for arrays, which in (((x, w, b), 0), ((x, w, b), 1), ((x, w, b), 2)):
        target = arrays[which]
        got = grads[which]
        assert got is not None
        for idx in list(np.ndindex(target.shape))[:: max(1, target.size // 7)]:
            old = target[idx]
            target[idx] = old + eps
            up = loss(*arrays)
            target[idx] = old - eps
            down = loss(*arrays)
            target[idx] = old
            analytic = float(got[idx])
            assert abs((up - down) / (2 * eps) - analytic) < 1e-5 * max(1.0, abs(analytic))


def test_conv2d_and_conv1d_layers_take_the_split_path(forced: Callable[[int], None]) -> None:
    forced(2)
    calls: list[int] = []
    original = conv_kernel.conv2d

    def counting(x: Any, *args: Any) -> Any:
        calls.append(x.shape[0])
        return original(x, *args)

    mp = pytest.MonkeyPatch()
    mp.setattr(conv_kernel, "conv2d", counting)
    try:
        nn.Conv2D(2, 3, 3, padding=1, dtype=np.float64, seed=0).forward(tt.ones((4, 2, 6, 6), np.float64))
        nn.Conv1D(2, 3, 3, padding=1, dtype=np.float64, seed=0).forward(tt.ones((6, 2, 9), np.float64))
    finally:
        mp.undo()
    assert calls == [2, 2, 3, 3]


def test_openblas_runs_one_thread_inside_and_gets_its_count_back(forced: Callable[[int], None]) -> None:
    lib = blas.library()
    if lib is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS here: the split never runs")
    before = lib.get_threads()
    seen: list[int] = []
    original = conv_kernel.conv2d

    def watching(*args: Any) -> Any:
        seen.append(lib.get_threads())
        return original(*args)

    forced(2)
    mp = pytest.MonkeyPatch()
    mp.setattr(conv_kernel, "conv2d", watching)
    try:
        x = np.ones((4, 2, 6, 6))
        w = np.ones((3, 2, 3, 3))
        _, back = conv_parallel.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        assert lib.get_threads() == before
        back(np.ones((4, 3, 6, 6)), (True, True, False))
    finally:
        mp.undo()
    assert seen == [1, 1]
    assert lib.get_threads() == before


def test_an_error_in_one_part_is_raised_after_every_part_ended(forced: Callable[[int], None]) -> None:
    forced(2)
    ended: list[int] = []
    original = conv_kernel.conv2d

    def failing(x: Any, *args: Any) -> Any:
        try:
            if x.shape[0] == 3:  # the second part
                raise MemoryError("part failed")
            return original(x, *args)
        finally:
            ended.append(x.shape[0])

    mp = pytest.MonkeyPatch()
    mp.setattr(conv_kernel, "conv2d", failing)
    try:
        with pytest.raises(MemoryError, match="part failed"):
            conv_parallel.conv2d(
                np.ones((6, 2, 5, 5)), np.ones((3, 2, 3, 3)), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1
            )
    finally:
        mp.undo()
    assert sorted(ended) == [3, 3]
    lib = blas.library()
    assert lib is None or lib.get_threads() == blas.threads()


def test_small_calls_are_not_split() -> None:
    assert conv_parallel.parts(64, conv_parallel._MIN_MACS - 1) == [(0, 64)]
    assert conv_parallel.parts(1, 1 << 40) == [(0, 1)]
    bounds = conv_parallel.parts(7, 1 << 40)
    assert bounds[0][0] == 0
    assert bounds[-1][1] == 7
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert len(bounds) == min(7, blas.threads(), conv_parallel._cpus())


def test_release_conv_buffers_frees_the_workers_buffers_too(forced: Callable[[int], None]) -> None:
    forced(2)
    conv_parallel.conv2d(np.ones((4, 2, 16, 16)), np.ones((3, 2, 3, 3)), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    executor = conv_parallel._pool.executor
    assert executor is not None
    assert executor.submit(conv_kernel.retained_scratch).result() > 0
    F.release_conv_buffers()
    assert executor.submit(conv_kernel.retained_scratch).result() == 0
    assert conv_kernel.retained_scratch() == 0


def _child(queue: Any) -> None:  # pragma: no cover - runs in a forked child
    mp = pytest.MonkeyPatch()
    mp.setattr(conv_parallel, "_MIN_MACS", 1)
    mp.setattr(blas, "threads", lambda: 2)
    mp.setattr(conv_parallel, "_cpus", lambda: 2)
    y, _ = conv_parallel.conv2d(np.ones((4, 2, 6, 6)), np.ones((3, 2, 3, 3)), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    queue.put(float(y.sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_a_forked_child_makes_its_own_pool(forced: Callable[[int], None]) -> None:
    forced(2)
    conv_parallel.conv2d(np.ones((4, 2, 6, 6)), np.ones((3, 2, 3, 3)), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0, "the child hung or failed (a pool of the parent's dead threads?)"
    want = conv_kernel.conv2d(np.ones((4, 2, 6, 6)), np.ones((3, 2, 3, 3)), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    assert queue.get(timeout=10) == float(want[0].sum())


def test_float16_parts_sum_their_gradients_in_float32(forced: Callable[[int], None]) -> None:
    """Each part's float16 weight/bias gradient may overflow where the whole sum does not: the parts work in
    float32 and round once (rounded per part, +60000 and -60000 halves gave inf - inf = NaN for a 0 bias grad)."""
    forced(2)
    x = np.zeros((16, 16, 12, 12), np.float16)
    w = np.zeros((32, 16, 5, 5), np.float16)
    b = np.zeros(32, np.float16)
    args = ((1, 1), ((2, 2), (2, 2)), (1, 1), 1)
    y, back = conv_parallel.conv2d(x, w, b, *args)
    g = np.zeros(y.shape, np.float16)
    g[:8, 0, 0, :2] = 60000
    g[8:, 0, 0, :2] = -60000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, db = back(g, (False, False, True))
    whole = conv_kernel.conv2d(x, w, b, *args)[1](g, (False, False, True))[2]
    assert db is not None
    assert whole is not None
    assert db.dtype == np.float16
    np.testing.assert_array_equal(db, whole)
    assert db[0] == 0


def test_a_child_forked_during_a_split_gets_openblas_threads_back() -> None:
    lib = blas.library()
    if lib is None or lib.get_threads() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs NumPy's OpenBLAS with 2+ threads and fork")
    before = lib.get_threads()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with blas.single_threaded():  # as a split convolution running in another thread at the fork
        assert lib.get_threads() == 1
        child = ctx.Process(target=_report_threads, args=(queue,))
        child.start()
        child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=10) == (before, before)
    assert lib.get_threads() == before


def _report_threads(queue: Any) -> None:  # pragma: no cover - runs in a forked child
    lib = blas.library()
    assert lib is not None
    first = lib.get_threads()
    with blas.single_threaded():  # the child's lock is free and its count of users 0
        pass
    queue.put((first, lib.get_threads()))


def test_concurrent_calls_of_other_part_counts_never_meet_a_shut_executor() -> None:
    """One thread runs 3-part batches while another asks for ever more parts (a resize each time)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def three() -> None:
        while not stop.is_set():
            try:
                conv_parallel._pool.run([lambda: 1, lambda: 2, lambda: 3])
            except BaseException as e:
                errors.append(e)
                return

    thread = threading.Thread(target=three)
    thread.start()
    try:
        for k in range(3, 60):
            tasks: list[Callable[[], int]] = [functools.partial(int, i) for i in range(k)]
            assert conv_parallel._pool.run(tasks) == list(range(k))
    finally:
        stop.set()
        thread.join(30)
    assert not errors


def test_the_switch_keeps_every_convolution_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv_parallel, "_MIN_MACS", 1)
    monkeypatch.setattr(blas, "threads", lambda: 2)
    monkeypatch.setattr(conv_parallel, "_cpus", lambda: 2)
    assert len(conv_parallel.parts(4, 1 << 30)) == 2
    monkeypatch.setenv("TYPEDTENSOR_CONV_SPLIT", "off")
    assert conv_parallel.parts(4, 1 << 30) == [(0, 4)]
    monkeypatch.setenv("TYPEDTENSOR_CONV_SPLIT", "of")
    with pytest.raises(tt.TypedTensorError, match="TYPEDTENSOR_CONV_SPLIT='of' is not a setting"):
        conv_parallel.parts(4, 1 << 30)


def test_a_large_finite_winograd_result_gives_no_warning() -> None:
    """The finiteness check sums the result: an overflow of that sum is no warning (im2col recomputes it)."""
    x = np.full((2, 16, 32, 32), 1e36, np.float32)
    w = np.ones((16, 16, 3, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = conv_parallel.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)[0]
    assert np.isfinite(out).all()
