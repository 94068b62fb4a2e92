"""The main job, the digits demo, at a reduced epoch count (CI installs the examples extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits demo needs the examples extra: pip install -e '.[examples]'")

from typedtensor.examples import digits


def test_demo_trains_saves_reloads_and_plots(tmp_path: Path) -> None:
    result = digits.main(["--epochs", "3", "--out", str(tmp_path), "--quiet"])
    assert result["accuracy"] >= 0.90  # 3 epochs; the full 20-epoch run reaches >= 97%
    assert result["reloaded_accuracy"] == result["accuracy"]
    assert (tmp_path / "digits.safetensors").stat().st_size > 50_000
    png = (tmp_path / "digits.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_data_split_is_stratified_and_standardised() -> None:
    data = digits.load_data(0)
    assert len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.shape[1:] == (1, 8, 8)
    assert data.x_train.dtype == np.float32
    assert abs(float(data.x_train.mean())) < 1e-5
    assert abs(float(data.x_train.std()) - 1) < 1e-4
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 35  # about 20% of each class (~180 images each)
    assert not set(map(bytes, data.x_test)) & set(map(bytes, data.x_train))


def test_inference_changes_nothing_and_training_updates_running_stats() -> None:
    model = digits.DigitsNet(seed=0)
    data = digits.load_data(0)
    before = model.state_dict()
    digits.evaluate(model, data.x_test, data.y_test)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    trained, _ = digits.train(data, epochs=1, verbose=False)
    assert trained.bn1.num_batches_tracked == 23  # 1,437 images in batches of 64
    assert not np.array_equal(trained.state_dict()["bn1.running_mean"], before["bn1.running_mean"])


def test_module_entry_point_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "typedtensor.examples.digits", "--epochs", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy (inference mode)" in proc.stdout
    assert "epoch  1/1" in proc.stderr  # the progress bar
