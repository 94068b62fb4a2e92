# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false, reportUnknownLambdaType=false
"""BatchNorm1D / BatchNorm2D / FusedBatchNorm2D: PyTorch parity, every option of the reference
frameworks, numerics, errors, checkpoints; on every available kernel backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from tests.bngrid import CONFIGS, Config, run_ours, run_torch
from tests.fd import numeric_gradient
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, Module, _bn_backend, _bn_numpy

GOLDEN = np.load(Path(__file__).parent / "golden" / "batchnorm.npz")
F64 = np.float64


BACKENDS = ["numpy", "numpy-blocked"] + (["numba", "numba-all"] if "numba" in _bn_backend.available() else [])


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs on each kernel backend installed here (numpy, and numba with the fast extra).

    ``-blocked`` / ``-all`` force the row-blocked NumPy path and the compiled numba loops even on the
    small tensors of these tests (normally they take the few-calls NumPy path).
    """
    name = request.param
    before = _bn_backend.current()
    _bn_backend.use(name.split("-")[0])
    if name == "numpy-blocked":
        monkeypatch.setattr(_bn_numpy, "_SMALL", 0)
        monkeypatch.setattr(_bn_numpy, "_SHORT_ROW", 1)
    if name == "numba-all":
        from typedtensor.nn import _bn_numba

        monkeypatch.setattr(_bn_numba, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(_bn_numba, "_PARALLEL_MIN_INFER", 0)
    yield name
    _bn_backend.use(before)


def _bn(c: int = 3, **kw: Any) -> Any:
    kw.setdefault("dtype", F64)
    return BatchNorm2D(c, **kw)


def _train(bn: Any, x: Any, w: Any | None = None) -> tuple[Any, Any]:
    """One training step with loss sum(y * w); returns (y, grads) with x's gradient kept."""
    grads = bn.alloc_grads()
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    weight = tt.tensor(np.ones(y.shape) if w is None else w, y.dtype.type)
    (y * weight).sum().backward()
    return y, grads


# ---- PyTorch parity ------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_parity_with_pytorch_golden(cfg: Config) -> None:
    ours = run_ours(cfg)
    keys = sorted(k.split("/", 1)[1] for k in GOLDEN.files if k.startswith(cfg.name + "/"))
    assert keys == sorted(ours)
    for k in keys:
        np.testing.assert_allclose(ours[k], GOLDEN[f"{cfg.name}/{k}"], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("cfg", CONFIGS[::5], ids=[c.name for c in CONFIGS[::5]])
def test_parity_with_pytorch_live(cfg: Config) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this grid")
    ours, theirs = run_ours(cfg), run_torch(cfg)
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_reference_case_from_the_design_notes() -> None:
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((4, 3, 5, 5))
    bn: Any = BatchNorm2D[L[3]](3, dtype=F64)
    bn.scale._data[...] = [1, 2, 0.5]
    bn.bias._data[...] = [0, 0.1, -0.2]
    x = tt.tensor(xv)
    y, grads = _train(bn, x, wv)

    def close(actual: Any, desired: list[float]) -> None:
        np.testing.assert_allclose(actual, desired, rtol=1e-10, atol=0)

    close(bn.running_mean.numpy(), [-0.00756688251383375, 0.00355384635752946, -0.00673204027739906])
    close(bn.running_var.numpy(), [1.009493546323596, 0.9964647969196825, 1.0071929657299672])
    close(y.numpy()[0, :, 0, 0], [0.1934387815512553, 0.21967054511169093, 0.00613432249937293])
    close(grads.get(bn.scale).numpy(), [7.569512983830385, 7.721889028196979, -2.6390879353005587])
    close(grads.get(bn.bias).numpy(), [-4.876725377417387, -2.5486314266506103, 4.542640326898789])
    close(grads.get(x).numpy()[0, :, 0, 0], [1.1884764385850362, -0.1902701336703604, -0.7589335499851138])
    inferred = bn.forward(x).numpy()[0, :, 0, 0]
    close(inferred, [0.1326681851908665, 0.281236632801861, -0.01859592594721751])


# ---- finite differences (float64) ----------------------------------------------------------


def _fd_check(make: Any, inputs: list[np.ndarray[Any, Any]], call: Any) -> None:
    """Compare the gradients of sum(out * w) for every input with central differences."""
    w = np.random.default_rng(9).standard_normal(inputs[0].shape)

    def loss(values: list[np.ndarray[Any, Any]]) -> float:
        bn = make()
        out = call(bn, [tt.tensor(v).leaky_trace() for v in values])
        return float((out.numpy() * w).sum())

    bn = make()
    ts = [tt.tensor(v).leaky_trace() for v in inputs]
    out = call(bn, ts)
    grads = (out * tt.tensor(w)).sum().backward()
    for i in range(len(inputs)):
        numeric = numeric_gradient(loss, inputs, i)
        np.testing.assert_allclose(grads.get(ts[i]).numpy(), numeric, rtol=1e-5, atol=1e-6, err_msg=f"input {i}")


def test_training_gradient_matches_finite_differences() -> None:
    x = np.random.default_rng(1).standard_normal((3, 2, 2, 3))
    _fd_check(lambda: _bn(2), [x], lambda bn, ts: bn.forward_mut(ts[0]))


def test_fused_add_relu_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(2)
    x, addend = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((3, 2, 2, 2))
    _fd_check(lambda: FusedBatchNorm2D(2, dtype=F64), [x, addend], lambda bn, ts: bn.forward_mut(ts[0], ts[1]))


def test_freeze_gradient_matches_finite_differences() -> None:
    x = np.random.default_rng(3).standard_normal((2, 2, 2, 2))

    def make() -> Any:
        bn = _bn(2, freeze=True)
        bn.running_mean._data[...] = [0.3, -0.2]
        bn.running_var._data[...] = [1.5, 0.7]
        return bn

    _fd_check(make, [x], lambda bn, ts: bn.forward_mut(ts[0]))


def test_scale_and_bias_gradients_match_finite_differences() -> None:
    x = tt.tensor(np.random.default_rng(4).standard_normal((4, 2, 3, 3)))
    w = np.random.default_rng(5).standard_normal((4, 2, 3, 3))
    bn = _bn(2)
    _, grads = _train(bn, x, w)
    for name in ("scale", "bias"):
        analytic = grads.get(getattr(bn, name)).numpy()
        numeric = np.zeros(2)
        for c in range(2):
            vals = []
            for sign in (1, -1):
                probe = _bn(2)
                getattr(probe, name)._data[c] += sign * 1e-6
                vals.append(float((probe.forward_mut(x.leaky_trace()).numpy() * w).sum()))
            numeric[c] = (vals[0] - vals[1]) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


# ---- options ---------------------------------------------------------------------------------


def test_momentum_none_is_a_cumulative_average() -> None:
    bn = _bn(2, momentum=None)
    batches = [np.random.default_rng(s).standard_normal((4, 2, 3, 3)) + s for s in range(3)]
    for b in batches:
        bn.forward_mut(tt.tensor(b).leaky_trace())
    means = [b.mean(axis=(0, 2, 3)) for b in batches]
    vars_ = [b.var(axis=(0, 2, 3), ddof=1) for b in batches]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean(vars_, axis=0), rtol=1e-12)
    assert bn.num_batches_tracked == 3


def test_megengine_momentum_convention() -> None:
    x = np.random.default_rng(6).standard_normal((4, 3, 2, 2))
    ours, mge = _bn(momentum=0.1), _bn(momentum=0.9, momentum_convention="megengine")
    for bn in (ours, mge):
        bn.forward_mut(tt.tensor(x).leaky_trace())
    # 1 - 0.9 is 0.09999999999999998 in binary: equal up to that last bit
    np.testing.assert_allclose(ours.running_mean.numpy(), mge.running_mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(ours.running_var.numpy(), mge.running_var.numpy(), rtol=1e-14)
    assert mge.momentum == pytest.approx(0.1)


def test_momentum_zero_still_counts_batches() -> None:
    bn = _bn(momentum=0.0)
    bn.forward_mut(tt.tensor(np.random.default_rng(0).standard_normal((2, 3, 2, 2))).leaky_trace())
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0.0)
    assert bn.num_batches_tracked == 1


def test_freeze_uses_running_stats_and_updates_nothing() -> None:
    bn = _bn(2, freeze=True)
    bn.running_mean._data[...] = [1.0, -1.0]
    bn.running_var._data[...] = [4.0, 0.25]
    x = tt.tensor(np.random.default_rng(7).standard_normal((3, 2, 2, 2)))
    y, grads = _train(bn, x)
    expected = (x.numpy() - np.array([1.0, -1.0])[:, None, None]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)[:, None, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean.numpy(), [1.0, -1.0])
    assert bn.num_batches_tracked == 0
    np.testing.assert_array_equal(grads.get(bn.scale).numpy(), 0.0)  # no gradient reaches them
    np.testing.assert_array_equal(grads.get(bn.bias).numpy(), 0.0)
    np.testing.assert_allclose(
        grads.get(x).numpy(), np.broadcast_to(1 / np.sqrt(np.array([4.0, 0.25]) + 1e-5)[:, None, None], x.shape)
    )


def test_fused_add_relu_forward_and_backward() -> None:
    rng = np.random.default_rng(8)
    xv, av, wv = (rng.standard_normal((4, 3, 3, 3)) for _ in range(3))
    fused: Any = FusedBatchNorm2D(3, dtype=F64)
    plain = _bn(3)
    x, addend = tt.tensor(xv), tt.tensor(av)
    grads = fused.alloc_grads()
    grads.alloc(x)
    grads.alloc(addend)
    out = fused.forward_mut(x.trace(grads), addend.trace(grads))
    (out * tt.tensor(wv)).sum().backward()
    ref_in = x.leaky_trace()
    ref_add = addend.leaky_trace()
    ref = (plain.forward_mut(ref_in) + ref_add).relu()
    ref_grads = (ref * tt.tensor(wv)).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads.get(x).numpy(), ref_grads.get(x).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads.get(addend).numpy(), ref_grads.get(addend).numpy(), rtol=1e-12)
    np.testing.assert_allclose(fused.running_var.numpy(), plain.running_var.numpy(), rtol=1e-12)
    # inference, with and without the addend
    inf = fused.forward(x, addend).numpy()
    np.testing.assert_allclose(inf, np.maximum(plain.forward(x).numpy() + av, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.forward(x).numpy(), np.maximum(plain.forward(x).numpy(), 0), atol=1e-12)


def test_puzzlelib_factor_schedule() -> None:
    bn = _bn(1, init_factor=1.0, min_factor=0.25)
    batches = [np.full((2, 1, 2, 2), float(v)) + np.array([0.0, 1.0])[:, None, None, None] for v in (0, 10, 20, 30, 40)]
    factors = []
    for b in batches:
        before = float(bn.running_mean.numpy()[0])
        bn.forward_mut(tt.tensor(b).leaky_trace())
        after = float(bn.running_mean.numpy()[0])
        factors.append((after - before) / (b.mean() - before))
    np.testing.assert_allclose(factors, [1.0, 1 / 2, 1 / 3, 0.25, 0.25])


def test_puzzlelib_sscale_initialisation_is_seeded() -> None:
    a = _bn(1000, sscale=0.05, seed=3)
    b = _bn(1000, sscale=0.05, seed=3)
    np.testing.assert_array_equal(a.scale.numpy(), b.scale.numpy())
    assert abs(a.scale.numpy().mean() - 1.0) < 0.01
    assert abs(a.scale.numpy().std() - 0.05) < 0.005


def test_inplace_inference_writes_into_the_input_buffer() -> None:
    bn = _bn(2, inplace=True)
    bn.running_mean._data[...] = [1.0, 2.0]
    x = tt.tensor(np.random.default_rng(1).standard_normal((2, 2, 3, 3)))
    expected = _bn(2).forward(x).numpy() - np.array([1.0, 2.0])[:, None, None] / np.sqrt(1 + 1e-5)
    y = bn.forward(x)
    assert np.shares_memory(y.numpy(), x.numpy())
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-12)
    with pytest.raises(tt.TapeError, match="works only in inference"):
        bn.forward_mut(tt.tensor(np.zeros((2, 2, 2, 2))).leaky_trace())
    with pytest.raises(tt.InplaceError, match=r"read-only|not C-contiguous"):
        bn.forward(tt.tensor(np.zeros((2, 1, 3))).broadcast_to((2, 2, 3)).reshape((1, 2, 2, 3)))


def test_affine_false_and_no_running_stats() -> None:
    bn = _bn(2, affine=False, track_running_stats=False)
    assert (bn.scale, bn.bias, bn.running_mean, bn.running_var) == (None, None, None, None)
    x = tt.tensor(np.random.default_rng(2).standard_normal((4, 2, 3, 3)) * 3 + 1)
    y = bn.forward(x).numpy()  # batch statistics in inference too
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    assert bn.state_dict() == {}
    assert bn.num_batches_tracked is None
    assert bn.num_trainable_params() == 0


def test_zero_size_batch() -> None:
    bn = _bn(3)
    y, grads = _train(bn, tt.tensor(np.zeros((0, 3, 2, 2))))
    assert y.shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0.0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1.0)
    assert bn.num_batches_tracked == 1
    np.testing.assert_array_equal(grads.get(bn.scale).numpy(), 0.0)
    assert bn.forward(tt.tensor(np.zeros((0, 3, 2, 2)))).shape == (0, 3, 2, 2)


def test_unbatched_and_1d_inputs() -> None:
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    bn = _bn(3)
    y = bn.forward_mut(tt.tensor(x).leaky_trace())
    np.testing.assert_allclose(
        y.numpy(),
        (x - x.mean(axis=(1, 2))[:, None, None]) / np.sqrt(x.var(axis=(1, 2))[:, None, None] + 1e-5),
        rtol=1e-10,
    )
    bn1 = BatchNorm1D(4, dtype=F64)
    z = bn1.forward_mut(tt.tensor(x).leaky_trace())  # (N=3, C=4, L=5)
    np.testing.assert_allclose(z.numpy().mean(axis=(0, 2)), 0, atol=1e-12)
    flat = bn1.forward_mut(tt.tensor(x[:, :, 0]).leaky_trace())  # (N=3, C=4)
    np.testing.assert_allclose(flat.numpy().mean(axis=0), 0, atol=1e-12)
    assert bn1.num_batches_tracked == 2


# ---- numerics --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (16, 4, 32, 32), (100, 3)])
def test_float32_large_mean_keeps_unit_variance(shape: tuple[int, ...]) -> None:
    xv = (np.random.default_rng(5).standard_normal(shape) + 1e4).astype(np.float32)
    bn: Any = BatchNorm2D(shape[1]) if len(shape) == 4 else BatchNorm1D(shape[1])  # float32
    y = bn.forward_mut(tt.tensor(xv).leaky_trace()).numpy().astype(np.float64)
    axes = (0, 2, 3) if len(shape) == 4 else (0,)
    np.testing.assert_allclose(y.var(axis=axes), 1.0, atol=1e-3)
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-3)
    true_var = xv.astype(np.float64).var(axis=axes, ddof=1)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * true_var, rtol=1e-4)


def test_backends_agree_on_large_tensors() -> None:
    if len(_bn_backend.available()) < 2:
        pytest.skip("numba (a dependency of typedtensor) is not installed here: only the NumPy kernels exist")
    for dtype, tol in ((np.float32, 2e-4), (np.float64, 1e-10)):
        _backends_agree(dtype, tol)


def _backends_agree(dtype: type[Any], tol: float) -> None:
    xv = (np.random.default_rng(6).standard_normal((8, 16, 24, 24)) * 3 + 2).astype(dtype)
    wv = np.random.default_rng(7).standard_normal(xv.shape).astype(dtype)
    results = {}
    for name in _bn_backend.available():
        _bn_backend.use(name)
        bn: Any = BatchNorm2D(16, dtype=dtype)
        x = tt.tensor(xv)
        y, grads = _train(bn, x, wv)
        results[name] = (
            y.numpy(),
            grads.get(x).numpy(),
            grads.get(bn.scale).numpy(),
            bn.running_var.numpy(),
            bn.forward(x).numpy(),
        )
    for a, b in zip(results["numpy"], results["numba"], strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---- errors ----------------------------------------------------------------------------------


def test_pytorch_errors() -> None:
    bn = _bn(3)
    with pytest.raises(
        tt.ShapeError, match=r"Expected more than 1 value per channel when training, got input size \[1, 3, 1, 1\]"
    ):
        bn.forward_mut(tt.tensor(np.zeros((1, 3, 1, 1))).leaky_trace())
    assert bn.forward(tt.tensor(np.zeros((1, 3, 1, 1)))).shape == (1, 3, 1, 1)  # fine in inference
    assert bn.num_batches_tracked == 0  # the refused step changed nothing
    with pytest.raises(tt.TypedTensorError, match="batch_norm eps must be positive during training"):
        _bn(3, eps=0.0).forward_mut(tt.tensor(np.zeros((2, 3, 2, 2))).leaky_trace())
    bad: Any = bn
    with pytest.raises(tt.CheckError, match=r"dim 1 \(C\) is 4 but C is bound to 3"):
        bad.forward(tt.tensor(np.zeros((2, 4, 2, 2))))
    with pytest.raises(tt.ShapeError, match=r"expected 3D or 4D input \(got 5D input\)"):
        bad.forward(tt.tensor(np.zeros((1, 2, 3, 2, 2))))
    with pytest.raises(tt.CheckError, match="rank is 2 but at least 3 is expected"):
        bad.forward(tt.tensor(np.zeros((2, 3))))
    with pytest.raises(tt.CheckError, match="tape is OwnedTape but NoneTape is expected"):
        bad.forward(tt.tensor(np.zeros((2, 3, 2, 2))).leaky_trace())
    with pytest.raises(tt.CheckError, match="tape is NoneTape but OwnedTape is expected"):
        bad.forward_mut(tt.tensor(np.zeros((2, 3, 2, 2))))
    with pytest.raises(tt.DTypeError, match="holds float64 parameters but the input is float32"):
        bad.forward(tt.zeros((2, 3, 2, 2)))


def test_constructor_errors() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"momentum": 1.5}, "momentum must be a number in [0, 1] or None, got 1.5"),
        ({"momentum": None, "momentum_convention": "megengine"}, "no MegEngine form"),
        ({"momentum_convention": "keras"}, "momentum_convention must be"),
        ({"freeze": True, "track_running_stats": False}, "needs track_running_stats=True"),
        ({"sscale": 0.1, "affine": False}, "needs affine=True"),
        ({"init_factor": 0.0}, "init_factor must be > 0"),
        ({"eps": float("nan")}, "eps must be finite"),
        ({"dtype": np.int32}, "dtype must be"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(tt.TypedTensorError) as info:
            _bn(3, **kwargs)
        assert fragment in str(info.value)
    with pytest.raises(tt.TypedTensorError, match="num_features must be a positive int"):
        BatchNorm2D(0)
    mismatch: Any = BatchNorm2D
    bn = mismatch[L[3]](5)
    with pytest.raises(tt.CheckError, match=r"BatchNorm2D\[...\] declares C = 3 but this instance was built with 5"):
        bn.forward(tt.zeros((1, 5, 2, 2)))


# ---- checkpoints -----------------------------------------------------------------------------


def test_state_dict_names_and_round_trip() -> None:
    bn = _bn(3)
    bn.forward_mut(tt.tensor(np.random.default_rng(1).standard_normal((4, 3, 2, 2))).leaky_trace())
    state = bn.state_dict()
    assert sorted(state) == ["bias", "num_batches_tracked", "running_mean", "running_var", "scale"]
    assert state["num_batches_tracked"].shape == ()
    assert state["num_batches_tracked"] == 1
    fresh = _bn(3)
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    assert fresh.num_batches_tracked == 1


def test_load_pytorch_checkpoint_names() -> None:
    torch_state = {
        "weight": np.array([1.0, 2.0, 3.0], np.float32),
        "bias": np.zeros(3, np.float32),
        "running_mean": np.ones(3, np.float32),
        "running_var": np.full(3, 2.0, np.float32),
        "num_batches_tracked": np.array(7),
    }
    bn = _bn(3)
    bn.load_state_dict(torch_state, naming="torch")
    np.testing.assert_array_equal(bn.scale.numpy(), [1.0, 2.0, 3.0])
    assert bn.scale.dtype == F64
    assert bn.num_batches_tracked == 7
    with pytest.raises(tt.TypedTensorError, match=r"missing keys \['scale'\], unexpected keys \['weight'\]"):
        bn.load_state_dict(torch_state)


def test_load_state_dict_validates_everything_before_changing_anything() -> None:
    bn = _bn(3)
    good = bn.state_dict()
    before = bn.state_dict()
    for bad, fragment in [
        ({**good, "running_var": np.ones(4)}, "has shape (4,), the module expects (3,)"),
        ({**good, "scale": np.ones(3, np.int32)}, "a float array is expected"),
        ({**good, "bias": np.array([0.0, np.nan, 0.0])}, "NaN or infinite"),
        ({**good, "num_batches_tracked": np.array(1.5)}, "non-negative integer scalar"),
        ({**good, "extra": np.zeros(1)}, "unexpected keys ['extra']"),
    ]:
        bad["running_mean"] = np.full(3, 9.0)  # valid, and must not be applied
        with pytest.raises(tt.TypedTensorError) as info:
            bn.load_state_dict(bad)
        assert fragment in str(info.value)
        for k, v in bn.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
    partial = {"running_mean": np.full(3, 9.0)}
    bn.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(bn.running_mean.numpy(), 9.0)


def test_repr() -> None:
    assert repr(_bn(3, freeze=True)) == (
        "BatchNorm2D(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, freeze=True, dtype=float64)"
    )


def test_inference_helper_thread_survives_fork() -> None:
    import os
    import sys

    if not hasattr(os, "fork") or sys.platform == "darwin":
        pytest.skip("fork is not available here")
    bn = BatchNorm2D(8)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 8, 256, 256)).astype(np.float32))  # > 8 MB
    expected = bn.forward(x).numpy()  # the parent starts its helper thread
    pid = os.fork()
    if pid == 0:  # child: the same call must not wait for the parent's (absent) thread
        ok = np.array_equal(bn.forward(x).numpy(), expected)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# ---- review regressions ----------------------------------------------------------------------


def test_float16_module_computes_in_float32() -> None:
    xv = np.random.default_rng(3).standard_normal((8, 4, 16, 16)) * 10 + 100
    half: Any = BatchNorm2D(4, dtype=np.float16)
    ref: Any = BatchNorm2D(4, dtype=np.float64)
    x16 = tt.tensor(xv.astype(np.float16))
    y, grads = _train(half, x16)
    y_ref, _ = _train(ref, tt.tensor(xv.astype(np.float16).astype(np.float64)))
    assert y.dtype == np.float16
    assert grads.get(x16).dtype == np.float16
    assert grads.get(half.scale).dtype == np.float16
    np.testing.assert_allclose(y.numpy().astype(np.float64), y_ref.numpy(), atol=5e-3)
    np.testing.assert_allclose(half.running_var.numpy().astype(np.float64), ref.running_var.numpy(), rtol=2e-3)
    inferred = half.forward(x16)
    assert inferred.dtype == np.float16
    np.testing.assert_allclose(
        inferred.numpy().astype(np.float64),
        ref.forward(tt.tensor(xv.astype(np.float16).astype(np.float64))).numpy(),
        atol=2e-2,
    )


def test_channel_and_tape_checks_hold_with_checks_off() -> None:
    bn: Any = _bn(3)
    with tt.checks(False):
        with pytest.raises(tt.ShapeError, match=r"expected 3 channels, got input of shape \(2, 5, 2, 2\)"):
            bn.forward(tt.tensor(np.zeros((2, 5, 2, 2))))
        with pytest.raises(tt.ShapeError, match="expected 3 channels"):
            bn.forward_mut(tt.tensor(np.zeros((2, 1, 2, 2))).leaky_trace())
        with pytest.raises(tt.TapeError, match="forward is inference and takes an untraced tensor"):
            bn.forward(tt.tensor(np.zeros((2, 3, 2, 2))).leaky_trace())
        with pytest.raises(tt.TapeError, match="forward_mut is a training step and takes a traced tensor"):
            bn.forward_mut(tt.tensor(np.zeros((2, 3, 2, 2))))
    assert bn.num_batches_tracked == 0
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0.0)


def test_a_refused_training_step_changes_nothing() -> None:
    bn = _bn(3)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))
    xt = x.leaky_trace()
    bn.forward_mut(xt).sum().backward()  # consumes xt's tape
    before = bn.state_dict()
    with pytest.raises(tt.TapeError, match="consumed"):
        bn.forward_mut(xt)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    fused: Any = FusedBatchNorm2D(3, dtype=F64)
    bad_addend = tt.tensor(np.zeros((4, 3, 2, 1)))
    with pytest.raises(tt.CheckError, match=r"dim 3 \(W\) is 1 but W is bound to 2"):
        fused.forward_mut(x.leaky_trace(), bad_addend)
    with tt.checks(False), pytest.raises(tt.ShapeError, match="the addend has shape"):
        fused.forward_mut(x.leaky_trace(), bad_addend)
    assert fused.num_batches_tracked == 0


def test_inplace_fused_with_the_input_as_addend() -> None:
    fused: Any = FusedBatchNorm2D(3, dtype=F64, inplace=True)
    fused.running_mean._data[...] = 1.0
    fused.running_var._data[...] = 4.0
    xv = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
    x = tt.tensor(xv)
    fused.forward(x, x)
    expected = np.maximum((xv - 1.0) / np.sqrt(4.0 + 1e-5) + xv, 0)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_option_validation() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"eps": "x"}, "eps must be a real number, got 'x' (str)"),
        ({"momentum": "x"}, "momentum must be a number"),
        ({"seed": "a", "sscale": 0.1}, "seed must be a non-negative int"),
        ({"sscale": float("nan")}, "sscale must be finite"),
        ({"init_factor": float("inf")}, "init_factor must be finite"),
        ({"min_factor": 2.0}, "min_factor must be a number in [0, 1], got 2.0"),
        ({"init_factor": 1.0, "momentum": None}, "init_factor sets the running-average factor itself"),
        ({"init_factor": 1.0, "track_running_stats": False}, "keep track_running_stats=True"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(tt.TypedTensorError) as info:
            _bn(3, **kwargs)
        assert fragment in str(info.value)


def test_load_state_dict_refuses_bad_values() -> None:
    bn = _bn(3)
    good = bn.state_dict()
    cases: list[tuple[Any, str]] = [
        ([("scale", np.ones(3))], "needs a mapping"),
        ({**good, "running_var": np.array([1.0, -1.0, 1.0])}, "negative variances"),
        ({**good, "num_batches_tracked": np.array(2**64 - 1, dtype=np.uint64)}, "integer scalar (int64)"),
        ({**good, "scale": np.array([1.0, object(), 2.0], dtype=object)}, "a float array is expected"),
    ]
    for bad, fragment in cases:
        with pytest.raises(tt.TypedTensorError) as info:
            bn.load_state_dict(bad)
        assert fragment in str(info.value)
    half: Any = BatchNorm2D(3, dtype=np.float16)
    with pytest.raises(tt.DTypeError, match=r"'running_var' holds 1000000\.0, too large for float16"):
        half.load_state_dict({**half.state_dict(), "running_var": np.full(3, 1e6)})


def test_long_rows_are_summed_in_pieces() -> None:
    """Rows longer than the NumPy kernels' piece length (uneven last piece) keep exact statistics."""
    xv = np.random.default_rng(4).standard_normal((2, 2, 40_000)) * 2 + 1e4
    bn: Any = BatchNorm1D(2, dtype=F64)
    y = bn.forward_mut(tt.tensor(xv).leaky_trace()).numpy()
    ref = (xv - xv.mean(axis=(0, 2))[:, None]) / np.sqrt(xv.var(axis=(0, 2))[:, None] + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * xv.mean(axis=(0, 2)), rtol=1e-12)


class _Net(Module):
    """A module tree: a child, and a list of children."""

    def __init__(self) -> None:
        self.stem = BatchNorm2D(3, dtype=F64)
        self.blocks = [BatchNorm1D(2, dtype=F64), BatchNorm1D(2, dtype=F64, affine=False)]


def test_module_tree_walk_uses_dotted_names() -> None:
    net = _Net()
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "stem", "blocks.0", "blocks.1"]
    assert [n for n, _ in net.named_parameters()] == ["stem.scale", "stem.bias", "blocks.0.scale", "blocks.0.bias"]
    assert net.num_trainable_params() == 3 + 3 + 2 + 2
    state = net.state_dict()
    assert "blocks.1.running_var" in state
    assert "blocks.1.scale" not in state
    torch_style = {k.replace("scale", "weight"): v for k, v in state.items()}
    fresh = _Net()
    fresh.load_state_dict(torch_style, naming="torch")
    grads = fresh.alloc_grads()
    assert len(grads) == 4
    with pytest.raises(tt.TypedTensorError, match=r"missing keys \['blocks.0.bias'\]"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "blocks.0.bias"})
