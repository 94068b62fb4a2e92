# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""SyncBatchNorm1D/2D and typedtensor.distributed.

The first part runs in this process without MPI (constructors, conversion, validation, a
one-process communicator). The second launches ``mpiexec -n 2 python -m mpi4py tests/mpi_cases.py``
under a timeout and compares every process's results with a plain BatchNorm on the concatenated batch
(tests/mpi_cases.py holds both sides); it is skipped when mpi4py is not installed (CI installs the
``mpi`` extra, so it runs there). A process that dies or fails aborts the launch (``python -m mpi4py``
calls MPI_Abort), and a launch that hangs is killed at its timeout: either way the test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from tests import mpi_cases as mc
from typedtensor import distributed as dist
from typedtensor import nn
from typedtensor.nn import BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, SyncBatchNorm1D, SyncBatchNorm2D

HERE = Path(__file__).parent
ROOT = HERE.parent
CASES = HERE / "mpi_cases.py"
TOL = (1e-10, 1e-10)  # rtol, atol: the float64 comparisons


class OneProcess:
    """A communicator of one process (the methods typedtensor calls), without MPI."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def Allgather(self, send: Any, recv: Any) -> None:
        recv[...] = send

    def Allreduce(self, send: Any, recv: Any) -> None:
        raise AssertionError("one process: nothing to reduce")

    def Bcast(self, buf: Any, root: int = 0) -> None:
        pass

    def allgather(self, obj: Any) -> list[Any]:
        return [obj]


# ---- in this process, no MPI -----------------------------------------------------------------


def test_importing_typedtensor_does_not_import_mpi4py() -> None:
    code = (
        "import sys, typedtensor, typedtensor.distributed, typedtensor.examples.digits\n"
        "from typedtensor.nn import SyncBatchNorm2D\n"
        "bn = SyncBatchNorm2D(3)\n"
        "assert 'mpi4py' not in sys.modules, sorted(m for m in sys.modules if 'mpi' in m)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr


def test_sync_layers_are_batchnorms_with_a_communicator() -> None:
    bn = SyncBatchNorm2D[L[3]](3, comm=OneProcess(), eps=1e-3, momentum=0.2, dtype=np.float64)
    assert isinstance(bn, BatchNorm2D)
    assert isinstance(bn.comm, OneProcess)
    assert (bn.eps, bn.momentum, bn.dtype) == (1e-3, 0.2, np.dtype(np.float64))
    assert "comm=<group>" in repr(bn)
    assert sorted(bn.state_dict()) == ["bias", "num_batches_tracked", "running_mean", "running_var", "scale"]
    one = SyncBatchNorm1D[L[4]](4, comm=OneProcess())
    assert isinstance(one, BatchNorm1D)
    assert one.forward(tt.zeros((2, 4))).shape == (2, 4)
    four_channels: Any = tt.zeros((2, 4, 2, 2), np.float64)
    with tt.checks(False), pytest.raises(tt.ShapeError, match="SyncBatchNorm2D: expected 3 channels"):
        bn.forward(four_channels)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (2, 3, 200, 200)], ids=["small", "large"])
def test_one_process_equals_batchnorm(shape: tuple[int, ...]) -> None:
    """With one process the statistics path (not the fused small kernels) gives BatchNorm2D's numbers."""
    x_np = np.random.default_rng(0).standard_normal(shape) * 2 + 1
    w_np = np.random.default_rng(1).standard_normal(shape)
    results: list[list[Any]] = []
    layers: list[Any] = [BatchNorm2D(3, dtype=np.float64), SyncBatchNorm2D(3, dtype=np.float64, comm=OneProcess())]
    for layer in layers:
        grads = layer.alloc_grads()
        x = tt.tensor(x_np)
        grads.alloc(x)
        y = layer.forward_mut(x.trace(grads))
        (y * tt.tensor(w_np)).sum().backward()
        results.append([y.numpy(), grads.get(x).numpy(), grads.get(layer.scale).numpy(), *layer.state_dict().values()])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_from_batchnorm_shares_the_tensors_and_keeps_the_options() -> None:
    bn = BatchNorm2D[L[3]](3, momentum=None, affine=True, dtype=np.float64)
    bn.num_batches_tracked = 4
    grads = bn.alloc_grads()
    sync = SyncBatchNorm2D.from_batchnorm(bn, comm=OneProcess())
    assert type(sync) is SyncBatchNorm2D
    assert sync.scale is bn.scale
    assert sync.running_var is bn.running_var
    assert (sync.momentum, sync.num_batches_tracked, sync.num_features) == (None, 4, 3)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))
    sync.forward_mut(x.trace(grads)).sum().backward()
    assert sync.scale is not None
    assert sync.scale in grads
    one = SyncBatchNorm1D.from_batchnorm(BatchNorm1D(5), comm=OneProcess())
    assert type(one) is SyncBatchNorm1D
    assert one.num_features == 5


def test_from_batchnorm_refuses_other_layers() -> None:
    with pytest.raises(tt.TypedTensorError, match=r"expects a BatchNorm2D, got BatchNorm1D; for a BatchNorm1D use"):
        SyncBatchNorm2D.from_batchnorm(BatchNorm1D(3))  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="FusedBatchNorm2D has no synchronised form"):
        SyncBatchNorm2D.from_batchnorm(FusedBatchNorm2D(3))  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="expects a BatchNorm1D, got BatchNorm2D"):
        SyncBatchNorm1D.from_batchnorm(BatchNorm2D(3))  # type: ignore[arg-type]


class WithTuple(mc.Net):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.extra = (nn.BatchNorm2D(2), nn.ReLU())


class WithFused(mc.Net):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.fused = nn.FusedBatchNorm2D(4)


def test_convert_sync_batchnorm_replaces_every_batchnorm_in_place() -> None:
    model = WithTuple()
    names = list(model.state_dict())
    grads = model.alloc_grads()
    params = dict(model.named_parameters())
    out = nn.convert_sync_batchnorm(model, comm=OneProcess())
    assert out is model
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    assert kinds["bn"] == "SyncBatchNorm2D"
    assert kinds["heads.0"] == "SyncBatchNorm1D"
    assert kinds["extra.0"] == "SyncBatchNorm2D"
    assert kinds["extra.1"] == "ReLU"
    assert kinds["conv"] == "Conv2D"
    assert list(model.state_dict()) == names
    assert all(t is params[name] for name, t in model.named_parameters())
    assert all(t._id in grads._grads for _, t in model.named_parameters())
    single = nn.convert_sync_batchnorm(BatchNorm1D(3), comm=OneProcess())
    assert type(single) is SyncBatchNorm1D


def test_convert_sync_batchnorm_refuses_fused_batchnorm_and_non_modules() -> None:
    model = WithFused()
    with pytest.raises(tt.TypedTensorError, match="fused is a FusedBatchNorm2D, which has no synchronised form"):
        nn.convert_sync_batchnorm(model)
    with pytest.raises(tt.TypedTensorError, match="expects a Module, got int"):
        nn.convert_sync_batchnorm(3)  # type: ignore[type-var]


def test_communicator_validation() -> None:
    with pytest.raises(tt.TypedTensorError, match=r"comm must be an mpi4py communicator .* got int without Get_rank"):
        SyncBatchNorm2D(3, comm=5)
    with pytest.raises(tt.TypedTensorError, match="comm must be an mpi4py communicator"):
        dist.shard(10, comm="world")
    with pytest.raises(tt.TypedTensorError, match="comm must be an mpi4py communicator"):
        SyncBatchNorm2D.from_batchnorm(BatchNorm2D(3), comm=object())


def test_missing_mpi4py_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    bn = SyncBatchNorm2D(3)  # the world is looked up at the first training step
    x = tt.tensor(np.ones((4, 3, 2, 2), np.float32))
    with pytest.raises(tt.TypedTensorError, match=r"pip install 'typedtensor\[mpi\]'"):
        bn.forward_mut(x.leaky_trace())
    assert bn.num_batches_tracked == 0
    with pytest.raises(tt.TypedTensorError, match="install the mpi extra"):
        dist.rank()


def test_launched_size_reads_the_launchers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert dist.launched_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched_size() == 4
    monkeypatch.setenv("PMI_SIZE", "2")
    assert dist.launched_size() == 2
    monkeypatch.setenv("PMI_SIZE", "")
    assert dist.launched_size() == 4


class Rank(OneProcess):
    """Rank r of p, for shard (which only asks the rank and the size)."""

    def __init__(self, r: int, p: int) -> None:
        self.r, self.p = r, p

    def Get_rank(self) -> int:
        return self.r

    def Get_size(self) -> int:
        return self.p


def test_shard_splits_contiguously_in_rank_order() -> None:
    assert [dist.shard(29, Rank(r, 2)) for r in range(2)] == [slice(0, 14), slice(14, 29)]
    parts = [dist.shard(10, Rank(r, 4)) for r in range(4)]
    assert [p.stop - p.start for p in parts] == [2, 3, 2, 3]
    assert [dist.shard(1, Rank(r, 3)) for r in range(3)] == [slice(0, 0), slice(0, 0), slice(0, 1)]
    numpy_int: Any = np.int64(6)
    assert dist.shard(numpy_int, Rank(1, 2)) == slice(3, 6)
    with pytest.raises(tt.TypedTensorError, match="n must be a non-negative int"):
        dist.shard(-1, Rank(0, 2))


def test_data_parallel_helpers_validate_their_arguments() -> None:
    model = mc.Net(seed=0)
    grads = model.alloc_grads()
    assert dist.average_gradients(model, grads, OneProcess(), extra=[2.5]) == [2.5]
    with pytest.raises(tt.TypedTensorError, match="op must be 'mean' or 'sum', got 'max'"):
        dist.average_gradients(model, grads, OneProcess(), op="max")  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="needs the Gradients of a backward pass, got dict"):
        dist.average_gradients(model, {}, OneProcess())  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match=r"root must be a rank in 0\.\.0, got 1"):
        dist.broadcast_parameters(model, OneProcess(), root=1)
    with pytest.raises(tt.TypedTensorError, match="expected a typedtensor Module, got str"):
        dist.broadcast_parameters("model", OneProcess())  # type: ignore[arg-type]
    before = model.state_dict()
    dist.broadcast_parameters(model, OneProcess())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


class Disagreeing(OneProcess):
    """Two processes without MPI: the other one all-gathers ``change(row)`` where this one sends ``row``."""

    def __init__(self, change: Any) -> None:
        self.change = change

    def Get_size(self) -> int:
        return 2

    def Allgather(self, send: Any, recv: Any) -> None:
        recv[0] = send
        recv[1] = self.change(np.array(send))

    def allgather(self, obj: Any) -> list[Any]:
        return [obj, obj]


def test_layout_checks_without_mpi() -> None:
    """The checks' logic in one process (the mpiexec tests below run it on two): the other process's layer
    has twice the channels; its gradients were reduced with an extra value more."""

    def twice_the_channels(row: Any) -> Any:
        return row * [1, 2, 1, 1]  # (phase, channels, item size, refused)

    def one_extra_value(row: Any) -> Any:
        return row + np.array([0, 0, 0, 1, 0])

    bn = SyncBatchNorm2D(3, comm=Disagreeing(twice_the_channels), dtype=np.float64)
    x = tt.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))
    with pytest.raises(tt.TypedTensorError, match=r"rank 1: training statistics of 6 channels, float64\)"):
        bn.forward_mut(x.leaky_trace())
    assert bn.num_batches_tracked == 0
    model = mc.Net(seed=0)
    grads = model.alloc_grads()
    more = Disagreeing(one_extra_value)
    with pytest.raises(tt.TypedTensorError, match=r"rank 0: 7 parameters, .* 0 extra; rank 1: .* 1 extra\)"):
        dist.average_gradients(model, grads, more)


class Refusing(OneProcess):
    """Two processes without MPI, counting the collectives: the other one brings ``theirs`` (an error's class
    name and message) or nothing, with the same layout row as this one."""

    def __init__(self, theirs: tuple[str, str] | None) -> None:
        self.theirs = theirs
        self.calls: list[str] = []

    def Get_size(self) -> int:
        return 2

    def Allgather(self, send: Any, recv: Any) -> None:
        self.calls.append("Allgather")
        recv[0] = send
        recv[1] = send
        recv[1, -1] = self.theirs is not None

    def allgather(self, obj: Any) -> list[Any]:
        self.calls.append("allgather")
        return [obj, self.theirs]


def _plain_refusal(problem: str, x: Any) -> tt.TypedTensorError:
    """What a SyncBatchNorm2D of one process (nothing to join) raises for the problem: a plain checked call's error."""
    bn = SyncBatchNorm2D(3, comm=OneProcess(), dtype=np.float64)
    with pytest.raises(tt.TypedTensorError) as info:
        bn.forward_mut(mc.LOCAL_PROBLEMS[problem](bn, x))
    return info.value


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
@pytest.mark.parametrize("problem", list(mc.LOCAL_PROBLEMS))
def test_a_local_refusal_joins_the_exchange_without_mpi(checks: bool, problem: str) -> None:
    """This process refuses its input: it still joins the layout exchange (one all-gather of the row, one of the
    errors) instead of leaving the other process waiting, and raises the error a plain checked call gives
    (same class; the message names the rank). Then the other process refuses: this one raises the same."""
    x = np.full((2, 3, 1, 1), 1.0)
    comm = Refusing(None)
    bn = SyncBatchNorm2D(3, comm=comm, dtype=np.float64)
    with tt.checks(checks):
        bad = mc.LOCAL_PROBLEMS[problem](bn, x)
        plain = _plain_refusal(problem, x)
        with pytest.raises(tt.TypedTensorError) as info:
            bn.forward_mut(bad)
    assert comm.calls == ["Allgather", "allgather"]
    assert type(info.value) is type(plain)
    assert str(info.value).endswith(f"; rank 0 refused it: {plain}")
    if problem == "channels" and checks:  # beartype's check of forward_mut, as for a plain BatchNorm2D
        assert str(plain).startswith("Method typedtensor.nn._batchnorm.BatchNorm2D.forward_mut() parameter x=")
    other = Refusing(("ShapeCheckError", "the other process's input"))
    bn = SyncBatchNorm2D(3, comm=other, dtype=np.float64)
    with tt.checks(checks), pytest.raises(tt.ShapeCheckError, match=r"rank 1 refused it: the other process's input$"):
        bn.forward_mut(tt.tensor(x).leaky_trace())
    assert other.calls == ["Allgather", "allgather"]
    assert bn.num_batches_tracked == 0
    assert bn.running_mean is not None
    np.testing.assert_array_equal(bn.running_mean.numpy(), 0.0)


def test_a_backward_refused_before_its_exchange_joins_it_without_mpi(monkeypatch: pytest.MonkeyPatch) -> None:
    from typedtensor.nn import _bn_backend

    comm = Refusing(None)
    bn = SyncBatchNorm2D(3, comm=comm, dtype=np.float64)
    loss = bn.forward_mut(tt.tensor(np.random.default_rng(0).standard_normal((2, 3, 2, 2))).leaky_trace()).sum()
    assert comm.calls == ["Allgather", "Allgather"]  # the layout row, the statistics
    monkeypatch.setattr(_bn_backend, "grad_sums", mc._refusing_grad_sums)
    with pytest.raises(tt.ShapeError, match=r"refuses this step.*rank 0 refused it: BatchNorm kernels: g refused"):
        loss.backward()
    assert comm.calls[2:] == ["Allgather", "allgather"]


@pytest.mark.parametrize("extra", [["loss"], [True], 3.0, [10**400], [None]])
def test_average_gradients_refuses_extra_values_that_are_not_numbers(extra: Any) -> None:
    """Refused before any exchange (no MPI needed) with a DTypeError, not NumPy's raw ValueError."""
    model = mc.Net(seed=0)
    with pytest.raises(tt.DTypeError, match=r"extra must be a sequence of real numbers"):
        dist.average_gradients(model, model.alloc_grads(), extra=extra)


# ---- two processes under mpiexec ------------------------------------------------------------------


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="the mpiexec tests need the mpi extra: pip install -e '.[mpi]'")
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    assert exe is not None, "mpi4py is installed but mpiexec is not: pip install -e '.[mpi]' (the MPICH wheels)"
    return exe


def run_mpi(
    args: list[str], out: Path, timeout: float, module: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n 2 python -m mpi4py <script or -m module> args``; a launch that outlives ``timeout`` is killed.

    The ranks write their pids to ``out/pid.rank<r>``: on a timeout mpiexec is terminated and any rank
    left is killed by its id, then the test fails.
    """
    target = ["-m", *args] if module else [str(CASES), *args]
    command = [_mpiexec(), "-n", str(mc.PROCESSES), sys.executable, "-m", "mpi4py", *target]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environ = {**os.environ, "PYTHONPATH": path, **(env or {})}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ, cwd=out)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        _kill_ranks(out)
        pytest.fail(f"the MPI launch did not finish within {timeout} s (a process hung); killed.\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def _alive_ranks(out: Path) -> list[int]:
    """The pids the ranks wrote that still run tests/mpi_cases.py (a reused pid is left alone)."""
    alive: list[int] = []
    for path in out.glob("pid.rank*"):
        pid = int(path.read_text())
        with contextlib.suppress(OSError):
            if b"mpi_cases.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                alive.append(pid)
    return alive


def _kill_ranks(out: Path) -> None:
    for pid in _alive_ranks(out):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


ALL_CASES = [
    *mc.BN_CASES,
    *mc.DP_CASES,
    "error-one-value",
    *mc.LAYOUT_CASES,
    "error-phase",
    "error-local",
    *mc.GRADIENT_CASES,
]


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every case in one launch (one start-up of the two processes)."""
    out = tmp_path_factory.mktemp("mpi")
    proc = run_mpi([str(out), *ALL_CASES], out, timeout=240)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return out


def _ranks(out: Path, name: str) -> list[dict[str, Any]]:
    return [dict(np.load(out / f"{name}.rank{r}.npz")) for r in range(mc.PROCESSES)]


@pytest.mark.parametrize("name", list(mc.BN_CASES))
def test_sync_batchnorm_equals_batchnorm_on_the_concatenated_batch(launched: Path, name: str) -> None:
    """Outputs and input gradients (concatenated), scale/bias gradients (summed over processes) and the
    running statistics (on every process, bit for bit) equal one BatchNorm on the whole batch."""
    case = mc.BN_CASES[name]
    ranks = _ranks(launched, name)
    expected = mc.reference(name)
    float32 = case.dtype is np.float32
    for key, want in expected.items():
        if key == "inference" and not case.options.get("track_running_stats", True):
            continue  # inference without running statistics uses each process's own batch, as PyTorch's
        if key.startswith(("y", "dx", "inference")):
            got = np.concatenate([r[key] for r in ranks])
            tol = (0.0, 2e-3) if float32 else TOL  # float32 values near 1e4: ulp 1e-3
        elif key.startswith(("dscale", "dbias")):
            got = np.add.reduce([r[key] for r in ranks])
            tol = (1e-6, 1e-5) if float32 else TOL
        else:  # parameters, running statistics, counter: identical on every process
            got = ranks[0][key]
            np.testing.assert_array_equal(ranks[1][key], got, err_msg=f"{key} differs between processes")
            tol = (1e-6, 0.0) if float32 else TOL
        assert got.shape == want.shape, key
        np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1], err_msg=key)
    if float32:  # the running variance from float32 data with mean 1e4 is right (naive E[x^2]-E[x]^2 is not)
        x, _ = mc.global_batch(name, 0)
        unbiased = x.astype(np.float64).var(axis=(0, 2, 3), ddof=1)
        np.testing.assert_allclose(ranks[0]["running_var0"], 0.9 + 0.1 * unbiased, rtol=1e-6)


@pytest.mark.parametrize("name", list(mc.DP_CASES))
def test_data_parallel_training_equals_one_process_on_the_whole_batch(launched: Path, name: str) -> None:
    """convert_sync_batchnorm + broadcast_parameters + average_gradients: 3 SGD steps with the
    parameters, running statistics and losses of one process training on the concatenated batches."""
    ranks = _ranks(launched, name)
    expected = mc.dp_reference(name)
    reference_start = mc.Net(seed=0).state_dict()
    for r in ranks:
        assert list(r["types"]) == [
            "Net",
            "Conv2D",
            "SyncBatchNorm2D",
            "ReLU",
            "GlobalAvgPool2D",
            "SyncBatchNorm1D",
            "Linear",
        ]
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        assert int(r["threads"]) == max(1, cpus // mc.PROCESSES)
        for key, want in reference_start.items():  # rank 1 was built with another seed and other buffers
            np.testing.assert_array_equal(r[f"initial.{key}"], want, err_msg=key)
        for key, want in expected.items():
            np.testing.assert_allclose(r[key], want, rtol=TOL[0], atol=TOL[1], err_msg=key)
    for key in expected:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=f"{key} differs between processes")


def test_one_value_per_channel_over_all_processes_is_refused_by_every_process(launched: Path) -> None:
    for r in _ranks(launched, "error-one-value"):
        assert "Expected more than 1 value per channel when training" in str(r["message"])
        assert "over every process of the communicator" in str(r["message"])
        assert int(r["counter"]) == 0  # nothing changed
        np.testing.assert_array_equal(r["running_var"], 1.0)


LAYOUT_MESSAGES = {
    "error-channels": "rank 0: training statistics of 3 channels, float64; rank 1: training statistics of 4 channels, "
    "float64",
    "error-dtype": "rank 0: training statistics of 3 channels, float64; rank 1: training statistics of 3 channels, "
    "float32",
    "error-phase": "rank 0: training statistics of 3 channels, float64; rank 1: backward sums of 3 channels, float64",
}


@pytest.mark.parametrize("name", list(LAYOUT_MESSAGES))
def test_a_layer_that_differs_between_processes_is_refused_by_every_process(launched: Path, name: str) -> None:
    """Differing channels or dtype, or unpaired exchanges: the same error on every process, nothing changed
    (the receive buffer used to be left uninitialised in one process's running_var), and the processes stay
    paired for the next step."""
    ranks = _ranks(launched, name)
    messages = [str(r["message"]) for r in ranks]
    assert messages[0] == messages[1]
    assert messages[0].startswith("TypedTensorError: SyncBatchNorm2D: the processes of the communicator disagree (")
    assert LAYOUT_MESSAGES[name] in messages[0]
    assert "same layers, channel counts and dtype" in messages[0]
    for r in ranks:
        if "running_var" in r:
            np.testing.assert_array_equal(r["running_var"], 1.0)
            np.testing.assert_array_equal(r["running_mean"], 0.0)
            assert int(r["num_batches_tracked"]) == 0
        else:
            assert int(r["counter"]) == 0
    np.testing.assert_array_equal(ranks[0]["after"], ranks[1]["after"])


@pytest.fixture(scope="module")
def launched_without_checks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local-refusal case with TYPEDTENSOR_CHECKS=0 (nothing wrapped: the layer's own checks refuse)."""
    out = tmp_path_factory.mktemp("mpi-nochecks")
    proc = run_mpi([str(out), "error-local"], out, timeout=120, env={"TYPEDTENSOR_CHECKS": "0"})
    assert proc.returncode == 0, proc.stderr[-5000:]
    return out


#: What rank 1 refused, and the class every process raises for it (as a plain BatchNorm2D would).
LOCAL_KINDS: dict[str, type[tt.TypedTensorError]] = {
    "channels": tt.ShapeError,
    "rank": tt.ShapeError,
    "dtype": tt.DTypeError,
    "tape": tt.TapeError,
    "field": tt.ShapeError,
    "backward": tt.ShapeError,
}


def _accepted_steps(problem: str) -> dict[str, Any]:
    """A plain BatchNorm2D over the concatenated batches of the steps every process accepted."""
    bn = BatchNorm2D(3, dtype=np.float64)
    for step in (0, 1) if problem == "backward" else (1,):  # a failed backward leaves its forward's update
        x = np.concatenate([np.full((2, 3, 1, 1), float(10 * r + step)) for r in range(mc.PROCESSES)])
        bn.forward_mut(tt.tensor(x).leaky_trace())
    return {"running_mean": bn.running_mean, "running_var": bn.running_var, "counter": bn.num_batches_tracked}


def _check_local_refusals(out: Path, modes: list[str]) -> None:
    ranks = _ranks(out, "error-local")
    for mode in modes:
        for problem, kind in LOCAL_KINDS.items():
            key = f"{mode}.{problem}"
            messages = [str(r[f"{key}.step0"]) for r in ranks]
            assert messages[0] == messages[1], key
            name, _, text = messages[0].partition(": ")
            assert issubclass(getattr(tt, name, None) or getattr(tt._errors, name), kind), (key, name)
            assert "every process of the communicator refuses this step" in text, key
            assert "rank 1 refused it: " in text, key
            assert "rank 0 refused it" not in text, key
            for r in ranks:
                assert str(r[f"{key}.step1"]) == "no error", key
            want = _accepted_steps(problem)
            for r in ranks:
                np.testing.assert_allclose(r[f"{key}.running_mean"], want["running_mean"].numpy(), rtol=1e-12)
                np.testing.assert_allclose(r[f"{key}.running_var"], want["running_var"].numpy(), rtol=1e-12)
                assert int(r[f"{key}.counter"]) == want["counter"], key
    on_channels = str(ranks[0]["on.channels.step0"]) if "on" in modes else ""
    if on_channels:  # the annotation check's own message, as a plain checked call gives it
        assert on_channels.startswith("ShapeCheckError: ")
        assert "forward_mut() parameter x=" in on_channels
        assert "dim 1 (C) is 4 but C is bound to 3" in on_channels


def test_one_process_refusing_its_input_is_refused_by_every_process(launched: Path) -> None:
    """Rank 1's input is wrong (channels, rank, dtype, tape, a field written around the checks) or its backward
    fails before the exchange; rank 0's is right. Every process raises the same error before any statistics
    exchange, with checks on and off, and the next step gives the statistics of both processes' next batches
    (rank 0's first step used to pair with rank 1's second: running_mean 0.55 on both, then rank 0 hung)."""
    _check_local_refusals(launched, ["on", "off"])
    assert _accepted_steps("channels")["running_mean"].numpy() == pytest.approx([0.6] * 3)


def test_one_process_refusing_its_input_without_checks_installed(launched_without_checks: Path) -> None:
    _check_local_refusals(launched_without_checks, ["off"])


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("error-grad-model", "rank 1's model differs from rank 0's in ['bias', 'weight']"),
        ("error-grad-extra", "rank 0: 2 parameters, 15 values, float64, 1 extra; rank 1: 2 parameters, 15 values"),
    ],
)
def test_average_gradients_refuses_different_layouts_on_every_process(launched: Path, name: str, fragment: str) -> None:
    ranks = _ranks(launched, name)
    messages = [str(r["message"]) for r in ranks]
    assert messages[0] == messages[1]
    assert messages[0].startswith("TypedTensorError: average_gradients: ")
    assert fragment in messages[0]
    for rank, r in enumerate(ranks):
        np.testing.assert_array_equal(r["weight_grad"], 1.0 + rank)  # not reduced
    np.testing.assert_array_equal(ranks[0]["after"], ranks[1]["after"])


def test_a_failing_process_fails_the_launch_instead_of_hanging(tmp_path: Path) -> None:
    start = time.perf_counter()
    proc = run_mpi([str(tmp_path), "error-dead-rank"], tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "rank 1 failed on purpose" in proc.stderr
    assert time.perf_counter() - start < 100


def test_a_hung_process_is_killed_at_the_timeout(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="did not finish within 8 s"):
        run_mpi([str(tmp_path), "error-hung-rank"], tmp_path, timeout=8)
    deadline = time.monotonic() + 10
    while _alive_ranks(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive_ranks(tmp_path) == []


def test_digits_demo_data_parallel(tmp_path: Path) -> None:
    """The main job under mpiexec -n 2: same accuracy as one process; rank 0 alone prints and writes."""
    pytest.importorskip("sklearn", reason="the digits demo needs the examples extra: pip install -e '.[examples]'")
    args = ["typedtensor.examples.digits", "--epochs", "3", "--out", str(tmp_path), "--quiet"]
    proc = run_mpi(args, tmp_path, timeout=300, module=True)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert proc.stdout.count("held-out accuracy (inference mode)") == 1, proc.stdout
    assert "data-parallel over 2 MPI processes" in proc.stdout
    line = next(s for s in proc.stdout.splitlines() if s.startswith("held-out accuracy"))
    assert float(line.split()[-1].rstrip("%")) >= 90.0  # 3 epochs, as tests/test_digits.py (20 epochs: 98%)
    assert (tmp_path / "digits.safetensors").stat().st_size > 50_000
    assert (tmp_path / "digits.png").read_bytes().startswith(b"\x89PNG")
