"""``MultiHeadAttention[D]``: PyTorch's ``nn.MultiheadAttention(batch_first=True)`` on (B, T, D).

``forward(query, key=None, value=None, attn_mask=None)``: the queries (B, T, D) attend over the keys and
values (B, S, D) (the queries themselves when both are None). Each input is projected by its third of
``in_proj_weight`` (3D, D) and ``in_proj_bias`` (3D,), split into H heads of Dh = D / H features
(``split_heads``), attended per head (``scaled_dot_product_attention``: softmax(q k^T / sqrt(Dh)) v),
merged (``merge_heads``) and projected by ``out_proj`` (a Linear (D, D)). Self-attention projects the
three at once (one GEMM into (B, T, 3D)) and views the heads in it (``attend_packed``): the values of
three projections to float rounding (the GEMM blocks differently), in fewer recorded ops. The parameters
have PyTorch's names and layout, so its state_dicts load as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._errors import ShapeError, TapeError, TypedTensorError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._fields import check_fields, fits
from ._linear import Linear
from ._module import FieldSpec, Module
from ._sdpa import AttnMask, attend, attention_mask, check_qkv, ieee, merge_heads, split_heads, work_dtype

__all__ = ["MultiHeadAttention"]

B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
S = TypeVar("S", bound=int)
D = TypeVar("D", bound=int)
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)

Array = NDArray[Any]
_WHERE = "MultiHeadAttention"


def project(x: Array, weight: Array, bias: Array | None, part: int | None) -> ext.Result:
    """``x @ w.T + b`` with (w, b) the ``part``-th of three (D, D) blocks of weight (3D, D) and bias (3D,), or
    the whole of them (``part`` None: the three projections of self-attention in one GEMM, (..., 3D)).

    The backward's parents are ``(x, weight, bias, anchor)`` for a part: the anchor (the query) gets no
    gradient from here but puts the op on its tape, so that the parameters get the gradient of an untraced
    key or value's projection too; the weight's and bias's gradients are zero outside the block. For the
    whole they are ``(x, weight, bias)``. float16 is computed in float32 and rounded once.
    """
    dim = x.shape[-1]
    block = slice(None) if part is None else slice(part * dim, (part + 1) * dim)
    work = work_dtype(x.dtype)
    with ieee():  # beyond float16's range: inf, as the other ops
        rows = x.reshape(-1, dim).astype(work, copy=False)
        w = weight[block].astype(work, copy=False)
        y = rows @ w.T
        if bias is not None:
            y += bias[block]
        out = y.astype(x.dtype, copy=False).reshape((*x.shape[:-1], w.shape[0]))

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        with ieee():
            g2 = g.reshape(-1, w.shape[0]).astype(work, copy=False)
            gx = (g2 @ w).astype(x.dtype, copy=False).reshape(x.shape) if need[0] else None
            gw = gb = None
            if need[1]:
                gw = np.zeros(weight.shape, weight.dtype)
                gw[block] = g2.T @ rows
            if bias is not None and need[2]:
                gb = np.zeros(bias.shape, bias.dtype)
                gb[block] = np.sum(g2, axis=0, dtype=work)
            return (gx, gw, gb) if part is None else (gx, gw, gb, None)

    return out, backward


def attend_packed(
    packed: Array, heads: int, mask: NDArray[np.bool_] | None, keep: NDArray[np.floating[Any]] | None
) -> ext.Result:
    """Self-attention over the three projections packed as (B, T, 3D) (``project(..., None)``): the heads are
    views of it, the output is the heads merged, (B, T, D), and the backward returns the packed gradient."""
    b, t, three = packed.shape
    dim = three // 3
    split = packed.reshape(b, t, 3, heads, dim // heads)
    q, k, v = (split[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    out, backward_heads = attend(q, k, v, mask, keep)
    merged = out.transpose(0, 2, 1, 3).reshape(b, t, dim)  # a view: attend writes token-major

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        grads = backward_heads(g.reshape(b, t, heads, dim // heads).transpose(0, 2, 1, 3), (True, True, True))
        whole = np.empty(split.shape, packed.dtype)
        for i, gi in enumerate(grads):
            whole[:, :, i] = np.swapaxes(cast("Array", gi), 1, 2)
        return (whole.reshape(packed.shape),)

    return merged, backward


def xavier_uniform(rng: np.random.Generator, out: Array) -> None:
    """Fill the matrix ``out`` (fan_out, fan_in) from U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (PyTorch's)."""
    bound = math.sqrt(6.0 / (out.shape[0] + out.shape[1]))
    out[...] = rng.uniform(-bound, bound, out.shape)


class OutProjection(Linear[Any, Any]):
    """The output projection (D, D): a Linear whose bias starts at zero (PyTorch's init for attention)."""

    def _reset(self, rng: np.random.Generator) -> None:
        super()._reset(rng)
        if self.bias is not None:
            ext.data_mut(self.bias)[...] = 0


def _dropout(value: object) -> float:
    return ext.options.unit(value, "dropout", _WHERE)


class MultiHeadAttention(Module, Generic[D]):
    """Multi-head attention: ``MultiHeadAttention[L[64]](64, 4)`` maps (B, T, 64) to (B, T, 64).

    Args:
        embed_dim: D, the size of the inputs' and the output's last dim.
        num_heads: H, which must divide D (each head attends over Dh = D / H features).
        causal: whether each query position i attends only to the key positions j <= i (the keys after it are
            masked, top-left aligned as PyTorch's ``is_causal``; with S != T as well).
        dropout: the probability of zeroing an attention probability in training (``forward_mut``).
        bias: whether to learn ``in_proj_bias`` and ``out_proj.bias`` (init 0).
        dtype: the parameters' float dtype (inputs must have it too).
        seed: seed of the init (``in_proj_weight`` Xavier-uniform, ``out_proj.weight`` as Linear's) and of
            the dropout masks.

    ``in_proj_weight`` (3D, D) holds the query, key and value projections stacked, ``in_proj_bias`` (3D,)
    their biases, ``out_proj`` is a Linear (D, D): PyTorch's names and layout. ``attn_mask`` is a bool
    tensor (T, S) or (B, T, S), True where attention is not allowed (PyTorch's convention), or'ed with
    the causal mask. A query row whose every key is masked gives NaN (its output, and every gradient it
    reaches), as PyTorch's default path (``need_weights=True``) does (its ``need_weights=False`` training path
    gives 0 there, its inference fast path NaN); give each row one key (its own position) to avoid it. A
    key-padding mask (B, S) is ``attn_mask`` (B, T, S) with ``pad[:, None, :]`` repeated over T. ``forward`` is inference (untraced inputs, no dropout); ``forward_mut`` is a
    training step (a traced query; the keys and values may be untraced).
    """

    dim_attrs: ClassVar[Mapping[str, str]] = {"D": "embed_dim"}
    param_names: ClassVar[tuple[str, ...]] = ("in_proj_weight", "in_proj_bias")
    hparam_names: ClassVar[tuple[str, ...]] = ("dropout",)
    structure_names: ClassVar[tuple[str, ...]] = ("embed_dim", "num_heads", "causal")
    optional_names: ClassVar[tuple[str, ...]] = ("in_proj_bias",)

    in_proj_weight: Tensor[tuple[int, D], Any, NoneTape]
    in_proj_bias: Tensor[tuple[int], Any, NoneTape] | None
    out_proj: Linear[D, D]

    def __init__(
        self,
        embed_dim: D,
        num_heads: int,
        causal: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        dim = opt.positive_int(embed_dim, "embed_dim", _WHERE)
        heads = opt.positive_int(num_heads, "num_heads", _WHERE)
        if dim % heads:
            raise TypedTensorError(
                f"{_WHERE}: embed_dim ({dim}) must be divisible by num_heads ({heads}): each head takes "
                f"embed_dim / num_heads features; pick num_heads among the divisors of {dim}"
            )
        self.embed_dim = cast("D", dim)
        self.num_heads = heads
        self.causal = opt.flag(causal, "causal", _WHERE)
        self.dropout = _dropout(dropout)
        with_bias = opt.flag(bias, "bias", _WHERE)
        seed = opt.seed(seed, _WHERE)
        self.dtype = ext.float_dtype(dtype, _WHERE)
        self.in_proj_weight = ext.filled((3 * dim, dim), 0.0, self.dtype, _WHERE)
        self.in_proj_bias = ext.filled((3 * dim,), 0.0, self.dtype, _WHERE) if with_bias else None
        self.out_proj = cast("Linear[D, D]", OutProjection(dim, dim, bias=with_bias, dtype=dtype))
        self._rng = np.random.default_rng(seed)
        self.reset_params(seed)

    @property
    def head_dim(self) -> int:
        """Dh = embed_dim / num_heads, the features of each head."""
        return self.embed_dim // self.num_heads

    def _reset(self, rng: np.random.Generator) -> None:
        """in_proj_weight Xavier-uniform, in_proj_bias 0 (PyTorch's init; out_proj resets itself)."""
        xavier_uniform(rng, ext.data_mut(self.in_proj_weight))
        if self.in_proj_bias is not None:
            ext.data_mut(self.in_proj_bias)[...] = 0

    def extra_repr(self) -> str:
        return (
            f"{self.embed_dim}, num_heads={self.num_heads}, causal={self.causal}, dropout={self.dropout}, "
            f"bias={self.in_proj_bias is not None}, dtype={self.dtype.name}"
        )

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)
        # forward's overloads (untraced query, keys and values), then forward_mut's (traced query)
        @overload
        def __call__(
            self,
            query: Tensor[tuple[B, T, D], E, NoneTape],
            key: None = None,
            value: None = None,
            attn_mask: AttnMask[B, T, T] | None = None,
        ) -> Tensor[tuple[B, T, D], E, NoneTape]: ...
        @overload
        def __call__(
            self,
            query: Tensor[tuple[B, T, D], E, NoneTape],
            key: Tensor[tuple[B, S, D], E, NoneTape],
            value: Tensor[tuple[B, S, D], E, NoneTape],
            attn_mask: AttnMask[B, T, S] | None = None,
        ) -> Tensor[tuple[B, T, D], E, NoneTape]: ...
        @overload
        def __call__(
            self,
            query: Tensor[tuple[B, T, D], E, OwnedTape],
            key: None = None,
            value: None = None,
            attn_mask: AttnMask[B, T, T] | None = None,
        ) -> Tensor[tuple[B, T, D], E, OwnedTape]: ...
        @overload
        def __call__(
            self,
            query: Tensor[tuple[B, T, D], E, OwnedTape],
            key: Tensor[tuple[B, S, D], E, Any],
            value: Tensor[tuple[B, S, D], E, Any],
            attn_mask: AttnMask[B, T, S] | None = None,
        ) -> Tensor[tuple[B, T, D], E, OwnedTape]: ...
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    # Self-attention (no key, no value: a mask (T, T) or (B, T, T)) and cross-attention (keys and values
    # (B, S, D): a mask (T, S) or (B, T, S)); the implementation's annotations are the run-time check.
    @overload
    def forward(
        self,
        query: Tensor[tuple[B, T, D], E, NoneTape],
        key: None = None,
        value: None = None,
        attn_mask: AttnMask[B, T, T] | None = None,
    ) -> Tensor[tuple[B, T, D], E, NoneTape]: ...
    @overload
    def forward(
        self,
        query: Tensor[tuple[B, T, D], E, NoneTape],
        key: Tensor[tuple[B, S, D], E, NoneTape],
        value: Tensor[tuple[B, S, D], E, NoneTape],
        attn_mask: AttnMask[B, T, S] | None = None,
    ) -> Tensor[tuple[B, T, D], E, NoneTape]: ...
    def forward(
        self,
        query: Tensor[tuple[B, T, D], E, NoneTape],
        key: Tensor[tuple[B, S, D], E, NoneTape] | None = None,
        value: Tensor[tuple[B, S, D], E, NoneTape] | None = None,
        attn_mask: AttnMask[B, T, S] | None = None,
    ) -> Tensor[tuple[B, T, D], E, NoneTape]:
        """Inference: the queries (B, T, D) attend over key/value (B, S, D), or over themselves when both are None.

        Returns the output alone, not PyTorch's ``(output, attention weights)`` pair.
        """
        if ext.tensor_arg(query, f"{_WHERE}.forward").traced:
            raise TapeError(
                f"{_WHERE}.forward is inference and takes untraced tensors; for a training step call forward_mut "
                "(or pass query.detach() to run inference on these values)"
            )
        return self._apply(query, key, value, attn_mask, False)

    @overload
    def forward_mut(
        self,
        query: Tensor[tuple[B, T, D], E, OwnedTape],
        key: None = None,
        value: None = None,
        attn_mask: AttnMask[B, T, T] | None = None,
    ) -> Tensor[tuple[B, T, D], E, OwnedTape]: ...
    @overload
    def forward_mut(
        self,
        query: Tensor[tuple[B, T, D], E, OwnedTape],
        key: Tensor[tuple[B, S, D], E, Any],
        value: Tensor[tuple[B, S, D], E, Any],
        attn_mask: AttnMask[B, T, S] | None = None,
    ) -> Tensor[tuple[B, T, D], E, OwnedTape]: ...
    def forward_mut(
        self,
        query: Tensor[tuple[B, T, D], E, OwnedTape],
        key: Tensor[tuple[B, S, D], E, Any] | None = None,
        value: Tensor[tuple[B, S, D], E, Any] | None = None,
        attn_mask: AttnMask[B, T, S] | None = None,
    ) -> Tensor[tuple[B, T, D], E, OwnedTape]:
        """Training: as ``forward``, with dropout on the attention probabilities; the query must be traced."""
        if not ext.tensor_arg(query, f"{_WHERE}.forward_mut").traced:
            raise TapeError(
                f"{_WHERE}.forward_mut is a training step and takes a traced query: query.trace(grads) (use forward "
                "for inference)"
            )
        return self._apply(query, key, value, attn_mask, True)

    def _field_spec(self, name: str) -> FieldSpec:
        """in_proj_weight (3D, D) and in_proj_bias (3D,), of the layer's dtype."""
        d = self.embed_dim
        return ((3 * d, d) if name == "in_proj_weight" else (3 * d,)), self.dtype

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        _dropout(values.get("dropout", self.dropout))

    def _check_setting(self, name: str, value: object) -> object:
        return _dropout(value) if name == "dropout" else super()._check_setting(name, value)

    def _apply(
        self,
        query: Tensor[Any, Any, Any],
        key: Tensor[Any, Any, Any] | None,
        value: Tensor[Any, Any, Any] | None,
        attn_mask: Tensor[Any, Any, Any] | None,
        training: bool,
    ) -> Tensor[Any, Any, Any]:
        d = self.embed_dim
        weight, bias = self.in_proj_weight, self.in_proj_bias
        if not fits(weight, (3 * d, d), self.dtype) or (bias is not None and not fits(bias, (3 * d,), self.dtype)):
            check_fields(self)  # a write into __dict__ got around the checks: the field is named
        if (key is None) != (value is None):
            raise TypedTensorError(
                f"{_WHERE}: pass both key and value (cross-attention) or neither (self-attention), got only "
                f"{'key' if value is None else 'value'}"
            )
        if key is None or value is None:
            key = value = query
        q, k, v = (ext.data(ext.tensor_arg(t, _WHERE)) for t in (query, key, value))
        self._check_inputs(q, k, v)
        # the mask is checked before anything is recorded: a refused call leaves nothing on the tape
        mask = attention_mask(attn_mask, q.shape[0], q.shape[1], k.shape[1], self.causal, _WHERE)
        heads, dh = self.num_heads, self.head_dim
        w = ext.data(weight)
        b = None if bias is None else ext.data(bias)
        if key is query and value is query:  # self-attention: one GEMM, the heads viewed in place
            packed = ext.record((query, weight, bias), *project(q, w, b, None))
            keep = (
                self._dropout_factors((q.shape[0], heads, q.shape[1], q.shape[1]), q.dtype)
                if training and self.dropout
                else None
            )
            return self.out_proj.forward_mut(ext.record((packed,), *attend_packed(ext.data(packed), heads, mask, keep)))
        parts = [
            split_heads(ext.record((x, weight, bias, query), *project(data, w, b, i)), heads, dh)
            for i, (x, data) in enumerate(((query, q), (key, k), (value, v)))
        ]
        qh, kh, vh = (ext.data(p) for p in parts)
        keep = self._dropout_factors((*qh.shape[:3], kh.shape[2]), qh.dtype) if training and self.dropout else None
        heads_out = ext.record((parts[0], parts[1], parts[2]), *attend(qh, kh, vh, mask, keep))
        return self.out_proj.forward_mut(merge_heads(heads_out, d))

    def _check_inputs(self, q: Array, k: Array, v: Array) -> None:
        d = self.embed_dim
        if q.ndim != 3 or q.shape[-1] != d or k.ndim != 3 or k.shape != v.shape or k.shape[::2] != q.shape[::2]:
            raise ShapeError(
                f"{_WHERE}: expected query (B, T, {d}) and key, value (B, S, {d}) (batch_first), got "
                f"{q.shape}, {k.shape}, {v.shape}"
            )
        for x in (q, k, v):
            if x.dtype != self.dtype:
                raise ext.input_dtype_error(_WHERE, self.dtype, x.dtype)
        check_qkv(q[:, None], k[:, None], v[:, None], _WHERE)

    def _dropout_factors(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> NDArray[np.floating[Any]]:
        """Dropout's factors for the attention probabilities: 0 with probability p, 1 / (1 - p) otherwise."""
        work = work_dtype(dtype)
        if self.dropout == 1.0:
            return np.zeros(shape, work)
        keep = self._rng.random(shape) >= self.dropout
        factors: NDArray[np.floating[Any]] = keep.astype(work) * work(1.0 / (1.0 - self.dropout))
        return factors
