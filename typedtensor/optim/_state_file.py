"""An optimizer's state in an npz or safetensors file, through the module checkpoints' io layer (``nn/_io``).

The file holds ``state_dict()`` (``_state``): its arrays and counts (``state.<parameter>.<field>``,
a count as a 0-d int64 tensor) as tensors, every other entry as metadata
``typedtensor.optim.<key>`` holding its JSON (``typedtensor.optim.hparams.lr = 0.001``,
``typedtensor.optim.scheduler.last_epoch = 12``), with ``typedtensor.version`` and
``typedtensor.class``. Written atomically by the formats' ``write`` (a temporary file, fsync, rename:
a save killed at any point leaves the previous file). Loading follows the module checkpoints' order:
the file's size against ``max_bytes`` and its index (the formats' readers refuse truncated, damaged and
oversized files and headers), the metadata (type, parameters, groups, frozen, steps,
hyper-parameters: ``_state.check_header``), each tensor's key, shape and dtype from the header before
its data is read, then the data and everything else (``_state.stage``), then one assignment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._errors import CheckpointError, DTypeError
from .._version import VERSION
from ..nn._io import _checkpoint as ck
from ..nn._io import _npz, _safetensors
from . import _state

if TYPE_CHECKING:
    from ._base import Optimizer
    from ._schedule import LRScheduler

__all__ = ["load", "save"]

PREFIX = "typedtensor.optim."
#: The default ``max_bytes``: this, or four times the parameters' size (Adam with AMSGrad: three arrays each).
DEFAULT_MAX_BYTES = 1 << 30


def save(opt: Optimizer[Any], path: object, scheduler: LRScheduler | None, fmt: str) -> None:
    """``Optimizer.save_npz`` (``fmt="npz"``) and ``save_safetensors``."""
    where = f"{type(opt).__name__}.save_{fmt}"
    opts = ck.options(where, path, "typedtensor")
    if fmt == "safetensors":
        _safetensors.require(where)
    state = _state.state_dict(opt, scheduler, where)
    arrays: dict[str, NDArray[Any]] = {}
    cls = type(opt)
    meta = {ck.VERSION_KEY: VERSION, ck.CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}"}
    for key, value in state.items():
        if key.startswith(_state.STATE):
            # a count as a 0-d int64 (np.require keeps it 0-d: ascontiguousarray would make it (1,))
            data = np.array(value, dtype=np.int64) if isinstance(value, int) else value
            arrays[key] = np.require(data, requirements="C")
        else:
            meta[PREFIX + key] = ck.encode(value, key, where)
    (_npz if fmt == "npz" else _safetensors).write(opts, arrays, meta)


def load(opt: Optimizer[Any], path: object, scheduler: LRScheduler | None, max_bytes: object, fmt: str) -> None:
    """``Optimizer.load_npz`` (``fmt="npz"``) and ``load_safetensors``: validated first, then applied at once."""
    where = f"{type(opt).__name__}.load_{fmt}"
    opts = ck.options(where, path, "typedtensor", max_bytes=max_bytes)
    if fmt == "safetensors":
        _safetensors.require(where)
    opened = _npz.opened if fmt == "npz" else _safetensors.opened
    with opened(opts) as reader:
        staged = _read(opt, reader, opts, scheduler)
    _state.apply(opt, staged)


def _read(opt: Optimizer[Any], reader: ck.Reader, opts: ck.Options, scheduler: LRScheduler | None) -> _state.Staged:
    where, path = opts.where, opts.path
    own = sum(dtype.itemsize * int(np.prod(shape)) for _, shape, dtype in opt._layout)
    ck.check_size(reader, opts, max(DEFAULT_MAX_BYTES, 4 * own))
    meta = reader.metadata
    if not any(k.startswith(PREFIX) for k in meta):
        kind = meta.get(ck.CLASS_KEY)
        what = f"a checkpoint of a {kind}" if kind else "no optimizer's state"
        raise CheckpointError(
            f"{where}: {path!r} holds {what} (no {PREFIX}* metadata), not an optimizer's state; load a file "
            f"written by {type(opt).__name__}.save_{where.rpartition('_')[2]} (a model's file loads with "
            "model.load_npz/load_safetensors)"
        )
    mapping: dict[str, object] = {
        key[len(PREFIX) :]: ck.decode(text, key, where) for key, text in sorted(meta.items()) if key.startswith(PREFIX)
    }
    smuggled = sorted(k for k in mapping if k.startswith(_state.STATE))
    if smuggled:
        raise CheckpointError(f"{where}: {path!r} has state entries in its metadata ({smuggled[:3]}); it is damaged")
    _state.check_header(opt, mapping, where)  # before any tensor is read
    fields = _state.fields_of(opt._state_class(), type(opt).__name__)
    layout = {name: (shape, dtype) for name, shape, dtype in opt._layout}
    keys = reader.keys
    for key in keys:
        name, field = _state.target(opt, key, fields, where)
        shape, dtype = reader.spec(key)
        _check_spec(key, shape, dtype, field, layout[name], where, path)
    for key in keys:
        mapping[key] = reader.read(key)
    return _state.stage(opt, mapping, scheduler, where)


def _check_spec(
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    field: _state.Field,
    param: tuple[tuple[int, ...], np.dtype[Any]],
    where: str,
    path: str,
) -> None:
    """A tensor's declared shape and dtype, before its data is read."""
    if field.integer:
        if shape not in ((), (1,)) or dtype.kind not in "iu":
            raise DTypeError(
                f"{where}: {key!r} in {path!r} must be an integer scalar (a count, int64), got shape {shape} dtype "
                f"{dtype}; the file is damaged or not this optimizer's"
            )
        return
    _state.check_array(key, shape, dtype, *param, where)
