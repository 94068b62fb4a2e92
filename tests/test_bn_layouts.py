# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""BatchNorm on every memory layout: the same values give the same result, bit for bit, whatever the strides.

Each input layout (C, F, channels-last, negative strides, a strided slice) x dtype (float16/32/64) x
kernel path (NumPy's short and blocked paths and long rows; numba's serial fused kernels and its parallel
row kernels, thresholds lowered so small tensors reach them) x module (BatchNorm2D batched and unbatched,
FusedBatchNorm2D with an addend, BatchNorm1D 2-D and 3-D, no running statistics) is compared with the same
call on a C-contiguous copy: inference, the training forward, its gradients and running statistics, and
inplace inference. Also: the kernels' entries refuse output buffers that are not C-contiguous and
per-channel vectors of the wrong size (nothing read out of bounds, nothing written), and the float16
channels-last case of issue 10 at its real size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.bnpaths import PATHS, use_path
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, _bn_backend, _bn_numpy

Array = NDArray[Any]


@pytest.fixture
def kernel_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    before = _bn_backend.current()
    use_path(request.param, monkeypatch)
    yield request.param
    _bn_backend.use(before)


@dataclass(frozen=True)
class Case:
    """A module and the logical shape of its input (channels: 4)."""

    name: str
    cls: Any
    shape: tuple[int, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def channel_axis(self) -> int:
        return 0 if self.cls is not BatchNorm1D and len(self.shape) == 3 else 1

    @property
    def fused(self) -> bool:
        return self.cls is FusedBatchNorm2D

    def module(self, dtype: type[Any], **extra: Any) -> Any:
        bn = self.cls(4, dtype=dtype, **dict(self.kwargs), **extra)
        if bn.scale is not None:
            bn.scale._data[...] = [1.5, 0.5, -1.0, 2.0]
            bn.bias._data[...] = [0.25, -0.5, 0.0, 1.0]
        if bn.running_mean is not None:
            bn.running_mean._data[...] = [0.5, -0.25, 1.0, 0.0]
            bn.running_var._data[...] = [2.0, 0.5, 1.0, 4.0]
        return bn


CASES = [
    Case("bn2d", BatchNorm2D, (3, 4, 5, 6)),
    Case("fused", FusedBatchNorm2D, (3, 4, 5, 6)),
    Case("bn2d-unbatched", BatchNorm2D, (4, 5, 6)),
    Case("bn1d-2d", BatchNorm1D, (9, 4)),
    Case("bn1d-3d", BatchNorm1D, (3, 4, 7)),
    Case("bn2d-no-running-stats", BatchNorm2D, (3, 4, 5, 6), (("track_running_stats", False),)),
]
LAYOUTS = ["C", "F", "channels-last", "negative-strides", "strided-slice"]
DTYPES = [np.float16, np.float32, np.float64]


def _laid_out(values: Array, layout: str, channel_axis: int) -> tt.Tensor[Any, Any, Any]:
    """An untraced tensor holding ``values`` in ``layout`` (views made with the public ops)."""
    nd = values.ndim
    if layout == "C":
        t = tt.tensor(values)
    elif layout == "F":
        t = tt.tensor(np.asfortranarray(values))
    elif layout == "channels-last":
        order = [a for a in range(nd) if a != channel_axis] + [channel_axis]
        t = tt.tensor(np.ascontiguousarray(values.transpose(order))).permute(tuple(int(a) for a in np.argsort(order)))
    elif layout == "negative-strides":
        flip = (slice(None, None, -1),) * nd
        t = tt.tensor(np.ascontiguousarray(values[flip]))[flip]
    else:  # strided-slice: every other element of the last axis, from an offset
        base = np.zeros((*values.shape[:-1], 2 * values.shape[-1] + 1), values.dtype)
        base[..., 1::2] = values
        t = tt.tensor(base)[..., 1::2]
    data = t._data
    np.testing.assert_array_equal(data, values)
    if layout != "C":  # the layout under test really reaches the module
        assert not data.flags.c_contiguous or (layout == "channels-last" and nd == 2), (layout, data.strides)
    if layout == "negative-strides":
        assert all(s < 0 for s in data.strides)
    return t


def _values(shape: tuple[int, ...], dtype: type[Any], seed: int) -> Array:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 1.5 + 0.5).astype(dtype)


def _inference(case: Case, dtype: type[Any], layout: str) -> dict[str, Array]:
    bn = case.module(dtype)
    x = _laid_out(_values(case.shape, dtype, 0), layout, case.channel_axis)
    if case.fused:
        addend = _laid_out(_values(case.shape, dtype, 1), layout, case.channel_axis)
        return {"y": bn.forward(x, addend).numpy()}
    return {"y": bn.forward(x).numpy()}


def _training(case: Case, dtype: type[Any], layout: str) -> dict[str, Array]:
    bn = case.module(dtype)
    x = _laid_out(_values(case.shape, dtype, 0), layout, case.channel_axis)
    w = tt.tensor(_values(case.shape, dtype, 2))
    grads = bn.alloc_grads()
    grads.alloc(x)
    addend = _laid_out(_values(case.shape, dtype, 1), layout, case.channel_axis) if case.fused else None
    if addend is not None:
        grads.alloc(addend)
        y = bn.forward_mut(x.trace(grads), addend.trace(grads))
    else:
        y = bn.forward_mut(x.trace(grads))
    (y * w).sum().backward()
    out = {"y": y.numpy(), "dx": grads.get(x).numpy()}
    if addend is not None:
        out["daddend"] = grads.get(addend).numpy()
    if bn.scale is not None:
        out["dscale"], out["dbias"] = grads.get(bn.scale).numpy(), grads.get(bn.bias).numpy()
    if bn.running_mean is not None:
        out["running_mean"], out["running_var"] = bn.running_mean.numpy(), bn.running_var.numpy()
    return out


def _assert_same(actual: dict[str, Array], expected: dict[str, Array], what: str) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].dtype == value.dtype, (what, key)
        # The module copies any layout to C order first: the arithmetic is the same, so are the bits.
        np.testing.assert_array_equal(actual[key], value, err_msg=f"{what}: {key}")


def _reference_forward(case: Case, xv: Array, training: bool) -> Array:
    """The formula in float64: a check that the contiguous result itself is right."""
    x = xv.astype(np.float64)
    c = case.channel_axis
    axes = tuple(a for a in range(x.ndim) if a != c)
    shape = [1] * x.ndim
    shape[c] = 4
    bn = case.module(np.float64)
    if training or bn.running_mean is None:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = bn.running_mean.numpy().reshape(shape), bn.running_var.numpy().reshape(shape)
    y = (x - mean) / np.sqrt(var + bn.eps) * bn.scale.numpy().reshape(shape) + bn.bias.numpy().reshape(shape)
    if case.fused:
        y = np.maximum(y + _values(case.shape, xv.dtype.type, 1).astype(np.float64), 0)
    result: Array = y
    return result


TOL = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("kernel_path", list(PATHS), indirect=True)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_layout_gives_the_contiguous_result(kernel_path: str, dtype: type[Any], case: Case) -> None:
    infer_ref, train_ref = _inference(case, dtype, "C"), _training(case, dtype, "C")
    xv = _values(case.shape, dtype, 0)
    for training, ref in ((False, infer_ref), (True, train_ref)):
        expected = _reference_forward(case, xv, training)
        np.testing.assert_allclose(ref["y"].astype(np.float64), expected, rtol=TOL[dtype], atol=TOL[dtype])
    for layout in LAYOUTS:
        if layout == "channels-last" and len(case.shape) == 2:
            continue  # (N, C) channels-last is C order
        _assert_same(_inference(case, dtype, layout), infer_ref, f"{kernel_path} inference {layout}")
        _assert_same(_training(case, dtype, layout), train_ref, f"{kernel_path} training {layout}")


def _forward(bn: Any, x: tt.Tensor[Any, Any, Any], case: Case, dtype: type[Any]) -> Any:
    return bn.forward(x, tt.tensor(_values(case.shape, dtype, 1))) if case.fused else bn.forward(x)


@pytest.mark.parametrize("kernel_path", list(PATHS), indirect=True)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", [c for c in CASES if c.kwargs == ()], ids=lambda c: c.name)
def test_inplace_inference_writes_the_contiguous_result_or_refuses(
    kernel_path: str, dtype: type[Any], case: Case
) -> None:
    expected = _inference(case, dtype, "C")["y"]
    for layout in LAYOUTS:
        bn = case.module(dtype, inplace=True)
        x = _laid_out(_values(case.shape, dtype, 0), layout, case.channel_axis)
        if layout == "C":
            y = _forward(bn, x, case, dtype)
            np.testing.assert_array_equal(y.numpy(), expected, err_msg=f"{kernel_path} {layout}")
            np.testing.assert_array_equal(x.numpy(), expected, err_msg=f"{kernel_path} {layout}: x holds y")
            continue
        before = x.numpy().copy()
        try:
            y = _forward(bn, x, case, dtype)
        except tt.TypedTensorError:  # a buffer it cannot write in place: refused, x untouched
            np.testing.assert_array_equal(x.numpy(), before)
            continue
        np.testing.assert_array_equal(y.numpy(), expected, err_msg=f"{kernel_path} {layout}")
        np.testing.assert_array_equal(x.numpy(), expected, err_msg=f"{kernel_path} {layout}: x holds y")


@pytest.mark.parametrize("backend", _bn_backend.available())
def test_float16_channels_last_at_the_size_of_issue_10(backend: str) -> None:
    """The reported case: (4, 80, 50, 50) float16 channels-last took numba's parallel inference (>= 256k
    elements), whose output buffer was a silent copy: the result was garbage."""
    before = _bn_backend.current()
    _bn_backend.use(backend)
    try:
        x_cl = np.ascontiguousarray(np.random.default_rng(0).standard_normal((4, 50, 50, 80)).astype(np.float16))
        x_cl = x_cl.transpose(0, 3, 1, 2)
        bn: Any = BatchNorm2D(80, dtype=np.float16)
        bn.running_mean._data[...] = np.linspace(-1, 1, 80)
        bn.running_var._data[...] = np.linspace(0.5, 2, 80)
        y = bn.forward(tt.tensor(x_cl)).numpy()
        np.testing.assert_array_equal(y, bn.forward(tt.tensor(np.ascontiguousarray(x_cl))).numpy())
        expected = (x_cl.astype(np.float64) - np.linspace(-1, 1, 80)[:, None, None]) / np.sqrt(
            np.linspace(0.5, 2, 80)[:, None, None] + 1e-5
        )
        np.testing.assert_allclose(y.astype(np.float64), expected, rtol=2e-3, atol=2e-3)
    finally:
        _bn_backend.use(before)


# ---- the kernels' entries --------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_path", list(PATHS), indirect=True)
def test_kernel_entries_refuse_buffers_they_cannot_write(kernel_path: str) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    a, b = np.ones(3), np.zeros(3)
    cases: list[tuple[Array, str]] = [
        (np.zeros((2, 8, 3), np.float32).transpose(0, 2, 1), "out must be C-contiguous"),
        (np.zeros((2, 3, 16), np.float32)[:, :, ::2], "out must be C-contiguous"),
        (np.zeros((2, 3, 8), np.float64), "out must have x's dtype float32"),
        (np.zeros((2, 3, 7), np.float32), r"out must have x's shape \(2, 3, 8\)"),
    ]
    for bad, fragment in cases:
        before = bad.copy()
        with pytest.raises(tt.TypedTensorError, match=fragment):
            _bn_backend.affine(x, a, b, bad)
        with pytest.raises(tt.TypedTensorError, match=fragment):
            _bn_backend.combine(x, x, a, a, b, bad)
        with pytest.raises(tt.TypedTensorError, match=fragment):
            _bn_backend.infer(x, b, a, None, None, 1e-5, bad)
        np.testing.assert_array_equal(bad, before)  # nothing written
    frozen = np.zeros_like(x)
    frozen.flags.writeable = False
    with pytest.raises(tt.TypedTensorError, match="read-only"):
        _bn_backend.affine(x, a, b, frozen)
    with pytest.raises(tt.TypedTensorError, match="x must be C-contiguous"):
        _bn_backend.stats(np.asfortranarray(x))
    with pytest.raises(tt.DTypeError, match="x must be float32 or float64"):
        _bn_backend.stats(x.astype(np.float16))
    with pytest.raises(tt.ShapeError, match=r"x must be an \(N, C, L\) array"):
        _bn_backend.stats(x[0])
    with pytest.raises(tt.ShapeError, match="g must have x's shape"):
        _bn_backend.grad_sums(x[:1], x, np.zeros(3))
    _, _, _, save = _bn_backend.train_small(x, None, None, 1e-5)
    with pytest.raises(tt.TypedTensorError, match="g must be C-contiguous"):
        _bn_backend.backward_small(np.asfortranarray(x), save)
    with pytest.raises(tt.TypedTensorError, match="rows are one view"):
        _bn_numpy.row_view(x.transpose(1, 0, 2))


@pytest.mark.parametrize("kernel_path", list(PATHS), indirect=True)
@pytest.mark.parametrize("field", ["running_mean", "running_var", "scale", "bias"])
@pytest.mark.parametrize("size", [3, 9, 11])
def test_a_wrong_size_field_is_refused_not_read_out_of_bounds(kernel_path: str, field: str, size: int) -> None:
    """A per-channel field of the wrong size (set behind the module's back) is a ShapeError naming it,
    from the layer's own check or else at the kernels' entry: the compiled kernels would read past its end."""
    bn: Any = BatchNorm2D(10)
    getattr(bn, field)._data = np.ones(size, np.float32)
    x = tt.tensor(np.random.default_rng(0).standard_normal((2, 10, 3, 3)).astype(np.float32))
    with pytest.raises(tt.ShapeError, match=rf"{field}\b.*\({size},\)"):
        bn.forward(x)
    # the kernels' entries themselves, whoever calls them
    fields = {name: np.ones(size if name == field else 10) for name in ("running_mean", "running_var", "scale", "bias")}
    with pytest.raises(tt.ShapeError, match=rf"{field} has shape \({size},\) but the input has 10 channels"):
        _bn_backend.infer(
            x._data.reshape(2, 10, 9),
            fields["running_mean"],
            fields["running_var"],
            fields["scale"],
            fields["bias"],
            1e-5,
            np.empty((2, 10, 9), np.float32),
        )
    with pytest.raises(tt.ShapeError, match=rf"scale has shape \({size},\)"):
        _bn_backend.train_small(x._data.reshape(2, 10, 9), np.ones(size), None, 1e-5)
