"""Conv2D's per-thread work buffers stay bounded, and the padded planes built chunk by chunk read
every memory layout correctly.

The buffers (padded planes, column matrices, products) are reused across calls because fresh pages
cost a page fault each; a call's buffers are kept only when together they fit in ``_KEEP`` bytes, so
a big convolution no longer leaves ~40 MiB per thread behind.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn
from typedtensor._ops import conv as conv_kernel
from typedtensor._ops import pool as pool_kernel
from typedtensor.nn import functional as F

Array = NDArray[Any]


def train_step(conv: nn.Conv2D[Any, Any], x: Array) -> None:
    """Forward and backward through the public API (input, weight and bias gradients)."""
    grads = conv.alloc_grads()
    conv.forward_mut(tt.tensor(x).trace(grads)).sum().backward()


def demo_conv() -> tuple[nn.Conv2D[Any, Any], Array]:
    """The digits demo's largest convolution at its batch size: 64x16x8x8 -> 32 (5.3 MiB of buffers)."""
    x = np.random.default_rng(0).standard_normal((64, 16, 8, 8), dtype=np.float32)
    return nn.Conv2D(16, 32, 3, padding=1, seed=0), x


def big_conv() -> tuple[nn.Conv2D[Any, Any], Array]:
    """A convolution whose buffers take over ``_KEEP`` for one image alone (a 9.4 MiB column matrix)."""
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 64), dtype=np.float32)
    return nn.Conv2D(64, 64, 3, padding=1, seed=0), x


def kept() -> dict[str, Array]:
    return dict(conv_kernel._scratch.buffers)


def test_a_big_convolution_leaves_bounded_buffers() -> None:
    F.release_conv_buffers()
    conv, x = big_conv()
    train_step(conv, x)
    conv.forward(tt.tensor(x))
    assert conv_kernel.retained_scratch() <= conv_kernel._KEEP


def test_the_demo_convolutions_reuse_their_buffers() -> None:
    """Kept and reused (the same arrays call after call), also after a big convolution in between."""
    F.release_conv_buffers()
    conv, x = demo_conv()
    train_step(conv, x)
    first = kept()
    assert set(first) == {"conv.in", "conv.cols", "conv.out", "conv.dcols"}  # 16 -> 32 channels: col2im
    assert sum(b.nbytes for b in first.values()) <= conv_kernel.retained_scratch() <= conv_kernel._KEEP
    train_step(conv, x)
    big, xb = big_conv()
    train_step(big, xb)
    train_step(conv, x)
    assert all(kept()[name] is buffer for name, buffer in first.items())


def test_chunks_are_sized_to_keep_their_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Convolutions whose column matrix for the whole batch is over ``_KEEP`` (37 MiB here) work in chunks
    small enough to keep their buffers, at sizes that every geometry reuses: the forward, the input
    gradient's correlation, col2im and the weight gradient of layers of other shapes, one after the
    other as in a network, all run in the same kept buffers instead of faulting in fresh pages. The im2col
    path's buffers: the Winograd kernel, which would take the first layer's forward and input gradient, is
    unregistered here."""
    monkeypatch.setattr(conv_kernel, "_fast", None)
    F.release_conv_buffers()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 16, 32, 32), dtype=np.float32)
    layers: list[nn.Conv2D[Any, Any]] = [
        nn.Conv2D(16, 16, 3, padding=1, seed=0),  # input gradient as a correlation
        nn.Conv2D(16, 32, 3, padding=1, stride=2, seed=0),  # col2im
        nn.Conv2D(16, 32, 1, stride=2, seed=0),
    ]
    for conv in layers:
        train_step(conv, x)
    first = kept()
    assert {"conv.in", "conv.cols", "conv.out", "conv.dcols", "conv.x"} <= set(first)
    assert conv_kernel.retained_scratch() <= conv_kernel._KEEP
    for conv in layers:
        conv.forward(tt.tensor(x))
        train_step(conv, x)
        assert all(kept()[name] is buffer for name, buffer in first.items())


def test_release_conv_buffers() -> None:
    conv, x = demo_conv()
    train_step(conv, x)
    assert conv_kernel.retained_scratch() > 0
    F.release_conv_buffers()
    assert conv_kernel.retained_scratch() == 0
    train_step(conv, x)  # allocated again on the next call
    assert conv_kernel.retained_scratch() > 0
    pool, grads = nn.MaxPool2D(2), tt.Gradients()  # the pooling backward's kept work arrays go too
    pool.forward_mut(tt.randn((2, 3, 8, 8), seed=0).trace(grads)).sum().backward()
    assert pool_kernel._kept.buffers
    F.release_conv_buffers()
    assert not pool_kernel._kept.buffers


def test_a_threads_buffers_are_its_own_and_freed_when_it_ends() -> None:
    conv, x = demo_conv()
    train_step(conv, x)
    mine = kept()
    refs: list[weakref.ref[Array]] = []

    def work() -> None:
        assert conv_kernel.retained_scratch() == 0  # a new thread starts with none
        train_step(conv, x)
        refs.extend(weakref.ref(b) for b in conv_kernel._scratch.buffers.values())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    gc.collect()
    assert len(refs) == 4
    assert all(ref() is None for ref in refs)
    assert all(kept()[name] is buffer for name, buffer in mine.items())


def test_kept_buffers_never_exceed_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sets that fit replace what no longer fits: other names are dropped first, then oversized ones shrink."""
    monkeypatch.setattr(conv_kernel, "_KEEP", 1 << 20)
    F.release_conv_buffers()
    f32 = np.dtype(np.float32)
    conv_kernel.scratch(f32, {"a": 150_000, "b": 50_000})  # 0.8 MB: kept
    assert set(kept()) == {"a", "b"}
    conv_kernel.scratch(f32, {"c": 100_000})  # 0.4 MB more would pass 1 MiB: "a" goes
    assert set(kept()) == {"b", "c"}
    c = kept()["c"]
    conv_kernel.scratch(f32, {"c": 90_000})  # large enough: reused
    assert kept()["c"] is c
    conv_kernel.scratch(f32, {"c": 10_000, "d": 200_000})  # "b" goes, then "c" shrinks to what this call needs
    assert set(kept()) == {"c", "d"}
    assert kept()["c"].nbytes < 41_000
    assert conv_kernel.retained_scratch() <= 1 << 20
    big = conv_kernel.scratch(f32, {"e": 300_000})  # 1.2 MB alone: for this call only
    assert big[0].size == 300_000
    assert set(kept()) == {"c", "d"}
    for view, count in zip(conv_kernel.scratch(f32, {"c": 7, "d": 9}), (7, 9), strict=True):
        assert view.size == count
        assert view.ctypes.data % 64 == 0
        assert view.dtype == f32
    F.release_conv_buffers()


# ---- every layout, chunk by chunk ---------------------------------------------------------------


def layouts(x: Array) -> dict[str, Array]:
    """The same values in C, F, channels-last, strided and negatively strided memory."""
    n, c, h, w = x.shape
    wide = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    wide[:, :, ::2, ::2] = x
    flipped = np.ascontiguousarray(x[::-1, :, ::-1, ::-1])[::-1, :, ::-1, ::-1]
    return {
        "C": np.ascontiguousarray(x),
        "F": np.asfortranarray(x),
        "channels_last": np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
        "strided": wide[:, :, ::2, ::2],
        "negative": flipped,
    }


#: (stride, padding ((top, bottom), (left, right)), kernel): the row trick, the strided im2col, and a
#: 1x1 convolution without padding (a C-contiguous input is read in place, the others are copied).
GEOMETRIES = [
    ((1, 1), ((1, 1), (1, 1)), 3),
    ((2, 2), ((1, 0), (2, 1)), 3),
    ((1, 1), ((0, 0), (0, 0)), 1),
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=["row_trick", "strided", "in_place"])
@pytest.mark.parametrize("chunked", [False, True], ids=["one_chunk", "chunk_per_image"])
@pytest.mark.parametrize("dx_path", ["correlation", "col2im"])
def test_every_layout_gives_the_contiguous_result(
    dtype: type[Any],
    geometry: tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]], int],
    chunked: bool,
    dx_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if chunked:
        monkeypatch.setattr(conv_kernel, "_BUDGET", 1)  # one image per chunk: the planes are rebuilt per chunk

    # the input gradient as a correlation of the output gradient (stride 1) or by col2im
    def pays(out_channels: int, in_channels: int) -> bool:
        return dx_path == "correlation"

    monkeypatch.setattr(conv_kernel, "_correlation_pays", pays)
    stride, padding, k = geometry
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 6, 7)).astype(dtype)
    w = rng.standard_normal((4, 2, k, k)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    results: dict[str, list[Array]] = {}
    for name, xl in layouts(x).items():
        before = xl.copy()
        y, bwd = conv_kernel.conv2d(xl, w, b, stride, padding, (1, 1), 1)
        gy = np.linspace(-1.0, 1.0, y.size).reshape(y.shape).astype(dtype)
        grads = bwd(gy, (True, True, True))
        results[name] = [y, *(g for g in grads if g is not None)]
        np.testing.assert_array_equal(xl, before)  # the input is only read
    assert len(results["C"]) == 4
    for name, got in results.items():
        for want, have in zip(results["C"], got, strict=True):
            assert have.dtype == dtype, name
            np.testing.assert_array_equal(have, want, err_msg=name)


@pytest.mark.parametrize("layout", ["F", "channels_last"])
def test_layouts_through_the_public_api(layout: str) -> None:
    """tt.tensor keeps F and channels-last layouts: Conv2D gives the contiguous input's outputs and gradients."""
    x = np.random.default_rng(4).standard_normal((5, 3, 6, 6))
    conv = nn.Conv2D(3, 4, 3, padding=1, dtype=np.float64, seed=0)
    out: dict[str, list[Array]] = {}
    for name, xl in (("C", layouts(x)["C"]), (layout, layouts(x)[layout])):
        xt = tt.tensor(xl)
        assert xt.numpy().flags.c_contiguous == (name == "C")
        grads = conv.alloc_grads()
        grads.alloc(xt)
        y = conv.forward_mut(xt.trace(grads))
        got = (y * y).sum().backward()
        out[name] = [y.numpy(), got.get(xt).numpy(), got.get(conv.weight).numpy()]
    for want, have in zip(out["C"], out[layout], strict=True):
        np.testing.assert_array_equal(have, want)


def test_strided_views_never_reach_outside_their_buffer() -> None:
    """Every as_strided of the conv kernels goes through one bounds check (a wrong geometry raises, never reads
    or writes past the buffer)."""
    from typedtensor._ops import conv as conv_ops

    flat = np.arange(12.0)
    view = conv_ops._strided(flat, 2, (2, 5), (40, 8), writeable=False)
    np.testing.assert_array_equal(view, [[2, 3, 4, 5, 6], [7, 8, 9, 10, 11]])
    assert conv_ops._strided(flat, 12, (0, 5), (40, 8)).size == 0
    for base, shape in [(3, (2, 5)), (-1, (2, 5)), (0, (13,))]:
        with pytest.raises(tt.ShapeError, match="does not fit its buffer"):
            conv_ops._strided(flat, base, shape, (40, 8)[: len(shape)] if len(shape) == 2 else (8,))
    with pytest.raises(tt.ShapeError, match="does not fit its buffer"):
        conv_ops._strided(np.zeros((3, 4)), 0, (2,), (8,))
