"""``PositionEmbedding[P, D]``: learned absolute positions added to token embeddings (B, T, D), T <= P.

``y[b, t] = x[b, t] + weight[t]``. In PyTorch one writes ``x + pos(torch.arange(T))``: autograd sees the
position table wherever it is used. Here a gradient flows through the tape of a traced operand, and
position ids built inside the model are untraced, so ``nn.Embedding`` applied to them would give its
table no gradient. This layer adds the rows to the traced ``x`` in one op recorded through
``typedtensor.extend`` (the forward and its backward side by side), so the table is a parent of that
op and is trained. The table has the layout of an ``nn.Embedding(P, D)`` weight (N(0, 1) init, as
PyTorch's), so a PyTorch model with ``nn.Embedding`` positions loads into it with its state_dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

import typedtensor.extend as ext
from typedtensor import NoneTape, OwnedTape, ShapeError, Tensor, nn

__all__ = ["PositionEmbedding", "add_positions"]

P = TypeVar("P", bound=int)
D = TypeVar("D", bound=int)
B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)

Array = NDArray[Any]


def add_positions(x: Array, weight: Array) -> ext.Result:
    """``x + weight[:T]`` for x (B, T, D) and weight (P, D), and its backward for the parents ``(x, weight)``.

    The backward passes ``g`` to x unchanged and sums it over the batch into the first T rows of the
    table (the other rows get zero); float16 is summed in float32.
    """
    t = x.shape[1]
    rows = weight[:t]
    out = x + rows

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        gw = None
        if need[1]:
            work = np.float32 if weight.dtype == np.float16 else weight.dtype
            gw = np.zeros(weight.shape, weight.dtype)
            gw[:t] = np.sum(g, axis=0, dtype=work)
        return (g if need[0] else None), gw

    return out, backward


class PositionEmbedding(nn.Module, Generic[P, D]):
    """``PositionEmbedding[L[19], L[48]](19, 48)`` adds a learned (48,) row per position to (B, T, 48), T <= 19.

    Args:
        max_len: P, the longest sequence (the table's rows).
        dim: D, the features (the input's last dim).
        dtype: the table's float dtype (inputs must have it).
        seed: seed of the init, N(0, 1) (PyTorch's for an embedding).
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"P": "max_len", "D": "dim"}
    param_names: ClassVar[tuple[str, ...]] = ("weight",)
    structure_names: ClassVar[tuple[str, ...]] = ("max_len", "dim")

    weight: Tensor[tuple[P, D], Any, NoneTape]

    def __init__(self, max_len: P, dim: D, *, dtype: type[Any] = np.float32, seed: int | None = None) -> None:
        opt = ext.options
        self.max_len: P = max_len
        self.dim: D = dim
        opt.positive_int(max_len, "max_len", "PositionEmbedding")
        opt.positive_int(dim, "dim", "PositionEmbedding")
        self.dtype = ext.float_dtype(dtype, "PositionEmbedding")
        self.weight = ext.filled((max_len, dim), 0.0, self.dtype, "PositionEmbedding")
        self._reset(np.random.default_rng(opt.seed(seed, "PositionEmbedding")))

    def _reset(self, rng: np.random.Generator) -> None:
        table = ext.data_mut(self.weight)
        table[...] = rng.standard_normal(table.shape)

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.dim}, dtype={self.dtype.name}"

    def forward(self, x: Tensor[tuple[B, T, D], E, Tape]) -> Tensor[tuple[B, T, D], E, Tape]:
        """x (B, T, D) plus the first T rows of the table; the output carries x's tape."""
        data = ext.data(ext.tensor_arg(x, "PositionEmbedding"))
        if data.ndim != 3 or data.shape[2] != self.dim or data.shape[1] > self.max_len:
            raise ShapeError(
                f"PositionEmbedding: expected input (B, T, {self.dim}) with T <= {self.max_len}, got shape "
                f"{data.shape}; build the layer with max_len at least the longest sequence"
            )
        if data.dtype != self.dtype:
            raise ext.input_dtype_error("PositionEmbedding", self.dtype, data.dtype)
        return ext.record((x, self.weight), *add_positions(data, ext.data(self.weight)))

    def forward_mut(self, x: Tensor[tuple[B, T, D], E, Tape]) -> Tensor[tuple[B, T, D], E, Tape]:
        """Same as ``forward`` (no train/infer difference); the table gets a gradient when allocated."""
        return self.forward(x)
