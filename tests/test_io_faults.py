"""Checkpoint saves under faults and odd paths: processes killed or signalled mid-save (SIGKILL,
SIGTERM, SIGINT) and the temporary files they leave, live writers' temporaries left alone, targets
that are not regular files, names of up to NAME_MAX bytes, byte-identical files, bad paths and OS
errors as CheckpointErrors.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.iohelp import FORMATS, Small, listing, load, save, trained_small
from typedtensor.nn._io import _temporary

pytest.importorskip("safetensors.numpy", reason="the io extra: pip install -e '.[io]'")

ROOT = Path(__file__).parent.parent
#: A watchdog on each wait for a child process (never reached when things work: it only avoids a hang).
PATIENCE = 120.0
#: 255 bytes each: ASCII, and two-byte and three-byte UTF-8 characters.
LONG_NAMES = {"ascii": "m" * 251 + ".npz", "utf8-2": "é" * 125 + "m.npz", "utf8-3": "日" * 83 + "mm.npz"}


class Child:
    """``tests.iohelp.blocked_save_main`` in a child process, stopped inside its save."""

    def __init__(self, fmt: str, path: Path, seed: int, handler: str = "default") -> None:
        code = "import sys; from tests.iohelp import blocked_save_main; blocked_save_main(sys.argv[1:])"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, fmt, str(path), str(seed), handler],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.expect("blocked")

    def expect(self, line: str) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], PATIENCE)
        got = self.proc.stdout.readline().strip() if ready else "(nothing)"
        if got != line:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"the child printed {got!r}, expected {line!r}; stderr:\n{err}")

    def go_on(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=PATIENCE)
        return self.proc.returncode, out, err

    def kill(self, signum: int) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        return self.finish()


def temporaries(directory: Path, target: str) -> list[str]:
    """The files next to ``target`` that are not ``target``: its save's temporaries."""
    return [n for n in listing(directory) if n != target]


def weight_of(fmt: str, path: Path) -> Any:
    m = Small()
    load(m, fmt, path)
    return m.fc.weight.numpy()


# ---- point 11: what killed saves leave, and who removes it ------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("npz", "m.ckpt"), ("safetensors", "m.ckpt"), ("npz", LONG_NAMES["utf8-2"])],
    ids=["npz", "safetensors", "npz-name-max"],
)
def test_a_save_killed_by_sigkill_leaves_a_temporary_that_the_next_save_removes(
    tmp_path: Path, fmt: str, name: str
) -> None:
    target = tmp_path / name
    save(trained_small(1), fmt, target)
    code, _, _ = Child(fmt, target, 2).kill(signal.SIGKILL)
    assert code == -signal.SIGKILL
    (left,) = temporaries(tmp_path, name)  # nothing can run on SIGKILL: the temporary stays...
    assert left.startswith(".")
    assert left.endswith(".tmp")
    assert len(os.fsencode(left)) <= 255
    np.testing.assert_array_equal(weight_of(fmt, target), trained_small(1).fc.weight.numpy())
    save(trained_small(3), fmt, target)  # ...until the next save of the same target
    assert listing(tmp_path) == [name]
    np.testing.assert_array_equal(weight_of(fmt, target), trained_small(3).fc.weight.numpy())


def test_a_live_writers_temporary_is_never_removed(tmp_path: Path) -> None:
    fmt, target = "safetensors", tmp_path / "m.ckpt"
    child = Child(fmt, target, 2)  # holds its temporary, alive
    try:
        (theirs,) = temporaries(tmp_path, target.name)
        save(trained_small(1), fmt, target)
        assert temporaries(tmp_path, target.name) == [theirs]
    finally:
        child.go_on()
    code, out, err = child.finish()
    assert (code, out.split()) == (0, ["saved"]), err  # its save completed: it renamed its temporary
    assert listing(tmp_path) == [target.name]
    np.testing.assert_array_equal(weight_of(fmt, target), trained_small(2).fc.weight.numpy())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_save_in_another_thread_keeps_its_temporary(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.ckpt"
    writing, release = threading.Event(), threading.Event()
    real_fsync = os.fsync
    worker_name = "slow-saver"

    def fsync(fd: int) -> None:
        if threading.current_thread().name == worker_name and not writing.is_set():
            writing.set()
            release.wait(PATIENCE)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            save(trained_small(2), fmt, target)
        except BaseException as e:  # reported below
            errors.append(e)

    worker = threading.Thread(target=work, name=worker_name)
    worker.start()
    try:
        assert writing.wait(PATIENCE)
        (theirs,) = temporaries(tmp_path, target.name)
        save(trained_small(1), fmt, target)
        assert temporaries(tmp_path, target.name) == [theirs]
    finally:
        release.set()
        worker.join(PATIENCE)
    assert errors == []
    assert listing(tmp_path) == [target.name]
    np.testing.assert_array_equal(weight_of(fmt, target), trained_small(2).fc.weight.numpy())


def _kill9_leftover(tmp_path: Path, name: str) -> str:
    code, _, _ = Child("npz", tmp_path / name, 2).kill(signal.SIGKILL)
    assert code == -signal.SIGKILL
    (left,) = temporaries(tmp_path, name)
    return left


def test_only_provably_dead_temporaries_of_the_same_target_are_removed(tmp_path: Path) -> None:
    left = _kill9_leftover(tmp_path, "m.npz")
    assert left.startswith(".m.npz~tt")
    assert len(left) == len(".m.npz~tt") + 20 + len(".tmp")
    kept = {
        ".m.npz.0123456789ab.tmp": "written by an earlier version: nothing proves its writer dead",
        ".m.npz~tu" + left[9:]: "written without a lock (a file system without flock)",
        ".m.npz~tt" + "0" * 8 + left[17:]: "written on another machine (its locks may not reach this one)",
        ".other.npz~tt" + left[9:]: "another target's",
        "m.npz.tmp": "not the pattern",
        ".m.npz~tt" + left[9:-4] + "0.tmp": "not the pattern (one digit more)",
    }
    for name in kept:
        (tmp_path / name).write_bytes(b"x")
    held = tmp_path / (left[:-5] + ("0" if left[-5] != "0" else "1") + ".tmp")
    held.write_bytes(b"x")
    locked = os.open(held, os.O_WRONLY)
    fcntl.flock(locked, fcntl.LOCK_EX)  # as a live writer holds it
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    dead_link = tmp_path / (left[:-5] + ("2" if left[-5] != "2" else "3") + ".tmp")
    dead_link.symlink_to(victim)
    try:
        Small().save_npz(tmp_path / "m.npz")
    finally:
        os.close(locked)
    after = set(listing(tmp_path))
    assert left not in after  # SIGKILLed: nobody holds its lock
    assert set(kept) <= after
    assert {held.name, dead_link.name, victim.name, "m.npz"} <= after
    assert victim.read_bytes() == b"keep me"
    Small().save_npz(tmp_path / "m.npz")  # the lock released: now provably dead
    assert held.name not in listing(tmp_path)


@pytest.mark.parametrize("locks", ["refused", "absent"])
def test_without_locks_the_temporary_has_the_pattern_no_save_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks: str
) -> None:
    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    fake = SimpleNamespace(LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB, flock=refuse)
    monkeypatch.setattr(_temporary, "fcntl", fake if locks == "refused" else None)  # None: as on Windows
    seen: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.extend([] if seen else temporaries(tmp_path, "m.npz"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    (tmp_path / ".m.npz~tu0123456789abcdef0123.tmp").write_bytes(b"x")  # never provably dead
    Small().save_npz(tmp_path / "m.npz")
    (written,) = (n for n in seen if n != ".m.npz~tu0123456789abcdef0123.tmp")
    assert written.startswith(".m.npz~tu")
    assert listing(tmp_path) == [".m.npz~tu0123456789abcdef0123.tmp", "m.npz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_sigterm_during_a_save_removes_the_temporary_and_still_kills(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "m.ckpt"
    save(trained_small(1), fmt, target)
    previous = target.read_bytes()
    code, out, err = Child(fmt, target, 2).kill(signal.SIGTERM)
    assert code == -signal.SIGTERM, err  # died by the signal, as without typedtensor
    assert "saved" not in out
    assert listing(tmp_path) == [target.name]
    assert target.read_bytes() == previous


def test_a_programs_own_sigterm_handler_decides(tmp_path: Path) -> None:
    fmt, target = "npz", tmp_path / "m.ckpt"
    child = Child(fmt, target, 2, handler="flag")
    child.proc.send_signal(signal.SIGTERM)
    child.expect("flag")  # the program's handler ran (typedtensor installed none over it)...
    child.go_on()
    code, out, err = child.finish()
    assert (code, out.split()) == (0, ["saved", "kept"]), err  # ...and the save completed
    assert listing(tmp_path) == [target.name]
    np.testing.assert_array_equal(weight_of(fmt, target), trained_small(2).fc.weight.numpy())


def test_sigint_during_a_save_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "m.npz"
    code, _, err = Child("npz", target, 2).kill(signal.SIGINT)
    assert code != 0
    assert "KeyboardInterrupt" in err
    assert listing(tmp_path) == []


def test_the_sigterm_action_is_restored_after_a_save(tmp_path: Path) -> None:
    def mine(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        Small().save_npz(tmp_path / "m.npz")
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        signal.signal(signal.SIGTERM, mine)
        Small().save_npz(tmp_path / "m.npz")
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---- point 12: targets that are not regular files ---------------------------------------------------


@contextmanager
def device_node(tmp_path: Path) -> Generator[Path]:
    """A character device to save over: a copy of /dev/null made here when allowed (as root: never the
    system's own, which a broken save would replace), else the system's /dev/null (unwritable anyway)."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        assert os.geteuid() != 0
        yield Path("/dev/null")
        return
    yield node


@pytest.mark.parametrize("fmt", FORMATS)
def test_saving_over_a_file_that_is_not_regular_is_refused(tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "inside").write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(fifo)
    with device_node(tmp_path) as node:
        cases = [(fifo, "a FIFO"), (directory, "a directory"), (link, "a FIFO"), (node, "a character device")]
        before = listing(tmp_path)
        for path, kind in cases:
            with pytest.raises(tt.CheckpointError, match=f"is {kind}, not a regular file") as info:
                save(trained_small(1), fmt, path)
            assert repr(str(path)) in str(info.value)
            assert listing(tmp_path) == before  # nothing created or replaced
        assert stat.S_ISCHR(os.stat(node).st_mode)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert link.is_symlink()
    assert listing(directory) == ["inside"]


# ---- point 13: names of up to NAME_MAX bytes ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", list(LONG_NAMES))
def test_names_of_name_max_bytes_save_and_load(tmp_path: Path, fmt: str, kind: str) -> None:
    name = LONG_NAMES[kind]
    assert len(os.fsencode(name)) == os.pathconf(tmp_path, "PC_NAME_MAX") == 255
    save(trained_small(1), fmt, tmp_path / name)
    save(trained_small(2), fmt, tmp_path / name)  # over an existing file too
    assert listing(tmp_path) == [name]
    np.testing.assert_array_equal(weight_of(fmt, tmp_path / name), trained_small(2).fc.weight.numpy())


@pytest.mark.parametrize("limit", [64, 48])
def test_the_temporary_fits_the_directorys_name_max(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    name = "é" * ((limit - 4) // 2) + "m" * (limit % 2) + ".npz"
    assert len(os.fsencode(name)) == limit

    def pathconf(path: object, what: object) -> int:  # as a file system with a smaller NAME_MAX
        return limit

    monkeypatch.setattr(os, "pathconf", pathconf)
    seen: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.extend([] if seen else temporaries(tmp_path, name))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    Small().save_npz(tmp_path / name)
    (tmp,) = seen
    assert len(os.fsencode(tmp)) <= limit
    assert tmp.startswith(".é")  # cut at a character (48: 3 bytes left, one "é"), still recognisable
    assert tmp.count("é") == (limit - 45) // 2  # 45: the 28 bytes added, "~" and a 16-digit hash
    assert listing(tmp_path) == [name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_name_too_long_is_an_error_naming_the_target(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / ("m" * 252 + ".npz")  # 256 bytes
    for action in (save, load):
        with pytest.raises(tt.CheckpointError) as info:
            action(trained_small(1), fmt, path)
        assert isinstance(info.value, OSError)
        assert info.value.errno == errno.ENAMETOOLONG
        assert repr(str(path)) in str(info.value)
        assert ".tmp" not in str(info.value)
    assert listing(tmp_path) == []


# ---- point 14: same module, same bytes ---------------------------------------------------------------


def _bytes(fmt: str, m: Small, path: Path) -> bytes:
    save(m, fmt, path)
    return path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_module_gives_the_same_bytes(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    m = trained_small(1)
    first = _bytes(fmt, m, tmp_path / "a")
    assert _bytes(fmt, m, tmp_path / "b") == first
    assert _bytes(fmt, trained_small(1), tmp_path / "c") == first  # an equal module built separately
    later = time.time() + 3 * 365 * 86400  # a save years later (zip members carry a date)
    gmtime = time.gmtime

    def localtime(seconds: float | None = None) -> time.struct_time:
        return gmtime(later)

    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", localtime)
    assert _bytes(fmt, m, tmp_path / "d") == first
    assert _bytes(fmt, trained_small(2), tmp_path / "e") != first
    if fmt == "npz":
        with zipfile.ZipFile(tmp_path / "a") as zf:
            assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_processes_with_different_hash_seeds_write_the_same_bytes(tmp_path: Path) -> None:
    code = (
        "import sys; from tests.iohelp import save, trained_small\n"
        "for fmt in ('npz', 'safetensors'): save(trained_small(1), fmt, sys.argv[1] + '.' + fmt)"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / seed)], cwd=ROOT, env=env, check=True)
    for fmt in FORMATS:
        ours = _bytes(fmt, trained_small(1), tmp_path / f"here.{fmt}")
        assert (tmp_path / f"1.{fmt}").read_bytes() == (tmp_path / f"2.{fmt}").read_bytes() == ours


# ---- point 15: bad paths and OS errors ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_paths_are_typed_tensor_errors(tmp_path: Path, fmt: str) -> None:
    good = tmp_path / "m.ckpt"
    save(trained_small(1), fmt, good)
    bad: list[tuple[object, str]] = [
        (str(tmp_path / "m\0.ckpt"), "contains a NUL byte"),
        (tmp_path / "m\0.ckpt", "contains a NUL byte"),
        (str(tmp_path / "m\ud800.ckpt"), "cannot be encoded"),
        (os.fsencode(good), "must be a non-empty str or os.PathLike"),
        ("", "must be a non-empty str or os.PathLike"),
        (None, "must be a non-empty str or os.PathLike"),
        (BadPathLike(), "must be a non-empty str or os.PathLike"),
    ]
    for path, fragment in bad:
        for action in (save, load):
            with pytest.raises(tt.TypedTensorError, match=fragment):
                action(Small(), fmt, path)
    assert listing(tmp_path) == ["m.ckpt"]
    with pytest.raises(tt.CheckpointError, match="ends with a path separator"):
        save(Small(), fmt, str(tmp_path / "new") + os.sep)
    assert listing(tmp_path) == ["m.ckpt"]


class BadPathLike:
    """An os.PathLike whose __fspath__ returns neither str nor bytes."""

    def __fspath__(self) -> Any:
        return 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_os_errors_are_checkpoint_errors_that_keep_the_os_error(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    cases: list[tuple[Any, Path, type[OSError], int, str]] = [
        (save, tmp_path / "no-such-dir" / "m", FileNotFoundError, errno.ENOENT, "does not exist"),
        (load, tmp_path / "no-such-dir" / "m", FileNotFoundError, errno.ENOENT, "No such file"),
        (load, tmp_path / "absent", FileNotFoundError, errno.ENOENT, "No such file"),
        (save, tmp_path / "file" / "m", NotADirectoryError, errno.ENOTDIR, "Not a directory"),
        (load, tmp_path / "file" / "m", NotADirectoryError, errno.ENOTDIR, "Not a directory"),
        (save, tmp_path / "loop", OSError, errno.ELOOP, "symbolic links"),
        (load, tmp_path / "loop", OSError, errno.ELOOP, "symbolic links"),
    ]
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases.append((save, locked / "m", PermissionError, errno.EACCES, "Permission denied"))
    for action, path, os_class, code, fragment in cases:
        with pytest.raises(tt.CheckpointError) as info:
            action(Small(), fmt, path)
        e = info.value
        assert isinstance(e, os_class), (path, e)
        assert e.errno == code, (path, e)
        assert isinstance(e.__cause__, OSError)
        assert e.__cause__.errno == code
        assert fragment in str(e), str(e)
        assert repr(str(path)) in str(e)
        assert ".tmp" not in str(e)
        assert e.filename == str(path)
    assert listing(tmp_path) == ["file", "loop"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_write_error_is_a_checkpoint_error_and_leaves_nothing(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.ckpt"
    save(trained_small(1), fmt, target)
    previous = target.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(tt.CheckpointError, match="No space left on device") as info:
        save(trained_small(2), fmt, target)
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOSPC
    assert ".tmp" not in str(info.value)
    monkeypatch.undo()
    assert listing(tmp_path) == [target.name]
    assert target.read_bytes() == previous
