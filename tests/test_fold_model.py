"""nn.fold_batchnorms: every (Conv2D | Conv1D | Linear) -> BatchNorm pair of a whole model folded for inference."""

from __future__ import annotations

import copy
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from bench._nets import SmallResNet, VGGStack
from bench.fold import trained_stats
from tests.golden import make_fold_golden as fold_golden
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.examples.digits import DigitsNet
from typedtensor.nn._fold_model import TOLERANCES
from typedtensor.nn._fold_probe import leaves

Array = NDArray[Any]
X2 = tt.Tensor[tuple[int, int], Any, tt.NoneTape]
X3 = tt.Tensor[tuple[int, int, int], Any, tt.NoneTape]
X4 = tt.Tensor[tuple[int, int, int, int], Any, tt.NoneTape]
DTYPES = (np.float32, np.float64)


def _x(shape: tuple[int, ...], dtype: type[Any] = np.float32, seed: int = 0) -> tt.Tensor[Any, Any, tt.NoneTape]:
    return tt.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _out(model: Any, x: tt.Tensor[Any, Any, tt.NoneTape]) -> Array:
    return np.asarray(model.forward(x).numpy(), dtype=np.float64)


def _assert_close(a: Array, b: Array, dtype: type[Any]) -> float:
    diff = float(np.max(np.abs(a - b)))
    assert diff <= TOLERANCES[np.dtype(dtype).name] * max(1.0, float(np.max(np.abs(b))))
    return diff


def _states(model: nn.Module) -> dict[str, Array]:
    return {k: v.copy() for k, v in model.state_dict().items()}


# ---- whole models: every pair folded, outputs equal, the original unchanged -----------------------------

NETS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], dict[str, str]]] = {
    "digits": (DigitsNet, (3, 1, 8, 8), {"bn1": "conv1", "bn2": "conv2", "bn3": "conv3"}),
    "resnet": (
        SmallResNet,
        (2, 3, 32, 32),
        {
            "stem.bn": "stem.conv",
            "block.bn1": "block.conv1",
            "block.bn2": "block.conv2",
            "down.bn1": "down.conv1",
            "down.bn2": "down.conv2",
            "down.bn_shortcut": "down.shortcut",
        },
    ),
    "vgg": (VGGStack, (2, 3, 32, 32), {f"unit{i}.bn": f"unit{i}.conv" for i in range(1, 5)}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", sorted(NETS))
def test_whole_networks_fold_every_pair(net: str, dtype: type[Any]) -> None:
    # the networks' annotations say float32: their float64 copies run with the run-time checks off
    with tt.checks(dtype is np.float32):
        _fold_network(net, dtype)


def _fold_network(net: str, dtype: type[Any]) -> None:
    build, shape, pairs = NETS[net]
    model = build().to_dtype(dtype)
    trained_stats(model)
    before = _states(model)
    x = _x(shape, dtype)
    folded = nn.fold_batchnorms(model, x)
    assert type(folded) is type(model)
    assert nn.folded_batchnorms(folded) == pairs  # every pair, each BatchNorm into its own conv
    assert nn.folded_batchnorms(model) == {}
    for seed in (1, 2):  # inputs other than the example
        other = _x((5, *shape[1:]), dtype, seed)
        _assert_close(_out(folded, other), _out(model, other), dtype)
    after = _states(model)  # the original is left as it was
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    for name, into in pairs.items():  # the convs (built without bias) gained one; the BatchNorms are identities
        bn: Any = dict(folded.named_modules())[name]
        conv: Any = dict(folded.named_modules())[into]
        original: Any = dict(model.named_modules())[into]
        assert conv.bias is not None
        assert original.bias is None
        assert bn.eps == 0.0
        assert np.all(ext.data(bn.running_var) == 1)
        assert np.all(ext.data(bn.running_mean) == 0)


class MLP(nn.Module):
    """Linear -> BatchNorm1D -> ReLU, twice, then a Linear head."""

    def __init__(self, bias: bool = True) -> None:
        self.fc1 = nn.Linear(6, 8, bias=bias)
        self.bn1 = nn.BatchNorm1D(8)
        self.fc2 = nn.Linear(8, 5, bias=bias)
        self.bn2 = nn.BatchNorm1D(5, affine=False)
        self.head = nn.Linear(5, 3)
        self.relu = nn.ReLU()

    def forward(self, x: X2) -> X2:
        h = self.relu.forward(self.bn1.forward(self.fc1.forward(x)))
        return self.head.forward(self.relu.forward(self.bn2.forward(self.fc2.forward(h))))


class Seq1D(nn.Module):
    """Conv1D -> BatchNorm1D -> ReLU -> Conv1D -> BatchNorm1D on (B, C, L), eps and momentum variants."""

    def __init__(self) -> None:
        self.c1 = nn.Conv1D(3, 6, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm1D(6, eps=1e-3, momentum=None)
        self.c2 = nn.Conv1D(6, 4, 3, groups=2)
        self.b2 = nn.BatchNorm1D(4, eps=0.5, freeze=True)
        self.relu = nn.ReLU()

    def forward(self, x: X3) -> X3:
        h: X3 = self.relu.forward(self.b1.forward(self.c1.forward(x)))
        return self.b2.forward(self.c2.forward(h))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("build", "shape"), [(MLP, (4, 6)), (lambda: MLP(bias=False), (4, 6)), (Seq1D, (2, 3, 9))])
def test_linear_and_conv1d_with_batchnorm1d(build: Callable[[], nn.Module], shape: tuple[int, ...], dtype: Any) -> None:
    model = build().to_dtype(dtype)
    trained_stats(model, seed=3)
    folded = nn.fold_batchnorms(model, _x(shape, dtype))
    assert len(nn.folded_batchnorms(folded)) == 2
    other = _x((7, *shape[1:]), dtype, 4)
    _assert_close(_out(folded, other), _out(model, other), dtype)


# ---- cases that must not be folded (and stay correct) ----------------------------------------------------


class Probe(nn.Module):
    """A conv and BatchNorms wired by ``wiring`` (a function of the module and x)."""

    def __init__(self, wiring: Callable[[Any, Any], Any], affine_init: bool = False) -> None:
        self.conv: nn.Conv2D[Any, Any, Any] = nn.Conv2D(2, 4, 3, padding=1)
        self.other = nn.Conv2D(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2D(4)
        self.bn_b = nn.BatchNorm2D(4)
        self.wiring = wiring
        if affine_init:
            trained_stats(self, 7)

    def forward(self, x: Any) -> Any:
        return self.wiring(self, x)


def _residual(m: Any, x: Any) -> Any:  # the conv's output also feeds the skip
    h = m.conv.forward(x)
    return m.bn.forward(h) + h


def _fed_otherwise(m: Any, x: Any) -> Any:  # the BatchNorm reads a function of the conv's output
    return m.bn.forward(m.conv.forward(x) * 2.0)


def _bn_twice(m: Any, x: Any) -> Any:  # one BatchNorm after two convs
    return m.bn.forward(m.conv.forward(x)) + m.bn.forward(m.other.forward(x))


def _conv_twice(m: Any, x: Any) -> Any:  # the conv's second output goes elsewhere
    return m.bn.forward(m.conv.forward(x)) + m.conv.forward(x)


def _reads_weight(m: Any, x: Any) -> Any:  # forward reads the conv's weight itself
    return m.bn.forward(m.conv.forward(x)) + float(ext.data(m.conv.weight).sum())


def _reads_stats(m: Any, x: Any) -> Any:  # forward reads the BatchNorm's statistics itself
    return m.bn.forward(m.conv.forward(x)) * float(ext.data(m.bn.running_var).mean())


def _kept_for_later(m: Any, x: Any) -> Any:  # two outputs: the normalised maps and the raw ones
    h = m.conv.forward(x)
    return m.bn.forward(h), h


def _realized(m: Any, x: Any) -> Any:  # a realize between them: the same tensor under another static type
    h = m.conv.forward(x)
    return m.bn.forward(h.realize(h.shape))


def _gelu_between(m: Any, x: Any) -> Any:  # an in-place op between them: the BatchNorm reads other values
    return m.bn.forward(nn.GELU(approximate="tanh").forward_inplace(m.conv.forward(x)))


def _shared_pair(m: Any, x: Any) -> Any:  # a conv and its BatchNorm both used twice, always together: a pair
    return m.bn.forward(m.conv.forward(x)) + m.bn.forward(m.conv.forward(x * 0.5))


@pytest.mark.parametrize("affine_init", [False, True])  # default statistics: the BatchNorm is nearly the identity
@pytest.mark.parametrize(
    "wiring",
    [_residual, _fed_otherwise, _bn_twice, _conv_twice, _reads_weight, _reads_stats, _kept_for_later, _gelu_between],
)
def test_pairs_that_are_not_pairs_are_left_unfolded(wiring: Callable[[Any, Any], Any], affine_init: bool) -> None:
    model = Probe(wiring, affine_init)
    x = _x((2, 2, 5, 5))
    folded = nn.fold_batchnorms(model, x)
    assert nn.folded_batchnorms(folded) == {}
    other = _x((3, 2, 5, 5), seed=9)
    got, want = leaves(folded.forward(other), "test"), leaves(model.forward(other), "test")
    assert len(got) == len(want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("wiring", [_shared_pair, _realized])
def test_conv_and_batchnorm_used_together_twice_or_realized_fold(wiring: Callable[[Any, Any], Any]) -> None:
    model = Probe(wiring, affine_init=True)
    folded = nn.fold_batchnorms(model, _x((2, 2, 5, 5)))
    assert nn.folded_batchnorms(folded) == {"bn": "conv"}
    other = _x((3, 2, 5, 5), seed=9)
    _assert_close(_out(folded, other), _out(model, other), np.float32)


def test_only_the_clean_pairs_of_a_mixed_model_fold() -> None:
    def mixed(m: Any, x: Any) -> Any:  # bn <- conv is clean; bn_b <- other leaks into the skip
        h = m.other.forward(x)
        return m.bn.forward(m.conv.forward(x)) + m.bn_b.forward(h) + h

    model = Probe(mixed, affine_init=True)
    folded = nn.fold_batchnorms(model, _x((2, 2, 5, 5)))
    assert nn.folded_batchnorms(folded) == {"bn": "conv"}
    other = _x((3, 2, 5, 5), seed=9)
    _assert_close(_out(folded, other), _out(model, other), np.float32)


class Tokens(nn.Module):
    """Linear over (B, L, C) with L == C, into BatchNorm1D: it normalises axis 1 (L), not the Linear's features."""

    def __init__(self) -> None:
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1D(4)
        trained_stats(self, 2)

    def forward(self, x: Any) -> Any:
        return self.bn.forward(self.fc.forward(x))


def test_batchnorm_over_another_axis_is_not_folded() -> None:
    model = Tokens()
    folded = nn.fold_batchnorms(model, _x((2, 4, 4)))
    assert nn.folded_batchnorms(folded) == {}
    np.testing.assert_array_equal(_out(folded, _x((3, 4, 4), seed=5)), _out(model, _x((3, 4, 4), seed=5)))


class Subclassed(nn.Conv2D[Any, Any, Any]):
    """A conv whose forward is not Conv2D's: its arithmetic is unknown, never folded."""

    def forward(self, x: X4) -> X4:  # type: ignore[override]
        return super().forward(x) * 1.0


def test_a_layer_subclass_overriding_forward_is_not_folded() -> None:
    model = Probe(lambda m, x: m.bn.forward(m.conv.forward(x)), affine_init=True)
    model.conv = Subclassed(2, 4, 3, padding=1)
    assert nn.folded_batchnorms(nn.fold_batchnorms(model, _x((2, 2, 5, 5)))) == {}


def test_tied_conv_block_folds_once() -> None:
    model = Probe(lambda m, x: m.bn.forward(m.conv.forward(x)), affine_init=True)
    model.alias = model.conv  # one conv under two names
    folded = nn.fold_batchnorms(model, _x((2, 2, 5, 5)))
    assert nn.folded_batchnorms(folded) == {"bn": "conv"}
    assert folded.alias is folded.conv  # type: ignore[attr-defined]
    other = _x((3, 2, 5, 5), seed=9)
    _assert_close(_out(folded, other), _out(model, other), np.float32)


# ---- what the folded BatchNorm still does, and refuses ---------------------------------------------------


class FusedBlock(nn.Module):
    """relu(bn(conv(x)) + skip(x)) through FusedBatchNorm2D, and an inplace BatchNorm2D after it."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D(3, 3, 3, padding=1)
        self.skip = nn.Conv2D(3, 3, 1)
        self.bn = nn.FusedBatchNorm2D(3)
        self.conv2 = nn.Conv2D(3, 3, 1, bias=False)
        self.bn2 = nn.BatchNorm2D(3, inplace=True)
        trained_stats(self, 5)

    def forward(self, x: X4) -> X4:
        h = self.bn.forward(self.conv.forward(x), self.skip.forward(x))
        return self.bn2.forward(self.conv2.forward(h))


def test_fused_batchnorm_keeps_its_addend_and_relu() -> None:
    model = FusedBlock()
    folded = nn.fold_batchnorms(model, _x((2, 3, 6, 6)))
    assert nn.folded_batchnorms(folded) == {"bn": "conv", "bn2": "conv2"}
    other: X4 = _x((3, 3, 6, 6), seed=8)
    out, ref = _out(folded, other), _out(model, other)
    _assert_close(out, ref, np.float32)
    c, skip = folded.conv.forward(other), folded.skip.forward(other)  # the folded FusedBatchNorm2D: relu(x + addend)
    np.testing.assert_array_equal(folded.bn.forward(c, skip).numpy(), np.maximum(c.numpy() + skip.numpy(), 0))


def test_folded_model_refuses_training_and_changed_statistics() -> None:
    model = FusedBlock()
    folded = nn.fold_batchnorms(model, _x((2, 3, 6, 6)))
    grads = folded.alloc_grads()
    with pytest.raises(tt.TypedTensorError, match=r"folded into 'conv'.*inference only"):
        folded.bn.forward_mut(folded.conv.forward_mut(_x((2, 3, 6, 6)).trace(grads)))
    before = _out(folded, _x((2, 3, 6, 6)))
    with pytest.raises(tt.TypedTensorError, match=r"'bn.scale' is not 1.0 everywhere, but FusedBatchNorm2D \(folded"):
        folded.load_state_dict(model.state_dict(), strict=False)  # the unfolded statistics, into the pass-through
    np.testing.assert_array_equal(_out(folded, _x((2, 3, 6, 6))), before)  # refused before anything changed
    bn2: Any = folded.bn2
    ext.data_mut(bn2.running_var)[0] = 2.0  # written in place: seen at the next call
    ext.data_mut(bn2.running_mean)[1] = 0.5
    with pytest.raises(tt.TypedTensorError, match=r"running_mean, running_var changed after folding"):
        folded.forward(_x((2, 3, 6, 6)))
    again = nn.fold_batchnorms(model, _x((2, 3, 6, 6)))
    again.bn.eps = 1e-5
    with pytest.raises(tt.TypedTensorError, match=r"eps \(1e-05\) changed after folding"):
        again.forward(_x((2, 3, 6, 6)))


def test_folded_batchnorm_checks_its_input() -> None:
    folded = nn.fold_batchnorms(FusedBlock(), _x((2, 3, 6, 6)))
    for enabled in (True, False):  # the annotation check, and the layer's own with checks off
        with tt.checks(enabled), pytest.raises(tt.ShapeError, match=r"expected 3 channels|C is bound to 3"):
            folded.bn2.forward(_x((2, 4, 6, 6)))
        with tt.checks(enabled), pytest.raises(tt.ShapeError, match=r"addend|W is bound to 6"):
            folded.bn.forward(_x((2, 3, 6, 6)), _x((2, 3, 6, 5)))
        with tt.checks(enabled), pytest.raises(tt.DTypeError):
            folded.bn2.forward(_x((2, 3, 6, 6), np.float64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_folded_batchnorm_passes_its_input_through_without_copying_it(dtype: type[Any]) -> None:
    """The pass-through checks the input (and the addend) but reads no data: no float32 copy of a float16
    input, no contiguous copy of a channels-last one (it made every folded BatchNorm cost a full pass)."""
    folded = nn.fold_batchnorms(FusedBlock().to_dtype(dtype), _x((2, 3, 6, 6), dtype))
    big = np.random.default_rng(0).standard_normal((8, 64, 64, 3)).astype(dtype).transpose(0, 3, 1, 2)
    x = ext.wrap(big)  # channels-last: a contiguous copy would be the input's size
    tracemalloc.start()
    try:
        out = folded.bn2.forward(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out is x
    assert peak < big.nbytes // 4, f"the pass-through allocated {peak} bytes for a {big.nbytes}-byte input"


def test_fold_of_a_negative_variance_is_refused_without_a_numpy_warning() -> None:
    model = Probe(lambda m, x: m.bn.forward(m.conv.forward(x)))
    assert model.bn.running_var is not None
    ext.data_mut(model.bn.running_var)[0] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from sqrt would escape before the error
        with pytest.raises(tt.TypedTensorError, match=r"not finite for channels \[0\]"):
            nn.fold_batchnorm(model.conv, model.bn)


def _save_load(saved: nn.Module, into: nn.Module, path: Path, fmt: str, strict: bool = True) -> None:
    if fmt == "npz":
        saved.save_npz(path)
        into.load_npz(path, strict=strict)
    else:
        pytest.importorskip("safetensors")
        saved.save_safetensors(path)
        into.load_safetensors(path, strict=strict)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_saved_folded_model_loads_into_a_folded_one(tmp_path: Path, fmt: str) -> None:
    model = DigitsNet()
    trained_stats(model)
    x = _x((3, 1, 8, 8))
    folded = nn.fold_batchnorms(model, x)
    fresh = nn.fold_batchnorms(DigitsNet(seed=5), x)  # another model of the class, folded: the same fields
    _save_load(folded, fresh, tmp_path / f"folded.{fmt}", fmt)
    np.testing.assert_array_equal(_out(fresh, x), _out(folded, x))
    unfolded = DigitsNet(seed=6)  # its convs have no bias: the file's biases do not fit, refused
    with pytest.raises(tt.CheckpointError, match=r"unexpected keys \['conv1.bias', 'conv2.bias', 'conv3.bias'\]"):
        _save_load(folded, unfolded, tmp_path / f"again.{fmt}", fmt)
    with pytest.raises(tt.CheckpointError, match=r"missing keys \['conv1.bias'"):  # and the other way round
        _save_load(model, fresh, tmp_path / f"unfolded.{fmt}", fmt)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_saved_folded_model_loads_into_an_unfolded_one_with_biases(tmp_path: Path, fmt: str) -> None:
    model = MLP()
    trained_stats(model)
    x = _x((4, 6))
    folded = nn.fold_batchnorms(model, x)
    fresh = MLP()
    _save_load(folded, fresh, tmp_path / f"folded.{fmt}", fmt)
    assert fresh.bn1.eps == 0.0  # an ordinary model computing the same
    assert nn.folded_batchnorms(fresh) == {}
    np.testing.assert_array_equal(_out(fresh, x), _out(folded, x))
    bare = MLP()  # a bare state_dict has no eps: 1/sqrt(1 + 1e-5) per BatchNorm
    bare.load_state_dict(folded.state_dict())
    _assert_close(_out(bare, x), _out(model, x), np.float32)
    before = _out(folded, x)
    with pytest.raises(tt.TypedTensorError, match=r"'bn1.scale' is not 1.0 everywhere|eps=1e-05, but BatchNorm1D"):
        _save_load(model, folded, tmp_path / f"unfolded.{fmt}", fmt)  # the unfolded statistics into the pass-through
    np.testing.assert_array_equal(_out(folded, x), before)


def test_copies_of_a_folded_model_stay_folded() -> None:
    folded = nn.fold_batchnorms(DigitsNet(), _x((3, 1, 8, 8)))
    assert (
        "(bn1): BatchNorm2D(16, eps=0.0, momentum=0.1, affine=True, track_running_stats=True, dtype=float32, "
        "folded into 'conv1')" in repr(folded)
    )
    assert nn.folded_batchnorms(copy.deepcopy(folded)) == nn.folded_batchnorms(folded)
    as64 = folded.to_dtype(np.float64)
    assert len(nn.folded_batchnorms(as64)) == 3
    assert nn.folded_batchnorms(nn.fold_batchnorms(folded, _x((3, 1, 8, 8)))) == nn.folded_batchnorms(folded)


def test_layouts_of_the_input() -> None:
    model = SmallResNet()
    trained_stats(model)
    folded = nn.fold_batchnorms(model, _x((2, 3, 32, 32)))
    base = np.random.default_rng(3).standard_normal((3, 32, 32, 3)).astype(np.float32)
    layouts = {
        "channels-last": base.transpose(0, 3, 1, 2),
        "F": np.asfortranarray(base.transpose(0, 3, 1, 2)),
        "reversed": base.transpose(0, 3, 1, 2)[:, :, ::-1, ::-1],
        "strided": np.repeat(base.transpose(0, 3, 1, 2), 2, axis=3)[:, :, :, ::2],
    }
    for x in layouts.values():
        _assert_close(_out(folded, tt.tensor(x)), _out(model, tt.tensor(x)), np.float32)


# ---- refusals ------------------------------------------------------------------------------------------


def test_refusals() -> None:
    x = _x((2, 1, 8, 8))
    with pytest.raises(tt.TypedTensorError, match="expected a typedtensor Module, got int"):
        nn.fold_batchnorms(3, x)  # type: ignore[type-var]
    with pytest.raises(tt.TypedTensorError, match=r"expected a typedtensor\.Tensor, got ndarray"):
        nn.fold_batchnorms(DigitsNet(), np.zeros((2, 1, 8, 8)))  # type: ignore[arg-type]
    model = DigitsNet()
    with pytest.raises(tt.TapeError, match="untraced"):
        nn.fold_batchnorms(model, x.trace(model.alloc_grads()))  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="expected a typedtensor Module"):
        nn.folded_batchnorms("model")  # type: ignore[arg-type]


def test_batch_statistics_are_refused_by_name() -> None:
    model = Probe(lambda m, x: m.bn_b.forward(m.conv.forward(x)))
    model.bn_b = nn.BatchNorm2D(4, track_running_stats=False)
    with pytest.raises(tt.TypedTensorError, match=r"'conv' -> 'bn_b' needs running statistics"):
        nn.fold_batchnorms(model, _x((2, 2, 5, 5)))


def test_zero_variance_without_eps_is_refused() -> None:
    model = Probe(lambda m, x: m.bn.forward(m.conv.forward(x)))
    model.bn.eps = 0.0
    assert model.bn.running_var is not None
    ext.data_mut(model.bn.running_var)[1] = 0.0
    with pytest.raises(tt.TypedTensorError, match=r"not finite for channels \[1\]"):
        nn.fold_batchnorms(model, _x((2, 2, 5, 5)))


class Noisy(nn.Module):
    def __init__(self) -> None:
        self.conv = nn.Conv2D(2, 4, 3)
        self.bn = nn.BatchNorm2D(4)
        self.rng = np.random.default_rng(0)

    def forward(self, x: X4) -> X4:
        return self.bn.forward(self.conv.forward(x)) + float(self.rng.standard_normal())


def test_nondeterministic_forward_is_refused() -> None:
    with pytest.raises(tt.TypedTensorError, match="different outputs for the same example"):
        nn.fold_batchnorms(Noisy(), _x((2, 2, 5, 5)))


class Branchy(nn.Module):
    """The example takes conv -> bn; any other input sends another tensor into bn: the check catches it.
    conv3 -> bn3 after them is a pair on every path."""

    def __init__(self, example: Array) -> None:
        self.conv = nn.Conv2D(2, 4, 3, padding=1)
        self.other = nn.Conv2D(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2D(4)
        self.conv3 = nn.Conv2D(4, 4, 1)
        self.bn3 = nn.BatchNorm2D(4)
        self.example = example
        trained_stats(self, 1)

    def forward(self, x: X4) -> X4:
        h = self.conv.forward(x) if np.array_equal(ext.data(x), self.example) else self.other.forward(x) * 3.0
        return self.bn3.forward(self.conv3.forward(self.bn.forward(h)))


def test_a_path_the_example_does_not_take_fails_the_check() -> None:
    example = _x((2, 2, 5, 5))
    model = Branchy(ext.data(example).copy())
    with pytest.raises(
        tt.TypedTensorError,
        match=r"with the pair 'conv' -> 'bn' folded, output 0 on the example plus noise differs by [0-9.e+-]+ from "
        r"the unfolded model's \(allowed: 0\.0001 x ",
    ):
        nn.fold_batchnorms(model, example)
    assert nn.folded_batchnorms(model) == {}


class Piped(nn.Module):
    """pipe, Residual and SyncBatchNorm2D (inference needs no communicator) around two pairs."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D[L[2], L[4]](2, 4, 3, padding=1, bias=False)
        self.bn = nn.SyncBatchNorm2D[L[4]](4)
        self.res = nn.Residual(nn.Conv2D(4, 4, 3, padding=1))
        self.c2 = nn.Conv2D[L[4], L[4]](4, 4, 1)
        self.bn2 = nn.BatchNorm2D[L[4]](4)
        self.relu = nn.ReLU()
        trained_stats(self, 4)

    def forward(
        self, x: tt.Tensor[tuple[int, L[2], int, int], Any, tt.NoneTape]
    ) -> tt.Tensor[tuple[int, L[4], int, int], Any, tt.NoneTape]:
        h = nn.pipe(x, self.conv.forward, self.bn.forward, self.relu.forward, self.res.forward)
        return nn.pipe(h, self.c2.forward, self.bn2.forward)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pipe_residual_and_sync_batchnorm(dtype: type[Any]) -> None:
    model = Piped().to_dtype(dtype)
    folded = nn.fold_batchnorms(model, _x((2, 2, 5, 5), dtype))
    assert nn.folded_batchnorms(folded) == {"bn": "conv", "bn2": "c2"}
    assert type(folded.bn) is nn.SyncBatchNorm2D
    other = _x((3, 2, 5, 5), dtype, 6)
    _assert_close(_out(folded, other), _out(model, other), dtype)


# ---- PyTorch parity: its own fold (torch.nn.utils.fusion.fuse_conv_bn_eval) of the same network ----------

GOLDEN = Path(__file__).parent / "golden" / "fold.npz"
#: Measured 1.1e-7 / 1.6e-7 (float32: PyTorch folds in float32, here in float64 then rounded) and 1.2e-16 / 4.5e-16.
PARITY = {"float32": (1e-6, 2e-6), "float64": (1e-15, 1e-14)}  # (fused weights, logits), relative to max |value|


def _parity(dtype: str, theirs: dict[str, Array]) -> dict[str, float]:
    """Largest difference, relative to torch's largest value, per fused tensor and for the logits."""
    with tt.checks(dtype == "float32"):
        model = fold_golden.model(dtype)
        folded = nn.fold_batchnorms(model, tt.tensor(fold_golden.batch(dtype)[:2]))
        assert set(nn.folded_batchnorms(folded).items()) == {(b, c) for c, b in fold_golden.PAIRS.items()}
        layers = dict(folded.named_modules())
        diffs: dict[str, float] = {}
        for conv_name in fold_golden.PAIRS:
            conv: Any = layers[conv_name]
            for attr in ("weight", "bias"):
                want = theirs[f"{conv_name}.{attr}"]
                got = np.asarray(ext.data(getattr(conv, attr)))
                assert got.dtype == want.dtype
                diffs[f"{conv_name}.{attr}"] = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        want = theirs["logits"]
        got = np.asarray(ext.data(getattr(folded, "forward")(tt.tensor(fold_golden.batch(dtype)))))  # noqa: B009
        diffs["logits"] = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    weights, logits = PARITY[dtype]
    assert max(v for k, v in diffs.items() if k != "logits") <= weights, diffs
    assert diffs["logits"] <= logits, diffs
    return diffs


@pytest.mark.parametrize("dtype", fold_golden.DTYPES)
def test_parity_with_pytorch_fold_golden(dtype: str) -> None:
    with np.load(GOLDEN) as data:
        theirs = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith(f"{dtype}/")}
    assert len(theirs) == 2 * len(fold_golden.PAIRS) + 1
    _parity(dtype, theirs)


@pytest.mark.parametrize("dtype", fold_golden.DTYPES)
def test_parity_with_pytorch_fold_live(dtype: str) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this network")
    _parity(dtype, fold_golden.torch_fold(dtype))


# ---- nn.Sequential and model(x) calls ----------------------------------------------------------------------


def _sequential() -> nn.Sequential[Any, Any, Any, Any]:
    seq = nn.Sequential(
        nn.Conv2D(2, 4, 3, padding=1),
        nn.BatchNorm2D(4),
        nn.ReLU(),
        nn.Conv2D(4, 6, 1, bias=False),
        nn.FusedBatchNorm2D(6),
        nn.GlobalAvgPool2D(),
        nn.Linear(6, 5, bias=False),
        nn.BatchNorm1D(5),
    )
    trained_stats(seq, 8)
    return seq


class Called(nn.Module):
    """Layers called as ``layer(x)`` (forward or forward_mut by the tape), a Sequential inside."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2D(2)
        self.body = _sequential()
        trained_stats(self, 9)

    def forward(self, x: X4) -> X2:
        return self.body(self.bn(self.conv(x)))

    def forward_mut(self, x: tt.Tensor[tuple[int, int, int, int], Any, tt.OwnedTape]) -> Any:
        return self.body(self.bn(self.conv(x)))


def test_sequential_and_calls_fold() -> None:
    seq = _sequential()
    x = _x((2, 2, 5, 5))
    folded = nn.fold_batchnorms(seq, x)
    assert type(folded) is nn.Sequential
    assert nn.folded_batchnorms(folded) == {"1": "0", "4": "3", "7": "6"}  # its children's names, as PyTorch's
    other = _x((3, 2, 5, 5), seed=2)
    _assert_close(np.asarray(folded(other).numpy(), np.float64), _out(seq, other), np.float32)
    model = Called()
    called = nn.fold_batchnorms(model, x)
    assert nn.folded_batchnorms(called) == {"bn": "conv", "body.1": "body.0", "body.4": "body.3", "body.7": "body.6"}
    _assert_close(_out(called, other), _out(model, other), np.float32)
    with pytest.raises(tt.TypedTensorError, match=r"folded into 'conv'.*inference only"):
        called.forward_mut(other.trace(called.alloc_grads()))


class Opaque(nn.Module):
    """A forward whose output cannot be compared (an object of its own)."""

    def __init__(self) -> None:
        self.conv = nn.Conv2D(2, 4, 3)
        self.bn = nn.BatchNorm2D(4)

    def forward(self, x: X4) -> object:
        return {"maps": self.bn.forward(self.conv.forward(x)), "note": object()}


def test_outputs_that_cannot_be_compared_are_refused() -> None:
    with pytest.raises(
        tt.TypedTensorError, match="forward returned a value of type 'object'; fold_batchnorms compares outputs"
    ):
        nn.fold_batchnorms(Opaque(), _x((2, 2, 5, 5)))
