"""The README stays true: its checker outputs are what the checkers print, and CI runs its test command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
EXAMPLE = re.compile(r"<!-- checked-example (\S+) -->\n```python\n(.*?)```\n(.*?)(?=<!-- checked-example|\n## )", re.S)
BLOCK = re.compile(r"```text\n(.*?)```", re.S)
EXAMPLES = EXAMPLE.findall(README)


def test_readme_has_checked_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize(("name", "code", "after"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_checker_output_is_current(name: str, code: str, after: str, tmp_path: Path) -> None:
    """The first text block after an example is mypy's output, the second (if any) pyright's."""
    (tmp_path / name).write_text(code)
    blocks = BLOCK.findall(after)
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "", "--no-incremental", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in blocks[0].splitlines():
        assert line in mypy, f"README mypy line not printed:\n{line}\nmypy printed:\n{mypy}"
    if len(blocks) > 1:
        exe = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
        pyright = subprocess.run(
            [exe, "--pythonpath", sys.executable, name], cwd=tmp_path, capture_output=True, text=True, check=False
        ).stdout
        for line in blocks[1].splitlines():
            assert line.strip() in pyright, f"README pyright line not printed:\n{line}\npyright printed:\n{pyright}"


def test_ci_runs_the_readme_test_command() -> None:
    command = "ruff format --check . && ruff check . && mypy && pyright && pytest"
    assert f"```\n{command}\n```" in README
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
