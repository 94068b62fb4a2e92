"""Paths of checkpoint files: the argument checked, and OS errors as CheckpointErrors.

An ``OSError`` raised while a checkpoint is opened, written or renamed becomes a ``CheckpointError``
that is also an instance of the OSError's own class (``FileNotFoundError``, ``PermissionError``...),
with its ``errno`` and ``strerror``, the path the caller gave as ``filename`` and the original error
as ``__cause__``: ``except tt.TypedTensorError`` and ``except FileNotFoundError`` both catch it, and
its message names the caller's file, never a temporary one.
"""

from __future__ import annotations

import contextlib
import errno as errnos
import os
import stat
from collections.abc import Generator
from typing import cast

from ..._errors import CheckpointError, TypedTensorError

__all__ = ["CheckpointOSError", "checked_path", "file_kind", "os_errors"]


def checked_path(path: object, where: str) -> str:
    """``path`` as a str the OS accepts, or a TypedTensorError saying why not."""
    p: object = path
    if isinstance(path, os.PathLike):
        try:
            p = cast("object", os.fspath(cast("os.PathLike[str]", path)))
        except TypeError:  # its __fspath__ returned neither str nor bytes
            p = None
    if not isinstance(p, str) or not p:
        raise TypedTensorError(f"{where}: path must be a non-empty str or os.PathLike[str], got {path!r}")
    if "\0" in p:
        raise TypedTensorError(f"{where}: path {p!r} contains a NUL byte, which no file name may hold")
    try:
        os.fsencode(p)
    except UnicodeEncodeError as e:
        raise TypedTensorError(
            f"{where}: path {p!r} cannot be encoded as a file name ({e.reason}); it holds a lone surrogate"
        ) from None
    return p


def file_kind(mode: int) -> str:
    """What a file that is not regular is, for messages (``a FIFO``)."""
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class CheckpointOSError(CheckpointError, OSError):
    """An OS error on a checkpoint file; the subclasses below are also the OSError subclass of the same name."""

    def __init__(self, message: str, code: int | None = None, strerror: str | None = None, filename: str = "") -> None:
        super().__init__(message)
        self.errno = code
        self.strerror = strerror
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[CheckpointOSError], tuple[str, int | None, str | None, str]]:
        return type(self), (str(self.args[0]), self.errno, self.strerror, str(self.filename))


class CheckpointFileNotFoundError(CheckpointOSError, FileNotFoundError):
    """See ``CheckpointOSError``."""


class CheckpointFileExistsError(CheckpointOSError, FileExistsError):
    """See ``CheckpointOSError``."""


class CheckpointPermissionError(CheckpointOSError, PermissionError):
    """See ``CheckpointOSError``."""


class CheckpointIsADirectoryError(CheckpointOSError, IsADirectoryError):
    """See ``CheckpointOSError``."""


class CheckpointNotADirectoryError(CheckpointOSError, NotADirectoryError):
    """See ``CheckpointOSError``."""


class CheckpointTimeoutError(CheckpointOSError, TimeoutError):
    """See ``CheckpointOSError``."""


_CLASSES: dict[type[OSError], type[CheckpointOSError]] = {
    FileNotFoundError: CheckpointFileNotFoundError,
    FileExistsError: CheckpointFileExistsError,
    PermissionError: CheckpointPermissionError,
    IsADirectoryError: CheckpointIsADirectoryError,
    NotADirectoryError: CheckpointNotADirectoryError,
    TimeoutError: CheckpointTimeoutError,
}

_HINTS = {
    errnos.ENAMETOOLONG: "the name (or the whole path) is longer than this file system accepts",
    errnos.ENOSPC: "the device is full",
    errnos.EDQUOT: "the disk quota is exhausted",
    errnos.EROFS: "the file system is read-only",
}


@contextlib.contextmanager
def os_errors(where: str, path: str, doing: str) -> Generator[None]:
    """An OSError raised inside as a ``CheckpointOSError`` naming ``path`` (``doing``: "save to", "load")."""
    try:
        yield
    except TypedTensorError:
        raise
    except OSError as e:
        cls = next((c for base, c in _CLASSES.items() if isinstance(e, base)), CheckpointOSError)
        reason = e.strerror or str(e)
        hint = _HINTS.get(e.errno) if e.errno is not None else None
        if e.errno == errnos.ENOENT and doing != "load":
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                hint = f"its directory {directory!r} does not exist; create it first"
        text = f"{where}: cannot {doing} {path!r}: {reason}" + (f" ({hint})" if hint else "")
        if doing != "load" and e.errno not in (errnos.ENOENT, errnos.ENOTDIR, errnos.ELOOP, errnos.ENAMETOOLONG):
            text += "; a file already there is unchanged"
        raise cls(text, e.errno, e.strerror, path) from e
