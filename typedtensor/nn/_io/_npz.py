"""npz checkpoints: NumPy's layout (a zip of ``<key>.npy`` members), read member by member.

Written as ``numpy.savez`` writes (stored members, ``numpy.lib.format.write_array`` with
``allow_pickle=False``), plus a member ``__metadata__``: a 0-d string array holding the metadata as
JSON (sorted keys; every member dated 1980-01-01: the same module always gives the same bytes).
Read through ``zipfile`` and ``numpy.lib.format`` so that sizes are checked before anything is
decompressed: the member count from the zip's end record before its index is parsed, every member's
declared size against ``max_bytes``, each expected member's ``.npy`` header (shape, dtype) against the
module, and its declared size against that header. ``numpy.load`` would read an object array's
header, or a member of any size, before complaining.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
from collections.abc import Generator, Mapping
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from ..._errors import CheckpointError, TypedTensorError
from . import _checkpoint as ck
from ._atomic import atomic_write

__all__ = ["opened", "write"]

METADATA = "__metadata__"
#: numpy's own bound on a .npy header.
_MAX_HEADER = 10_000
#: Bound on the metadata member's size.
_MAX_METADATA = 16 << 20
_WHAT = "npz"
_DATE = (1980, 1, 1, 0, 0, 0)


def write(opts: ck.Options, arrays: Mapping[str, NDArray[Any]], metadata: Mapping[str, str]) -> None:
    """Write ``arrays`` and ``metadata`` to ``opts.path`` as an npz, atomically (``Module.save_npz``)."""
    where = opts.where
    if METADATA in arrays:
        raise TypedTensorError(f"{where}: a tensor is named {METADATA!r}, the name of the file's metadata member")
    meta = np.array(json.dumps(dict(metadata), sort_keys=True))

    def write_to(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, arr in (*arrays.items(), (METADATA, meta)):
                # A fixed date (zip's earliest), so that the same module gives the same bytes.
                info = zipfile.ZipInfo(key + ".npy", date_time=_DATE)
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    atomic_write(opts.path, write_to, where)


@contextlib.contextmanager
def opened(opts: ck.Options) -> Generator[ck.Reader]:
    """The npz at ``opts.path`` opened, its index checked, as a ``Reader`` (``Module.load_npz``)."""
    with ck.open_regular(opts.path, opts.where) as f:
        reader = _Reader(f, opts)
        with reader.zip:
            yield reader


class _Reader:
    """An opened npz whose index has been checked (see the module docstring)."""

    def __init__(self, f: BinaryIO, opts: ck.Options) -> None:
        self._where, self._path = opts.where, opts.path
        size = os.fstat(f.fileno()).st_size
        with ck.converted(self._where, self._path, _WHAT):
            ck.check_entry_count(_declared_members(f), self._where, self._path)
            self.zip = zipfile.ZipFile(f)
            infos = self.zip.infolist()
        ck.check_entry_count(len(infos), self._where, self._path)
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if key in self._members:
                raise CheckpointError(
                    f"{self._where}: {self._path!r} has two members named {key!r} ({self._members[key].filename!r} "
                    f"and {info.filename!r}); a checkpoint has one value per key"
                )
            self._members[key] = info
        self._nbytes = max(size, sum(i.file_size for i in infos))
        meta = self._members.pop(METADATA, None)
        self._metadata = {} if meta is None else self._read_metadata(meta)
        self._specs: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}

    @property
    def keys(self) -> list[str]:
        return list(self._members)

    @property
    def metadata(self) -> dict[str, str]:
        return self._metadata

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def spec(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        info = self._members[key]
        with ck.converted(self._where, self._path, _WHAT), self.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=_MAX_HEADER)
            else:
                raise CheckpointError(f"{self._where}: {key!r} is a .npy of version {version}, expected 1.0 or 2.0")
            header = member.tell()
        if dtype.hasobject:
            raise CheckpointError(
                f"{self._where}: {key!r} in {self._path!r} holds Python objects (pickled data), which are never "
                "loaded; save plain numeric arrays"
            )
        data = math.prod(shape) * dtype.itemsize
        if info.file_size != header + data:
            raise CheckpointError(
                f"{self._where}: {key!r} in {self._path!r} declares shape {shape} of {dtype} ({data} bytes of data) "
                f"but the member holds {info.file_size - header} bytes after its header; the file is damaged"
            )
        self._specs[key] = (shape, dtype)
        return shape, dtype

    def read(self, key: str) -> NDArray[Any]:
        shape, dtype = self._specs[key]
        with ck.converted(self._where, self._path, _WHAT), self.zip.open(self._members[key]) as member:
            arr = np.lib.format.read_array(member, allow_pickle=False, max_header_size=_MAX_HEADER)
            if member.read(1):
                raise CheckpointError(f"{self._where}: {key!r} in {self._path!r} has bytes after its data")
        if arr.shape != shape or arr.dtype != dtype:
            raise CheckpointError(f"{self._where}: {key!r} in {self._path!r} changed while it was read")
        return arr

    def _read_metadata(self, info: zipfile.ZipInfo) -> dict[str, str]:
        where, path = self._where, self._path
        if info.file_size > _MAX_METADATA:
            raise CheckpointError(
                f"{where}: {path!r} has a {METADATA!r} member of {info.file_size} bytes, more than {_MAX_METADATA}"
            )
        with ck.converted(where, path, _WHAT), self.zip.open(info) as member:
            arr = np.lib.format.read_array(member, allow_pickle=False, max_header_size=_MAX_HEADER)
        if arr.shape != () or arr.dtype.kind != "U":
            raise CheckpointError(
                f"{where}: {path!r} has a {METADATA!r} member of shape {arr.shape} and dtype {arr.dtype}, expected a "
                "string (0-d str array holding JSON)"
            )
        return ck.json_metadata(str(arr.item()), where, path)


def _declared_members(f: BinaryIO) -> int:
    """The member count the zip's end record declares, read before the central directory is parsed.

    ``zipfile`` has no public way to read it; where its private reader is missing, 0 (then the count of
    the parsed index is still checked).
    """
    end_record: Any = getattr(zipfile, "_EndRecData", None)
    if end_record is None:
        return 0
    record: Any = end_record(f)
    if record is None:
        raise zipfile.BadZipFile("File is not a zip file")
    f.seek(0)
    return int(record[getattr(zipfile, "_ECD_ENTRIES_TOTAL", 4)])
