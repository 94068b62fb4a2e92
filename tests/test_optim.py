"""SGD, Adam and AdamW: PyTorch parity (golden data, and live when torch is installed), state and
buffers, learning-rate changes, all-or-nothing updates, validation and error messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.golden.make_optim_golden import (
    BN_EPS,
    CONFIGS,
    SHAPES,
    STEPS,
    Config,
    TorchRun,
    batch,
    initial_params,
    pack,
    unpack,
)
from typedtensor import Gradients, OwnedTape, Tensor, TypedTensorError
from typedtensor.nn import BatchNorm1D, Linear, Module
from typedtensor.optim import SGD, Adam, AdamW, MissingGradientError, Optimizer, OptimizerError

GOLDEN = np.load(Path(__file__).parent / "golden" / "optim.npz")
F64 = np.float64
Array = NDArray[Any]
X = Tensor[tuple[int, int], Any, OwnedTape]


class Mix(Module):
    """``x @ weight``: a tiny parameterized module, weight (in, out)."""

    param_names = ("weight",)

    def __init__(self, weight: Array) -> None:
        self.weight = tt.tensor(weight)

    def forward_mut(self, x: X) -> X:
        return x @ self.weight


class Net(Module):
    """x @ W1 -> BatchNorm1D -> tanh -> @ W2: the model of tests/golden/make_optim_golden.py."""

    def __init__(self, dtype: type[Any] = F64, hidden: int = 6) -> None:
        init = initial_params()
        self.layers = [Mix(init["layers.0.weight"][:, :hidden].astype(dtype))]
        self.bn = BatchNorm1D(hidden, eps=BN_EPS, dtype=dtype)
        self.head = Mix(init["head.weight"][:hidden].astype(dtype))
        self.bn.load_state_dict({"scale": init["bn.scale"][:hidden], "bias": init["bn.bias"][:hidden]}, strict=False)

    def forward_mut(self, x: X) -> X:
        return self.head.forward_mut(self.bn.forward_mut(self.layers[0].forward_mut(x)).tanh())


def loss_grads(net: Net, step: int) -> Gradients:
    """The gradients of the mean squared error on ``batch(step)``, through typedtensor's autodiff."""
    dtype = net.bn.dtype.type
    x, target = batch(step)
    grads = net.alloc_grads()
    y = net.forward_mut(tt.tensor(x, dtype).trace(grads))
    ((y - tt.tensor(target, dtype)).square()).mean().backward()
    return grads


def params_of(model: Module) -> dict[str, Array]:
    return {name: t._data.copy() for name, t in model.named_parameters()}


def grads_from(model: Module, arrays: dict[str, Array]) -> Gradients:
    """A Gradients holding the given gradient for each parameter (by dotted name)."""
    grads = model.alloc_grads()
    for name, t in model.named_parameters():
        grads._grads[t._id][...] = arrays[name]
    return grads


def make(cfg: Config, model: Module) -> Optimizer[Any]:
    cls: Any = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[cfg.kind]
    opt: Optimizer[Any] = cls(model, **cfg.options)
    return opt


def state_copy(opt: Optimizer[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, st in opt._state.items():
        out[name] = dataclasses.asdict(st)  # deep copies
    return out


def assert_state_equal(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys()
        for k in a[name]:
            if isinstance(a[name][k], np.ndarray):
                np.testing.assert_array_equal(a[name][k], b[name][k])
            else:
                assert a[name][k] == b[name][k]


# ---- PyTorch parity ------------------------------------------------------------------------


def test_golden_matches_the_config_grid() -> None:
    assert {k.split("/")[0] for k in GOLDEN.files} == {"torch_version", "init"} | {c.name for c in CONFIGS}
    np.testing.assert_array_equal(GOLDEN["init"], pack(initial_params()))


def test_model_gradients_match_golden() -> None:
    """The test model is the golden script's: typedtensor's gradient at the start equals PyTorch's."""
    net = Net()
    grads = loss_grads(net, 0)
    ours = {name: grads.get(t).numpy() for name, t in net.named_parameters()}
    np.testing.assert_allclose(pack(ours), GOLDEN["sgd/grads"][0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_parity_with_pytorch_golden(cfg: Config) -> None:
    """PyTorch's gradients at each step fed to our optimizer give PyTorch's parameters after it."""
    net = Net()
    opt = make(cfg, net)
    golden_grads, golden_params = GOLDEN[f"{cfg.name}/grads"], GOLDEN[f"{cfg.name}/params"]
    for step in range(STEPS):
        opt.lr = cfg.lr_at(step)
        opt.update(net, grads_from(net, unpack(golden_grads[step])))
        np.testing.assert_allclose(pack(params_of(net)), golden_params[step], rtol=1e-12, atol=1e-14, err_msg=f"{step}")
    assert opt.steps == STEPS


def _live(cfg: Config, dtype: type[Any]) -> float:
    """Our gradients (real loss, our autodiff) fed to both optimizers for STEPS steps; the max deviation."""
    net = Net(dtype)
    opt = make(cfg, net)
    run = TorchRun(cfg, {name: a.astype(dtype) for name, a in initial_params().items()})
    worst = 0.0
    for step in range(STEPS):
        grads = loss_grads(net, step)
        arrays = {name: grads.get(t).numpy() for name, t in net.named_parameters()}
        theirs = run.step(step, arrays)
        opt.lr = cfg.lr_at(step)
        opt.update(net, grads)
        ours = params_of(net)
        for name in SHAPES:
            assert ours[name].dtype == theirs[name].dtype == dtype
            worst = max(worst, float(np.max(np.abs(ours[name].astype(F64) - theirs[name]))))
    return worst


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_parity_with_pytorch_live(cfg: Config) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this configuration")
    assert _live(cfg, F64) <= 1e-12


@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=[c.name for c in CONFIGS[::3]])
def test_parity_with_pytorch_live_float32(cfg: Config) -> None:
    pytest.importorskip("torch", reason="torch is not installed: float32 parity is checked live only")
    assert _live(cfg, np.float32) <= 1e-6


class MLP(Module):
    """Linear -> tanh -> Linear, PyTorch's layout (weight (out, in), bias (out,))."""

    def __init__(self) -> None:
        self.fc1 = Linear(4, 5, dtype=F64, seed=1)
        self.fc2 = Linear(5, 2, dtype=F64, seed=2)

    def forward_mut(self, x: X) -> X:
        return self.fc2.forward_mut(self.fc1.forward_mut(x).tanh())


def mlp_grads(model: MLP, step: int) -> Gradients:
    x, target = batch(step)
    grads = model.alloc_grads()
    y = model.forward_mut(tt.tensor(x).trace(grads))
    ((y - tt.tensor(target[:, :2])).square()).mean().backward()
    return grads


def test_linear_parameters_are_trained() -> None:
    model = MLP()
    opt = SGD(model, 0.1)
    grads = mlp_grads(model, 0)
    expected = {name: t._data - 0.1 * grads.get(t).numpy() for name, t in model.named_parameters()}
    assert sorted(expected) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    opt.update(model, grads)
    for name, t in model.named_parameters():
        np.testing.assert_array_equal(t._data, expected[name])


@pytest.mark.parametrize(
    ("kind", "options"),
    [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}), ("AdamW", {"lr": 0.05, "amsgrad": True})],
)
def test_linear_training_matches_pytorch_end_to_end(kind: str, options: dict[str, Any]) -> None:
    """Each side computes its own gradients (its own autodiff) and steps its own optimizer."""
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the golden-data tests cover the rules")
    model = MLP()
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    ref.load_state_dict(
        {k.replace("fc1", "0").replace("fc2", "2"): torch.tensor(v) for k, v in model.state_dict().items()}
    )
    opt = make(Config("linear", kind, options), model)  # type: ignore[arg-type]
    ref_opt = getattr(torch.optim, kind)(ref.parameters(), foreach=False, **options)
    for step in range(STEPS):
        opt.update(model, mlp_grads(model, step))
        x, target = (torch.tensor(a) for a in batch(step))
        ref_opt.zero_grad()
        ((ref(x) - target[:, :2]) ** 2).mean().backward()
        ref_opt.step()
    theirs = {k.replace("0.", "fc1.").replace("2.", "fc2."): v.detach().numpy() for k, v in ref.state_dict().items()}
    for name, t in model.named_parameters():
        np.testing.assert_allclose(t._data, theirs[name], rtol=1e-10, atol=1e-12, err_msg=name)


# ---- what update changes and what it keeps -------------------------------------------------


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_buffers_are_untouched(cls: Callable[..., Optimizer[Any]]) -> None:
    net = Net()
    opt = cls(net, 0.1)
    grads = loss_grads(net, 0)
    before = {name: (b._data.copy() if isinstance(b, Tensor) else b) for name, b in net.named_buffers()}
    arrays = {name: b._data for name, b in net.named_buffers() if isinstance(b, Tensor)}
    opt.update(net, grads)
    for name, b in net.named_buffers():
        if isinstance(b, Tensor):
            assert b._data is arrays[name]
            np.testing.assert_array_equal(b._data, before[name])
        else:
            assert b == before[name] == 1  # num_batches_tracked: one forward_mut, no optimizer count


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_parameters_are_updated_in_place(cls: Callable[..., Optimizer[Any]]) -> None:
    net = Net()
    opt = cls(net, 0.1)
    grads = loss_grads(net, 0)
    tensors = {name: (t, t._id, t._data) for name, t in net.named_parameters()}
    before = params_of(net)
    opt.update(net, grads)
    for name, t in net.named_parameters():
        obj, tid, data = tensors[name]
        assert t is obj
        assert t._id == tid
        assert t._data is data
        assert not np.array_equal(t._data, before[name])
        assert grads.get(t).shape == t.shape  # the Gradients still answers for the parameter


def test_float32_is_kept() -> None:
    net = Net(np.float32)
    opt = Adam(net, 0.01, amsgrad=True)
    opt.update(net, loss_grads(net, 0))
    for name, t in net.named_parameters():
        assert t.dtype == np.float32
        st = opt._state[name]
        assert st.exp_avg.dtype == st.exp_avg_sq.dtype == np.float32
        assert st.max_exp_avg_sq is not None
        assert st.max_exp_avg_sq.dtype == np.float32


def test_float64_gradient_of_a_float32_parameter_is_cast() -> None:
    net = Net(np.float32)
    opt = SGD(net, 0.5)
    grads = tt.Gradients()
    g = {name: np.full(shape, 0.25, F64) for name, shape in SHAPES.items()}
    for name, t in net.named_parameters():
        grads._grads[t._id] = g[name]
    before = params_of(net)
    opt.update(net, grads)
    for name, t in net.named_parameters():
        assert t.dtype == np.float32
        np.testing.assert_array_equal(t._data, before[name] - np.float32(0.125))


def test_state_is_kept_by_dotted_name() -> None:
    net = Net()
    opt = Adam(net, 0.01, amsgrad=True)
    opt.update(net, loss_grads(net, 0))
    assert set(opt._state) == set(SHAPES)
    assert all(st.step == 1 for st in opt._state.values())
    opt.update(net, loss_grads(net, 1))  # another model, even of the same structure, is refused: test_optim_ownership
    assert all(st.step == 2 for st in opt._state.values())


def test_shared_parameter_is_updated_once() -> None:
    shared = Mix(np.ones((2, 2)))

    class Twice(Module):
        def __init__(self) -> None:
            self.blocks = [shared, shared]

    model = Twice()
    assert [n for n, _ in model.named_parameters()] == ["blocks.0.weight"]  # once, as in PyTorch (issue 12)
    opt = SGD(model, 0.5)
    grads = model.alloc_grads()
    grads._grads[shared.weight._id][...] = 1.0
    opt.update(model, grads)
    np.testing.assert_array_equal(shared.weight._data, np.full((2, 2), 0.5))
    assert list(opt._state) == ["blocks.0.weight"]


def test_lr_changes_take_effect() -> None:
    net = Net()
    opt = SGD(net, 0.1)
    g = {name: np.full(shape, 2.0) for name, shape in SHAPES.items()}
    start = params_of(net)
    opt.lr = 0.0
    opt.update(net, grads_from(net, g))
    for name, t in net.named_parameters():
        np.testing.assert_array_equal(t._data, start[name])
    opt.lr = 0.25
    opt.update(net, grads_from(net, g))
    for name, t in net.named_parameters():
        np.testing.assert_array_equal(t._data, start[name] - 0.5)
    opt.lr = -1.0
    with pytest.raises(OptimizerError, match=r"SGD: lr must be >= 0, got -1\.0"):
        opt.update(net, grads_from(net, g))
    for name, t in net.named_parameters():
        np.testing.assert_array_equal(t._data, start[name] - 0.5)
    assert opt.steps == 2


def test_adam_lr_change_scales_the_step() -> None:
    a, b = Net(), Net()
    opt_a, opt_b = Adam(a, 0.01), Adam(b, 0.01)
    for step in range(3):
        opt_a.update(a, loss_grads(a, step))
        opt_b.update(b, loss_grads(b, step))
    before = params_of(a)
    grads = {name: np.full(shape, 0.3) for name, shape in SHAPES.items()}
    opt_b.lr = 0.03
    opt_a.update(a, grads_from(a, grads))
    opt_b.update(b, grads_from(b, grads))
    for name in SHAPES:
        delta_a = params_of(a)[name] - before[name]
        delta_b = params_of(b)[name] - before[name]
        np.testing.assert_allclose(delta_b, 3 * delta_a, rtol=1e-9)


def test_zero_weight_decay_adamw_is_adam() -> None:
    a, b = Net(), Net()
    opt_a, opt_b = Adam(a, 0.01), AdamW(b, 0.01, weight_decay=0.0)
    for step in range(3):
        opt_a.update(a, loss_grads(a, step))
        opt_b.update(b, loss_grads(b, step))
    for name in SHAPES:
        np.testing.assert_array_equal(params_of(a)[name], params_of(b)[name])


# ---- all or nothing -------------------------------------------------------------------------


def _trained_once(cls: Callable[..., Optimizer[Any]]) -> tuple[Net, Optimizer[Any]]:
    net = Net()
    opt = cls(net, 0.1, momentum=0.9) if cls is SGD else cls(net, 0.1)
    opt.update(net, loss_grads(net, 0))
    return net, opt


def _refused(net: Net, opt: Optimizer[Any], call: Callable[[], None], error: type[Exception], match: str) -> None:
    """``call`` raises ``error`` and neither the parameters nor the optimizer state changed."""
    params, state, steps = params_of(net), state_copy(opt), opt.steps
    with pytest.raises(error, match=match):
        call()
    after = params_of(net)
    for name in params:
        np.testing.assert_array_equal(after[name], params[name])
    assert_state_equal(state_copy(opt), state)
    assert opt.steps == steps


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_missing_gradient_changes_nothing(cls: Callable[..., Optimizer[Any]]) -> None:
    net, opt = _trained_once(cls)
    grads = tt.Gradients()
    for name, t in net.named_parameters():
        if name != "head.weight":
            grads.alloc(t)
    match = r"no gradient for parameter 'head\.weight'.*grads = model\.alloc_grads\(\)"
    _refused(net, opt, lambda: opt.update(net, grads), MissingGradientError, match)
    _refused(
        net, opt, lambda: opt.update(net, tt.Gradients()), MissingGradientError, r"parameters 'layers\.0\.weight',"
    )


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_non_finite_gradient_changes_nothing(cls: Callable[..., Optimizer[Any]]) -> None:
    net, opt = _trained_once(cls)
    grads = loss_grads(net, 1)
    grads._grads[net.head.weight._id][0, 0] = np.nan  # the last parameter: the others pass first
    _refused(net, opt, lambda: opt.update(net, grads), OptimizerError, r"gradient of 'head\.weight' holds NaN")


def test_diverging_step_changes_nothing() -> None:
    net = Net()
    opt = SGD(net, 1e300)
    grads = grads_from(net, {name: np.full(shape, 1e10) for name, shape in SHAPES.items()})
    _refused(net, opt, lambda: opt.update(net, grads), OptimizerError, r"would make parameter '.*' NaN or infinite")


def test_gradient_of_the_wrong_shape_changes_nothing() -> None:
    net, opt = _trained_once(Adam)
    grads = loss_grads(net, 1)
    assert net.bn.bias is not None
    grads._grads[net.bn.bias._id] = np.zeros(5)
    _refused(
        net, opt, lambda: opt.update(net, grads), tt.ShapeError, r"'bn\.bias' has shape \(5,\), the parameter \(6,\)"
    )


def test_other_model_structure_is_refused() -> None:
    net, opt = _trained_once(SGD)
    bn = BatchNorm1D(6, dtype=F64)
    match = r"missing \['layers\.0\.weight', 'bn\.scale', 'bn\.bias', 'head\.weight'\], unexpected \['scale', 'bias'\]"
    _refused(net, opt, lambda: opt.update(bn, bn.alloc_grads()), OptimizerError, match)
    narrow = Net(hidden=5)
    match = (
        r"'layers\.0\.weight' is float64 of shape \(4, 5\) but the optimizer was built for float64 of shape \(4, 6\)"
    )
    _refused(net, opt, lambda: opt.update(narrow, narrow.alloc_grads()), OptimizerError, match)
    single = Net(np.float32)
    _refused(net, opt, lambda: opt.update(single, single.alloc_grads()), OptimizerError, "is float32 of shape")


def test_update_arguments_are_checked() -> None:
    net = Net()
    opt = SGD(net, 0.1)
    with pytest.raises(tt.TapeError, match="needs the Gradients of a backward pass"):
        opt.update(net, {})  # type: ignore[arg-type]
    with pytest.raises(OptimizerError, match=r"needs a typedtensor\.nn\.Module.*got dict"):
        opt.update({}, net.alloc_grads())  # type: ignore[arg-type]


# ---- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "options", "match"),
    [
        (SGD, {"lr": -0.1}, r"SGD: lr must be >= 0, got -0\.1"),
        (SGD, {"lr": float("nan")}, "SGD: lr must be finite"),
        (SGD, {"lr": "0.1"}, "SGD: lr must be a real number, got '0.1'"),
        (SGD, {"lr": True}, "SGD: lr must be a real number"),
        (SGD, {"lr": 0.1, "momentum": -0.5}, "momentum must be >= 0"),
        (SGD, {"lr": 0.1, "weight_decay": -1}, "weight_decay must be >= 0"),
        (SGD, {"lr": 0.1, "nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        (SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "requires a momentum and zero"),
        (SGD, {"lr": 0.1, "maximize": 1}, "maximize must be True or False"),
        (Adam, {"lr": -1e-3}, "Adam: lr must be >= 0"),
        (Adam, {"eps": -1e-8}, "eps must be >= 0"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\] must be in \[0, 1\), got 1\.0"),
        (Adam, {"betas": (0.9, -0.1)}, r"betas\[1\] must be in \[0, 1\)"),
        (Adam, {"betas": (0.9,)}, r"betas must be a pair \(beta1, beta2\)"),
        (Adam, {"betas": 0.9}, "betas must be a pair"),
        (Adam, {"weight_decay": -0.1}, "weight_decay must be >= 0"),
        (Adam, {"amsgrad": "yes"}, "amsgrad must be True or False"),
        (AdamW, {"weight_decay": -0.01}, "AdamW: weight_decay must be >= 0"),
        (AdamW, {"betas": (0.9, float("inf"))}, r"AdamW: betas\[1\] must be finite"),
    ],
)
def test_hyper_parameters_are_validated(
    cls: Callable[..., Optimizer[Any]], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(OptimizerError, match=match):
        cls(Net(), **options)


def test_model_is_checked_at_construction() -> None:
    with pytest.raises(OptimizerError, match=r"SGD needs a typedtensor\.nn\.Module.*got list"):
        SGD([], 0.1)  # type: ignore[arg-type]


def test_hyper_parameters_are_normalised() -> None:
    opt = Adam(Net(), np.float64(0.5), betas=(np.float32(0.5), 0))  # type: ignore[arg-type]
    assert type(opt.lr) is float
    assert opt.betas == (0.5, 0.0)
    assert all(type(b) is float for b in opt.betas)
    assert AdamW(Net()).weight_decay == 1e-2


def test_errors_derive_from_the_root() -> None:
    assert issubclass(OptimizerError, TypedTensorError)
    assert issubclass(OptimizerError, ValueError)  # PyTorch raises ValueError for bad hyper-parameters
    assert issubclass(MissingGradientError, OptimizerError)
    assert issubclass(MissingGradientError, tt.TapeError)


def test_exported_from_the_package() -> None:
    assert tt.optim.SGD is SGD
    assert tt.optim.Adam is Adam
    assert tt.optim.AdamW is AdamW
    assert issubclass(AdamW, Adam)


def test_repr() -> None:
    opt = SGD(Net(), 0.1, momentum=0.9, nesterov=True)
    assert repr(opt) == "SGD(lr=0.1, momentum=0.9, nesterov=True, parameters=4, steps=0)"
    assert repr(AdamW(Net(), amsgrad=True)) == (
        "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=True, parameters=4, steps=0)"
    )
