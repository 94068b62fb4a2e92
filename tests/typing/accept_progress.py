"""Accept corpus: typedtensor.progress, the progress bars behind one Progress protocol and the History record."""

from __future__ import annotations

import io
from pathlib import Path
from typing import assert_type

import numpy as np

import typedtensor as tt
from typedtensor.progress import History, Progress, ProgressBar, TqdmBar, progress_bar, pyplot, save_figure

bar = ProgressBar(100, "epoch 1/10", width=30, lines=5, stream=io.StringIO())
bar.update(1, 0.25)
bar.update(2, float(np.float32(0.5)))
bar.close()
chosen = progress_bar(100, "train", backend="auto", lines=3)
assert_type(chosen, Progress)
assert_type(progress_bar(10, "x"), Progress)
as_protocol: Progress = bar  # the built-in bar is a Progress
as_tqdm: Progress = TqdmBar(10, "x", leave=False)  # so is the tqdm one (tqdm options passed on)
lazily = tt.progress.History()  # through the package's lazy table
assert_type(lazily, History)

history = History()
history.log(1, train_loss=0.5, test_loss=0.75, test_acc=0.9)
history.log(2, train_loss=0.25)
assert_type(history["train_loss"], list[float])
assert_type(history.steps("test_acc"), list[int])
assert_type(history.names, list[str])
history.plot(Path("out.png"), xlabel="step", titles=("loss", "held-out accuracy"), labels={"test_loss": "held-out"})
history.plot("out.png", log_loss=True, accuracy_range=(0, 100), markers=["test_acc"])
plt = pyplot()  # Any: matplotlib is untyped here
save_figure(plt.figure(), "fig.png", dpi=72)
