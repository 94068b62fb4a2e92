# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""PyTorch's BatchNorm tests, ported to typedtensor's API (our own code; each test names its original).

Sources: test/test_nn.py (TestNN and TestNNDeviceType) and the BatchNorm ModuleInfo entries of
torch/testing/_internal/common_modules.py with the tests of test/test_modules.py that consume them.
Translations, where typedtensor expresses a behaviour differently:

* ``module.train()`` / ``module.eval()`` is the tape of the input: ``forward_mut`` (traced input) is a
  training step, ``forward`` (untraced) is inference. Inference is not differentiable in typedtensor;
  PyTorch's eval-mode gradients are ported through ``freeze=True`` (normalise with the running
  statistics, update nothing, the input gets its gradient; scale and bias get none).
* Errors are ``typedtensor.TypedTensorError`` subclasses (``ShapeError`` for sizes) instead of
  ``ValueError`` / ``RuntimeError``.
* ``weight`` is ``scale``. A mixed-precision module (16-bit input, float32 parameters) is refused
  (``DTypeError``): those tests run a float16 module. There is no BatchNorm3D, no bfloat16, no CUDA:
  the CUDA-only tests run on the CPU kernels, at sizes that reach the parallel numba paths.
* Values are compared with committed PyTorch results (tests/golden/port_batchnorm.npz, written by
  tests/golden/make_port_golden.py) and, when torch is installed, with a live torch too.

Every test runs on each BatchNorm kernel backend (the ``backend`` fixture of tests/test_batchnorm.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.fd import numeric_gradient
from tests.golden.make_port_golden import (
    LAYOUTS,
    MODULE_INFO_CASES,
    Case,
    grad_setup,
    half_input,
    laid_out,
    make_ours,
    run_ours,
    run_torch,
    run_torch_grad,
    run_torch_half,
    torch_module,
)
from tests.test_batchnorm import backend as backend  # every test on every kernel backend
from typedtensor.nn import BatchNorm1D, BatchNorm2D, SyncBatchNorm2D, _bn_backend

GOLDEN = np.load(Path(__file__).parent / "golden" / "port_batchnorm.npz")
Array = NDArray[Any]
F16, F32, F64 = np.float16, np.float32, np.float64
#: (rtol, atol) of a float32 / float16 run against PyTorch's float64 results on the same inputs.
LOW_PRECISION = {F32: (2e-6, 2e-6), F16: (3e-3, 8e-3)}


def _golden(prefix: str) -> dict[str, Array]:
    return {k[len(prefix) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(prefix + "/")}


def _close(ours: dict[str, Array], theirs: dict[str, Array], rtol: float, atol: float, what: str = "") -> None:
    assert sorted(ours) == sorted(theirs)
    for k in theirs:
        np.testing.assert_allclose(ours[k].astype(F64), theirs[k], rtol=rtol, atol=atol, err_msg=f"{what} {k}")


@functools.cache
def _live_torch(case: Case) -> dict[str, Array]:
    return run_torch(case)  # once per case: PyTorch's results do not depend on our backend


def _versus_torch(case: Case, ours: dict[str, Array], rtol: float, atol: float, live: bool = True) -> None:
    """Compare with the committed PyTorch results and, if ``live`` and torch is installed, a live run."""
    _close(ours, _golden(case.key), rtol, atol)
    if live and torch_module() is not None:
        _close(ours, _live_torch(case), rtol, atol)


def _train(bn: Any, x: Any, w: Any) -> tuple[Any, Any]:
    """One training step with loss sum(y * w): (y, grads), x's gradient kept."""
    grads = bn.alloc_grads()
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    (y * w).sum().backward()
    return y, grads


# ---- common_modules.py ModuleInfo inputs -----------------------------------------------------


@pytest.mark.parametrize("case", MODULE_INFO_CASES, ids=[c.name for c in MODULE_INFO_CASES])
def test_module_info_inputs_forward_and_grad(case: Case) -> None:
    """Port of common_modules.py module_inputs_torch_nn_BatchNorm1d/2d as test_modules.py
    TestModule.test_forward and test_grad use them: each constructor argument set and input (eps,
    momentum incl. None, affine, track_running_stats, zero batch, bias=False), two training steps
    (outputs, input/scale/bias gradients, running statistics, num_batches_tracked), then eval. float64
    against PyTorch's float64 results (committed and live); float32 and float16 (test_forward's other
    CPU dtypes) against the committed ones within their precision.

    ``affine_not_bias``: typedtensor has no ``bias=False``; it runs with affine=True and the bias at 0
    (equal outputs and scale gradients; its bias gradient has no PyTorch counterpart and is not compared).
    ``2d_unbatched`` is typedtensor's (C, H, W) form, PyTorch given a batch dim of 1.
    """
    _versus_torch(case, run_ours(case), rtol=1e-10, atol=1e-12)
    for dtype, (rtol, atol) in LOW_PRECISION.items():
        _versus_torch(case, run_ours(case, dtype), rtol=rtol, atol=atol, live=False)


LAYOUT_NAMES = ("1d_affine", "1d_3d_input", "2d_default", "2d_not_tracking_stats", "2d_unbatched")
#: One ModuleInfo input per input form ((N, C), (N, C, L), (N, C, H, W), (C, H, W)) and inference path.
LAYOUT_CASES = [c for c in MODULE_INFO_CASES if c.name in LAYOUT_NAMES]


@pytest.mark.parametrize("case", LAYOUT_CASES, ids=[c.name for c in LAYOUT_CASES])
def test_module_info_inputs_every_layout(case: Case) -> None:
    """Port of test_modules.py TestModule.test_non_contiguous_tensors (every other element of a doubled
    last axis) and test_memory_format (channels-last) on the BatchNorm ModuleInfo inputs (one per input
    form: (N, C), (N, C, L), (N, C, H, W), unbatched, and batch statistics in inference), extended to F
    order and a slice of a larger buffer with negative strides, for inputs and loss weights (the
    upstream gradient), in float64, float32 and float16: every result equals the C-contiguous one."""
    for dtype, tol in ((F64, 1e-13), (F32, 1e-6), (F16, 1e-3)):  # about an ulp: equal in practice
        reference = run_ours(case, dtype, "C")
        for layout in LAYOUTS[1:]:
            _close(run_ours(case, dtype, layout), reference, tol, tol, f"{np.dtype(dtype).name} {layout}")


def _reference(x: Array, scale: Array, bias: Array, channel_axis: int, eps: float, stats: Any = None) -> Array:
    """BatchNorm written out in float64 NumPy, the function the finite differences differentiate:
    batch statistics (biased variance), or the given (mean, variance)."""
    axes = tuple(a for a in range(x.ndim) if a != channel_axis)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if stats is None else stats
    shape = [-1 if a == channel_axis else 1 for a in range(x.ndim)]

    def per_channel(v: Array) -> Array:
        return np.reshape(v, shape)

    return (x - per_channel(mean)) / np.sqrt(per_channel(var) + eps) * per_channel(scale) + per_channel(bias)


@pytest.mark.parametrize("name", ["1d_3d_input", "2d_unbatched"])
def test_module_info_inputs_gradcheck(name: str) -> None:
    """Port of test_modules.py TestModule.test_grad (gradcheck) on two BatchNorm ModuleInfo inputs:
    the training step's input, scale and bias gradients against central differences of the NumPy
    reference (float64)."""
    case = next(c for c in MODULE_INFO_CASES if c.name == name)
    x0, w = case.x(0), case.w(0)
    channel_axis = 0 if case.unbatched else 1

    def loss(v: list[Array]) -> float:
        return float((_reference(v[0], v[1], v[2], channel_axis, case.eps) * w).sum())

    bn = make_ours(case, F64)
    x = tt.tensor(x0)
    _, grads = _train(bn, x, tt.tensor(w))
    analytic = [grads.get(x), grads.get(bn.scale), grads.get(bn.bias)]
    for i, g in enumerate(analytic):
        numeric = numeric_gradient(loss, [x0, *case.scale_bias()], i)
        np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [BatchNorm1D, BatchNorm2D], ids=["BatchNorm1d", "BatchNorm2d"])
def test_module_error_inputs_eps(cls: Any) -> None:
    """Port of common_modules.py module_error_inputs_torch_nn_BatchNorm1d_2d_3d: eps=-1.0 and eps=0.0
    are errors ("eps must be positive") on forward. typedtensor (issue 10.8) refuses a negative eps when
    the module is built, and eps=0 for a training step; inference with eps=0 is fine (as PyTorch's
    eval), and gives (x - running_mean) / sqrt(running_var)."""
    shape = (2, 10) if cls is BatchNorm1D else (2, 10, 5, 5)
    x = tt.tensor(np.random.default_rng(0).standard_normal(shape).astype(F32))
    with pytest.raises(tt.TypedTensorError, match="eps"):
        cls(10, eps=-1.0)
    bn = cls(10, eps=0.0)
    with pytest.raises(tt.TypedTensorError, match="eps must be positive"):
        bn.forward_mut(x.leaky_trace())
    assert bn.num_batches_tracked == 0
    np.testing.assert_array_equal(bn.forward(x).numpy(), x.numpy())


# ---- test_nn.py TestNN --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 8, 10, 10), (4, 1, 9, 9), (4, 9, 1, 1)], ids=["NCHW", "N1HW", "NC11"])
def test_batchnorm_nhwc_cpu(shape: tuple[int, int, int, int]) -> None:
    """Port of test_nn.py TestNN.test_batchnorm_nhwc_cpu (BatchNorm2d part): a training step on a
    channels-last input with a channels-last upstream gradient equals the contiguous one (output,
    scale, bias and input gradients, running statistics), in float32, float16 and float64, with
    uniform random scale and bias as there. Its mixed_dtype runs (16-bit input, float32 module) are
    refused by typedtensor: a DTypeError."""
    rng = np.random.default_rng(1)
    xv, gv = rng.standard_normal(shape), rng.standard_normal(shape)
    state = {"scale": rng.uniform(size=shape[1]), "bias": rng.uniform(size=shape[1])}
    for dtype, rtol, atol in ((F32, 1.3e-6, 1e-5), (F16, 1e-3, 1e-5), (F64, 1e-12, 1e-12)):
        results: list[list[Array]] = []
        for layout in ("channels_last", "C"):
            bn: Any = BatchNorm2D(shape[1], dtype=dtype)
            bn.load_state_dict(state, strict=False)
            x = laid_out(xv, layout, dtype)
            y, grads = _train(bn, x, laid_out(gv, layout, dtype))
            tensors = [y, grads.get(bn.scale), grads.get(bn.bias), grads.get(x), bn.running_mean, bn.running_var]
            results.append([t.numpy().astype(F64) for t in tensors])
        for ours, ref in zip(*results, strict=True):
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=np.dtype(dtype).name)
    mixed: Any = BatchNorm2D(shape[1], dtype=F32)
    with pytest.raises(tt.DTypeError, match="holds float32 parameters but the input is float16"):
        mixed.forward_mut(laid_out(xv, "channels_last", F16).leaky_trace())


@pytest.mark.parametrize(
    ("shape", "x_layout", "g_layout"),
    [
        ((8, 3, 96, 96), "C", "C"),
        ((8, 3, 96, 96), "C", "channels_last"),
        ((8, 3, 96, 96), "channels_last", "C"),
        ((8, 3, 96, 96), "channels_last", "channels_last"),
        ((4, 4, 256, 256), "channels_last", "channels_last"),  # > 1M elements: numba's parallel training
    ],
)
def test_batchnorm_half_overflow(shape: tuple[int, ...], x_layout: Any, g_layout: Any) -> None:
    """Port of test_nn.py TestNN.test_batchnorm_half_overflow (BatchNorm2d part): float16 training with
    more values per channel than float16 can sum (> 65504; 262144 and 73728 here) gives no inf or NaN and
    equals the float32 module on the same values, forward and backward (uniform(0, 1) upstream gradient),
    for contiguous and channels-last forward/backward layouts. PyTorch runs the backward only with
    float32 parameters (mixed precision, refused by typedtensor): the module is float16 throughout and
    only the input's gradient is requested (the bias gradient, sum(g) over 262144 values, exceeds float16)."""
    xv, gv = _half_overflow_inputs(shape)
    bn: Any = BatchNorm2D(shape[1], dtype=F16)
    x = laid_out(xv, x_layout, F16)
    grads = tt.Gradients()  # the input's gradient only (see the docstring)
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    (y * laid_out(gv, g_layout, F16)).sum().backward()
    for half, ref in zip((y.numpy(), grads.get(x).numpy()), _half_overflow_reference(shape), strict=True):
        assert np.isfinite(half).all()
        np.testing.assert_allclose(half.astype(F64), ref, rtol=1e-3, atol=2e-3)


def _half_overflow_inputs(shape: tuple[int, ...]) -> tuple[Array, Array]:
    """A float16 standard normal batch and a float16 uniform(0, 1) upstream gradient, as float64."""
    rng = np.random.default_rng(2)
    return rng.standard_normal(shape).astype(F16).astype(F64), rng.uniform(0.0, 1.0, shape).astype(F16).astype(F64)


@functools.cache
def _half_overflow_reference(shape: tuple[int, ...]) -> tuple[Array, Array]:
    """Output and input gradient of a float32 module on the same values (NumPy kernels, contiguous)."""
    xv, gv = _half_overflow_inputs(shape)
    before = _bn_backend.current()
    _bn_backend.use("numpy")
    try:
        x = tt.tensor(xv.astype(F32))
        y, grads = _train(BatchNorm2D(shape[1]), x, tt.tensor(gv.astype(F32)))
        return y.numpy().astype(F64), grads.get(x).numpy().astype(F64)
    finally:
        _bn_backend.use(before)


@pytest.mark.parametrize("cls", [BatchNorm2D, SyncBatchNorm2D], ids=["BatchNorm2d", "SyncBatchNorm"])
def test_batchnorm_non_contig_cpu(cls: Any) -> None:
    """Port of test_nn.py TestNN.test_batchnorm_non_contig_cpu: inference on arange(6) viewed (1, 3, 2, 1)
    and permuted to (1, 2, 3, 1) (channels not outermost) equals inference on a contiguous copy, with
    uniform scale and bias; then a float16 arange(24) permuted to (1, 2, 3, 4) is within 0.05 of float32.
    PyTorch also asserts the output keeps the channels-last layout; typedtensor promises values, not the
    output's memory layout, so that is not ported. The 16-bit part runs a float16 module (no mixed precision)."""
    rng = np.random.default_rng(3)
    permuted = tt.tensor(np.arange(6, dtype=F32).reshape(1, 3, 2, 1)).permute((0, 2, 1, 3))
    assert not permuted.numpy().flags.c_contiguous
    bn = cls(2)
    bn.load_state_dict({"scale": rng.uniform(size=2), "bias": rng.uniform(size=2)}, strict=False)
    ref: Any = BatchNorm2D(2)
    ref.load_state_dict(bn.state_dict())
    expected = ref.forward(tt.tensor(np.ascontiguousarray(permuted.numpy()))).numpy()
    np.testing.assert_allclose(bn.forward(permuted).numpy(), expected, rtol=1.3e-6, atol=1e-5)
    half = tt.tensor(np.arange(24, dtype=F16).reshape(1, 3, 2, 4)).permute((0, 2, 1, 3))
    out16 = cls(2, dtype=F16).forward(half).numpy()
    out32 = cls(2).forward(half.astype(F32)).numpy()
    assert out16.dtype == F16
    np.testing.assert_allclose(out16.astype(F32), out32, rtol=0.05, atol=0.05)


def test_batchnorm_cudnn_half() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_cudnn_half on the CPU: a float16 BatchNorm2D(3) trained on
    integers 1..9 keeps float16 (output and input gradient) and matches PyTorch's float16 module (CPU,
    committed and live); the input gradient of sum(y) is 0 up to rounding (atol 1e-3 as there)."""
    bn: Any = BatchNorm2D(3, dtype=F16)
    x = tt.tensor(half_input())
    grads = bn.alloc_grads()
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    y.sum().backward()
    dx = grads.get(x)
    assert y.dtype == F16
    assert dx.dtype == F16
    theirs = [_golden("torch/half")] + ([run_torch_half()] if torch_module() is not None else [])
    for t in theirs:
        np.testing.assert_allclose(y.numpy().astype(F32), t["y"].astype(F32), rtol=1e-3, atol=2e-3)
        np.testing.assert_allclose(dx.numpy().astype(F32), t["dx"].astype(F32), atol=1e-3)
        np.testing.assert_allclose(bn.running_var.numpy().astype(F32), t["rv"].astype(F32), rtol=1e-3)


def test_batchnorm_nonaffine_cuda_half_input() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_nonaffine_cuda_half_input on the CPU: a float16 batch
    through a non-affine BatchNorm2D(3), in training and in inference, keeps float16. (PyTorch keeps the
    module in float32; typedtensor refuses mixed dtypes, so the module is float16.)"""
    x = tt.tensor(np.random.default_rng(4).standard_normal((16, 3, 24, 24)).astype(F16))
    bn: Any = BatchNorm2D(3, affine=False, dtype=F16)
    assert bn.forward_mut(x.leaky_trace()).dtype == F16
    assert bn.forward(x).dtype == F16


def test_batchnorm_raises_error_if_less_than_one_value_per_channel() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_less_than_one_value_per_channel: training
    BatchNorm1d(10) on a (1, 10, 1) input is an error (a ShapeError here, ValueError there)."""
    bn: Any = BatchNorm1D(10)
    x = tt.tensor(np.random.default_rng(5).uniform(size=10).astype(F32)[None, :, None])
    with pytest.raises(tt.ShapeError, match="Expected more than 1 value per channel when training"):
        bn.forward_mut(x.leaky_trace())


def _refused_wrong_size(attr: str) -> None:
    """A 9- or 11-element ``attr`` on a 10-channel BatchNorm1D is refused with a ShapeError naming it:
    either when it is assigned (the module keeps its own) or by every forward that would read it."""
    for size in (9, 11):
        _refused_one_wrong_size(attr, size)


def _refused_one_wrong_size(attr: str, size: int) -> None:
    rng = np.random.default_rng(size)
    bn: Any = BatchNorm1D(10)
    x = tt.tensor(rng.uniform(size=(2, 10)).astype(F32))
    bad = tt.tensor(rng.uniform(size=size).astype(F32))
    refused: tt.ShapeError | None = None
    try:
        setattr(bn, attr, bad)
    except tt.ShapeError as e:
        refused = e
    if refused is not None:
        assert attr in str(refused)
        assert getattr(bn, attr).shape == (10,)
        return
    with pytest.raises(tt.ShapeError, match=attr):
        bn.forward(x)
    with pytest.raises(tt.ShapeError, match=attr):
        bn.forward_mut(x.leaky_trace())


def test_batchnorm_raises_error_if_running_mean_is_not_same_size_as_input() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_running_mean_is_not_same_size_as_input:
    PyTorch passes a wrong-size running_mean to F.batch_norm; typedtensor's statistics are module fields,
    so the port assigns one (issue 10.2: refused, never read out of bounds)."""
    _refused_wrong_size("running_mean")


def test_batchnorm_raises_error_if_running_var_is_not_same_size_as_input() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_running_var_is_not_same_size_as_input
    (as the running_mean port)."""
    _refused_wrong_size("running_var")


def test_batchnorm_raises_error_if_weight_is_not_same_size_as_input() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_weight_is_not_same_size_as_input
    (PyTorch's weight is typedtensor's scale)."""
    _refused_wrong_size("scale")


def test_batchnorm_raises_error_if_bias_is_not_same_size_as_input() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_bias_is_not_same_size_as_input."""
    _refused_wrong_size("bias")


def test_batchnorm_raises_error_if_running_var_or_running_mean_have_forward_grad() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_raises_error_if_running_var_or_running_mean_have_forward_grad:
    PyTorch refuses a running statistic carrying a forward-mode tangent (not differentiable). typedtensor
    has no forward mode; its running statistics are buffers, never parameters, and a training step
    records no gradient for them while the input, scale and bias get theirs."""
    bn: Any = BatchNorm1D(2, dtype=F64)
    assert [n for n, _ in bn.named_parameters()] == ["scale", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    x = tt.tensor(np.random.default_rng(6).standard_normal((3, 2, 5)))
    _, grads = _train(bn, x, tt.tensor(np.ones((3, 2, 5))))
    assert grads.get(x).shape == (3, 2, 5)
    for stat in (bn.running_mean, bn.running_var):
        with pytest.raises(tt.TapeError, match="no gradient is stored"):
            grads.get(stat)


def test_batchnorm_buffer_update_when_stats_are_not_tracked() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_buffer_update_when_stats_are_not_tracked: BatchNorm1d(4)
    built with tracked statistics, then ``track_running_stats = False``: a training step on a (32, 4) batch
    updates no buffer. Issue 10.9 allows typedtensor either to honour the change (this test then also
    checks the step normalised with the batch statistics) or to refuse the assignment with an error naming
    the attribute, leaving the module as built."""
    bn: Any = BatchNorm1D(4, dtype=F64)
    before = bn.state_dict()
    xv = np.random.default_rng(7).uniform(size=(32, 4))
    refused: tt.TypedTensorError | None = None
    try:
        bn.track_running_stats = False
    except tt.TypedTensorError as e:
        refused = e
    if refused is not None:
        assert "track_running_stats" in str(refused)
        assert bn.track_running_stats is True
        return
    y = bn.forward_mut(tt.tensor(xv).leaky_trace()).numpy()
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    np.testing.assert_allclose(y, (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-5), rtol=1e-10)


@pytest.mark.parametrize("dtype", [F16, F32], ids=["half", "float"])
def test_batchnorm_nhwc_cuda(dtype: type[Any]) -> None:
    """Port of test_nn.py TestNN.test_batchnorm_nhwc_cuda on the CPU: inference of BatchNorm2d(64) on a
    (2, 64, 50, 50) batch (320000 elements: numba's parallel inference) gives exactly the same values
    for the contiguous and the channels-last copy (torch.equal), in float16 and float32."""
    xv = np.random.default_rng(8).standard_normal((2, 64, 50, 50))
    bn: Any = BatchNorm2D(64, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=dtype)
    contiguous = bn.forward(laid_out(xv, "C", dtype)).numpy()
    np.testing.assert_array_equal(bn.forward(laid_out(xv, "channels_last", dtype)).numpy(), contiguous)


def test_batchnorm_load_state_dict() -> None:
    """Port of test_nn.py TestNN.test_batchnorm_load_state_dict: num_batches_tracked is 0 in a new module's
    state_dict, shows a value assigned to it (10), and loading an empty state dict non-strictly keeps it.
    (The meta-device half of the test has no typedtensor counterpart.)"""
    bn: Any = BatchNorm2D(3)
    assert bn.state_dict()["num_batches_tracked"] == 0
    bn.num_batches_tracked = 10
    assert bn.state_dict()["num_batches_tracked"] == 10
    bn.load_state_dict({}, strict=False)
    assert bn.state_dict()["num_batches_tracked"] == 10
    assert bn.num_batches_tracked == 10


def test_batch_norm_update_stats() -> None:
    """Port of test_nn.py TestNN.test_batch_norm_update_stats: PyTorch's low-level
    torch.batch_norm_update_stats refuses a (0, 1) input. typedtensor has no such function; its module
    takes an empty batch as PyTorch's module does: an empty output, the running statistics unchanged,
    the counter incremented."""
    bn: Any = BatchNorm1D(1, dtype=F64)
    bn.load_state_dict({"running_mean": np.array([0.3]), "running_var": np.array([0.7])}, strict=False)
    y = bn.forward_mut(tt.tensor(np.zeros((0, 1))).leaky_trace())
    assert y.shape == (0, 1)
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0.3])
    np.testing.assert_array_equal(bn.running_var.numpy(), [0.7])
    assert bn.num_batches_tracked == 1


# ---- test_nn.py TestNNDeviceType -----------------------------------------------------------------


def test_batchnorm_grad() -> None:
    """Port of test_nn.py TestNNDeviceType.test_batchnorm_grad (_test_batchnorm_grad): F.batch_norm on
    arange(120) as (4, 5, 6), weight 1..5, bias 0..4, running_mean 1 - c, running_var 2c (channel 0 has
    variance 0), momentum 0.1, eps 1e-4, training False and True, gradcheck'ed. Here the gradients of
    sum(y * w) are checked against central differences and PyTorch's (committed and live), as are the
    outputs and updated statistics. Training is forward_mut; eval is forward for the output and
    freeze=True forward_mut for the input gradient (typedtensor's eval is not differentiable; frozen
    scale and bias get no gradient, so PyTorch's eval weight/bias gradients are not compared). PyTorch's
    gradgradcheck has no counterpart (typedtensor has no double backward)."""
    s = grad_setup()
    theirs = [_golden("torch/grad")] + ([run_torch_grad()] if torch_module() is not None else [])

    def module(freeze: bool, weight: Array, bias: Array) -> Any:
        bn: Any = BatchNorm1D(5, eps=1e-4, momentum=0.1, freeze=freeze, dtype=F64)
        stats = {"running_mean": s["running_mean"], "running_var": s["running_var"]}
        bn.load_state_dict({"scale": weight, "bias": bias, **stats}, strict=False)
        return bn

    for mode, freeze in (("train", False), ("eval", True)):
        stats = (s["running_mean"], s["running_var"]) if freeze else None

        def loss(v: list[Array], stats: Any = stats) -> float:
            return float((_reference(v[0], v[1], v[2], 1, 1e-4, stats) * s["w"]).sum())

        bn = module(freeze, s["weight"], s["bias"])
        x = tt.tensor(s["x"])
        y, grads = _train(bn, x, tt.tensor(s["w"]))
        ours = {"y": y.numpy(), "dx": grads.get(x).numpy(), "rm": bn.running_mean.numpy(), "rv": bn.running_var.numpy()}
        if not freeze:
            ours |= {"dscale": grads.get(bn.scale).numpy(), "dbias": grads.get(bn.bias).numpy()}
        else:
            inferred = module(False, s["weight"], s["bias"]).forward(x).numpy()
            np.testing.assert_allclose(ours["y"], inferred, rtol=1e-14, atol=1e-12)
        inputs = [s["x"], s["weight"], s["bias"]]
        for i, name in enumerate(["dx"] if freeze else ["dx", "dscale", "dbias"]):
            numeric = numeric_gradient(loss, inputs, i)
            np.testing.assert_allclose(ours[name], numeric, rtol=1e-6, atol=1e-6, err_msg=f"{mode}/{name}")
        for t in theirs:
            for k, v in ours.items():
                np.testing.assert_allclose(v, t[f"{mode}/{k}"], rtol=1e-10, atol=1e-10, err_msg=f"{mode}/{k}")


def _eval_pass(bn: Any, data: Array, g: Array) -> tuple[Array, Array]:
    """PyTorch's eval-mode forward + backward, in typedtensor terms: a frozen training step."""
    x = tt.tensor(data)
    y, grads = _train(bn, x, tt.tensor(g))
    return y.numpy(), grads.get(x).numpy()


@pytest.mark.parametrize("ndim", [2, 3])
def test_batchnorm_eval(ndim: int) -> None:
    """Port of test_nn.py TestNNDeviceType.test_batchnorm_eval (_test_batchnorm_eval, ndim 2 and 3):
    two eval passes of BatchNorm1d(3) on a rand([3] * ndim) batch give the same outputs and input
    gradients (eval with gradients = freeze=True here, equal to the inference forward); then with
    track_running_stats=False a training pass and an eval pass on a (4, 3) batch give the same output
    (batch statistics both times; the eval gradient is not ported: typedtensor's inference is not
    differentiable)."""
    rng = np.random.default_rng(9)
    data, g = rng.uniform(size=[3] * ndim).astype(F32), rng.uniform(size=[3] * ndim).astype(F32)
    frozen: Any = BatchNorm1D(3, freeze=True)
    (y1, dx1), (y2, dx2) = _eval_pass(frozen, data, g), _eval_pass(frozen, data, g)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_allclose(y1, BatchNorm1D(3).forward(tt.tensor(data)).numpy(), rtol=1e-6, atol=1e-6)
    assert frozen.num_batches_tracked == 0
    untracked: Any = BatchNorm1D(3, track_running_stats=False)
    batch = tt.tensor(rng.uniform(size=(4, 3)).astype(F32))
    trained = untracked.forward_mut(batch.leaky_trace()).numpy()
    np.testing.assert_allclose(untracked.forward(batch).numpy(), trained, rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_batchnorm_affine(ndim: int) -> None:
    """Port of test_nn.py TestNNDeviceType.test_batchnorm_affine (_test_batchnorm_affine, ndim 2 and 3):
    BatchNorm1d(3, affine=True) with weight 1 and bias 0 and BatchNorm1d(3, affine=False) give the same
    training output and input gradient (upstream gradient of ones) on a rand([3] * ndim) batch."""
    data = tt.tensor(np.random.default_rng(10).uniform(size=[3] * ndim).astype(F32))
    ones = tt.tensor(np.ones([3] * ndim, F32))
    with_affine: Any = BatchNorm1D(3, affine=True)
    with_affine.load_state_dict({"scale": np.ones(3), "bias": np.zeros(3)}, strict=False)
    y1, g1 = _train(with_affine, data, ones)
    y2, g2 = _train(BatchNorm1D(3, affine=False), data, ones)
    np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(g1.get(data).numpy(), g2.get(data).numpy(), rtol=1.3e-6, atol=1e-5)


def test_batchnorm_simple_average() -> None:
    """Port of test_nn.py TestNNDeviceType.test_batchnorm_simple_average (_test_batchnorm_simple_average):
    BatchNorm1d(3, momentum=None) starts at running mean 0 / variance 1; a pass on data1, a reset, a
    pass on data2, a reset, then passes on data1 and data2: the outputs repeat and the running statistics
    are the average of the two single-pass ones. typedtensor has no reset_running_stats(); loading
    mean 0, variance 1 and counter 0 is the same reset (reset_params would also reset scale and bias)."""
    rng = np.random.default_rng(11)
    data1, data2 = (tt.tensor(rng.uniform(size=(4, 3)).astype(F32)) for _ in range(2))
    bn: Any = BatchNorm1D(3, momentum=None)
    fresh = {"running_mean": np.zeros(3), "running_var": np.ones(3), "num_batches_tracked": np.array(0)}

    def stats() -> tuple[Array, Array]:
        return bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()

    np.testing.assert_array_equal(stats(), (np.zeros(3), np.ones(3)))
    res1 = bn.forward_mut(data1.leaky_trace()).numpy()
    mean1, var1 = stats()
    assert not np.array_equal(mean1, np.zeros(3))
    assert not np.array_equal(var1, np.ones(3))
    bn.load_state_dict(fresh, strict=False)
    np.testing.assert_array_equal(stats(), (np.zeros(3), np.ones(3)))
    res2 = bn.forward_mut(data2.leaky_trace()).numpy()
    mean2, var2 = stats()
    assert not np.array_equal(mean2, np.zeros(3))
    bn.load_state_dict(fresh, strict=False)
    res3 = bn.forward_mut(data1.leaky_trace()).numpy()
    res4 = bn.forward_mut(data2.leaky_trace()).numpy()
    np.testing.assert_array_equal(res3, res1)
    np.testing.assert_array_equal(res4, res2)
    np.testing.assert_allclose(bn.running_mean.numpy(), (mean1 + mean2) / 2, rtol=1.3e-6, atol=1e-7)
    np.testing.assert_allclose(bn.running_var.numpy(), (var1 + var2) / 2, rtol=1.3e-6, atol=1e-7)


def test_batchnorm_update_stats() -> None:
    """Port of test_nn.py TestNNDeviceType.test_batchnorm_update_stats (_test_batchnorm_update_stats):
    BatchNorm1d(3) on a rand(4, 3) batch: a training pass changes running mean and variance and adds one
    to num_batches_tracked; an eval (inference) pass changes none of them."""
    bn: Any = BatchNorm1D(3)
    data = tt.tensor(np.random.default_rng(12).uniform(size=(4, 3)).astype(F32))
    mean, var, n = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(), bn.num_batches_tracked
    bn.forward_mut(data.leaky_trace())
    assert not np.array_equal(mean, bn.running_mean.numpy())
    assert not np.array_equal(var, bn.running_var.numpy())
    assert bn.num_batches_tracked == n + 1
    mean, var, n = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(), bn.num_batches_tracked
    bn.forward(data)
    np.testing.assert_array_equal(mean, bn.running_mean.numpy())
    np.testing.assert_array_equal(var, bn.running_var.numpy())
    assert bn.num_batches_tracked == n


def test_BatchNorm_empty() -> None:
    """Port of test_nn.py TestNNDeviceType.test_BatchNorm_empty: BatchNorm2d(3) on a (0, 3, 2, 2) float64
    batch (_test_module_empty_input): an empty output and an empty input gradient, running mean 0 and
    variance 1 unchanged, and zero scale and bias gradients."""
    bn: Any = BatchNorm2D(3, dtype=F64)
    x = tt.tensor(np.zeros((0, 3, 2, 2)))
    y, grads = _train(bn, x, tt.tensor(np.zeros((0, 3, 2, 2))))
    assert y.shape == (0, 3, 2, 2)
    assert grads.get(x).shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(grads.get(bn.scale).numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grads.get(bn.bias).numpy(), [0.0, 0.0, 0.0])
