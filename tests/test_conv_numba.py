"""The numba 3x3 convolution (typedtensor.nn._conv_numba) against the im2col path and PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.layouts import layouts
from typedtensor import DTypeError, ShapeError
from typedtensor._ops import conv as im2col

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

from typedtensor.nn import _conv_numba as conv_numba  # noqa: E402

Array = np.ndarray[Any, Any]
Pads = tuple[tuple[int, int], tuple[int, int]]

_TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _data(shape: tuple[int, int, int, int], o: int, dtype: type, seed: int = 0) -> tuple[Array, Array, Array]:
    rng = np.random.default_rng(seed)
    x: Array = rng.standard_normal(shape).astype(dtype)
    w: Array = rng.standard_normal((o, shape[1], 3, 3)).astype(dtype)
    b: Array = rng.standard_normal(o).astype(dtype)
    return x, w, b


def _torch(x: Array, w: Array, b: Array | None, pads: Pads, dil: tuple[int, int]) -> Array:
    (pt, pb), (pl, pr) = pads
    xt = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(x)), (pl, pr, pt, pb))
    bt = None if b is None else torch.from_numpy(b)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(xt, torch.from_numpy(np.ascontiguousarray(w)), bt, dilation=dil)
    result: Array = out.numpy()
    return result


def _check(x: Array, w: Array, b: Array | None, pads: Pads = ((1, 1), (1, 1)), dil: tuple[int, int] = (1, 1)) -> None:
    y = conv_numba.conv3x3(x, w, b, pads, dil)
    ref, _ = im2col.conv2d(np.ascontiguousarray(x), w, b, (1, 1), pads, dil, 1)
    tol = _TOL[x.dtype.type] * max(1.0, float(np.abs(ref).max()))
    assert y.dtype == x.dtype
    assert y.shape == ref.shape
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(y, _torch(x, w, b, pads, dil), rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "broadcast", "channels_last"])
def test_layouts_match_im2col_and_torch(dtype: type, layout: str) -> None:
    x, w, b = _data((3, 4, 9, 11), 5, dtype)
    if layout == "channels_last":
        xs = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    else:
        xs = layouts(x)[layout]
    _check(xs, w, b)
    _check(x, layouts(w)[layout] if layout != "channels_last" else w, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "o"),
    [
        ((1, 1, 1, 1), 1),  # N = C = 1, a single pixel
        ((1, 3, 5, 7), 3),  # odd sizes, odd O (the last channel pair half empty)
        ((2, 1, 8, 8), 16),  # C = 1
        ((13, 6, 4, 4), 7),  # many images per work item and a remainder item
        ((5, 2, 33, 35), 4),  # rows spanning several accumulator tiles
        ((2, 3, 2, 40), 2),  # a row longer than the tile's share
    ],
)
def test_sizes_match(dtype: type, shape: tuple[int, int, int, int], o: int) -> None:
    x, w, b = _data(shape, o, dtype)
    _check(x, w, b)
    _check(x, w, None)


@pytest.mark.parametrize(
    ("pads", "dil"),
    [
        (((0, 0), (0, 0)), (1, 1)),
        (((0, 2), (1, 0)), (1, 1)),
        (((2, 2), (2, 2)), (2, 2)),
        (((3, 1), (0, 4)), (1, 2)),
        (((4, 4), (3, 3)), (1, 1)),  # more padding than the kernel reaches: output larger than the input
        (((1, 1), (1, 1)), (3, 1)),
    ],
)
def test_padding_and_dilation(pads: Pads, dil: tuple[int, int]) -> None:
    x, w, b = _data((3, 2, 7, 9), 3, np.float64, seed=1)
    _check(x, w, b, pads, dil)


def test_many_channels_large_batch_float32() -> None:
    x, w, b = _data((9, 32, 16, 16), 32, np.float32, seed=2)
    _check(x, w, b)


def test_empty_batch_and_zero_channels() -> None:
    x, w, b = _data((0, 2, 5, 5), 3, np.float32)
    assert conv_numba.conv3x3(x, w, b, ((1, 1), (1, 1)), (1, 1)).shape == (0, 3, 5, 5)
    x0 = np.zeros((2, 0, 5, 5), np.float32)
    w0 = np.zeros((3, 0, 3, 3), np.float32)
    y = conv_numba.conv3x3(x0, w0, b, ((1, 1), (1, 1)), (1, 1))
    np.testing.assert_array_equal(y, np.broadcast_to(b.reshape(1, 3, 1, 1), (2, 3, 5, 5)))


def test_inputs_are_not_modified() -> None:
    x, w, b = _data((2, 3, 6, 6), 4, np.float32)
    copies = [a.copy() for a in (x, w, b)]
    conv_numba.conv3x3(x, w, b, ((1, 1), (1, 1)), (1, 1))
    for a, c in zip((x, w, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_refuses_what_it_cannot_compute() -> None:
    x, w, b = _data((2, 3, 6, 6), 4, np.float32)
    pads = ((1, 1), (1, 1))
    with pytest.raises(DTypeError, match="float32 or both float64"):
        conv_numba.conv3x3(x.astype(np.int32), w, b, pads, (1, 1))
    with pytest.raises(DTypeError, match="float32 or both float64"):
        conv_numba.conv3x3(x, w.astype(np.float64), b, pads, (1, 1))
    with pytest.raises(DTypeError, match="float32 or both float64"):
        conv_numba.conv3x3(x.astype(np.float16), w.astype(np.float16), b, pads, (1, 1))
    with pytest.raises(DTypeError, match="NumPy arrays"):
        conv_numba.conv3x3(x.tolist(), w, b, pads, (1, 1))
    with pytest.raises(ShapeError, match=r"w \(O, C, 3, 3\)"):
        conv_numba.conv3x3(x, np.zeros((4, 3, 5, 5), np.float32), b, pads, (1, 1))
    with pytest.raises(ShapeError, match="same C"):
        conv_numba.conv3x3(x, np.zeros((4, 2, 3, 3), np.float32), b, pads, (1, 1))
    with pytest.raises(ShapeError, match=r"w \(O, C, 3, 3\)"):
        conv_numba.conv3x3(x[0], w, b, pads, (1, 1))
    with pytest.raises(ShapeError, match="bias"):
        conv_numba.conv3x3(x, w, b[:3], pads, (1, 1))
    with pytest.raises(DTypeError, match="bias"):
        conv_numba.conv3x3(x, w, b.astype(np.float64), pads, (1, 1))
    with pytest.raises(ShapeError, match="bias"):
        conv_numba.conv3x3(x, w, list(b), pads, (1, 1))
    for bad_pads, bad_dil in [
        (((-1, 1), (1, 1)), (1, 1)),
        (((1, 1), (1, 1)), (0, 1)),
        (((1.0, 1), (1, 1)), (1, 1)),
        (((True, 1), (1, 1)), (1, 1)),
        ((1, 1), (1, 1)),
        (((1, 1), (1, 1)), (1,)),
        (((1, 1), (1, 1)), None),
    ]:
        with pytest.raises(ShapeError, match="padding must be"):
            conv_numba.conv3x3(x, w, b, bad_pads, bad_dil)
    y = conv_numba.conv3x3(x, w, b, ((np.int64(1), 1), (1, np.int32(1))), (np.int64(1), 1))
    np.testing.assert_array_equal(y, conv_numba.conv3x3(x, w, b, pads, (1, 1)))
    with pytest.raises(ShapeError, match="smaller than the dilated kernel"):
        conv_numba.conv3x3(x, w, b, ((0, 0), (0, 0)), (4, 1))


def test_supports() -> None:
    x, w, _ = _data((2, 3, 6, 6), 4, np.float32)
    assert conv_numba.supports(x, w, (1, 1), 1)
    assert not conv_numba.supports(x, w, (2, 2), 1)
    assert not conv_numba.supports(x, w, (1, 1), 2)
    assert not conv_numba.supports(x, np.zeros((4, 3, 5, 5), np.float32), (1, 1), 1)
    assert not conv_numba.supports(x.astype(np.float16), w.astype(np.float16), (1, 1), 1)


@pytest.mark.parametrize("serial_macs", [0, 1 << 62])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_and_serial_kernels(monkeypatch: pytest.MonkeyPatch, serial_macs: int, dtype: type) -> None:
    monkeypatch.setattr(conv_numba, "_SERIAL_MACS", serial_macs)
    for shape, o in [((13, 6, 4, 4), 7), ((3, 4, 9, 11), 5), ((1, 1, 1, 1), 1), ((5, 3, 33, 35), 4)]:
        x, w, b = _data(shape, o, dtype, seed=3)
        _check(x, w, b)
        _check(layouts(x)["negative"], w, None, ((0, 2), (3, 1)), (1, 2))


def _torch_input_grad(x: Array, w: Array, g: Array, pads: Pads, dil: tuple[int, int]) -> Array:
    (pt, pb), (pl, pr) = pads
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    y = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (pl, pr, pt, pb)), torch.from_numpy(np.ascontiguousarray(w)), dilation=dil
    )
    y.backward(torch.from_numpy(np.ascontiguousarray(g)))
    assert xt.grad is not None
    result: Array = xt.grad.numpy()
    return result


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "o", "pads", "dil"),
    [
        ((3, 4, 9, 11), 5, ((1, 1), (1, 1)), (1, 1)),
        ((1, 1, 1, 1), 1, ((1, 1), (1, 1)), (1, 1)),
        ((13, 6, 4, 4), 7, ((1, 1), (1, 1)), (1, 1)),
        ((2, 3, 7, 9), 2, ((0, 2), (2, 0)), (1, 1)),
        ((2, 3, 9, 8), 3, ((0, 0), (0, 0)), (1, 1)),
        ((2, 2, 9, 9), 3, ((3, 4), (1, 2)), (2, 2)),
        ((9, 32, 16, 16), 32, ((1, 1), (1, 1)), (1, 1)),  # parallel
    ],
)
def test_input_grad_matches_im2col_and_torch(
    dtype: type, shape: tuple[int, int, int, int], o: int, pads: Pads, dil: tuple[int, int]
) -> None:
    x, w, _ = _data(shape, o, dtype, seed=4)
    y, bwd = im2col.conv2d(x, w, None, (1, 1), pads, dil, 1)
    g: Array = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    ref = bwd(g, (True, False, False))[0]
    assert ref is not None
    for layout in ("C", "F", "negative"):
        dx = conv_numba.input_grad(layouts(g)[layout], w, pads, dil)
        tol = _TOL[x.dtype.type] * max(1.0, float(np.abs(ref).max()))
        assert dx.shape == x.shape
        assert dx.dtype == x.dtype
        np.testing.assert_allclose(dx, ref, rtol=0, atol=tol)
        np.testing.assert_allclose(dx, _torch_input_grad(x, w, g, pads, dil), rtol=0, atol=tol)


def test_input_grad_refuses() -> None:
    _, w, _ = _data((2, 3, 6, 6), 4, np.float32)
    g = np.zeros((2, 4, 6, 6), np.float32)
    with pytest.raises(ShapeError, match="exceeds twice the dilation"):
        conv_numba.input_grad(g, w, ((3, 3), (1, 1)), (1, 1))
    with pytest.raises(ShapeError, match="same O"):
        conv_numba.input_grad(g[:, :3], w, ((1, 1), (1, 1)), (1, 1))
    with pytest.raises(DTypeError, match="NumPy arrays"):
        conv_numba.input_grad(g.tolist(), w, ((1, 1), (1, 1)), (1, 1))
    with pytest.raises(DTypeError, match="float32 or both float64"):
        conv_numba.input_grad(g.astype(np.float64), w, ((1, 1), (1, 1)), (1, 1))
