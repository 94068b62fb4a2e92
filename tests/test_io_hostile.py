"""Hostile checkpoint files: every one gives a TypedTensorError (never a crash, a hang or an unbounded
allocation) and leaves the module exactly as it was. Ends with a fuzz test: random binary mutations of
valid files, bounded in time, from which only TypedTensorError may escape.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import typedtensor as tt
from tests.iohelp import Small, assert_same, load, snapshot, trained_small
from typedtensor.nn._io import _checkpoint, _npz

st_numpy: Any = pytest.importorskip("safetensors.numpy", reason="the io extra: pip install -e '.[io]'")

MiB = 1 << 20


@contextmanager
def bounded(seconds: float = 2.0, megabytes: float = 16.0) -> Generator[None]:
    """The block finishes within ``seconds`` and allocates at most ``megabytes`` (NumPy's included)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < megabytes * MiB, f"allocated {peak / MiB:.1f} MiB"


def refused(fmt: str, path: Path, error: type[Exception] = tt.TypedTensorError, **kwargs: Any) -> str:
    """Load ``path`` into a trained model: ``error`` is raised, nothing changed; returns the message."""
    m = trained_small(9)
    before = snapshot(m)
    with bounded(), pytest.raises(error) as info:
        load(m, fmt, path, **kwargs)
    assert_same(before, snapshot(m))
    return str(info.value)


def _state() -> dict[str, Any]:
    return dict(trained_small(5).state_dict())


# ---- npz ------------------------------------------------------------------------------------------


def valid_npz(tmp_path: Path) -> bytes:
    path = tmp_path / "valid.npz"
    trained_small(5).save_npz(path)
    return path.read_bytes()


def npy(arr: Any, **kwargs: Any) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asanyarray(arr), **kwargs)
    return f.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def write_zip(path: Path, members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def state_members(**replace: bytes | None) -> list[tuple[str, bytes]]:
    """The .npy members of a valid Small state, some replaced (or removed: None)."""
    members = {f"{k}.npy": npy(v) for k, v in _state().items()}
    for key, data in replace.items():
        name = key.replace("__", ".") + ".npy"
        if data is None:
            del members[name]
        else:
            members[name] = data
    return list(members.items())


@pytest.mark.parametrize("cut", [0, 1, 21, 100, 0.5, -23, -1])
def test_npz_truncated(tmp_path: Path, cut: float) -> None:
    data = valid_npz(tmp_path)
    n = int(cut * len(data)) if isinstance(cut, float) else cut
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:n])
    assert "is not a valid npz file" in refused("npz", path, tt.CheckpointError)


def test_npz_junk_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"\x80\x04not a zip at all" * 10)  # numpy.load would call this "pickled data"
    assert "not a valid npz file" in refused("npz", path, tt.CheckpointError)
    data = bytearray(valid_npz(tmp_path))
    where = data.index(npy(_state()["fc.weight"])) + 128 + 4  # a byte inside fc.weight's data
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "Bad CRC-32" in refused("npz", path, tt.CheckpointError)


def test_npz_bad_npy_headers(tmp_path: Path) -> None:
    cases = {
        "no magic": b"\x00" * 200,
        "bad magic version": b"\x93NUMPY\x09\x00" + b" " * 100,
        "header not a dict": b"\x93NUMPY\x01\x00" + struct.pack("<H", 10) + b"[1, 2, 3]\n",
        "header cut": b"\x93NUMPY\x01\x00" + struct.pack("<H", 1000) + b"{'descr':",
        "unknown dtype": npy_header((2, 3), "<q9") + b"\x00" * 24,
        "header too long": b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{",
        "version 3.0": npy(np.ones((2, 3), np.float32)).replace(b"\x93NUMPY\x01\x00", b"\x93NUMPY\x03\x00", 1),
    }
    for name, member in cases.items():
        path = write_zip(tmp_path / "h.npz", state_members(fc__weight=member))
        message = refused("npz", path, tt.CheckpointError)
        assert "'fc.weight'" in message or "not a valid npz file" in message, name


def test_npz_header_declaring_a_huge_shape_allocates_nothing(tmp_path: Path) -> None:
    for shape in [(10**12, 3), (2, 3 * 10**9), (2**62, 2**62)]:
        member = npy_header(shape) + b"\x00" * 24
        path = write_zip(tmp_path / "huge.npz", state_members(fc__weight=member))
        message = refused("npz", path, tt.TypedTensorError)
        assert str(shape) in message
    # the right shape declared, but fewer bytes than it needs (shape and size disagree)
    path = write_zip(tmp_path / "short.npz", state_members(fc__weight=npy_header((2, 3)) + b"\x00" * 8))
    assert "declares shape (2, 3) of float32 (24 bytes of data) but the member holds 8" in refused("npz", path)


def test_npz_object_and_pickled_members_are_never_unpickled(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(tmp_path / "pwned"), "w"))  # unpickling would create the file

    obj = np.empty((2, 3), dtype=object)
    obj[0, 0] = Boom()
    cases = {
        "object array": npy(obj, allow_pickle=True),
        "raw pickle": pickle.dumps(Boom()),
    }
    for name, member in cases.items():
        for key in ("fc__weight", "extra"):  # an expected key, and one never read
            path = write_zip(tmp_path / "obj.npz", state_members(**{key: member}))
            if key == "fc__weight":
                message = refused("npz", path, tt.CheckpointError)
                assert "Python objects" in message or "not a valid npz file" in message, name
            else:
                assert "unexpected keys ['extra']" in refused("npz", path, tt.CheckpointError)
                Small().load_npz(path, strict=False)
    assert not (tmp_path / "pwned").exists()


def test_npz_duplicate_members(tmp_path: Path) -> None:
    members = state_members()
    for duplicate in [("fc.weight.npy", npy(np.zeros((2, 3), np.float32))), ("fc.weight", b"x")]:
        path = write_zip(tmp_path / "dup.npz", [*members, duplicate])
        assert "two members named 'fc.weight'" in refused("npz", path, tt.CheckpointError)


def _deflated_zeros(name: str, prefix: bytes, megabytes: int) -> Callable[[zipfile.ZipFile], None]:
    def write(zf: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as m:
            m.write(prefix)
            for _ in range(megabytes):
                m.write(bytes(MiB))

    return write


def _bomb(path: Path, name: str, prefix: bytes, megabytes: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in state_members():
            zf.writestr(member, data)
        _deflated_zeros(name, prefix, megabytes)(zf)
    return path


def test_npz_zip_bomb_is_refused_before_decompressing(tmp_path: Path) -> None:
    # A member of 64 MiB of zeros deflated to about 64 KiB: an unexpected key, then an expected one.
    path = _bomb(tmp_path / "bomb.npz", "extra.npy", npy_header((16 * MiB,)), 64)
    assert path.stat().st_size < MiB
    message = refused("npz", path, tt.CheckpointError, max_bytes=16 * MiB)
    assert "more than max_bytes=16777216" in message
    with bounded():
        Small().load_npz(path, strict=False)  # never read: within the (default) limit and unexpected
    members = [(n, d) for n, d in state_members() if n != "fc.weight.npy"]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in members:
            zf.writestr(member, data)
        _deflated_zeros("fc.weight.npy", npy_header((2, 3)), 64)(zf)
    assert "declares shape (2, 3) of float32 (24 bytes of data) but the member holds" in refused("npz", path)


def _lie_about_sizes(data: bytes, size: int) -> bytes:
    """Set every central-directory entry's uncompressed size to ``size`` (32-bit fields)."""
    out = bytearray(data)
    start = 0
    while (i := out.find(b"PK\x01\x02", start)) >= 0:
        out[i + 24 : i + 28] = struct.pack("<I", size)
        start = i + 4
    return bytes(out)


def test_npz_members_declaring_huge_sizes_hit_the_default_limit(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "lying.npz", state_members(), zipfile.ZIP_DEFLATED)
    path.write_bytes(_lie_about_sizes(path.read_bytes(), 0xFFFFFFF0))
    message = refused("npz", path, tt.CheckpointError)
    assert "more than max_bytes=1073741824" in message


def test_npz_too_many_members_is_refused_before_the_index_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.npz"
    trained_small(5).save_npz(path)
    monkeypatch.setattr(_checkpoint, "MAX_ENTRIES", 4)  # the real bound is 65,536
    monkeypatch.setattr(zipfile, "ZipFile", None)  # the count comes from the end record alone
    assert "declares 8 entries, more than the 4" in refused("npz", path, tt.CheckpointError)


def test_npz_unsupported_compression_and_encryption(tmp_path: Path) -> None:
    valid = valid_npz(tmp_path)
    path = tmp_path / "method.npz"
    method = bytearray(valid)
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := method.find(sig, start)) >= 0:
            method[i + offset : i + offset + 2] = struct.pack("<H", 99)
            start = i + 4
    path.write_bytes(bytes(method))
    assert "not a valid npz file" in refused("npz", path, tt.CheckpointError)
    encrypted = bytearray(valid)
    i = encrypted.find(b"PK\x01\x02")
    encrypted[i + 8] |= 1
    path.write_bytes(bytes(encrypted))
    assert "encrypted" in refused("npz", path, tt.CheckpointError)


def test_npz_hostile_metadata_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases: dict[str, tuple[bytes, str]] = {
        "not json": (npy(np.array("{not json")), "not JSON"),
        "a list": (npy(np.array("[1, 2]")), "not a str-to-str mapping"),
        "a number value": (npy(np.array('{"a": 1}')), "not a str-to-str mapping"),
        "duplicate keys": (npy(np.array('{"a": "1", "a": "2"}')), "duplicate key 'a'"),
        "deep nesting": (npy(np.array("[" * 100_000)), "not JSON"),
        "not a string": (npy(np.zeros(3)), "expected a string"),
        "object array": (npy(np.array(["x"], dtype=object), allow_pickle=True), "Object arrays cannot be loaded"),
        "bad hparam": (npy(np.array('{"typedtensor.hparams.bn.eps": "-Infinity"}')), "not valid JSON"),
    }
    for name, (member, fragment) in cases.items():
        path = write_zip(tmp_path / "meta.npz", [*state_members(), ("__metadata__.npy", member)])
        assert fragment in refused("npz", path, tt.CheckpointError), name
    monkeypatch.setattr(_npz, "_MAX_METADATA", 100)
    big = npy(np.array(json.dumps({"k": "v" * 200})))
    path = write_zip(tmp_path / "meta.npz", [*state_members(), ("__metadata__.npy", big)])
    assert "'__metadata__' member of" in refused("npz", path, tt.CheckpointError)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_not_a_regular_file(tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening a FIFO for reading would wait for a writer
    assert "is a FIFO, not a regular file" in refused(fmt, fifo, tt.CheckpointError)
    assert "is a directory, not a regular file" in refused(fmt, tmp_path, tt.CheckpointError)


# ---- safetensors -----------------------------------------------------------------------------------


def st_file(header: object, data: bytes, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def valid_st(tmp_path: Path) -> bytes:
    path = tmp_path / "valid.safetensors"
    trained_small(5).save_safetensors(path)
    return path.read_bytes()


def split_st(data: bytes) -> tuple[dict[str, Any], bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    header: dict[str, Any] = json.loads(data[8 : 8 + n])
    return header, data[8 + n :]


def st_refused(tmp_path: Path, content: bytes, error: type[Exception] = tt.CheckpointError, **kwargs: Any) -> str:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    return refused("safetensors", path, error, **kwargs)


@pytest.mark.parametrize("cut", [0, 4, 8, 9, 0.5, -1])
def test_safetensors_truncated(tmp_path: Path, cut: float) -> None:
    data = valid_st(tmp_path)
    n = int(cut * len(data)) if isinstance(cut, float) else cut
    st_refused(tmp_path, data[:n])


def test_safetensors_bad_headers(tmp_path: Path) -> None:
    header, data = split_st(valid_st(tmp_path))
    cases: dict[str, tuple[bytes, str]] = {
        "length past the end": (st_file(header, data, length=10**9), "declares a 1000000000-byte header"),
        "length 2**64 - 1": (st_file(header, data, length=2**64 - 1), "-byte header"),
        "invalid json": (st_file(b"{not json", data), "invalid safetensors header"),
        "invalid utf-8": (st_file(b'{"\xff": 1}', data), "invalid safetensors header"),
        "not an object": (st_file([1, 2, 3], data), "not a JSON object"),
        "deep nesting": (st_file(b"[" * 100_000, b""), "invalid safetensors header"),
        "duplicate key": (
            st_file(
                b'{"fc.bias": '
                + json.dumps(header["fc.bias"]).encode()
                + b', "fc.bias": '
                + json.dumps(header["fc.bias"]).encode()
                + b", "
                + json.dumps({k: v for k, v in header.items() if k != "fc.bias"}).encode()[1:],
                data,
            ),
            "duplicate key 'fc.bias'",
        ),
        "metadata not strings": (st_file({**header, "__metadata__": {"a": 1}}, data), "not a valid safetensors"),
        "junk after data": (st_file(header, data + b"junk"), "not a valid safetensors"),
        "missing data": (st_file(header, data[:-4]), "not a valid safetensors"),
    }
    for name, (content, fragment) in cases.items():
        assert fragment in st_refused(tmp_path, content), name


def test_safetensors_header_above_the_cap(tmp_path: Path) -> None:
    content = struct.pack("<Q", 17 * MiB) + b" " * (17 * MiB)
    assert "more than the 16777216 accepted" in st_refused(tmp_path, content)


def _with(header: dict[str, Any], key: str, **entry: Any) -> dict[str, Any]:
    return {**header, key: {**header[key], **entry}}


def test_safetensors_offsets_and_shapes(tmp_path: Path) -> None:
    header, data = split_st(valid_st(tmp_path))
    begin, end = header["fc.weight"]["data_offsets"]
    cases = {
        "offsets past the end": _with(header, "fc.weight", data_offsets=[begin, end + 10_000]),
        "offsets reversed": _with(header, "fc.weight", data_offsets=[end, begin]),
        "negative offset": _with(header, "fc.weight", data_offsets=[-4, end]),
        "shape and offsets disagree": _with(header, "fc.weight", shape=[2, 4]),
        "huge shape": _with(header, "fc.weight", shape=[2**62, 2**62]),
        "negative shape": _with(header, "fc.weight", shape=[-2, -3]),
        "overlapping": _with(header, "fc.bias", data_offsets=[begin, begin + 8]),
        "unknown dtype": _with(header, "fc.weight", dtype="Q7"),
        "offsets not numbers": _with(header, "fc.weight", data_offsets=["a", "b"]),
    }
    for name, bad in cases.items():
        assert "not a valid safetensors file" in st_refused(tmp_path, st_file(bad, data)), name


def test_safetensors_same_size_swaps_are_caught_by_the_module_checks(tmp_path: Path) -> None:
    """safetensors itself loads these without complaint."""
    header, data = split_st(valid_st(tmp_path))
    for dtype in ("I32", "U32"):
        message = st_refused(tmp_path, st_file(_with(header, "fc.weight", dtype=dtype), data), tt.DTypeError)
        assert f"'fc.weight' has dtype {dtype.replace('I', 'int').replace('U', 'uint')}" in message
    message = st_refused(tmp_path, st_file(_with(header, "fc.weight", shape=[3, 2]), data), tt.ShapeError)
    assert "'fc.weight' has shape (3, 2), the module expects (2, 3)" in message
    counter = _with(header, "bn.num_batches_tracked", dtype="F64")
    assert "'bn.num_batches_tracked' must be a non-negative integer scalar" in st_refused(
        tmp_path, st_file(counter, data), tt.DTypeError
    )
    half = {**_with(header, "fc.bias", dtype="BF16", shape=[4])}
    assert "dtype BF16, which typedtensor cannot load" in st_refused(tmp_path, st_file(half, data))


def test_safetensors_too_many_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = valid_st(tmp_path)
    monkeypatch.setattr(_checkpoint, "MAX_ENTRIES", 4)
    assert "entries, more than the 4" in st_refused(tmp_path, data)


def test_safetensors_pickle_is_just_bytes(tmp_path: Path) -> None:
    st_refused(tmp_path, pickle.dumps({"fc.weight": np.zeros((2, 3))}))


# ---- fuzz: random binary mutations of valid files --------------------------------------------------

Mutation = tuple[Any, ...]

mutations = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(-600, 600), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.integers(-600, 600)),
        st.tuples(st.just("insert"), st.integers(-600, 600), st.binary(min_size=1, max_size=12)),
        st.tuples(st.just("delete"), st.integers(-600, 600), st.integers(1, 40)),
        st.tuples(st.just("overwrite"), st.integers(-600, 600), st.binary(min_size=1, max_size=12)),
        st.tuples(st.just("digit"), st.integers(0, 400), st.sampled_from(b"0123456789-")),
        st.tuples(st.just("copy"), st.integers(-600, 600), st.integers(-600, 600), st.integers(1, 64)),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops: list[Mutation]) -> bytes:
    out = bytearray(data)
    for op in ops:
        if not out:
            break
        kind, pos = op[0], op[1] % len(out)
        if kind == "flip":
            out[pos] ^= op[2]
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = op[2]
        elif kind == "delete":
            del out[pos : pos + op[2]]
        elif kind == "overwrite":
            out[pos : pos + len(op[2])] = op[2]
        elif kind == "digit":  # change the op[1]-th ASCII digit: offsets, shapes, sizes in text headers
            digits = [i for i, b in enumerate(out[:2000]) if 48 <= b <= 57]
            if digits:
                out[digits[op[1] % len(digits)]] = op[2]
        else:
            src, n = op[2] % len(out), op[3]
            out[pos : pos + n] = out[src : src + n]
    return bytes(out)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("valid")
    return {"npz": valid_npz(tmp), "safetensors": valid_st(tmp)}


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=mutations, strict=st.booleans(), cast=st.booleans())
def test_fuzz_only_typed_tensor_errors_escape(
    tmp_path: Path, valid_files: dict[str, bytes], fmt: str, ops: list[Mutation], strict: bool, cast: bool
) -> None:
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(mutate(valid_files[fmt], ops))
    m = trained_small(9)
    before = snapshot(m)
    start = time.perf_counter()
    try:
        load(m, fmt, path, strict=strict, cast=cast)
    except tt.TypedTensorError:
        assert_same(before, snapshot(m))
    assert time.perf_counter() - start < 2.0
