"""Saving and loading a module's checkpoint files: the half of the formats that knows modules.

The file formats (``_io``: npz and safetensors files, argument checks, the metadata's keys and values)
know arrays and files; this is the half that knows modules. Saving writes ``state_arrays`` and
``typedtensor_metadata`` through a format's ``write``. Loading a file follows one order, so that nothing
is read that has not been checked and nothing is changed until everything has been checked:

1. the module tree: its keys under ``naming`` and its declared dims (a ``Linear[L[3], L[5]]`` built
   with other sizes is refused);
2. the file (opened by its format as a ``Reader``): its size against ``max_bytes``, then its key set and
   its ``typedtensor.hparams.*`` metadata against the module (``strict``), structural settings
   (``structure_names``) equal;
3. each expected tensor's shape and dtype from the file's header, before its data is read;
4. the data, then its values (``check_finite``, a module's own ``_check_state``) and the restored
   hyper-parameters (each module's ``_check_hparams``);
5. everything assigned at once (``apply_state``: tensors in place).

``load_state_dict`` is steps 4 and 5 on a mapping (``_staging``: ``stage`` then ``apply_state``). A tied tensor is
saved once, under its first name, with a ``typedtensor.tied.<alias> = <name>`` entry for each other
name, and loaded from any of its names (equal values if several): see ``_io/_checkpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import CheckpointError, TypedTensorError
from .._version import VERSION
from . import _walk
from ._io import _checkpoint as ck
from ._io import _npz, _safetensors
from ._io._report import LoadReport, Naming
from ._staging import Staged, apply_state, check_spec, stage

if TYPE_CHECKING:
    from ._module import Module

__all__ = ["load_npz", "load_safetensors", "save_npz", "save_safetensors"]

#: The default ``max_bytes``: this, or twice the module's own size if that is larger.
DEFAULT_MAX_BYTES = 1 << 30


# ---- the Module methods --------------------------------------------------------------------------


def save_npz(module: Module, path: object, *, naming: object) -> None:
    """``Module.save_npz``."""
    opts = ck.options("save_npz", path, naming)
    _npz.write(opts, state_arrays(module, opts.naming), typedtensor_metadata(module, opts.where, opts.naming))


def load_npz(
    module: Module,
    path: object,
    *,
    naming: object,
    strict: object,
    cast: object,
    check_finite: object,
    max_bytes: object,
) -> LoadReport:
    """``Module.load_npz``."""
    opts = ck.options("load_npz", path, naming, strict, cast, check_finite, max_bytes)
    check_module(module)
    with _npz.opened(opts) as reader:
        return load(module, reader, opts)


def save_safetensors(module: Module, path: object, metadata: object, *, naming: object) -> None:
    """``Module.save_safetensors``."""
    where = "save_safetensors"
    opts = ck.options(where, path, naming)
    _safetensors.require(where)
    meta = {**typedtensor_metadata(module, where, opts.naming), **ck.user_metadata(metadata, where)}
    _safetensors.write(opts, state_arrays(module, opts.naming), meta)


def load_safetensors(
    module: Module,
    path: object,
    *,
    naming: object,
    strict: object,
    cast: object,
    check_finite: object,
    max_bytes: object,
) -> LoadReport:
    """``Module.load_safetensors``."""
    opts = ck.options("load_safetensors", path, naming, strict, cast, check_finite, max_bytes)
    _safetensors.require(opts.where)
    check_module(module)
    with _safetensors.opened(opts) as reader:
        return load(module, reader, opts)


# ---- saving --------------------------------------------------------------------------------------


def state_arrays(module: Module, naming: Naming) -> dict[str, NDArray[Any]]:
    """Every parameter and buffer once as a fresh C-contiguous array (0-d kept 0-d), by key under ``naming``
    (a tied tensor under its first name only).

    The copy matters: safetensors writes an array's memory as it lies, ignoring its strides.
    """
    out: dict[str, NDArray[Any]] = {}
    for entry in _walk.state(module, naming):
        value = entry.value
        data = np.array(value, dtype=np.int64) if isinstance(value, int) else ext.data(value)
        out[entry.name] = np.array(data, order="C", copy=True)
    return out


def typedtensor_metadata(module: Module, where: str, naming: Naming) -> dict[str, str]:
    """The version, the module's class, every module's hyper-parameters and structural settings, and the
    other names of tied tensors (keys under ``naming``)."""
    cls = type(module)
    meta = {ck.VERSION_KEY: VERSION, ck.CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}"}
    for entry in _walk.state(module, naming):
        meta.update({ck.TIED_PREFIX + alias: entry.name for alias in entry.names[1:]})
    for prefix, owner in module.named_modules():
        for attr in (*owner.hparam_names, *owner.structure_names):
            name = _walk.join(prefix, attr)
            meta[ck.HPARAM_PREFIX + name] = ck.encode(getattr(owner, attr), name, where)
    return meta


# ---- loading a file ------------------------------------------------------------------------------


def default_max_bytes(module: Module) -> int:
    """1 GiB, or twice the module's own state if that is larger."""
    own = sum(ext.data(t).nbytes for _, t in module.named_parameters())
    own += sum(8 if isinstance(b, int) else ext.data(b).nbytes for _, b in module.named_buffers())
    return max(DEFAULT_MAX_BYTES, 2 * own)


def check_size(reader: ck.Reader, module: Module, opts: ck.Options) -> None:
    ck.check_size(reader, opts, default_max_bytes(module))


def check_module(module: Module) -> None:
    """Refuse a module whose declared dims disagree with its sizes (``Linear[L[3], L[5]](4, 5)``).

    The same check as a checked call's first binding, without caching anything on the modules.
    """
    for _, owner in module.named_modules():
        owner._check_declared_dims()


@dataclass
class _HParams:
    restore: dict[Module, dict[str, object]]
    restored: dict[str, object]
    unexpected: list[str]


def _hparams(module: Module, metadata: Mapping[str, str], where: str) -> _HParams:
    """The file's hyper-parameters: structural ones compared now, restorable ones decoded for later."""
    modules = dict(module.named_modules())
    out = _HParams({}, {}, [])
    for meta_key, text in sorted(metadata.items()):
        if not meta_key.startswith(ck.HPARAM_PREFIX):
            continue
        name = meta_key[len(ck.HPARAM_PREFIX) :]
        path, _, attr = name.rpartition(".")
        owner = modules.get(path)
        if owner is None or attr not in (*owner.hparam_names, *owner.structure_names):
            out.unexpected.append(meta_key)
            continue
        value = ck.decode(text, meta_key, where)
        current = getattr(owner, attr)
        if attr in owner.structure_names:
            if ck.plain(current) != ck.plain(value):
                raise CheckpointError(
                    f"{where}: {name!r} is {value!r} in the file but {current!r} in this "
                    f"{type(owner).__name__}; build the module with {attr}={value!r} to load this file"
                )
            continue
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out.restore.setdefault(owner, {})[attr] = value
        out.restored[name] = value
    return out


def _check_restored(hp: _HParams, where: str) -> None:
    for owner, values in hp.restore.items():
        merged = {attr: values.get(attr, getattr(owner, attr)) for attr in owner.hparam_names}
        try:
            owner._check_hparams(merged)
        except TypedTensorError as e:
            raise CheckpointError(
                f"{where}: the file's hyper-parameters for {type(owner).__name__} are refused: {e}"
            ) from None


def load(module: Module, reader: ck.Reader, opts: ck.Options) -> LoadReport:
    """Steps 2-5 of the module docstring on an opened file (step 1 is ``check_module``)."""
    where = opts.where
    check_size(reader, module, opts)
    entries = _walk.state(module, opts.naming)
    targets = _walk.by_name(entries)
    keys = reader.keys
    in_file = set(keys)
    missing = _walk.missing(entries, in_file)
    unexpected = sorted(in_file - set(targets))
    hp = _hparams(module, reader.metadata, where)
    unexpected += sorted(hp.unexpected)
    if opts.strict and (missing or unexpected):
        fix = "load a subset" if opts.naming == "torch" else "load a subset, or naming='torch' for a PyTorch file"
        raise CheckpointError(
            f"{where}: {opts.path!r} does not fit the module: missing keys {missing}, unexpected keys {unexpected}; "
            f"pass strict=False to {fix}"
        )
    present = [k for k in targets if k in in_file]
    for key in present:
        shape, dtype = reader.spec(key)
        check_spec(key, shape, dtype, targets[key].value, opts.cast, where)
    arrays = {key: reader.read(key) for key in present}
    staged, _, _ = stage(
        module, arrays, strict=False, naming=opts.naming, cast=opts.cast, check_finite=opts.check_finite, where=where
    )
    _check_restored(hp, where)
    _apply(staged, hp)
    return LoadReport(tuple(missing), tuple(unexpected), dict(hp.restored), dict(sorted(reader.metadata.items())))


def _apply(staged: list[Staged], hp: _HParams) -> None:
    apply_state(staged)
    for owner, values in hp.restore.items():
        # validated together by _check_restored: one assignment at a time (Module.__setattr__ checks each)
        # could pass through a combination that is refused (init_factor before momentum); a float -0.0 is
        # restored as +0.0, as the constructors store it (BatchNorm's eps: 1/sqrt(-0.0 + -0.0) is -inf)
        owner.__dict__.update({k: v + 0.0 if type(v) is float else v for k, v in values.items()})
