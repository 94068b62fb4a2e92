"""The package's modules stand in layers, and no import goes from a lower layer to a higher one.

The graph is built from the source (every ``import`` and ``from ... import`` anywhere in a module: at the
top, inside a function (a lazy import) or under ``if TYPE_CHECKING:``), plus the package's lazy table
of public names (``typedtensor._EXPORTS``, which ``__getattr__`` imports on first access). An import of
a submodule is an edge to it; the parent package a submodule lives in is not an edge (Python runs a
package's ``__init__`` first, which is not something the submodule's code depends on).

The layers, lowest first (``LAYERS``; a module of one layer may import modules of its own layer or of
lower ones):

* ``core``: errors, dtypes, dims, option checks, hints and the run-time check, the tape; the MPI
  transport (``_mpi``, errors only); ``progress`` (the training scripts' progress bar and metrics plot);
* ``ops``: the NumPy kernels (``_ops``), the Tensor and its methods, the functions and constructors
  built on it, ``data`` (mini-batches of NumPy arrays as tensors), and ``extend`` (what the layers above are
  written against);
* ``io``: the checkpoint file formats (``nn/_io``: npz and safetensors files, atomic writes, argument
  checks, metadata, the ``LoadReport``), which know arrays and files, not modules;
* ``nn``: ``Module`` (whose ``save_npz``/``load_npz``/``save_safetensors``/``load_safetensors`` use the
  formats below it, the loading logic in ``nn/_checkpoint`` and ``nn/_staging``) and the layers;
* ``optim`` and ``distributed`` (peers: neither imports the other);
* ``package``: the public facade ``typedtensor`` (its lazy table reaches everything);
* ``examples``.

The mypy plugin (``mypy_plugin``, ``_mypy``) is a layer of its own beside ``core`` (it imports only
mypy and itself). A new top-level module of the package must be given its layer in ``TOP_LEVEL``.

``TYPE_ONLY`` lists the ``if TYPE_CHECKING:`` imports allowed to close a circle: helpers of ``Module``
(the state walk, the assignment checks, the staging of loaded values, the checkpoint files) annotate
with ``Module``, which uses them; so do the optimizer's state files and the scheduler base with ``Optimizer``.
They import nothing at run time (``from __future__ import annotations``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "typedtensor"

#: Layer name -> rank; peers share a rank and may not import each other.
LAYERS = {"core": 0, "plugin": 0, "ops": 1, "io": 2, "nn": 3, "optim": 4, "distributed": 4, "package": 5, "examples": 6}
#: The layer of each top-level module of the package (subpackages: ``SUBPACKAGES``).
TOP_LEVEL = {
    "typedtensor": "package",
    "typedtensor._version": "core",
    "typedtensor._errors": "core",
    "typedtensor._dtypes": "core",
    "typedtensor._dimexpr": "core",
    "typedtensor._options": "core",
    "typedtensor._convert": "core",
    "typedtensor._hints": "core",
    "typedtensor._check": "core",
    "typedtensor._tape": "core",
    "typedtensor._shapes": "core",
    "typedtensor._mpi": "core",
    "typedtensor._malloc": "core",
    "typedtensor._tensor": "ops",
    "typedtensor._functional": "ops",
    "typedtensor._create": "ops",
    "typedtensor._exclusive": "ops",
    "typedtensor._gather": "ops",
    "typedtensor._ranks": "ops",
    "typedtensor.extend": "ops",
    "typedtensor.data": "ops",
    "typedtensor.progress": "core",
    "typedtensor.distributed": "distributed",
    "typedtensor.mypy_plugin": "plugin",
}
#: The layer of every module in a subpackage (the longest matching prefix wins).
SUBPACKAGES = {
    "typedtensor._mypy": "plugin",
    "typedtensor._ops": "ops",
    "typedtensor.nn": "nn",
    "typedtensor.nn._io": "io",
    "typedtensor.optim": "optim",
    "typedtensor.examples": "examples",
}
#: (importer, imported) ``if TYPE_CHECKING:`` imports allowed although they close a circle (see above).
TYPE_ONLY = {
    ("typedtensor.nn._walk", "typedtensor.nn._module"),
    ("typedtensor.nn._fields", "typedtensor.nn._module"),
    ("typedtensor.nn._checkpoint", "typedtensor.nn._module"),
    ("typedtensor.nn._staging", "typedtensor.nn._module"),
    # the optimizer's state files and the scheduler base annotate with Optimizer, which uses them
    ("typedtensor.optim._state", "typedtensor.optim._base"),
    ("typedtensor.optim._state_file", "typedtensor.optim._base"),
    ("typedtensor.optim._schedule", "typedtensor.optim._base"),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    kind: str  # "top", "lazy" (inside a function or class body), "type" (under TYPE_CHECKING), "table"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    best = max((p for p in SUBPACKAGES if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else SUBPACKAGES[best]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement of ``tree`` with where it stands (``top``, ``lazy`` or ``type``)."""
    out: list[tuple[ast.Import | ast.ImportFrom, str]] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, kind))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_one(stmt, "type")
                for stmt in child.orelse:
                    visit_one(stmt, kind)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                visit(child, "type" if kind == "type" else "lazy")
            else:
                visit(child, kind)

    def visit_one(stmt: ast.stmt, kind: str) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out.append((stmt, kind))
        else:
            visit(stmt, kind)

    visit(tree, "top")
    return out


def _resolve(base: str, name: str, modules: set[str]) -> str | None:
    """``base.name`` if that is one of the package's modules, else ``base`` if it is, else None."""
    if f"{base}.{name}" in modules:
        return f"{base}.{name}"
    return base if base in modules else None


def graph(package: Path = PACKAGE) -> tuple[set[str], list[Edge]]:
    """The package's modules and the import edges between them."""
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    modules = {module_name(p, package.parent) for p in files}
    edges: list[Edge] = []
    for path in files:
        source = module_name(path, package.parent)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        for node, kind in _imports(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [a.name if a.name in modules else None for a in node.names]
            else:
                if node.level:
                    here = source.split(".") if is_package else source.split(".")[:-1]
                    base_parts = here[: len(here) - node.level + 1]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [_resolve(base, a.name, modules) for a in node.names]
            for target in targets:
                edge = Edge(source, target, node.lineno, kind) if target not in (None, source) else None
                if edge is not None and edge not in edges:
                    edges.append(edge)
        if is_package:
            edges.extend(_table_edges(tree, source, modules))
    return modules, edges


def _table_edges(tree: ast.Module, source: str, modules: set[str]) -> list[Edge]:
    """The modules a package's ``_EXPORTS`` table (``{".module": names}``) imports on first access."""
    out: list[Edge] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "_EXPORTS":
            assert isinstance(node.value, ast.Dict)
            for key in node.value.keys:
                assert isinstance(key, ast.Constant)
                assert isinstance(key.value, str)
                target = source + key.value if key.value.startswith(".") else key.value
                assert target in modules, target
                out.append(Edge(source, target, key.lineno, "table"))
    return out


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (each one holds a circle), sorted."""
    succ: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        succ[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in sorted(modules):
        if m not in index:
            connect(m)
    return sorted(found)


def backward_arrows(edges: list[Edge]) -> list[str]:
    """Each import from a lower layer into a higher one, or between peers of one rank."""
    bad: list[str] = []
    for e in edges:
        a, b = layer_of(e.source), layer_of(e.target)
        assert a is not None, e.source
        assert b is not None, e.target
        if a != b and LAYERS[b] >= LAYERS[a]:
            bad.append(f"{e.source}:{e.line} ({a}) imports {e.target} ({b}) [{e.kind}]")
    return bad


def runtime_edges(edges: list[Edge]) -> list[Edge]:
    """The edges that are imports at run time, and the ``TYPE_CHECKING`` ones not in ``TYPE_ONLY``."""
    return [e for e in edges if e.kind != "type" or (e.source, e.target) not in TYPE_ONLY]


def test_every_module_has_a_layer() -> None:
    modules, _ = graph()
    missing = sorted(m for m in modules if layer_of(m) is None)
    assert not missing, f"give these modules a layer in {Path(__file__).name} (TOP_LEVEL): {missing}"


def test_no_import_circle() -> None:
    modules, edges = graph()
    found = cycles(modules, runtime_edges(edges))
    assert not found, f"import circles (lazy and TYPE_CHECKING imports included): {found}"


def test_the_allowed_type_only_imports_are_type_only_and_still_there() -> None:
    _, edges = graph()
    type_only = {(e.source, e.target) for e in edges if e.kind == "type"}
    other = {(e.source, e.target) for e in edges if e.kind != "type"}
    assert type_only >= TYPE_ONLY, f"gone, delete from TYPE_ONLY: {TYPE_ONLY - type_only}"
    assert not TYPE_ONLY & other, f"imported at run time too: {TYPE_ONLY & other}"


def test_no_arrow_from_a_lower_layer_to_a_higher_one() -> None:
    _, edges = graph()
    bad = backward_arrows(edges)
    assert not bad, "imports against the layers (" + " < ".join(LAYERS) + "):\n" + "\n".join(bad)


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The graph is not vacuous: a top-level, a lazy, a TYPE_CHECKING and a table import are all edges,
    a circle is found, and an arrow from a lower layer to a higher one is reported."""
    pkg = tmp_path / "typedtensor"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "__init__.py").write_text('_EXPORTS: dict[str, tuple[str, ...]] = {"._tensor": ("Tensor",)}\n')
    (pkg / "_tape.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._tensor import Tensor\n"
        "def get():\n    from . import nn\n"
    )
    (pkg / "_tensor.py").write_text("from . import _tape\n")
    (pkg / "nn" / "__init__.py").write_text("from .._tensor import Tensor\n")
    modules, edges = graph(pkg)
    kinds = {(e.source, e.target): e.kind for e in edges}
    assert kinds == {
        ("typedtensor", "typedtensor._tensor"): "table",
        ("typedtensor._tape", "typedtensor._tensor"): "type",
        ("typedtensor._tape", "typedtensor.nn"): "lazy",
        ("typedtensor._tensor", "typedtensor._tape"): "top",
        ("typedtensor.nn", "typedtensor._tensor"): "top",
    }
    assert cycles(modules, edges) == [["typedtensor._tape", "typedtensor._tensor", "typedtensor.nn"]]
    assert backward_arrows(edges) == [
        "typedtensor._tape:3 (core) imports typedtensor._tensor (ops) [type]",
        "typedtensor._tape:5 (core) imports typedtensor.nn (nn) [lazy]",
    ]


if __name__ == "__main__":  # list the circles and the arrows against the layers
    all_modules, all_edges = graph()
    for component in cycles(all_modules, all_edges):
        print("circle:", " ".join(component))
        for e in all_edges:
            if e.source in component and e.target in component:
                print(f"    {e.source}:{e.line} -> {e.target} [{e.kind}]")
    print("\n".join(backward_arrows(all_edges)))
