"""The second demo, the sort Transformer, at a reduced size (CI installs the examples extra), and its parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import DTypeError, NoneTape, ShapeError, Tensor
from typedtensor import extend as ext
from typedtensor.examples import sort
from typedtensor.examples._common import blas_threads
from typedtensor.examples._positions import PositionEmbedding

from .fd import numeric_gradient

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


def test_position_embedding_adds_rows_and_their_gradient_sums_over_the_batch() -> None:
    layer = PositionEmbedding[L[5], L[3]](5, 3, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((2, 4, 3))
    w = ext.data(layer.weight).copy()
    y = layer.forward(tt.tensor(x_np, np.float64).realize((2, 4, 3)))
    np.testing.assert_array_equal(y.numpy(), x_np + w[:4])
    g = rng.standard_normal((2, 4, 3))
    grads = layer.alloc_grads()
    out = layer.forward_mut(tt.tensor(x_np, np.float64).realize((2, 4, 3)).trace(grads))
    (out * tt.tensor(g, np.float64).realize((2, 4, 3))).sum().backward()
    gw = ext.grad_array(grads, layer.weight)
    assert gw is not None

    def objective(arrays: list[np.ndarray[Any, Any]]) -> float:
        return float(((x_np + arrays[0][:4]) * g).sum())

    np.testing.assert_allclose(gw, numeric_gradient(objective, [w], 0), rtol=1e-6, atol=1e-8)
    assert np.all(gw[4] == 0)  # position 4 was not used
    half = PositionEmbedding[L[5], L[3]](5, 3, dtype=np.float16, seed=0)
    gh = half.alloc_grads()
    x16: Tensor[tuple[L[2], L[4], L[3]], np.float16, NoneTape] = tt.tensor(x_np, np.float16).realize((2, 4, 3))
    half.forward_mut(x16.trace(gh)).sum().backward()
    g16 = ext.grad_array(gh, half.weight)
    assert g16 is not None
    assert g16.dtype == np.float16
    np.testing.assert_array_equal(g16[:4], np.full((4, 3), 2.0, np.float16))


@pytest.mark.parametrize("checks", [True, False])
def test_position_embedding_refuses_long_or_wrong_inputs(checks: bool) -> None:
    layer = PositionEmbedding(5, 3, seed=0)
    with tt.checks(checks):
        with pytest.raises(ShapeError, match=r"T <= 5, got shape \(1, 6, 3\)"):
            layer.forward(tt.zeros((1, 6, 3)))
        with pytest.raises(ShapeError):  # the features must be the table's (a CheckError naming D when checked)
            layer.forward(tt.zeros((1, 2, 4)))
        with pytest.raises(DTypeError, match="float32"):
            layer.forward(tt.zeros((1, 2, 3), np.float64))
        with pytest.raises(tt.TypedTensorError, match="max_len"):
            PositionEmbedding(0, 3)


def test_position_embedding_reads_every_layout() -> None:
    layer = PositionEmbedding[L[6], L[4]](6, 4, seed=1)
    w = ext.data(layer.weight)
    base = np.random.default_rng(3).standard_normal((3, 10, 8)).astype(np.float32)
    layouts = {
        "C": np.ascontiguousarray(base[:, :5, :4]),
        "F": np.asfortranarray(base[:, :5, :4]),
        "strided": base[:, ::2, ::2],
        "negative strides": base[::-1, 5:0:-1, 3::-1],
    }
    for name, x in layouts.items():
        xt: Tensor[tuple[L[3], L[5], L[4]], np.float32, NoneTape] = ext.wrap(x).realize((3, 5, 4))  # not copied
        assert ext.data(xt).strides == x.strides
        y = layer.forward(xt)
        np.testing.assert_array_equal(y.numpy(), x + w[:5], err_msg=name)


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


def test_position_embedding_takes_a_torch_embedding_state_dict() -> None:
    torch = pytest.importorskip("torch")
    table = torch.nn.Embedding(19, 8)
    layer = PositionEmbedding[L[19], L[8]](19, 8, seed=0)
    layer.load_state_dict({k: v.detach().numpy() for k, v in table.state_dict().items()})
    ids = torch.arange(7)
    x_np = np.random.default_rng(4).standard_normal((2, 7, 8)).astype(np.float32)
    expected = (torch.as_tensor(x_np) + table(ids)).detach().numpy()
    got = layer.forward(tt.tensor(x_np, np.float32).realize((2, 7, 8)))
    np.testing.assert_array_equal(got.numpy(), expected)
