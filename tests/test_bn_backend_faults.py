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


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_eps_zero_with_zero_running_var_gives_the_same_ieee_values_on_every_path(dtype: Any, on_path: Any) -> None:
    """running_var + eps == 0: a = scale / sqrt(0) = inf, b = bias - mean * a; PyTorch gives the same NaN/inf.
    numba raised ZeroDivisionError here while NumPy returned NaN with RuntimeWarnings (errors in these tests)."""
    xv = np.array([[-1.0, -2.0, 2.0, 3.0], [0.5, 0.0, -2.0, 1.0]]).reshape(2, 4, 1, 1) * np.ones((1, 1, 2, 2))
    results = {}
    for path in available_paths():
        on_path(path)
        bn: Any = BatchNorm2D(4, eps=0.0, dtype=dtype)
        bn.running_var._data[...] = [0.0, 0.0, 1.0, 0.0]
        bn.running_mean._data[...] = [0.0, 1.0, 0.0, 0.0]
        results[path] = bn.forward(tt.tensor(xv.astype(dtype))).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 / np.sqrt(np.array([0.0, 0.0, 1.0, 0.0]))
        b = -np.array([0.0, 1.0, 0.0, 0.0]) * a
        expected = (xv * a[:, None, None] + b[:, None, None]).astype(dtype)
    for path, y in results.items():
        np.testing.assert_array_equal(y, expected, err_msg=path)  # NaN where NaN, the same infinities
    assert np.isnan(expected).any()
    assert np.isinf(expected).any()


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
    index = sorted(tmp_path.rglob("*.nbi"))  # one index and one data file for each of the 4 kernels run
    data = sorted(tmp_path.rglob("*.nbc"))
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
