"""NumPy's OpenBLAS, reached through ctypes: its thread count, read and set.

NumPy's wheels ship OpenBLAS as ``numpy.libs/libscipy_openblas*.so`` (``numpy/.dylibs`` on macOS) with
``scipy_``-prefixed symbols (and a ``64_`` suffix for the 64-bit-index build). ``library()`` finds it;
with another BLAS (MKL, Accelerate, a distribution's NumPy) it is None and nothing here changes anything.

``single_threaded()`` runs a block with OpenBLAS on one thread, for code that runs its own threads (each
calling the BLAS on its part): the count is process-wide, so the block holds a count of its users and the
last one out restores the user's setting. A matmul of another Python thread inside that window runs
single-threaded too (its result is the same).
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = ["OpenBLAS", "library", "single_threaded", "threads"]


@dataclass(frozen=True)
class OpenBLAS:
    """The loaded library and its functions."""

    path: str
    #: 64-bit indices (the ``64_``-suffixed build NumPy uses on 64-bit platforms).
    ilp64: bool
    lib: ctypes.CDLL
    sgemm: int
    dgemm: int

    def get_threads(self) -> int:
        fn = getattr(self.lib, "scipy_openblas_get_num_threads" + ("64_" if self.ilp64 else ""))
        fn.restype = ctypes.c_int
        return int(fn())

    def set_threads(self, count: int) -> None:
        fn = getattr(self.lib, "scipy_openblas_set_num_threads" + ("64_" if self.ilp64 else ""))
        fn.argtypes = (ctypes.c_int,)
        fn(count)


def _load() -> OpenBLAS | None:
    here = os.path.dirname(np.__file__)
    found = [
        p for d in (here + ".libs", os.path.join(here, ".dylibs")) for p in glob.glob(os.path.join(d, "*openblas*"))
    ]
    for path in sorted(found):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix, ilp64 in (("64_", True), ("", False)):
            try:
                gemms = (getattr(lib, f"scipy_cblas_sgemm{suffix}"), getattr(lib, f"scipy_cblas_dgemm{suffix}"))
                getattr(lib, f"scipy_openblas_get_num_threads{suffix}")
                getattr(lib, f"scipy_openblas_set_num_threads{suffix}")
            except AttributeError:
                continue
            sgemm, dgemm = (ctypes.cast(f, ctypes.c_void_p).value for f in gemms)
            if sgemm and dgemm:
                return OpenBLAS(path, ilp64, lib, sgemm, dgemm)
    return None


_library = _load()


def library() -> OpenBLAS | None:
    """NumPy's OpenBLAS, or None when NumPy uses another BLAS."""
    return _library


def threads() -> int:
    """OpenBLAS's thread count (1 without it: nothing here knows another BLAS's threads)."""
    return 1 if _library is None else max(1, _library.get_threads())


_lock = threading.Lock()
_users = 0
_saved = 1


@contextmanager
def single_threaded() -> Generator[None]:
    """OpenBLAS on one thread inside the block; the previous count is restored when the last user leaves."""
    global _users, _saved
    lib = _library
    if lib is None:
        yield
        return
    entered = False
    try:
        with _lock:
            _users += 1
            entered = True
            if _users == 1:
                _saved = lib.get_threads()
                if _saved != 1:
                    lib.set_threads(1)
        yield
    finally:
        if entered:
            with _lock:
                _users -= 1
                if _users == 0 and _saved != 1:
                    lib.set_threads(_saved)


def _before_fork() -> None:
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    """The child has only the forking thread: nobody is inside ``single_threaded`` any more."""
    global _lock, _users
    _lock = threading.Lock()
    if _users and _library is not None and _saved != 1:
        _library.set_threads(_saved)
    _users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
