"""Atomic replacement of a file: a failure at any point leaves the previous file as it was.

The new content goes to a temporary file in the target's directory (so the rename stays on one file
system; naming, locking and the removal of dead saves' leftovers: ``_temporary``), which is flushed and
fsynced and then renamed over the target with ``os.replace`` (atomic on POSIX). On any exception,
KeyboardInterrupt included, and on SIGTERM (``_signals``), the temporary file is removed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from ..._errors import CheckpointError
from . import _temporary
from ._paths import file_kind, os_errors
from ._signals import sigterm_guard

__all__ = ["atomic_write"]


def atomic_write(path: str, write: Callable[[BinaryIO], None], where: str) -> None:
    """Replace ``path`` (a symbolic link: the file it points to) by what ``write`` writes, atomically.

    ``path`` must be a regular file or not exist (a FIFO, a device or a directory is refused: the rename
    would replace it). A new file gets the permissions ``open`` would give it (0o666 less the umask); a
    replaced one keeps its own. OS errors (missing directory, no permission, disk full) are
    ``CheckpointOSError``s naming ``path``.
    """
    with os_errors(where, path, "save to"):
        mode = _existing_mode(path, where)
        target = os.path.realpath(path)
        directory, name = os.path.split(target)
        with sigterm_guard() as guard:
            _temporary.remove_stale(directory, name)
            tmp = _temporary.create(directory, name)
            try:
                guard.arm()
                with os.fdopen(tmp.fd, "wb", closefd=False) as f:
                    write(f)
                os.fsync(tmp.fd)
                if mode is not None:
                    os.chmod(tmp.fd if os.chmod in os.supports_fd else tmp.path, mode)
                if not tmp.locked:  # Windows cannot rename an open file; nothing to hold without a lock
                    tmp.close()
                os.replace(tmp.path, target)
                tmp.renamed = True
                tmp.close()  # the lock is released only now, the temporary's name gone
                _fsync_directory(directory)
            except BaseException:
                try:
                    guard.disarm()
                finally:
                    tmp.discard()
                raise


def _existing_mode(path: str, where: str) -> int | None:
    """The permission bits of the file at ``path``; None if there is none. Refuses a non-regular file."""
    if path.endswith((os.sep, os.altsep or os.sep)):
        raise CheckpointError(
            f"{where}: {path!r} ends with a path separator, so it names a directory; give the path of a file"
        )
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(
            f"{where}: {path!r} is {file_kind(st.st_mode)}, not a regular file; saving would replace it by one. "
            "Save to the path of a regular file (or of none)"
        )
    return stat.S_IMODE(st.st_mode)


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
