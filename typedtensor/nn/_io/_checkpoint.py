"""What every checkpoint format shares: argument checks, metadata, hyper-parameters, and the load.

A format module (``_npz``, ``_safetensors``) writes ``state_arrays`` and ``typedtensor_metadata`` in
its own way, and for loading supplies an opened ``Reader``: the names in the file, its metadata and
size, then on request one tensor's shape and dtype, then its data. Loading follows one order, so
nothing is read that has not been checked and nothing is changed until everything has been checked:

1. the module tree: its keys under ``naming`` and its declared dims (a ``Linear[L[3], L[5]]`` built
   with other sizes is refused);
2. the file: its size against ``max_bytes``, then its key set and its ``typedtensor.hparams.*``
   metadata against the module (``strict``), structural settings (``structure_names``) equal;
3. each expected tensor's shape and dtype from the file's header, before its data is read;
4. the data, then its values (``check_finite``, a module's own ``_check_state``) and the restored
   hyper-parameters (each module's ``_check_hparams``);
5. everything assigned at once.

Metadata (string to string, as safetensors has it; an npz holds it as JSON in a member
``__metadata__``): ``typedtensor.version``, ``typedtensor.class`` (the saved module's class, for
information) and ``typedtensor.hparams.<module path>.<attribute>`` holding the JSON of each
hyper-parameter and structural setting (``typedtensor.hparams.bn1.eps = 1e-05``,
``typedtensor.hparams.conv1.stride = [1, 1]``), and ``typedtensor.tied.<alias> = <name>`` for each
other name of a tied tensor, which the file holds once, under its first name (safetensors'
``save_model`` convention). Loading takes a tied tensor from any of its names (equal values if several).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from ... import extend as ext
from ..._errors import CheckpointError, TypedTensorError
from .. import _walk
from .._module import Module, _apply_state, _check_spec, _check_type_application, _join
from ._paths import checked_path, file_kind, os_errors
from ._report import LoadReport

if TYPE_CHECKING:
    from .._module import Naming, Staged

__all__ = [
    "MAX_ENTRIES",
    "Options",
    "Reader",
    "check_entry_count",
    "check_module",
    "checked_metadata",
    "converted",
    "json_metadata",
    "load",
    "open_regular",
    "options",
    "state_arrays",
    "typedtensor_metadata",
    "unique_pairs",
    "user_metadata",
]

VERSION_KEY = "typedtensor.version"
CLASS_KEY = "typedtensor.class"
HPARAM_PREFIX = "typedtensor.hparams."
TIED_PREFIX = "typedtensor.tied."
RESERVED_PREFIX = "typedtensor."
#: The default ``max_bytes``: this, or twice the module's own size if that is larger.
DEFAULT_MAX_BYTES = 1 << 30
#: At most this many tensors (or npz members) in a file: bounds what parsing the index can allocate.
MAX_ENTRIES = 65_536


@dataclass(frozen=True)
class Options:
    """The checked arguments of a load."""

    path: str
    naming: Naming
    strict: bool
    cast: bool
    check_finite: bool
    max_bytes: int | None
    where: str


class Reader(Protocol):
    """An opened checkpoint file whose index (names, metadata, size) has been read and checked."""

    @property
    def keys(self) -> list[str]: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def nbytes(self) -> int:
        """The most the file can decompress to: its size, or its members' declared sizes if larger."""
        ...

    def spec(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """The shape and dtype the file declares for ``key``, without reading its data."""
        ...

    def read(self, key: str) -> NDArray[Any]:
        """``key``'s data, of the declared shape and dtype (called only after ``spec`` was accepted)."""
        ...


def _naming(naming: object, where: str) -> Naming:
    if naming == "typedtensor":
        return "typedtensor"
    if naming == "torch":
        return "torch"
    raise TypedTensorError(f"{where}: naming must be 'typedtensor' or 'torch', got {naming!r}")


def options(
    where: str,
    path: object,
    naming: object,
    strict: object = True,
    cast: object = False,
    check_finite: object = True,
    max_bytes: object = None,
) -> Options:
    """The arguments of a save or load, checked (the Module methods are not wrapped by beartype)."""
    opt = ext.options
    limit = opt.positive_int(max_bytes, "max_bytes", where, optional=True)
    return Options(
        path=checked_path(path, where),
        naming=_naming(naming, where),
        strict=opt.flag(strict, "strict", where),
        cast=opt.flag(cast, "cast", where),
        check_finite=opt.flag(check_finite, "check_finite", where),
        max_bytes=limit,
        where=where,
    )


# ---- saving ------------------------------------------------------------------------------------


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
    from ... import __version__

    cls = type(module)
    meta = {VERSION_KEY: __version__, CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}"}
    for entry in _walk.state(module, naming):
        meta.update({TIED_PREFIX + alias: entry.name for alias in entry.names[1:]})
    for prefix, owner in module.named_modules():
        for attr in (*owner.hparam_names, *owner.structure_names):
            name = _join(prefix, attr)
            meta[HPARAM_PREFIX + name] = _encode(getattr(owner, attr), name, where)
    return meta


def _encode(value: object, name: str, where: str) -> str:
    plain = _plain(value)
    if plain is _BAD:
        raise TypedTensorError(
            f"{where}: the hyper-parameter {name!r} is {value!r}; hparam_names and structure_names may only "
            "name None, bool, int, finite float, str, or tuples and lists of those"
        )
    return json.dumps(plain, allow_nan=False)


_BAD = object()


def _plain(value: object) -> object:
    """``value`` as JSON-ready data (tuples as lists), or _BAD."""
    if isinstance(value, np.generic):
        value = cast("object", value.item())
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _BAD
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in cast("Sequence[object]", value)]
        return _BAD if any(i is _BAD for i in items) else items
    return _BAD


def user_metadata(metadata: object, where: str) -> dict[str, str]:
    """The caller's metadata, checked: str to str, no key in typedtensor's namespace."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypedTensorError(f"{where}: metadata must be a dict of str to str or None, got {type(metadata).__name__}")
    out: dict[str, str] = {}
    for k, v in metadata.items():  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypedTensorError(
                f"{where}: metadata must map str to str (safetensors stores text only), got {k!r}: {v!r}; "
                "convert values with str() or json.dumps()"
            )
        if k.startswith(RESERVED_PREFIX):
            raise TypedTensorError(
                f"{where}: metadata key {k!r} is in typedtensor's namespace ({RESERVED_PREFIX!r}), which the file's "
                "own entries use; rename it"
            )
        out[k] = v
    return out


# ---- loading -----------------------------------------------------------------------------------


def default_max_bytes(module: Module) -> int:
    """1 GiB, or twice the module's own state if that is larger."""
    own = sum(ext.data(t).nbytes for _, t in module.named_parameters())
    own += sum(8 if isinstance(b, int) else ext.data(b).nbytes for _, b in module.named_buffers())
    return max(DEFAULT_MAX_BYTES, 2 * own)


def check_size(reader: Reader, module: Module, opts: Options) -> None:
    limit = opts.max_bytes if opts.max_bytes is not None else default_max_bytes(module)
    if reader.nbytes > limit:
        raise CheckpointError(
            f"{opts.where}: {opts.path!r} holds {reader.nbytes} bytes (decompressed), more than max_bytes={limit}; "
            "if you trust the file, pass a larger max_bytes"
        )


def check_entry_count(count: int, where: str, path: str) -> None:
    if count > MAX_ENTRIES:
        raise CheckpointError(
            f"{where}: {path!r} declares {count} entries, more than the {MAX_ENTRIES} a checkpoint may hold"
        )


def check_module(module: Module) -> None:
    """Refuse a module whose declared dims disagree with its sizes (``Linear[L[3], L[5]](4, 5)``).

    The same check as a checked call's first binding, without caching anything on the modules.
    """
    for _, owner in module.named_modules():
        _check_type_application(owner, dict(owner._typed_dims()))


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
        if not meta_key.startswith(HPARAM_PREFIX):
            continue
        name = meta_key[len(HPARAM_PREFIX) :]
        path, _, attr = name.rpartition(".")
        owner = modules.get(path)
        if owner is None or attr not in (*owner.hparam_names, *owner.structure_names):
            out.unexpected.append(meta_key)
            continue
        value = _decode(text, meta_key, where)
        current = getattr(owner, attr)
        if attr in owner.structure_names:
            if _plain(current) != _plain(value):
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


def _decode(text: str, key: str, where: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not a finite number")

    try:
        value = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: metadata {key!r} is not valid JSON ({e}): {text[:80]!r}") from None
    plain = _plain(value)
    if plain is _BAD:
        raise CheckpointError(f"{where}: metadata {key!r} holds {text[:80]!r}, not a plain value")
    return _tuples(plain)


def _tuples(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in cast("list[object]", value))
    return value


def _check_restored(hp: _HParams, where: str) -> None:
    for owner, values in hp.restore.items():
        merged = {attr: values.get(attr, getattr(owner, attr)) for attr in owner.hparam_names}
        try:
            owner._check_hparams(merged)
        except TypedTensorError as e:
            raise CheckpointError(
                f"{where}: the file's hyper-parameters for {type(owner).__name__} are refused: {e}"
            ) from None


def load(module: Module, reader: Reader, opts: Options) -> LoadReport:
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
        _check_spec(key, shape, dtype, targets[key].value, opts.cast, where)
    arrays = {key: reader.read(key) for key in present}
    staged, _, _ = module._stage_state(
        arrays, strict=False, naming=opts.naming, cast=opts.cast, check_finite=opts.check_finite, where=where
    )
    _check_restored(hp, where)
    _apply(staged, hp)
    return LoadReport(tuple(missing), tuple(unexpected), dict(hp.restored), dict(sorted(reader.metadata.items())))


def _apply(staged: list[Staged], hp: _HParams) -> None:
    _apply_state(staged)
    for owner, values in hp.restore.items():
        # validated together by _check_restored: one assignment at a time (Module.__setattr__ checks each)
        # could pass through a combination that is refused (init_factor before momentum); a float -0.0 is
        # restored as +0.0, as the constructors store it (BatchNorm's eps: 1/sqrt(-0.0 + -0.0) is -inf)
        owner.__dict__.update({k: v + 0.0 if type(v) is float else v for k, v in values.items()})


def json_metadata(text: str, where: str, path: str) -> dict[str, str]:
    """An npz's ``__metadata__`` member (JSON text) as a dict of str to str."""
    try:
        value: object = json.loads(text, object_pairs_hook=unique_pairs)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: {path!r} has a __metadata__ member that is not JSON ({e})") from None
    return checked_metadata(value, where, path)


def checked_metadata(value: object, where: str, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: {path!r} has metadata that is not a str-to-str mapping")
    out: dict[str, str] = {}
    for k, v in value.items():  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(k, str) or not isinstance(v, str):
            raise CheckpointError(f"{where}: {path!r} has metadata that is not a str-to-str mapping ({k!r}: {v!r})")
        out[k] = v
    return out


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for json: refuse an object with a repeated key."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


@contextlib.contextmanager
def open_regular(path: str, where: str) -> Generator[BinaryIO]:
    """``path`` opened for reading; refused unless it is a regular file (a FIFO or a device could hang).

    OS errors (no such file, no permission) are ``CheckpointOSError``s, also of the OSError's class.
    """
    with os_errors(where, path, "load"):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CheckpointError(f"{where}: {path!r} is {file_kind(mode)}, not a regular file")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


@contextlib.contextmanager
def converted(where: str, path: str, what: str) -> Generator[None]:
    """Any error a parsing library (zipfile, numpy.lib.format, safetensors) raises, as a CheckpointError."""
    try:
        yield
    except TypedTensorError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"{where}: {path!r} is not a valid {what} file, or is truncated or damaged ({type(e).__name__}: {e})"
        ) from e
    except BaseException as e:  # a panic in Rust code arrives as pyo3's PanicException, a BaseException
        if type(e).__name__ != "PanicException":
            raise
        raise CheckpointError(f"{where}: {path!r} is not a valid {what} file (the reader panicked: {e})") from e
