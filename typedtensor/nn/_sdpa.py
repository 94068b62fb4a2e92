"""Attention's typed steps: heads split and merged, and scaled dot-product attention (forward and backward).

The dims are TypeVars, so the checkers verify every transpose inside these functions: ``split_heads``
maps (B, T, D) to (B, H, T, Dh), ``merge_heads`` (B, H, T, Dh) back to (B, T, D), and
``scaled_dot_product_attention`` takes queries (B, H, T, Dh) and keys/values (B, H, S, Dh) to
(B, H, T, Dh). The attention itself is one recorded op with its closed-form backward beside the forward:

``P = softmax(Q K^T / sqrt(Dh) + mask)``, ``O = (P * keep) V``; with ``A = P * keep`` and ``dA = dO V^T``,
``dV = A^T dO``, ``dS = P * (dA * keep - rowsum(dA * keep * P))``, ``dQ = dS K / sqrt(Dh)``,
``dK = dS^T Q / sqrt(Dh)``.

The softmax subtracts each row's maximum (logits of 1e4 in float32 stay finite). A row whose every
position is masked has no maximum: its probabilities, output and every gradient it reaches are NaN, as
PyTorch's ``nn.MultiheadAttention`` with its default ``need_weights=True``. float16 is computed in
float32 and rounded once at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._check import checked
from .._errors import DTypeError, ShapeError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor

__all__ = ["AttnMask", "attention_mask", "ieee", "merge_heads", "scaled_dot_product_attention", "split_heads"]

B = TypeVar("B", bound=int)
H = TypeVar("H", bound=int)
T = TypeVar("T", bound=int)
S = TypeVar("S", bound=int)
D = TypeVar("D", bound=int)
Dh = TypeVar("Dh", bound=int)
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)

Array = NDArray[Any]
Floats = NDArray[np.floating[Any]]

if TYPE_CHECKING:
    #: ``attn_mask``'s type: a bool tensor (B, T, S) or (T, S), written ``AttnMask[B, T, S]``.
    AttnMask: TypeAlias = Tensor[tuple[B, T, S], np.bool_, Any] | Tensor[tuple[T, S], np.bool_, Any]
else:

    class AttnMask:
        """At run time any tensor: the layer checks the mask itself, and a ShapeError names both shapes (the
        annotation check of a union of two tensor hints would not say which dims differ)."""

        def __class_getitem__(cls, _dims: object) -> object:
            return Tensor[Any, Any, Any]


def ieee() -> Any:
    """NumPy's error state of the attention kernels: IEEE results (inf beyond float16's range, NaN from inf - inf)
    without a warning, as the other ops."""
    return np.errstate(over="ignore", invalid="ignore")


def work_dtype(dtype: np.dtype[Any]) -> type[np.floating[Any]]:
    """The dtype attention computes in: float16 in float32, others in their own."""
    return np.float32 if dtype == np.float16 else dtype.type


@checked
def split_heads(x: Tensor[tuple[B, T, D], E, Tape], heads: H, head_dim: Dh) -> Tensor[tuple[B, H, T, Dh], E, Tape]:
    """(B, T, D) -> (B, H, T, Dh) with D = H * Dh: head h holds the features [h * Dh, (h + 1) * Dh)."""
    b, t, d = x.shape
    if heads * head_dim != d:
        raise ShapeError(
            f"split_heads: the last dim ({d}) must be heads * head_dim = {heads} * {head_dim}; head_dim is D / heads"
        )
    return x.reshape((b, t, heads, head_dim)).transpose(1, 2)


@checked
def merge_heads(x: Tensor[tuple[B, H, T, Dh], E, Tape], dim: D) -> Tensor[tuple[B, T, D], E, Tape]:
    """(B, H, T, Dh) -> (B, T, D) with D = H * Dh, the inverse of ``split_heads``."""
    _, h, _, dh = x.shape
    if h * dh != dim:
        raise ShapeError(f"merge_heads: dim ({dim}) must be H * Dh = {h} * {dh} for heads of shape {x.shape}")
    per_token = x.transpose(1, 2)  # (B, T, H, Dh): B and T read from it, so a wrong transpose is a type error
    b, t, _, _ = per_token.shape
    return per_token.reshape((b, t, dim))


def attention_mask(
    mask: Tensor[Any, Any, Any] | None, batch: int, queries: int, keys: int, causal: bool, where: str
) -> NDArray[np.bool_] | None:
    """The boolean mask (True: not attended) as an array broadcasting to (B, 1, T, S), or None for none.

    ``mask`` is a bool tensor (T, S) or (B, T, S); ``causal`` adds the positions after the query's own
    (key j > query i, top-left aligned as ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``).
    """
    out: NDArray[np.bool_] | None = None
    if mask is not None:
        m = ext.data(ext.tensor_arg(mask, where))
        if m.dtype != np.bool_:
            raise DTypeError(
                f"{where}: attn_mask must be a bool tensor (True where attention is not allowed), got dtype "
                f"{m.dtype}; an additive float mask is not taken: pass a bool one (float_mask == -inf gives it)"
            )
        if m.shape == (queries, keys):
            out = m.reshape(1, 1, queries, keys)
        elif m.shape == (batch, queries, keys):
            out = m.reshape(batch, 1, queries, keys)
        else:
            raise ShapeError(
                f"{where}: attn_mask must have shape (T, S) = {(queries, keys)} or (B, T, S) = "
                f"{(batch, queries, keys)}, got {m.shape}; a key-padding mask (B, S) becomes (B, T, S) with "
                "mask[:, None, :] repeated over T"
            )
    if causal:
        after = np.triu(np.ones((queries, keys), np.bool_), k=1).reshape(1, 1, queries, keys)
        out = after if out is None else out | after
    return out


@checked
def scaled_dot_product_attention(
    query: Tensor[tuple[B, H, T, Dh], E, Tape],
    key: Tensor[tuple[B, H, S, Dh], E, Any],
    value: Tensor[tuple[B, H, S, Dh], E, Any],
    attn_mask: AttnMask[B, T, S] | None = None,
    *,
    causal: bool = False,
) -> Tensor[tuple[B, H, T, Dh], E, Tape]:
    """``softmax(query @ key^T / sqrt(Dh), masked) @ value`` per batch and head (no dropout).

    ``attn_mask`` is True where attention is not allowed (PyTorch's boolean convention), (T, S) or
    (B, T, S); ``causal`` masks the keys after each query's position. A fully masked row is NaN.
    """
    q, k, v = (ext.data(ext.tensor_arg(t, "scaled_dot_product_attention")) for t in (query, key, value))
    check_qkv(q, k, v, "scaled_dot_product_attention")
    mask = attention_mask(attn_mask, q.shape[0], q.shape[2], k.shape[2], causal, "scaled_dot_product_attention")
    return ext.record((query, key, value), *attend(q, k, v, mask, None))


def check_qkv(q: Array, k: Array, v: Array, where: str) -> None:
    """Queries (B, H, T, Dh), keys and values (B, H, S, Dh) of one float dtype (ShapeError, DTypeError)."""
    if q.ndim != 4 or k.shape != v.shape or k.ndim != 4 or k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3]:
        raise ShapeError(
            f"{where}: expected query (B, H, T, Dh) and key, value (B, H, S, Dh), got {q.shape}, {k.shape}, {v.shape}"
        )
    if q.dtype != k.dtype or q.dtype != v.dtype or q.dtype not in ext.FLOAT_DTYPES:
        raise DTypeError(
            f"{where}: query, key and value must have one float dtype, got {q.dtype}, {k.dtype}, {v.dtype}; "
            f"{ext.astype_advice('them', q.dtype if q.dtype in ext.FLOAT_DTYPES else np.dtype(np.float32))}"
        )


def attend(q: Array, k: Array, v: Array, mask: NDArray[np.bool_] | None, keep: Floats | None) -> ext.Result:
    """The attention of q (B, H, T, Dh) over k, v (B, H, S, Dh) and its backward for (q, k, v).

    ``mask`` (broadcasting to (B, H, T, S)) is True where attention is not allowed; ``keep`` (B, H, T, S),
    if given, multiplies the probabilities (dropout's 0 or 1 / (1 - p)).

    The scores are held keys-first, in an (S, B, H, T) buffer (the GEMM ``k @ (q * scale)^T`` writes them
    there through a transposed view): the softmax then reduces over the leading axis, S vectorised passes
    over B * H * T values, where a reduction over a short last axis (S = 19 in the sort demo) cost NumPy
    one loop per row (a max over (64, 4, 19, 19) 158 us against 6 us). The probabilities are read back
    by the GEMMs as transposed views, so nothing is copied. The output is (B, H, T, Dh) over memory laid out
    (B, T, H, Dh), so that merging the heads back is a view.
    """
    work = work_dtype(q.dtype)
    scale = work(1.0 / np.sqrt(q.shape[-1]))
    b, h, t, _ = q.shape
    s = k.shape[2]
    with ieee():  # a fully masked row: -inf - -inf is NaN, as in PyTorch
        qw, kw, vw = (a.astype(work, copy=False) for a in (q, k, v))
        qs = qw * scale
        buf: Floats = np.empty((s, b, h, t), work)
        np.matmul(kw, np.swapaxes(qs, -1, -2), out=buf.transpose(1, 2, 0, 3))  # scores^T (B, H, S, T)
        if mask is not None:
            np.copyto(buf, -np.inf, where=_keys_first(mask))
        buf -= np.max(buf, axis=0, initial=-np.inf)  # S = 0: no keys, an output of 0
        p = np.exp(buf, out=buf)
        p /= np.sum(p, axis=0)
        a = p if keep is None else p * _keys_first(keep)
        # written token-major, (B, T, H, Dh) in memory: merge_heads is then a view, not a copy
        out: Floats = np.matmul(
            a.transpose(1, 2, 3, 0), vw, out=np.empty((b, t, h, v.shape[3]), work).transpose(0, 2, 1, 3)
        )
        result = out.astype(q.dtype, copy=False)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        with ieee():
            gw = g.astype(work, copy=False)
            gv = np.matmul(a.transpose(1, 2, 0, 3), gw).astype(v.dtype, copy=False) if need[2] else None
            if not (need[0] or need[1]):
                return None, None, gv
            ds: Floats = np.empty((s, b, h, t), work)
            np.matmul(vw, np.swapaxes(gw, -1, -2), out=ds.transpose(1, 2, 0, 3))  # dp^T (B, H, S, T)
            if keep is not None:
                ds *= _keys_first(keep)
            ds -= np.sum(ds * p, axis=0)
            ds *= p
            ds *= scale
            gq = np.matmul(ds.transpose(1, 2, 3, 0), kw).astype(q.dtype, copy=False) if need[0] else None
            gk = np.matmul(ds.transpose(1, 2, 0, 3), qw).astype(k.dtype, copy=False) if need[1] else None
            return gq, gk, gv

    return result, backward


def _keys_first(x: Array) -> Array:
    """An array broadcasting to (B, H, T, S) seen as one broadcasting to (S, B, H, T) (a view)."""
    return np.moveaxis(x.reshape((1,) * (4 - x.ndim) + x.shape), -1, 0)
