"""PyTorch's default parameter initialisations, drawn from a NumPy generator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def uniform_fan_in(rng: np.random.Generator, out: NDArray[Any], fan_in: int) -> None:
    """Fill ``out`` in place from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    This is PyTorch's default for Linear and Conv weights (kaiming_uniform with a=sqrt(5)) and biases.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    out[...] = rng.uniform(-bound, bound, out.shape)
