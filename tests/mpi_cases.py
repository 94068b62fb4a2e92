# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""The SyncBatchNorm and data-parallel cases, run on every process by tests/test_mpi.py::

    mpiexec -n 2 python -m mpi4py tests/mpi_cases.py OUT_DIR CASE [CASE ...]

Each process writes ``OUT_DIR/<case>.rank<r>.npz`` (its outputs, gradients, running statistics,
parameters); test_mpi.py compares them with the same steps run in one process by a plain BatchNorm
on the concatenated batch (:func:`reference`). Importing this module does not import mpi4py: the
data, the layers and the steps are shared with the single-process reference.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn

Array = NDArray[Any]
F64 = np.float64
STEPS = 2  # training steps per BatchNorm case (the running statistics see two updates)
PROCESSES = 2


@dataclass(frozen=True)
class BNCase:
    """A BatchNorm case: layer kind, per-process batch sizes, the sample shape, options."""

    kind: str  # "2d" or "1d"
    split: tuple[int, ...]
    sample: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict[str, Any])
    dtype: type[Any] = F64
    offset: float = 0.0  # added to every value (a large mean tests the numerics)
    convert: bool = False  # build a plain BatchNorm and convert it (from_batchnorm) instead of the sync class
    blocked: bool = False  # force the NumPy row-blocked kernels (the large-tensor path)


BN_CASES: dict[str, BNCase] = {
    "bn2d-equal": BNCase("2d", (4, 4), (3, 5, 5)),
    "bn2d-unequal": BNCase("2d", (5, 2), (3, 5, 5)),
    "bn2d-empty": BNCase("2d", (6, 0), (3, 5, 5)),
    "bn2d-empty-first": BNCase("2d", (0, 5), (3, 5, 5)),
    "bn2d-one-sample": BNCase("2d", (1, 3), (3, 2, 2)),
    "bn2d-blocked": BNCase("2d", (5, 2), (3, 9, 9), blocked=True),
    "bn2d-from-batchnorm": BNCase("2d", (2, 5), (3, 4, 4), {"momentum": None, "affine": False}, convert=True),
    "bn2d-megengine": BNCase("2d", (3, 2), (3, 4, 4), {"momentum": 0.9, "momentum_convention": "megengine"}),
    "bn2d-no-running-stats": BNCase("2d", (3, 4), (3, 4, 4), {"track_running_stats": False}),
    "bn2d-float32-offset": BNCase("2d", (6, 3), (3, 6, 6), dtype=np.float32, offset=1e4),
    "bn1d-flat": BNCase("1d", (5, 3), (4,)),
    "bn1d-seq": BNCase("1d", (2, 3), (4, 6), convert=True),
    "bn1d-empty": BNCase("1d", (0, 4), (4, 3)),
}


def global_batch(name: str, step: int) -> tuple[Array, Array]:
    """The global batch ``x`` of a BatchNorm case's step and the loss weights ``w`` (loss = sum(y * w))."""
    case = BN_CASES[name]
    rng = np.random.default_rng([sorted(BN_CASES).index(name), step])
    shape = (sum(case.split), *case.sample)
    channels = case.sample[0]
    spread = np.linspace(0.5, 2.0, channels).reshape(channels, *([1] * (len(case.sample) - 1)))
    centre = np.linspace(-1.0, 3.0, channels).reshape(spread.shape)
    x = rng.standard_normal(shape) * spread + centre + case.offset
    w = rng.standard_normal(shape)
    return x.astype(case.dtype), w.astype(case.dtype)


def make_layer(name: str, sync: bool) -> Any:
    """The case's layer: SyncBatchNorm (``sync``) or the plain BatchNorm of the reference."""
    case = BN_CASES[name]
    channels = case.sample[0]
    plain = nn.BatchNorm2D if case.kind == "2d" else nn.BatchNorm1D
    synced = nn.SyncBatchNorm2D if case.kind == "2d" else nn.SyncBatchNorm1D
    options: dict[str, Any] = {"dtype": case.dtype, **case.options}
    if not sync or case.convert:
        layer: Any = plain(channels, **options)
    else:
        layer = synced(channels, **options)
    if layer.scale is not None:  # scale and bias other than 1 and 0
        layer.scale._data[...] = np.linspace(0.5, 2.0, channels)
        layer.bias._data[...] = np.linspace(-0.2, 0.3, channels)
    if sync and case.convert:
        layer = synced.from_batchnorm(layer)
    return layer


def bn_steps(name: str, layer: Any, part: slice) -> dict[str, Array]:
    """STEPS training steps on ``part`` of each global batch, then inference; everything recorded."""
    out: dict[str, Array] = {}
    for step in range(STEPS):
        x_all, w_all = global_batch(name, step)
        x = tt.tensor(x_all[part])
        grads = layer.alloc_grads()
        grads.alloc(x)
        y = layer.forward_mut(x.trace(grads))
        (y * tt.tensor(w_all[part])).sum().backward()
        out[f"y{step}"] = y.numpy()
        out[f"dx{step}"] = grads.get(x).numpy()
        for attr in ("scale", "bias"):
            t = getattr(layer, attr)
            if t is not None:
                out[f"d{attr}{step}"] = grads.get(t).numpy()
        for key, value in layer.state_dict().items():
            out[f"{key}{step}"] = value
    x_all, _ = global_batch(name, 0)
    out["inference"] = layer.forward(tt.tensor(x_all[part])).numpy()
    return out


def split_slice(split: tuple[int, ...], rank: int) -> slice:
    start = sum(split[:rank])
    return slice(start, start + split[rank])


def reference(name: str) -> dict[str, Array]:
    """The plain BatchNorm on the concatenated batch, in one process."""
    return bn_steps(name, make_layer(name, sync=False), slice(None))


# ---- data-parallel training of a small model ---------------------------------------------------


class Net(nn.Module):
    """conv(1->4) bn relu gap, bn1d (in a list), linear(4->3); float64."""

    def __init__(self, seed: int) -> None:
        self.conv = nn.Conv2D(1, 4, kernel_size=3, padding=1, bias=False, dtype=F64)
        self.bn = nn.BatchNorm2D(4, dtype=F64)
        self.relu = nn.ReLU()
        self.gap = nn.GlobalAvgPool2D()
        self.heads = [nn.BatchNorm1D(4, dtype=F64)]
        self.fc = nn.Linear(4, 3, dtype=F64)
        self.reset_params(seed)

    def forward_mut(self, x: Any) -> Any:
        h = self.gap.forward_mut(self.relu.forward_mut(self.bn.forward_mut(self.conv.forward_mut(x))))
        return self.fc.forward_mut(self.heads[0].forward_mut(h))


DP_STEPS = 3
#: Data-parallel cases: global batch size and how the gradients are reduced.
DP_CASES: dict[str, tuple[int, Literal["mean", "sum"]]] = {"dp-sum": (7, "sum"), "dp-mean": (8, "mean")}


def dp_batch(n: int, step: int) -> tuple[Array, Array]:
    rng = np.random.default_rng([99, n, step])
    return rng.standard_normal((n, 1, 6, 6)) + 0.5, rng.integers(0, 3, n)


def dp_train(model: Net, n: int, part: slice, op: str, reduce: Callable[[Net, Any, float], float]) -> dict[str, Array]:
    """DP_STEPS of SGD on ``part`` of each global batch of ``n``; ``reduce(model, grads, loss)`` -> global loss.

    The local loss is the share's cross-entropy sum divided by n (op "sum": exact for unequal shares), or
    its mean (op "mean": the gradients are then averaged, exact for equal shares).
    """
    grads = model.alloc_grads()
    opt = tt.optim.SGD(model, lr=0.5, momentum=0.9)
    out: dict[str, Array] = {}
    for step in range(DP_STEPS):
        x_all, y_all = dp_batch(n, step)
        x = tt.tensor(x_all[part]).trace(grads)
        labels = tt.tensor(y_all[part], np.int64)
        model.zero_grads(grads)
        logits = model.forward_mut(x)
        loss = nn.cross_entropy(logits, labels, "sum") * (1.0 / n) if op == "sum" else nn.cross_entropy(logits, labels)
        local = loss.item()
        loss.backward()
        out[f"loss{step}"] = np.array(reduce(model, grads, local))
        opt.update(model, grads)
        for key, value in model.state_dict().items():
            out[f"{key}{step}"] = value
    return out


def dp_reference(name: str) -> dict[str, Array]:
    n, op = DP_CASES[name]
    return dp_train(Net(seed=0), n, slice(None), op, lambda model, grads, loss: loss)


def dp_case(name: str, comm: Any) -> dict[str, Array]:
    """Rank r builds Net(seed=r): broadcast_parameters must give everyone rank 0's."""
    from typedtensor import distributed as dist

    n, op = DP_CASES[name]
    rank = comm.Get_rank()
    model = Net(seed=rank)
    assert model.bn.running_var is not None
    model.bn.running_var._data[...] = 1.0 + 4.0 * rank  # buffers are broadcast too (rank 0 has the defaults)
    model.bn.num_batches_tracked = 7 * rank
    model = nn.convert_sync_batchnorm(model)
    dist.broadcast_parameters(model)
    out = {f"initial.{k}": v for k, v in model.state_dict().items()}
    out["types"] = np.array([type(m).__name__ for _, m in model.named_modules()])
    out["threads"] = np.array(dist.share_cores())  # the cores of this machine split between its processes

    def reduce(model: Net, grads: Any, local: float) -> float:
        (total,) = dist.average_gradients(model, grads, op=op, extra=[local])
        return total

    return out | dp_train(model, n, dist.shard(n), op, reduce)


# ---- errors and failures -----------------------------------------------------------------------


def one_value_case(comm: Any) -> dict[str, Array]:
    """One value per channel over all processes (1 + 0): every process refuses the step alike."""
    bn = nn.SyncBatchNorm2D(3, dtype=F64)
    x = tt.tensor(np.ones((1 - comm.Get_rank(), 3, 1, 1)))
    try:
        bn.forward_mut(x.trace(bn.alloc_grads()))
    except tt.ShapeError as e:
        message = str(e)
    else:
        message = "no error"
    return {"message": np.array(message), "counter": np.array(bn.num_batches_tracked), **bn.state_dict()}


def _refusal(run: Callable[[], object]) -> str:
    try:
        run()
    except tt.TypedTensorError as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def _paired_step(comm: Any) -> Array:
    """A good SyncBatchNorm step after a refused one: the processes still pair their collectives."""
    bn = nn.SyncBatchNorm2D(2, dtype=F64)
    rank = comm.Get_rank()
    bn.forward_mut(tt.tensor(np.arange(8.0).reshape(2, 2, 2, 1) * (rank + 1)).leaky_trace()).sum().backward()
    assert bn.running_mean is not None
    return bn.running_mean.numpy()


#: Layers that differ between the processes (issue 10, point 7): rank r's (channels, dtype).
LAYOUT_CASES: dict[str, tuple[tuple[int, Any], tuple[int, Any]]] = {
    "error-channels": ((3, F64), (4, F64)),
    "error-dtype": ((3, F64), (3, np.float32)),
}


def layout_case(name: str, comm: Any) -> dict[str, Array]:
    """Each process trains a SyncBatchNorm2D of its own layout: every process refuses alike, changing nothing."""
    channels, dtype = LAYOUT_CASES[name][comm.Get_rank()]
    bn: Any = nn.SyncBatchNorm2D(channels, dtype=dtype)
    x = tt.tensor(np.random.default_rng(comm.Get_rank()).standard_normal((3, channels, 2, 2)).astype(dtype))
    message = _refusal(lambda: bn.forward_mut(x.leaky_trace()))
    state = {k: v.astype(F64) for k, v in bn.state_dict().items()}
    return {"message": np.array(message), "after": _paired_step(comm), **state}


def phase_case(comm: Any) -> dict[str, Array]:
    """Rank 0 runs a second layer's forward while rank 1 runs the first one's backward: both refuse."""
    first, second = nn.SyncBatchNorm2D(3, dtype=F64), nn.SyncBatchNorm2D(3, dtype=F64)
    x = tt.tensor(np.random.default_rng(comm.Get_rank()).standard_normal((3, 3, 2, 2)))
    y = first.forward_mut(x.leaky_trace())
    if comm.Get_rank() == 0:
        message = _refusal(lambda: second.forward_mut(x.leaky_trace()))
    else:
        message = _refusal(lambda: y.square().sum().backward())
    return {"message": np.array(message), "counter": np.array(second.num_batches_tracked), "after": _paired_step(comm)}


#: An input problem on rank 1 only (rank 0's input is right): what rank 1 passes to forward_mut.
LOCAL_PROBLEMS: dict[str, Callable[[Any, Array], Any]] = {
    "channels": lambda bn, x: tt.tensor(np.concatenate([x, x[:, :1]], axis=1)).leaky_trace(),
    "rank": lambda bn, x: tt.tensor(x[:, :, 0, 0]).leaky_trace(),
    "dtype": lambda bn, x: tt.tensor(x.astype(np.float32)).leaky_trace(),
    "tape": lambda bn, x: tt.tensor(x),
    "field": lambda bn, x: (bn.__dict__.update(running_var=tt.ones((2,), F64)), tt.tensor(x).leaky_trace())[1],
}


def _traced(bn: Any, x: Array) -> Any:
    return tt.tensor(x).leaky_trace()


def _local_step(bn: Any, x: Any) -> str:
    """One training step and its backward pass; the refusal it raised as "class: message"."""
    try:
        bn.forward_mut(x).square().sum().backward()
    except tt.TypedTensorError as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def local_refusal_case(comm: Any) -> dict[str, Array]:
    """Rank 1 refuses its own input (or its backward pass fails before the exchange), rank 0's is right: every
    process raises the same error, and the next step pairs the right exchanges (issue 10, point 7, review).

    Step s of rank r holds the value 10 r + s; step 1 is right on both, so running_mean is 0.1 * 6 (it was
    0.55: rank 0's step 0 paired with rank 1's step 1, then rank 0 hung). Run with checks on (where they are
    installed) and off: the annotation check and the layer's own checks refuse alike.
    """
    from typedtensor.nn import _bn_backend

    rank = comm.Get_rank()
    modes = [False] if os.environ.get("TYPEDTENSOR_CHECKS") == "0" else [True, False]
    out: dict[str, Array] = {}
    for checks in modes:
        mode = "on" if checks else "off"
        for problem in [*LOCAL_PROBLEMS, "backward"]:
            bn = nn.SyncBatchNorm2D(3, dtype=F64)
            with tt.checks(checks):
                for step in range(2):
                    x = np.full((2, 3, 1, 1), float(10 * rank + step))
                    bad = rank == 1 and step == 0
                    saved, real = bn.__dict__["running_var"], _bn_backend.grad_sums
                    if bad and problem == "backward":
                        _bn_backend.grad_sums = _refusing_grad_sums
                    try:
                        make = LOCAL_PROBLEMS[problem] if bad and problem in LOCAL_PROBLEMS else _traced
                        out[f"{mode}.{problem}.step{step}"] = np.array(_local_step(bn, make(bn, x)))
                    finally:
                        _bn_backend.grad_sums = real
                        bn.__dict__["running_var"] = saved  # (the "field" problem's wrong statistic goes)
            assert bn.running_mean is not None
            assert bn.running_var is not None
            out[f"{mode}.{problem}.running_mean"] = bn.running_mean.numpy()
            out[f"{mode}.{problem}.running_var"] = bn.running_var.numpy()
            out[f"{mode}.{problem}.counter"] = np.array(bn.num_batches_tracked)
    return out


def _refusing_grad_sums(g: Any, x: Any, mean: Any) -> Any:
    raise tt.ShapeError("BatchNorm kernels: g refused on purpose (a backward pass failing before its exchange)")


def gradient_layout_case(name: str, comm: Any) -> dict[str, Array]:
    """average_gradients over different models, or extra values of different lengths: every process refuses."""
    from typedtensor import distributed as dist

    rank = comm.Get_rank()
    outputs = 3 + rank if name == "error-grad-model" else 3
    model = nn.Linear(4, outputs, dtype=F64)
    grads = model.alloc_grads()
    grads._grads[model.weight._id][...] = 1.0 + rank
    extra = [1.0] * (1 + rank if name == "error-grad-extra" else 1)
    message = _refusal(lambda: dist.average_gradients(model, grads, extra=extra))
    return {"message": np.array(message), "weight_grad": grads.get(model.weight).numpy(), "after": _paired_step(comm)}


GRADIENT_CASES = ("error-grad-model", "error-grad-extra")


def dead_rank_case(comm: Any) -> dict[str, Array]:
    """Rank 1 fails before the collective: under ``python -m mpi4py`` every process must be aborted."""
    if comm.Get_rank() == 1:
        raise RuntimeError("rank 1 failed on purpose")
    bn = nn.SyncBatchNorm2D(3, dtype=F64)
    bn.forward_mut(tt.tensor(np.ones((2, 3, 1, 1))).leaky_trace())
    return {}


def hung_rank_case(comm: Any) -> dict[str, Array]:
    """Rank 1 never reaches the collective: the test's timeout must kill the launch."""
    if comm.Get_rank() == 1:
        time.sleep(600)
    bn = nn.SyncBatchNorm2D(3, dtype=F64)
    bn.forward_mut(tt.tensor(np.ones((2, 3, 1, 1))).leaky_trace())
    return {}


def main(argv: list[str]) -> None:
    from typedtensor import _mpi  # imports mpi4py (the mpi extra) untyped, so the checkers pass without it

    comm = _mpi.world()
    out_dir, names = Path(argv[0]), argv[1:]
    rank = comm.Get_rank()
    (out_dir / f"pid.rank{rank}").write_text(str(os.getpid()))  # the test kills these if the run hangs
    from typedtensor.nn import _bn_backend, _bn_numpy

    for name in names:
        if name in BN_CASES:
            case = BN_CASES[name]
            saved = _bn_backend.current(), _bn_numpy._SMALL, _bn_numpy._SHORT_ROW
            if case.blocked:
                _bn_backend.use("numpy")
                _bn_numpy._SMALL, _bn_numpy._SHORT_ROW = 0, 1
            result = bn_steps(name, make_layer(name, sync=True), split_slice(case.split, rank))
            _bn_backend.use(saved[0])
            _bn_numpy._SMALL, _bn_numpy._SHORT_ROW = saved[1], saved[2]
        elif name in DP_CASES:
            result = dp_case(name, comm)
        elif name == "error-one-value":
            result = one_value_case(comm)
        elif name in LAYOUT_CASES:
            result = layout_case(name, comm)
        elif name == "error-phase":
            result = phase_case(comm)
        elif name == "error-local":
            result = local_refusal_case(comm)
        elif name in GRADIENT_CASES:
            result = gradient_layout_case(name, comm)
        elif name == "error-dead-rank":
            result = dead_rank_case(comm)
        elif name == "error-hung-rank":
            result = hung_rank_case(comm)
        else:
            raise SystemExit(f"unknown case {name!r}")
        arrays: dict[str, Any] = result
        np.savez(out_dir / f"{name}.rank{rank}.npz", **arrays)
    comm.Barrier()


if __name__ == "__main__":
    main(sys.argv[1:])
