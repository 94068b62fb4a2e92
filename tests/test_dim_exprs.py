"""Dim expressions (``tt.Half``, ``tt.Mul``, ``tt.Add``, ``tt.Sub``, ``tt.Div``): the run-time checks and the mypy plugin."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NewType, TypeVar
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import Add, Div, Half, Mul, NoneTape, Sub, Tensor

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
N = NewType("N", int)


def zeros(*shape: int) -> Tensor[Any, F32, NoneTape]:
    """A tensor of any shape typed so: these tests hand the checked functions sizes that are wrong on purpose."""
    return tt.zeros(shape)


#: The run-time objects, for building hints in expressions (the checkers read ``Half[H]`` only in annotations).
rt: Any = tt
tup: Any = tuple


# ---- run time ------------------------------------------------------------------------------------------


@tt.checked
def halve(
    x: Tensor[tuple[B, H, W], F32, NoneTape], h: int, w: int
) -> Tensor[tuple[B, Half[H], Half[W]], F32, NoneTape]:
    return zeros(x.shape[0], h, w)


def test_half_is_ceil_of_half_in_the_return_value() -> None:
    assert halve(zeros(2, 32, 31), 16, 16).shape == (2, 16, 16)
    assert halve(zeros(1, 1, 2), 1, 1).shape == (1, 1, 1)


def test_half_mismatch_is_a_shape_check_error_saying_what_was_expected() -> None:
    with pytest.raises(tt.ShapeCheckError, match=re.escape("dim 2 is 15 but Half[W] = 16 (W = 31) is expected")):
        halve(zeros(2, 32, 31), 16, 15)
    with pytest.raises(tt.ShapeCheckError, match=re.escape("dim 1 is 15 but Half[H] = 16 (H = 32) is expected")):
        halve(zeros(2, 32, 32), 15, 16)


@tt.checked
def head(
    flat: Tensor[tuple[B, Mul[C, H, W]], F32, NoneTape], x: Tensor[tuple[B, C, H, W], F32, NoneTape]
) -> Tensor[tuple[B, Add[C, L[1]]], F32, NoneTape]:
    return zeros(flat.shape[0], x.shape[1] + 1)


def test_an_expression_before_its_symbols_are_bound_is_checked_when_they_are() -> None:
    assert head(zeros(2, 60), zeros(2, 3, 4, 5)).shape == (2, 4)
    with pytest.raises(tt.ShapeCheckError, match=re.escape("is 59 but Mul[C, H, W] = 60 (C = 3, H = 4, W = 5)")):
        head(zeros(2, 59), zeros(2, 3, 4, 5))


def test_the_waiting_expression_of_one_call_does_not_leak_into_the_next() -> None:
    with pytest.raises(tt.ShapeCheckError):
        head(zeros(2, 59), zeros(2, 3, 4, 5))
    assert head(zeros(2, 6), zeros(2, 1, 2, 3)).shape == (2, 2)


@tt.checked
def unbound(x: Tensor[tuple[Half[H]], F32, NoneTape]) -> None:
    return None


def test_a_symbol_the_call_never_binds_leaves_the_expression_unchecked() -> None:
    unbound(zeros(7))  # some H gives Half[H] = 7 (H = 13 or 14)


@tt.checked
def arith(
    x: Tensor[tuple[H, W], F32, NoneTape], out: tuple[int, int, int]
) -> Tensor[tuple[Sub[H, W], Div[H, W], Div[H, L[2]]], F32, NoneTape]:
    return zeros(*out)


def test_sub_and_floor_div() -> None:
    assert arith(zeros(7, 2), (5, 3, 3)).shape == (5, 3, 3)
    with pytest.raises(tt.ShapeCheckError, match=re.escape("dim 1 is 4 but Div[H, W] = 3 (H = 7, W = 2) is expected")):
        arith(zeros(7, 2), (5, 4, 3))
    with pytest.raises(tt.ShapeCheckError, match=re.escape("dim 2 is 4 but Div[H, L[2]] = 3 (H = 7) is expected")):
        arith(zeros(7, 2), (5, 3, 4))


def test_sub_below_zero_and_div_by_zero_fit_no_size() -> None:
    with pytest.raises(tt.ShapeCheckError, match=re.escape("Sub[H, W] = None (H = 2, W = 3)")):
        arith(zeros(2, 3), (0, 0, 1))
    with pytest.raises(tt.ShapeCheckError, match=re.escape("Div[H, W] = None (H = 4, W = 0)")):
        arith(zeros(4, 0), (4, 0, 2))


def test_isinstance_outside_a_call_uses_the_hints_own_symbols() -> None:
    hint = rt.Tensor[tup[H, rt.Half[H], rt.Mul[H, N]], F32, NoneTape]
    assert isinstance(zeros(5, 3, 99), hint)  # N unbound: unchecked
    assert not isinstance(zeros(5, 2, 99), hint)
    assert isinstance(zeros(2, 4), rt.Tensor[tup[rt.Half[L[3]], rt.Mul[L[2], rt.Div[L[5], L[2]]]], F32, NoneTape])
    assert not isinstance(zeros(3, 4), rt.Tensor[tup[rt.Half[L[3]], L[4]], F32, NoneTape])


@tt.checked
def newtype_dims(x: Tensor[tuple[N, Mul[N, L[2]]], F32, NoneTape]) -> None:
    return None


def test_newtype_symbols_and_literal_arguments() -> None:
    newtype_dims(zeros(3, 6))
    with pytest.raises(tt.ShapeCheckError, match=re.escape("dim 1 is 5 but Mul[N, L[2]] = 6 (N = 3) is expected")):
        newtype_dims(zeros(3, 5))


def test_a_generic_alias_substitutes_inside_expressions() -> None:
    alias = rt.Tensor[tup[B, rt.Half[H]], F32, NoneTape]
    assert isinstance(zeros(2, 5), alias[L[2], L[10]])
    assert not isinstance(zeros(2, 4), alias[L[2], L[10]])


def test_hint_text_names_the_expression() -> None:
    assert repr(rt.Tensor[tup[B, rt.Mul[C, rt.Half[H]]], F32, NoneTape]) == (
        "typedtensor.Tensor[tuple[B, Mul[C, Half[H]]], float32, NoneTape]"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rt.Half[int], "each argument is a dim"),
        (lambda: rt.Half[H, W], "Half[...] takes 1 dims, got 2"),
        (lambda: rt.Mul[H], "Mul[...] takes 2 or more dims, got 1"),
        (lambda: rt.Sub[H, L[-1]], "each argument is a dim"),
        (lambda: rt.Div[H, 2], "each argument is a dim"),
    ],
)
def test_malformed_expressions_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(tt.TypedTensorError, match=re.escape(message)):
        make()


def test_checks_off_cost_nothing_and_check_nothing() -> None:
    with tt.checks(False):
        assert halve(zeros(2, 32, 32), 3, 3).shape == (2, 3, 3)


# ---- the mypy plugin -------------------------------------------------------------------------------------

HEADER = """\
from typing import Literal as L, TypeVar

import numpy as np

import typedtensor as tt
from typedtensor import Add, Div, Half, Mul, NoneTape, Sub, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)


def keep(x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, H, W], F32, NoneTape]:
    return x


def down(x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, Half[H], Half[W]], F32, NoneTape]:
    raise NotImplementedError


def flat(x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, Mul[C, H, W]], F32, NoneTape]:
    raise NotImplementedError


def head(f: Tensor[tuple[B, Mul[C, H, W]], F32, NoneTape], x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, Add[C, H]], F32, NoneTape]:
    raise NotImplementedError


class Block:
    def forward(self, x: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, Half[H], Div[W, L[2]]], F32, NoneTape]:
        raise NotImplementedError


x: Tensor[tuple[L[2], L[3], L[32], L[31]], F32, NoneTape] = tt.zeros((2, 3, 32, 31))
conv = nn.Conv2D[L[3], L[8]](3, 8, 3, stride=2, padding=1)
X = Tensor[tuple[B, L[3], H, W], F32, NoneTape]
"""

#: (code, what the plugin run says on its line: a revealed-type text or an error text; None: nothing).
PLUGIN_CASES: list[tuple[str, str | None]] = [
    ("reveal_type(down(x))", "Tensor[tuple[Literal[2], Literal[3], Literal[16], Literal[16]]"),
    ("reveal_type(flat(x))", "Tensor[tuple[Literal[2], Literal[2976]]"),
    ("reveal_type(head(flat(x), x))", "Tensor[tuple[Literal[2], Literal[35]]"),
    ("reveal_type(Block().forward(x))", "Tensor[tuple[Literal[2], Literal[3], Literal[16], Literal[15]]"),
    ("reveal_type(down(down(x)))", "Tensor[tuple[Literal[2], Literal[3], Literal[8], Literal[8]]"),
    (
        "y: Tensor[tuple[Half[L[32]], Mul[L[3], L[4]], Add[L[1], L[2], L[3]], Sub[L[5], L[2]], Div[L[7], L[2]]], F32, NoneTape]",
        None,
    ),
    ("reveal_type(y)", "Tensor[tuple[Literal[16], Literal[12], Literal[6], Literal[3], Literal[3]]"),
    (
        "def f1(a: Tensor[tuple[Mul[W, H], Mul[H, W], Mul[C, Mul[H, W]], Mul[W, C, H]], F32, NoneTape]) -> None:\n"
        "    reveal_type(a)",
        "Tensor[tuple[Mul[H, W], Mul[H, W], Mul[C, Mul[H, W]], Mul[C, Mul[H, W]]]",
    ),
    (
        "def f2(a: Tensor[tuple[Sub[H, L[0]], Div[H, L[1]], Add[H, L[0]], Mul[H, L[1]], Mul[H, L[0]]], F32, NoneTape]) -> None:\n"
        "    reveal_type(a)",
        "Tensor[tuple[H, H, H, H, Literal[0]]",
    ),
    ("z: Tensor[tuple[Sub[L[1], L[2]]], F32, NoneTape]", "error: Sub[1, 2] is negative, no size"),
    ("q: Tensor[tuple[Div[L[5], L[0]]], F32, NoneTape]", "error: Div[5, 0] divides by 0"),
    ("r: Tensor[tuple[Half[L[1], L[2]]], F32, NoneTape]", "error: Half[...] takes 1 dims, got 2"),
    ("s: Tensor[tuple[L[2], L[3], L[16], L[15]], F32, NoneTape] = down(x)", "[assignment]"),
    (
        "def wrong(a: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, Half[H], Half[W]], F32, NoneTape]:\n"
        "    return keep(a)",
        "error: ",
    ),
    (
        "def right(a: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, C, Half[Half[H]], Half[Half[W]]], F32, NoneTape]:\n"
        "    return down(down(a))",
        None,
    ),
    (
        "def right_mul(a: Tensor[tuple[B, C, H, W], F32, NoneTape]) -> Tensor[tuple[B, Mul[W, H, C]], F32, NoneTape]:\n"
        "    return flat(a)",
        None,
    ),
    (
        "def typevar_bound(a: Tensor[tuple[B, C, Half[H], W], F32, NoneTape]) -> Tensor[tuple[B, C, Half[H], W], F32, NoneTape]:\n"
        "    return keep(a)",
        None,
    ),
    # layers over symbolic dims give expressions (a stride-2 block is Half[H])
    (
        "def c1(a: X[B, H, W]) -> None:\n    reveal_type(conv.forward(a))",
        "Tensor[tuple[B, Literal[8], Half[H], Half[W]]",
    ),
    (
        "def c2(a: X[B, H, W]) -> None:\n    reveal_type(nn.MaxPool2D(2).forward(a))",
        "Tensor[tuple[B, Literal[3], Div[H, Literal[2]], Div[W, Literal[2]]]",
    ),
    (
        "def c3(a: X[B, H, W]) -> None:\n    reveal_type(nn.Conv2D[L[3], L[8]](3, 8, 5).forward(a))",
        "Tensor[tuple[B, Literal[8], Sub[H, Literal[4]], Sub[W, Literal[4]]]",
    ),
    (
        "def c4(a: X[B, H, W]) -> None:\n    reveal_type(nn.AvgPool2D(3, stride=3).forward(a))",
        "Tensor[tuple[B, Literal[3], Div[H, Literal[3]], Div[W, Literal[3]]]",
    ),
    (
        "def c5(a: X[B, H, W]) -> None:\n    reveal_type(nn.Conv2D[L[3], L[8]](3, 8, 4, stride=2, padding=2).forward(a))",
        "Tensor[tuple[B, Literal[8], Div[Add[Literal[2], H], Literal[2]], Div[Add[Literal[2], W], Literal[2]]]",
    ),
    (
        "def c6(a: X[B, H, W]) -> None:\n    reveal_type(nn.Flatten().forward(a))",
        "Tensor[tuple[B, Mul[Literal[3], Mul[H, W]]]",
    ),
    (
        "def c7(a: X[B, H, W]) -> Tensor[tuple[B, L[8], Half[H], Half[W]], F32, NoneTape]:\n    return conv.forward(a)",
        None,
    ),
    ("def c8(a: X[B, H, W]) -> Tensor[tuple[B, L[8], int, int], F32, NoneTape]:\n    return conv.forward(a)", None),
    (
        "def c9(a: X[B, H, W]) -> Tensor[tuple[B, L[8], Half[H], Half[W]], F32, NoneTape]:\n    return nn.Conv2D[L[3], L[8]](3, 8, 3, padding=1).forward(a)",
        "[return-value]",
    ),
    (
        "def c10(a: Tensor[tuple[B, L[3], int, W], F32, NoneTape]) -> None:\n    reveal_type(conv.forward(a))",
        "Tensor[tuple[B, Literal[8], int, Half[W]]",
    ),
    ("i: Tensor[tuple[L[2], L[3], int, int], F32, NoneTape] = down(x)", None),
    # an expression in a parameter accepts any dim statically (the run-time check compares it)
    (
        "f13: Tensor[tuple[L[2], L[13]], F32, NoneTape] = tt.zeros((2, 13))\nreveal_type(head(f13, x))",
        "Tensor[tuple[Literal[2], Literal[35]]",
    ),
]


def _plugin_source() -> tuple[str, list[int]]:
    lines: list[str] = list(HEADER.splitlines())
    at: list[int] = []
    for code, _ in PLUGIN_CASES:
        lines.append("")
        lines.extend(code.splitlines())
        at.append(len(lines))
    return "\n".join(lines) + "\n", at


def _mypy(directory: Path, plugin: bool) -> dict[int, list[str]]:
    from mypy import api

    config = directory / f"mypy{plugin}.ini"
    config.write_text("[mypy]\nstrict = True\n" + ("plugins = typedtensor.mypy_plugin\n" if plugin else ""))
    out, err, _ = api.run(
        ["--config-file", str(config), "--cache-dir", str(directory / f"cache{plugin}"), str(directory / "cases.py")]
    )
    assert "INTERNAL ERROR" not in out + err, out + err
    found: dict[int, list[str]] = {}
    for m in re.finditer(r"^[^\n]*cases\.py:(\d+): (error|note): (.*)$", out, re.MULTILINE):
        found.setdefault(int(m.group(1)), []).append(f"{m.group(2)}: {m.group(3)}")
    return found


@pytest.fixture(scope="module")
def mypy_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[int], dict[int, list[str]], dict[int, list[str]]]:
    directory = tmp_path_factory.mktemp("dim_exprs")
    source, at = _plugin_source()
    (directory / "cases.py").write_text(source)
    return at, _mypy(directory, True), _mypy(directory, False)


@pytest.mark.parametrize("index", range(len(PLUGIN_CASES)), ids=[c.splitlines()[0][:60] for c, _ in PLUGIN_CASES])
def test_plugin(index: int, mypy_runs: tuple[list[int], dict[int, list[str]], dict[int, list[str]]]) -> None:
    at, plugin, _ = mypy_runs
    expected = PLUGIN_CASES[index][1]
    said = [t.replace("typedtensor._dimexpr._Static.", "") for t in plugin.get(at[index], [])]
    if expected is None:
        assert said == [], said
    else:
        assert any(expected in s for s in said), said


def test_plugin_reports_nothing_outside_the_case_lines(
    mypy_runs: tuple[list[int], dict[int, list[str]], dict[int, list[str]]],
) -> None:
    at, plugin, _ = mypy_runs
    assert {line: said for line, said in plugin.items() if line not in at} == {}


def test_plain_mypy_reads_every_expression_as_any(
    mypy_runs: tuple[list[int], dict[int, list[str]], dict[int, list[str]]],
) -> None:
    at, _, plain = mypy_runs
    errors = {line: said for line, said in plain.items() if any(s.startswith("error") for s in said)}
    arity = at[[c for c, _ in PLUGIN_CASES].index("r: Tensor[tuple[Half[L[1], L[2]]], F32, NoneTape]")]
    assert set(errors) == {arity}, errors  # a wrong number of arguments is an error without the plugin too
    down_line = at[0]
    assert any("Tensor[tuple[Literal[2], Literal[3], Any, Any]" in s for s in plain[down_line]), plain[down_line]
