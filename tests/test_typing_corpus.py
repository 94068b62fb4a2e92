"""Type-checker verdicts are tests: the accept/reject corpus under mypy --strict and pyright strict."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "typing"
FILES = sorted(HERE.glob("*.py"))
REJECT_MARK = re.compile(r"#\s*type:\s*ignore\[")


def _mypy(*args: str) -> tuple[str, int]:
    from mypy import api

    out, err, status = api.run(["--config-file", "", "--strict", "--warn-unused-ignores", "--no-incremental", *args])
    return out + err, status


def _pyright(*files: Path) -> Any:
    exe = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
    proc = subprocess.run(
        [exe, "--outputjson", "-p", str(HERE / "pyrightconfig.json"), "--pythonpath", sys.executable, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(proc.stdout)


def test_corpus_has_accept_and_reject_files() -> None:
    names = [f.name for f in FILES]
    assert any(n.startswith("accept_") for n in names)
    assert any(n.startswith("reject_") for n in names)


def test_mypy_strict_verdicts() -> None:
    out, status = _mypy(*map(str, FILES))
    assert status == 0, out


def test_pyright_strict_verdicts() -> None:
    result = _pyright(*FILES)
    diagnostics = result["generalDiagnostics"]
    assert diagnostics == [], json.dumps(diagnostics, indent=1)


def _marked_lines(path: Path) -> list[int]:
    return [i for i, line in enumerate(path.read_text().splitlines(), 1) if REJECT_MARK.search(line)]


@pytest.mark.parametrize("path", [f for f in FILES if f.name.startswith("reject_")], ids=lambda p: p.name)
def test_every_reject_line_is_rejected_by_both_checkers_when_unmarked(path: Path, tmp_path: Path) -> None:
    """Strip the ignore comments: each marked line must then produce an error in each checker."""
    stripped = tmp_path / path.name
    text = path.read_text()
    stripped.write_text(re.sub(r"\s*#\s*type:\s*ignore\[[^\]]*\](\s*#\s*pyright:\s*ignore\[[^\]]*\])?", "", text))
    marked = set(_marked_lines(path))
    assert marked, "a reject file without marked lines"
    out, _ = _mypy(str(stripped))
    mypy_lines = {int(m.group(1)) for m in re.finditer(rf"{re.escape(path.name)}:(\d+): error", out)}
    pyright_lines = {
        d["range"]["start"]["line"] + 1 for d in _pyright(stripped)["generalDiagnostics"] if d["severity"] == "error"
    }
    assert marked <= mypy_lines, f"mypy accepts lines {sorted(marked - mypy_lines)}"
    assert marked <= pyright_lines, f"pyright accepts lines {sorted(marked - pyright_lines)}"


def test_installed_package_type_checks_from_outside_the_source_tree(tmp_path: Path) -> None:
    """The packaging trap: an editable install must stay visible to mypy (py.typed, plain .pth path)."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "from typing import Literal as L\nimport numpy as np\nimport typedtensor as tt\n"
        "x: tt.Tensor[tuple[L[2]], np.float32, tt.NoneTape] = tt.zeros((2,))\n"
        "y: tt.Tensor[tuple[L[3]], np.float32, tt.NoneTape] = x\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "", "--no-incremental", str(user)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "import-not-found" not in proc.stdout, proc.stdout
    assert "user_code.py:5: error: Incompatible types in assignment" in proc.stdout, proc.stdout
