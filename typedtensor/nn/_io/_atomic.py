"""Atomic replacement of a file: a failure at any point leaves the previous file as it was.

The new content goes to a temporary file in the target's directory (so the rename stays on one file
system), which is flushed and fsynced and then renamed over the target with ``os.replace`` (atomic on
POSIX). On any exception, KeyboardInterrupt included, the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["atomic_write"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Replace ``path`` (a symbolic link: the file it points to) by what ``write`` writes, atomically.

    A new file gets the permissions ``open`` would give it (0o666 less the umask); a replaced one keeps
    its own. OS errors (missing directory, no permission, disk full) propagate unchanged.
    """
    target = os.path.realpath(path)
    directory, name = os.path.split(target)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    tmp, fd = _create_temporary(directory, name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _create_temporary(directory: str, name: str) -> tuple[str, int]:
    """A new, exclusively created file ``.<name>.<random>.tmp`` next to the target, and its descriptor."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {os.path.join(directory, name)!r}")


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (best effort: some systems cannot open or fsync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
