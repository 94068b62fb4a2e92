"""``module(x)`` (issue 14 item 4): ``forward`` on an untraced x, ``forward_mut`` on a traced one, for every
layer: the same values, the same gradients and the same state changes as calling the method by name; the
method's run-time checks still run; a non-Tensor first argument or an untraced x next to a traced tensor is
refused."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn

T = TypeVar("T", bound=tt.NoneTape | tt.OwnedTape)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Any]
    shape: tuple[int, ...]
    integer: bool = False  # ids (Embedding): no input gradient
    extra: tuple[str, ...] = ()  # further inputs of the input's shape, traced with it (attention's key and value)


CASES = [
    Case("linear", lambda: nn.Linear(4, 3, dtype=np.float64, seed=1), (2, 4)),
    Case("relu", nn.ReLU, (2, 3)),
    Case("gelu", lambda: nn.GELU("tanh"), (2, 3)),
    Case("tanh", nn.Tanh, (2, 3)),
    Case("sigmoid", nn.Sigmoid, (2, 3)),
    Case("leaky_relu", lambda: nn.LeakyReLU(0.1), (2, 3)),
    Case("silu", nn.SiLU, (2, 3)),
    Case("softplus", nn.Softplus, (2, 3)),
    Case("identity", nn.Identity, (2, 3)),
    Case("flatten", nn.Flatten, (2, 2, 3)),
    Case("layernorm", lambda: nn.LayerNorm(3, dtype=np.float64), (2, 3)),
    Case("groupnorm", lambda: nn.GroupNorm(2, 4, dtype=np.float64), (2, 4, 3)),
    Case("conv2d", lambda: nn.Conv2D(2, 3, 3, padding=1, dtype=np.float64, seed=2), (2, 2, 5, 5)),
    Case("conv1d", lambda: nn.Conv1D(2, 3, 3, dtype=np.float64, seed=3), (2, 2, 6)),
    Case("upsample", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 3)),
    Case("adaptive_pool", lambda: nn.AdaptiveAvgPool2D((2, 3)), (2, 2, 5, 6)),
    Case("embedding", lambda: nn.Embedding(5, 3, dtype=np.float64, seed=4), (2, 3), integer=True),
    Case("maxpool", lambda: nn.MaxPool2D(2), (2, 2, 4, 4)),
    Case("avgpool_ceil", lambda: nn.AvgPool2D(2, ceil_mode=True, count_include_pad=False), (2, 2, 5, 5)),
    Case("global_avgpool", nn.GlobalAvgPool2D, (2, 3, 4, 4)),
    Case("batchnorm2d", lambda: nn.BatchNorm2D(2, dtype=np.float64), (3, 2, 2, 2)),
    Case("sync_batchnorm2d", lambda: nn.SyncBatchNorm2D(2, dtype=np.float64), (3, 2, 2, 2)),
    Case("batchnorm1d", lambda: nn.BatchNorm1D(3, dtype=np.float64), (4, 3)),
    Case("fused_batchnorm2d", lambda: nn.FusedBatchNorm2D(2, dtype=np.float64), (3, 2, 2, 2)),
    Case("dropout", lambda: nn.Dropout(0.5, seed=5), (4, 5)),
    Case("residual", lambda: nn.Residual(nn.Linear(3, 3, dtype=np.float64, seed=6)), (2, 3)),
    Case("attention", lambda: nn.MultiHeadAttention(4, 2, dtype=np.float64, seed=7), (2, 3, 4)),
    Case("cross_attention", lambda: nn.MultiHeadAttention(4, 2, dtype=np.float64, seed=8), (2, 3, 4), extra=("k", "v")),
    Case("transformer", lambda: nn.TransformerBlock(4, 2, dtype=np.float64, seed=9), (2, 3, 4)),
    Case("sequential", lambda: nn.Sequential(nn.Linear(3, 4, dtype=np.float64, seed=10), nn.ReLU()), (2, 3)),
]
IDS = [c.name for c in CASES]


def _inputs(case: Case, seed: int = 0) -> list[tt.Tensor[Any, Any, Any]]:
    rng = np.random.default_rng(seed)
    if case.integer:
        return [tt.tensor(rng.integers(0, 5, case.shape), np.int64)]
    return [tt.tensor(rng.standard_normal(case.shape)) for _ in (None, *case.extra)]


def _state(module: nn.Module) -> dict[str, Any]:
    return {k: v.copy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_untraced_input_runs_forward(case: Case) -> None:
    called, direct = case.build(), case.build()
    xs = _inputs(case)
    got, want = called(*xs), direct.forward(*xs)
    assert not got.traced
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert _state(called).keys() == _state(direct).keys()
    for key, value in _state(called).items():
        np.testing.assert_array_equal(value, _state(direct)[key], err_msg=key)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_traced_input_runs_forward_mut_with_the_same_gradients(case: Case) -> None:
    module = case.build()
    twin = copy.deepcopy(module)  # the same weights, running statistics and dropout generator
    results: list[tuple[Any, list[Any], dict[str, Any]]] = []
    for m, call in ((module, module), (twin, twin.forward_mut)):
        grads = m.alloc_grads()
        xs = [x.trace(grads) for x in _inputs(case)]
        if not case.integer:
            for x in xs:
                grads.alloc(x)
        out = call(*xs)
        assert out.traced
        shape: tuple[int, ...] = out.shape
        w = tt.tensor(np.random.default_rng(1).standard_normal(shape))
        got = (out * w).sum().backward()
        gradients = [got.get(p).numpy().copy() for _, p in m.named_parameters()]
        if not case.integer:
            gradients += [got.get(x).numpy().copy() for x in xs]
        results.append((out.numpy().copy(), gradients, _state(m)))
    (out_a, grads_a, state_a), (out_b, grads_b, state_b) = results
    np.testing.assert_array_equal(out_a, out_b)
    assert len(grads_a) == len(grads_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_array_equal(a, b)
    for key, value in state_a.items():
        np.testing.assert_array_equal(value, state_b[key], err_msg=key)


def test_batchnorm_call_updates_running_statistics_only_on_a_traced_input() -> None:
    bn = nn.BatchNorm2D(2, dtype=np.float64)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 2, 3, 3)) * 3 + 1)
    before = _state(bn)
    bn(x)  # untraced: inference with the running statistics
    for key, value in _state(bn).items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    bn(x.trace(bn.alloc_grads()))  # traced: a training step
    assert bn.num_batches_tracked == 1
    after = _state(bn)
    assert not np.array_equal(after["running_mean"], before["running_mean"])
    assert not np.array_equal(after["running_var"], before["running_var"])


def test_dropout_call_is_identity_untraced_and_drops_traced() -> None:
    drop = nn.Dropout(0.5, seed=0)
    x = tt.ones((50,), dtype=np.float64)
    assert drop(x) is x
    y = drop(x.trace(tt.Gradients())).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}


def test_the_dispatched_method_keeps_its_run_time_checks() -> None:
    lin: Any = nn.Linear(4, 3)  # (Any: the misuse below is a static error too)
    with pytest.raises(tt.TypedTensorError, match=r"I\) is 5 but I is bound to 4"):
        lin(tt.zeros((2, 5)))
    bn: Any = nn.BatchNorm2D(2)
    with pytest.raises(tt.TypedTensorError):
        bn(tt.zeros((2, 3, 4, 4)))  # 3 channels for C = 2: the dims bound from the module
    with pytest.raises(tt.TypedTensorError):
        bn(tt.zeros((2, 3, 4, 4)).trace(bn.alloc_grads()))  # the same on the training path
    with pytest.raises(tt.TypedTensorError):
        lin(tt.zeros((2, 4), dtype=np.float64))  # the layer's dtype


@pytest.mark.parametrize("bad", [np.zeros((2, 4), np.float32), [[0.0] * 4], 3.0, None])
def test_a_non_tensor_input_is_refused(bad: object) -> None:
    lin: Any = nn.Linear(4, 3)
    with pytest.raises(tt.TypedTensorError, match="needs a typedtensor Tensor") as info:
        lin(bad)
    if isinstance(bad, np.ndarray):
        assert "tt.tensor(array)" in str(info.value)
    assert isinstance(info.value, tt.DTypeError)  # the class forward gives the same mistake: one mistake, one class
    with pytest.raises(tt.DTypeError):
        lin.forward(bad)


def test_a_call_without_a_tensor_is_refused_and_a_keyword_input_dispatches() -> None:
    lin: Any = nn.Linear(4, 3, seed=0)
    with pytest.raises(tt.TypedTensorError, match="got no tensor"):
        lin()
    with pytest.raises(tt.TypedTensorError, match="got no tensor"):
        lin(y=3)
    x = tt.ones((2, 4))
    np.testing.assert_array_equal(lin(x=x).numpy(), lin.forward(x).numpy())
    assert lin(x=x.trace(lin.alloc_grads())).traced  # forward_mut
    mha: Any = nn.MultiHeadAttention(4, 2, seed=0)
    q = tt.ones((1, 3, 4))
    np.testing.assert_array_equal(mha(query=q).numpy(), mha.forward(q).numpy())


def test_an_untraced_input_next_to_a_traced_tensor_is_refused() -> None:
    mha: Any = nn.MultiHeadAttention(4, 2)
    q = tt.zeros((1, 3, 4))
    kv = tt.zeros((1, 3, 4)).trace(mha.alloc_grads())
    with pytest.raises(tt.TapeError, match=r"x is untraced .* argument 2 is traced") as info:
        mha(q, kv, kv)
    assert "x.trace(grads)" in str(info.value)
    fused: Any = nn.FusedBatchNorm2D(2)
    add = tt.zeros((2, 2, 3, 3)).trace(fused.alloc_grads())
    with pytest.raises(tt.TapeError, match="'addend' is traced"):
        fused(tt.zeros((2, 2, 3, 3)), addend=add)


def test_a_traced_input_with_untraced_keys_and_addend_trains() -> None:
    """forward_mut decides what a traced x may come with: attention's keys/values and FusedBatchNorm's addend
    may be untraced (constants of the step)."""
    mha = nn.MultiHeadAttention(4, 2, dtype=np.float64, seed=0)
    grads = mha.alloc_grads()
    q = tt.tensor(np.random.default_rng(0).standard_normal((1, 3, 4))).trace(grads)
    kv = tt.tensor(np.random.default_rng(1).standard_normal((1, 2, 4)))
    np.testing.assert_array_equal(mha(q, kv, kv).numpy(), copy.deepcopy(mha).forward_mut(q, kv, kv).numpy())
    fused = nn.FusedBatchNorm2D(2, dtype=np.float64)
    x = tt.tensor(np.random.default_rng(2).standard_normal((2, 2, 3, 3)))
    add = tt.tensor(np.random.default_rng(3).standard_normal((2, 2, 3, 3)))
    twin = copy.deepcopy(fused)
    np.testing.assert_array_equal(
        fused(x.trace(fused.alloc_grads()), add).numpy(), twin.forward_mut(x.trace(twin.alloc_grads()), add).numpy()
    )


def test_keyword_options_pass_through() -> None:
    block = nn.TransformerBlock(4, 2, dtype=np.float64, seed=0)
    x = tt.tensor(np.random.default_rng(0).standard_normal((1, 3, 4)))
    mask = tt.tensor(np.tril(np.ones((3, 3), dtype=bool)), np.bool_)
    np.testing.assert_array_equal(block(x, attn_mask=mask).numpy(), block.forward(x, attn_mask=mask).numpy())


def test_a_user_module_dispatches_to_its_own_methods() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(3, 2, dtype=np.float64)
            self.drop = nn.Dropout(0.5, seed=0)
            self.calls: list[str] = []

        def forward(self, x: tt.Tensor[Any, Any, tt.NoneTape]) -> tt.Tensor[Any, Any, tt.NoneTape]:
            self.calls.append("forward")
            return self.drop(self.fc(x))

        def forward_mut(self, x: tt.Tensor[Any, Any, tt.OwnedTape]) -> tt.Tensor[Any, Any, tt.OwnedTape]:
            self.calls.append("forward_mut")
            return self.drop(self.fc(x))

    net: Any = Net()  # (Net declares no __call__: not callable for the checkers, see the README)
    x = tt.ones((2, 3), dtype=np.float64)
    net(x)
    net(x.trace(net.alloc_grads()))
    assert net.calls == ["forward", "forward_mut"]
    with pytest.raises(tt.TypedTensorError):  # its own annotations are checked: NoneTape for forward
        net.forward(x.trace(net.alloc_grads()))


def test_a_user_module_without_the_method_a_tape_asks_for_is_a_tape_error() -> None:
    """A module with ``forward`` only, called on a traced input (or ``forward_mut`` only, untraced): a
    TapeError naming the missing method and the fix (it escaped as Python's raw AttributeError)."""

    class InferOnly(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(3, 2, dtype=np.float64)

        def forward(self, x: tt.Tensor[Any, Any, tt.NoneTape]) -> tt.Tensor[Any, Any, tt.NoneTape]:
            return self.fc.forward(x)

    class TrainOnly(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(3, 2, dtype=np.float64)

        def forward_mut(self, x: tt.Tensor[Any, Any, tt.OwnedTape]) -> tt.Tensor[Any, Any, tt.OwnedTape]:
            return self.fc.forward_mut(x)

    infer: Any = InferOnly()
    train: Any = TrainOnly()
    with pytest.raises(tt.TapeError, match=r"InferOnly\(x\): x is traced .* no forward_mut"):
        nn.Residual(infer)(tt.ones((2, 3), dtype=np.float64).leaky_trace())  # the block's missing method too
    x = tt.ones((2, 3), dtype=np.float64)
    assert infer(x).shape == (2, 2)
    assert train(x.leaky_trace()).traced
    with pytest.raises(tt.TapeError, match=r"InferOnly\(x\): x is traced .* no forward_mut.*forward_mut = forward"):
        infer(x.leaky_trace())
    with pytest.raises(tt.TapeError, match=r"TrainOnly\(x\): x is untraced .* no forward\b.*x.trace\(grads\)"):
        train(x)


class _Once(nn.Module):
    """BatchNorm and Dropout inside, one method: each layer's call follows the input's tape."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D(1, 3, 3, padding=1, dtype=np.float64, seed=0)
        self.bn = nn.BatchNorm2D(3, dtype=np.float64)
        self.drop = nn.Dropout(0.5, seed=1)

    def forward(self, x: tt.Tensor[tuple[int, int, int, int], Any, T]) -> tt.Tensor[tuple[int, int, int, int], Any, T]:
        return self.drop(nn.ReLU()(self.bn(self.conv(x))))

    forward_mut = forward
    if TYPE_CHECKING:
        __call__ = forward


def _by_hand(m: _Once, x: Any, method: str) -> Any:
    for layer in (m.conv, m.bn, nn.ReLU(), m.drop):
        x = getattr(layer, method)(x)
    return x


def test_a_model_written_once_trains_or_infers_by_the_tape() -> None:
    model, twin = _Once(), _Once()
    x: tt.Tensor[tuple[int, int, int, int], Any, tt.NoneTape] = tt.tensor(
        np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    ).realize((2, 1, 4, 4))
    np.testing.assert_array_equal(model(x).numpy(), _by_hand(twin, x, "forward").numpy())
    assert model.bn.num_batches_tracked == 0  # inference: running statistics, dropout off
    got = model(x.trace(model.alloc_grads()))
    want = _by_hand(twin, x.trace(twin.alloc_grads()), "forward_mut")
    assert got.traced
    np.testing.assert_array_equal(got.numpy(), want.numpy())  # batch statistics, the same dropout mask
    assert model.bn.num_batches_tracked == twin.bn.num_batches_tracked == 1
    np.testing.assert_array_equal(_state(model)["bn.running_var"], _state(twin)["bn.running_var"])
