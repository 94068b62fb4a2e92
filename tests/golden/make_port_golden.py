"""Regenerate tests/golden/port_batchnorm.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_port_golden

The cases of the ported reference suites (tests/test_port_torch_batchnorm.py and
tests/test_port_dfdx_batchnorm.py) are defined here, with both runners: ``run_torch`` (PyTorch,
float64) and ``run_ours`` (typedtensor, any float dtype and memory layout). Inputs come from seeded
NumPy generators, so the file and a live torch see the same numbers. Each case runs ``steps``
training steps (loss ``sum(y * w)`` or dfdx's ``mean(exp(y))``) and one inference forward, and
records, under ``<suite>/<case>/<key>``: ``y<k>``, ``dx<k>``, ``dscale<k>``, ``dbias<k>``,
``rm<k>``, ``rv<k>``, ``nbt<k>`` per step and ``infer``. Two PyTorch tests that call
``F.batch_norm`` directly get their own entries (``torch/grad/...``, ``torch/half/...``).
"""

from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor.nn import BatchNorm1D, BatchNorm2D

OUT = Path(__file__).with_name("port_batchnorm.npz")
Array = NDArray[Any]
F64 = NDArray[np.float64]
#: Memory layouts an input can be given in (each built with typedtensor's own view ops).
Layout = Literal["C", "F", "channels_last", "strided", "negative"]
LAYOUTS: tuple[Layout, ...] = ("C", "F", "channels_last", "strided", "negative")


@dataclass(frozen=True)
class Case:
    """One module configuration and its inputs (see the module docstring)."""

    suite: Literal["torch", "dfdx"]
    name: str
    kind: Literal["1d", "2d"]
    shape: tuple[int, ...]
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track: bool = True
    #: False: PyTorch's ``bias=False`` (a scale but no bias). typedtensor has no such option: its
    #: runner uses affine=True with the bias held at 0, and the bias gradient is not compared.
    bias: bool = True
    #: "uniform9": PyTorch's make_tensor (uniform in [-9, 9]); "normal": dfdx's sample_normal.
    dist: Literal["uniform9", "normal"] = "uniform9"
    #: "ramp": scale 1 + 0.25 c, bias 0.1 c - 0.05 (so the affine part is exercised); "default": 1 and 0.
    init: Literal["ramp", "default"] = "ramp"
    loss: Literal["dot", "exp_mean"] = "dot"
    steps: int = 2
    #: Every training step sees the same input (dfdx's repeated forward_mut test).
    repeat: bool = False
    #: Shape of the inference input (default: ``shape``).
    infer_shape: tuple[int, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"

    @property
    def unbatched(self) -> bool:
        return self.kind == "2d" and len(self.shape) == 3

    @property
    def channels(self) -> int:
        return self.shape[0] if self.unbatched else self.shape[1]

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([zlib.crc32(self.key.encode()), step])

    def _sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> F64:
        if self.dist == "uniform9":
            return rng.uniform(-9.0, 9.0, shape)
        return rng.standard_normal(shape)

    def x(self, step: int) -> F64:
        """The training input of ``step`` (``step == steps``: the inference input)."""
        if step == self.steps:
            return self._sample(self._rng(1000), self.infer_shape or self.shape)
        return self._sample(self._rng(0 if self.repeat else step), self.shape)

    def w(self, step: int) -> F64:
        """The loss weights of ``step`` (loss ``sum(y * w)``)."""
        return self._rng(500 + step).standard_normal(self.shape)

    def scale_bias(self) -> tuple[F64, F64]:
        c = np.arange(self.channels, dtype=np.float64)
        if self.init == "default":
            return np.ones_like(c), np.zeros_like(c)
        return 1.0 + 0.25 * c, (0.1 * c - 0.05 if self.bias else np.zeros_like(c))


def _mi(kind: Literal["1d", "2d"], name: str, shape: tuple[int, ...], **kw: Any) -> Case:
    return Case("torch", f"{kind}_{name}", kind, shape, **kw)


# torch/testing/_internal/common_modules.py: module_inputs_torch_nn_BatchNorm1d / _BatchNorm2d. The
# positional constructor arguments there are (num_features, eps, momentum, affine, track_running_stats).
MODULE_INFO_CASES: list[Case] = [
    _mi("1d", "affine", (4, 10)),
    _mi("1d", "3d_input", (4, 5, 3)),
    _mi("1d", "affine_simple_average", (4, 10), eps=1e-3, momentum=None),
    _mi("1d", "not_affine", (4, 10), eps=1e-3, momentum=0.3, affine=False),
    _mi("1d", "not_tracking_stats", (4, 10), eps=1e-3, momentum=0.3, track=False),
    _mi("1d", "3d_input_not_affine", (4, 5, 3), eps=1e-3, momentum=0.3, affine=False),
    _mi("1d", "zero_batch", (0, 5, 9), eps=1e-3, momentum=0.3, affine=False),
    _mi("1d", "affine_not_bias", (4, 10), bias=False),
    _mi("2d", "default", (2, 3, 6, 6)),
    _mi("2d", "2d_simple_average", (2, 3, 6, 6), eps=1e-3, momentum=None),
    _mi("2d", "momentum", (2, 3, 6, 6), eps=1e-3, momentum=0.8),
    _mi("2d", "not_affine", (2, 3, 6, 6), eps=1e-3, momentum=0.8, affine=False),
    _mi("2d", "not_tracking_stats", (2, 3, 6, 6), eps=1e-3, momentum=0.8, track=False),
    _mi("2d", "zero_batch", (0, 5, 2, 2), eps=1e-3, momentum=0.3, affine=False),
    _mi("2d", "affine_not_bias", (2, 3, 6, 6), bias=False),
    # Not a ModuleInfo input (PyTorch's BatchNorm2d wants 4-D input): typedtensor's unbatched (C, H, W)
    # form, which PyTorch runs here with a batch dim of 1.
    _mi("2d", "unbatched", (3, 6, 6), eps=1e-3, momentum=0.3),
]


def _dfdx(name: str, kind: Literal["1d", "2d"], shape: tuple[int, ...], **kw: Any) -> Case:
    return Case("dfdx", name, kind, shape, dist="normal", init="default", loss="exp_mean", steps=1, **kw)


# dfdx's tests (src/nn/batchnorm2d.rs, batchnorm1d.rs; dfdx/src/nn/layers/batch_norm{1d,2d}.rs) sample
# their inputs from dfdx's own seeded RNG: these cases use the same shapes with NumPy inputs.
DFDX_CASES: list[Case] = [
    _dfdx("batchnorm2d_3d_forward_mut", "2d", (3, 2, 2)),
    _dfdx("batchnorm2d_4d_forward_mut", "2d", (2, 2, 2, 3)),
    _dfdx("batchnorm1d_2d_forward_mut", "1d", (3, 2)),
    _dfdx("batchnorm1d_3d_forward_mut", "1d", (3, 2, 2)),
    Case(
        "dfdx", "batchnorm2d_3d_repeated_forward_mut", "2d", (3, 4, 5), dist="normal", init="default",
        loss="exp_mean", steps=4, repeat=True, infer_shape=(3, 2, 2),
    ),
]  # fmt: skip

CASES = MODULE_INFO_CASES + DFDX_CASES


def torch_module() -> Any | None:
    """PyTorch, when it is installed here (the live comparisons), else None."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def run_torch(case: Case) -> dict[str, Array]:
    """The case through torch.nn.BatchNorm1d/2d in float64 (see the module docstring)."""
    torch: Any = importlib.import_module("torch")
    cls = torch.nn.BatchNorm2d if case.kind == "2d" else torch.nn.BatchNorm1d
    kw: dict[str, Any] = {} if case.bias else {"bias": False}
    bn = cls(case.channels, case.eps, case.momentum, case.affine, case.track, dtype=torch.float64, **kw)
    if case.affine:
        scale, bias = case.scale_bias()
        with torch.no_grad():
            bn.weight.copy_(torch.tensor(scale))
            if case.bias:
                bn.bias.copy_(torch.tensor(bias))

    def call(xv: F64, grad: bool) -> tuple[Any, Any]:
        x = torch.tensor(xv, requires_grad=grad)
        y = bn(x[None] if case.unbatched else x)
        return x, (y[0] if case.unbatched else y)

    out: dict[str, Array] = {}
    bn.train()
    for step in range(case.steps):
        bn.zero_grad()
        x, y = call(case.x(step), True)
        loss = y.exp().mean() if case.loss == "exp_mean" else (y * torch.tensor(case.w(step))).sum()
        loss.backward()
        out[f"y{step}"] = y.detach().numpy().copy()
        out[f"dx{step}"] = x.grad.numpy().copy()
        if case.affine:
            out[f"dscale{step}"] = bn.weight.grad.numpy().copy()
            if case.bias:
                out[f"dbias{step}"] = bn.bias.grad.numpy().copy()
        if case.track:
            out[f"rm{step}"] = bn.running_mean.numpy().copy()
            out[f"rv{step}"] = bn.running_var.numpy().copy()
            out[f"nbt{step}"] = np.array(int(bn.num_batches_tracked))
    bn.eval()
    with torch.no_grad():
        out["infer"] = call(case.x(case.steps), False)[1].numpy().copy()
    return out


def laid_out(values: Array, layout: Layout, dtype: type[Any]) -> tt.Tensor[Any, Any, Any]:
    """``values`` as a typedtensor tensor of ``dtype`` whose buffer has ``layout`` (a view for the
    non-C ones, made with typedtensor's own ops)."""
    v = values.astype(dtype)
    nd = v.ndim
    if layout == "C":
        return tt.tensor(np.ascontiguousarray(v))
    if layout == "F":
        return tt.tensor(np.asfortranarray(v))
    if layout == "channels_last":  # channels innermost in memory, the shape unchanged
        order = (0, *range(2, nd), 1) if nd > 2 else (1, 0)
        back = tuple(int(i) for i in np.argsort(order))
        return tt.tensor(np.ascontiguousarray(v.transpose(order))).permute(back)
    if layout == "strided":  # every other element of a doubled last axis (PyTorch's non-contiguous inputs)
        return tt.tensor(np.repeat(v, 2, axis=-1))[..., ::2]
    # "negative": a slice of a larger buffer, with negative strides on the last axis
    padded = np.zeros(tuple(n + 2 for n in v.shape), dtype)
    padded[(*(slice(1, -1) for _ in v.shape[:-1]), slice(-2, 0, -1))] = v
    return tt.tensor(padded)[(*(slice(1, -1) for _ in v.shape[:-1]), slice(-2, 0, -1))]


def make_ours(case: Case, dtype: type[Any]) -> Any:
    """typedtensor's module for ``case`` (typed ``Any``: the rank is chosen at run time)."""
    cls: Any = BatchNorm2D if case.kind == "2d" else BatchNorm1D
    bn = cls(
        case.channels, eps=case.eps, momentum=case.momentum, affine=case.affine, track_running_stats=case.track,
        dtype=dtype,
    )  # fmt: skip
    if case.affine:
        scale, bias = case.scale_bias()
        bn.load_state_dict({"scale": scale, "bias": bias}, strict=False)
    return bn


def run_ours(case: Case, dtype: type[Any] = np.float64, layout: Layout = "C") -> dict[str, Array]:
    """The case through typedtensor, inputs and loss weights given in ``layout``; run_torch's keys."""
    bn = make_ours(case, dtype)
    out: dict[str, Array] = {}
    for step in range(case.steps):
        x = laid_out(case.x(step), layout, dtype)
        grads = bn.alloc_grads()
        grads.alloc(x)
        y = bn.forward_mut(x.trace(grads))
        loss = y.exp().mean() if case.loss == "exp_mean" else (y * laid_out(case.w(step), layout, dtype)).sum()
        loss.backward()
        out[f"y{step}"] = np.array(y.numpy())
        out[f"dx{step}"] = np.array(grads.get(x).numpy())
        if case.affine:
            out[f"dscale{step}"] = np.array(grads.get(bn.scale).numpy())
            if case.bias:
                out[f"dbias{step}"] = np.array(grads.get(bn.bias).numpy())
        if case.track:
            out[f"rm{step}"] = np.array(bn.running_mean.numpy())
            out[f"rv{step}"] = np.array(bn.running_var.numpy())
            out[f"nbt{step}"] = np.array(bn.num_batches_tracked)
    out["infer"] = np.array(bn.forward(laid_out(case.x(case.steps), layout, dtype)).numpy())
    return out


# ---- PyTorch tests that call F.batch_norm / half modules directly ------------------------------


def grad_setup() -> dict[str, F64]:
    """test_nn.py _test_batchnorm_grad: input arange(4*5*6) as (4, 5, 6), weight 1..5, bias 0..4,
    running_mean 1 - c, running_var 2 c (c = 0..4; a zero variance for channel 0), eps 1e-4, momentum
    0.1; plus loss weights for ``sum(y * w)``."""
    c = np.arange(5, dtype=np.float64)
    return {
        "x": np.arange(120, dtype=np.float64).reshape(4, 5, 6),
        "weight": c + 1.0,
        "bias": c.copy(),
        "running_mean": 1.0 - c,
        "running_var": 2.0 * c,
        "w": np.random.default_rng(7).standard_normal((4, 5, 6)),
    }


def run_torch_grad() -> dict[str, Array]:
    """F.batch_norm on grad_setup() with training False and True: output, gradients, updated stats."""
    torch: Any = importlib.import_module("torch")
    s = grad_setup()
    out: dict[str, Array] = {}
    for mode, training in (("eval", False), ("train", True)):
        x, weight, bias = (torch.tensor(s[k], requires_grad=True) for k in ("x", "weight", "bias"))
        rm, rv = torch.tensor(s["running_mean"]), torch.tensor(s["running_var"])
        y = torch.nn.functional.batch_norm(x, rm, rv, weight, bias, training, 0.1, 1e-4)
        (y * torch.tensor(s["w"])).sum().backward()
        for key, value in (("y", y.detach()), ("dx", x.grad), ("dscale", weight.grad), ("dbias", bias.grad)):
            out[f"{mode}/{key}"] = value.numpy().copy()
        out[f"{mode}/rm"], out[f"{mode}/rv"] = rm.numpy().copy(), rv.numpy().copy()
    return out


def half_input() -> NDArray[np.float16]:
    """test_nn.py test_batchnorm_cudnn_half: integers 1..9 as a (2, 3, 2, 2) float16 batch."""
    return np.random.default_rng(11).integers(1, 10, (2, 3, 2, 2)).astype(np.float16)


def run_torch_half() -> dict[str, Array]:
    """A float16 BatchNorm2d(3) (PyTorch on the CPU) in training on half_input(): y and d sum(y) / dx."""
    torch: Any = importlib.import_module("torch")
    bn = torch.nn.BatchNorm2d(3).half()
    x = torch.tensor(half_input(), requires_grad=True)
    y = bn(x)
    y.sum().backward()
    return {"y": y.detach().numpy().copy(), "dx": x.grad.numpy().copy(), "rv": bn.running_var.numpy().copy()}


def main() -> None:
    torch: Any = importlib.import_module("torch")
    data: dict[str, Any] = {"torch_version": np.array(torch.__version__)}
    for case in CASES:
        for key, value in run_torch(case).items():
            data[f"{case.key}/{key}"] = value
    for key, value in run_torch_grad().items():
        data[f"torch/grad/{key}"] = value
    for key, value in run_torch_half().items():
        data[f"torch/half/{key}"] = value
    np.savez_compressed(OUT, **data)
    print(f"wrote {len(CASES)} cases and 2 functional cases from torch {torch.__version__} to {OUT}")


if __name__ == "__main__":
    main()
