"""glibc's allocator told to keep freed array memory for the next allocation instead of returning it.

A training step or an inference batch allocates and frees arrays of a few MiB per layer. glibc's default
(a dynamic mmap threshold, and a trim threshold of twice it) gives much of that memory back to the kernel
as soon as more than a few such arrays are free at once, so the next layer's arrays are fresh pages: every
4 KiB page then costs a page fault (a few microseconds on the virtual machines measured here). Measured
2026-12-01 on this 2-core machine, the small ResNet of ``bench.networks`` at batch 64: 1,508 page faults per
inference batch (typedtensor) and 10,867 (PyTorch, in a process of its own), 0-17 with the settings below;
PyTorch's inference went from 24 to 6 ms, typedtensor's from 18-22 to 14-17 ms (noisy machine: medians of
40 calls in separate processes).

On import of the tensor core (``typedtensor._tensor``), on glibc only, ``tune`` sets

* ``M_MMAP_THRESHOLD`` to 32 MiB (glibc's largest on 64-bit): arrays up to that size come from the heap,
  whose freed memory is reused, instead of their own ``mmap`` (fresh pages every time);
* ``M_TRIM_THRESHOLD`` to 256 MiB: up to that much free memory at the top of the heap stays resident.

The cost: after a large step the process's resident set stays near its high-water mark (at most 256 MiB
above what is live, plus glibc's usual fragmentation) instead of shrinking; peak memory is unchanged. The
settings are process-wide: they speed up every library's allocations in the process (PyTorch's above).

Left alone when the user chose: ``TYPEDTENSOR_MALLOC=system`` keeps glibc's defaults, and so does any of
glibc's own settings in the environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_``, or a ``glibc.malloc`` tunable in ``GLIBC_TUNABLES``). Other C libraries (musl, macOS,
Windows) are left alone. ``state()`` says which case applied.
"""

from __future__ import annotations

import os
from typing import Literal

from ._errors import TypedTensorError

__all__ = ["ENV", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "State", "state", "tune"]

#: The environment variable that opts out: ``system`` keeps glibc's defaults.
ENV = "TYPEDTENSOR_MALLOC"
#: glibc's own settings; any of them in the environment means the user tuned the allocator.
_USER_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
#: mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20

State = Literal["tuned", "system", "user", "unavailable", "failed"]
_state: State | None = None


def _user_tuned() -> bool:
    if any(name in os.environ for name in _USER_ENV):
        return True
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # not glibc, or no confstr (Windows)
        return False


def _apply() -> State:
    choice = os.environ.get(ENV, "").strip().lower()
    if choice == "system":
        return "system"
    if choice not in ("", "tuned"):
        raise TypedTensorError(
            f"{ENV}={os.environ[ENV]!r} is not a setting: expected 'tuned' (the default: keep freed memory for "
            "reuse) or 'system' (glibc's defaults); unset it or set one of those"
        )
    if _user_tuned():
        return "user"
    if not _glibc():
        return "unavailable"
    import ctypes  # only here: not every platform needs it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "unavailable"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first (setting it ends glibc's dynamic adjustment)
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "failed"
    return "tuned"


def tune() -> State:
    """Apply the settings once per process (later calls return the first call's result)."""
    global _state
    if _state is None:
        _state = _apply()
    return _state


def state() -> State | None:
    """What ``tune`` did: "tuned", "system" (opted out), "user" (glibc settings in the environment),
    "unavailable" (not glibc), "failed" (glibc refused a value); None before the tensor core loaded."""
    return _state
