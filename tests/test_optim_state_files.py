"""Refusals of an optimizer's state and files: every mistake is a TypedTensorError of its own class saying what
was expected, and changes nothing (mappings and hostile files: another optimizer, another model, other groups,
truncated, wrong dtypes, extra and missing keys, oversized headers); saves are atomic (SIGKILL mid-save, a
write error) as module checkpoints are."""

from __future__ import annotations

import errno
import functools
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.iohelp import listing
from tests.test_optim_state import CASES, Net, run, setup, snapshot
from typedtensor import extend as ext
from typedtensor.nn._io import _checkpoint as ck
from typedtensor.nn._io import _npz, _safetensors
from typedtensor.optim import SGD, Adam, AdamW, Optimizer, OptimizerError, ParamGroup, lr_scheduler

safetensors_numpy: Any = pytest.importorskip("safetensors.numpy", reason="the io extra: pip install -e '.[io]'")

ROOT = Path(__file__).parent.parent
FORMATS = ("npz", "safetensors")
Array = NDArray[Any]
Parts = tuple[Net, Optimizer[Any], lr_scheduler.LRScheduler | None]
PATIENCE = 120.0


def trained(case_index: int = 5, steps: int = 3) -> Parts:
    """Adam with groups and a OneCycleLR (case 5) after a few steps: every kind of entry."""
    parts = setup(CASES[case_index])
    run(CASES[case_index], 0, steps, parts)
    return parts


def fresh(case_index: int = 5) -> Parts:
    parts = setup(CASES[case_index])
    run(CASES[case_index], 0, 1, parts)  # some state of its own, so that "unchanged" means something
    return parts


def refused(
    parts: Parts, load: Callable[[], object], error: type[Exception], match: str
) -> pytest.ExceptionInfo[Exception]:
    """``load()`` raises ``error`` matching ``match`` and leaves the optimizer and scheduler as they were."""
    before = snapshot(parts)
    with pytest.raises(error, match=match) as info:
        load()
    assert isinstance(info.value, tt.TypedTensorError)
    assert snapshot(parts) == before
    return info


def edited(state: dict[str, object], **changes: object) -> dict[str, object]:
    """``state`` with entries replaced (``None``: removed); keys with dots as ``__``."""
    out = dict(state)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


# ---- mappings ------------------------------------------------------------------------------------


def test_a_state_that_is_not_a_mapping_is_refused() -> None:
    parts = fresh()
    refused(parts, lambda: parts[1].load_state_dict(cast("Any", [1, 2])), tt.CheckpointError, "needs the mapping")
    refused(parts, lambda: parts[1].load_state_dict(cast("Any", {1: 2})), tt.CheckpointError, "keys must be strs")


def test_another_optimizers_state_is_refused() -> None:
    adam, sgd = trained(5), fresh(4)
    state = adam[1].state_dict()
    refused(sgd, lambda: sgd[1].load_state_dict(state), tt.CheckpointError, "saved by 'Adam', this optimizer is SGD")
    model = Net()
    adamw = AdamW(model, lr=0.01, groups=[ParamGroup(lambda n, p: p.ndim < 2, lr_scale=0.5, weight_decay=0.0)])
    parts: Parts = (model, adamw, None)
    refused(parts, lambda: adamw.load_state_dict(state), tt.CheckpointError, "saved by 'Adam', this optimizer is AdamW")
    refused(parts, lambda: adamw.load_state_dict({"lr": 1.0}), tt.CheckpointError, "not an optimizer's state")
    # a type entry that is not a str (NumPy's ambiguous truth value escaped; one element was taken as a match)
    for kind in (np.array(["SGD", "SGD"]), np.array(["SGD"])):
        bad: dict[str, object] = {**fresh(4)[1].state_dict(), "type": kind}
        refused(sgd, functools.partial(sgd[1].load_state_dict, bad), tt.CheckpointError, "saved by")


class Wide(tt.nn.Module):
    def __init__(self, dtype: type[Any] = np.float32) -> None:
        self.fc1 = tt.nn.Linear(4, 7, seed=0, dtype=dtype)
        self.bn = tt.nn.BatchNorm1D(7, dtype=dtype)
        self.fc2 = tt.nn.Linear(7, 3, seed=1, dtype=dtype)


def test_the_state_of_another_model_is_refused() -> None:
    state = trained(5)[1].state_dict()
    groups = [ParamGroup(lambda n, p: p.ndim < 2, lr_scale=0.5, weight_decay=0.0)]
    for model, match in (
        (Wide(), r"'fc1.weight' is float32 of shape \(6, 4\) in the state, float32 of shape \(7, 4\) here"),
        (Net(np.float64), r"is float32 of shape \(6, 4\) in the state, float64 of shape \(6, 4\) here"),
        (tt.nn.Linear(4, 6, seed=0), r"missing \['weight', 'bias'\], unexpected \['fc1.weight'"),
    ):
        opt = Adam(model, lr=0.01, eps=1e-4, groups=groups)
        parts = cast("Parts", (model, opt, None))
        info = refused(parts, functools.partial(opt.load_state_dict, state), tt.CheckpointError, match)
        assert "build the Adam on the model the state was saved with" in str(info.value)


def test_other_groups_or_frozen_parameters_are_refused() -> None:
    """They are how the optimizer was built (like a module's structure), not restored: a resumed run keeps its recipe."""
    state = trained(5)[1].state_dict()
    model = Net()
    other = Adam(model, lr=0.01, eps=1e-4, groups=[ParamGroup(lambda n, p: p.ndim < 2, lr_scale=0.25)])
    parts: Parts = (model, other, None)
    refused(parts, lambda: other.load_state_dict(state), tt.CheckpointError, "parameter groups differ.*'bn.bias'")
    model2 = Net()
    ungrouped = Adam(model2, lr=0.01, eps=1e-4)
    refused((model2, ungrouped, None), lambda: ungrouped.load_state_dict(state), tt.CheckpointError, "groups differ")
    frozen_state = trained(2)[1].state_dict()  # Adam frozen=[fc1]
    model3 = Net()
    thawed = Adam(model3, lr=0.01, eps=1e-4, amsgrad=True)
    refused(
        (model3, thawed, None),
        lambda: thawed.load_state_dict(frozen_state),
        tt.CheckpointError,
        r"frozen parameters are \('fc1.weight', 'fc1.bias'\), this Adam's \(\)",
    )


def test_missing_and_unexpected_entries_are_refused() -> None:
    parts = fresh()
    state = trained(5)[1].state_dict(scheduler=None)
    opt = parts[1]
    for changes, error, match in (
        ({"hparams__eps": None}, tt.CheckpointError, r"missing keys \['hparams.eps'\]"),
        ({"extra": 1}, tt.CheckpointError, r"unexpected keys \['extra'\]"),
        ({"steps": None}, tt.CheckpointError, r"missing keys \['steps'\]"),
        ({"state__fc1__weight__exp_avg_sq": None}, tt.CheckpointError, r"'fc1.weight' lacks \['exp_avg_sq'\]"),
        ({"state__fc1__weight__nope": np.zeros((6, 4), np.float32)}, tt.CheckpointError, "unexpected key"),
        ({"state__fc9__weight__exp_avg": np.zeros((6, 4), np.float32)}, tt.CheckpointError, "no parameter or state"),
        ({"param__fc9__weight": ((6, 4), "float32")}, tt.CheckpointError, r"unexpected \['fc9.weight'\]"),
    ):
        bad = edited(state, **changes)
        refused(parts, functools.partial(opt.load_state_dict, bad), error, match)


def test_a_state_for_a_frozen_parameter_is_refused() -> None:
    parts = fresh(2)  # Adam frozen=[fc1]
    state = trained(2)[1].state_dict()
    bad = edited(state, state__fc1__weight__step=3, state__fc1__weight__exp_avg=np.zeros((6, 4), np.float32))
    refused(parts, lambda: parts[1].load_state_dict(bad), tt.CheckpointError, "a frozen parameter has no state")


def test_bad_state_values_are_refused_each_with_its_class() -> None:
    parts = fresh()
    state = trained(5)[1].state_dict()
    opt = parts[1]
    k = "state__fc1__weight__"
    good = cast("Array", state["state.fc1.weight.exp_avg"])
    for changes, error, match in (
        ({k + "exp_avg": good.astype(np.float64)}, tt.DTypeError, "has dtype float64, its parameter float32"),
        ({k + "exp_avg": good.T}, tt.ShapeError, r"has shape \(4, 6\), its parameter \(6, 4\)"),
        ({k + "exp_avg": good.tolist()}, tt.CheckpointError, "must be a NumPy array"),
        ({k + "exp_avg": np.full_like(good, np.nan)}, tt.CheckpointError, "NaN or infinite"),
        ({k + "exp_avg_sq": -np.ones_like(good)}, tt.CheckpointError, "negative values in exp_avg_sq"),
        ({k + "step": -1}, tt.DTypeError, "must be a non-negative int"),
        ({k + "step": 2.0}, tt.DTypeError, "must be a non-negative int"),
        ({k + "step": True}, tt.DTypeError, "must be a non-negative int"),
        ({k + "step": np.array(2.0)}, tt.DTypeError, "must be a non-negative int"),
        ({k + "step": 0}, tt.CheckpointError, "has step 0"),
        ({"steps": -3}, tt.CheckpointError, "steps must be a non-negative int"),
        ({"steps": "3"}, tt.CheckpointError, "steps must be a non-negative int"),
    ):
        bad = edited(state, **changes)
        refused(parts, functools.partial(opt.load_state_dict, bad), error, match)
    ok = edited(state, **{k + "step": np.array(3, dtype=np.int32)})  # an integer array is a count
    opt.load_state_dict(ok)
    assert opt.state_dict()["state.fc1.weight.step"] == 3


def test_refused_hyper_parameters_change_nothing() -> None:
    parts = fresh()
    state = trained(5)[1].state_dict()
    for changes, match in (
        ({"hparams__lr": -1.0}, "hyper-parameters are refused.*lr must be >= 0"),
        ({"hparams__lr": "fast"}, "hyper-parameters are refused.*lr"),
        ({"hparams__betas": (1.5, 0.9)}, r"betas\[0\] must be in \[0, 1\)"),
        ({"hparams__amsgrad": 1}, "amsgrad must be True or False"),
    ):
        bad = edited(state, **changes)
        refused(parts, functools.partial(parts[1].load_state_dict, bad), tt.CheckpointError, match)
    sgd = fresh(0)
    sgd_state = trained(0)[1].state_dict()
    bad = edited(sgd_state, hparams__nesterov=True)  # with dampening 0.1: refused by SGD's own check
    refused(sgd, lambda: sgd[1].load_state_dict(bad), tt.CheckpointError, "Nesterov momentum requires")


def test_scheduler_mismatches_are_refused_and_change_nothing() -> None:
    saved = trained(5)
    with_sched = saved[1].state_dict(scheduler=saved[2])
    without = saved[1].state_dict()
    parts = fresh(5)
    opt, sched = parts[1], parts[2]
    refused(
        parts, lambda: opt.load_state_dict(with_sched), tt.CheckpointError, "position of a 'OneCycleLR'.*scheduler="
    )
    refused(parts, lambda: opt.load_state_dict(without, scheduler=sched), tt.CheckpointError, "holds no scheduler")
    other = lr_scheduler.OneCycleLR(opt, max_lr=0.07, total_steps=9)
    # the scheduler's own refusal comes before anything of the optimizer is written
    refused(parts, lambda: opt.load_state_dict(with_sched, scheduler=other), tt.CheckpointError, "max_lr")
    elsewhere = fresh(5)
    assert elsewhere[2] is not None
    refused(
        parts,
        lambda: opt.load_state_dict(with_sched, scheduler=elsewhere[2]),
        OptimizerError,
        "schedules another optimizer",
    )
    refused(
        parts, lambda: opt.load_state_dict(with_sched, scheduler=cast("Any", "x")), OptimizerError, "scheduler must be"
    )
    with pytest.raises(OptimizerError, match="schedules another optimizer"):
        opt.state_dict(scheduler=elsewhere[2])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hyper_parameter_set_by_hand_is_checked_when_saved(tmp_path: Path, fmt: str) -> None:
    """A file that could not be loaded back is never written."""
    parts = trained()
    parts[1].lr = -0.5
    with pytest.raises(OptimizerError, match="lr must be >= 0"):
        parts[1].state_dict()
    with pytest.raises(OptimizerError, match="lr must be >= 0"):
        save_opt(parts, fmt, path_of(tmp_path, fmt))
    assert listing(tmp_path) == []


# ---- files ---------------------------------------------------------------------------------------


def path_of(directory: Path, fmt: str) -> Path:
    return directory / f"opt.{'npz' if fmt == 'npz' else 'safetensors'}"


def save_opt(parts: Parts, fmt: str, path: Path) -> None:
    opt, sched = parts[1], parts[2]
    if fmt == "npz":
        opt.save_npz(path, scheduler=sched)
    else:
        opt.save_safetensors(path, scheduler=sched)


def load_opt(parts: Parts, fmt: str, path: Path, **kwargs: Any) -> None:
    opt, sched = parts[1], parts[2]
    if fmt == "npz":
        opt.load_npz(path, scheduler=sched, **kwargs)
    else:
        opt.load_safetensors(path, scheduler=sched, **kwargs)


def contents(fmt: str, path: Path) -> tuple[dict[str, Array], dict[str, str]]:
    """A file's tensors and metadata, read with the plain libraries."""
    if fmt == "npz":
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("__metadata__")))
        return arrays, meta
    from safetensors import safe_open

    arrays = cast("dict[str, Array]", safetensors_numpy.load_file(str(path)))
    with cast("Any", safe_open(str(path), framework="numpy")) as f:
        meta = cast("dict[str, str]", dict(f.metadata()))
    return arrays, meta


def write(fmt: str, path: Path, arrays: dict[str, Array], meta: dict[str, str]) -> None:
    """A crafted file, written as the library writes its own."""
    opts = ck.options("craft", str(path), "typedtensor")
    (_npz if fmt == "npz" else _safetensors).write(opts, arrays, meta)


def crafted(
    tmp_path: Path, fmt: str, edit: Callable[[dict[str, Array], dict[str, str]], None], case_index: int = 5
) -> Path:
    path = path_of(tmp_path, fmt)
    save_opt(trained(case_index), fmt, path)
    arrays, meta = contents(fmt, path)
    edit(arrays, meta)
    write(fmt, path, arrays, meta)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_file_is_refused(tmp_path: Path, fmt: str) -> None:
    path = path_of(tmp_path, fmt)
    save_opt(trained(), fmt, path)
    data = path.read_bytes()
    parts = fresh()
    for size in (0, 7, 100, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:size])
        refused(parts, lambda: load_opt(parts, fmt, path), tt.CheckpointError, "truncated|not a valid|too few")
    path.write_bytes(data)
    load_opt(parts, fmt, path)  # the whole file loads


def _set(key: str, value: Array) -> Callable[[dict[str, Array], dict[str, str]], None]:
    def edit(arrays: dict[str, Array], meta: dict[str, str]) -> None:
        arrays[key] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Array], dict[str, str]], None]:
    def edit(arrays: dict[str, Array], meta: dict[str, str]) -> None:
        arrays.pop(key, None)
        meta.pop(key, None)

    return edit


def _meta(key: str, text: str) -> Callable[[dict[str, Array], dict[str, str]], None]:
    def edit(arrays: dict[str, Array], meta: dict[str, str]) -> None:
        meta[key] = text

    return edit


EXP_AVG = "state.fc1.weight.exp_avg"
HOSTILE: tuple[tuple[str, Callable[[dict[str, Array], dict[str, str]], None], type[Exception], str], ...] = (
    ("wrong_dtype", _set(EXP_AVG, np.zeros((6, 4), np.float64)), tt.DTypeError, "dtype float64, its parameter float32"),
    ("same_size_dtype", _set(EXP_AVG, np.zeros((6, 4), np.int32)), tt.DTypeError, "dtype int32"),
    ("wrong_shape", _set(EXP_AVG, np.zeros((4, 6), np.float32)), tt.ShapeError, r"shape \(4, 6\)"),
    ("step_as_float", _set("state.fc1.weight.step", np.array(3.0)), tt.DTypeError, "must be an integer scalar"),
    ("step_negative", _set("state.fc1.weight.step", np.array(-3)), tt.DTypeError, "non-negative int"),
    ("nan", _set(EXP_AVG, np.full((6, 4), np.nan, np.float32)), tt.CheckpointError, "NaN or infinite"),
    ("extra_tensor", _set("extra", np.zeros(3, np.float32)), tt.CheckpointError, "unexpected key 'extra'"),
    ("missing_tensor", _drop("state.fc1.weight.exp_avg_sq"), tt.CheckpointError, r"lacks \['exp_avg_sq'\]"),
    ("missing_meta", _drop("typedtensor.optim.hparams.lr"), tt.CheckpointError, r"missing keys \['hparams.lr'\]"),
    ("extra_meta", _meta("typedtensor.optim.extra", "1"), tt.CheckpointError, r"unexpected keys \['extra'\]"),
    ("bad_json", _meta("typedtensor.optim.hparams.lr", "{oops"), tt.CheckpointError, "not valid JSON"),
    ("nan_json", _meta("typedtensor.optim.hparams.lr", "NaN"), tt.CheckpointError, "not valid JSON"),
    ("bad_lr", _meta("typedtensor.optim.hparams.lr", "-1"), tt.CheckpointError, "lr must be >= 0"),
    ("smuggled_state", _meta("typedtensor.optim.state.fc1.weight.step", "3"), tt.CheckpointError, "in its metadata"),
    ("other_type", _meta("typedtensor.optim.type", '"SGD"'), tt.CheckpointError, "saved by 'SGD'"),
    ("object_layout", _meta("typedtensor.optim.param.fc1.weight", '{"a": 1}'), tt.CheckpointError, "not a plain"),
)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "edit", "error", "match"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_and_change_nothing(
    tmp_path: Path,
    fmt: str,
    name: str,
    edit: Callable[[dict[str, Array], dict[str, str]], None],
    error: type[Exception],
    match: str,
) -> None:
    path = crafted(tmp_path, fmt, edit)
    parts = fresh()
    refused(parts, lambda: load_opt(parts, fmt, path), error, match)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_adam_file_into_sgd_and_model_files_are_refused(tmp_path: Path, fmt: str) -> None:
    path = path_of(tmp_path, fmt)
    save_opt(trained(), fmt, path)
    sgd = fresh(4)
    refused(sgd, lambda: load_opt(sgd, fmt, path), tt.CheckpointError, "saved by 'Adam', this optimizer is SGD")
    model_file = tmp_path / f"model.{fmt}"
    parts = fresh()
    if fmt == "npz":
        parts[0].save_npz(model_file)
    else:
        parts[0].save_safetensors(model_file)
    refused(
        parts, lambda: load_opt(parts, fmt, model_file), tt.CheckpointError, "checkpoint of a .*Net.*not an optimizer"
    )
    model = Net()
    with pytest.raises(tt.CheckpointError, match="does not fit the module"):  # and the other way round
        model.load_npz(path) if fmt == "npz" else model.load_safetensors(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_file_of_another_model_is_refused(tmp_path: Path, fmt: str) -> None:
    path = path_of(tmp_path, fmt)
    save_opt(trained(), fmt, path)
    model = Wide()
    opt = Adam(model, lr=0.01, eps=1e-4, groups=[ParamGroup(lambda n, p: p.ndim < 2, lr_scale=0.5, weight_decay=0.0)])
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=9, pct_start=0.4)
    parts = cast("Parts", (model, opt, sched))
    refused(parts, lambda: load_opt(parts, fmt, path), tt.CheckpointError, "built for other parameters")


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_bytes_bounds_the_file(tmp_path: Path, fmt: str) -> None:
    path = path_of(tmp_path, fmt)
    save_opt(trained(), fmt, path)
    parts = fresh()
    refused(parts, lambda: load_opt(parts, fmt, path, max_bytes=100), tt.CheckpointError, "more than max_bytes=100")
    load_opt(parts, fmt, path, max_bytes=path.stat().st_size)


def test_a_huge_safetensors_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "opt.safetensors"
    path.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    parts = fresh()
    refused(parts, lambda: load_opt(parts, "safetensors", path), tt.CheckpointError, "declares a 1099511627776-byte")
    path.write_bytes((32 << 20).to_bytes(8, "little") + b" " * (32 << 20))
    refused(parts, lambda: load_opt(parts, "safetensors", path), tt.CheckpointError, "more than the 16777216")


def test_a_huge_npz_metadata_member_is_refused(tmp_path: Path) -> None:
    path = crafted(tmp_path, "npz", _meta("pad", "x" * (17 << 20)))
    parts = fresh()
    refused(parts, lambda: load_opt(parts, "npz", path), tt.CheckpointError, "__metadata__.*more than")


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_paths_and_missing_files_are_checkpoint_errors(tmp_path: Path, fmt: str) -> None:
    parts = fresh()
    refused(parts, lambda: load_opt(parts, fmt, tmp_path / "none"), FileNotFoundError, "none")
    refused(parts, lambda: load_opt(parts, fmt, cast("Any", 3)), tt.TypedTensorError, "path must be")
    refused(parts, lambda: load_opt(parts, fmt, tmp_path), tt.CheckpointError, "not a regular file|directory")
    with pytest.raises(tt.TypedTensorError, match="path must be"):
        save_opt(parts, fmt, cast("Any", b"x"))
    refused(parts, lambda: load_opt(parts, fmt, tmp_path / "none", max_bytes=0), tt.TypedTensorError, "max_bytes")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_scheduler_of_a_file_must_be_passed_and_match(tmp_path: Path, fmt: str) -> None:
    path = path_of(tmp_path, fmt)
    save_opt(trained(), fmt, path)
    parts = fresh()
    opt = parts[1]
    bare = (parts[0], opt, None)
    refused(parts, lambda: load_opt(bare, fmt, path), tt.CheckpointError, "pass that scheduler")
    other = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=12, pct_start=0.4)
    refused(parts, lambda: load_opt((parts[0], opt, other), fmt, path), tt.CheckpointError, "total_steps")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_state_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    save_opt(trained(), fmt, a)
    save_opt(trained(), fmt, b)
    assert a.read_bytes() == b.read_bytes()


# ---- atomicity -----------------------------------------------------------------------------------


def blocked_save_main(argv: list[str]) -> None:
    """The child process: saves a trained optimizer (``steps`` steps) to ``path`` and stops in its first fsync
    (prints ``blocked``, waits for a line on stdin), so that the parent can kill it mid-save."""
    fmt, path, steps = argv
    parts = trained(5, int(steps))
    real_fsync = os.fsync
    blocked: list[bool] = []

    def fsync(fd: Any) -> None:
        if not blocked:
            blocked.append(True)
            print("blocked", flush=True)
            sys.stdin.readline()
        real_fsync(fd)

    os.fsync = fsync
    save_opt(parts, fmt, Path(path))
    print("saved", flush=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_save_killed_by_sigkill_leaves_the_previous_file(tmp_path: Path, fmt: str) -> None:
    target = path_of(tmp_path, fmt)
    save_opt(trained(5, 2), fmt, target)
    previous = target.read_bytes()
    code = "import sys; from tests.test_optim_state_files import blocked_save_main; blocked_save_main(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, fmt, str(target), "4"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], PATIENCE)
        assert ready
        assert proc.stdout.readline().strip() == "blocked"
        assert len(listing(tmp_path)) == 2  # the temporary file, written, not yet renamed
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == previous  # the old file, whole
    parts = fresh()
    load_opt(parts, fmt, target)
    assert parts[1].steps == 2
    save_opt(trained(5, 3), fmt, target)  # the next save removes the dead save's temporary
    assert listing(tmp_path) == [target.name]
    load_opt(parts, fmt, target)
    assert parts[1].steps == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_write_error_is_a_checkpoint_error_and_leaves_the_previous_file(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = path_of(tmp_path, fmt)
    save_opt(trained(5, 2), fmt, target)
    previous = target.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    parts = trained(5, 3)
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(tt.CheckpointError, match="No space left on device") as info:
        save_opt(parts, fmt, target)
    monkeypatch.undo()
    assert isinstance(info.value, OSError)
    assert listing(tmp_path) == [target.name]
    assert target.read_bytes() == previous


def test_an_optimizer_without_a_state_dataclass_says_so() -> None:
    class Plain(Optimizer[Any]):
        def __init__(self, model: tt.nn.Module) -> None:
            self.lr = 0.1
            super().__init__(model)

        def _validate(self) -> None:
            pass

        def _step(self, param: Array, grad: Array, state: Any) -> tuple[Array, Any]:
            return param - self.lr * grad, None

    opt = Plain(Net())
    with pytest.raises(OptimizerError, match="state class is unknown"):
        opt.state_dict()
    assert isinstance(SGD(Net(), lr=0.1).state_dict(), dict)


@dataclass(frozen=True)
class SignState:
    """A user optimizer's state: a count and a lazily created running sign."""

    count: int
    sign: Array | None


class SignSGD(Optimizer[SignState]):
    """An optimizer written against the base class alone: it gets state_dict and the files."""

    hparam_names = ("lr", "average")

    def __init__(self, model: tt.nn.Module, lr: float, average: bool = False) -> None:
        self.lr = lr
        self.average = average
        super().__init__(model)

    def _validate(self) -> None:
        self.lr = ext.options.non_negative(self.lr, "lr", "SignSGD", error=OptimizerError)
        self.average = ext.options.flag(self.average, "average", "SignSGD", error=OptimizerError)

    def _step(self, param: Array, grad: Array, state: SignState | None) -> tuple[Array, SignState]:
        count = 1 if state is None else state.count + 1
        sign = np.sign(grad)
        if self.average:
            sign = sign if state is None or state.sign is None else (state.sign + sign) / 2
        return param - self.lr * sign, SignState(count, sign if self.average else None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_user_optimizer_gets_state_files_from_the_base_class(tmp_path: Path, fmt: str) -> None:
    def parts() -> Parts:
        m = Net()
        return m, SignSGD(m, lr=0.01), None

    straight, first = parts(), parts()
    for p in (straight, first):
        run(CASES[0], 0, 2, p)
        cast("SignSGD", p[1]).average = True
        run(CASES[0], 2, 3, p)
    path = path_of(tmp_path, fmt)
    save_opt(first, fmt, path)
    first[0].save_npz(tmp_path / "model.npz")
    resumed = parts()
    resumed[0].load_npz(tmp_path / "model.npz")
    load_opt(resumed, fmt, path)
    assert snapshot(resumed) == snapshot(first)
    assert resumed[1].state_dict()["state.fc1.weight.count"] == 3
    run(CASES[0], 3, 6, straight)
    run(CASES[0], 3, 6, resumed)
    assert snapshot(resumed) == snapshot(straight)
    adam = fresh(2)
    refused(adam, lambda: load_opt(adam, fmt, path), tt.CheckpointError, "saved by 'SignSGD'")
