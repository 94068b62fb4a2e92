# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""BatchNorm's kernel backends under faults: eps at and below zero, a corrupt numba cache, fork.

* eps: negative is refused everywhere (constructor, checkpoint files); 0 is allowed for inference with
  running statistics and refused for training (PyTorch's rule), and there both backends give IEEE's
  inf/NaN for ``running_var + eps == 0``, without an exception or a warning.
* a truncated or empty file in numba's cache directory: BatchNorm still works (the kernel is compiled
  afresh, warning-free) and the cache is rewritten, so the next process loads it again.
* a process forked after numba's threads started: ``use("numba")`` raises instead of the child dying.

The cache and fork cases run in subprocesses, so this process's numba state is never touched.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.bnpaths import available_paths, use_path
from typedtensor import nn
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, _bn_backend

HAS_NUMBA = "numba" in _bn_backend.available()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``on_path(name)`` switches to that kernel path until the test ends."""
    before = _bn_backend.current()

    def switch(name: str) -> None:
        use_path(name, monkeypatch)

    yield switch
    _bn_backend.use(before)


# ---- eps -------------------------------------------------------------------------------------------------


def test_negative_eps_is_refused_and_zero_is_allowed_by_the_constructor() -> None:
    for cls in (BatchNorm1D, BatchNorm2D, FusedBatchNorm2D):
        for eps in (-1e-5, -1.0, -1e-300):
            with pytest.raises(tt.TypedTensorError, match=r"eps must be >= 0 .*got -"):
                cls(3, eps=eps)
        assert cls(3, eps=0.0).eps == 0.0  # as PyTorch: built, usable for inference, refused in training


def test_a_checkpoint_with_a_negative_eps_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    BatchNorm2D(3, eps=1e-3).save_npz(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for eps, ok in (("-0.001", False), ("-1e-300", False), ("0.0", True)):
        meta = json.loads(str(arrays["__metadata__"]))
        meta["typedtensor.hparams.eps"] = eps
        entries: dict[str, Any] = {**arrays, "__metadata__": np.array(json.dumps(meta))}
        np.savez(path, **entries)
        bn = BatchNorm2D(3)
        if ok:
            bn.load_npz(path)
            assert bn.eps == 0.0
            continue
        with pytest.raises(tt.CheckpointError, match="eps must be >= 0"):
            bn.load_npz(path)
        assert bn.eps == 1e-5  # the refused file changed nothing


@pytest.mark.parametrize("path", available_paths())
def test_training_with_eps_zero_is_refused_on_every_path(path: str, on_path: Any) -> None:
    on_path(path)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))
    modules: list[Any] = [
        BatchNorm2D(3, eps=0.0, dtype=np.float64),
        BatchNorm2D(3, eps=0.0, dtype=np.float64, freeze=True),
        FusedBatchNorm2D(3, eps=0.0, dtype=np.float64),
    ]
    for bn in modules:
        with pytest.raises(tt.TypedTensorError, match="batch_norm eps must be positive during training"):
            bn.forward_mut(x.leaky_trace())
        assert bn.num_batches_tracked == 0
        np.testing.assert_array_equal(bn.running_var.numpy(), 1.0)
    no_stats: Any = BatchNorm2D(3, eps=0.0, dtype=np.float64, track_running_stats=False)
    with pytest.raises(tt.TypedTensorError, match="batch_norm eps must be positive"):
        no_stats.forward(x)  # batch statistics in inference: the same rule, as PyTorch


#: Per channel: running_mean, running_var, scale, bias. Channels 0, 1, 3 and 4 have running_var + eps == 0
#: (1/sqrt is inf): +-inf where x != running_mean, NaN where x == running_mean, NaN everywhere with scale 0.
#: Channel 2 is a normal one, with powers of two so that a*x + b and PyTorch's order give the same bits.
_DEGENERATE = np.array(
    [
        [0.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 2.0, 0.5],
        [0.5, 0.25, 2.0, -1.0],
        [0.0, 0.0, 0.0, 1.0],
        [-1.0, 0.0, -1.0, 0.0],
    ]
)


def _degenerate_input(shape: tuple[int, ...]) -> Any:
    """Values from a small dyadic set that holds every channel's running mean (x == mean gives 0 * inf)."""
    values = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    return np.random.default_rng(1).choice(values, size=shape)


def _pytorch_order(x: Any, channel_axis: int, eps: float, affine: bool = True) -> Any:
    """PyTorch's reference formula ((x - mean) * invstd) * weight + bias, in float64, channels on ``channel_axis``."""
    rm, rv, scale, bias = (np.expand_dims(v, [a for a in range(x.ndim) if a != channel_axis]) for v in _DEGENERATE.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (x - rm) * (1.0 / np.sqrt(rv + eps))
        return y * scale + bias if affine else y


def _degenerate_module(cls: Any, dtype: Any, affine: bool = True, **options: Any) -> Any:
    bn = cls(len(_DEGENERATE), eps=0.0, dtype=dtype, affine=affine, **options)
    bn.running_mean._data[...], bn.running_var._data[...] = _DEGENERATE[:, 0], _DEGENERATE[:, 1]
    if affine:
        bn.scale._data[...], bn.bias._data[...] = _DEGENERATE[:, 2], _DEGENERATE[:, 3]
    return bn


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("path", available_paths())
def test_zero_running_var_plus_eps_gives_pytorchs_infinities_on_every_path(path: str, dtype: Any, on_path: Any) -> None:
    """running_var + eps == 0: y = ((x - mean) * inf) * scale + bias, PyTorch's formula: +-inf where x != mean,
    NaN where x == mean or scale == 0. The kernels' y = a*x + b gave NaN for the whole channel (b = -mean * inf
    is NaN or inf), and numba raised ZeroDivisionError before that."""
    on_path(path)
    cases: list[tuple[Any, tuple[int, ...], int, dict[str, Any]]] = [
        (BatchNorm2D, (3, 5, 4, 4), 1, {}),  # batched: coefficient planes / blocked rows
        (BatchNorm2D, (5, 3, 4), 0, {}),  # unbatched (C, H, W): one sample, the row path
        (BatchNorm1D, (6, 5), 1, {}),  # (N, C): rows of one value
        (BatchNorm1D, (2, 5, 7), 1, {"affine": False}),  # no scale or bias
        (FusedBatchNorm2D, (2, 5, 3, 3), 1, {}),  # relu(bn(x)): -inf -> 0, NaN stays NaN
    ]
    for cls, shape, axis, options in cases:
        xv = _degenerate_input(shape)
        bn = _degenerate_module(cls, dtype, **options)
        raw = _pytorch_order(xv, axis, 0.0, options.get("affine", True))
        assert np.isposinf(raw).any()
        assert np.isneginf(raw).any()
        assert np.isnan(raw).any()
        expected = np.where(np.isnan(raw), raw, np.maximum(raw, 0.0)) if cls is FusedBatchNorm2D else raw
        for layout in (xv, np.asfortranarray(xv), xv[..., ::-1][..., ::-1]):
            y = bn.forward(tt.tensor(np.asarray(layout, dtype=dtype))).numpy()
            np.testing.assert_array_equal(y, expected.astype(dtype), err_msg=f"{cls.__name__} {shape}")


@pytest.mark.parametrize("path", available_paths())
def test_a_mean_times_invstd_beyond_float32_is_not_nan_where_x_is_the_mean(path: str, on_path: Any) -> None:
    """Finite coefficients can still fail: a = 1e15 is a float32, b = -mean * a = -1e45 is not (inf), so a*x + b
    was NaN at x == mean instead of bias; the channel is computed in PyTorch's order instead."""
    on_path(path)
    bn: Any = BatchNorm1D(2, eps=0.0)
    bn.running_mean._data[...] = [1e30, 0.0]
    bn.running_var._data[...] = [1e-30, 1.0]
    bn.bias._data[...] = [0.5, 0.0]
    x = np.array([[1e30, 1.0], [1e30, -1.0]], dtype=np.float32)
    y = bn.forward(tt.tensor(x)).numpy()
    np.testing.assert_array_equal(y, np.array([[0.5, 1.0], [0.5, -1.0]], dtype=np.float32))


def test_zero_running_var_plus_eps_matches_pytorchs_strided_kernel() -> None:
    """PyTorch 2.13's CPU inference has two kernels: for a strided input, ((x - mean) * invstd) * weight + bias
    (the values above); for contiguous and channels-last input, alpha * x + beta, NaN wherever beta is. Ours
    does not depend on the layout: it follows the first (see the README)."""
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the formula test covers this")
    xv = _degenerate_input((2, 5, 3, 3))
    ref = torch.nn.BatchNorm2d(5, eps=0.0).double().eval()
    with torch.no_grad():
        for name, column in (("running_mean", 0), ("running_var", 1), ("weight", 2), ("bias", 3)):
            getattr(ref, name).copy_(torch.from_numpy(_DEGENERATE[:, column].copy()))
        theirs = ref(torch.from_numpy(xv).transpose(2, 3)).transpose(2, 3).numpy()
    ours = _degenerate_module(BatchNorm2D, np.float64).forward(tt.tensor(xv)).numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("path", available_paths())
def test_a_negative_zero_eps_is_zero(path: str, on_path: Any) -> None:
    """eps = -0.0 equals 0: accepted as eps = 0 is, and stored (constructor, assignment, checkpoint) as +0.0,
    so running_var = -0.0 gives 1/sqrt(-0.0 + 0.0) = +inf as with +0.0. Kept as -0.0, -0.0 + -0.0 is -0.0 and
    1/sqrt(-0.0) is -inf: every sign flipped (the kernels' entry also turns a -0.0 eps into +0.0)."""
    on_path(path)
    for bn in (BatchNorm1D(2, eps=-0.0, dtype=np.float64), BatchNorm1D(2, dtype=np.float64)):
        if bn.eps != 0.0:
            bn.eps = -0.0
        assert math.copysign(1.0, bn.eps) == 1.0, bn.eps
        assert "eps=0.0" in repr(bn)
        rv: Any = bn.running_var
        rv._data[...] = [-0.0, 1.0]
        y = bn.forward(tt.tensor(np.array([[1.0, 2.0], [-1.0, 2.0]]))).numpy()
        np.testing.assert_array_equal(y, [[np.inf, 2.0], [-np.inf, 2.0]])
        with pytest.raises(tt.TypedTensorError, match=r"eps must be positive during training, got eps=0\.0;"):
            bn.forward_mut(tt.tensor(np.ones((2, 2))).leaky_trace())
    x3, out = np.array([[[1.0], [2.0]], [[-1.0], [2.0]]]), np.empty((2, 2, 1))
    _bn_backend.infer(x3, np.zeros(2), np.array([-0.0, 1.0]), None, None, -0.0, out)  # the kernels' entry
    np.testing.assert_array_equal(out[:, :, 0], [[np.inf, 2.0], [-np.inf, 2.0]])


def test_a_checkpoint_with_a_negative_zero_eps_loads_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    BatchNorm2D(3, eps=1e-3).save_npz(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__metadata__"]))
    meta["typedtensor.hparams.eps"] = "-0.0"
    entries: dict[str, Any] = {**arrays, "__metadata__": np.array(json.dumps(meta))}
    np.savez(path, **entries)
    bn = BatchNorm2D(3)
    bn.load_npz(path)
    assert bn.eps == 0.0
    assert math.copysign(1.0, bn.eps) == 1.0


# ---- float16 results beyond 65504 --------------------------------------------------------------------------


@pytest.mark.parametrize("path", available_paths())
def test_float16_inference_beyond_65504_is_inf_without_a_warning(path: str, on_path: Any) -> None:
    """running_var = 0 and eps = 1e-10: a = 1e5, so y = 3e5 is beyond float16: IEEE inf, as PyTorch, without
    NumPy's raw "overflow encountered in cast" (an error under -W error) on every inference variant."""
    on_path(path)
    xv = np.array([3.0, -3.0, 0.0, 1e-4]).reshape(2, 2, 1, 1) * np.ones((1, 1, 2, 2))
    expected = np.array([np.inf, -np.inf, 0.0, 10.0], dtype=np.float16).reshape(2, 2, 1, 1) * np.ones(
        (1, 1, 2, 2), np.float16
    )
    modules: list[Any] = [
        BatchNorm2D(2, eps=1e-10, dtype=np.float16),
        BatchNorm2D(2, eps=1e-10, dtype=np.float16, inplace=True),
        FusedBatchNorm2D(2, eps=1e-10, dtype=np.float16),
        FusedBatchNorm2D(2, eps=1e-10, dtype=np.float16, inplace=True),
        nn.SyncBatchNorm2D(2, eps=1e-10, dtype=np.float16),
    ]
    for bn in modules:
        bn.running_var._data[...] = 0.0
        relu = isinstance(bn, FusedBatchNorm2D)
        for addend in [None, np.zeros_like(xv)] if relu else [None]:
            x = tt.tensor(xv.astype(np.float16))
            y = bn.forward(x) if addend is None else bn.forward(x, tt.tensor(addend.astype(np.float16)))
            want = np.maximum(expected, 0) if relu else expected
            np.testing.assert_array_equal(y.numpy(), want, err_msg=repr(bn))


@pytest.mark.parametrize("path", available_paths())
def test_a_float16_running_var_beyond_65504_is_inf_without_a_warning(path: str, on_path: Any) -> None:
    """A batch variance beyond float16's range makes the float16 running_var inf, as in PyTorch (no raw warning)."""
    on_path(path)
    bn: Any = BatchNorm2D(2, dtype=np.float16, momentum=1.0)
    xv = np.array([-400.0, 400.0, -1.0, 1.0]).reshape(1, 2, 2, 1) * np.ones((2, 1, 1, 2))
    y = bn.forward_mut(tt.tensor(xv.astype(np.float16)).leaky_trace())
    assert np.isfinite(y.numpy()).all()
    assert bn.running_var.numpy()[0] == np.inf  # 160000 * 8/7 does not fit a float16
    assert bn.running_var.numpy()[1] == np.float16(8 / 7)


# ---- a corrupt numba cache -------------------------------------------------------------------------------

_CACHE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import typedtensor as tt
    from typedtensor.nn import BatchNorm2D, _bn_backend, _bn_numba

    _bn_backend.use("numba")
    bn = BatchNorm2D(3)
    x = tt.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32))
    out = {"infer": bn.forward(x).numpy().tolist()}
    grads = bn.alloc_grads()
    grads.alloc(x)
    y = bn.forward_mut(x.trace(grads))
    (y * y).sum().backward()
    out["train"] = y.numpy().tolist()
    out["dx"] = grads.get(x).numpy().tolist()
    kernels = [_bn_numba._row_affine, _bn_numba._infer_serial, _bn_numba._train_serial, _bn_numba._backward_serial]
    out["hits"] = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    out["misses"] = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    print(json.dumps(out))
    """
)


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (the fast extra)")
def test_a_truncated_numba_cache_is_recompiled_and_rewritten(tmp_path: Path) -> None:
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "TYPEDTENSOR_BN_BACKEND": "numba"}
    first = _run(_CACHE_SCRIPT, env)
    assert first.returncode == 0, first.stderr
    good = json.loads(first.stdout)
    # One index and one data file for each of the 4 kernels run, and for _exact_channel, which _infer_serial
    # calls (compiled with it, loaded with it from its cache: not damaged here, not counted in hits/misses).
    assert len(list(tmp_path.rglob("*_exact_channel-*.nb[ic]"))) == 2
    index = sorted(p for p in tmp_path.rglob("*.nbi") if "_exact_channel" not in p.name)
    data = sorted(p for p in tmp_path.rglob("*.nbc") if "_exact_channel" not in p.name)
    assert len(index) == len(data) == 4, (index, data)
    assert good["misses"] == 4
    # Damage each kernel's cache a different way: truncated index, empty index, truncated data, empty data.
    index[0].write_bytes(index[0].read_bytes()[:10])
    index[1].write_bytes(b"")
    data[2].write_bytes(data[2].read_bytes()[: len(data[2].read_bytes()) // 2])
    data[3].write_bytes(b"")
    second = _run(_CACHE_SCRIPT, env)
    assert second.returncode == 0, second.stderr  # was: UnpicklingError / EOFError on every call
    assert second.stderr == ""  # no warning either (-W error would have made one fatal anyway)
    damaged = json.loads(second.stdout)
    for key in ("infer", "train", "dx"):
        np.testing.assert_array_equal(damaged[key], good[key], err_msg=key)
    assert damaged["misses"] == 4  # the damaged entries were compiled afresh
    third = _run(_CACHE_SCRIPT, env)
    assert third.returncode == 0, third.stderr
    repaired = json.loads(third.stdout)
    assert repaired["misses"] == 0, "the damaged cache entries were not rewritten"
    assert repaired["hits"] == 4
    np.testing.assert_array_equal(repaired["infer"], good["infer"])


# ---- fork ------------------------------------------------------------------------------------------------

_FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys, warnings
    warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)  # Python >= 3.12
    import numpy as np
    import typedtensor as tt
    from typedtensor.nn import BatchNorm2D, _bn_backend

    parent_runs_numba = sys.argv[1] == "1"
    if parent_runs_numba:
        _bn_backend.use("numba")
        from typedtensor.nn import _bn_numba
        _bn_numba._PARALLEL_MIN_INFER = 0  # a parallel kernel runs in the parent (its import runs one too)
    bn = BatchNorm2D(3)
    x = tt.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32))
    expected = bn.forward(x).numpy()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _bn_backend.use("numba")
            code = 10  # accepted
            if parent_runs_numba:
                from typedtensor.nn import _bn_numba
                _bn_numba._PARALLEL_MIN_INFER = 0
        except tt.TypedTensorError as e:
            code = 20 if "forked after numba's threads started" in str(e) else 30
        y = bn.forward(x).numpy()  # on whichever backend is in use now
        ok = np.allclose(y, expected, rtol=1e-6, atol=1e-6) and _bn_backend.current() in ("numpy", "numba")
        os._exit(code + (0 if ok else 1))
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="fork is not available here")
@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (the fast extra)")
def test_use_numba_in_a_child_forked_after_numba_ran_raises() -> None:
    env = {"TYPEDTENSOR_BN_BACKEND": "numpy"}
    after_numba = _run(_FORK_SCRIPT.replace("sys.argv[1]", "'1'"), env)
    assert after_numba.returncode == 0, after_numba.stderr
    assert after_numba.stdout.strip() == "20", after_numba.stdout  # refused, NumPy kernels kept (was: killed)
    without_numba = _run(_FORK_SCRIPT.replace("sys.argv[1]", "'0'"), env)
    assert without_numba.returncode == 0, without_numba.stderr
    assert without_numba.stdout.strip() == "10", without_numba.stdout  # nothing to refuse: numba works there
