"""safetensors checkpoints, through the official ``safetensors`` package (the ``io`` extra).

The package parses and checks the file (header length, JSON, offsets, coverage); read with
``safe_open(..., backend="pread")``, which reads one tensor at a time on request (no memory map that a
file truncated under it could turn into a crash). Before it runs, the header is read once more here to
refuse what it accepts silently: a repeated key (JSON keeps the last), more tensors than
``MAX_ENTRIES``, a header above 16 MiB. What it cannot see, a dtype swapped for one of the same size or
a shape changed to one with as many bytes, the shape and dtype checks against the module catch.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Generator, Mapping
from typing import Any, BinaryIO, cast

import numpy as np
from numpy.typing import NDArray

from ..._errors import CheckpointError
from . import _checkpoint as ck
from ._atomic import atomic_write

__all__ = ["opened", "require", "write"]

#: Bound on the JSON header read (safetensors' own is 100 MB).
_MAX_HEADER = 16 << 20
_WHAT = "safetensors"
_DTYPES: dict[str, np.dtype[Any]] = {
    code: np.dtype(name).newbyteorder("<")
    for code, name in {
        "F16": "float16",
        "F32": "float32",
        "F64": "float64",
        "I8": "int8",
        "I16": "int16",
        "I32": "int32",
        "I64": "int64",
        "U8": "uint8",
        "U16": "uint16",
        "U32": "uint32",
        "U64": "uint64",
        "BOOL": "bool",
    }.items()
}


def require(where: str) -> tuple[Callable[..., bytes], Any]:
    """``safetensors.numpy.save`` and ``safetensors.safe_open``, or an ImportError saying how to install them."""
    try:
        from safetensors import safe_open
        from safetensors.numpy import save
    except ImportError:
        raise ImportError(
            f"{where} needs the safetensors package: pip install 'typedtensor[io]' (or pip install safetensors)"
        ) from None
    return save, safe_open


def write(opts: ck.Options, arrays: Mapping[str, NDArray[Any]], metadata: Mapping[str, str]) -> None:
    """Write ``arrays`` and ``metadata`` to ``opts.path`` as safetensors, atomically (``Module.save_safetensors``)."""
    serialize, _ = require(opts.where)
    data = serialize(dict(arrays), metadata=dict(metadata))
    header, body = _canonical(data)

    def write_to(f: BinaryIO) -> None:
        f.write(header)
        f.write(body)

    atomic_write(opts.path, write_to, opts.where)


def _canonical(data: bytes) -> tuple[bytes, memoryview]:
    """The package's file with its header in one order, so that the same module gives the same bytes.

    The package writes the metadata in the order of a Rust HashMap, which changes from one save to the
    next; the header is rewritten with the metadata sorted by key and the tensors by offset, padded
    with spaces to a multiple of 8 bytes as the package pads it. The data is the package's, untouched.
    """
    n = int.from_bytes(data[:8], "little")
    header = cast("dict[str, Any]", json.loads(data[8 : 8 + n]))
    meta = cast("dict[str, str] | None", header.pop("__metadata__", None))
    tensors = sorted(header.items(), key=lambda item: (list(item[1]["data_offsets"]), item[0]))
    ordered: dict[str, Any] = {} if meta is None else {"__metadata__": dict(sorted(meta.items()))}
    ordered.update(tensors)
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, memoryview(data)[8 + n :]


@contextlib.contextmanager
def opened(opts: ck.Options) -> Generator[ck.Reader]:
    """The safetensors file at ``opts.path`` opened, its header checked, as a ``Reader`` (``Module.load_safetensors``)."""
    _, safe_open = require(opts.where)
    with ck.open_regular(opts.path, opts.where) as f:
        size = os.fstat(f.fileno()).st_size
        _check_header(f, size, opts)
        with ck.converted(opts.where, opts.path, _WHAT):
            handle: Any = safe_open(opts.path, framework="numpy", backend="pread")
        with handle:
            yield _Reader(handle, size, opts)


def _check_header(f: BinaryIO, size: int, opts: ck.Options) -> None:
    """What safetensors accepts silently: repeated keys; and bounds on the header's size and entries."""
    where, path = opts.where, opts.path
    head = f.read(8)
    if len(head) < 8:
        raise CheckpointError(
            f"{where}: {path!r} has {size} bytes, too few for a safetensors file (8-byte header length, then the "
            "header); it is truncated or not a safetensors file"
        )
    n = int.from_bytes(head, "little")
    if n > size - 8:
        raise CheckpointError(
            f"{where}: {path!r} declares a {n}-byte header but has {size - 8} bytes after the length; it is "
            "truncated or not a safetensors file"
        )
    if n > _MAX_HEADER:
        raise CheckpointError(f"{where}: {path!r} declares a {n}-byte header, more than the {_MAX_HEADER} accepted")
    try:
        header: object = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=ck.unique_pairs)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: {path!r} has an invalid safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: {path!r} has a safetensors header that is not a JSON object")
    ck.check_entry_count(len(header), where, path)  # pyright: ignore[reportUnknownArgumentType]


class _Reader:
    """A safetensors file opened by the package (see the module docstring)."""

    def __init__(self, handle: Any, size: int, opts: ck.Options) -> None:
        self._handle = handle
        self._where, self._path = opts.where, opts.path
        with ck.converted(self._where, self._path, _WHAT):
            keys: Any = handle.keys()
            self._keys = [str(k) for k in keys]
            meta: Any = handle.metadata()
        self._metadata = {} if meta is None else ck.checked_metadata(meta, self._where, self._path)
        self._nbytes = size
        self._specs: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}

    @property
    def keys(self) -> list[str]:
        return self._keys

    @property
    def metadata(self) -> dict[str, str]:
        return self._metadata

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def spec(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        with ck.converted(self._where, self._path, _WHAT):
            view: Any = self._handle.get_slice(key)
            dims: Any = view.get_shape()
            shape = tuple(int(d) for d in dims)
            code = str(view.get_dtype())
        dtype = _DTYPES.get(code)
        if dtype is None:
            raise CheckpointError(
                f"{self._where}: {key!r} has the safetensors dtype {code}, which typedtensor cannot load (float16, "
                "float32 and float64 tensors, int64 counters); convert it before saving (PyTorch: t.float())"
            )
        self._specs[key] = (shape, dtype)
        return shape, dtype

    def read(self, key: str) -> NDArray[Any]:
        shape, dtype = self._specs[key]
        with ck.converted(self._where, self._path, _WHAT):
            tensor: Any = self._handle.get_tensor(key)
            arr: NDArray[Any] = np.array(tensor, copy=True)
        if arr.shape != shape or arr.dtype != dtype:
            raise CheckpointError(f"{self._where}: {key!r} in {self._path!r} changed while it was read")
        return arr
