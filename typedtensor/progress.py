"""Training-script helpers: a progress bar and a record of metrics that plots itself.

``ProgressBar(total, label)`` draws steps done, the loss and the elapsed time on one line of stderr with no
dependency: redrawn in place on a terminal, ``lines`` lines spread evenly over the run in a log (a stream
that is not a terminal). ``progress_bar(..., backend="tqdm")`` gives a tqdm bar with the same ``update``
instead, when tqdm is installed (``"auto"``: tqdm if it is, else the built-in bar); tqdm stays optional.

``History`` records named metrics against the step or epoch (``history.log(epoch, train_loss=...,
test_acc=...)``) and ``History.plot(path)`` writes the loss/accuracy figure as a PNG through matplotlib,
imported only then (the Agg backend: no display needed). Without matplotlib the plot is a
``TypedTensorError`` saying what to install (``pip install matplotlib``, or the ``examples`` extra).
``pyplot()`` and ``save_figure()`` are the two matplotlib steps for a figure of one's own.

This module is not loaded by ``import typedtensor`` until ``tt.progress`` is first used.
"""

from __future__ import annotations

import importlib
import numbers
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TextIO, cast

import numpy as np

from . import _options as options
from ._errors import TypedTensorError

__all__ = ["History", "Progress", "ProgressBar", "TqdmBar", "progress_bar", "pyplot", "save_figure"]

#: what to install for each optional module
_INSTALL = {
    "matplotlib": "pip install matplotlib (or the examples extra: pip install 'typedtensor[examples]')",
    "tqdm": "pip install tqdm",
}


def _optional(module: str, why: str) -> Any:
    """The optional ``module`` (untyped, used through Any), or a TypedTensorError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise TypedTensorError(f"{why} needs {top}, which is not installed: {_INSTALL[top]}") from e


class Progress(Protocol):
    """What a training loop calls: ``update(done, loss)`` after each step, ``close()`` at the end."""

    def update(self, done: int, loss: float) -> None: ...

    def close(self) -> None: ...


def _text_stream(stream: object, where: str) -> TextIO | None:
    """``stream`` when it is None (stderr) or has ``write`` and ``isatty``, else a TypedTensorError."""
    if stream is not None and not (
        callable(getattr(stream, "write", None)) and callable(getattr(stream, "isatty", None))
    ):
        raise TypedTensorError(
            f"{where}: stream must be a text stream (with write and isatty, e.g. sys.stdout or an open file) "
            f"or None for stderr, got {type(stream).__name__}"
        )
    return cast("TextIO | None", stream)


def _step(done: object, total: int, where: str) -> int:
    step = options.integer(done)
    if step is None or not 1 <= step <= total:
        raise TypedTensorError(f"{where}: done must be an int in [1, {total}] (steps done), got {done!r}")
    return step


class ProgressBar:
    """A one-line progress bar on ``stream`` (default stderr, looked up at each update): steps done, loss,
    elapsed time; no dependency.

    On a terminal it redraws in place (``\\r``) and ends the line when ``done == total``; on a stream that is
    not a terminal (a log file, a CI log) it prints ``lines`` lines (at most ``total``) evenly spread over the
    run, the last when done. Each line reads ``label [####....] done/total loss 0.1234   1.2s``.
    """

    def __init__(self, total: int, label: str, width: int = 24, lines: int = 1, stream: TextIO | None = None) -> None:
        where = "ProgressBar"
        self.total = options.positive_int(total, "total", where)
        self.width = options.positive_int(width, "width", where)
        self.lines = min(options.positive_int(lines, "lines", where), self.total)
        self.label = label
        self.stream = _text_stream(stream, where)
        self.start = time.perf_counter()
        self.interactive = self._stream().isatty()

    def _stream(self) -> TextIO:
        return sys.stderr if self.stream is None else self.stream

    def update(self, done: int, loss: float) -> None:
        """Show ``done`` of ``total`` steps and the current ``loss`` (on a log, only at the ``lines`` marks)."""
        step = _step(done, self.total, "ProgressBar.update")
        value = _number(loss, "loss", "ProgressBar.update")  # checked at every step, drawn or not
        if not self.interactive and step * self.lines // self.total == (step - 1) * self.lines // self.total:
            return  # in logs, only at each of the ``lines`` marks
        filled = self.width * step // self.total
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        end = "\n" if step == self.total or not self.interactive else ""
        line = f"\r{self.label} [{bar}] {step}/{self.total} loss {value:.4f} {elapsed:5.1f}s"
        print(line, end=end, file=self._stream())

    def close(self) -> None:
        """Nothing to release (the last update ended the line); there for ``Progress``."""


def _number(value: object, name: str, where: str) -> float:
    """``value`` as a float: any real number, NaN and the infinities too (a diverged loss is worth seeing)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypedTensorError(f"{where}: {name} must be a real number, got {value!r}; pass loss.item()")
    return float(value)


class TqdmBar:
    """``ProgressBar``'s ``update(done, loss)`` on a tqdm bar (``tqdm.tqdm(total=..., desc=label)``, the loss
    as its postfix); closed when ``done == total``. Needs tqdm (a TypedTensorError saying so otherwise)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, **tqdm_options: Any) -> None:
        tqdm: Any = _optional("tqdm", "TqdmBar (progress_bar(backend='tqdm'))")
        self.total = options.positive_int(total, "total", "TqdmBar")
        self.bar: Any = tqdm.tqdm(total=self.total, desc=label, file=_text_stream(stream, "TqdmBar"), **tqdm_options)

    def update(self, done: int, loss: float) -> None:
        step = _step(done, self.total, "TqdmBar.update")
        self.bar.set_postfix_str(f"loss {_number(loss, 'loss', 'TqdmBar.update'):.4f}", refresh=False)
        self.bar.update(step - self.bar.n)
        if step == self.total:
            self.close()

    def close(self) -> None:
        self.bar.close()


def progress_bar(
    total: int,
    label: str,
    *,
    lines: int = 1,
    backend: Literal["builtin", "tqdm", "auto"] = "builtin",
    stream: TextIO | None = None,
) -> Progress:
    """A progress bar for ``total`` steps: the built-in ``ProgressBar`` (default), a ``TqdmBar``
    (``backend="tqdm"``: tqdm must be installed), or tqdm when it is installed and the built-in bar when not
    (``"auto"``). ``lines`` applies to the built-in bar on a non-terminal stream."""
    if backend == "builtin":
        return ProgressBar(total, label, lines=lines, stream=stream)
    if backend == "tqdm":
        return TqdmBar(total, label, stream)
    if backend == "auto":
        try:
            importlib.import_module("tqdm")
        except ImportError:
            return ProgressBar(total, label, lines=lines, stream=stream)
        return TqdmBar(total, label, stream)
    raise TypedTensorError(f"progress_bar: backend must be 'builtin', 'tqdm' or 'auto', got {backend!r}")


def pyplot() -> Any:
    """matplotlib.pyplot drawing into files only (the Agg backend, no display); untyped, used through Any.

    A TypedTensorError saying what to install when matplotlib is missing.
    """
    matplotlib: Any = _optional("matplotlib", "plotting")
    matplotlib.use("Agg")
    return _optional("matplotlib.pyplot", "plotting")


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Lay out ``fig`` (a matplotlib figure), write it to ``path`` (PNG unless the suffix says otherwise) at
    ``dpi`` and close it."""
    plt = pyplot()
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    except (OSError, ValueError) as e:  # a missing directory, no permission, an unknown suffix
        raise TypedTensorError(
            f"save_figure: could not write the figure to {os.fspath(path)!r} ({e}); pass a writable path ending "
            "in .png (or another format matplotlib writes: .pdf, .svg)"
        ) from None
    finally:
        plt.close(fig)


class History:
    """Named metrics of a training run, each a series of (step, value) points.

    ``log(step, **values)`` appends one point to each named series (a series may skip steps: the held-out
    accuracy every few epochs beside the loss at every one); ``history["train_loss"]`` is a series' values,
    ``history.steps("train_loss")`` its steps, ``history.names`` the names in order of first use. Steps of a
    series must increase. ``plot(path)`` draws the accuracy series (names containing ``"acc"``, in %) on the
    right, every other series (the losses) on the left.
    """

    def __init__(self) -> None:
        self._series: dict[str, tuple[list[int], list[float]]] = {}

    def log(self, step: int, /, **values: float) -> None:
        """Append ``values`` (real numbers; NaN and infinities kept, a diverged loss is worth seeing) at ``step``
        (an int)."""
        where = "History.log"
        at = options.integer(step)
        if at is None:
            raise TypedTensorError(f"{where}: step must be an int (the step or epoch), got {step!r}")
        if not values:
            raise TypedTensorError(f"{where}: nothing to log; pass the metrics by name, e.g. log(epoch, loss=0.3)")
        checked = {name: _number(v, name, where) for name, v in values.items()}
        for name in checked:
            steps = self._series.get(name, ([], []))[0]
            if steps and at <= steps[-1]:
                raise TypedTensorError(
                    f"{where}: steps of {name!r} must increase, got {at} after {steps[-1]}; log each step once"
                )
        for name, value in checked.items():
            steps, series = self._series.setdefault(name, ([], []))
            steps.append(at)
            series.append(value)

    @property
    def names(self) -> list[str]:
        return list(self._series)

    def _get(self, name: str) -> tuple[list[int], list[float]]:
        if name not in self._series:
            raise TypedTensorError(f"History: no series {name!r}; logged: {', '.join(map(repr, self._series))}")
        return self._series[name]

    def __getitem__(self, name: str) -> list[float]:
        return list(self._get(name)[1])

    def steps(self, name: str) -> list[int]:
        return list(self._get(name)[0])

    def plot(
        self,
        path: str | os.PathLike[str],
        *,
        xlabel: str = "epoch",
        ylabel: str = "loss",
        titles: tuple[str, str] = ("loss", "accuracy"),
        labels: Mapping[str, str] | None = None,
        log_loss: bool = False,
        accuracy_range: tuple[float, float] | None = None,
        markers: Sequence[str] = (),
    ) -> None:
        """Write the loss/accuracy figure to ``path`` (PNG at 100 dpi): the loss series on the left (``ylabel``,
        a log scale with ``log_loss``), the accuracy series in % on the right (``accuracy_range`` its limits, e.g.
        (0, 100); default matplotlib's), both against the step (integer ticks); ``titles`` are the two panels'
        titles, ``labels`` the legend's names of the series (default: the name with spaces), ``markers`` the
        series drawn with a dot at each point. One panel when there is no accuracy series. matplotlib is
        imported here (a TypedTensorError if it is missing).
        """
        if not self._series:
            raise TypedTensorError("History.plot: nothing logged yet; call log(step, name=value) first")
        _plot_options(titles, labels, accuracy_range, markers)  # before matplotlib opens a figure
        plt = pyplot()
        ticker: Any = _optional("matplotlib.ticker", "plotting")
        accuracy = [n for n in self._series if "acc" in n]
        losses = [n for n in self._series if n not in accuracy]
        panels = [p for p in (losses, accuracy) if p]
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
        try:  # a figure is closed whatever happens (save_figure closes it after writing)
            names = dict(labels or {})
            for ax, series, is_acc in zip(axes[0], panels, [p is accuracy for p in panels], strict=True):
                for name in series:
                    steps, values = self._series[name]
                    ys = [100 * v for v in values] if is_acc else values
                    ax.plot(
                        steps,
                        ys,
                        label=names.get(name, name.replace("_", " ")),
                        marker="o" if name in markers else None,
                    )
                if is_acc:
                    ax.set(xlabel=xlabel, ylabel="%", title=titles[1])
                    if accuracy_range is not None:
                        ax.set_ylim(*accuracy_range)
                else:
                    ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log" if log_loss else "linear", title=titles[0])
                if len(series) > 1:
                    ax.legend()
                ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        except BaseException:
            plt.close(fig)
            raise
        save_figure(fig, path)


def _plot_options(titles: object, labels: object, accuracy_range: object, markers: object) -> None:
    """``History.plot``'s options, checked before a figure is opened."""
    where = "History.plot"
    names = _items(titles)
    if names is None or len(names) != 2 or not all(isinstance(t, str) for t in names):
        raise TypedTensorError(f"{where}: titles must be two strings (loss panel, accuracy panel), got {titles!r}")
    if labels is not None and not isinstance(labels, Mapping):
        raise TypedTensorError(
            f"{where}: labels must be a mapping of series names to legend names, got {type(labels).__name__}"
        )
    limits = _items(accuracy_range)
    if accuracy_range is not None and (limits is None or len(limits) != 2 or not all(_finite(v) for v in limits)):
        raise TypedTensorError(
            f"{where}: accuracy_range must be two finite numbers (low, high) in %, e.g. (0, 100), got "
            f"{accuracy_range!r}"
        )
    marked = None if isinstance(markers, str) else _items(markers)
    if marked is None or not all(isinstance(m, str) for m in marked):
        raise TypedTensorError(
            f"{where}: markers must be a sequence of series names, e.g. ('test_acc',), got {markers!r}"
        )


def _items(value: object) -> list[object] | None:
    """The items of a tuple, list, set or frozenset, else None."""
    if isinstance(value, tuple | list | set | frozenset):
        return list(cast("tuple[object, ...]", value))
    return None


def _finite(value: object) -> bool:
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) and bool(np.isfinite(float(value)))
    )
