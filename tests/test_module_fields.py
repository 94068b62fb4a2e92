# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""Assignments to a module's declared attributes after construction (issue 10, points 2 and 9).

Parameters and buffers take only what the layer can read (a wrong-size statistic used to be read out
of bounds by numba); structural settings are fixed; hyper-parameters and options are validated by the
constructor's checks and honoured from the next call; constructor arguments a module does not keep
are refused instead of being stored where nothing reads them. Nothing is silently ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn
from typedtensor.nn import BatchNorm2D, Conv2D, Linear, _bn_backend

F32, F64 = np.float32, np.float64
X = np.random.default_rng(0).standard_normal((4, 10, 3, 3)).astype(F32) * 2 + 1
BN_FIELDS = ["scale", "bias", "running_mean", "running_var"]


@pytest.fixture(params=_bn_backend.available())
def kernels(request: pytest.FixtureRequest) -> Iterator[str]:
    """The BatchNorm kernel backend (numpy, and numba where installed)."""
    before = _bn_backend.current()
    _bn_backend.use(request.param)
    yield request.param
    _bn_backend.use(before)


def _bn(**kw: Any) -> Any:
    bn: Any = BatchNorm2D(10, **kw)
    return bn


def _infer(bn: Any, x: np.ndarray[Any, Any] = X) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = bn.forward(tt.tensor(x)).numpy()
    return out


def _step(bn: Any, x: np.ndarray[Any, Any] = X) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = bn.forward_mut(tt.tensor(x).trace(bn.alloc_grads())).numpy()
    return out


# ---- point 2: parameters and buffers take only what the layer reads ---------------------------


@pytest.mark.parametrize("name", BN_FIELDS)
def test_a_wrong_size_field_is_refused_and_the_module_keeps_working(kernels: str, name: str) -> None:
    bn = _bn()
    before = _infer(bn)
    old = getattr(bn, name)
    with pytest.raises(tt.ShapeError) as info:
        setattr(bn, name, tt.tensor(np.ones(9, F32)))
    for fragment in (f"BatchNorm2D.{name}", "shape (10,)", "got shape (9,)", "load_state_dict", "build a new"):
        assert fragment in str(info.value)
    assert getattr(bn, name) is old
    np.testing.assert_array_equal(_infer(bn), before)
    np.testing.assert_array_equal(_step(bn), _step(_bn()))


def test_a_field_of_the_right_layout_is_read_by_the_next_call(kernels: str) -> None:
    bn, ref = _bn(), _bn()
    values = {"running_mean": np.linspace(-1, 1, 10), "running_var": np.linspace(0.5, 3, 10), "scale": np.full(10, 2.0)}
    for name, v in values.items():
        setattr(bn, name, tt.tensor(v.astype(F32)))
    ref.load_state_dict({k: v.astype(F32) for k, v in values.items()}, strict=False)
    np.testing.assert_array_equal(_infer(bn), _infer(ref))
    assert not np.allclose(_infer(bn), _infer(_bn()))


def _values() -> dict[str, tuple[Callable[[Any], object], type[Exception], str]]:
    """Bad values for running_var: (factory given the module, error class, message fragment)."""
    return {
        "float64": (lambda bn: tt.ones((10,), F64), tt.DTypeError, "must be a Tensor of shape (10,) and dtype float32"),
        "ndarray": (lambda bn: np.ones(10, F32), tt.TypedTensorError, "got ndarray; wrap an array with tt.tensor"),
        "list": (lambda bn: [1.0] * 10, tt.TypedTensorError, "got list"),
        "number": (lambda bn: 1.0, tt.TypedTensorError, "got float"),
        "traced": (lambda bn: tt.ones((10,)).leaky_trace(), tt.TapeError, "must be an untraced (NoneTape) tensor"),
        "read-only": (lambda bn: tt.ones((1,)).broadcast_to((10,)), tt.TypedTensorError, "buffer is read-only"),
        "aliased": (lambda bn: bn.running_mean, tt.TypedTensorError, "shares memory with running_mean"),
        "aliased-view": (lambda bn: bn.scale.reshape((10,)), tt.TypedTensorError, "shares memory with scale"),
        "negative": (lambda bn: tt.tensor(-np.ones(10, F32)), tt.TypedTensorError, "holds negative variances"),
    }


@pytest.mark.parametrize("case", list(_values()))
def test_a_field_refuses_what_the_layer_cannot_read(case: str) -> None:
    make, error, fragment = _values()[case]
    bn = _bn()
    old = bn.running_var
    with pytest.raises(error) as info:
        bn.running_var = make(bn)
    assert fragment in str(info.value)
    assert "BatchNorm2D.running_var" in str(info.value)
    assert bn.running_var is old


def test_fields_the_module_was_built_without_stay_none() -> None:
    bare = _bn(affine=False, track_running_stats=False)
    with pytest.raises(tt.TypedTensorError, match=r"scale is None: .* built without it.*affine=True"):
        bare.scale = tt.ones((10,))
    with pytest.raises(tt.TypedTensorError, match=r"running_var is None: .*track_running_stats=True"):
        bare.running_var = tt.ones((10,))
    with pytest.raises(tt.TypedTensorError, match="num_batches_tracked is None"):
        bare.num_batches_tracked = 0
    bare.scale = None  # unchanged
    assert bare.scale is None
    bn = _bn()
    with pytest.raises(tt.TypedTensorError, match=r"cannot be set to None: .*\(affine=False\)"):
        bn.scale = None
    with pytest.raises(tt.TypedTensorError, match=r"running_mean cannot be set to None.*track_running_stats=False"):
        bn.running_mean = None
    for name in (*BN_FIELDS, "num_batches_tracked", "eps", "affine", "dtype"):
        with pytest.raises(tt.TypedTensorError, match=f"BatchNorm2D.{name} cannot be deleted"):
            delattr(bn, name)
    assert bn.scale is not None


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3", None, 2**63, np.float64(2.0)], ids=repr)
def test_the_step_counter_takes_a_non_negative_int(bad: object) -> None:
    bn = _bn()
    with pytest.raises(
        tt.TypedTensorError, match=r"num_batches_tracked must be a non-negative int \(a count of training steps\)"
    ):
        bn.num_batches_tracked = bad
    assert bn.num_batches_tracked == 0


def test_the_step_counter_accepts_numpy_ints_and_counts_on() -> None:
    bn = _bn(momentum=None)
    bn.num_batches_tracked = np.int64(3)
    assert type(bn.num_batches_tracked) is int
    _step(bn)
    assert bn.num_batches_tracked == 4


def test_linear_fields() -> None:
    lin: Any = Linear(4, 3, dtype=F64)
    x = tt.tensor(np.random.default_rng(1).standard_normal((2, 4)))
    with pytest.raises(tt.ShapeError, match=r"Linear.weight must be a Tensor of shape \(3, 4\).*got shape \(4, 3\)"):
        lin.weight = tt.zeros((4, 3), F64)
    with pytest.raises(tt.ShapeError, match=r"Linear.bias must be a Tensor of shape \(3,\).*got shape \(1,\)"):
        lin.bias = tt.zeros((1,), F64)  # would broadcast over the outputs
    with pytest.raises(tt.DTypeError, match=r"Linear\.bias must be a Tensor of shape"):
        lin.bias = tt.zeros((3,), F32)
    lin.bias = None  # Linear does without a bias (PyTorch's bias=False)
    np.testing.assert_allclose(lin.forward(x).numpy(), x.numpy() @ lin.weight.numpy().T, rtol=1e-15)
    lin.bias = tt.ones((3,), F64)
    np.testing.assert_allclose(lin.forward(x).numpy(), x.numpy() @ lin.weight.numpy().T + 1.0, rtol=1e-15)
    assert "bias" in lin.state_dict()


def test_conv2d_fields() -> None:
    conv: Any = Conv2D(2, 4, 3, groups=2, dtype=F64)
    with pytest.raises(tt.ShapeError, match=r"Conv2D.weight must be a Tensor of shape \(4, 1, 3, 3\).*\(4, 2, 3, 3\)"):
        conv.weight = tt.zeros((4, 2, 3, 3), F64)
    with pytest.raises(tt.ShapeError, match=r"Conv2D.bias must be a Tensor of shape \(4,\)"):
        conv.bias = tt.zeros((2,), F64)
    conv.bias = None
    assert conv.forward(tt.zeros((1, 2, 5, 5), F64)).shape == (1, 4, 3, 3)
    conv.bias = tt.zeros((4,), F64)
    assert conv.bias is not None


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
def test_a_field_written_around_the_checks_is_caught_by_forward(checks: bool) -> None:
    """Only a write into the instance's __dict__ bypasses __setattr__: the forward pass names the field."""
    lin: Any = Linear(4, 3)
    lin.__dict__["bias"] = tt.zeros((1,))
    conv: Any = Conv2D(2, 4, 3)
    conv.__dict__["weight"] = tt.zeros((4, 2, 1, 1))
    bn: Any = BatchNorm2D(3)
    bn.__dict__["running_var"] = tt.ones((2,))  # numba read past its end, NumPy raised a raw ValueError
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"BatchNorm2D\.running_var must be a Tensor of shape \(3,\)"):
            bn.forward(tt.zeros((2, 3, 2, 2)))
        with pytest.raises(tt.ShapeError, match=r"BatchNorm2D\.running_var must be a Tensor of shape \(3,\)"):
            bn.forward_mut(tt.zeros((2, 3, 2, 2)).leaky_trace())
        assert bn.num_batches_tracked == 0
        with pytest.raises(tt.ShapeError, match=r"Linear.bias must be a Tensor of shape \(3,\)"):
            lin.forward(tt.zeros((2, 4)))
        lin.__dict__["bias"] = tt.zeros((3,), F64)
        with pytest.raises(tt.DTypeError, match=r"Linear\.bias must be a Tensor of shape"):
            lin.forward(tt.zeros((2, 4)))
        with pytest.raises(tt.ShapeError, match=r"Conv2D.weight must be a Tensor of shape \(4, 2, 3, 3\)"):
            conv.forward(tt.zeros((1, 2, 5, 5)))


def test_copies_and_conversions_keep_the_rules() -> None:
    bn = _bn()
    wide = bn.to_dtype(F64)
    assert wide.running_var is not None
    assert wide.running_var.dtype == np.dtype(F64)
    with pytest.raises(tt.DTypeError, match="dtype float64"):
        wide.running_var = tt.ones((10,), F32)
    wide.running_var = tt.ones((10,), F64)
    clone = copy.deepcopy(bn)
    with pytest.raises(tt.ShapeError):
        clone.running_var = tt.ones((9,))
    sync: Any = nn.SyncBatchNorm2D.from_batchnorm(bn)
    with pytest.raises(tt.ShapeError, match=r"SyncBatchNorm2D\.running_var"):
        sync.running_var = tt.ones((9,))
    with pytest.raises(tt.TypedTensorError, match=r"SyncBatchNorm2D\.comm is read-only; build the layer with comm="):
        sync.comm = None


# ---- point 9: settings after construction ----------------------------------------------------

STRUCTURE: dict[str, tuple[Callable[[], Any], dict[str, object]]] = {
    "BatchNorm2D": (
        lambda: _bn(),
        {"num_features": 9, "affine": False, "track_running_stats": False, "dtype": np.dtype(F64)},
    ),
    "Linear": (lambda: Linear(4, 3), {"in_features": 5, "out_features": 2, "dtype": np.dtype(F64)}),
    "Conv2D": (
        lambda: Conv2D(2, 4, 3),
        {
            "in_channels": 4,
            "out_channels": 2,
            "kernel_size": (1, 1),
            "stride": (2, 2),
            "padding": (1, 1),
            "dilation": (2, 2),
            "groups": 2,
            "dtype": np.dtype(F64),
        },
    ),
}
SETTINGS = [(layer, name) for layer, (_, names) in STRUCTURE.items() for name in names]


@pytest.mark.parametrize(("layer", "name"), SETTINGS, ids=[f"{a}.{b}" for a, b in SETTINGS])
def test_structural_settings_are_fixed(layer: str, name: str) -> None:
    make, values = STRUCTURE[layer]
    module = make()
    before = getattr(module, name)
    with pytest.raises(tt.TypedTensorError, match=f"{layer}.{name} is fixed when the module is built: ") as info:
        setattr(module, name, values[name])
    assert getattr(module, name) == before
    assert ("to_dtype" if name == "dtype" else "build") in str(info.value)


def test_track_running_stats_says_what_to_do_instead() -> None:
    bn = _bn()
    with pytest.raises(tt.TypedTensorError) as info:
        bn.track_running_stats = False
    for fragment in ("track_running_stats=False", "load_state_dict(old.state_dict(), strict=False)", "freeze=True"):
        assert fragment in str(info.value)
    assert bn.track_running_stats is True
    _step(bn)
    assert bn.num_batches_tracked == 1


def test_eps_changed_after_construction_is_honoured(kernels: str) -> None:
    bn = _bn()
    bn.eps = 0.5
    assert bn.eps == 0.5
    for run in (_infer, _step):
        np.testing.assert_array_equal(run(bn), run(_bn(eps=0.5)))


@pytest.mark.parametrize("momentum", [0.5, 0.0, 1.0, None], ids=repr)
def test_momentum_changed_after_construction_is_honoured(kernels: str, momentum: float | None) -> None:
    bn, ref = _bn(), _bn(momentum=momentum)
    bn.momentum = momentum
    for step in range(2):
        _step(bn, X + step)
        _step(ref, X + step)
    for key, value in ref.state_dict().items():
        np.testing.assert_array_equal(bn.state_dict()[key], value, err_msg=key)


def test_momentum_is_read_and_written_in_pytorchs_convention() -> None:
    mge = _bn(momentum=0.9, momentum_convention="megengine")
    assert mge.momentum == pytest.approx(0.1)
    mge.momentum = 0.2
    _step(mge)
    ref = _bn(momentum=0.2)
    _step(ref)
    np.testing.assert_array_equal(mge.state_dict()["running_mean"], ref.state_dict()["running_mean"])
    with pytest.raises(tt.TypedTensorError, match="momentum is kept in PyTorch's convention"):
        mge.momentum_convention = "pytorch"


def test_init_factor_and_min_factor_changed_after_construction_are_honoured() -> None:
    bn, ref = _bn(), _bn(init_factor=1.0, min_factor=0.3)
    bn.init_factor = 1.0
    bn.min_factor = 0.3
    for step in range(4):
        _step(bn, X * (step + 1))
        _step(ref, X * (step + 1))
    np.testing.assert_array_equal(bn.state_dict()["running_var"], ref.state_dict()["running_var"])
    with pytest.raises(tt.TypedTensorError, match="init_factor sets the running-average factor itself"):
        bn.momentum = 0.2  # init_factor replaces momentum: changing it would be ignored, so it is refused
    assert bn.momentum == 0.1


def test_freeze_changed_after_construction_is_honoured(kernels: str) -> None:
    bn, ref = _bn(), _bn(freeze=True)
    bn.running_mean = tt.tensor(np.linspace(-1, 1, 10).astype(F32))
    ref.running_mean = tt.tensor(np.linspace(-1, 1, 10).astype(F32))
    bn.freeze = True
    np.testing.assert_array_equal(_step(bn), _step(ref))
    assert bn.num_batches_tracked == ref.num_batches_tracked == 0
    np.testing.assert_array_equal(bn.state_dict()["running_var"], np.ones(10, F32))
    bn.freeze = False
    _step(bn)
    assert bn.num_batches_tracked == 1


def test_inplace_changed_after_construction_is_honoured() -> None:
    bn = _bn()
    bn.inplace = True
    x = tt.tensor(X)
    bn.forward(x)
    np.testing.assert_array_equal(x.numpy(), _infer(_bn()))  # written into x
    bn.inplace = False
    y = tt.tensor(X)
    assert bn.forward(y) is not y
    np.testing.assert_array_equal(y.numpy(), X)


def test_sscale_changed_after_construction_applies_at_the_next_reset() -> None:
    bn = _bn()
    bn.sscale = 0.05
    bn.reset_params(seed=3)
    np.testing.assert_array_equal(bn.state_dict()["scale"], _bn(sscale=0.05, seed=3).state_dict()["scale"])


INVALID: list[tuple[dict[str, Any], str, object, str]] = [
    ({}, "eps", -1.0, "eps must be >= 0"),
    ({}, "eps", "x", "eps must be a real number"),
    ({}, "eps", float("nan"), "eps must be finite"),
    ({}, "momentum", 5.0, "momentum must be a number in [0, 1] or None"),
    ({}, "momentum", "x", "momentum must be a number"),
    ({}, "min_factor", 2.0, "min_factor must be a number in [0, 1]"),
    ({}, "init_factor", 0.0, "init_factor must be > 0"),
    ({"momentum": None}, "init_factor", 1.0, "init_factor sets the running-average factor itself"),
    ({}, "freeze", "yes", "freeze must be True or False"),
    ({"track_running_stats": False}, "freeze", True, "freeze=True normalises with the running statistics"),
    ({}, "inplace", 1, "inplace must be True or False"),
    ({}, "sscale", -1.0, "sscale (scale ~ Normal(1, sscale)) needs affine=True and sscale >= 0"),
    ({"affine": False}, "sscale", 0.1, "needs affine=True"),
]


@pytest.mark.parametrize(("options", "name", "value", "fragment"), INVALID, ids=[f"{c[1]}={c[2]!r}" for c in INVALID])
def test_invalid_settings_are_refused_with_the_constructors_message(
    options: dict[str, Any], name: str, value: object, fragment: str
) -> None:
    bn = _bn(**options)
    before = getattr(bn, name)
    with pytest.raises(tt.TypedTensorError) as info:
        setattr(bn, name, value)
    assert f"BatchNorm2D.{name} = {value!r} is refused: " in str(info.value)
    assert fragment in str(info.value)
    assert getattr(bn, name) == before


def test_the_constructor_options_are_validated_too() -> None:
    for name in ("affine", "track_running_stats", "freeze", "inplace"):
        with pytest.raises(tt.TypedTensorError, match=f"{name} must be True or False, got 'no'"):
            _bn(**{name: "no"})
    assert _bn(affine=np.bool_(False)).affine is False


def test_constructor_arguments_a_module_does_not_keep_are_refused() -> None:
    modules: list[tuple[Any, str, str]] = [
        (_bn(), "seed", "reset_params(seed)"),
        (_bn(), "momentum_convention", "for MegEngine's momentum m set momentum = 1 - m"),
        (Linear(2, 3), "seed", "pass seed=... when building the module"),
        (Conv2D(1, 2, 3), "seed", "pass seed="),
        (nn.Dropout(0.5), "seed", "pass seed="),
    ]
    for module, name, hint in modules:
        with pytest.raises(tt.TypedTensorError, match=f"does not keep its constructor argument '{name}'") as info:
            setattr(module, name, 1)
        assert hint in str(info.value)
        assert name not in vars(module)
    with pytest.raises(
        tt.TypedTensorError, match=r"Conv2D.fan_in is read-only; it is in_channels / groups \* kH \* kW"
    ):
        Conv2D(1, 2, 3).fan_in = 4  # type: ignore[misc]


def test_dropout_p_is_validated_and_honoured() -> None:
    drop: Any = nn.Dropout(0.5, seed=0)
    with pytest.raises(tt.TypedTensorError, match=r"Dropout.p = 1.5 is refused: .*p must be a number in \[0, 1\]"):
        drop.p = 1.5
    drop.p = 1.0
    assert not drop.forward_mut(tt.ones((3, 4)).leaky_trace()).numpy().any()


def test_other_attributes_stay_free() -> None:
    bn: Any = _bn()
    bn.note = "mine"
    assert bn.note == "mine"


def test_modules_build_freely_and_are_checked_once_built() -> None:
    """Constructors (nested super().__init__ calls too) assign as they like; the rules start afterwards."""

    class Scale(nn.Module):
        param_names = ("weight",)

        def __init__(self, n: int) -> None:
            self.weight: Any = tt.ones((1,))
            self.weight = tt.ones((n,))  # replaced during construction: fine

    class Wider(Scale):
        def __init__(self) -> None:
            super().__init__(2)
            self.weight = tt.ones((3,))  # still under construction

    wide = Wider()
    assert wide.weight.shape == (3,)
    with pytest.raises(tt.ShapeError, match=r"Wider.weight must be a Tensor of shape \(3,\)"):
        wide.weight = tt.ones((2,))


def test_settings_restored_from_a_checkpoint_are_checked_together(tmp_path: Path) -> None:
    """A file's init_factor with its momentum 0.1 loads into a module built with momentum=None."""
    path = tmp_path / "bn.npz"
    _bn(init_factor=1.0).save_npz(path)
    bn = _bn(momentum=None)
    bn.load_npz(path)
    assert (bn.init_factor, bn.momentum) == (1.0, 0.1)


# ---- a field's presence is part of the structure (review of points 2 and 9) -------------------------


def _presence_cases() -> dict[str, tuple[Callable[[], Any], str, object, str]]:
    """(module factory, field, value written into __dict__, message fragment)."""
    return {
        "bn-scale-none": (lambda: BatchNorm2D(3), "scale", None, r"BatchNorm2D\.scale is None, .*affine=True"),
        "bn-bias-none": (lambda: BatchNorm2D(3), "bias", None, r"BatchNorm2D\.bias is None, .*affine=True"),
        "bn-running-var-none": (
            lambda: BatchNorm2D(3),
            "running_var",
            None,
            r"BatchNorm2D\.running_var is None, .*track_running_stats=True",
        ),
        "bn-counter-none": (
            lambda: BatchNorm2D(3),
            "num_batches_tracked",
            None,
            r"BatchNorm2D\.num_batches_tracked is None, .*track_running_stats=True",
        ),
        "bn-scale-without-affine": (
            lambda: BatchNorm2D(3, affine=False),
            "scale",
            tt.ones((3,)),
            r"BatchNorm2D\.scale is set, but this BatchNorm2D was built without it",
        ),
        "bn-running-mean-without-tracking": (
            lambda: BatchNorm2D(3, track_running_stats=False),
            "running_mean",
            tt.zeros((3,)),
            r"BatchNorm2D\.running_mean is set, but this BatchNorm2D was built without it",
        ),
        "bn-counter-without-tracking": (
            lambda: BatchNorm2D(3, track_running_stats=False),
            "num_batches_tracked",
            0,
            r"BatchNorm2D\.num_batches_tracked is set, but this BatchNorm2D was built without it",
        ),
        "linear-weight-none": (lambda: Linear(4, 3), "weight", None, r"Linear\.weight is None"),
        "linear-bias-array": (lambda: Linear(4, 3), "bias", np.zeros(3, F32), r"Linear\.bias must be a Tensor"),
        "conv-weight-none": (lambda: Conv2D(2, 4, 3), "weight", None, r"Conv2D\.weight is None"),
        "conv-bias-array": (lambda: Conv2D(2, 4, 3), "bias", np.zeros(4, F32), r"Conv2D\.bias must be a Tensor"),
    }


def _calls(module: Any, name: str) -> list[Callable[[], object]]:
    """The module's forward_mut and forward (which does not read the counter) on a fitting input."""
    shape: Any = (2, 4) if isinstance(module, Linear) else (2, 2, 5, 5) if isinstance(module, Conv2D) else (2, 3, 2, 2)
    layer: Any = module

    def train() -> object:
        return layer.forward_mut(tt.zeros(shape).leaky_trace())

    def infer() -> object:
        return layer.forward(tt.zeros(shape))

    calls: list[Callable[[], object]] = [train]
    if name != "num_batches_tracked":
        calls.append(infer)
    return calls


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
@pytest.mark.parametrize("case", list(_presence_cases()))
def test_a_field_removed_or_added_around_the_checks_is_caught_by_forward(checks: bool, case: str) -> None:
    """``bn.__dict__["scale"] = None`` used to switch the layer to affine=False silently (running_var = None:
    batch statistics in inference; the counter None: no running update); Linear's and Conv2D's weight None
    was a raw AttributeError. Every forward names the field instead, and nothing changes."""
    factory, name, value, fragment = _presence_cases()[case]
    module: Any = factory()
    module.__dict__[name] = value

    def state() -> dict[str, object]:
        return {
            k: v.numpy().copy() if isinstance(v, tt.Tensor) else v for k, v in vars(module).items() if k != "_tt_dims"
        }

    before = state()
    with tt.checks(checks):
        for call in _calls(module, name):
            with pytest.raises(tt.TypedTensorError, match=fragment):
                call()
    after = state()
    assert sorted(after) == sorted(before)
    for key, want in before.items():
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(want), err_msg=key)


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
def test_a_negative_counter_is_reported_as_found_and_nothing_changes(checks: bool, kernels: str) -> None:
    """The error used to name the counter after the step had added one to it (-2 for -3)."""
    bn = _bn(dtype=F64)
    bn.__dict__["num_batches_tracked"] = -3
    before = bn.state_dict()
    with tt.checks(checks), pytest.raises(tt.TypedTensorError, match=r"num_batches_tracked .*got -3\b"):
        _step(bn, X.astype(F64))
    assert bn.__dict__["num_batches_tracked"] == -3
    for key, want in before.items():
        np.testing.assert_array_equal(bn.state_dict()[key], want, err_msg=key)


def test_pytorch_names_of_fields_are_refused_naming_the_real_field() -> None:
    """``bn.weight = ...`` (PyTorch's name for ``scale``) used to create an attribute nothing reads."""
    bn = _bn()
    with pytest.raises(tt.TypedTensorError, match=r"BatchNorm2D\.weight is PyTorch's name for scale.*assign \.scale"):
        bn.weight = tt.ones((10,))
    assert "weight" not in vars(bn)
    scale = bn.scale
    bn.scale = tt.full((10,), 2.0)  # the real field takes it
    assert bn.scale is not scale
    np.testing.assert_allclose(_infer(bn), 2 * _infer(_bn()), rtol=1e-6)
