# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""dfdx's BatchNorm unit tests, ported to typedtensor's API (our own code; each test names its original).

Sources: the tests modules of dfdx's src/nn/batchnorm2d.rs and src/nn/batchnorm1d.rs (the same tests
live on in dfdx/src/nn/layers/batch_norm2d.rs and batch_norm1d.rs), the doc examples of those files,
and test_batch_norm_reset of the early src/nn/batch_norm.rs. dfdx's semantics are typedtensor's
PyTorch convention: momentum 0.1, eps 1e-5, biased variance to normalise, unbiased for the running
variance; ``forward_mut`` on a traced input trains, ``forward`` on an untraced one infers.

dfdx's forward tests assert numbers computed from inputs its own seeded RNG drew, which cannot be
reproduced here. Each port therefore checks two ways:

* **dfdx's literals.** The asserted output and running statistics of a single training step determine
  the input: ``x = y * sqrt(var + eps) + mean`` with ``mean = running_mean / 0.1`` and biased
  ``var = (running_var - 0.9) / 0.1 * (n - 1) / n`` (n values per channel). The port rebuilds x so and
  checks every number dfdx asserts. The gradients (of dfdx's loss ``mean(exp(y))``) are independent
  of the rebuilding; the output and statistics check its consistency: biased normalisation, unbiased
  running variance and eps together.
* **A float64 reference.** A NumPy input of the same shape, against PyTorch in float64 (the committed
  tests/golden/port_batchnorm.npz and, when torch is installed, a live run).

Every test runs on each BatchNorm kernel backend (the ``backend`` fixture of tests/test_batchnorm.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.golden.make_port_golden import DFDX_CASES, Case, run_ours, run_torch, torch_module
from tests.test_batchnorm import backend as backend  # every test on every kernel backend
from typedtensor.nn import BatchNorm1D, BatchNorm2D, Module
from typedtensor.optim import SGD

GOLDEN = np.load(Path(__file__).parent / "golden" / "port_batchnorm.npz")
Array = NDArray[Any]
F32, F64 = np.float32, np.float64
#: The literals carry 7-8 significant digits; rebuilt inputs reproduce them to about 1e-7.
LITERAL_ATOL = 2e-6


@dataclass(frozen=True)
class Literals:
    """The values one dfdx forward_mut test asserts, and where its channels are."""

    channel_axis: int
    y: list[Any]
    running_mean: list[float]
    running_var: list[float]
    dscale: list[float]
    dbias: list[float]
    dx: list[Any]

    def rebuilt_input(self) -> Array:
        """The input these literals determine (see the module docstring)."""
        y: Array = np.array(self.y, dtype=F64)
        n = y.size // y.shape[self.channel_axis]
        mean = np.array(self.running_mean) / 0.1
        var = (np.array(self.running_var) - 0.9) / 0.1 * (n - 1) / n
        shape = [-1 if a == self.channel_axis else 1 for a in range(y.ndim)]
        x: Array = y * np.sqrt(var + 1e-5).reshape(shape) + mean.reshape(shape)
        return x


def _check_literals(cls: Any, lit: Literals, dtype: type[Any]) -> None:
    """One training step of a default module on the rebuilt input, loss mean(exp(y)), against dfdx."""
    bn: Any = cls(len(lit.running_mean), dtype=dtype)
    x = tt.tensor(lit.rebuilt_input().astype(dtype))
    grads = bn.alloc_grads()
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    y.exp().mean().backward()
    for got, want in (
        (y, lit.y),
        (bn.running_mean, lit.running_mean),
        (bn.running_var, lit.running_var),
        (grads.get(bn.scale), lit.dscale),
        (grads.get(bn.bias), lit.dbias),
        (grads.get(x), lit.dx),
    ):
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=LITERAL_ATOL)


@functools.cache
def _live_torch(case: Case) -> dict[str, Array]:
    return run_torch(case)  # once per case: PyTorch's results do not depend on our backend


def _check_reference(name: str) -> None:
    """The dfdx case ``name`` on a NumPy input against PyTorch float64 (committed, and live if installed)."""
    case = next(c for c in DFDX_CASES if c.name == name)
    ours = run_ours(case)
    golden = {k[len(case.key) + 1 :]: GOLDEN[k] for k in GOLDEN.files if k.startswith(case.key + "/")}
    for theirs in [golden] + ([_live_torch(case)] if torch_module() is not None else []):
        assert sorted(ours) == sorted(theirs)
        for k, v in theirs.items():
            np.testing.assert_allclose(ours[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


DTYPES = pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])


# ---- src/nn/batchnorm2d.rs ---------------------------------------------------------------------


@DTYPES
def test_batchnorm2d_3d_forward_mut(dtype: type[Any]) -> None:
    """Port of dfdx src/nn/batchnorm2d.rs tests::test_batchnorm2d_3d_forward_mut: BatchNorm2D<3>
    training on an unbatched (3, 2, 2) input (dfdx seed 0), loss mean(exp(y)): output, running mean and
    variance, scale, bias and input gradients. dfdx's literals on the rebuilt input (f32 as dfdx's
    TestDtype, and f64), then a NumPy input against PyTorch float64."""
    lit = Literals(
        channel_axis=0,
        y=[
            [[0.66747534, 0.77682495], [-1.698878, 0.25457793]],
            [[-0.89111614, 1.2611268], [-1.0644908, 0.69448]],
            [[0.19064833, 0.80228466], [0.6924452, -1.6853783]],
        ],
        running_mean=[-0.0175438, -0.0214163, 0.0268384],
        running_var=[1.1361228, 1.0889612, 1.3478994],
        dscale=[0.2506705, 0.4257624, 0.257648],
        dbias=[0.4663894, 0.5239304, 0.4687197],
        dx=[
            [[0.0030178577, 0.011973545], [0.0038383976, -0.018829815]],
            [[-0.0016367957, 0.024275035], [0.0092941, -0.03193234]],
            [[-0.015617318, 0.009291172], [0.0026013851, 0.0037247613]],
        ],
    )
    _check_literals(BatchNorm2D, lit, dtype)
    _check_reference("batchnorm2d_3d_forward_mut")


@DTYPES
def test_batchnorm2d_4d_forward_mut(dtype: type[Any]) -> None:
    """Port of dfdx src/nn/batchnorm2d.rs tests::test_batchnorm2d_4d_forward_mut: BatchNorm2D<2>
    training on a (2, 2, 2, 3) batch (dfdx seed 2), loss mean(exp(y)), every value dfdx asserts, on the
    rebuilt input; then a NumPy input against PyTorch float64."""
    lit = Literals(
        channel_axis=1,
        y=[
            [
                [[-0.93348885, -2.1979978, 0.19754872], [0.29159376, -0.6282544, -1.0415624]],
                [[1.1156346, 0.89029306, -1.1608727], [-0.73874927, 0.13254784, -0.77676374]],
            ],
            [
                [[0.60655713, 0.62703574, 0.12648833], [1.5577206, 0.18830705, 1.2060523]],
                [[0.37415895, -0.9069047, -0.9519587], [-0.02608296, 2.3435123, -0.2948149]],
            ],
        ],
        running_mean=[-0.02424082, 0.00407672],
        running_var=[0.9676103, 1.0458221],
        dscale=[0.5582906, 1.1929206],
        dbias=[0.7535024, 0.92750454],
        dx=[
            [
                [[-0.00378475, 0.05601016, -0.02694868], [-0.02614748, -0.01439525, 0.00047035]],
                [[-0.05280511, -0.05561727, 0.04425058], [0.01388359, -0.03710236, 0.01651]],
            ],
            [
                [[-0.01853323, -0.01773504, -0.02717264], [0.0794776, -0.02699574, 0.02575465]],
                [[-0.04663141, 0.02567738, 0.0289102], [-0.0294986, 0.10708933, -0.01466625]],
            ],
        ],
    )
    _check_literals(BatchNorm2D, lit, dtype)
    _check_reference("batchnorm2d_4d_forward_mut")


@DTYPES
def test_batchnorm2d_3d_repeated_forward_mut(dtype: type[Any]) -> None:
    """Port of dfdx src/nn/batchnorm2d.rs tests::test_batchnorm2d_3d_repeated_forward_mut: four training
    steps of BatchNorm2D<3> on the same unbatched (3, 4, 5) input (dfdx seed 12), running statistics
    asserted after each; then inference on a new (3, 2, 2) input leaves them unchanged.

    dfdx asserts no output here, so its first step's statistics fix only the input's per-channel mean
    (running_mean / 0.1) and unbiased variance ((running_var - 0.9) / 0.1): the port builds an input with
    exactly those moments, and steps 2 to 4 then check the exponential averaging against dfdx's
    literals. dfdx's inference output comes from an unknown input: the inference step is checked on a
    NumPy input against the float64 formula with the running statistics (and, with the whole
    four-step case, against PyTorch float64)."""
    running_mean = [
        [0.0083191, -0.0370511, -0.0079481],
        [0.0158063, -0.0703971, -0.0151013],
        [0.0225448, -0.1004085, -0.0215393],
        [0.0286095, -0.1274188, -0.0273335],
    ]
    running_var = [
        [1.0344709, 0.9340682, 1.0266376],
        [1.0654946, 0.87472963, 1.0506116],
        [1.093416, 0.8213248, 1.0721881],
        [1.1185452, 0.7732605, 1.0916069],
    ]
    mean = np.array(running_mean[0]) / 0.1
    var = (np.array(running_var[0]) - 0.9) / 0.1
    z = np.random.default_rng(12).standard_normal((3, 20))
    z = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, ddof=1, keepdims=True)
    x1 = tt.tensor((mean[:, None] + np.sqrt(var)[:, None] * z).reshape(3, 4, 5).astype(dtype))
    bn: Any = BatchNorm2D(3, dtype=dtype)
    for rm, rv in zip(running_mean, running_var, strict=True):
        bn.forward_mut(x1.leaky_trace())
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=0, atol=LITERAL_ATOL)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=0, atol=LITERAL_ATOL)
    m, v = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    x2 = np.random.default_rng(13).standard_normal((3, 2, 2)).astype(dtype)
    y2 = bn.forward(tt.tensor(x2)).numpy()
    np.testing.assert_array_equal(bn.running_mean.numpy(), m)
    np.testing.assert_array_equal(bn.running_var.numpy(), v)
    expected = (x2 - m.astype(F64)[:, None, None]) / np.sqrt(v.astype(F64)[:, None, None] + 1e-5)
    np.testing.assert_allclose(y2, expected, rtol=1e-6, atol=1e-6)
    _check_reference("batchnorm2d_3d_repeated_forward_mut")


def _sgd_step(model: Module, bn: Any, x: Any) -> None:
    """dfdx's *_update tests: loss mean(y^2), then ``Sgd::new(&model, Default::default()).update``
    (lr 1e-2, no momentum, no weight decay) must succeed. The port also checks the step: scale and
    bias move by -lr * gradient, and the optimizer leaves the running statistics alone."""
    grads = model.alloc_grads()
    y = bn.forward_mut(x.trace(grads))
    y.square().mean().backward()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    SGD(model, lr=1e-2).update(model, grads)
    after = model.state_dict()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(after[name], before[name] - 1e-2 * grads.get(p).numpy(), rtol=1e-6, atol=1e-7)
    for name, _ in model.named_buffers():
        np.testing.assert_array_equal(after[name], before[name])
    assert any(not np.array_equal(after[name], before[name]) for name, _ in model.named_parameters())


def test_batchnorm2d_update() -> None:
    """Port of dfdx src/nn/batchnorm2d.rs tests::test_batchnorm2d_update: a training step of
    BatchNorm2D<3> on an unbatched (3, 4, 5) input, then one SGD update (see _sgd_step)."""
    bn: Any = BatchNorm2D(3)
    _sgd_step(bn, bn, tt.tensor(np.random.default_rng(0).standard_normal((3, 4, 5)).astype(F32)))


class _Arch(Module):
    """dfdx's ``#[derive(Sequential)] struct Arch { batch: BatchNorm2DConstConfig<3> }``."""

    def __init__(self) -> None:
        self.batch: Any = BatchNorm2D(3)


def test_batchnorm2d_update_with_derive() -> None:
    """Port of dfdx dfdx/src/nn/layers/batch_norm2d.rs tests::test_batchnorm2d_update_with_derive: the
    same SGD update with the BatchNorm inside a user-defined model (its parameters found by name)."""
    model = _Arch()
    assert [n for n, _ in model.named_parameters()] == ["batch.scale", "batch.bias"]
    x = tt.tensor(np.random.default_rng(1).standard_normal((3, 4, 5)).astype(F32))
    _sgd_step(model, model.batch, x)


def test_batchnorm2d_doc_example() -> None:
    """Port of the doc example of dfdx's BatchNorm2D (src/nn/batchnorm2d.rs): forward on zeros of shape
    (3, 2, 2) and (4, 3, 2, 2); with it the struct's documented defaults (scale 1, bias 0, running mean
    0, variance 1, epsilon 1e-5, momentum 0.1) and the note that forward_mut on an untraced tensor and
    forward on a traced one do not compile: typedtensor's type checkers refuse them too (the typing
    corpus), and at run time they are CheckErrors."""
    bn: Any = BatchNorm2D(3)
    assert bn.forward(tt.zeros((3, 2, 2))).shape == (3, 2, 2)
    assert bn.forward(tt.zeros((4, 3, 2, 2))).shape == (4, 3, 2, 2)
    assert (bn.eps, bn.momentum) == (1e-5, 0.1)
    for t, value in ((bn.scale, 1), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 1)):
        np.testing.assert_array_equal(t.numpy(), value)
    with pytest.raises(tt.CheckError, match="tape is NoneTape but OwnedTape is expected"):
        bn.forward_mut(tt.zeros((4, 3, 2, 2)))
    with pytest.raises(tt.CheckError, match="tape is OwnedTape but NoneTape is expected"):
        bn.forward(tt.zeros((4, 3, 2, 2)).leaky_trace())


# ---- src/nn/batchnorm1d.rs ---------------------------------------------------------------------


@DTYPES
def test_batchnorm1d_2d_forward_mut(dtype: type[Any]) -> None:
    """Port of dfdx src/nn/batchnorm1d.rs tests::test_batchnorm1d_2d_forward_mut: BatchNorm1D<2>
    training on a (3, 2) batch (dfdx seed 0), loss mean(exp(y)), every value dfdx asserts, on the
    rebuilt input; then a NumPy input against PyTorch float64."""
    lit = Literals(
        channel_axis=1,
        y=[[1.3168651, 0.19157785], [-1.1049646, -1.3092154], [-0.21190044, 1.1176374]],
        running_mean=[-0.09994803, 0.07696156],
        running_var=[1.1536077, 0.9321649],
        dscale=[0.72945416, 0.5493023],
        dbias=[0.8119954, 0.7564688],
        dx=[[0.023908734, -0.18436226], [0.040923715, 0.0703277], [-0.06483248, 0.11403453]],
    )
    _check_literals(BatchNorm1D, lit, dtype)
    _check_reference("batchnorm1d_2d_forward_mut")


@DTYPES
def test_batchnorm1d_3d_forward_mut(dtype: type[Any]) -> None:
    """Port of dfdx src/nn/batchnorm1d.rs tests::test_batchnorm1d_3d_forward_mut: BatchNorm1D<2>
    training on a (3, 2, 2) (batch, channels, length) input (dfdx seed 0), loss mean(exp(y)), every
    value dfdx asserts, on the rebuilt input; then a NumPy input against PyTorch float64."""
    lit = Literals(
        channel_axis=1,
        y=[
            [[0.059494145, 0.21366562], [-1.0539212, 0.5588659]],
            [[-2.0465322, 0.6680055], [-0.46153978, 0.8375814]],
            [[-0.041158404, 1.1465254], [1.411404, -1.2923905]],
        ],
        running_mean=[0.065665804, -0.07374697],
        running_var=[1.0069065, 1.2117702],
        dscale=[0.4112549, 0.6407272],
        dbias=[0.7071625, 0.78455544],
        dx=[
            [[-0.035488494, -0.031065114], [0.0067214966, -0.02774144]],
            [[0.035152107, -0.0011850521], [-0.017958358, -0.017146945]],
            [[-0.03715139, 0.0697379], [0.037428252, 0.018696927]],
        ],
    )
    _check_literals(BatchNorm1D, lit, dtype)
    _check_reference("batchnorm1d_3d_forward_mut")


def test_batchnorm1d_update() -> None:
    """Port of dfdx src/nn/batchnorm1d.rs tests::test_batchnorm1d_update: a training step of
    BatchNorm1D<4> on a (3, 4) batch, then one SGD update (see _sgd_step)."""
    bn: Any = BatchNorm1D(4)
    _sgd_step(bn, bn, tt.tensor(np.random.default_rng(2).standard_normal((3, 4)).astype(F32)))


def test_batchnorm1d_doc_example() -> None:
    """Port of the doc example of dfdx's BatchNorm1D (src/nn/batchnorm1d.rs): forward on zeros of shape
    (4, 3) and (4, 3, 2) keeps the shape (zeros normalise to zeros with the default statistics)."""
    bn: Any = BatchNorm1D(3)
    for shape in ((4, 3), (4, 3, 2)):
        y = bn.forward(tt.zeros(shape))
        assert y.shape == shape
        np.testing.assert_array_equal(y.numpy(), 0.0)


# ---- the early src/nn/batch_norm.rs -------------------------------------------------------------


def test_batch_norm_reset() -> None:
    """Port of dfdx src/nn/batch_norm.rs (an early BatchNorm1D) tests::test_batch_norm_reset: a new
    BatchNorm1D<5> has scale 1, bias 0, running mean 0, running variance 1; after randomising scale and
    bias (dfdx: StdRng seed 0, Standard) they differ; reset_params restores all four."""
    bn: Any = BatchNorm1D(5)

    def check_defaults() -> None:
        for t, value in ((bn.scale, 1), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 1)):
            np.testing.assert_array_equal(t.numpy(), value)

    check_defaults()
    rng = np.random.default_rng(0)
    bn.load_state_dict({"scale": rng.uniform(size=5), "bias": rng.uniform(size=5)}, strict=False)
    assert not np.array_equal(bn.scale.numpy(), np.ones(5))
    assert not np.array_equal(bn.bias.numpy(), np.zeros(5))
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    bn.reset_params(seed=0)
    check_defaults()
