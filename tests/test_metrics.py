"""nn.accuracy and nn.top_k_accuracy: PyTorch's values (golden data and live), the tie rule, validation."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.golden.make_metrics_golden import CASES, OUT, inputs, torch_correct
from tests.layouts import layouts
from typedtensor import nn

GOLDEN = np.load(OUT)
DTYPES = (np.float32, np.float64)


def _t(z: np.ndarray[Any, Any], y: np.ndarray[Any, Any], dtype: Any = np.float64) -> tuple[Any, Any]:
    return tt.tensor(z, dtype), tt.tensor(y, np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_top_k_counts_equal_the_golden_torch_counts_for_every_k_and_layout(case: str, dtype: Any) -> None:
    z, y = GOLDEN[f"{case}/logits"], GOLDEN[f"{case}/labels"]
    expected = GOLDEN[f"{case}/correct"]
    for name, view in layouts(z.astype(dtype)).items():
        if name == "broadcast":
            continue  # one row repeated: not this case's values
        logits, labels = _t(view, y, dtype)
        got = [nn.top_k_accuracy(logits, labels, k, "sum") for k in range(1, z.shape[1] + 1)]
        assert got == [float(c) for c in expected], name
        assert nn.accuracy(logits, labels, "sum") == float(expected[0]), name
        assert nn.top_k_accuracy(logits, labels, 3) == float(expected[2]) / len(y)


@pytest.mark.parametrize("case", CASES)
def test_top_k_counts_equal_torch_live(case: str) -> None:
    torch: Any = pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this")
    z, y = inputs(case)
    logits, labels = _t(z, y)
    for k in range(1, z.shape[1] + 1):
        assert nn.top_k_accuracy(logits, labels, k, "sum") == torch_correct(case, z, y, k)
    argmax = torch.argmax(torch.from_numpy(z), dim=1)
    assert nn.accuracy(logits, labels) == float((argmax == torch.from_numpy(y)).double().mean())


def test_ties_rank_lower_class_indices_first_as_argmax_does() -> None:
    z = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]])
    y = np.array([1, 2, 0, 2])
    logits, labels = _t(z, y)
    assert nn.accuracy(logits, labels, "sum") == 1.0  # only row 2: argmax is the first maximum
    assert nn.top_k_accuracy(logits, labels, 1, "sum") == 1.0
    assert nn.top_k_accuracy(logits, labels, 2, "sum") == 3.0  # row 3's label is third among three equal
    assert nn.top_k_accuracy(logits, labels, 3, "sum") == 4.0
    assert nn.top_k_accuracy(logits, labels, 2) == 0.75


def test_nan_ranks_above_every_number_as_in_torch() -> None:
    nan = float("nan")
    z = np.array([[nan, 5.0, nan], [nan, 5.0, nan], [1.0, np.inf, nan]])
    y = np.array([0, 2, 1])
    logits, labels = _t(z, y)
    assert nn.accuracy(logits, labels, "sum") == 1.0  # row 0: the first NaN is the argmax
    # row 1's NaN label is second (after the NaN at 0), row 2's inf label second (after the NaN)
    assert [nn.top_k_accuracy(logits, labels, k, "sum") for k in (1, 2, 3)] == [1.0, 3.0, 3.0]
    if importlib.util.find_spec("torch") is not None:
        torch: Any = importlib.import_module("torch")
        order = torch.sort(torch.from_numpy(z), dim=1, descending=True, stable=True).indices
        live = [int((order[:, :k] == torch.from_numpy(y)[:, None]).any(1).sum()) for k in (1, 2, 3)]
        assert live == [1, 3, 3]
        assert torch.argmax(torch.from_numpy(z), dim=1).tolist() == [0, 0, 2]


def test_traced_logits_give_a_plain_float_and_record_nothing() -> None:
    z, y = inputs("distinct")
    model = nn.Linear(10, 10)
    grads = model.alloc_grads()
    logits = model.forward_mut(tt.tensor(z, np.float32).realize((len(z), int(z.shape[1]))).trace(grads))
    labels = tt.tensor(y, np.int64).realize((len(y),))
    acc = nn.accuracy(logits, labels)
    top = nn.top_k_accuracy(logits, labels, 2)
    assert type(acc) is float
    assert type(top) is float
    assert 0.0 <= acc <= top <= 1.0
    nn.cross_entropy(logits, labels).backward()  # the tape is still usable: the metrics took nothing from it


@pytest.mark.parametrize("checks", [True, False])
def test_bad_inputs_are_refused_with_the_same_class_whatever_the_checks_switch(checks: bool) -> None:
    z, y = _t(np.zeros((4, 3)), np.array([0, 1, 2, 0]))
    accuracy: Any = nn.accuracy  # misuse: a static error too (tests/typing/reject_data.py)
    top_k: Any = nn.top_k_accuracy
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=r"\(4, 3\) and \(3,\)|labels"):
            nn.accuracy(z, tt.tensor(np.array([0, 1, 2]), np.int64))
        with pytest.raises(tt.ShapeError):
            nn.top_k_accuracy(z, tt.tensor(np.zeros((4, 1), np.int64), np.int64), 1)
        with pytest.raises(tt.DTypeError):
            accuracy(z, tt.tensor(np.zeros(4), np.float64))
        with pytest.raises(tt.DTypeError):
            accuracy(tt.tensor(np.zeros((4, 3), np.int64), np.int64), y)
        with pytest.raises(tt.TypedTensorError, match=r"labels must be in \[0, 3\).*got 3 at position 1"):
            nn.accuracy(z, tt.tensor(np.array([0, 3, 1, 1]), np.int64))
        with pytest.raises(tt.TypedTensorError, match=r"got -1 at position 0"):
            nn.top_k_accuracy(z, tt.tensor(np.array([-1, 0, 1, 1]), np.int64), 2)
        for k in (0, 4, -1):
            with pytest.raises(tt.ShapeError, match=rf"k must be in \[1, 3\] for 3 classes, got {k}"):
                nn.top_k_accuracy(z, y, k)
        for bad in (1.0, True, "2", None):
            with pytest.raises(tt.DTypeError):
                top_k(z, y, bad)
        with pytest.raises(tt.DTypeError):
            accuracy(z, y, "avg")
        with pytest.raises(tt.ShapeError, match="at least one item and one class"):
            nn.accuracy(*_t(np.zeros((0, 3)), np.zeros(0, np.int64)))
        with pytest.raises(tt.ShapeError, match="at least one item and one class"):
            nn.top_k_accuracy(*_t(np.zeros((2, 0)), np.zeros(2, np.int64)), 1)
