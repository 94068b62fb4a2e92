"""The temporary file of an atomic save, and the removal of those that dead saves left behind.

A save of ``DIR/NAME`` writes ``DIR/.NAME~tt<host><random>.tmp``: ``<host>`` is 8 hex digits of a hash
of the host's name, ``<random>`` 12 random hex digits (28 bytes added to NAME). When NAME is so long
that this would exceed the directory's NAME_MAX, NAME is replaced by a prefix of it (cut at a
character) and ``~`` and 16 hex digits of a hash of the whole name: whenever the target's name fits,
so does its temporary's.

The save holds an exclusive ``flock`` on its temporary from just after creating it until after the
rename; the kernel releases it when the process dies, SIGKILL included. Before writing, a save removes
each file of its own target's pattern that it can prove is dead: a regular file (not a link), owned by
this user, carrying this host's tag (locks are not trusted across machines: an NFS mount with
``nolock`` keeps them local), not being written by a save of this process, and on which it obtains
the lock itself, so nobody holds it. Anything it cannot open, lock or check is left alone.

Where locks are unavailable (no ``fcntl``, as on Windows; a file system that refuses ``flock``) the
temporary is named ``.NAME~tu<host><random>.tmp`` (u: unlocked) and is never removed by a later save:
nothing would prove its writer dead.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

__all__ = ["Temporary", "create", "remove_stale"]

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_PROBE = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_HOST = hashlib.blake2b(socket.gethostname().encode(errors="surrogateescape"), digest_size=4).hexdigest()
_RANDOM = 6  # bytes: 12 hex digits
#: What the temporary's name adds to the target's: "." + "~tt" + host + random + ".tmp".
_OVERHEAD = 1 + 3 + 2 * 4 + 2 * _RANDOM + 4
_DEFAULT_NAME_MAX = 255

#: Temporaries that saves of this process are writing: never removed as stale (a lock taken twice by
#: one process may not conflict, as when flock is emulated through fcntl locks on NFS).
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def _name_max(directory: str) -> int:
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return _DEFAULT_NAME_MAX
    return limit if limit > 0 else _DEFAULT_NAME_MAX


def stem(directory: str, name: str) -> str:
    """NAME, or its prefix and hash when NAME's temporary would not fit NAME_MAX (module docstring)."""
    raw = os.fsencode(name)
    limit = _name_max(directory)
    if len(raw) + _OVERHEAD <= limit:
        return name
    digest = hashlib.blake2b(raw, digest_size=8).hexdigest()
    budget = limit - _OVERHEAD - len(digest) - 1
    prefix = name
    while prefix and len(os.fsencode(prefix)) > budget:
        prefix = prefix[:-1]
    return f"{prefix}~{digest}"


def _name(stem_: str, locked: bool) -> str:
    return f".{stem_}~t{'t' if locked else 'u'}{_HOST}{secrets.token_hex(_RANDOM)}.tmp"


@dataclass
class Temporary:
    """A created temporary file: its path and open descriptor, and whether this save holds its lock."""

    path: str
    fd: int
    locked: bool
    renamed: bool = False
    closed: bool = False

    def close(self) -> None:
        """Close the descriptor (releasing the lock); the path stops being this process's live temporary."""
        if not self.closed:
            self.closed = True
            os.close(self.fd)
        with _LIVE_LOCK:
            _LIVE.discard(self.path)

    def discard(self) -> None:
        """Remove the file and close it (after a failure). An interruption (KeyboardInterrupt, SIGTERM)
        arriving meanwhile does not stop the removal: it is raised once the file is gone."""
        interruption: BaseException | None = None
        for _ in range(3):
            try:
                if not self.renamed:
                    with contextlib.suppress(OSError):
                        os.unlink(self.path)
                with contextlib.suppress(OSError):
                    self.close()
                break
            except BaseException as e:  # raised by a signal handler between two steps
                interruption = interruption or e
        if interruption is not None:
            raise interruption


def create(directory: str, name: str) -> Temporary:
    """A new temporary next to ``directory/name``, created exclusively and locked where locks work."""
    stem_ = stem(directory, name)
    locked = fcntl is not None
    for _ in range(100):
        path = os.path.join(directory, _name(stem_, locked))
        with _LIVE_LOCK:
            _LIVE.add(path)
        try:
            fd = os.open(path, _CREATE, 0o666)
        except BaseException as e:
            with _LIVE_LOCK:
                _LIVE.discard(path)
            if isinstance(e, FileExistsError):
                continue
            raise
        tmp = Temporary(path, fd, locked)
        if not locked:
            return tmp
        try:
            state = _lock(tmp)
        except BaseException:
            tmp.discard()
            raise
        if state == "locked":
            return tmp
        if state == "unsupported":  # this file system has no locks: the pattern no save removes
            tmp.discard()
            locked = False
        else:  # a stale-file removal got to it first, and removes it
            tmp.close()
    raise FileExistsError(errno.EEXIST, f"no free temporary name next to {name!r}")


def _lock(tmp: Temporary) -> Literal["locked", "taken", "unsupported"]:
    assert fcntl is not None
    try:
        fcntl.flock(tmp.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "taken"
    except OSError:
        return "unsupported"
    return "locked" if _same_file(tmp.path, tmp.fd) else "taken"


def _same_file(path: str, fd: int) -> bool:
    try:
        now = os.lstat(path)
    except OSError:
        return False
    st = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def remove_stale(directory: str, name: str) -> None:
    """Remove the temporaries of ``directory/name`` that dead saves left (module docstring). Best effort:
    never raises an OSError."""
    if fcntl is None:
        return
    prefix = f".{stem(directory, name)}~tt{_HOST}"
    pattern = re.compile(re.escape(prefix) + f"[0-9a-f]{{{2 * _RANDOM}}}" + re.escape(".tmp"))
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for entry in names:
        if entry.startswith(prefix) and pattern.fullmatch(entry):
            path = os.path.join(directory, entry)
            with _LIVE_LOCK:
                live = path in _LIVE
            if not live:
                _remove_if_dead(path)


def _remove_if_dead(path: str) -> None:
    assert fcntl is not None
    fd = -1
    for flags in (os.O_WRONLY, os.O_RDONLY):  # a lock emulated through fcntl (NFS) needs write access
        try:
            fd = os.open(path, flags | _PROBE)
            break
        except OSError:
            continue
    if fd < 0:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a live writer holds it
        if _same_file(path, fd):
            os.unlink(path)
    except OSError:
        return
    finally:
        os.close(fd)
