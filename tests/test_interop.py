"""jaxtyping interop and the packaged example."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from beartype import beartype
from jaxtyping import Float, TypeCheckError, jaxtyped  # pyright: ignore[reportUnknownVariableType]

import typedtensor as tt

AnyTensor = tt.Tensor[Any, Any, Any]


@jaxtyped(typechecker=beartype)
def project(x: Float[AnyTensor, "b c"], w: Float[AnyTensor, "c d"]) -> Float[AnyTensor, "b d"]:
    return x @ w


def test_jaxtyping_float_annotation_checks_shapes() -> None:
    assert project(tt.zeros((2, 3)), tt.zeros((3, 4))).shape == (2, 4)
    with pytest.raises(TypeCheckError):
        project(tt.zeros((2, 3)), tt.zeros((2, 4)))


def test_jaxtyping_sees_dtype() -> None:
    @jaxtyped(typechecker=beartype)
    def f(x: Float[AnyTensor, " n"]) -> None:
        pass

    f(tt.zeros((3,), np.float64))
    with pytest.raises(TypeCheckError):
        f(tt.tensor(np.array([True, False])))


def test_quickstart_example_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "typedtensor.examples.quickstart", "--steps", "60"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "final loss" in out.stdout
