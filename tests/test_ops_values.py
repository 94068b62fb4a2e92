"""Every op: gradients against central finite differences (float64), values and gradients against
PyTorch's (committed golden data, and live when torch is installed), and a float32 run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fd import numeric_gradient
from tests.opspec import CASES, Case, run_ours, run_torch

GOLDEN = np.load(Path(__file__).parent / "golden" / "ops.npz")
IDS = [c.name for c in CASES]


def _loss(case: Case, xs: list[np.ndarray[Any, Any]]) -> float:
    import typedtensor as tt

    out = case.ours(*[tt.tensor(x, np.float64) for x in xs])
    return float((out.numpy() * case.weight(out.shape)).sum())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_finite_differences(case: Case) -> None:
    xs = case.inputs()
    _, grads = run_ours(case, xs)
    for i in range(len(xs)):
        numeric = numeric_gradient(lambda values: _loss(case, values), xs, i)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-7, err_msg=f"{case.name} input {i}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_golden(case: Case) -> None:
    xs = [GOLDEN[f"{case.name}/x{i}"] for i in range(len(case.shapes))]
    np.testing.assert_array_equal(xs[0], case.inputs()[0])  # the data was made from these inputs
    out, grads = run_ours(case, xs)
    np.testing.assert_allclose(out, GOLDEN[f"{case.name}/out"], rtol=1e-12, atol=1e-12)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, GOLDEN[f"{case.name}/g{i}"], rtol=1e-10, atol=1e-12, err_msg=f"input {i}")


# (dtype, tolerance of the output, tolerance of the gradients)
LOW_PRECISION = [(np.float32, 1e-5, 1e-4), (np.float16, 1e-2, 2e-2)]


@pytest.mark.parametrize(("dtype", "out_tol", "grad_tol"), LOW_PRECISION, ids=["float32", "float16"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_low_precision_close_to_pytorch_golden(case: Case, dtype: type[Any], out_tol: float, grad_tol: float) -> None:
    xs = [GOLDEN[f"{case.name}/x{i}"] for i in range(len(case.shapes))]
    out, grads = run_ours(case, xs, dtype)
    np.testing.assert_allclose(out, GOLDEN[f"{case.name}/out"], rtol=out_tol, atol=out_tol)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, GOLDEN[f"{case.name}/g{i}"], rtol=grad_tol, atol=grad_tol, err_msg=f"input {i}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_live(case: Case) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers this op")
    xs = case.inputs(seed=7)
    out, grads = run_ours(case, xs)
    t_out, t_grads = run_torch(case, xs)
    np.testing.assert_allclose(out, t_out, rtol=1e-12, atol=1e-12)
    for g, tg in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)


def test_every_tensor_op_has_a_case() -> None:
    names = {c.name.split("_")[0] for c in CASES}
    for op in ["add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "square", "abs", "relu", "sigmoid", "tanh",
               "clamp", "matmul", "sum", "mean", "var", "max", "min", "broadcast", "reshape", "permute", "transpose",
               "index", "concat", "stack", "where", "masked", "softmax", "log", "pow", "rpow", "squeeze",
               "unsqueeze", "maximum", "std", "split", "chunk", "take", "gather", "tril", "triu"]:  # fmt: skip
        assert op in names, op
