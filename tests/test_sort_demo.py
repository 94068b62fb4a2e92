"""The second demo, the sort Transformer, at a reduced size (CI installs the examples extra), and its parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from typedtensor import ShapeError
from typedtensor import extend as ext
from typedtensor.examples import sort
from typedtensor.examples._common import blas_threads

pytest.importorskip("safetensors", reason="the sort demo needs the examples extra: pip install -e '.[examples]'")
pytest.importorskip("matplotlib", reason="the sort demo needs the examples extra: pip install -e '.[examples]'")


def test_demo_trains_saves_reloads_and_plots(tmp_path: Path) -> None:
    result = sort.main(["--steps", "150", "--held-out", "200", "--evals", "2", "--out", str(tmp_path), "--quiet"])
    assert result["final_loss"] < 0.5 * result["first_loss"]  # it learns (from ~2.3, log 10)
    assert result["accuracy"] >= 0.05  # 150 steps; the full 1,000-step run reaches >= 99%
    assert result["reloaded_accuracy"] == result["accuracy"]
    assert (tmp_path / "sort.safetensors").stat().st_size > 200_000  # 58k float32 parameters
    assert (tmp_path / "sort.png").read_bytes().startswith(b"\x89PNG")


def test_module_entry_point_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedtensor.examples.sort",
            "--steps",
            "10",
            "--held-out",
            "20",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "held-out exact match (greedy, inference mode)" in proc.stdout
    assert "train [" in proc.stderr  # the progress bar
    assert "10/10" in proc.stderr


def test_problems_are_sorted_and_held_out_ones_never_trained_on() -> None:
    rows = sort.problems(np.random.default_rng(0), 500)
    assert rows.shape == (500, 20)
    assert rows.dtype == np.int64
    np.testing.assert_array_equal(rows[:, 10:], np.sort(rows[:, :10], axis=1))
    assert rows.min() == 0
    assert rows.max() == 9
    drawn = sort.problems(np.random.default_rng(5), 64)
    excluded = np.sort(sort._codes(drawn[:10]))  # the first 10 problems this generator will draw
    batch = sort.training_batch(np.random.default_rng(5), 64, excluded)
    assert not np.isin(sort._codes(batch), excluded).any()
    np.testing.assert_array_equal(batch[10:], drawn[10:])  # only the clashing rows were redrawn
    np.testing.assert_array_equal(batch[:, 10:], np.sort(batch[:, :10], axis=1))
    assert not np.array_equal(sort.held_out(100, 0), sort.held_out(100, 1))


def _model() -> sort.SortNet[Any]:
    return sort.SortNet(16, heads=2, layers=2, seed=3)


def test_model_is_causal_and_batched_generation_matches_one_by_one() -> None:
    model = _model()
    rows = sort.problems(np.random.default_rng(1), 6)
    full = model.forward(sort.token_ids(rows[:, :19])).numpy()
    prefix = model.forward(sort.token_ids(rows[:, :12])).numpy()
    np.testing.assert_allclose(prefix, full[:, :12], rtol=1e-5, atol=1e-5)  # no position sees a later token
    together = sort.generate(model, rows[:, :10])
    one_by_one = np.concatenate([sort.generate(model, rows[i : i + 1, :10]) for i in range(6)])
    np.testing.assert_array_equal(together, one_by_one)
    assert together.shape == (6, 10)
    assert together.dtype == np.int64


def test_inference_changes_nothing() -> None:
    model = _model()
    before = model.state_dict()
    sort.accuracy(model, sort.held_out(20))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_loss_scores_the_answer_positions_only() -> None:
    model = _model()
    grads = model.alloc_grads()
    rows = sort.problems(np.random.default_rng(2), 4)
    logits = model.forward_mut(sort.token_ids(rows[:, :19]).realize((4, sort.CONTEXT)).trace(grads))
    loss = sort.answer_loss(logits, rows[:, 10:])
    z = logits.numpy()[:, 9:].reshape(-1, 10).astype(np.float64)
    log_p = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    expected = -log_p[np.arange(40), rows[:, 10:].reshape(-1)].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert np.any(ext.grad_array(grads, model.head.weight) != 0)
    table = ext.grad_array(grads, model.positions.weight)
    assert table is not None
    assert np.all(table[:19] != 0)  # every position up to 19 reaches a scored one


def test_positions_are_an_embedding_on_the_ids_tape() -> None:
    # nn.Embedding under PyTorch's name: positions.weight (19, D); its ids are retaped onto the token ids
    model = _model()
    state = model.state_dict()
    assert state["positions.weight"].shape == (sort.CONTEXT, 16)
    assert state["tokens.weight"].shape == (sort.VOCAB, 16)
    rows = sort.problems(np.random.default_rng(4), 3)
    ids = sort.token_ids(rows[:, :19])
    inferred = model.forward(ids).numpy()
    trained = model.forward_mut(ids.trace(model.alloc_grads())).numpy()
    np.testing.assert_allclose(trained, inferred, rtol=1e-6, atol=1e-6)  # both paths add the same rows
    with pytest.raises(ShapeError, match=r"id 19 .* out of range"):  # position 19 is outside the (19, D) table
        model.forward(sort.token_ids(rows[:, :20]))


def test_blas_threads_limits_openblas_inside_the_context_only() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas() -> list[int]:
        return [int(info["num_threads"]) for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]

    before = blas()
    assert before  # NumPy's OpenBLAS is loaded
    with blas_threads(1):
        assert blas() == [1] * len(before)
    assert blas() == before
    with blas_threads(0):  # 0: OpenBLAS's own default, untouched
        assert blas() == before
