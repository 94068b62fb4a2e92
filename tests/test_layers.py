"""Linear, activations, Flatten, Dropout, Residual and the module-tree utilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import typedtensor as tt
from tests.fd import numeric_gradient
from tests.layerspec import LAYER_CASES, LayerCase, inputs, run_ours, run_torch
from typedtensor import nn

GOLDEN = np.load(Path(__file__).parent / "golden" / "layers.npz")
IDS = [c.name for c in LAYER_CASES]


def _compare(ours: dict[str, Any], theirs: dict[str, Any], name: str) -> None:
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-12, err_msg=f"{name} {key}")


@pytest.mark.parametrize("case", LAYER_CASES, ids=IDS)
def test_layer_matches_pytorch_golden(case: LayerCase) -> None:
    x, w = inputs(case)
    np.testing.assert_array_equal(x, GOLDEN[f"{case.name}/x"])
    ours = run_ours(case, x, w)
    for key, value in ours.items():
        if key.startswith("p/"):  # the golden data was made with these initial parameters
            np.testing.assert_array_equal(value, GOLDEN[f"{case.name}/{key}"])
    theirs = {k[len(case.name) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(f"{case.name}/")}
    _compare(ours, {k: v for k, v in theirs.items() if not k.startswith(("p/", "x"))}, case.name)


@pytest.mark.parametrize("case", LAYER_CASES, ids=IDS)
def test_layer_matches_pytorch_live(case: LayerCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this layer")
    x, w = inputs(case)
    ours = run_ours(case, x, w)
    params = {k[2:]: v for k, v in ours.items() if k.startswith("p/")}
    _compare(ours, run_torch(case, x, w, params), case.name)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_finite_differences(bias: bool) -> None:
    layer = nn.Linear(3, 2, bias=bias, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    w = rng.standard_normal((4, 2))
    names = [n for n, _ in layer.named_parameters()]

    def loss(values: list[np.ndarray[Any, Any]]) -> float:
        for name, v in zip(names, values[1:], strict=True):
            getattr(layer, name)._data[...] = v
        return float((layer.forward(tt.tensor(values[0])).numpy() * w).sum())

    start = [x] + [p.numpy().copy() for _, p in layer.named_parameters()]
    grads = layer.alloc_grads()
    xt: tt.Tensor[tuple[int, int], np.float64, tt.OwnedTape] = tt.tensor(x).trace(grads)
    grads.alloc(xt)
    got = (layer.forward_mut(xt) * tt.tensor(w)).sum().backward()
    analytic = [got.get(xt).numpy()] + [got.get(p).numpy() for _, p in layer.named_parameters()]
    for i, a in enumerate(analytic):
        np.testing.assert_allclose(a, numeric_gradient(loss, [v.copy() for v in start], i), rtol=1e-6, atol=1e-8)


def test_linear_init_is_pytorch_default() -> None:
    layer = nn.Linear(400, 300, seed=0)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight.numpy(), layer.bias.numpy() if layer.bias is not None else None):
        assert p is not None
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound  # uniform over the whole range
    assert np.array_equal(nn.Linear(4, 3, seed=5).weight.numpy(), nn.Linear(4, 3, seed=5).weight.numpy())


def test_linear_errors() -> None:
    layer: nn.Linear[int, int] = nn.Linear(3, 2)  # int features: the mistakes below are caught at run time
    with pytest.raises(tt.CheckError, match="I is bound to 3"):
        layer.forward(tt.zeros((4, 2)))
    with pytest.raises(tt.DTypeError, match=r"float32 parameters but the input is float64.*astype"):
        layer.forward(tt.zeros((4, 3), np.float64))
    with pytest.raises(tt.TypedTensorError, match="in_features must be a positive int"):
        nn.Linear(0, 2)
    with tt.checks(False), pytest.raises(tt.ShapeError, match=r"expected input \(\.\.\., 3\)"):
        layer.forward(tt.zeros((4, 2)))


def test_linear_float64_via_to_dtype() -> None:
    layer = nn.Linear(3, 2, seed=0)
    wide = layer.to_dtype(np.float64)
    assert wide.weight.dtype == np.float64
    assert wide.dtype == np.float64
    assert layer.weight.dtype == np.float32  # the original is untouched
    x = np.ones((1, 3))
    np.testing.assert_allclose(
        wide.forward(tt.tensor(x)).numpy(), layer.forward(tt.tensor(x, np.float32)).numpy(), rtol=1e-6
    )


def test_activation_modules_keep_the_tape() -> None:
    x = tt.randn((2, 3), seed=0)
    for m in (nn.ReLU(), nn.GELU(), nn.GELU("tanh"), nn.Tanh(), nn.Sigmoid()):
        assert not m.forward(x).traced
        assert m.forward(x.leaky_trace()).traced
        assert m.forward_mut(x.leaky_trace()).traced
    with pytest.raises(tt.TypedTensorError, match="approximate must be"):
        nn.GELU("fast")  # type: ignore[arg-type]


def test_dropout_inference_is_identity_and_training_masks() -> None:
    drop = nn.Dropout(0.25, seed=0)
    x = tt.ones((200, 50))
    assert drop.forward(x) is x
    xt = x.leaky_trace()
    y = drop.forward_mut(xt)
    values = y.numpy()
    kept = values != 0
    assert 0.70 < kept.mean() < 0.80
    np.testing.assert_allclose(values[kept], 1 / 0.75)
    g = y.sum().backward().get(xt).numpy()
    np.testing.assert_array_equal(g, values)  # d/dx of mask * x / (1 - p) is mask / (1 - p)
    again = nn.Dropout(0.25, seed=0).forward_mut(x.leaky_trace()).numpy()
    np.testing.assert_array_equal(again, values)
    assert (nn.Dropout(1.0).forward_mut(x.leaky_trace()).numpy() == 0).all()


def test_dropout_refuses_the_wrong_tape() -> None:
    drop = nn.Dropout(0.5)
    with pytest.raises(tt.CheckError, match="NoneTape"):
        drop.forward(tt.ones((2, 2)).leaky_trace())  # type: ignore[arg-type]
    with pytest.raises(tt.CheckError, match="OwnedTape"):
        drop.forward_mut(tt.ones((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match=r"Dropout: p must be a number in \[0, 1\], got 1\.5"):
        nn.Dropout(1.5)


def test_residual_adds_the_input() -> None:
    block = nn.Linear(3, 3, seed=0)
    res = nn.Residual(block)
    x = _rand(2, 3, seed=1)
    np.testing.assert_allclose(res.forward(x).numpy(), x.numpy() + block.forward(x).numpy())
    grads = res.alloc_grads()
    assert dict(res.named_parameters()).keys() == {"block.weight", "block.bias"}
    res.forward_mut(x.trace(grads)).sum().backward()
    assert block.bias is not None
    np.testing.assert_allclose(grads.get(block.bias).numpy(), [2, 2, 2])
    with pytest.raises(tt.ShapeError, match="must keep the shape"):
        nn.Residual(nn.Linear(3, 2)).forward(x)


def test_flatten() -> None:
    x = tt.randn((2, 3, 4, 5), seed=0)
    assert nn.Flatten().forward(x).shape == (2, 60)
    assert nn.Flatten().forward_mut(x.leaky_trace()).traced


def _rand(*shape: int, seed: int = 0) -> tt.Tensor[tuple[Any, ...], np.float32, tt.NoneTape]:
    """A float32 tensor whose dims are untyped (pyright would infer Literal dims from the literals)."""
    return tt.randn(shape, seed=seed)


class _Net(nn.Module):
    def __init__(self) -> None:
        self.fc = nn.Linear(4, 3, seed=0)
        self.bn = nn.BatchNorm1D(3)
        self.blocks = [nn.Linear(3, 3, seed=1), nn.ReLU()]
        self.head = nn.Linear(3, 2, bias=False, seed=2)


def test_module_tree_utilities() -> None:
    net = _Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["fc.weight", "fc.bias", "bn.scale", "bn.bias", "blocks.0.weight", "blocks.0.bias", "head.weight"]
    assert net.num_trainable_params() == 12 + 3 + 3 + 3 + 9 + 3 + 6
    grads = net.alloc_grads()
    x = _rand(5, 4)
    h = net.bn.forward_mut(net.fc.forward_mut(x.trace(grads)))
    first, second = net.blocks
    assert isinstance(first, nn.Linear)
    assert isinstance(second, nn.ReLU)
    net.head.forward_mut(second.forward_mut(first.forward_mut(h))).sum().backward()
    assert np.abs(grads.get(net.fc.weight).numpy()).sum() > 0
    net.zero_grads(grads)
    assert all(np.abs(grads.get(p).numpy()).sum() == 0 for _, p in net.named_parameters())
    assert len(grads) >= 7  # the allocations are kept


def test_reset_params_is_seeded_and_keeps_identity() -> None:
    net = _Net()
    weight = net.fc.weight
    net.bn.running_mean._data[...] = 5  # type: ignore[union-attr]
    net.reset_params(seed=3)
    first = {k: v.copy() for k, v in net.state_dict().items()}
    assert net.fc.weight is weight
    np.testing.assert_array_equal(first["bn.running_mean"], 0)
    net.reset_params(seed=3)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, first[k])
    net.reset_params(seed=4)
    assert not np.array_equal(net.fc.weight.numpy(), first["fc.weight"])
    with pytest.raises(tt.TypedTensorError, match="seed must be"):
        net.reset_params(seed=-1)


def test_ema_updates_parameters_only() -> None:
    a, b = _Net(), _Net()
    b.reset_params(seed=9)
    b.bn.running_var._data[...] = 7  # type: ignore[union-attr]
    before = a.state_dict()
    a.ema(b, 0.75)
    after = a.state_dict()
    for name, _ in a.named_parameters():
        np.testing.assert_allclose(after[name], 0.75 * before[name] + 0.25 * b.state_dict()[name], rtol=1e-6)
    np.testing.assert_array_equal(after["bn.running_var"], before["bn.running_var"])
    with pytest.raises(tt.TypedTensorError, match="different parameters"):
        a.ema(nn.Linear(4, 3), 0.5)  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match=r"decay must be a number in \[0, 1\]"):
        a.ema(b, 1.5)


def test_to_dtype_converts_parameters_and_buffers() -> None:
    net = _Net().to_dtype(np.float64)
    for _, t in [*net.named_parameters(), *((n, b) for n, b in net.named_buffers() if not isinstance(b, int))]:
        assert t.dtype == np.float64
    assert net.bn.dtype == np.float64
    y = net.bn.forward(net.fc.forward(tt.randn((2, 4), seed=0, dtype=np.float64)))
    assert y.dtype == np.float64
    with pytest.raises(tt.DTypeError, match="dtype must be"):
        net.to_dtype(np.int32)


def test_repr_is_a_tree() -> None:
    text = repr(_Net())
    assert text.splitlines()[0] == "_Net("
    assert "  (fc): Linear(in_features=4, out_features=3, bias=True, dtype=float32)" in text
    assert "  (blocks.1): ReLU()" in text
    assert text.endswith(")")


def _labels(values: list[int]) -> tt.Tensor[tuple[Any, ...], np.int64, tt.NoneTape]:
    return tt.tensor(np.array(values), np.int64)


def test_cross_entropy_errors() -> None:
    logits = tt.randn((3, 4), seed=0)
    with pytest.raises(tt.TypedTensorError, match=r"labels must be in \[0, 4\)"):
        nn.cross_entropy(logits, _labels([0, 4, 1]))
    with pytest.raises(tt.CheckError):
        nn.cross_entropy(logits, tt.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(tt.CheckError, match="reduction='avg'"):
        nn.cross_entropy(logits, _labels([0, 1, 2]), "avg")  # type: ignore[call-overload]
    with tt.checks(False), pytest.raises(tt.TypedTensorError, match="reduction must be"):
        nn.cross_entropy(logits, _labels([0, 1, 2]), "avg")  # type: ignore[call-overload]
    with tt.checks(False), pytest.raises(tt.DTypeError, match=r"integer class indices.*np\.int64"):
        nn.cross_entropy(logits, tt.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(tt.CheckError):
        nn.cross_entropy(logits, _labels([0, 1]))


def test_cross_entropy_is_stable_for_large_logits() -> None:
    logits: tt.Tensor[tuple[int, int], np.float32, tt.NoneTape] = tt.tensor(
        np.array([[1000.0, 0.0], [-1000.0, 0.0]], dtype=np.float32)
    )
    loss = nn.cross_entropy(logits, _labels([0, 0]), "none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 1000.0])


def test_integer_tensors_for_labels() -> None:
    labels = tt.tensor([1, 2], np.int64)
    assert labels.dtype == np.int64
    with pytest.raises(tt.DTypeError, match="fractional"):
        tt.tensor([1.5], np.int64)
    assert labels.leaky_trace().traced  # an integer tensor carries a tape (it never gets a gradient)


def test_mse_loss() -> None:
    p = tt.tensor(np.array([1.0, 2.0, 4.0]))
    t = tt.tensor(np.array([1.0, 0.0, 1.0]))
    assert nn.mse_loss(p, t).item() == pytest.approx(13 / 3)
    assert nn.mse_loss(p, t, "sum").item() == pytest.approx(13)
    np.testing.assert_array_equal(nn.mse_loss(p, t, "none").numpy(), [0.0, 4.0, 9.0])  # elementwise, as PyTorch
    reduction: Any = "avg"
    with tt.checks(False), pytest.raises(tt.TypedTensorError, match="reduction must be one of"):
        nn.mse_loss(p, t, reduction)
    with pytest.raises(tt.CheckError, match="reduction"):
        nn.mse_loss(p, t, reduction)


def test_typed_literal_linear() -> None:
    layer = nn.Linear[Literal[3], Literal[5]](3, 5)
    assert layer.forward(tt.zeros((2, 3))).shape == (2, 5)
    with pytest.raises(tt.CheckError, match="declares I = 3"):
        nn.Linear[Literal[3], Literal[5]](4, 5).forward(tt.zeros((2, 4)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bias", "affine", "dtype"), [(True, True, np.float64), (False, True, np.float32), (True, False, np.float64)]
)
def test_fold_batchnorm_equals_conv_then_bn(bias: bool, affine: bool, dtype: type[Any]) -> None:
    conv = nn.Conv2D(3, 4, kernel_size=3, padding=1, stride=2, bias=bias, dtype=dtype, seed=0)
    bn = nn.BatchNorm2D(4, affine=affine, dtype=dtype)
    grads = bn.alloc_grads()
    for seed in range(3):  # a few training steps give non-trivial running statistics
        x = _rand(6, 4, 5, 5, seed=seed).astype(dtype) * 3.0 + 1.0
        bn.forward_mut(x.trace(grads)).sum().backward()
    if bn.scale is not None and bn.bias is not None:
        bn.scale._data[...] = np.linspace(0.5, 2.0, 4)
        bn.bias._data[...] = np.linspace(-1.0, 1.0, 4)
    folded = nn.fold_batchnorm(conv, bn)
    image: tt.Tensor[tuple[int, int, int, int], Any, tt.NoneTape] = _rand(2, 3, 9, 9, seed=5).astype(dtype)
    expected = bn.forward(conv.forward(image)).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(folded.forward(image).numpy(), expected, rtol=tol, atol=tol)
    assert folded.bias is not None
    assert folded.weight is not conv.weight  # conv itself is unchanged
    assert folded.stride == conv.stride


def test_fold_batchnorm_refuses_batch_statistics_and_mismatches() -> None:
    conv = nn.Conv2D(3, 4, kernel_size=1)
    with pytest.raises(tt.TypedTensorError, match="needs running statistics"):
        nn.fold_batchnorm(conv, nn.BatchNorm2D(4, track_running_stats=False))
    five: nn.BatchNorm2D[Any] = nn.BatchNorm2D(5)  # a mismatch left to the run-time check (mypy+plugin sees it)
    with pytest.raises(tt.TypedTensorError, match="the BatchNorm has 5 channels but the conv outputs 4"):
        nn.fold_batchnorm(conv, five)
    with pytest.raises(tt.CheckError):
        nn.fold_batchnorm(nn.Linear(3, 4), nn.BatchNorm2D(4))  # type: ignore[arg-type, misc, unused-ignore]
