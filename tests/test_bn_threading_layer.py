"""numba's threading layer: "workqueue" when another OpenMP runtime was loaded before numba's pool started.

With PyTorch imported first, numba's default "omp" layer loaded a second OpenMP runtime and the two
pools' spinning threads fought over the cores (a BatchNorm2D step 10-25x slower). Each case runs in a
fresh interpreter: the layer is fixed once numba's pool starts.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import ctypes, json, sys
if sys.argv[1] != "-":
    ctypes.CDLL(sys.argv[1])  # another OpenMP runtime, mapped before numba's pool starts
import numpy as np
import typedtensor as tt
from typedtensor import nn
import numba
if sys.argv[2] == "start":
    numba.set_num_threads(numba.get_num_threads())  # the caller starts numba's pool before any BatchNorm call
bn = nn.BatchNorm2D(4)
grads = bn.alloc_grads()
x = tt.tensor(np.random.default_rng(0).standard_normal((64, 4, 64, 64), dtype=np.float32))  # parallel kernels
bn.forward_mut(x.trace(grads)).sum().backward()
print(json.dumps({"layer": numba.threading_layer(), "backend": tt.nn._bn_backend.current()}))
"""


def _run(preload: str, start: bool = False, **env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    environ |= {"TYPEDTENSOR_BN_BACKEND": "numba", **env}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, preload, "start" if start else "-"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=True,
    )
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _gomp() -> str:
    name = ctypes.util.find_library("gomp")
    if name is None:
        pytest.skip("no GNU OpenMP runtime on this machine to load")
    return name


def test_another_openmp_runtime_loaded_first_selects_workqueue() -> None:
    assert _run(_gomp()) == {"layer": "workqueue", "backend": "numba"}


def test_workqueue_also_when_the_caller_starts_numbas_pool_first() -> None:
    """bench.networks (and a user) call numba.set_num_threads after importing torch and typedtensor: the pool
    starts before the kernels' module is imported, so the choice is made when typedtensor.nn is imported."""
    assert _run(_gomp(), start=True) == {"layer": "workqueue", "backend": "numba"}


def test_no_other_runtime_keeps_numbas_default_and_an_explicit_layer_wins() -> None:
    assert _run("-")["layer"] in ("omp", "tbb")
    assert _run(_gomp(), NUMBA_THREADING_LAYER="omp")["layer"] == "omp"
