"""The max-pool backward's two paths give identical gradients, for every memory layout and dtype.

Narrow outputs (``wo <= _PLANES_LAST``) route the gradient with the planes transposed to (H, W, N*C)
in padded rows; wider ones in NCHW (views). Both must pick the same first maximum (ties after a
ReLU), the same last NaN, and keep an inf or NaN upstream gradient where it belongs (the fast select
multiplies by the hit mask, which would turn 0 * inf into NaN elsewhere).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from typedtensor import ShapeError
from typedtensor._ops import pool as pool_kernel

Array = NDArray[Any]


def layouts(x: Array) -> dict[str, Array]:
    """The same values in C, F, channels-last, strided and negatively strided memory."""
    n, c, h, w = x.shape
    wide = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    wide[:, :, ::2, ::2] = x
    return {
        "C": np.ascontiguousarray(x),
        "F": np.asfortranarray(x),
        "channels_last": np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
        "strided": wide[:, :, ::2, ::2],
        "negative": np.ascontiguousarray(x[::-1, :, ::-1, ::-1])[::-1, :, ::-1, ::-1],
    }


#: (kernel, stride, padding): tiled windows, overlapping padded windows, overlapping unpadded ones.
SETTINGS = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 1), (0, 0))]


def _values(kind: str, shape: tuple[int, ...], dtype: type[Any]) -> Array:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    if kind == "relu_ties":
        x = np.maximum(x, 0.0)  # most windows tie at 0
    elif kind == "rounded_ties":
        x = np.round(x)  # ties at 1, -1, 2 too
    elif kind == "nan_inf":
        x.flat[::7] = np.nan
        x.flat[3::11] = np.inf
        x.flat[5::13] = -np.inf
    return x.astype(dtype)


def _backward(x: Array, g: Array, setting: tuple[Any, ...], planes_last: bool, monkeypatch: Any) -> Array:
    monkeypatch.setattr(pool_kernel, "_PLANES_LAST", 1 << 30 if planes_last else -1)
    kernel, stride, padding = setting
    _, bwd = pool_kernel.max_pool2d(x, kernel, stride, padding)
    (dx,) = bwd(g, (True,))
    assert dx is not None
    return dx


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("values", ["random", "relu_ties", "rounded_ties", "nan_inf"])
@pytest.mark.parametrize("setting", SETTINGS, ids=["tiled", "padded", "overlap"])
@pytest.mark.parametrize("upstream", ["finite", "non_finite"])
def test_planes_last_backward_is_the_nchw_backward(
    dtype: type[Any], values: str, setting: tuple[Any, ...], upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _values(values, (3, 4, 7, 8), dtype)
    kernel, stride, padding = setting
    y, _ = pool_kernel.max_pool2d(x, kernel, stride, padding)
    g = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
    if upstream == "non_finite":  # 0 * inf must not leak NaN into the windows' other elements
        g.flat[::5] = np.inf
        g.flat[2::9] = np.nan
    reference = _backward(x, g, setting, False, monkeypatch)
    for xname, xl in layouts(x).items():
        for gname, gl in layouts(g).items():
            x_before, g_before = xl.copy(), gl.copy()
            dx = _backward(xl, gl, setting, True, monkeypatch)
            assert dx.shape == x.shape, (xname, gname)
            assert dx.dtype == x.dtype, (xname, gname)
            assert dx.flags.c_contiguous, (xname, gname)
            np.testing.assert_array_equal(dx, reference, err_msg=f"x {xname}, g {gname}")
            np.testing.assert_array_equal(xl, x_before)  # inputs untouched
            np.testing.assert_array_equal(gl, g_before)


def test_ties_go_to_the_first_maximum_in_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-checked window: [[0, 5], [5, 0]] sends its gradient to (0, 1), the first 5 in row-major order."""
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5.0
    g = np.full((1, 1, 1, 1), 3.0, np.float32)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 3.0
    for planes_last in (False, True):
        dx = _backward(x, g, ((2, 2), (2, 2), (0, 0)), planes_last, monkeypatch)
        np.testing.assert_array_equal(dx, expected)


def test_padded_rows_start_an_odd_number_of_lines_apart() -> None:
    """Rows of 2048 float32 (8 KiB, a power of two) get one extra 64-byte line; the values stay in place."""
    (rows,) = pool_kernel._rows(np.dtype(np.float32), {"t": (2, 3)}, 2048)
    assert rows.shape == (2, 3, 2048)
    assert rows.strides[1] == 2048 * 4 + 64
    assert (rows.strides[1] // 64) % 2 == 1
    x = np.arange(6 * 64 * 32, dtype=np.float32).reshape(64, 32, 2, 3)
    flat = pool_kernel._flat_rows(rows)  # the (H*W, M) view the chunks are copied through
    np.copyto(flat, x.reshape(2048, 6).T)
    np.testing.assert_array_equal(rows, x.reshape(2048, 2, 3).transpose(1, 2, 0))
    with pytest.raises(ShapeError):  # a copy would take the writes and drop them: refused
        pool_kernel._flat_rows(rows.transpose(1, 0, 2))


@pytest.mark.parametrize("width", [8, 20], ids=["planes_last", "nchw_tiled"])
def test_an_infinite_upstream_gradient_stays_on_its_maximum(width: int) -> None:
    """Regression: the tiled NCHW backward multiplied the hit masks by g, so g = inf put 0 * inf = NaN on the
    three other elements of its window (PyTorch: 0 there)."""
    x = np.arange(2 * width, dtype=np.float32).reshape(1, 1, 2, width)  # one maximum per window: (1, 2j + 1)
    y, bwd = pool_kernel.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    g = np.ones(y.shape, np.float32)
    g[0, 0, 0, 0] = np.inf
    (dx,) = bwd(g, (True,))
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1::2] = g[0, 0, 0]
    np.testing.assert_array_equal(dx, expected)


#: (constant, chunk size in input elements, planes_last): the (H, W, N*C) path's N*C = 12 planes of 7x8 in
#: chunks of 1, 5 and 11 planes, the NCHW block loop's 3 images of 4x7x8 in chunks of 1 and 2 images.
CHUNKINGS = [("_PLANES_CHUNK", k * 7 * 8, True) for k in (1, 5, 11)] + [
    ("_IMAGES_CHUNK", k * 4 * 7 * 8, False) for k in (1, 2)
]


@pytest.mark.parametrize("values", ["random", "relu_ties", "nan_inf"])
@pytest.mark.parametrize("setting", SETTINGS, ids=["tiled", "padded", "overlap"])
@pytest.mark.parametrize(("constant", "size", "planes_last"), CHUNKINGS)
def test_chunks_give_the_unchunked_backward(
    values: str, setting: tuple[Any, ...], constant: str, size: int, planes_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both backward paths work in chunks (the last one shorter): the same gradient as the unchunked NCHW
    path, in every layout of x and g (an inf upstream too)."""
    x = _values(values, (3, 4, 7, 8), np.float32)
    y, _ = pool_kernel.max_pool2d(x, *setting)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(np.float32)
    g.flat[::9] = np.inf if values == "nan_inf" else g.flat[::9]
    reference = _backward(x, g, setting, False, monkeypatch)
    monkeypatch.setattr(pool_kernel, constant, size)
    for (xname, xl), (gname, gl) in zip(layouts(x).items(), reversed(layouts(g).items()), strict=True):
        dx = _backward(xl, gl, setting, planes_last, monkeypatch)
        np.testing.assert_array_equal(dx, reference, err_msg=f"x {xname}, g {gname}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", SETTINGS, ids=["tiled", "padded", "overlap"])
def test_a_single_plane_routes_its_nan_windows_as_the_nchw_backward(
    dtype: type[Any], setting: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """N*C = 1: a single plane routes its NaN windows to their last NaN as the NCHW path does (its (H, W, 1)
    work arrays were padded rows, the strided out NumPy 2.4's isnan(v, out=h) writes as if contiguous)."""
    x = _values("nan_inf", (3, 4, 7, 8), dtype)[:1, :1].copy()
    y, _ = pool_kernel.max_pool2d(x, *setting)
    g = np.arange(1, y.size + 1, dtype=dtype).reshape(y.shape)
    reference = _backward(x, g, setting, False, monkeypatch)
    np.testing.assert_array_equal(_backward(x, g, setting, True, monkeypatch), reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", SETTINGS, ids=["tiled", "padded", "overlap"])
def test_a_last_chunk_of_one_plane_in_padded_rows_routes_its_nan_windows(
    dtype: type[Any], setting: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """N*C = 21 in chunks of 20 planes: rows of 20 values are padded to 3 lines, and the last chunk's (H, W, 1)
    views of them are the strided out where NumPy 2.4's isnan(v, out=h) writes h as if contiguous."""
    x = _values("nan_inf", (3, 7, 7, 8), dtype)
    y, _ = pool_kernel.max_pool2d(x, *setting)
    g = np.arange(1, y.size + 1, dtype=dtype).reshape(y.shape)
    reference = _backward(x, g, setting, False, monkeypatch)
    monkeypatch.setattr(pool_kernel, "_PLANES_CHUNK", 20 * 7 * 8)
    np.testing.assert_array_equal(_backward(x, g, setting, True, monkeypatch), reference)
