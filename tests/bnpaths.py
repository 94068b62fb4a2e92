"""BatchNorm's kernel paths and how to send small test tensors down each (shared by the BatchNorm tests).

The size thresholds of ``_bn_numpy`` and ``_bn_numba`` pick a path; lowering them reaches every path
with tensors of a few hundred elements. :func:`use_path` sets them all (the ones a path does not name
to their defaults) through ``monkeypatch``, which restores them after the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from typedtensor.nn import _bn_backend, _bn_numpy

#: path -> (backend, the thresholds it lowers; their names are distinct across the two modules).
PATHS: dict[str, tuple[str, dict[str, int]]] = {
    "numpy-short": ("numpy", {}),
    "numpy-blocked": ("numpy", {"_SMALL": 0, "_SHORT_ROW": 1, "_BLOCK_BYTES": 256}),
    "numpy-long-rows": ("numpy", {"_SMALL": 0, "_SHORT_ROW": 1, "_BLOCK_BYTES": 256, "_MAX_PIECE": 8}),
    "numba-serial": ("numba", {}),
    "numba-serial-rows": ("numba", {"_ROWS_MIN": 0, "_ROWS_MIN_INFER": 0}),
    "numba-parallel": ("numba", {"_PARALLEL_MIN": 0, "_PARALLEL_MIN_INFER": 0}),
}

_MODULES: list[Any] = [_bn_numpy]
if "numba" in _bn_backend.available():
    from typedtensor.nn import _bn_numba

    _MODULES.append(_bn_numba)
#: (module, threshold) -> its value as shipped.
_DEFAULTS = {
    (m, attr): getattr(m, attr)
    for m in _MODULES
    for attr in sorted({a for _, thresholds in PATHS.values() for a in thresholds})
    if hasattr(m, attr)
}


def available_paths() -> list[str]:
    """The paths whose backend is installed here."""
    return [name for name, (backend, _) in PATHS.items() if backend in _bn_backend.available()]


def use_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the backend and thresholds to path ``name`` (callers restore the backend)."""
    backend, thresholds = PATHS[name]
    if backend not in _bn_backend.available():
        pytest.skip("numba is not installed (the fast extra)")
    _bn_backend.use(backend)
    known = {attr for _, attr in _DEFAULTS}
    assert set(thresholds) <= known, f"a renamed threshold no longer forces its path: {set(thresholds) - known}"
    for (module, attr), default in _DEFAULTS.items():
        monkeypatch.setattr(module, attr, thresholds.get(attr, default))
