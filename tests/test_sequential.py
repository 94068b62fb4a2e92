"""``nn.Sequential`` (issue 14 item 4): the layers applied in order, forward chaining forward and forward_mut
chaining forward_mut; the same values and gradients as the layers chained by hand and as PyTorch's
``nn.Sequential`` with the same weights; PyTorch's state_dict names, so checkpoints go both ways."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import Tensor, nn
from typedtensor import extend as ext

F64 = np.float64


def _mlp(seed: int = 0) -> nn.Sequential[Any, Any, Any, Any]:
    return nn.Sequential(
        nn.Linear(4, 6, dtype=F64, seed=seed),
        nn.BatchNorm1D(6, dtype=F64),
        nn.ReLU(),
        nn.Dropout(0.0),
        nn.Linear(6, 3, dtype=F64, seed=seed + 1),
    )


def _cnn(seed: int = 0) -> nn.Sequential[Any, Any, Any, Any]:
    return nn.Sequential(
        nn.Conv2D(2, 4, 3, padding=1, dtype=F64, seed=seed),
        nn.BatchNorm2D(4, dtype=F64),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 5 * 5, 3, dtype=F64, seed=seed + 1),
    )


def _x(shape: tuple[int, ...], seed: int = 0) -> Tensor[Any, Any, Any]:
    return tt.tensor(np.random.default_rng(seed).standard_normal(shape))


def _randomise_bn(model: nn.Module, seed: int) -> None:
    """Running statistics and affine parameters away from their initial values (so a mix-up would show)."""
    rng = np.random.default_rng(seed)
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        if isinstance(t, Tensor) and ("scale" in name or "running" in name or "bn" in name):
            data = ext.data_mut(t)
            data[...] = (
                rng.uniform(0.5, 1.5, data.shape) if "var" in name or "scale" in name else rng.normal(size=data.shape)
            )


@pytest.mark.parametrize(("build", "shape"), [(_mlp, (5, 4)), (_cnn, (2, 2, 5, 5))], ids=["mlp", "cnn"])
def test_forward_is_the_layers_forward_in_order(build: Any, shape: tuple[int, ...]) -> None:
    seq = build()
    _randomise_bn(seq, 1)
    x = _x(shape)
    y = x
    for layer in seq:
        y = layer.forward(y)
    np.testing.assert_array_equal(seq.forward(x).numpy(), y.numpy())
    np.testing.assert_array_equal(seq(x).numpy(), y.numpy())


@pytest.mark.parametrize(("build", "shape"), [(_mlp, (5, 4)), (_cnn, (2, 2, 5, 5))], ids=["mlp", "cnn"])
def test_forward_mut_is_the_layers_forward_mut_in_order_with_the_same_gradients(
    build: Any, shape: tuple[int, ...]
) -> None:
    seq = build()
    twin = copy.deepcopy(seq)
    results: list[tuple[Any, Any, dict[str, Any]]] = []
    for model, chained in ((seq, False), (twin, True)):
        grads = model.alloc_grads()
        x = _x(shape).trace(grads)
        grads.alloc(x)
        if chained:
            y = x
            for layer in model:
                y = layer.forward_mut(y)
        else:
            y = model(x)
        got = (y * _x(y.shape, 2)).sum().backward()
        results.append(
            (
                y.numpy().copy(),
                got.get(x).numpy().copy(),
                {n: got.get(p).numpy().copy() for n, p in model.named_parameters()},
            )
        )
        assert model[1].num_batches_tracked == 1  # BatchNorm trained: running statistics updated once
    (ya, gxa, gpa), (yb, gxb, gpb) = results
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(gxa, gxb)
    assert gpa.keys() == gpb.keys()
    for name in gpa:
        np.testing.assert_array_equal(gpa[name], gpb[name], err_msg=name)
    for (na, va), (nb, vb) in zip(seq.state_dict().items(), twin.state_dict().items(), strict=True):
        assert na == nb
        np.testing.assert_array_equal(va, vb, err_msg=na)


def test_children_have_pytorchs_names_and_the_repr_lists_them() -> None:
    seq = _mlp()
    assert list(seq.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.scale",
        "1.bias",
        "4.weight",
        "4.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "2", "3", "4"]
    text = repr(seq)
    assert text.startswith("Sequential(\n  (0): Linear(in_features=4, out_features=6")
    assert "\n  (2): ReLU()\n" in text
    assert text.endswith(")\n)")
    assert len(seq) == 5
    assert seq[0] is next(iter(seq))
    assert seq[-1] is list(seq)[4]


def test_indexing_outside_or_by_another_type_is_refused() -> None:
    seq: Any = _mlp()
    for index in (5, -6, "0", 1.0, True, slice(0, 2)):
        with pytest.raises(tt.TypedTensorError):
            seq[index]


def test_a_layer_is_replaced_by_index() -> None:
    seq = _mlp()
    relu = nn.Tanh()
    seq[-3] = relu
    assert seq[2] is relu
    assert "(2): Tanh()" in repr(seq)
    x = _x((5, 4))
    y = x
    layers: list[Any] = list(seq)
    for layer in layers:
        y = layer.forward(y)
    np.testing.assert_array_equal(seq(x).numpy(), y.numpy())
    loose: Any = seq
    with pytest.raises(tt.TypedTensorError):
        loose[5] = nn.ReLU()
    with pytest.raises(tt.TypedTensorError):
        loose[0] = print


def test_a_layer_that_is_not_a_module_is_refused() -> None:
    builder: Any = nn.Sequential
    with pytest.raises(tt.TypedTensorError, match=r"layer 1 is a builtin_function_or_method, not a Module.*nn\.pipe"):
        builder(nn.ReLU(), print)
    with pytest.raises(tt.TypedTensorError, match="layer 0 is a int"):
        builder(Tensor[tuple[int, L[4]], F64, Any], 3)


def test_a_layer_without_forward_mut_is_a_tape_error_in_training_only() -> None:
    """A forward-only user module in a Sequential: inference runs, a training step is model(x)'s TapeError
    (it escaped as Python's raw AttributeError)."""

    class InferOnly(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(3, 3, dtype=np.float64)

        def forward(self, x: Tensor[Any, Any, tt.NoneTape]) -> Tensor[Any, Any, tt.NoneTape]:
            return self.fc.forward(x)

    model: Any = nn.Sequential(nn.Linear(3, 3, dtype=np.float64), InferOnly())
    x = tt.ones((2, 3), dtype=np.float64)
    assert model(x).shape == (2, 3)
    with pytest.raises(tt.TapeError, match=r"InferOnly\(x\): x is traced but InferOnly has no forward_mut"):
        model(x.leaky_trace())


def test_the_declared_input_type_is_checked_at_run_time() -> None:
    seq = nn.Sequential(Tensor[tuple[int, L[4]], F64, Any], nn.Linear[L[4], L[2]](4, 2, dtype=F64, seed=0), nn.ReLU())
    assert len(seq) == 2  # the type is not a layer
    assert seq(_x((3, 4))).shape == (3, 2)
    loose: Any = seq
    with pytest.raises(tt.ShapeError, match=r"Sequential takes typedtensor\.Tensor\[tuple\[int, L\[4\]\], float64"):
        loose(_x((3, 4)).astype(np.float32))
    with pytest.raises(tt.TypedTensorError):
        loose.forward_mut(_x((3, 5)).trace(seq.alloc_grads()))


def test_an_empty_sequential_returns_its_input() -> None:
    x = _x((2, 3))
    assert nn.Sequential()(x) is x


def test_checkpoint_round_trip_and_to_dtype(tmp_path: Path) -> None:
    seq = _cnn(3)
    _randomise_bn(seq, 4)
    path = tmp_path / "seq.npz"
    seq.save_npz(path, naming="torch")
    other = _cnn(9)
    other.load_npz(path, naming="torch")
    x = _x((2, 2, 5, 5))
    np.testing.assert_array_equal(other(x).numpy(), seq(x).numpy())
    single = seq.to_dtype(np.float32)
    assert isinstance(single, nn.Sequential)
    assert len(single) == len(seq)
    np.testing.assert_allclose(single(x.astype(np.float32)).numpy(), seq(x).numpy(), rtol=1e-4, atol=1e-5)


def _torch() -> Any:
    return pytest.importorskip("torch", reason="the live PyTorch comparison needs torch (pip install torch==2.13.0)")


def _torch_cnn(th: Any) -> Any:
    return th.nn.Sequential(
        th.nn.Conv2d(2, 4, 3, padding=1), th.nn.BatchNorm2d(4), th.nn.ReLU(), th.nn.Flatten(), th.nn.Linear(100, 3)
    ).double()


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_matches_torch_sequential_with_the_same_weights(training: bool) -> None:
    th = _torch()
    ours = _cnn(5)
    _randomise_bn(ours, 6)
    theirs = _torch_cnn(th)
    theirs.load_state_dict(_torch_state(th, ours), strict=True)
    theirs.train(training)
    x = np.random.default_rng(7).standard_normal((3, 2, 5, 5))
    w = np.random.default_rng(8).standard_normal((3, 3))
    xt_th = th.tensor(x, requires_grad=True)
    out_th = theirs(xt_th)
    (out_th * th.as_tensor(w)).sum().backward()
    grads = ours.alloc_grads()
    xt: Any = tt.tensor(x)
    if training:
        xt = xt.trace(grads)
        grads.alloc(xt)
    out = ours(xt)
    np.testing.assert_allclose(out.numpy(), out_th.detach().numpy(), rtol=1e-10, atol=1e-12)
    if training:
        got = (out * tt.tensor(w)).sum().backward()
        assert xt_th.grad is not None
        np.testing.assert_allclose(got.get(xt).numpy(), xt_th.grad.numpy(), rtol=1e-10, atol=1e-12)
        named = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            torch_name = name.replace("scale", "weight")
            np.testing.assert_allclose(got.get(p).numpy(), named[torch_name].grad.numpy(), rtol=1e-10, atol=1e-12)
        ours_state = ours.state_dict()
        for key in ("1.running_mean", "1.running_var"):
            np.testing.assert_allclose(ours_state[key], theirs.state_dict()[key].numpy(), rtol=1e-12, atol=1e-14)


def _torch_state(th: Any, ours: nn.Module) -> dict[str, Any]:
    """Our state under PyTorch's names (what save_*(naming="torch") writes), as torch tensors."""
    names = {n: n.replace(".scale", ".weight") for n in ours.state_dict()}
    return {names[k]: th.as_tensor(v) for k, v in ours.state_dict().items()}


def test_live_checkpoints_go_both_ways_with_torch_sequential(tmp_path: Path) -> None:
    th = _torch()
    st_torch: Any = pytest.importorskip("safetensors.torch")
    theirs = _torch_cnn(th)
    with th.no_grad():
        for p in theirs.parameters():
            p.copy_(th.randn(p.shape, dtype=th.float64))
        theirs[1].running_mean.copy_(th.randn(4, dtype=th.float64))
        theirs[1].running_var.copy_(th.rand(4, dtype=th.float64) + 0.5)
    theirs.eval()
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(theirs.state_dict(), str(path))
    ours = _cnn(0)
    ours.load_safetensors(path, naming="torch")
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    want = theirs(th.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(tt.tensor(x)).numpy(), want, rtol=1e-10, atol=1e-12)
    back = tmp_path / "ours.safetensors"
    ours.save_safetensors(back, naming="torch")
    fresh = _torch_cnn(th)
    fresh.load_state_dict(st_torch.load_file(str(back)), strict=True)
    fresh.eval()
    np.testing.assert_allclose(fresh(th.as_tensor(x)).detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_torch_names_are_torchs_sequential_keys(tmp_path: Path) -> None:
    """Without torch too: the keys PyTorch gives nn.Sequential(Conv2d, BatchNorm2d, ReLU, Flatten, Linear)."""
    path = tmp_path / "seq.npz"
    _cnn().save_npz(path, naming="torch")
    with np.load(path) as data:
        keys = set(data.files) - {"__metadata__"}
    assert keys == {
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "4.weight",
        "4.bias",
    }
