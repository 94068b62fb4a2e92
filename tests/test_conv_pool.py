# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false, reportUnknownLambdaType=false
"""Conv2D, MaxPool2D, AvgPool2D and GlobalAvgPool2D modules: PyTorch parity (values and parameter
gradients), initialisation, seeds, errors, repr; the op-level cases live in tests/opspec.py."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator
from typing import Any, cast
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn
from typedtensor._ops import conv as conv_kernel
from typedtensor._ops import pool as pool_kernel
from typedtensor.nn import functional as F

F64 = np.float64

# (our keyword options, PyTorch's Conv2d keyword options, input shape): each one a kernel path.
CONV_CONFIGS: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("plain", {"kernel_size": 3, "padding": 1}, (3, 2, 6, 5)),
    ("valid_rect", {"kernel_size": (2, 3)}, (2, 2, 5, 7)),
    ("stride_padding", {"kernel_size": 3, "stride": 2, "padding": (2, 1)}, (2, 2, 7, 6)),
    ("dilation", {"kernel_size": 2, "dilation": (1, 2), "padding": 1}, (2, 2, 5, 6)),
    ("groups", {"kernel_size": 3, "groups": 2, "padding": 1}, (2, 4, 5, 5)),
    ("depthwise", {"kernel_size": 3, "groups": 4, "stride": (1, 2)}, (2, 4, 6, 7)),
    ("no_bias", {"kernel_size": 1, "bias": False}, (2, 2, 3, 4)),
    ("same", {"kernel_size": 3, "padding": "same", "dilation": 2}, (1, 2, 6, 6)),
    ("unbatched", {"kernel_size": 3, "padding": 1}, (2, 5, 4)),
    ("wide_padding", {"kernel_size": (1, 3), "padding": (1, 3)}, (2, 2, 4, 5)),
    ("wide_output", {"kernel_size": 3, "padding": 2}, (2, 2, 5, 6)),
    ("big_plane", {"kernel_size": (3, 2), "padding": "same"}, (1, 2, 16, 17)),
]


def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch is not installed: tests/test_ops_values.py covers the ops")


def _step(module: Any, x: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """Output and gradients (input under "x", parameters by name) of loss = sum(module(x) * w)."""
    grads = module.alloc_grads()
    xt = tt.tensor(x)
    grads.alloc(xt)
    y = module.forward_mut(xt.trace(grads))
    (y * tt.tensor(w)).sum().backward()
    out = {"x": grads.get(xt).numpy()}
    out.update({name: grads.get(p).numpy() for name, p in module.named_parameters()})
    return y.numpy(), out


def _torch_step(
    torch: Any, module: Any, x: np.ndarray[Any, Any], w: np.ndarray[Any, Any]
) -> tuple[Any, dict[str, Any]]:
    xt = torch.tensor(x, requires_grad=True)
    y = module(xt)
    (y * torch.tensor(w)).sum().backward()
    out = {"x": xt.grad.numpy()}
    out.update({name: p.grad.numpy() for name, p in module.named_parameters()})
    return y.detach().numpy(), out


def _in_out(opts: dict[str, Any], shape: tuple[int, ...]) -> tuple[int, int]:
    channels = shape[-3]
    return channels, 2 * opts.get("groups", 1)


@pytest.mark.filterwarnings(
    "ignore:Using padding='same' with even kernel:UserWarning"
)  # big_plane: PyTorch pads a copy
@pytest.mark.parametrize("dx_path", ["default", "correlation", "col2im"])
@pytest.mark.parametrize(("name", "opts", "shape"), CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv2d_matches_pytorch(
    name: str, opts: dict[str, Any], shape: tuple[int, ...], dx_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every configuration, with the input gradient by the size rule, as a correlation wherever the
    geometry allows one (stride 1, padding within the kernel's reach), and by col2im everywhere."""
    torch = _torch()
    if dx_path != "default":
        monkeypatch.setattr(conv_kernel, "_correlation_pays", lambda *_: dx_path == "correlation")
    i, o = _in_out(opts, shape)
    theirs = torch.nn.Conv2d(i, o, **opts).double()
    ours = nn.Conv2D(i, o, **opts, dtype=F64, seed=0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()}, naming="torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(theirs(torch.tensor(x)).shape)
    y, grads = _step(ours, x, w)
    ty, tgrads = _torch_step(torch, theirs, x, w)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    assert grads.keys() == tgrads.keys()
    for key, value in tgrads.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def test_conv2d_extra_repr_is_pytorchs() -> None:
    torch = _torch()
    for _, opts, shape in CONV_CONFIGS:
        i, o = _in_out(opts, shape)
        assert nn.Conv2D(i, o, **opts).extra_repr() == torch.nn.Conv2d(i, o, **opts).extra_repr()
    assert repr(nn.Conv2D(1, 16, 3, padding=1)) == "Conv2D(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


POOLS: list[tuple[str, Any, Any, tuple[int, ...]]] = [
    ("max", lambda: nn.MaxPool2D(2), lambda th: th.nn.MaxPool2d(2), (2, 3, 6, 5)),
    ("max_pad", lambda: nn.MaxPool2D(3, stride=2, padding=1), lambda th: th.nn.MaxPool2d(3, 2, 1), (2, 2, 7, 6)),
    ("max_overlap", lambda: nn.MaxPool2D((2, 3), stride=1), lambda th: th.nn.MaxPool2d((2, 3), 1), (3, 5, 6)),
    ("avg", lambda: nn.AvgPool2D(2), lambda th: th.nn.AvgPool2d(2), (2, 3, 6, 5)),
    ("avg_pad", lambda: nn.AvgPool2D((3, 2), (2, 1), 1), lambda th: th.nn.AvgPool2d((3, 2), (2, 1), 1), (2, 2, 7, 6)),
    (
        "global",
        nn.GlobalAvgPool2D,
        lambda th: th.nn.Sequential(th.nn.AdaptiveAvgPool2d(1), th.nn.Flatten(1)),
        (2, 3, 4, 5),
    ),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "shape"), POOLS, ids=[p[0] for p in POOLS])
def test_pool_matches_pytorch(name: str, ours: Any, theirs: Any, shape: tuple[int, ...]) -> None:
    torch = _torch()
    module, reference = ours(), theirs(torch)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(reference(torch.tensor(x)).shape)
    y, grads = _step(module, x, w)
    ty, tgrads = _torch_step(torch, reference, x, w)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["x"], tgrads["x"], rtol=1e-10, atol=1e-12)
    if name != "global":
        assert module.extra_repr() in reference.extra_repr()


def test_global_avg_pool_unbatched() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    y = nn.GlobalAvgPool2D().forward(tt.tensor(x))
    np.testing.assert_allclose(y.numpy(), x.mean(axis=(1, 2)))


@pytest.mark.parametrize("stride", [1, 2], ids=["overlapping", "tiled"])
@pytest.mark.parametrize("values", ["ties", "nan", "late_ties"])
def test_max_pool_ties_and_nan_follow_pytorch(values: str, stride: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ties go to the first maximum and NaN windows to their last NaN, on both backward paths.

    "late_ties": only the last image ties, and the tiled path works image by image, so it meets the
    tie after writing the other images' gradients and must hand over cleanly to the general path.
    """
    torch = _torch()
    monkeypatch.setattr(pool_kernel, "_CHUNK", 1)
    x = np.random.default_rng(3).standard_normal((3, 2, 4, 6))
    if values == "ties":
        x[...] = 0.0
    elif values == "late_ties":
        x[2, 1, :2, :2] = 5.0
    else:
        x[0, 0, 1, 1] = x[0, 1, 2, 3] = x[0, 1, 3, 3] = np.nan
    theirs = torch.nn.MaxPool2d(2, stride)
    w = np.random.default_rng(4).standard_normal(theirs(torch.tensor(x)).shape)
    y, grads = _step(nn.MaxPool2D(2, stride=stride), x, w)
    ty, tgrads = _torch_step(torch, theirs, x, w)
    np.testing.assert_array_equal(y, ty)  # NaN where PyTorch has NaN
    np.testing.assert_allclose(grads["x"], tgrads["x"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("padding", "stride"), [(1, 1), (0, 1), ((2, 0), 1), (1, 2)])
def test_non_finite_inputs_reach_exactly_pytorchs_outputs(padding: Any, stride: int) -> None:
    """The row trick reads across row edges and zeroes those reads: a NaN or inf must not leak through them."""
    torch = _torch()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 7))
    x[0, 0, 0, 6] = np.nan
    x[1, 1, 3, 0] = np.inf
    weight = rng.standard_normal((3, 2, 3, 3))
    xs: Any = tt.tensor(x).leaky_trace()
    ws: Any = tt.tensor(weight).leaky_trace()
    y = F.conv2d(xs, ws, stride=stride, padding=padding)
    w = rng.standard_normal(y.shape)
    with np.errstate(invalid="ignore"):  # the loss sums inf and -inf: NaN, as in PyTorch
        grads = (y * tt.tensor(w)).sum().backward()
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding)
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)  # NaN positions equal too
    np.testing.assert_allclose(grads.get(xs).numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads.get(ws).numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_parameter_gradients_accumulate_through_alloc_grads() -> None:
    conv = nn.Conv2D[L[2], L[3]](2, 3, 3, padding=1, dtype=F64, seed=0)
    grads = conv.alloc_grads()
    x: Tensor[tuple[int, L[2], int, int], F64, NoneTape] = tt.randn((2, 2, 5, 5), np.float64, seed=1)
    for _ in range(2):
        conv.forward(x.trace(grads)).sum().backward()
    expected_bias = 2 * 2 * 5 * 5  # d sum / d bias = number of output pixels, twice
    np.testing.assert_allclose(grads.get(conv.bias).numpy() if conv.bias is not None else 0, expected_bias)
    assert grads.get(conv.weight).shape == (3, 2, 3, 3)
    # untraced input: inference records nothing, whatever the parameters
    assert not conv.forward(x).traced


def test_a_small_network_trains() -> None:
    conv = nn.Conv2D[L[1], L[4]](1, 4, 3, padding=1, dtype=F64, seed=0)
    head = nn.Linear[L[4], L[2]](4, 2, dtype=F64, seed=1)
    pool, gap = nn.MaxPool2D(2), nn.GlobalAvgPool2D()
    x: tt.Tensor[tuple[int, L[1], L[8], L[8]], np.float64, tt.NoneTape] = tt.randn((6, 1, 8, 8), np.float64, seed=2)
    params: list[Tensor[Any, Any, NoneTape]] = [t for _, t in (*conv.named_parameters(), *head.named_parameters())]
    grads = tt.Gradients()  # one store for both layers
    for p in params:
        grads.alloc(p)
    y = nn.pipe(
        x.trace(grads), conv.forward_mut, nn.ReLU().forward_mut, pool.forward_mut, gap.forward_mut, head.forward_mut
    )
    y.square().mean().backward()
    assert len(params) == 4
    for p in params:
        assert np.abs(grads.get(p).numpy()).sum() > 0


@pytest.mark.parametrize(("groups", "kernel"), [(1, (3, 3)), (2, (3, 5)), (8, (1, 1))])
def test_init_is_pytorchs_uniform_fan_in(groups: int, kernel: tuple[int, int]) -> None:
    conv = nn.Conv2D(8, 16, kernel, groups=groups, seed=0)
    bound = 1 / math.sqrt(8 // groups * kernel[0] * kernel[1])
    assert conv.fan_in == 8 // groups * kernel[0] * kernel[1]
    weight = conv.weight.numpy()
    assert weight.shape == (16, 8 // groups, *kernel)
    assert weight.dtype == np.float32
    assert np.abs(weight).max() <= bound
    assert conv.bias is not None
    assert np.abs(conv.bias.numpy()).max() <= bound
    if weight.size >= 1000:
        assert np.abs(weight).max() > 0.95 * bound
        assert abs(float(weight.mean())) < 0.1 * bound
        assert float(weight.var()) == pytest.approx(bound**2 / 3, rel=0.15)


def test_init_matches_pytorch_statistics() -> None:
    torch = _torch()
    ours = nn.Conv2D(16, 32, 3, seed=0).weight.numpy()
    theirs = torch.nn.Conv2d(16, 32, 3).weight.detach().numpy()
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.05)


def test_seed_reproducibility_and_reset_params() -> None:
    a, b, c = nn.Conv2D(3, 4, 3, seed=5), nn.Conv2D(3, 4, 3, seed=5), nn.Conv2D(3, 4, 3, seed=6)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())
    weight = c.weight
    c.reset_params(5)
    assert c.weight is weight  # same tensor, new values: a Gradients allocated before stays valid
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(c.state_dict()[name], value)
    assert sorted(a.state_dict()) == ["bias", "weight"]


def test_float16_and_to_dtype() -> None:
    conv = nn.Conv2D[L[2], L[3]](2, 3, 3, padding=1, seed=0)
    x: Tensor[tuple[int, L[2], int, int], np.float32, NoneTape] = tt.randn((2, 2, 5, 5), seed=1)
    y32 = conv.forward(x).numpy()
    half = conv.to_dtype(np.float16)
    y16 = half.forward(x.astype(np.float16))
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16.numpy(), y32, rtol=1e-2, atol=1e-2)
    double = conv.to_dtype(np.float64)
    np.testing.assert_allclose(double.forward(x.astype(np.float64)).numpy(), y32, rtol=1e-5, atol=1e-5)


def test_kernel_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked batches (the column matrix rebuilt chunk by chunk) and both input-gradient forms (the
    transposed correlation and col2im) give the same numbers."""
    x: Any = tt.randn((5, 3, 7, 6), np.float64, seed=0)
    options: list[dict[str, Any]] = [
        {"padding": 1},
        {"stride": 2},
        {"padding": (0, 3)},
        {"dilation": 2, "padding": 2},
        {"padding": (1, 2), "groups": 3},
    ]
    results: list[list[tuple[Any, dict[str, Any]]]] = []
    for budget, correlation in ((conv_kernel._BUDGET, True), (1, False)):
        monkeypatch.setattr(conv_kernel, "_BUDGET", budget)
        monkeypatch.setattr(conv_kernel, "_correlation_pays", lambda *_, c=correlation: c)
        results.append([])
        for opts in options:
            conv = nn.Conv2D(3, 6, 3, dtype=F64, seed=0, **opts)
            results[-1].append(_step(conv, x.numpy(), np.ones(conv.forward(x).shape)))
    for (y1, g1), (y2, g2) in zip(*results, strict=True):
        np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)
        for key in g1:
            np.testing.assert_allclose(g1[key], g2[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("channels", "stride", "correlations"), [((8, 4), 1, 2), ((4, 8), 1, 1), ((8, 8), 2, 1)])
def test_input_gradient_is_a_correlation_when_it_pays(
    channels: tuple[int, int], stride: int, correlations: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backward runs the forward correlation again for dx only with stride 1 and no more output than
    input channels (col2im is faster otherwise: see ``_correlation_pays``). The im2col path's choice: the
    Winograd kernel, which would take these 3x3 stride-1 forwards, is unregistered here (its dispatch is
    counted in tests/test_conv_dispatch.py)."""
    monkeypatch.setattr(conv_kernel, "_fast", None)
    calls: list[object] = []
    original = conv_kernel._correlate

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(conv_kernel, "_correlate", counting)
    conv = nn.Conv2D(*channels, 3, padding=1, stride=stride, dtype=F64, seed=0)
    _step(conv, np.ones((2, channels[0], 16, 16)), np.ones(conv.forward(tt.ones((2, channels[0], 16, 16), F64)).shape))
    assert len(calls) == 1 + correlations  # the forward above, then forward_mut and maybe the gradient's


def test_empty_batch() -> None:
    conv = nn.Conv2D[L[2], L[3]](2, 3, 3, padding=1)
    x: Tensor[tuple[int, L[2], int, int], np.float32, NoneTape] = tt.zeros((0, 2, 4, 4))
    y = conv.forward_mut(x.trace(conv.alloc_grads()))
    assert y.shape == (0, 3, 4, 4)
    grads = y.sum().backward()
    assert grads.get(conv.weight).numpy().sum() == 0


# ---- errors --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _raises(kind: type[Exception], *fragments: str) -> Generator[None]:
    """Expect ``kind`` with a message holding every fragment."""
    with pytest.raises(kind) as info:
        yield
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def _zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
    """A zero tensor typed Any: these tests pass wrong inputs on purpose (the typing corpus rejects them)."""
    return tt.tensor(np.zeros(shape, dtype), dtype)


def test_conv_functional_errors() -> None:
    x = _zeros((1, 3, 5, 5))
    w = _zeros((4, 3, 3, 3))
    with _raises(tt.ShapeError, "kernel (3, 3)", "spans (7, 7)", "padded input is only (5, 5)", "more padding"):
        F.conv2d(x, w, dilation=3)
    with _raises(tt.ShapeError, "expects input with 2 channels", "got input of shape (1, 3, 5, 5)", "not divisible"):
        F.conv2d(x, _zeros((4, 1, 3, 3)), groups=2)
    with _raises(tt.ShapeError, "out_channels (3", "divisible by groups (2)"):
        F.conv2d(_zeros((1, 4, 5, 5)), _zeros((3, 2, 3, 3)), groups=2)
    with _raises(tt.DTypeError, "input is float64 but the weight is float32", ".astype(np.float32)"):
        F.conv2d(x.astype(np.float64), w)
    with _raises(tt.ShapeError, "bias must have shape (4,)", "got (3,)"):
        F.conv2d(x, w, _zeros((3,)))
    with _raises(tt.ShapeError, "expected a (N, C, H, W) batch or an unbatched (C, H, W) image", "(5, 5)"):
        F.conv2d(_zeros((5, 5)), w)
    with _raises(tt.ShapeError, "weight must be (out_channels, in_channels / groups, kH, kW)"):
        F.conv2d(x, _zeros((4, 3, 3)))
    with _raises(tt.TypedTensorError, "stride must be a positive int or a pair", "0"):
        F.conv2d(x, w, stride=0)
    with _raises(tt.TypedTensorError, "padding must be a non-negative int", "(1, -1)"):
        F.conv2d(x, w, padding=(1, -1))
    with _raises(tt.TypedTensorError, "padding='same' is not supported for strided convolutions"):
        F.conv2d(x, w, stride=2, padding="same")
    with _raises(tt.TypedTensorError, "groups must be a positive int"):
        F.conv2d(x, w, groups=0)
    with _raises(tt.DTypeError, "needs a float16/32/64 input"):
        F.conv2d(_zeros((1, 3, 5, 5), np.int64), w)


def test_conv_module_errors() -> None:
    conv: Any = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3, padding=1)
    x3 = _zeros((2, 3, 8, 8))
    with _raises(tt.CheckError, "dim 1 (I) is 3 but I is bound to 1"):  # the annotation, I bound from the instance
        conv.forward(x3)
    with tt.checks(False), _raises(tt.ShapeError, "expected input with 1 channels", "(2, 3, 8, 8)", "3 channels"):
        conv.forward(x3)
    with _raises(tt.DTypeError, "holds float32 parameters but the input is float64", "to_dtype()"):
        conv.forward(_zeros((2, 1, 8, 8), np.float64))
    with _raises(tt.CheckError, "declares I = 3 but this instance was built with 1"):
        mistyped: Any = nn.Conv2D[L[3], L[16]]
        mistyped(1, 16, 3).forward(_zeros((2, 1, 8, 8)))
    with _raises(tt.TypedTensorError, "in_channels (3) and out_channels (4) must both be divisible by groups (2)"):
        nn.Conv2D(3, 4, 3, groups=2)
    with _raises(tt.TypedTensorError, "in_channels must be a positive int", "0"):
        nn.Conv2D(0, 4, 3)
    with _raises(tt.TypedTensorError, "kernel_size must be a positive int or a pair"):
        nn.Conv2D(1, 4, (3, 0))
    with _raises(tt.TypedTensorError, "padding must be 'same', 'valid' or numbers", "'full'"):
        nn.Conv2D(1, 4, 3, padding=cast(Any, "full"))
    with _raises(tt.TypedTensorError, "seed must be a non-negative int"):
        nn.Conv2D(1, 4, 3, seed=-1)
    with _raises(tt.ShapeError, "kernel (3, 3)", "padded input is only (2, 2)"):
        nn.Conv2D(1, 4, 3).forward(_zeros((1, 1, 2, 2)))


def test_pool_errors() -> None:
    x = _zeros((1, 2, 4, 4))
    with _raises(tt.ShapeError, "padding (2, 2) must be at most half of kernel_size (3, 3)"):
        F.max_pool2d(x, 3, padding=2)
    with _raises(tt.ShapeError, "a (5, 5) window", "(4, 4) spatial dims", "smaller kernel_size"):
        nn.AvgPool2D(5).forward(x)
    with _raises(tt.TypedTensorError, "MaxPool2D: stride must be a positive int or a pair"):
        nn.MaxPool2D(2, stride=(1, 0))
    with _raises(tt.TypedTensorError, "kernel_size must be a positive int"):
        F.avg_pool2d(x, 0)
    with _raises(tt.ShapeError, "global_avg_pool2d: expected a (N, C, H, W) batch"):
        F.global_avg_pool2d(_zeros((2, 3)))
    with _raises(tt.DTypeError, "max_pool2d: needs a float16/32/64 input"):
        F.max_pool2d(_zeros((1, 1, 2, 2), np.int32), 2)
