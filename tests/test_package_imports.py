"""What ``import typedtensor`` loads: nothing heavy up front, every public name on first use.

The package's names are loaded on first access (PEP 562 ``__getattr__``), so that importing the mypy
plugin (``typedtensor.mypy_plugin``, which imports the package first) costs mypy no NumPy, beartype
or layers. The static re-exports (the ``TYPE_CHECKING`` imports the type checkers read), the run-time
table and ``__all__`` must name the same things.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import typedtensor as tt

INIT = Path(tt.__file__)
HEAVY = ("numpy", "beartype", "jaxtyping", "numba", "typedtensor.nn", "typedtensor._tensor")


def _loaded_after(statement: str) -> list[str]:
    """The modules among ``HEAVY`` (or under them) that ``statement`` loads in a fresh interpreter."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [m for m in done.stdout.split() if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("statement", ["import typedtensor", "import typedtensor.mypy_plugin"])
def test_importing_the_package_or_the_mypy_plugin_loads_nothing_heavy(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_a_name_loads_its_module_on_first_access() -> None:
    loaded = _loaded_after("import typedtensor as tt\nassert tt.TypedTensorError.__name__ == 'TypedTensorError'")
    assert loaded == []  # _errors needs nothing heavy
    assert "typedtensor._tensor" in _loaded_after("import typedtensor as tt\ntt.zeros((2,))")


def test_the_checkpoint_formats_load_on_a_modules_first_save_or_load(tmp_path: Path) -> None:
    """``import typedtensor.nn`` loads no file-format code (zipfile, the npz/safetensors modules); a save does."""
    code = (
        "import sys\nimport typedtensor.nn as nn\nbefore = set(sys.modules)\n"
        f"nn.Linear(2, 3).save_npz({str(tmp_path / 'm.npz')!r})\n"
        "print(' '.join(sorted(before)), '|', ' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    before, after = (part.split() for part in done.stdout.split("|"))
    formats = ("zipfile", "typedtensor.nn._checkpoint", "typedtensor.nn._io._npz", "typedtensor.nn._io._safetensors")
    assert not [m for m in formats if m in before]
    assert [m for m in formats if m in after] == list(formats)
    assert "safetensors" not in after  # the library: on a safetensors save or load only


def _static_exports() -> dict[str, str]:
    """``{name: module}`` of the ``from X import name as name`` lines under ``if TYPE_CHECKING:``."""
    exports: dict[str, str] = {}
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.dump(imp)
                for alias in imp.names:
                    assert alias.asname == alias.name, f"{alias.name} must be re-exported as itself"
                    exports[alias.name] = "." * imp.level + (imp.module or "")
    return exports


def test_static_exports_runtime_table_and_all_agree() -> None:
    static = _static_exports()
    assert static, "no TYPE_CHECKING re-exports found in typedtensor/__init__.py"
    assert sorted(tt.__all__) == sorted(static)
    runtime = {name: module for module, names in tt._EXPORTS.items() for name in names}
    for name, module in static.items():
        # ``from . import nn as nn``: the submodule itself; ``from ._create import zeros as zeros``: a name in it
        assert runtime[name] == (module + name if module == "." else module), name
    assert len(runtime) == sum(len(names) for names in tt._EXPORTS.values()), "a name listed twice"


@pytest.mark.parametrize("name", tt.__all__)
def test_every_public_name_is_the_object_its_module_defines(name: str) -> None:
    module = {n: m for m, names in tt._EXPORTS.items() for n in names}[name]
    imported = importlib.import_module(module, "typedtensor")
    expected = imported if module == "." + name else getattr(imported, name)
    assert getattr(tt, name) is expected
    assert name in dir(tt)


def test_star_import_gives_all_and_an_unknown_name_is_an_attribute_error() -> None:
    namespace: dict[str, object] = {}
    exec("from typedtensor import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(tt.__all__)
    with pytest.raises(AttributeError, match="module 'typedtensor' has no attribute 'Tensr'"):
        _ = tt.Tensr  # type: ignore[attr-defined]
    assert not hasattr(tt, "__wrapped__")


def test_numba_is_a_default_dependency_imported_on_first_use_only() -> None:
    """The compiled kernels come with ``pip install typedtensor`` (issue 13's goals hold on the default
    install): numba is required without an extra marker, yet ``import typedtensor`` and its first names
    do not load it (``HEAVY`` above)."""
    from importlib.metadata import requires

    plain = [r for r in requires("typedtensor") or [] if "extra ==" not in r]
    assert any(r.replace(" ", "").startswith("numba>=") for r in plain), plain
