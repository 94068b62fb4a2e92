"""The README's mypy-with-the-plugin outputs are what mypy prints, and the demo's shape comments are its types.

One mypy run (``typedtensor.mypy_plugin`` enabled, a cache under tmp_path) checks every README example
marked ``<!-- mypy-plugin-example NAME -->`` and a copy of the digits demo in which a ``reveal_type``
follows each assignment whose comment starts with a shape, ``p = ...  # (B, 32, 4, 4)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_mypy_plugin import _shape

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DEMO = (ROOT / "typedtensor" / "examples" / "digits.py").read_text()
EXAMPLE = re.compile(r"<!-- mypy-plugin-example (\S+) -->\n```python\n(.*?)```\n.*?```text\n(.*?)```", re.S)
EXAMPLES = EXAMPLE.findall(README)
SHAPED = re.compile(r"^(\s*)(\w+)(?::[^=]*)? = .*#\s*(\([^)]*\))")
MESSAGE = re.compile(r"^([\w.]+\.py):(\d+): (error|note): (.*)$", re.M)


def _with_reveals(source: str) -> tuple[str, dict[int, str]]:
    """The demo with ``reveal_type(name)`` after each shape-commented assignment of the model's class.

    Returns the source and, by 1-based line number of each ``reveal_type``, the commented shape.
    """
    lines: list[str] = []
    expected: dict[int, str] = {}
    in_model = False
    for line in source.splitlines():
        lines.append(line)
        if line and not line[0].isspace():
            in_model = line.startswith("class DigitsNet(")
        m = SHAPED.match(line)
        if in_model and m:
            lines.append(f"{m.group(1)}reveal_type({m.group(2)})")
            expected[len(lines)] = m.group(3)
    return "\n".join(lines) + "\n", expected


@dataclass(frozen=True)
class Run:
    messages: dict[str, list[str]]  # file -> "line: error: text", in mypy's order
    demo_shapes: dict[int, str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from mypy import api

    directory = tmp_path_factory.mktemp("readme_mypy")
    for name, code, _ in EXAMPLES:
        (directory / name).write_text(code)
    demo, shapes = _with_reveals(DEMO)
    (directory / "digits_demo.py").write_text(demo)
    config = directory / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nplugins = typedtensor.mypy_plugin\n")
    files = [str(directory / name) for name, _, _ in EXAMPLES] + [str(directory / "digits_demo.py")]
    out, err, _ = api.run(["--config-file", str(config), "--cache-dir", str(directory / "cache"), *files])
    assert "INTERNAL ERROR" not in out + err, out + err
    messages: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = MESSAGE.match(line.replace(str(directory) + "/", ""))
        if m:
            messages.setdefault(m.group(1), []).append(f"{m.group(1)}:{m.group(2)}: {m.group(3)}: {m.group(4)}")
    return Run(messages, shapes)


def test_readme_has_mypy_plugin_examples() -> None:
    assert {name for name, _, _ in EXAMPLES} >= {"flatten_bug.py", "shortcut_bug.py"}


@pytest.mark.parametrize(("name", "code", "quoted"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_mypy_plugin_output_is_current(run: Run, name: str, code: str, quoted: str) -> None:
    """The text block after an example is exactly what mypy with the plugin prints for it (no more, no less)."""
    assert code  # the example is checked as written
    assert run.messages.get(name, []) == quoted.splitlines()


def test_demo_shape_comments_are_what_mypy_with_the_plugin_infers(run: Run) -> None:
    """Every layer of the digits model has exact static dims under mypy+plugin, as its comments say."""
    assert len(run.demo_shapes) >= 4  # the pool's and the last conv's outputs, in forward and forward_mut
    notes = {int(m.split(":")[1]): m for m in run.messages.get("digits_demo.py", [])}
    errors = [m for m in notes.values() if ": error: " in m]
    assert not errors, errors
    for line, shape in run.demo_shapes.items():
        assert line in notes, f"no reveal_type note on line {line}"
        assert _shape(notes[line]) == shape, notes[line]


def test_readme_model_code_is_the_demo_code() -> None:
    """The README's DigitsNet block is the demo's code, line for line (the demo is what the tests run)."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "class DigitsNet" in b)
    lines = [line for line in block.splitlines() if line.strip() and not line.split("#")[0].rstrip().endswith("...")]
    missing = [line for line in lines if line not in DEMO.splitlines()]
    assert not missing, missing
