# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""Tied weights (issue 12, Part A point 3): one tensor reachable under two names.

Two ways to tie: the same layer object under two attributes (``self.head = self.embed``), and the same
parameter tensor assigned to two layers (``model.b.weight = model.a.weight``). Either way the tensor is
one parameter: counted once, updated once (optimizers, ``ema``), its gradient accumulated once per use,
reduced once by ``distributed``, converted once by ``to_dtype`` (staying tied), and saved once in a
checkpoint file (under its first name, the aliases recorded in the metadata, as safetensors'
``save_model`` writes it); ``state_dict`` lists it under every name, as PyTorch's does. Loading accepts
any of its names, and refuses a file whose tied names hold different values.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import CheckpointError, TypedTensorError
from typedtensor import distributed as dist
from typedtensor.nn import BatchNorm1D, Linear, Module
from typedtensor.optim import SGD, Adam

F64 = np.float64
X = np.random.default_rng(0).standard_normal((5, 4))


class LayerTied(Module):
    """embed -> bn -> head, where head IS embed (the same Linear under two names)."""

    def __init__(self) -> None:
        self.embed = Linear(4, 4, dtype=F64, seed=1)
        self.bn = BatchNorm1D(4, dtype=F64)
        self.head = self.embed

    def forward_mut(self, x: Any) -> Any:
        return self.head.forward_mut(self.bn.forward_mut(self.embed.forward_mut(x)).tanh())


class Pair(Module):
    """a -> b, two Linears; ``tied()`` makes b.weight the very tensor a.weight."""

    def __init__(self, seed: int = 1) -> None:
        self.a = Linear(4, 4, dtype=F64, seed=seed)
        self.b = Linear(4, 4, dtype=F64, seed=seed + 1)

    def forward_mut(self, x: Any) -> Any:
        return self.b.forward_mut(self.a.forward_mut(x).tanh())


def tied(seed: int = 1) -> Pair:
    m = Pair(seed)
    m.b.weight = m.a.weight
    return m


MODELS = pytest.mark.parametrize("make", [LayerTied, tied], ids=["layer", "parameter"])


def _loss_grads(model: Any) -> Any:
    grads = model.alloc_grads()
    dtype = next(model.named_parameters())[1].numpy().dtype
    y = model.forward_mut(tt.tensor(X.astype(dtype)).trace(grads))
    (y.square()).mean().backward()
    return grads


# ---- counted once -------------------------------------------------------------------------------


@MODELS
def test_num_trainable_params_counts_a_tied_tensor_once(make: Any) -> None:
    m = make()
    distinct = {id(t): t for _, t in m.named_parameters()}
    assert m.num_trainable_params() == sum(t.numpy().size for t in distinct.values())
    expected = 4 * 4 + 4 + 4 + 4 if make is LayerTied else 4 * 4 + 4 + 4
    assert m.num_trainable_params() == expected


def test_named_parameters_yields_a_tied_tensor_once_under_its_first_name() -> None:
    assert [n for n, _ in LayerTied().named_parameters()] == ["embed.weight", "embed.bias", "bn.scale", "bn.bias"]
    buffers = ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in LayerTied().named_buffers()] == buffers
    assert [n for n, _ in tied().named_parameters()] == ["a.weight", "a.bias", "b.bias"]


# ---- updated once ------------------------------------------------------------------------------


@MODELS
def test_ema_applies_the_decay_once_to_a_tied_tensor(make: Any) -> None:
    mine, other = make(), make()
    other.load_state_dict({k: v + 1.0 for k, v in other.state_dict().items() if v.dtype == F64}, strict=False)
    before = {n: t.numpy().copy() for n, t in mine.named_parameters()}
    theirs = {n: t.numpy() for n, t in other.named_parameters()}
    mine.ema(other, 0.5)
    for name, t in mine.named_parameters():
        np.testing.assert_allclose(t.numpy(), 0.5 * before[name] + 0.5 * theirs[name], rtol=1e-12)


def test_ema_refuses_a_tree_tied_differently() -> None:
    with pytest.raises(TypedTensorError, match="different parameters"):
        tied().ema(Pair(), 0.5)


@MODELS
def test_an_optimizer_step_on_a_tied_tensor_uses_the_summed_gradient_once(make: Any) -> None:
    m = make()
    grads = _loss_grads(m)
    before = {n: t.numpy().copy() for n, t in m.named_parameters()}
    SGD(m, lr=0.1).update(m, grads)
    for name, t in m.named_parameters():
        np.testing.assert_allclose(t.numpy(), before[name] - 0.1 * grads.get(t).numpy(), rtol=1e-12)


def test_the_gradient_of_a_tied_weight_sums_both_uses() -> None:
    m, untied = tied(), Pair()
    untied.b.load_state_dict({"weight": m.a.weight.numpy()}, strict=False)
    g_tied = _loss_grads(m).get(m.a.weight).numpy()
    g = _loss_grads(untied)
    np.testing.assert_allclose(g_tied, g.get(untied.a.weight).numpy() + g.get(untied.b.weight).numpy(), rtol=1e-12)


# ---- converted once, kept tied --------------------------------------------------------------------


@MODELS
def test_to_dtype_keeps_a_tied_tensor_tied_and_converts_it_once(make: Any) -> None:
    m = make()
    clone = m.to_dtype(np.float32)
    if make is LayerTied:
        assert clone.head is clone.embed
    else:
        assert clone.b.weight is clone.a.weight
    assert clone.num_trainable_params() == m.num_trainable_params()
    for (name, t), (_, c) in zip(m.named_parameters(), clone.named_parameters(), strict=True):
        assert c.numpy().dtype == np.float32, name
        np.testing.assert_array_equal(c.numpy(), t.numpy().astype(np.float32))
    Adam(clone).update(clone, _loss_grads(clone))  # one parameter, one state


# ---- state_dict, files, loading -------------------------------------------------------------------


def test_state_dict_lists_a_tied_tensor_under_every_name_as_one_array() -> None:
    sd = tied().state_dict()
    assert list(sd) == ["a.weight", "b.weight", "a.bias", "b.bias"]
    assert sd["a.weight"] is sd["b.weight"]  # as PyTorch's state_dict shares the storage
    layer = LayerTied().state_dict()
    assert layer["embed.weight"] is layer["head.weight"]
    assert layer["embed.bias"] is layer["head.bias"]


def _save(m: Module, path: Path, naming: Any = "typedtensor") -> None:
    if path.suffix == ".npz":
        m.save_npz(path, naming=naming)
    else:
        m.save_safetensors(path, naming=naming)


def _load(m: Module, path: Path, **kw: Any) -> Any:
    return m.load_npz(path, **kw) if path.suffix == ".npz" else m.load_safetensors(path, **kw)


def _file(path: Path) -> tuple[list[str], dict[str, str]]:
    """The tensor keys and the metadata of a checkpoint file."""
    if path.suffix == ".npz":
        with zipfile.ZipFile(path) as zf:
            names = [n.removesuffix(".npy") for n in zf.namelist()]
            with zf.open("__metadata__.npy") as f:
                meta: dict[str, str] = json.loads(str(np.lib.format.read_array(f).item()))
        return [n for n in names if n != "__metadata__"], meta
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return list(f.keys()), dict(f.metadata())


FORMATS = pytest.mark.parametrize("suffix", [".npz", ".safetensors"])


@FORMATS
@pytest.mark.parametrize("naming", ["typedtensor", "torch"])
def test_a_file_holds_a_tied_tensor_once_and_records_its_aliases(tmp_path: Path, suffix: str, naming: str) -> None:
    pytest.importorskip("safetensors")
    path = tmp_path / f"m{suffix}"
    m = LayerTied()
    _save(m, path, naming)
    keys, meta = _file(path)
    bn = ["bn.weight", "bn.bias"] if naming == "torch" else ["bn.scale", "bn.bias"]
    assert sorted(keys) == sorted(
        ["embed.weight", "embed.bias", *bn, "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    )
    assert meta["typedtensor.tied.head.weight"] == "embed.weight"
    assert meta["typedtensor.tied.head.bias"] == "embed.bias"
    fresh = LayerTied()
    fresh.load_state_dict({"embed.weight": np.zeros((4, 4))}, strict=False)
    _load(fresh, path, naming=naming)
    assert fresh.head is fresh.embed
    for (name, t), (_, s) in zip(fresh.named_parameters(), m.named_parameters(), strict=True):
        np.testing.assert_array_equal(t.numpy(), s.numpy(), err_msg=name)


@FORMATS
def test_a_tied_tensor_loads_from_any_of_its_names(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("safetensors")
    src = tied(seed=7)
    path = tmp_path / f"m{suffix}"
    _save(src, path)
    full = src.state_dict()
    for keep in ("a.weight", "b.weight"):
        state = {k: v for k, v in full.items() if k in (keep, "a.bias", "b.bias")}
        m = tied()
        m.load_state_dict(state)  # strict: the tensor is there under one of its names
        np.testing.assert_array_equal(m.b.weight.numpy(), full["a.weight"])
        assert m.b.weight is m.a.weight
    m = tied()
    report = _load(m, path)
    assert report.missing == ()
    assert report.unexpected == ()
    np.testing.assert_array_equal(m.a.weight.numpy(), full["a.weight"])


def test_a_tied_tensor_missing_under_every_name_is_reported_once() -> None:
    m = tied()
    with pytest.raises(CheckpointError, match=r"missing keys \['a.weight'\], unexpected keys \[\]"):
        m.load_state_dict({"a.bias": np.zeros(4), "b.bias": np.zeros(4)})


@FORMATS
def test_tied_names_holding_different_values_are_refused(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("safetensors")
    untied = Pair(seed=3)
    path = tmp_path / f"m{suffix}"
    _save(untied, path)  # a.weight and b.weight differ
    m = tied()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"'a.weight' and 'b.weight' are one tied tensor.*differ"):
        _load(m, path)
    with pytest.raises(CheckpointError, match=r"'a.weight' and 'b.weight' are one tied tensor.*differ"):
        m.load_state_dict(untied.state_dict())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # nothing was changed
    same = untied.state_dict()
    same["b.weight"] = same["a.weight"].copy()
    m.load_state_dict(same)  # equal values under both names: accepted
    np.testing.assert_array_equal(m.b.weight.numpy(), same["a.weight"])


def test_torch_loads_a_tied_file_with_safetensors_load_model_and_saves_one_typedtensor_loads(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_model, save_model

    src = tied(seed=5)
    path = tmp_path / "ours.safetensors"
    src.save_safetensors(path, naming="torch")
    linear = torch.nn.Linear
    theirs = torch.nn.ModuleDict({"a": linear(4, 4, dtype=torch.float64), "b": linear(4, 4, dtype=torch.float64)})
    theirs.b.weight = theirs.a.weight
    missing, unexpected = load_model(theirs, str(path))
    assert not missing
    assert not unexpected
    np.testing.assert_array_equal(theirs.b.weight.detach().numpy(), src.a.weight.numpy())
    bias: Any = src.b.bias
    np.testing.assert_array_equal(theirs.b.bias.detach().numpy(), bias.numpy())
    with torch.no_grad():
        theirs.a.weight.mul_(2.0)
    back = tmp_path / "theirs.safetensors"
    save_model(theirs, str(back))  # deduplicated: one of the two names
    m = tied()
    m.load_safetensors(back, naming="torch")
    np.testing.assert_array_equal(m.b.weight.numpy(), theirs.a.weight.detach().numpy())


# ---- distributed: reduced and broadcast once ------------------------------------------------------


class TwoProcesses:
    """A communicator of two identical processes (what typedtensor calls), without MPI: a reduction doubles."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 2

    def Allgather(self, send: Any, recv: Any) -> None:
        recv[...] = np.stack([send, send]).reshape(recv.shape)

    def Allreduce(self, send: Any, recv: Any) -> None:
        self.sizes.append(recv.size)
        recv *= 2

    def Bcast(self, buf: Any, root: int = 0) -> None:
        self.sizes.append(buf.size)

    def allgather(self, obj: Any) -> list[Any]:
        return [obj, obj]


@MODELS
def test_average_gradients_reduces_a_tied_gradient_once(make: Any) -> None:
    pytest.importorskip("mpi4py")
    m = make()
    grads = _loss_grads(m)
    expected = {n: grads.get(t).numpy().copy() for n, t in m.named_parameters()}
    comm = TwoProcesses()
    dist.average_gradients(m, grads, comm=comm)
    assert comm.sizes == [16 + 4 + 4 + 4 if make is LayerTied else 16 + 4 + 4]
    for name, t in m.named_parameters():
        np.testing.assert_allclose(grads.get(t), expected[name], rtol=1e-12)  # the mean of two equal ones


@MODELS
def test_broadcast_parameters_sends_a_tied_tensor_once(make: Any) -> None:
    m = make()
    comm = TwoProcesses()
    dist.broadcast_parameters(m, comm=comm)
    # LayerTied: embed (16 + 4), bn scale, bias, running mean and variance (4 each) and its counter (1)
    assert comm.sizes == [16 + 4 + 4 * 4 + 1 if make is LayerTied else 16 + 4 + 4]
