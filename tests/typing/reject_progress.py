"""Reject corpus: typedtensor.progress misused: a missing label or loss, an unknown backend, a step or value that
is not a number, a plot option of the wrong kind."""

from __future__ import annotations

from typedtensor.progress import History, Progress, ProgressBar, progress_bar

ProgressBar(100)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
ProgressBar(100, "x").update(1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
ProgressBar(100, "x").update(1, "0.5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
progress_bar(100, "x", backend="rich")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
progress_bar(100, "x", 3)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
history = History()
history.log("1", loss=0.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
history.log(1, loss="0.5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
history.plot("out.png", titles="loss")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
bad: Progress = History()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
