"""Data-parallel training across processes over MPI (mpi4py; ``pip install 'typedtensor[mpi]'``).

Launch the same program on every process (``mpiexec -n 2 python train.py``, or the cluster's
launcher: ``srun``, ``mpirun``); each process trains on its share of every batch::

    import typedtensor.distributed as dist

    model = nn.convert_sync_batchnorm(Net())  # BatchNorm statistics over the global batch
    dist.broadcast_parameters(model)  # every process starts from rank 0's weights
    grads, opt = model.alloc_grads(), tt.optim.AdamW(model)
    for batch in batches:  # the same global batches, in the same order, on every process
        part = batch[dist.shard(len(batch))]  # this process's share
        model.zero_grads(grads)
        loss = loss_fn(model.forward_mut(x(part).trace(grads)), y(part))
        loss.backward()
        dist.average_gradients(model, grads)  # one fused all-reduce
        opt.update(model, grads)  # identical on every process

mpi4py is imported on the first call that needs a communicator, never by ``import typedtensor``.
``comm`` arguments take an mpi4py communicator (default ``MPI.COMM_WORLD``). A process that raises
inside a collective leaves the others waiting: run under ``python -m mpi4py`` (``mpiexec -n 2 python
-m mpi4py train.py``), which aborts every process when one dies with an uncaught exception.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from . import _mpi
from . import extend as ext
from ._errors import DTypeError, TypedTensorError
from ._tensor import Gradients, Tensor
from .nn import _walk
from .nn._module import Module

__all__ = [
    "average_gradients",
    "broadcast_parameters",
    "launched_size",
    "rank",
    "shard",
    "share_cores",
    "size",
    "world",
]

world = _mpi.world
launched_size = _mpi.launched_size


def rank(comm: Any = None) -> int:
    """This process's rank in ``comm`` (the world by default): 0 .. size - 1."""
    return int(_mpi.resolve(comm, "rank").Get_rank())


def size(comm: Any = None) -> int:
    """The number of processes of ``comm`` (the world by default)."""
    return int(_mpi.resolve(comm, "size").Get_size())


def shard(n: int, comm: Any = None) -> slice:
    """This process's contiguous share of ``n`` items: sizes differ by at most one, in rank order.

    ``batch[shard(len(batch))]``; with 29 items on 2 processes, rank 0 takes 0:14 and rank 1 14:29.
    """
    total = ext.options.count(n, "n", "shard", why="the number of items to split")
    c = _mpi.resolve(comm, "shard")
    r, p = c.Get_rank(), c.Get_size()
    return slice(total * r // p, total * (r + 1) // p)


def share_cores(comm: Any = None) -> int:
    """Give each process on this machine an equal share of its cores; returns the threads per process.

    Processes that each start a BLAS thread per core oversubscribe a machine shared with the others
    (the digits demo ran ten times slower under ``mpiexec -n 2`` on two cores; ``torchrun`` sets
    OMP_NUM_THREADS=1 for the same reason). Sets NumPy's OpenBLAS threads now (through its
    ``openblas_set_num_threads``, where the library exposes it), numba's (used by the ``fast`` BatchNorm
    kernels) and, for child processes, the usual environment variables. Collective over ``comm``.
    """
    c = _mpi.resolve(comm, "share_cores")
    node = c.Split_type(_mpi.mpi().COMM_TYPE_SHARED)
    try:
        here = int(node.Get_size())
    finally:
        node.Free()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cpus // here)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    _set_blas_threads(threads)
    numba = sys.modules.get("numba")
    if numba is not None:  # already loaded: NUMBA_NUM_THREADS is read at import only
        numba.set_num_threads(min(threads, int(numba.config.NUMBA_NUM_THREADS)))
    return threads


def _set_blas_threads(threads: int) -> None:
    """Call ``openblas_set_num_threads`` (whatever its build's name) in every OpenBLAS this process loaded."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:  # not Linux: the environment variables above apply to child processes only
        return
    names = (
        "openblas_set_num_threads",
        "openblas_set_num_threads64_",
        "scipy_openblas_set_num_threads64_",
        "scipy_openblas_set_num_threads",
    )
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                break


def _state(model: Module) -> list[tuple[str, Module, str, Tensor[Any, Any, Any] | int]]:
    """Every parameter and buffer of the tree once (a tied one under its first name): (dotted name, owner,
    attribute, value), in tree order."""
    if not isinstance(cast("object", model), Module):
        raise TypedTensorError(f"broadcast_parameters: expected a typedtensor Module, got {type(model).__name__}")
    return [(e.name, e.owner, e.attr, e.value) for e in _walk.state(model)]


def broadcast_parameters(model: Module, comm: Any = None, root: int = 0) -> None:
    """Give every process ``root``'s parameters and buffers (running statistics, counters), in place.

    Checks first (one small all-gather) that every process holds the same tree (names, shapes,
    dtypes), so that all of them raise together when one differs; then one broadcast of a fused float64
    buffer (exact for every float dtype and for counters below 2**53).
    """
    c = _mpi.resolve(comm, "broadcast_parameters")
    rank = ext.options.integer(root)
    if rank is None or not 0 <= rank < c.Get_size():
        raise TypedTensorError(f"broadcast_parameters: root must be a rank in 0..{c.Get_size() - 1}, got {root!r}")
    state = _state(model)
    layout = [(name, np.shape(ext.data(v)) if isinstance(v, Tensor) else "int", _dtype(v)) for name, _, _, v in state]
    _refuse_different(c, layout, root, "broadcast_parameters")
    buffer = np.concatenate([np.ravel(ext.data(v)) if isinstance(v, Tensor) else [float(v)] for _, _, _, v in state])
    buffer = np.ascontiguousarray(buffer, dtype=np.float64)
    c.Bcast(buffer, root=root)
    offset = 0
    for _, module, attr, value in state:
        if isinstance(value, Tensor):
            n = ext.data(value).size
            ext.data_mut(value)[...] = buffer[offset : offset + n].reshape(ext.data(value).shape)
        else:
            n = 1
            setattr(module, attr, int(buffer[offset]))
        offset += n


def _dtype(value: Tensor[Any, Any, Any] | int) -> str:
    return str(ext.data(value).dtype) if isinstance(value, Tensor) else "int"


Layout = list[tuple[str, Any, str]]


def _refuse_different(c: Any, layout: Layout, ref: int, where: str) -> None:
    """Refuse on every process unless all hold ``layout`` (name, shape, dtype per tensor): one object all-gather."""
    layouts: list[Layout] = c.allgather(layout)
    for other, theirs in enumerate(layouts):
        if theirs != layouts[ref]:
            ours, mine = dict((n, (s, d)) for n, s, d in theirs), dict((n, (s, d)) for n, s, d in layouts[ref])
            diff = sorted(k for k in ours.keys() | mine.keys() if ours.get(k) != mine.get(k))
            raise TypedTensorError(
                f"{where}: rank {other}'s model differs from rank {ref}'s in {diff[:5]} (name: (shape, dtype), "
                "missing or different); build the same model on every process"
            )


def _check_gradient_layout(c: Any, layout: Layout, dtype: np.dtype[Any], extra: int) -> None:
    """Every process reduces the same parameters (names, shapes, dtypes), buffer dtype and extra count.

    One all-gather of five numbers (counts, sizes and a digest of the layout) before the all-reduce, whose
    buffer size follows from them; when they differ, a second all-gather of the full layouts (every process
    takes that path together) names the parameters that differ. Every process raises the same error.
    """
    digest = hashlib.blake2b(repr(layout).encode(), digest_size=6).digest()  # 48 bits: exact in a float64
    total = sum(math.prod(cast("tuple[int, ...]", shape)) for _, shape, _ in layout)
    row = np.array([len(layout), total, dtype.itemsize, extra, int.from_bytes(digest, "little")], dtype=np.float64)
    rows = _mpi.allgather(c, row, "average_gradients")
    if bool((rows == rows[0]).all()):
        return
    _refuse_different(c, layout, 0, "average_gradients")
    listing = "; ".join(
        f"rank {r}: {int(n)} parameters, {int(size)} values, {_mpi.FLOAT_NAMES.get(int(width), '?')}, {int(k)} extra"
        for r, (n, size, width, k, _) in enumerate(rows)
    )
    raise TypedTensorError(
        f"average_gradients: the processes disagree ({listing}); every process must hold the same model, pass "
        "extra values of the same length and call average_gradients once per step"
    )


def _numbers(extra: object) -> list[float]:
    """``average_gradients``' extra values as floats, or the DTypeError of a value that is not a real number."""
    try:
        values = list(cast("Sequence[object]", extra))
        return [ext.scalar(v) for v in values]
    except (TypeError, TypedTensorError):
        raise DTypeError(
            f"average_gradients: extra must be a sequence of real numbers (e.g. [loss.item()]), got {extra!r}"
        ) from None


def average_gradients(
    model: Module,
    grads: Gradients,
    comm: Any = None,
    *,
    op: Literal["mean", "sum"] = "mean",
    extra: Sequence[float] = (),
) -> list[float]:
    """Reduce the gradient of every parameter of ``model`` across processes, in place: one all-reduce.

    The gradients (and the ``extra`` numbers, e.g. this step's loss) are concatenated into one buffer
    of their common dtype, summed by a single ``Allreduce`` and written back; ``op="mean"`` then divides
    by the number of processes (PyTorch DDP: right when every process's loss is a mean over an equal
    share), ``op="sum"`` does not (exact for unequal shares when each process's loss is its sum divided
    by the global batch size). A parameter without a gradient counts as zero and gets the reduced one.
    Returns the reduced ``extra`` values. Checks first, with one all-gather of five numbers, that every
    process holds the same parameters (names, shapes, dtypes) and as many ``extra`` values: otherwise
    every process raises the same TypedTensorError, and no gradient is changed.
    """
    if op not in ("mean", "sum"):
        raise TypedTensorError(f"average_gradients: op must be 'mean' or 'sum', got {op!r}")
    if not isinstance(cast("object", grads), Gradients):
        raise TypedTensorError(
            f"average_gradients(model, grads) needs the Gradients of a backward pass, got {type(grads).__name__}"
        )
    if not isinstance(cast("object", model), Module):
        raise TypedTensorError(f"average_gradients: expected a typedtensor Module, got {type(model).__name__}")
    values = _numbers(extra)
    c = _mpi.resolve(comm, "average_gradients")
    params = list(model.named_parameters())
    if c.Get_size() == 1:
        return values  # one process: nothing to reduce
    held = [ext.grad_array(grads, t) for _, t in params]
    arrays: list[NDArray[Any]] = [
        np.zeros_like(ext.data(t)) if g is None else g for g, (_, t) in zip(held, params, strict=True)
    ]
    dtype = np.result_type(*arrays) if arrays else np.dtype(np.float64)
    if dtype.kind != "f":
        raise TypedTensorError(f"average_gradients: gradients must be floats, got dtype {dtype}")
    _check_gradient_layout(
        c, [(name, ext.data(t).shape, str(ext.data(t).dtype)) for name, t in params], dtype, len(values)
    )
    buffer = np.concatenate([*(a.ravel() for a in arrays), np.asarray(values, dtype=dtype)]).astype(dtype, copy=False)
    try:
        c.Allreduce(_mpi.mpi().IN_PLACE, buffer)
    except Exception as e:  # mpi4py's MPI.Exception
        raise TypedTensorError(
            f"average_gradients: the all-reduce failed ({e}); every process must hold the same model and call "
            "average_gradients once per step"
        ) from e
    if op == "mean":
        buffer /= c.Get_size()
    offset = 0
    for (_, t), a in zip(params, arrays, strict=True):
        n = a.size
        reduced = buffer[offset : offset + n].reshape(a.shape)
        ext.set_grad(grads, t, reduced.astype(ext.data(t).dtype, copy=False))  # into the stored array if any
        offset += n
    return [float(v) for v in buffer[offset:]]
