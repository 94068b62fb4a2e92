"""The Winograd F(2x2, 3x3) convolution (typedtensor.nn._conv_winograd) against the im2col path and PyTorch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.layouts import layouts
from typedtensor import DTypeError, ShapeError
from typedtensor._ops import conv as im2col

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

from typedtensor.nn import _conv_backend  # noqa: E402
from typedtensor.nn import _conv_winograd as winograd  # noqa: E402

pytestmark = pytest.mark.skipif(not winograd.available(), reason="NumPy's OpenBLAS not found (another BLAS)")

Array = np.ndarray[Any, Any]
Pads = tuple[tuple[int, int], tuple[int, int]]

#: Of the largest |output|: the im2col path's own float32 error is ~5e-7 of it, Winograd's ~2e-7 (F(2x2, 3x3)
#: only adds, subtracts and halves).
_TOL: dict[type, float] = {np.float32: 2e-6, np.float64: 1e-13}


@pytest.fixture(autouse=True)
def _im2col_reference() -> Iterator[None]:
    """The references here are the im2col path's: ``_ops.conv.conv2d`` would take this kernel itself otherwise."""
    before = _conv_backend.current()
    _conv_backend.use("im2col")
    try:
        yield
    finally:
        _conv_backend.use(before)


def _data(shape: tuple[int, int, int, int], o: int, dtype: type, seed: int = 0) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    x: Array = rng.standard_normal(shape).astype(dtype)
    w: Array = rng.standard_normal((o, shape[1], 3, 3)).astype(dtype)
    b: Array = rng.standard_normal(o).astype(dtype)
    return x, w, b


def _torch(x: Array, w: Array, b: Array | None, pads: Pads) -> Array:
    (pt, pb), (pl, pr) = pads
    xt = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(x)), (pl, pr, pt, pb))
    bt = None if b is None else torch.from_numpy(b)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(xt, torch.from_numpy(np.ascontiguousarray(w)), bt)
    result: Array = out.numpy()
    return result


def _check(x: Array, w: Array, b: Array | None, pads: Pads = ((1, 1), (1, 1))) -> None:
    y = winograd.conv3x3(x, w, b, pads)
    ref, _ = im2col.conv2d(np.ascontiguousarray(x), w, b, (1, 1), pads, (1, 1), 1)
    tol = _TOL[x.dtype.type] * max(1.0, float(np.abs(ref).max()))
    assert y.dtype == x.dtype
    assert y.shape == ref.shape
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(y, _torch(x, w, b, pads), rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_layouts_match_im2col_and_torch(dtype: type, layout: str) -> None:
    x, w, b = _data((3, 4, 9, 11), 5, dtype)
    if layout == "channels_last":
        xs = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    else:
        xs = layouts(x)[layout]
    ws = layouts(w)["negative" if layout == "negative" else "F" if layout == "F" else "C"]
    _check(xs, ws, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "o"),
    [
        ((1, 1, 1, 1), 1),  # padding only around one pixel
        ((1, 3, 2, 3), 2),
        ((5, 3, 7, 7), 4),  # odd planes, odd batch
        ((2, 6, 8, 10), 3),  # even planes
        ((7, 2, 5, 16), 9),
        ((4, 16, 16, 16), 16),
        ((3, 8, 32, 32), 8),  # several images per work item, and several items
    ],
)
def test_sizes_match(dtype: type, shape: tuple[int, int, int, int], o: int) -> None:
    x, w, b = _data(shape, o, dtype)
    _check(x, w, b)
    _check(x, w, None)


@pytest.mark.parametrize(
    "pads", [((0, 0), (0, 0)), ((1, 1), (1, 1)), ((2, 2), (2, 2)), ((0, 2), (1, 0)), ((3, 1), (0, 4))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paddings(pads: Pads, dtype: type) -> None:
    x, w, b = _data((3, 3, 6, 7), 4, dtype)
    _check(x, w, b, pads)


def test_parallel_path_float32_and_float64() -> None:
    """Above ``_SERIAL_MACS`` the parallel kernel runs (one work buffer per worker, items split among them)."""
    for dtype in (np.float32, np.float64):
        x, w, b = _data((33, 16, 24, 20), 16, dtype, seed=3)
        assert winograd._SERIAL_MACS <= 33 * 16 * 16 * 24 * 20 * 9
        _check(x, w, b)


def test_serial_build_when_openblas_runs_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """With OpenBLAS on one thread (the parts of a split convolution, or the user's setting) even a large call runs
    the serial build (which releases the GIL), and gives the same values."""
    from typedtensor._ops import blas

    builds: list[bool] = []
    original = winograd._kernel

    def recording(parallel: bool) -> Any:
        builds.append(parallel)
        return original(parallel)

    monkeypatch.setattr(winograd, "_kernel", recording)
    x, w, b = _data((33, 16, 24, 20), 16, np.float32, seed=3)
    assert winograd._SERIAL_MACS <= 33 * 16 * 16 * 24 * 20 * 9
    with blas.single_threaded():
        _check(x, w, b)
    assert builds == [False]
    if blas.threads() > 1:
        _check(x, w, b)
        assert builds == [False, True]


def test_empty_batch_and_zero_channels() -> None:
    x, w, b = _data((0, 3, 5, 5), 4, np.float32)
    assert winograd.conv3x3(x, w, b, ((1, 1), (1, 1))).shape == (0, 4, 5, 5)
    x0 = np.zeros((2, 0, 5, 5), np.float32)
    w0 = np.zeros((4, 0, 3, 3), np.float32)
    y = winograd.conv3x3(x0, w0, b, ((1, 1), (1, 1)))
    np.testing.assert_array_equal(y, np.broadcast_to(b.reshape(1, 4, 1, 1), (2, 4, 5, 5)))
    for shape in ((1, 3, 0, 5), (2, 3, 4, 0)):  # empty planes, padding only: the bias
        _check(np.zeros(shape, np.float32), w, b, ((2, 2), (2, 2)))


def test_inputs_are_not_modified() -> None:
    x, w, b = _data((2, 3, 6, 6), 4, np.float64)
    copies = (x.copy(), w.copy(), b.copy())
    winograd.conv3x3(x, w, b, ((1, 1), (1, 1)))
    for before, after in zip(copies, (x, w, b), strict=True):
        np.testing.assert_array_equal(before, after)


def test_refuses_what_it_cannot_compute() -> None:
    x, w, b = _data((2, 3, 6, 6), 4, np.float32)
    pads = ((1, 1), (1, 1))
    with pytest.raises(DTypeError, match="NumPy arrays"):
        winograd.conv3x3(x.tolist(), w, b, pads)
    with pytest.raises(DTypeError, match="float32 or both float64"):
        winograd.conv3x3(x.astype(np.float16), w.astype(np.float16), None, pads)
    with pytest.raises(DTypeError, match="float32 or both float64"):
        winograd.conv3x3(x, w.astype(np.float64), None, pads)
    with pytest.raises(ShapeError, match="same C"):
        winograd.conv3x3(x, w[:, :2], b, pads)
    with pytest.raises(ShapeError, match="same C"):
        winograd.conv3x3(x, np.zeros((4, 3, 5, 5), np.float32), b, pads)
    with pytest.raises(ShapeError, match="same C"):
        winograd.conv3x3(x[0], w, b, pads)
    for bad in (((1, 1),), ((1, -1), (1, 1)), ((1, 1), (1.0, 1)), ((True, 1), (1, 1)), 1):
        with pytest.raises(ShapeError, match="padding"):
            winograd.conv3x3(x, w, b, bad)
    with pytest.raises(ShapeError, match="smaller than the 3x3 kernel"):
        winograd.conv3x3(x[:, :, :2], w, b, ((0, 0), (0, 0)))
    with pytest.raises(ShapeError, match="bias"):
        winograd.conv3x3(x, w, b[:3], pads)
    with pytest.raises(ShapeError, match="bias"):
        winograd.conv3x3(x, w, [0.0] * 4, pads)
    with pytest.raises(DTypeError, match="bias"):
        winograd.conv3x3(x, w, b.astype(np.float64), pads)


def test_supports() -> None:
    x, w, _ = _data((2, 3, 6, 6), 4, np.float32)
    assert winograd.supports(x, w, (1, 1), (1, 1), 1)
    assert winograd.supports(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1), 1)
    assert not winograd.supports(x, w, (2, 2), (1, 1), 1)
    assert not winograd.supports(x, w, (1, 1), (2, 2), 1)
    assert not winograd.supports(x, w, (1, 1), (1, 1), 3)
    assert not winograd.supports(x, np.zeros((4, 3, 5, 5), np.float32), (1, 1), (1, 1), 1)
    assert not winograd.supports(x.astype(np.float16), w.astype(np.float16), (1, 1), (1, 1), 1)
    assert not winograd.supports(x, w.astype(np.float64), (1, 1), (1, 1), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((0, 0), (0, 0)), ((2, 0), (1, 2))])
@pytest.mark.parametrize("layout", ["C", "F", "negative"])
def test_input_grad_matches_im2col_and_torch(dtype: type, pads: Pads, layout: str) -> None:
    x, w, b = _data((3, 5, 7, 8), 6, dtype, seed=1)
    y, bwd = im2col.conv2d(x, w, b, (1, 1), pads, (1, 1), 1)
    g = layouts(np.random.default_rng(2).standard_normal(y.shape).astype(dtype))[layout]
    dx = winograd.input_grad(g, w, pads)
    ref = bwd(np.ascontiguousarray(g), (True, False, False))[0]
    assert ref is not None
    tol = _TOL[dtype] * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(dx, ref, rtol=0, atol=tol)
    (pt, pb), (pl, pr) = pads
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (pl, pr, pt, pb)), torch.from_numpy(w))
    yt.backward(torch.from_numpy(np.ascontiguousarray(g)))
    assert xt.grad is not None
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=tol)


def test_input_grad_refuses() -> None:
    _, w, _ = _data((1, 5, 7, 8), 6, np.float32)
    g = np.zeros((1, 6, 7, 8), np.float32)
    with pytest.raises(ShapeError, match="exceeds 2"):
        winograd.input_grad(g, w, ((3, 1), (1, 1)))
    with pytest.raises(ShapeError, match="same O"):
        winograd.input_grad(g[:, :5], w, ((1, 1), (1, 1)))
    with pytest.raises(DTypeError, match="NumPy arrays"):
        winograd.input_grad(g.tolist(), w, ((1, 1), (1, 1)))
