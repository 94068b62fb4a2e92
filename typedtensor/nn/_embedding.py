"""``Embedding[N, D]``: a lookup table of N rows of D features, gathered by integer ids (PyTorch semantics).

``y[*s] = weight[ids[*s]]`` for integer ids of any shape ``(*S)``, so ``(*S) -> (*S, D)``. The gather is
the tensor's own ``weight[ids]``, whose gradient scatters each row of ``g`` into the row of ``weight`` its
id names (repeated ids accumulate; float16 summed in float32); with a ``padding_idx``, one more op zeroes
the gradient of the rows read from it first. The ids take part in the op (they may carry the tape,
``ids.trace(grads)``) but never get a gradient. The ids are checked here, before the gather: PyTorch's
range [0, N) (``weight[ids]`` would take a negative id from the end)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, TypeVarTuple, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._fields import check_fields, fits
from ._module import FieldSpec, Module

__all__ = ["Embedding"]

N = TypeVar("N", bound=int)
D = TypeVar("D", bound=int)
Id = TypeVar("Id", bound=np.integer[Any])
T = TypeVar("T", bound=NoneTape | OwnedTape)
S = TypeVarTuple("S")

Array = NDArray[Any]
#: Values drawn at a time for the N(0, 1) init: a big table never needs more than 8 MiB of float64 beside it.
_CHUNK = 1 << 20


def _padding(value: object, rows: int) -> int | None:
    """``padding_idx`` in [0, rows) (a negative one counts from the end, as in PyTorch), or None."""
    if value is None:
        return None
    index = ext.options.integer(value)
    if index is None or not -rows <= index < rows:
        raise TypedTensorError(
            f"Embedding: padding_idx must be None or an int in [{-rows}, {rows}) (num_embeddings={rows}), got "
            f"{value!r}; pass the id of the padding row (a negative one counts from the end)"
        )
    return index + rows if index < 0 else index


def _ids(ids: Array, rows: int) -> None:
    """Refuse non-integer ids (DTypeError) and ids outside [0, rows) (ShapeError naming the first)."""
    if ids.dtype.kind not in "iu":
        raise DTypeError(
            f"Embedding: expected integer ids, got dtype {ids.dtype}; the input holds row numbers: convert it "
            "with tt.tensor(x, np.int64) (or .numpy().astype(np.int64) for a tensor)"
        )
    bad = ext.first_outside(ids, 0, rows)
    if bad is not None:
        raise ShapeError(
            f"Embedding: id {bad[0]} at index {bad[1]} is out of range: "
            f"ids must be in [0, {rows}) (num_embeddings={rows}); remap the ids or build a larger table"
        )


def no_padding_gradient(ids: Array, rows: Array, padding_idx: int) -> ext.Result:
    """The gathered ``rows`` (``weight[ids]``, ``(*S, D)``) as they are, and a backward that zeroes the gradient
    of every row read from ``padding_idx``: the scatter of ``weight[ids]`` then gives that row of the weight
    exactly zero, PyTorch's rule (the copy is of ``g``'s size, ``(*S, D)``, never the table's)."""

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        if not need[0]:
            return (None,)
        kept = g.copy()
        kept[ids == padding_idx] = 0
        return (kept,)

    return rows, backward


def _normal(rng: np.random.Generator, out: Array) -> None:
    """Fill ``out`` in place from N(0, 1), PyTorch's init, in chunks (the values of one draw of its shape)."""
    contiguous = out.flags.c_contiguous
    flat = out.reshape(-1) if contiguous else np.empty(out.size, out.dtype)  # the first: a view of out
    for i in range(0, out.size, _CHUNK):
        flat[i : i + _CHUNK] = rng.standard_normal(min(_CHUNK, out.size - i))
    if not contiguous:
        out[...] = flat.reshape(out.shape)


class Embedding(Module, Generic[N, D]):
    """A lookup table: ``Embedding[L[100], L[16]](100, 16)`` maps integer ids (*S) to (*S, 16).

    Args:
        num_embeddings: N, the number of rows (ids must be in [0, N)).
        embedding_dim: D, the size of each row.
        padding_idx: a row that never gets a gradient and starts at zero (a negative one counts from the
            end, as in PyTorch), or None.
        dtype: the weight's float dtype (the output has it).
        seed: seed of PyTorch's default init, N(0, 1).

    ``weight`` is (N, D), PyTorch's name and layout, so PyTorch state_dicts load as they are. The ids
    must be an integer tensor (any integer dtype, any layout); the output carries the ids' tape, so a
    model that starts with an Embedding trains with ``model.forward_mut(ids.trace(grads))``.
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"N": "num_embeddings", "D": "embedding_dim"}
    param_names: ClassVar[tuple[str, ...]] = ("weight",)
    structure_names: ClassVar[tuple[str, ...]] = ("num_embeddings", "embedding_dim")
    option_names: ClassVar[tuple[str, ...]] = ("padding_idx",)  # read by the next call; checked on assignment

    weight: Tensor[tuple[N, D], Any, NoneTape]

    def __init__(
        self,
        num_embeddings: N,
        embedding_dim: D,
        padding_idx: int | None = None,
        *,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        self.num_embeddings = cast("N", opt.positive_int(num_embeddings, "num_embeddings", "Embedding"))
        self.embedding_dim = cast("D", opt.positive_int(embedding_dim, "embedding_dim", "Embedding"))
        self.padding_idx = _padding(padding_idx, self.num_embeddings)
        seed = opt.seed(seed, "Embedding")
        self.dtype = ext.float_dtype(dtype, "Embedding")
        self.weight = ext.filled((self.num_embeddings, self.embedding_dim), 0.0, self.dtype, "Embedding")
        self._reset(np.random.default_rng(seed))

    def _reset(self, rng: np.random.Generator) -> None:
        """N(0, 1), then the padding row zeroed (PyTorch's init)."""
        weight = ext.data_mut(self.weight)
        _normal(rng, weight)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}, dtype={self.dtype.name}"

    def forward(self, ids: Tensor[tuple[*S], Id, T]) -> Tensor[tuple[*S, D], Any, T]:
        """The rows of the ids (*S): (B, T) -> (B, T, D); the output has the weight's dtype and the ids' tape."""
        return self._apply(ids)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _field_spec(self, name: str) -> FieldSpec:
        """weight (N, D), of the layer's dtype."""
        return (self.num_embeddings, self.embedding_dim), self.dtype

    def _check_setting(self, name: str, value: object) -> object:
        if name == "padding_idx":
            return _padding(value, self.num_embeddings)
        return super()._check_setting(name, value)

    def _apply(self, ids: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        if not fits(self.weight, (self.num_embeddings, self.embedding_dim), self.dtype):
            check_fields(self)  # a write into __dict__ got around the checks: the field is named
        data = ext.data(ext.tensor_arg(ids, "Embedding"))
        _ids(data, self.num_embeddings)
        rows = self.weight[ids]  # the gather; its backward scatters g into the rows, repeated ids accumulate
        if self.padding_idx is None or not rows.traced:
            return rows
        return ext.record((rows,), *no_padding_gradient(data, ext.data(rows), self.padding_idx))
