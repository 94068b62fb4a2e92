"""typedtensor.progress: the progress bar on a log and on a terminal, tqdm when chosen, the History record and
its plot (the figure's content), the missing-optional-dependency errors, and what it imports."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import progress
from typedtensor.progress import History, ProgressBar, TqdmBar, progress_bar

#: a line of the built-in bar, the elapsed time as a pattern
LINE = r"\r{label} \[{bar}\] {done}/{total} loss {loss} +\d+\.\ds"


#: deliberately ill-typed calls (the checkers reject them statically): through Any
History_: Any = History
ProgressBar_: Any = ProgressBar
progress_: Any = progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _line(label: str, filled: int, width: int, done: int, total: int, loss: str) -> str:
    return LINE.format(
        label=re.escape(label), bar="#" * filled + r"\." * (width - filled), done=done, total=total, loss=loss
    )


def test_on_a_log_the_lines_spread_evenly_over_the_run() -> None:
    """Not a terminal: ``lines`` lines, at 4/10, 7/10 and 10/10 for 3 of 10 steps, each its own line."""
    out = io.StringIO()
    bar = ProgressBar(10, "epoch 1", lines=3, stream=out)
    for step in range(1, 11):
        bar.update(step, 1.0 / step)
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""  # every line ended
    assert len(lines[:-1]) == 3
    for text, (done, loss) in zip(lines[:-1], [(4, "0.2500"), (7, "0.1429"), (10, "0.1000")], strict=True):
        assert re.fullmatch(_line("epoch 1", 24 * done // 10, 24, done, 10, loss), text), text


@pytest.mark.parametrize(("total", "lines", "marks"), [(5, 1, [5]), (3, 10, [1, 2, 3]), (7, 2, [4, 7])])
def test_the_marks_of_a_log(total: int, lines: int, marks: list[int]) -> None:
    out = io.StringIO()
    bar = ProgressBar(total, "t", width=10, lines=lines, stream=out)
    for step in range(1, total + 1):
        bar.update(step, 0.5)
    shown = [int(m) for m in re.findall(r"\] (\d+)/", out.getvalue())]
    assert shown == marks


def test_on_a_terminal_it_redraws_in_place_and_ends_the_line_when_done() -> None:
    out = _Terminal()
    bar = ProgressBar(3, "train", width=6, stream=out)
    bar.update(1, 2.0)
    bar.update(2, 1.5)
    assert "\n" not in out.getvalue()
    assert out.getvalue().count("\r") == 2
    bar.update(3, 1.25)
    parts = out.getvalue().split("\r")[1:]
    assert re.fullmatch(_line("train", 6, 6, 3, 3, "1.2500")[2:] + "\n", parts[-1])
    assert re.fullmatch(_line("train", 2, 6, 1, 3, "2.0000")[2:], parts[0])


def test_the_default_stream_is_stderr_at_each_update(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar(2, "x", lines=2)
    bar.update(1, 0.25)
    bar.update(2, float("nan"))  # a diverged loss is shown
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "1/2 loss 0.2500" in captured.err
    assert "2/2 loss nan" in captured.err


ERRORS: list[tuple[str, Any]] = [
    ("total must be a positive int", lambda: ProgressBar(0, "x")),
    ("lines must be a positive int", lambda: ProgressBar(3, "x", lines=0)),
    ("width must be a positive int", lambda: ProgressBar_(3, "x", width=1.5)),
    (r"done must be an int in \[1, 3\]", lambda: ProgressBar(3, "x").update(4, 0.1)),
    (r"done must be an int in \[1, 3\]", lambda: ProgressBar(3, "x").update(0, 0.1)),
    ("loss must be a real number", lambda: ProgressBar_(1, "x", stream=io.StringIO()).update(1, "0.1")),
    ("loss must be a real number", lambda: ProgressBar(1, "x", stream=io.StringIO()).update(1, True)),
    ("backend must be 'builtin', 'tqdm' or 'auto'", lambda: progress_.progress_bar(3, "x", backend="rich")),
    ("step must be an int", lambda: History_().log(1.0, loss=0.5)),
    ("nothing to log", lambda: History().log(1)),
    ("loss must be a real number", lambda: History_().log(1, loss=None)),
    ("no series 'acc'", lambda: History()["acc"]),
    ("nothing logged yet", lambda: History().plot("x.png")),
    # checked at construction and at every update, not only when a line is drawn
    ("stream must be a text stream", lambda: ProgressBar_(3, "x", stream=5)),
    ("loss must be a real number", lambda: ProgressBar_(3, "x", stream=io.StringIO()).update(1, "0.1")),
]


@pytest.mark.parametrize(("shown", "call"), ERRORS, ids=[e[0] for e in ERRORS])
def test_mistakes_are_typedtensor_errors(shown: str, call: Any) -> None:
    with pytest.raises(tt.TypedTensorError, match=shown):
        call()


def test_tqdm_when_chosen() -> None:
    pytest.importorskip("tqdm", reason="the tqdm bar needs tqdm: pip install tqdm (the built-in bar needs nothing)")
    out = io.StringIO()
    bar = progress_bar(4, "epoch 2", backend="tqdm", stream=out)
    assert isinstance(bar, TqdmBar)
    for step in range(1, 5):
        bar.update(step, 0.5 / step)
    text = out.getvalue()
    assert "epoch 2" in text
    assert "4/4" in text
    assert "loss 0.1250" in text
    assert bar.bar.n == 4
    assert isinstance(progress_bar(4, "x", backend="auto", stream=io.StringIO()), TqdmBar)


def test_without_tqdm_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    with pytest.raises(tt.TypedTensorError, match="needs tqdm, which is not installed: pip install tqdm"):
        progress_bar(3, "x", backend="tqdm")
    assert isinstance(progress_bar(3, "x", backend="auto"), ProgressBar)  # auto falls back


def _logged() -> History:
    h = History()
    for epoch in range(1, 5):
        h.log(epoch, train_loss=1.0 / epoch, test_loss=1.5 / epoch)
        if epoch % 2 == 0:
            h.log(epoch, test_acc=0.2 * epoch)
    return h


def test_history_records_series_by_name() -> None:
    h = _logged()
    assert h.names == ["train_loss", "test_loss", "test_acc"]
    assert h["train_loss"] == [1.0, 0.5, 1.0 / 3, 0.25]
    assert h.steps("test_acc") == [2, 4]
    assert h["test_acc"] == [0.4, 0.8]
    h["test_acc"].append(1.0)  # a copy: the record is unchanged
    assert h["test_acc"] == [0.4, 0.8]
    h.log(5, train_loss=float(np.float32(0.125)))
    History_.log(h, 6, train_loss=np.float32(0.125))  # NumPy scalars too
    assert h["train_loss"][-1] == 0.125
    assert type(h["train_loss"][-1]) is float
    with pytest.raises(tt.TypedTensorError, match="steps of 'test_acc' must increase, got 4 after 4"):
        h.log(4, test_acc=0.9)
    with pytest.raises(tt.TypedTensorError, match="steps of 'train_loss' must increase"):
        h.log(5, other=1.0, train_loss=0.1)
    assert "other" not in h.names  # all or nothing


def test_plot_draws_the_losses_left_and_the_accuracy_right(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (the examples extra)")
    figures: list[Any] = []

    def capture(fig: Any, path: object) -> None:
        figures.append(fig)

    monkeypatch.setattr(progress, "save_figure", capture)
    _logged().plot(tmp_path / "h.png", ylabel="cross-entropy", titles=("L", "A"), labels={"test_loss": "held-out"})
    (fig,) = figures
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["train loss", "held-out"]
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [1.0, 0.5, 1.0 / 3, 0.25])
    np.testing.assert_array_equal(left.get_lines()[1].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [40.0, 80.0])
    np.testing.assert_array_equal(right.get_lines()[0].get_xdata(), [2, 4])
    assert (left.get_title(), right.get_title(), left.get_ylabel(), right.get_ylabel()) == (
        "L",
        "A",
        "cross-entropy",
        "%",
    )
    assert left.get_yscale() == "linear"
    assert left.get_legend() is not None
    figures.clear()
    h = History()
    h.log(1, loss=2.0)
    h.log(3, loss=0.5, accuracy=0.5)
    h.plot(tmp_path / "h.png", log_loss=True, accuracy_range=(0, 100), markers=["accuracy"])
    left, right = figures[0].axes
    assert left.get_yscale() == "log"
    assert right.get_ylim() == (0.0, 100.0)
    assert right.get_lines()[0].get_marker() == "o"
    figures.clear()
    only = History()
    only.log(1, loss=1.0)
    only.plot(tmp_path / "h.png")
    assert len(figures[0].axes) == 1  # no accuracy series: one panel


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (the examples extra)")
    _logged().plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")


PLOT_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("titles must be two strings", {"titles": ("loss",)}, "h.png"),
    ("labels must be a mapping", {"labels": ["a"]}, "h.png"),
    ("accuracy_range must be two finite numbers", {"accuracy_range": (0,)}, "h.png"),
    ("markers must be a sequence of series names", {"markers": "train_loss"}, "h.png"),
    ("could not write the figure", {}, "no/such/dir/h.png"),
    ("could not write the figure", {}, "h.xyz"),
]


@pytest.mark.parametrize(("shown", "options", "name"), PLOT_ERRORS, ids=[e[0] + " " + e[2] for e in PLOT_ERRORS])
def test_plot_mistakes_are_typedtensor_errors(shown: str, options: dict[str, Any], name: str, tmp_path: Path) -> None:
    """Bad options and an unwritable path: a TypedTensorError, no figure left open (they escaped as
    IndexError, ValueError or FileNotFoundError, or were silently misread: a str of markers)."""
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (the examples extra)")
    plt = progress.pyplot()
    before = len(plt.get_fignums())
    history: Any = _logged()
    with pytest.raises(tt.TypedTensorError, match=shown):
        history.plot(tmp_path / name, **options)
    assert len(plt.get_fignums()) == before


def test_without_matplotlib_the_error_says_which_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(tt.TypedTensorError, match=r"needs matplotlib.*pip install 'typedtensor\[examples\]'"):
        _logged().plot(tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_loaded_lazily_and_light() -> None:
    """``import typedtensor`` does not load it; ``tt.progress`` does, without matplotlib or tqdm."""
    code = (
        "import sys\nimport typedtensor as tt\nassert 'typedtensor.progress' not in sys.modules\n"
        "tt.progress.ProgressBar(1, 'x')\n"
        "print(' '.join(m for m in ('matplotlib', 'tqdm', 'typedtensor.nn') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
