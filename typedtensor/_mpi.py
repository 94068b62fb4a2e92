"""MPI through mpi4py (the ``mpi`` extra), imported on first use only.

``import typedtensor`` never imports mpi4py: the SyncBatchNorm layers and ``typedtensor.distributed``
call :func:`mpi` when they first need a communicator. A communicator is any mpi4py intracommunicator:
``MPI.COMM_WORLD`` or a group made from it (``MPI.COMM_WORLD.Split(color)``, MegEngine's "group").
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

from . import _errors
from ._errors import TypedTensorError

__all__ = ["FLOAT_NAMES", "allgather", "check_comm", "check_same", "launched_size", "mpi", "resolve", "world"]

#: Environment variables in which MPI launchers announce the number of processes: MPICH's Hydra, Intel
#: MPI and Slurm's PMI-2 (PMI_SIZE), Open MPI (OMPI_COMM_WORLD_SIZE), MVAPICH2 (MV2_COMM_WORLD_SIZE).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

#: The methods typedtensor calls on a communicator.
_COMM_METHODS = ("Get_rank", "Get_size", "Allgather", "Allreduce", "Bcast", "allgather")


def mpi() -> Any:
    """The ``mpi4py.MPI`` module (initialises MPI on first call), or an error saying what to install."""
    try:
        return importlib.import_module("mpi4py.MPI")
    except ImportError as e:
        raise TypedTensorError(
            f"SyncBatchNorm and typedtensor.distributed run on MPI through mpi4py, which could not be imported "
            f"({e}); install the mpi extra: pip install 'typedtensor[mpi]' (mpi4py and the MPICH wheels, which put "
            "mpiexec in the environment's bin)"
        ) from None


def world() -> Any:
    """``MPI.COMM_WORLD``: every process of the launch."""
    return mpi().COMM_WORLD


def check_comm(comm: object, where: str) -> Any:
    """``comm`` if it looks like an mpi4py intracommunicator, else a TypedTensorError naming ``where``."""
    missing = [m for m in _COMM_METHODS if not callable(getattr(comm, m, None))]
    if missing:
        raise TypedTensorError(
            f"{where}: comm must be an mpi4py communicator (MPI.COMM_WORLD, or a group such as "
            f"MPI.COMM_WORLD.Split(color)), got {type(comm).__name__} without {', '.join(missing)}; pass comm=None "
            "for every process of the launch"
        )
    loaded = sys.modules.get("mpi4py.MPI")  # an mpi4py communicator means mpi4py is loaded
    if loaded is not None and comm == getattr(loaded, "COMM_NULL", object()):
        raise TypedTensorError(
            f"{where}: comm is MPI.COMM_NULL (this process is not in the group); pass a communicator this process "
            "belongs to"
        )
    return comm


def resolve(comm: object, where: str) -> Any:
    """The communicator to use: ``comm``, or the world when it is None."""
    return world() if comm is None else check_comm(comm, where)


def allgather(comm: Any, send: NDArray[np.float64], where: str) -> NDArray[np.float64]:
    """Every process's ``send`` (float64 vectors of one length) as rows of a (processes, length) array."""
    recv = np.empty((comm.Get_size(), send.size), dtype=np.float64)
    try:
        comm.Allgather(send, recv)
    except Exception as e:  # mpi4py's MPI.Exception: a failed collective
        raise TypedTensorError(
            f"{where}: the all-gather over the communicator failed ({e}); every process must run the same model "
            "(same layers, channel counts and dtype) and the same number of training steps, in the same order"
        ) from e
    return recv


#: A float dtype by its item size, as layout rows carry it (``dtype.itemsize``).
FLOAT_NAMES = {2: "float16", 4: "float32", 8: "float64"}


def check_same(
    comm: Any,
    row: NDArray[np.float64],
    where: str,
    describe: Callable[[NDArray[np.float64]], str],
    failure: TypedTensorError | None = None,
) -> None:
    """Refuse, on every process alike, unless every process of ``comm`` passes the same small ``row`` and none
    brings a ``failure``.

    One all-gather of ``row`` (a few float64 numbers: a layout such as channels and dtype) and a flag for
    ``failure``: every process then sees every row, so all of them raise the same TypedTensorError
    (``describe`` names what a row means) or none does. Check before a collective whose buffer sizes follow
    from the layout: MPI pairs buffers of different sizes silently, leaving uninitialised memory behind.
    A process that refused its own part of the step locally (its input) passes that error as ``failure``
    instead of leaving the exchange: the others would wait for it, or pair this exchange with its next one.
    """
    send = np.append(row, 0.0 if failure is None else 1.0)
    rows = allgather(comm, send, where)
    if failure is None and rows.tobytes() == send.tobytes() * rows.shape[0]:  # (cheaper than NumPy's ==)
        return
    if rows[:, -1].any():
        _refuse_together(comm, failure, where)
    listing = "; ".join(f"rank {r}: {describe(rows[r, :-1])}" for r in range(rows.shape[0]))
    raise TypedTensorError(
        f"{where}: the processes of the communicator disagree ({listing}); every process must build the same model "
        "(same layers, channel counts and dtype) and run the same steps in the same order"
    )


def _refuse_together(comm: Any, failure: TypedTensorError | None, where: str) -> NoReturn:
    """Raise on every process the same error, listing what each refusing process refused (one object all-gather).

    The class is that of the lowest refusing rank's error (a class of typedtensor's hierarchy; else the root).
    """
    mine = None if failure is None else (type(failure).__name__, str(failure))
    try:
        everyone: list[tuple[str, str] | None] = comm.allgather(mine)
    except Exception as e:  # mpi4py's MPI.Exception: a failed collective
        raise TypedTensorError(f"{where}: the all-gather over the communicator failed ({e})") from e
    refused = [(r, item) for r, item in enumerate(everyone) if item is not None]
    found = getattr(_errors, refused[0][1][0], None) if refused else None
    kind = found if isinstance(found, type) and issubclass(found, TypedTensorError) else TypedTensorError
    listing = "; ".join(f"rank {r} refused it: {message}" for r, (_, message) in refused)
    raise kind(
        f"{where}: every process of the communicator refuses this step, so that their exchanges stay paired; {listing}"
    ) from failure


def launched_size() -> int:
    """How many processes the MPI launcher started (from its environment; 1 without a launcher).

    Does not import mpi4py, so a program can choose single-process or data-parallel mode cheaply.
    """
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1
