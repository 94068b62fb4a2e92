"""Module checkpoints (npz and safetensors): round trips, validation all or nothing, hyper-parameters,
atomic saves, argument checks. Hostile files: tests/test_io_hostile.py; PyTorch: tests/test_io_torch.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import typedtensor as tt
from tests.iohelp import (
    FLOATS,
    FORMATS,
    Blueprint,
    Small,
    assert_same,
    blueprints,
    build,
    listing,
    load,
    randomise,
    save,
    snapshot,
    trained_small,
)
from typedtensor import nn
from typedtensor.nn import Module

st_numpy: Any = pytest.importorskip("safetensors.numpy", reason="the io extra: pip install -e '.[io]'")


def _raw_save(fmt: str, path: Path, arrays: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """A file written by the libraries themselves (no typedtensor metadata), as another program would."""
    if fmt == "npz":
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        st_numpy.save_file(arrays, str(path), metadata=metadata)


# ---- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("naming", ["typedtensor", "torch"])
def test_round_trip_restores_state_and_hyper_parameters(tmp_path: Path, fmt: str, naming: Any) -> None:
    src = trained_small(1)
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path, naming=naming)
    dst = Small(seed=2)  # other weights, default eps and p
    report = load(dst, fmt, path, naming=naming)
    assert_same(snapshot(src), snapshot(dst))
    assert dst.bn.eps == 1e-3
    assert dst.drop.p == 0.25
    assert dst.bn.num_batches_tracked == src.bn.num_batches_tracked
    assert report.missing == report.unexpected == ()
    assert report.hparams == {
        "bn.eps": 1e-3,
        "bn.init_factor": None,
        "bn.min_factor": 0.1,
        "bn.momentum": 0.1,
        "drop.p": 0.25,
    }
    assert report.metadata["typedtensor.version"] == tt.__version__
    assert report.metadata["typedtensor.class"] == "tests.iohelp.Small"


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_are_readable_by_numpy_and_safetensors(tmp_path: Path, fmt: str) -> None:
    src = trained_small(3)
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path, naming="torch")
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as data:
            read = {k: data[k] for k in data.files if k != "__metadata__"}
            meta = json.loads(str(data["__metadata__"]))
    else:
        read = st_numpy.load_file(str(path))
        meta = None
    want = src.state_dict()
    assert sorted(read) == sorted(k.replace("bn.scale", "bn.weight") for k in want)
    for key, value in want.items():
        got = read[key.replace("bn.scale", "bn.weight")]
        np.testing.assert_array_equal(got, value)
        assert got.dtype == value.dtype
        assert got.shape == value.shape
    assert read["bn.num_batches_tracked"].shape == ()
    if meta is not None:
        assert meta["typedtensor.hparams.bn.eps"] == "0.001"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bp=blueprints(), fmt=st.sampled_from(FORMATS), naming=st.sampled_from(["typedtensor", "torch"]))
def test_property_round_trip_of_random_trees(tmp_path: Path, bp: Blueprint, fmt: str, naming: Any) -> None:
    """Random trees (Linear, Conv2D, BatchNorm, Dropout in nested nodes and lists; float16/32/64)."""
    src = build(bp, seed=1)
    randomise(src, 1)
    path = tmp_path / f"tree.{fmt}"
    save(src, fmt, path, naming=naming)
    dst = build(bp, seed=2, defaults=True)
    load(dst, fmt, path, naming=naming)
    assert_same(snapshot(src), snapshot(dst))
    want = src.state_dict()
    if naming == "typedtensor":  # readable by the libraries, same values
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as data:
                read = {k: data[k] for k in data.files if k != "__metadata__"}
        else:
            read = st_numpy.load_file(str(path))
        assert read.keys() == want.keys()
        for key, value in want.items():
            np.testing.assert_array_equal(read[key], value)
            assert read[key].dtype == value.dtype


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed"])
def test_non_contiguous_tensors_are_saved_with_their_values(tmp_path: Path, fmt: str, layout: str) -> None:
    """safetensors' writer ignores strides: the arrays must be made contiguous first."""
    src = nn.Linear(6, 4, seed=0)
    values = np.arange(24, dtype=np.float32).reshape(4, 6) / 7
    data: NDArray[Any]
    if layout == "fortran":
        data = np.asfortranarray(values)
    elif layout == "strided":
        big = np.zeros((8, 18), np.float32)
        big[::2, ::3] = values
        data = big[::2, ::3]
    else:
        data = np.ascontiguousarray(values.T).T
    assert not data.flags.c_contiguous
    src.weight._data = data
    path = tmp_path / f"lin.{fmt}"
    src.save_npz(path) if fmt == "npz" else src.save_safetensors(path)
    dst = nn.Linear(6, 4, seed=1)
    load(dst, fmt, path)
    np.testing.assert_array_equal(dst.weight.numpy(), values)
    if fmt == "safetensors":
        np.testing.assert_array_equal(st_numpy.load_file(str(path))["weight"], values)


@pytest.mark.parametrize("fmt", FORMATS)
def test_loading_keeps_tensor_identity(tmp_path: Path, fmt: str) -> None:
    """Loaded in place: Gradients and optimizers holding the tensors stay valid."""
    src, dst = trained_small(1), Small(seed=2)
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path)
    weight = dst.fc.weight
    load(dst, fmt, path)
    assert dst.fc.weight is weight


# ---- validation: errors name the key and both values; nothing changes on any error ----------------


def _fresh_file(tmp_path: Path, fmt: str, **changes: Any) -> Path:
    """A file of a Small's state with some arrays replaced (or removed, value None), no metadata."""
    state: dict[str, Any] = dict(trained_small(5).state_dict())
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = tmp_path / f"raw.{fmt}"
    _raw_save(fmt, path, state)
    return path


BAD_FILES: list[tuple[str, dict[str, Any], type[Exception], list[str]]] = [
    ("shape", {"fc__weight": np.ones((3, 2), np.float32)}, tt.ShapeError, ["'fc.weight'", "(3, 2)", "(2, 3)"]),
    (
        "float dtype",
        {"fc__bias": np.ones(2, np.float64)},
        tt.DTypeError,
        ["'fc.bias'", "float64", "float32", "cast=True"],
    ),
    ("int for float", {"bn__scale": np.ones(2, np.int32)}, tt.DTypeError, ["'bn.scale'", "int32", "float array"]),
    ("float counter", {"bn__num_batches_tracked": np.array(2.0)}, tt.DTypeError, ["'bn.num_batches_tracked'"]),
    ("int32 counter", {"bn__num_batches_tracked": np.array(2, np.int32)}, tt.DTypeError, ["int32", "cast=True"]),
    ("negative counter", {"bn__num_batches_tracked": np.array(-1)}, tt.DTypeError, ["non-negative"]),
    ("nan", {"bn__bias": np.array([0.0, np.nan], np.float32)}, tt.TypedTensorError, ["'bn.bias'", "NaN"]),
    ("inf", {"fc__weight": np.full((2, 3), np.inf, np.float32)}, tt.TypedTensorError, ["check_finite=False"]),
    ("negative var", {"bn__running_var": np.array([1.0, -1.0], np.float32)}, tt.TypedTensorError, ["negative"]),
    ("missing", {"fc__bias": None}, tt.CheckpointError, ["missing keys ['fc.bias']", "strict=False"]),
    ("unexpected", {"extra": np.zeros(1, np.float32)}, tt.CheckpointError, ["unexpected keys ['extra']"]),
    ("torch names", {"bn__scale": None, "bn__weight": np.ones(2, np.float32)}, tt.CheckpointError, ["naming='torch'"]),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("case", "changes", "error", "fragments"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_values_are_refused_and_nothing_changes(
    tmp_path: Path, fmt: str, case: str, changes: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    path = _fresh_file(tmp_path, fmt, **changes)
    m = trained_small(9)
    before = snapshot(m)
    with pytest.raises(error) as info:
        load(m, fmt, path)
    for fragment in fragments:
        assert fragment in str(info.value), case
    assert_same(before, snapshot(m))


@pytest.mark.parametrize("fmt", FORMATS)
def test_cast_converts_other_float_dtypes(tmp_path: Path, fmt: str) -> None:
    src = trained_small(1, np.float64)
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path)
    dst = Small(seed=2, dtype=np.float32)
    with pytest.raises(tt.DTypeError, match="has dtype float64, the module holds float32; pass cast=True"):
        load(dst, fmt, path)
    load(dst, fmt, path, cast=True)
    assert dst.fc.weight.dtype == np.float32
    np.testing.assert_allclose(dst.fc.weight.numpy(), src.fc.weight.numpy(), rtol=1e-7)


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_finite_false_loads_non_finite_values_but_never_overflows(tmp_path: Path, fmt: str) -> None:
    path = _fresh_file(tmp_path, fmt, bn__bias=np.array([np.inf, np.nan], np.float32))
    m = Small()
    load(m, fmt, path, check_finite=False)
    bias: Any = m.bn.bias
    assert np.isinf(bias.numpy()[0])
    assert np.isnan(bias.numpy()[1])
    big = _fresh_file(tmp_path, fmt, bn__bias=np.array([1e6, 0.0]))
    half = Small(dtype=np.float16)
    before = snapshot(half)
    with pytest.raises(tt.DTypeError, match=r"'bn.bias' holds 1000000\.0, too large for float16"):
        load(half, fmt, big, cast=True, check_finite=False)
    assert_same(before, snapshot(half))


@pytest.mark.parametrize("fmt", FORMATS)
def test_strict_false_reports_missing_and_unexpected_keys(tmp_path: Path, fmt: str) -> None:
    path = _fresh_file(tmp_path, fmt, fc__bias=None, extra=np.zeros(1, np.float32))
    m = trained_small(9)
    fc: Any = m.fc
    bias = fc.bias.numpy().copy()
    report = load(m, fmt, path, strict=False)
    assert report.missing == ("fc.bias",)
    assert report.unexpected == ("extra",)
    np.testing.assert_array_equal(fc.bias.numpy(), bias)  # kept
    np.testing.assert_array_equal(m.fc.weight.numpy(), trained_small(5).fc.weight.numpy())  # loaded


@pytest.mark.parametrize("fmt", FORMATS)
def test_declared_literal_dims_are_checked_before_loading(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"lin.{fmt}"
    save(nn.Linear(4, 5), fmt, path)
    linear: Any = nn.Linear
    wrong = linear[L[3], L[5]](4, 5)  # the type says 3 input features, the instance has 4
    before = snapshot(wrong)
    with pytest.raises(tt.CheckError, match="declares I = 3 but this instance was built with 4"):
        load(wrong, fmt, path)
    assert_same(before, snapshot(wrong))


# ---- hyper-parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_structural_settings_must_match(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"conv.{fmt}"
    save(nn.Conv2D(2, 4, 3, stride=2), fmt, path)
    other = nn.Conv2D(2, 4, 3, stride=1)
    before = snapshot(other)
    with pytest.raises(tt.CheckpointError) as info:
        load(other, fmt, path, strict=False)  # strict or not: another architecture
    for fragment in ["'stride' is (2, 2) in the file but (1, 1) in this Conv2D", "build the module with stride=(2, 2)"]:
        assert fragment in str(info.value)
    assert_same(before, snapshot(other))
    save(nn.Linear(3, 5), fmt, path)
    with pytest.raises(tt.CheckpointError, match="'in_features' is 3 in the file but 4 in this Linear"):
        load(nn.Linear(4, 5), fmt, path)


@pytest.mark.parametrize("fmt", ["safetensors"])
def test_invalid_or_unknown_hyper_parameters_are_refused(tmp_path: Path, fmt: str) -> None:
    src = trained_small(1)
    state = src.state_dict()
    good = {k: v for k, v in _metadata_of(src, tmp_path).items() if k.startswith("typedtensor.")}
    cases: list[tuple[dict[str, str], type[Exception], str]] = [
        ({"typedtensor.hparams.bn.momentum": "2.0"}, tt.CheckpointError, "momentum must be a number in [0, 1]"),
        ({"typedtensor.hparams.bn.eps": '"small"'}, tt.CheckpointError, "eps must be a real number"),
        ({"typedtensor.hparams.bn.eps": "NaN"}, tt.CheckpointError, "not valid JSON"),
        ({"typedtensor.hparams.bn.eps": "{}"}, tt.CheckpointError, "not a plain value"),
        ({"typedtensor.hparams.drop.p": "1.5"}, tt.CheckpointError, "p must be a number in [0, 1]"),
        ({"typedtensor.hparams.bn.freeze": "true"}, tt.CheckpointError, "typedtensor.hparams.bn.freeze"),
        ({"typedtensor.hparams.nope.eps": "0.1"}, tt.CheckpointError, "unexpected keys ['typedtensor.hparams.nope"),
        ({"typedtensor.hparams.bn.affine": "false"}, tt.CheckpointError, "'bn.affine' is False in the file"),
    ]
    path = tmp_path / "bad.safetensors"
    for change, error, fragment in cases:
        st_numpy.save_file(state, str(path), metadata={**good, **change})
        m = Small(seed=4)
        before = snapshot(m)
        with pytest.raises(error) as info:
            m.load_safetensors(path)
        assert fragment in str(info.value), change
        assert_same(before, snapshot(m))
    st_numpy.save_file(state, str(path), metadata={**good, "typedtensor.hparams.nope.eps": "0.1"})
    report = Small().load_safetensors(path, strict=False)
    assert report.unexpected == ("typedtensor.hparams.nope.eps",)


def _metadata_of(m: Module, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "meta.safetensors"
    m.save_safetensors(path)
    return dict(Small().load_safetensors(path).metadata)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_without_hyper_parameters_leaves_them_alone(tmp_path: Path, fmt: str) -> None:
    """A PyTorch state_dict has no eps: the module keeps its own."""
    path = _fresh_file(tmp_path, fmt)
    m = Small(eps=0.01)
    report = load(m, fmt, path)
    assert m.bn.eps == 0.01
    assert report.hparams == {}


def test_momentum_none_and_megengine_convention_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bn.npz"
    nn.BatchNorm1D(3, momentum=None).save_npz(path)
    bn: Any = nn.BatchNorm1D(3)
    assert bn.load_npz(path).hparams["momentum"] is None
    assert bn.momentum is None
    nn.BatchNorm1D(3, momentum=0.9, momentum_convention="megengine").save_npz(path)
    bn.load_npz(path)
    assert bn.momentum == pytest.approx(0.1)  # stored in PyTorch's convention


@pytest.mark.parametrize("fmt", FORMATS)
def test_unserialisable_hyper_parameter_is_refused_before_writing(tmp_path: Path, fmt: str) -> None:
    class Odd(nn.Module):
        hparam_names = ("setting",)

        def __init__(self) -> None:
            self.setting = object()

    path = tmp_path / f"odd.{fmt}"
    with pytest.raises(tt.TypedTensorError, match="the hyper-parameter 'setting' is <object"):
        save(Odd(), fmt, path)
    assert listing(tmp_path) == []


def test_safetensors_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    src = trained_small(1)
    src.save_safetensors(path, {"epoch": "7", "format": "pt"})
    report = Small().load_safetensors(path)
    assert report.metadata["epoch"] == "7"
    assert report.metadata["typedtensor.hparams.bn.eps"] == "0.001"
    assert report.metadata["typedtensor.hparams.fc.in_features"] == "3"
    for bad, fragment in [
        ({"typedtensor.version": "9"}, "typedtensor's namespace"),
        ({"epoch": 7}, "must map str to str"),
        ([("a", "b")], "must be a dict of str to str"),
    ]:
        bad_meta: Any = bad
        with pytest.raises(tt.TypedTensorError, match=fragment):
            src.save_safetensors(tmp_path / "other.safetensors", bad_meta)
    assert "other.safetensors" not in listing(tmp_path)


# ---- atomic save -------------------------------------------------------------------------------------


def _fail(exc: BaseException) -> Any:
    def raiser(*args: object, **kwargs: object) -> None:
        raise exc

    return raiser


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("target", "exc"),
    [
        ("os.fsync", OSError(28, "No space left on device")),
        ("os.replace", OSError(18, "Invalid cross-device link")),
        ("os.fsync", KeyboardInterrupt()),
    ],
)
def test_a_failed_save_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, target: str, exc: BaseException
) -> None:
    path = tmp_path / f"m.{fmt}"
    save(trained_small(1), fmt, path)
    previous = path.read_bytes()
    names = listing(tmp_path)
    monkeypatch.setattr(target, _fail(exc))
    with pytest.raises(type(exc)):
        save(trained_small(2), fmt, path)
    monkeypatch.undo()
    assert path.read_bytes() == previous
    assert listing(tmp_path) == names


def test_a_save_interrupted_while_writing_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.npz"
    trained_small(1).save_npz(path)
    previous = path.read_bytes()
    calls: list[int] = []
    write_array = np.lib.format.write_array

    def half_written(fp: Any, array: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            fp.write(b"partial")
            raise MemoryError
        write_array(fp, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", half_written)
    with pytest.raises(MemoryError):
        trained_small(2).save_npz(path)
    monkeypatch.undo()
    assert path.read_bytes() == previous
    assert listing(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_permissions_symlinks_and_missing_directories(tmp_path: Path, fmt: str) -> None:
    m = trained_small(1)
    new = tmp_path / f"new.{fmt}"
    save(m, fmt, new)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # as open() would create it
    new.chmod(0o600)
    save(m, fmt, new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o600  # a replaced file keeps its mode
    link = tmp_path / f"link.{fmt}"
    link.symlink_to(new)
    save(trained_small(2), fmt, link)
    assert link.is_symlink()  # the file it points to was replaced, not the link
    restored = Small()
    load(restored, fmt, new)
    np.testing.assert_array_equal(restored.fc.weight.numpy(), trained_small(2).fc.weight.numpy())
    with pytest.raises(FileNotFoundError):
        save(m, fmt, tmp_path / "no-such-dir" / f"m.{fmt}")
    assert sorted(listing(tmp_path)) == sorted([new.name, link.name])


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_takes_str_and_pathlike_and_keeps_the_name(tmp_path: Path, fmt: str) -> None:
    m = trained_small(1)
    save(m, fmt, str(tmp_path / "plain"))
    assert listing(tmp_path) == ["plain"]  # no .npz appended (numpy.savez would)
    load(Small(), fmt, str(tmp_path / "plain"))


# ---- arguments -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_arguments_are_typed_tensor_errors(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"m.{fmt}"
    m: Any = trained_small(1)
    save(m, fmt, path)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"naming": "pytorch"}, "naming must be 'typedtensor' or 'torch', got 'pytorch'"),
        ({"strict": "yes"}, "strict must be True or False"),
        ({"cast": 1}, "cast must be True or False"),
        ({"check_finite": None}, "check_finite must be True or False"),
        ({"max_bytes": 0}, "max_bytes must be a positive int or None"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(tt.TypedTensorError, match=fragment):
            load(m, fmt, path, **kwargs)
    for bad_path in [3, b"m.npz", ""]:
        with pytest.raises(tt.TypedTensorError, match=r"path must be a non-empty str or os\.PathLike"):
            load(m, fmt, bad_path)
        with pytest.raises(tt.TypedTensorError, match=r"path must be a non-empty str or os\.PathLike"):
            save(m, fmt, bad_path)
    with pytest.raises(tt.TypedTensorError, match="naming must be"):
        save(m, fmt, path, naming="keras")
    with pytest.raises(FileNotFoundError):
        load(m, fmt, tmp_path / "absent")


def test_missing_safetensors_package_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'typedtensor\[io\]'"):
        Small().save_safetensors(tmp_path / "m.safetensors")
    with pytest.raises(ImportError, match=r"pip install 'typedtensor\[io\]'"):
        Small().load_safetensors(tmp_path / "m.safetensors")
    Small().save_npz(tmp_path / "m.npz")  # npz needs only NumPy


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    trained_small(1).save_npz(path)
    m = Small()
    before = snapshot(m)
    with pytest.raises(tt.CheckpointError, match=r"more than max_bytes=100; if you trust the file, pass a larger"):
        m.load_npz(path, max_bytes=100)
    assert_same(before, snapshot(m))
    m.load_npz(path, max_bytes=1 << 20)
    st_path = tmp_path / "m.safetensors"
    trained_small(1).save_safetensors(st_path)
    with pytest.raises(tt.CheckpointError, match="more than max_bytes=100"):
        m.load_safetensors(st_path, max_bytes=100)


def test_npz_written_by_numpy_savez_compressed_loads(tmp_path: Path) -> None:
    state = trained_small(4).state_dict()
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **state)  # type: ignore[arg-type]
    m = Small()
    m.load_npz(path)
    assert_same({k: v for k, v in snapshot(trained_small(4)).items() if "hparam" not in k}, m.state_dict())
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())


@pytest.mark.parametrize("dtype", FLOATS)
def test_every_float_dtype_round_trips_exactly(tmp_path: Path, dtype: type[Any]) -> None:
    for fmt in FORMATS:
        src = trained_small(3, dtype)
        path = tmp_path / f"m.{fmt}"
        save(src, fmt, path)
        dst = Small(dtype=dtype)
        load(dst, fmt, path)
        assert_same(snapshot(src), snapshot(dst))


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("\n## Saving and loading\n")[1].split("\n## ")[0]
    code = section.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"model": trained_small(1), "fresh": Small()}
    exec(code, namespace)
    assert namespace["report"].metadata["epoch"] == "7"
    assert namespace["fresh"].bn.eps == 1e-3
    assert listing(tmp_path) == ["model.npz", "model.safetensors"]
