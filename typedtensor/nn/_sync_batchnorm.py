"""SyncBatchNorm2D and SyncBatchNorm1D: BatchNorm whose training statistics are those of the global batch.

In data-parallel training every process holds a share of the batch. ``forward_mut`` (training) then
normalises with the mean and variance of the batch of every process of a communicator (MegEngine's
SyncBatchNorm with a group; PyTorch's SyncBatchNorm with a process group), over MPI through mpi4py:

* forward: each process computes its per-channel count, mean and M2 (float64, numerically stable);
  one all-gather brings every process's, and each merges them with Chan's formula in rank order, so
  the statistics are exact for unequal shares (also empty ones) and identical on every process, and so
  are the running statistics;
* backward: one all-gather of the per-channel ``sum(dy)`` and ``sum(dy * (x - mean))``, summed in rank
  order; the input's gradient is then that of the loss summed over processes, while the gradients of
  scale and bias stay per process (reduced with the others by ``typedtensor.distributed``).

``forward`` (inference) is BatchNorm's, without communication. Every process must run the same layers
in the same order (the collectives pair them up). The classes are subclasses of BatchNorm2D and
BatchNorm1D: the same types, tape rules, options and checkpoints, so a model annotated with
BatchNorm2D accepts them (``convert_sync_batchnorm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypedDict, TypeVar, Unpack, cast

import numpy as np
from numpy.typing import NDArray

from .. import _mpi
from .._errors import TypedTensorError
from . import _bn_backend as _k
from ._batchnorm import F64, Array, BatchNorm1D, BatchNorm2D, FusedBatchNorm2D, _BatchNorm
from ._bn_numpy import merge_rows
from ._module import Module

__all__ = ["SyncBatchNorm1D", "SyncBatchNorm2D", "convert_sync_batchnorm"]

C = TypeVar("C", bound=int)
#: from_batchnorm's own channel dim (the class's C would be unsolved on ``SyncBatchNorm2D.from_batchnorm``).
D = TypeVar("D", bound=int)
M = TypeVar("M", bound=Module)


class BatchNormOptions(TypedDict, total=False):
    """BatchNorm's keyword options (see typedtensor.nn.BatchNorm2D)."""

    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    dtype: type[Any]
    momentum_convention: Literal["pytorch", "megengine"]
    freeze: bool
    init_factor: float | None
    min_factor: float
    sscale: float | None
    seed: int | None
    inplace: bool


class _Synced(_BatchNorm[C]):
    """The statistics hooks of _BatchNorm, reduced over the processes of ``comm``."""

    _fuse_small = False  # the fused small-tensor kernels take local statistics
    _stats_scope = " (on this process; the statistics are over every process of the communicator)"
    _comm: Any
    _setting_hints: ClassVar[Mapping[str, str]] = {
        **_BatchNorm._setting_hints,
        "comm": "build the layer with comm=..., or convert a BatchNorm with from_batchnorm(bn, comm)",
    }

    def __init__(self, num_features: C, *, comm: Any = None, **options: Unpack[BatchNormOptions]) -> None:
        super().__init__(num_features, **options)
        self._comm = None if comm is None else _mpi.check_comm(comm, type(self).__name__)

    @property
    def comm(self) -> Any:
        """The mpi4py communicator the training statistics are reduced over (``MPI.COMM_WORLD`` by default)."""
        return _mpi.resolve(self._comm, type(self).__name__)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self._comm is None else ", comm=<group>")

    #: The training step's argument check (checks on) joins the exchange as its own input checks do.
    _tt_refusing = ("forward_mut",)

    def _check_layout(self, comm: Any, phase: int, failure: TypedTensorError | None = None) -> None:
        """Every process runs this exchange (``phase``) of a layer with these channels and dtype: one small all-gather.

        Checked before each exchange of statistics or gradient sums, whose sizes follow from the channel
        count; a mismatch raises the same TypedTensorError on every process, before anything changed. A
        process that refused the step itself (``failure``: its input, found by the annotation check or by the
        layer) takes part too, and every process raises the same error of that class.
        """
        row = np.array([phase, self.num_features, self.dtype.itemsize], dtype=np.float64)
        _mpi.check_same(comm, row, type(self).__name__, _describe_layout, failure)

    def _refused(self, error: TypedTensorError, backward: bool = False) -> None:
        """This process refused the step before its exchange: every process of the communicator refuses it.

        Run for every refusal before the statistics exchange (wrong channels, rank, dtype, tape or shape,
        a field written around the checks, eps), with checks on or off: the others are waiting in the same
        exchange, and would otherwise pair it with this process's next one. A frozen step exchanges nothing.
        """
        if self.freeze and not backward:
            return
        try:
            comm = self.comm
        except TypedTensorError:
            return  # no communicator (mpi4py missing): no process can exchange; the error is raised as it is
        if comm.Get_size() > 1:
            self._check_layout(comm, _BACKWARD if backward else _FORWARD, error)

    def _batch_stats(self, x3: Array) -> tuple[F64, F64, int]:
        """The global batch's mean and biased variance (Chan's merge of every process's count, mean, M2)."""
        mean, var = _k.stats(x3)
        count = x3.shape[0] * x3.shape[2]
        comm = self.comm
        if comm.Get_size() == 1:
            return mean, var, count
        self._check_layout(comm, _FORWARD)
        c = self.num_features
        send = np.empty(2 * c + 1)
        send[0] = count
        send[1 : c + 1] = mean
        send[c + 1 :] = var * count  # M2: the sum of squared deviations from this process's mean
        rows = _mpi.allgather(comm, send, type(self).__name__)
        counts = rows[:, :1]
        # merge_rows is Chan's formula: pieces with counts, shifts (their means) and centred sums (0, M2)
        gmean, gvar = merge_rows(rows[:, 1 : c + 1], np.zeros((rows.shape[0], c)), rows[:, c + 1 :], counts)
        return gmean, gvar, int(counts.sum())

    def _reduce_grad_sums(self, sg: F64, sgd: F64) -> tuple[F64, F64]:
        """sum(dy) and sum(dy * (x - mean)) over every process, added in rank order (identical everywhere)."""
        comm = self.comm
        if comm.Get_size() == 1:
            return sg, sgd
        self._check_layout(comm, _BACKWARD)
        rows = _mpi.allgather(comm, np.concatenate([sg, sgd]), type(self).__name__)
        total = rows.sum(axis=0)
        return total[: sg.size], total[sg.size :]


#: The exchanges of a training step, as _check_layout names them.
_FORWARD, _BACKWARD = 1, 2
_PHASES = {_FORWARD: "training statistics", _BACKWARD: "backward sums"}


def _describe_layout(row: NDArray[np.float64]) -> str:
    phase, channels, itemsize = (int(v) for v in row)
    return f"{_PHASES.get(phase, '?')} of {channels} channels, {_mpi.FLOAT_NAMES.get(itemsize, '?')}"


def _adopt(cls: type[_Synced[Any]], bn: object, expected: type[_BatchNorm[Any]], comm: Any) -> _Synced[Any]:
    """A ``cls`` module with ``bn``'s options and the very same tensors (so Gradients and optimizers stay valid)."""
    got = type(bn).__name__
    if not isinstance(bn, expected):
        if isinstance(bn, FusedBatchNorm2D):
            hint = "FusedBatchNorm2D has no synchronised form: build the model with BatchNorm2D followed by ReLU"
        elif expected is BatchNorm2D:
            hint = "for a BatchNorm1D use SyncBatchNorm1D.from_batchnorm"
        else:
            hint = "for a BatchNorm2D use SyncBatchNorm2D.from_batchnorm"
        raise TypedTensorError(f"{cls.__name__}.from_batchnorm expects a {expected.__name__}, got {got}; {hint}")
    new = cls.__new__(cls)
    # Cached dim bindings and the type application belong to the old class: they are recomputed.
    state = {k: v for k, v in vars(bn).items() if k not in ("_tt_dims", "__orig_class__", "_comm")}
    new.__dict__.update(state)
    new._comm = None if comm is None else _mpi.check_comm(comm, f"{cls.__name__}.from_batchnorm")
    return new


class SyncBatchNorm2D(_Synced[C], BatchNorm2D[C]):
    """BatchNorm2D over (B, C, H, W) or (C, H, W) whose training statistics span every process of ``comm``.

    ``SyncBatchNorm2D[L[16]](16, comm=None, **BatchNorm2D's options)``; ``comm`` is an mpi4py
    communicator (default ``MPI.COMM_WORLD``, looked up at the first training step). See the module
    docstring.
    """

    _name = "SyncBatchNorm2D"

    @classmethod
    def from_batchnorm(cls, bn: BatchNorm2D[D], comm: Any = None) -> SyncBatchNorm2D[D]:
        """The synchronised form of ``bn``: same options, same tensors (shared, not copied), counter copied.

        Use the returned module in place of ``bn`` (PyTorch's ``convert_sync_batchnorm`` does the same).
        """
        return cast("SyncBatchNorm2D[D]", _adopt(cls, bn, BatchNorm2D, comm))


class SyncBatchNorm1D(_Synced[C], BatchNorm1D[C]):
    """BatchNorm1D over (B, C) or (B, C, L) whose training statistics span every process of ``comm``."""

    _name = "SyncBatchNorm1D"

    @classmethod
    def from_batchnorm(cls, bn: BatchNorm1D[D], comm: Any = None) -> SyncBatchNorm1D[D]:
        """The synchronised form of ``bn``: same options, same tensors (shared, not copied), counter copied."""
        return cast("SyncBatchNorm1D[D]", _adopt(cls, bn, BatchNorm1D, comm))


def convert_sync_batchnorm(model: M, comm: Any = None) -> M:
    """Replace every BatchNorm2D and BatchNorm1D of the tree by its synchronised form, in place.

    The new layers share the old ones' tensors, so a ``Gradients`` allocated before and the optimizer's
    state stay valid, and ``state_dict`` names do not change. Returns ``model`` (or, when ``model`` is
    itself a BatchNorm, its synchronised form). A FusedBatchNorm2D is refused (it has no synchronised form).
    """

    pairs: tuple[tuple[type[_BatchNorm[Any]], type[_Synced[Any]]], ...] = (
        (BatchNorm2D, SyncBatchNorm2D),
        (BatchNorm1D, SyncBatchNorm1D),
    )

    def convert(value: object, where: str) -> object:
        for plain, synced in pairs:
            if issubclass(type(value), plain):  # (no narrowing: _adopt takes any object)
                return _adopt(synced, value, plain, comm)
        if isinstance(value, FusedBatchNorm2D):
            raise TypedTensorError(
                f"convert_sync_batchnorm: {where or 'the model'} is a FusedBatchNorm2D, which has no synchronised "
                "form; build the model with BatchNorm2D followed by ReLU for data-parallel training"
            )
        return value

    if not isinstance(cast("object", model), Module):
        raise TypedTensorError(f"convert_sync_batchnorm expects a Module, got {type(model).__name__}")
    top = convert(model, "")
    if top is not model:
        return cast("M", top)
    for prefix, module in list(model.named_modules()):
        for name, value in list(vars(module).items()):
            where = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Module):
                new = convert(value, where)
                if new is not value:
                    setattr(module, name, new)
            elif isinstance(value, (list, tuple)):
                items = cast("list[object] | tuple[object, ...]", value)
                replaced = [convert(item, f"{where}.{i}") for i, item in enumerate(items)]
                if any(a is not b for a, b in zip(replaced, items, strict=True)):
                    if isinstance(items, list):
                        items[:] = replaced
                    else:
                        setattr(module, name, tuple(replaced))
    return model
