"""PyTorch's default parameter initialisations, drawn from a NumPy generator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Values drawn at a time: the float64 draw of a big weight never needs more than 8 MiB beside it.
_CHUNK = 1 << 20


def uniform_fan_in(rng: np.random.Generator, out: NDArray[Any], fan_in: int) -> None:
    """Fill ``out`` in place from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    This is PyTorch's default for Linear and Conv weights (kaiming_uniform with a=sqrt(5)) and biases.
    The values are drawn in chunks, in order: the same values as one draw of ``out.shape``.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    contiguous = out.flags.c_contiguous
    flat = out.reshape(-1) if contiguous else np.empty(out.size, out.dtype)  # the first: a view of out
    for i in range(0, out.size, _CHUNK):
        flat[i : i + _CHUNK] = rng.uniform(-bound, bound, min(_CHUNK, out.size - i))
    if not contiguous:
        out[...] = flat.reshape(out.shape)
