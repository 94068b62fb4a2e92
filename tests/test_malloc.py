"""glibc's allocator settings (typedtensor/_malloc.py): applied when the tensor core loads, unless opted out.

Each case runs in a fresh interpreter (the settings are process-wide and applied once). The measure is the
count of minor page faults of a loop that frees several 8 MiB arrays at once (with glibc's defaults the
freed top of the heap is trimmed and the next arrays are fresh pages): a count, not a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_CHILD = """
import json, resource, sys
import numpy as np
import typedtensor as tt
from typedtensor import _malloc
tt.zeros((2,), np.float32)  # loads the tensor core
arrays = [np.ones(2 << 20, np.float32) for _ in range(4)]
del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    arrays = [np.ones(2 << 20, np.float32) for _ in range(4)]  # 4 x 8 MiB, every page written
    del arrays
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"state": _malloc.state(), "faults": faults}))
"""

_GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None
_PAGES = 20 * 4 * (8 << 20) // 4096  # the loop's pages, were every one of them fresh


def _run(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "TYPEDTENSOR_MALLOC"}
    clean.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env={**clean, **env}, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not _GLIBC, reason="the settings apply to glibc only (other C libraries are left alone)")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    tuned = _run()
    assert tuned["state"] == "tuned"
    faults = tuned["faults"]
    assert isinstance(faults, int)
    assert faults < _PAGES // 100


@pytest.mark.skipif(not _GLIBC, reason="the settings apply to glibc only (other C libraries are left alone)")
def test_opting_out_keeps_glibc_defaults_whose_trimmed_pages_fault_again() -> None:
    system = _run(TYPEDTENSOR_MALLOC="system")
    assert system["state"] == "system"
    faults = system["faults"]
    assert isinstance(faults, int)
    assert faults > _PAGES // 8


@pytest.mark.skipif(not _GLIBC, reason="the settings apply to glibc only (other C libraries are left alone)")
def test_glibc_settings_in_the_environment_win() -> None:
    assert _run(MALLOC_TRIM_THRESHOLD_="1000000")["state"] == "user"
    assert _run(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1000000")["state"] == "user"


def test_a_misspelt_setting_is_a_typedtensor_error() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import numpy as np, typedtensor as tt; tt.zeros((2,), np.float32)"],
        env={**os.environ, "TYPEDTENSOR_MALLOC": "sytem"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert "TypedTensorError" in done.stderr
    assert "TYPEDTENSOR_MALLOC='sytem'" in done.stderr
    assert "'system'" in done.stderr
