"""Type-checker verdicts are tests: the accept/reject corpus (tests/typing/) under every checker users run.

Each checker runs once, in parallel with the others, on a copy of the corpus with every ignore comment stripped;
its errors, line by line, must be exactly the lines the markers say it rejects (with the codes the markers name).
That is both halves of the old test in one run: no error on an unmarked line, and every marked line really is
an error. The marker convention is in tests/typing/README.md. ty is run and reported per line, never failing.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"
FILES = sorted(HERE.glob("*.py"))

# Every checker the `dev` extra installs gates the suite, ty (beta) is reported only.
GATING = ("mypy", "mypy+plugin", "pyright", "basedpyright", "pyrefly")
CHECKERS = (*GATING, "ty")

IGNORE = re.compile(r"#\s*(type|pyright|pyrefly|ty):\s*ignore(\[([^\]]*)\])?")
VERDICT = re.compile(r"#\s*(reject|accept|false-alarm):\s*([\w+\-]+(?:\s*,\s*[\w+\-]+)*)")
STRIP = re.compile(r"[ \t]*#\s*(?:type|pyright|pyrefly|ty):\s*ignore(?:\[[^\]]*\])?")


# ---------------------------------------------------------------- what the markers say


@dataclass(frozen=True)
class Line:
    """The markers of one corpus line: which checkers reject it, and with which codes."""

    file: str
    number: int
    rejected_by: frozenset[str]
    codes: dict[str, frozenset[str]]  # "type" / "pyright" / "pyrefly" -> the codes of that ignore comment
    spelled: str  # the verdict comment as written ("" for the default: a marked line is rejected by all)
    false_alarm: bool = False  # `# false-alarm:`: the listed checkers wrongly reject correct code (documented)


def _codes(text: str | None) -> frozenset[str]:
    return frozenset(c.strip() for c in (text or "").split(",") if c.strip())


def _parse_line(file: str, number: int, text: str) -> Line | None:
    codes: dict[str, frozenset[str]] = {}
    for m in IGNORE.finditer(text):
        if m.group(2) is None:
            raise AssertionError(f"{file}:{number}: `# {m.group(1)}: ignore` without [codes]; name the error codes")
        codes[m.group(1)] = _codes(m.group(3))
    verdicts = VERDICT.findall(text)
    if not codes and not verdicts:
        return None
    if len(verdicts) > 1:
        raise AssertionError(f"{file}:{number}: one `# reject:`, `# accept:` or `# false-alarm:` comment per line")
    if not verdicts:
        return Line(file, number, frozenset(CHECKERS), codes, "")
    kind, names = verdicts[0]
    listed = {n.strip() for n in names.split(",")}
    unknown = listed - set(CHECKERS)
    if unknown:
        raise AssertionError(f"{file}:{number}: unknown checker {sorted(unknown)} in `# {kind}:`; known: {CHECKERS}")
    rejected = set(CHECKERS) - listed if kind == "accept" else listed
    return Line(file, number, frozenset(rejected), codes, f"# {kind}: {names}", kind == "false-alarm")


def corpus_lines(path: Path) -> dict[int, Line]:
    """The marked lines of one corpus file, by line number."""
    lines: dict[int, Line] = {}
    for number, text in enumerate(path.read_text().splitlines(), 1):
        line = _parse_line(path.name, number, text)
        if line is not None:
            lines[number] = line
    return lines


def marker_problems(line: Line) -> list[str]:
    """A marker that contradicts the verdicts (so a checker run directly on the corpus would not be clean)."""
    where = f"{line.file}:{line.number}"
    mypys = line.rejected_by & {"mypy", "mypy+plugin"}
    pyrights = line.rejected_by & {"pyright", "basedpyright"}
    problems: list[str] = []
    if mypys and "type" not in line.codes:
        problems.append(f"{where}: rejected by {sorted(mypys)} but has no `# type: ignore[code]`")
    if "type" in line.codes and not mypys:
        problems.append(f"{where}: `# type: ignore` on a line neither mypy run rejects")
    if len(mypys) == 1 and "unused-ignore" not in line.codes.get("type", frozenset()):
        problems.append(
            f"{where}: only {next(iter(mypys))} rejects it: add `unused-ignore` to the `# type: ignore[...]`"
        )
    if pyrights and "pyright" not in line.codes:
        problems.append(f"{where}: rejected by {sorted(pyrights)} but has no `# pyright: ignore[rule]`")
    if "pyright" in line.codes and not pyrights:
        problems.append(f"{where}: `# pyright: ignore` on a line neither pyright nor basedpyright rejects")
    if "pyrefly" in line.codes and "pyrefly" not in line.rejected_by:
        problems.append(f"{where}: `# pyrefly: ignore` on a line pyrefly does not reject")
    if not line.rejected_by - {"ty"}:
        problems.append(f"{where}: a line only ty rejects is a ty false alarm: report it, do not mark it")
    if line.false_alarm and line.file.startswith("reject_"):
        problems.append(f"{where}: `# false-alarm:` belongs on correct code, in an accept_ file")
    if line.file.startswith("accept_") and not line.spelled:
        problems.append(f"{where}: a line every checker rejects belongs in a reject_ file")
    return problems


# ---------------------------------------------------------------- running the checkers


@dataclass
class Diagnostic:
    file: str
    line: int
    code: str
    message: str


@dataclass
class Run:
    checker: str
    diagnostics: list[Diagnostic] = field(default_factory=list[Diagnostic])
    problem: str = ""  # the checker is missing or crashed: its test fails with this
    seconds: float = 0.0

    def by_line(self) -> dict[tuple[str, int], list[Diagnostic]]:
        out: dict[tuple[str, int], list[Diagnostic]] = {}
        for d in self.diagnostics:
            out.setdefault((d.file, d.line), []).append(d)
        return out


class Missing(Exception):
    pass


def _exe(name: str) -> str:
    """A checker's executable: in this interpreter's environment first, then on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise Missing(f'{name} is not installed: `pip install -e ".[dev]"` installs every checker the corpus runs')
    return found


def _mypy_module() -> None:
    if importlib.util.find_spec("mypy") is None:
        raise Missing('mypy is not installed: `pip install -e ".[dev]"`')


def _mypy_command(config: str) -> Callable[[Path], list[str]]:
    def command(root: Path) -> list[str]:
        _mypy_module()
        return [sys.executable, "-m", "mypy", "--config-file", str(HERE / config), "--no-incremental",
                "--cache-dir", str(root / f".cache-{config}"), "--show-error-codes", "--no-error-summary",
                "--no-pretty", *sorted(p.name for p in root.glob("*.py"))]  # fmt: skip

    return command


def _pyright_command(name: str) -> Callable[[Path], list[str]]:
    def command(root: Path) -> list[str]:
        return [_exe(name), "--outputjson", "-p", str(HERE / "pyrightconfig.json"), "--pythonpath", sys.executable,
                *sorted(p.name for p in root.glob("*.py"))]  # fmt: skip

    return command


def _pyrefly_command(root: Path) -> list[str]:
    return [_exe("pyrefly"), "check", "-c", str(HERE / "pyrefly.toml"), "--python-interpreter-path", sys.executable,
            "--output-format", "json", "--summary=none", "--progress-bar", "no",
            *sorted(p.name for p in root.glob("*.py"))]  # fmt: skip


def _ty_command(root: Path) -> list[str]:
    return [_exe("ty"), "check", "--config-file", str(HERE / "ty.toml"), "--python", sys.prefix,
            "--output-format", "concise", "--color", "never", *sorted(p.name for p in root.glob("*.py"))]  # fmt: skip


MYPY_LINE = re.compile(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+): error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$", re.M)
TY_LINE = re.compile(
    r"^(?P<file>[^:\n]+\.py):(?P<line>\d+):\d+: (?:error|warning)\[(?P<code>[\w-]+)\] (?P<msg>.*)$", re.M
)


def _parse_mypy(out: str) -> list[Diagnostic]:
    return [
        Diagnostic(Path(m["file"]).name, int(m["line"]), m["code"] or "", m["msg"]) for m in MYPY_LINE.finditer(out)
    ]


def _parse_pyright(out: str) -> list[Diagnostic]:
    return [
        Diagnostic(Path(d["file"]).name, d["range"]["start"]["line"] + 1, d.get("rule", ""), d["message"])
        for d in json.loads(out)["generalDiagnostics"]
    ]


def _parse_pyrefly(out: str) -> list[Diagnostic]:
    return [
        Diagnostic(Path(d["path"]).name, d["line"], d["name"], d["concise_description"])
        for d in json.loads(out)["errors"]
        if d["severity"] in ("error", "warn")
    ]


def _parse_ty(out: str) -> list[Diagnostic]:
    return [Diagnostic(Path(m["file"]).name, int(m["line"]), m["code"], m["msg"]) for m in TY_LINE.finditer(out)]


RUNNERS: dict[str, tuple[Callable[[Path], list[str]], Callable[[str], list[Diagnostic]]]] = {
    "mypy": (_mypy_command("mypy.ini"), _parse_mypy),
    "mypy+plugin": (_mypy_command("mypy-plugin.ini"), _parse_mypy),
    "pyright": (_pyright_command("pyright"), _parse_pyright),
    "basedpyright": (_pyright_command("basedpyright"), _parse_pyright),
    "pyrefly": (_pyrefly_command, _parse_pyrefly),
    "ty": (_ty_command, _parse_ty),
}


def strip_corpus(root: Path) -> None:
    """The corpus with every ignore comment removed (line numbers unchanged), the verdict comments kept."""
    for path in FILES:
        (root / path.name).write_text(STRIP.sub("", path.read_text()))


def run_checkers(root: Path, checkers: tuple[str, ...]) -> dict[str, Run]:
    """Run the checkers at once (each its own process) on the stripped corpus in root."""
    runs = {name: Run(name) for name in checkers}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    start = time.perf_counter()
    for name in checkers:
        try:
            argv = RUNNERS[name][0](root)
        except Missing as e:
            runs[name].problem = str(e)
            continue
        # output to files, not pipes: a checker blocked on a full pipe would wait for the ones read before it
        with open(root / f"{name}.out", "wb") as out_file, open(root / f"{name}.err", "wb") as err_file:
            procs[name] = subprocess.Popen(argv, cwd=root, stdout=out_file, stderr=err_file)
    pending = dict(procs)
    while pending:
        for name, proc in list(pending.items()):
            if proc.poll() is not None:
                runs[name].seconds = time.perf_counter() - start
                del pending[name]
        if pending and time.perf_counter() - start > 300:
            for name, proc in pending.items():
                proc.kill()
                proc.wait()
                runs[name].problem = f"{name} took more than 300 s on the corpus"
            break
        time.sleep(0.05)
    for name, proc in procs.items():
        if runs[name].problem:
            continue
        out = (root / f"{name}.out").read_text()
        err = (root / f"{name}.err").read_text()
        if proc.returncode not in (0, 1):
            runs[name].problem = f"{name} exited with {proc.returncode}:\n{out[-3000:]}\n{err[-3000:]}"
            continue
        try:
            runs[name].diagnostics = RUNNERS[name][1](out)
        except (ValueError, KeyError) as e:
            runs[name].problem = f"{name}: unreadable output ({e!r}):\n{out[-3000:]}\n{err[-3000:]}"
    return runs


# ---------------------------------------------------------------- verdicts


@dataclass
class Verdict:
    false_alarms: list[str] = field(default_factory=list[str])  # errors on lines the checker must accept
    known_false_alarms: list[str] = field(default_factory=list[str])  # errors on `# false-alarm:` lines (documented)
    misses: list[str] = field(default_factory=list[str])  # marked lines the checker accepts
    wrong_codes: list[str] = field(default_factory=list[str])  # rejected, but not with the codes the marker names
    accepted: int = 0  # statements of the accept files the checker must accept and does
    accept_cases: int = 0
    caught: int = 0  # lines the checker must reject and does (reject_ files, and accept_ lines marked for it)
    reject_cases: int = 0
    differing: int = 0  # of those, the accept_ lines (where checkers legitimately differ, e.g. plugin-only types)


CODE_KEY = {"mypy": "type", "mypy+plugin": "type", "pyright": "pyright", "basedpyright": "pyright"}


def _statement_lines(path: Path) -> Iterator[int]:
    """First lines of the simple statements of a file (its cases), imports and docstrings aside."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Pass) or not isinstance(node, ast.stmt):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if not hasattr(node, "body"):  # not a compound statement (def, class, for, if, with ...)
            yield node.lineno


def verdict(checker: str, run: Run, files: Sequence[Path] = FILES) -> Verdict:
    """What one checker's run says against the markers of the corpus files."""
    v = Verdict()
    found = run.by_line()
    for path in files:
        lines = corpus_lines(path)
        for (file, number), diags in found.items():
            if file != path.name:
                continue
            line = lines.get(number)
            if line is None or checker not in line.rejected_by:
                said = "; ".join(f"[{d.code}] {d.message}" for d in diags)
                v.false_alarms.append(f"{file}:{number}: {said}")
        for number, line in lines.items():
            if checker not in line.rejected_by:
                continue
            diags = found.get((path.name, number), [])
            if line.false_alarm:
                if diags:
                    v.known_false_alarms.append(
                        f"{path.name}:{number}: " + "; ".join(f"[{d.code}] {d.message}" for d in diags)
                    )
                else:
                    v.misses.append(f"{path.name}:{number}: the known false alarm is gone: remove `{line.spelled}`")
                continue
            v.reject_cases += 1
            v.differing += path.name.startswith("accept_")
            if not diags:
                v.misses.append(f"{path.name}:{number} (marked {line.spelled or 'for every checker'})")
                continue
            v.caught += 1
            key = "pyrefly" if checker == "pyrefly" and "pyrefly" in line.codes else CODE_KEY.get(checker)
            if key is None:
                continue
            want = line.codes.get(key, frozenset()) - {"unused-ignore"}
            got = frozenset(d.code for d in diags)
            loose = "unused-ignore" in line.codes.get(key, frozenset())
            if (got - want) if loose else (got != want):
                v.wrong_codes.append(
                    f"{path.name}:{number}: {checker} reports {sorted(got)}, the marker says {sorted(want)}"
                )
        if path.name.startswith("accept_"):
            for number in _statement_lines(path):
                line = lines.get(number)
                if line is not None and checker in line.rejected_by and not line.false_alarm:
                    continue
                v.accept_cases += 1
                v.accepted += (path.name, number) not in found
    return v


def table(verdicts: dict[str, Verdict], runs: dict[str, Run]) -> str:
    rows = [
        f"{'checker':<13} {'accept stmts':>13} {'reject lines caught':>20} {'(of which differing)':>21} "
        f"{'false alarms':>13} {'seconds':>8}"
    ]
    for name, v in verdicts.items():
        rows.append(
            f"{name:<13} {f'{v.accepted}/{v.accept_cases}':>13} {f'{v.caught}/{v.reject_cases}':>20} {v.differing:>21} "
            f"{len(v.false_alarms) + len(v.known_false_alarms):>13} {runs[name].seconds:>8.1f}"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("typing-corpus")
    strip_corpus(root)
    return run_checkers(root, CHECKERS)


def test_corpus_has_accept_and_reject_files() -> None:
    names = [f.name for f in FILES]
    assert any(n.startswith("accept_") for n in names)
    assert any(n.startswith("reject_") for n in names)


def test_markers_agree_with_the_verdicts() -> None:
    """Every reject file marks lines, and each marker is what the checker run directly on the corpus needs."""
    problems: list[str] = []
    for path in FILES:
        lines = corpus_lines(path)
        if path.name.startswith("reject_") and not lines:
            problems.append(f"{path.name}: a reject file without marked lines")
        for line in lines.values():
            problems += marker_problems(line)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("checker", GATING)
def test_checker_verdicts(checker: str, runs: dict[str, Run]) -> None:
    """Exactly the marked lines are errors for this checker, with the marked codes (mypy, pyright)."""
    run = runs[checker]
    assert not run.problem, run.problem
    v = verdict(checker, run)
    report = [
        *(f"false alarm: {s}" for s in v.false_alarms),
        *(f"missed: {s}" for s in v.misses),
        *(f"wrong code: {s}" for s in v.wrong_codes),
    ]
    assert not report, f"{checker} on tests/typing (ignore comments stripped):\n" + "\n".join(report)


def test_ty_runs_and_is_reported(runs: dict[str, Run], capsys: pytest.CaptureFixture[str]) -> None:
    """ty (beta) runs on the corpus; its false alarms and misses are printed line by line, not failed."""
    run = runs["ty"]
    assert not run.problem, run.problem
    assert run.diagnostics, "ty reported nothing on a corpus full of errors: its output format changed?"
    v = verdict("ty", run)
    with capsys.disabled():
        print(f"\nty on tests/typing: {v.caught}/{v.reject_cases} reject lines caught, "
              f"{len(v.false_alarms)} false alarms, {v.accepted}/{v.accept_cases} accept statements accepted")  # fmt: skip
        for s in v.false_alarms:
            print(f"  ty false alarm: {s}")
        for s in v.misses:
            print(f"  ty misses: {s}")


def _fake_corpus(tmp_path: Path) -> list[Path]:
    accept = tmp_path / "accept_x.py"
    accept.write_text("a = 1\nb = 2  # pyrefly: ignore[bad-assignment]  # false-alarm: pyrefly\n")
    reject = tmp_path / "reject_x.py"
    reject.write_text(
        "c = 1  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]\n"
        "d = 2  # type: ignore[arg-type, unused-ignore]  # reject: mypy+plugin\n"
    )
    return [accept, reject]


@pytest.mark.parametrize(
    ("checker", "reported", "false_alarms", "misses", "wrong_codes"),
    [
        # every marked line reported with its codes, the known pyrefly false alarm too: clean
        ("mypy", [("reject_x.py", 1, "assignment")], 0, 0, 0),
        ("mypy+plugin", [("reject_x.py", 1, "assignment"), ("reject_x.py", 2, "arg-type")], 0, 0, 0),
        ("pyrefly", [("reject_x.py", 1, "bad-assignment"), ("accept_x.py", 2, "bad-assignment")], 0, 0, 0),
        # an error on an accepted line, the plugin-only line under plain mypy
        ("mypy", [("reject_x.py", 1, "assignment"), ("accept_x.py", 1, "misc")], 1, 0, 0),
        ("mypy", [("reject_x.py", 1, "assignment"), ("reject_x.py", 2, "arg-type")], 1, 0, 0),
        # a marked line accepted; the plugin-only line missed by the plugin; pyrefly's false alarm fixed
        ("pyright", [], 0, 1, 0),
        ("mypy+plugin", [("reject_x.py", 1, "assignment")], 0, 1, 0),
        ("pyrefly", [("reject_x.py", 1, "bad-assignment")], 0, 1, 0),
        # rejected for another reason than the marker says (unused-ignore allows a subset, not another code)
        ("basedpyright", [("reject_x.py", 1, "reportCallIssue")], 0, 0, 1),
        ("mypy+plugin", [("reject_x.py", 1, "assignment"), ("reject_x.py", 2, "misc")], 0, 0, 1),
    ],
)
def test_the_verdict_catches_false_alarms_misses_and_wrong_codes(
    tmp_path: Path, checker: str, reported: list[tuple[str, int, str]], false_alarms: int, misses: int, wrong_codes: int
) -> None:
    run = Run(checker, [Diagnostic(f, n, code, "message") for f, n, code in reported])
    v = verdict(checker, run, _fake_corpus(tmp_path))
    assert (len(v.false_alarms), len(v.misses), len(v.wrong_codes)) == (false_alarms, misses, wrong_codes), v


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x = 1  # type: ignore", "without [codes]"),
        ("x = 1  # type: ignore[misc]  # reject: mypi", "unknown checker"),
        ("x = 1  # pyright: ignore[reportCallIssue]  # reject: mypy+plugin", "no `# type: ignore"),
        ("x = 1  # type: ignore[misc]  # reject: mypy+plugin", "unused-ignore"),
        (
            "x = 1  # type: ignore[misc]  # pyright: ignore[reportCallIssue]  # reject: mypy, mypy+plugin",
            "neither pyright",
        ),
        ("x = 1  # reject: pyright", "no `# pyright: ignore"),
        ("x = 1  # reject: ty", "only ty rejects"),
    ],
)
def test_contradictory_markers_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "reject_x.py"
    path.write_text(text + "\n")
    try:
        problems = [p for line in corpus_lines(path).values() for p in marker_problems(line)]
    except AssertionError as e:
        problems = [str(e)]
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("checker", ["pyright", "basedpyright", "pyrefly", "ty"])
def test_a_missing_checker_is_a_failure_not_a_skip(
    checker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dev extra installs every checker: one that is absent makes its corpus test fail, naming the fix."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))

    def nowhere(name: str) -> None:
        return None

    monkeypatch.setattr(shutil, "which", nowhere)
    run = run_checkers(tmp_path, (checker,))[checker]
    assert f"{checker} is not installed" in run.problem
    assert ".[dev]" in run.problem


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


def main() -> None:
    """`python -m tests.test_typing_corpus`: the checkers x verdicts table and every line where one disagrees."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        strip_corpus(root)
        start = time.perf_counter()
        runs = run_checkers(root, CHECKERS)
        wall = time.perf_counter() - start
    verdicts: dict[str, Verdict] = {}
    for name, run in runs.items():
        if run.problem:
            print(f"{name}: {run.problem}")
            continue
        verdicts[name] = verdict(name, run)
    print(table(verdicts, runs))
    print(f"all checkers in parallel: {wall:.1f} s wall")
    for name, v in verdicts.items():
        for s in v.known_false_alarms:
            print(f"{name}: known false alarm (documented): {s}")
        for s in [*v.false_alarms, *v.misses, *v.wrong_codes]:
            print(f"{name}: {s}")


if __name__ == "__main__":
    main()
