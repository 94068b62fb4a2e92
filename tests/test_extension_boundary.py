"""Code outside the tensor core uses only ``typedtensor.extend`` and the public API.

nn/, optim/, distributed.py, the examples and bench/ may import the core's public names (``Tensor``
from ``.._tensor``, the errors, ``checked``...) but no private one (a leading underscore: ``_apply``,
``_make``...), and read no private attribute of a tensor or a ``Gradients`` (``._data``, ``._grads``,
``._id``, ``._tape``...): ``typedtensor.extend`` has the function for each. ``_mpi`` is not the core
(it is the MPI transport nn's SyncBatchNorm and ``distributed`` share) and may be imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "typedtensor"
OUTSIDE = [PACKAGE / "nn", PACKAGE / "optim", PACKAGE / "distributed.py", PACKAGE / "examples", ROOT / "bench"]
#: The core: every private module of the package except the MPI transport (and the mypy plugin's code).
CORE = {p.stem for p in PACKAGE.iterdir() if p.name.startswith("_") and p.stem not in ("__init__", "_mpi", "_mypy")}
#: Private attributes of Tensor and Gradients (extend.data / data_mut / tensor_id / grad_array ... instead).
PRIVATE_ATTRS = {"_data", "_grads", "_id", "_tape", "_keep", "_accumulate", "_sinks"}
#: Uses that remain, by file, until their migration is done (the test fails when an entry goes stale).
#: None remain: Module installs the run-time checks through ``extend.install_checks``.
ALLOWED: dict[str, set[str]] = {}


def _files() -> list[Path]:
    out: list[Path] = []
    for place in OUTSIDE:
        out.extend([place] if place.is_file() else sorted(place.rglob("*.py")))
    return out


def _module_of(node: ast.ImportFrom, path: Path) -> list[str]:
    """The absolute dotted name ``node`` imports from, as parts."""
    if node.level == 0:
        return (node.module or "").split(".")
    here = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]
    base = here[: len(here) - node.level + 1]
    return base + ((node.module or "").split(".") if node.module else [])


def _from_core(parts: list[str]) -> bool:
    return len(parts) >= 2 and parts[0] == "typedtensor" and parts[1] in CORE


def violations(path: Path, source: str | None = None) -> set[str]:
    """The private core names ``path`` (or ``source`` as though it were that file) imports, and the private
    tensor attributes it reads."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.ImportFrom):
            parts = _module_of(node, path)
            for alias in node.names:
                private = alias.name.startswith("_")
                if private and (_from_core(parts) or (parts == ["typedtensor"] and alias.name in CORE)):
                    found.add(f"import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _from_core(alias.name.split(".")):
                    found.add(f"import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRS:
            found.add(f".{node.attr}")
    return found


def test_code_outside_the_core_uses_only_the_extension_api() -> None:
    bad: dict[str, set[str]] = {}
    for path in _files():
        name = path.relative_to(ROOT).as_posix()
        extra = violations(path) - ALLOWED.get(name, set())
        if extra:
            bad[name] = extra
    assert not bad, (
        f"private core names used outside the core: {bad}; use typedtensor.extend (record, wrap, data, data_mut, "
        "tensor_id, grad_array, set_grad, accumulate_grad, ...) or add what is missing to it"
    )


def test_the_allow_list_names_only_what_remains() -> None:
    stale = {name: uses - violations(ROOT / name) for name, uses in ALLOWED.items()}
    stale = {name: uses for name, uses in stale.items() if uses}
    assert not stale, f"these uses are gone: delete them from ALLOWED in {Path(__file__).name}: {stale}"


def test_the_check_catches_each_kind_of_use() -> None:
    """The scan is not vacuous: each forbidden form, in a file as though under nn/, is reported."""
    src = (
        "from .._tensor import Tensor, _make\n"
        "from .. import _tape, _mpi\n"  # _mpi is not the core
        "from typedtensor._ops._types import Array\n"  # a public name of the core: allowed
        "import typedtensor._check\n"
        "def f(t, g):\n"
        "    return t._data, g._grads, t._id\n"
    )
    found = violations(PACKAGE / "nn" / "_probe.py", src)
    assert found == {"import _make", "import _tape", "import typedtensor._check", "._data", "._grads", "._id"}
