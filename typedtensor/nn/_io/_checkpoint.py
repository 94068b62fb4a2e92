"""What every checkpoint format shares: argument checks, the metadata's keys and values, opening a file.

A format module (``_npz``, ``_safetensors``) writes arrays and string metadata in its own way
(``write``), and for loading opens a file as a ``Reader``: the names in the file, its metadata and
size, then on request one tensor's shape and dtype, then its data. These modules know arrays and
files, not modules: what is saved and the order of a load (nothing read before it is checked, nothing
changed before everything is checked) are ``nn/_checkpoint``'s.

Metadata (string to string, as safetensors has it; an npz holds it as JSON in a member
``__metadata__``): ``typedtensor.version``, ``typedtensor.class`` (the saved module's class, for
information) and ``typedtensor.hparams.<module path>.<attribute>`` holding the JSON of each
hyper-parameter and structural setting (``typedtensor.hparams.bn1.eps = 1e-05``,
``typedtensor.hparams.conv1.stride = [1, 1]``; ``encode`` and ``decode``), and
``typedtensor.tied.<alias> = <name>`` for each other name of a tied tensor, which the file holds once,
under its first name (safetensors' ``save_model`` convention).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from ... import extend as ext
from ..._errors import CheckpointError, TypedTensorError
from ._paths import checked_path, file_kind, os_errors
from ._report import Naming

__all__ = [
    "MAX_ENTRIES",
    "Naming",
    "Options",
    "Reader",
    "check_entry_count",
    "check_size",
    "checked_metadata",
    "converted",
    "decode",
    "encode",
    "json_metadata",
    "open_regular",
    "options",
    "plain",
    "unique_pairs",
    "user_metadata",
]

VERSION_KEY = "typedtensor.version"
CLASS_KEY = "typedtensor.class"
HPARAM_PREFIX = "typedtensor.hparams."
TIED_PREFIX = "typedtensor.tied."
RESERVED_PREFIX = "typedtensor."
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


# ---- metadata ------------------------------------------------------------------------------------


def encode(value: object, name: str, where: str) -> str:
    """A hyper-parameter or structural setting as the JSON text of its metadata entry."""
    out = plain(value)
    if out is _BAD:
        raise TypedTensorError(
            f"{where}: the hyper-parameter {name!r} is {value!r}; hparam_names and structure_names may only "
            "name None, bool, int, finite float, str, or tuples and lists of those"
        )
    return json.dumps(out, allow_nan=False)


_BAD = object()


def plain(value: object) -> object:
    """``value`` as JSON-ready data (tuples as lists), or a marker that equals nothing else."""
    if isinstance(value, np.generic):
        value = cast("object", value.item())
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _BAD
    if isinstance(value, (tuple, list)):
        items = [plain(v) for v in cast("Sequence[object]", value)]
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


# ---- reading ------------------------------------------------------------------------------------


def check_size(reader: Reader, opts: Options, default: int) -> None:
    """The file's (decompressed) size against ``opts.max_bytes``, or ``default`` when it is None."""
    limit = opts.max_bytes if opts.max_bytes is not None else default
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


def decode(text: str, key: str, where: str) -> object:
    """A metadata entry's JSON text as a plain value (lists as tuples); refuses anything else."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not a finite number")

    try:
        value = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: metadata {key!r} is not valid JSON ({e}): {text[:80]!r}") from None
    out = plain(value)
    if out is _BAD:
        raise CheckpointError(f"{where}: metadata {key!r} holds {text[:80]!r}, not a plain value")
    return _tuples(out)


def _tuples(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in cast("list[object]", value))
    return value


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
