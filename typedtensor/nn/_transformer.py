"""``TransformerBlock[D]``: a pre-norm Transformer encoder block on (B, T, D).

``x = x + dropout1(self_attn(norm1(x)))`` then ``x = x + dropout2(linear2(dropout(gelu(linear1(norm2(x))))))``:
PyTorch's ``nn.TransformerEncoderLayer(D, H, dim_feedforward=mlp_ratio * D, dropout, activation="gelu",
batch_first=True, norm_first=True)``, with its attribute names, so its state_dicts load as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np

from .. import extend as ext
from .._errors import ShapeError, TapeError
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._activation import GELU
from ._attention import MultiHeadAttention
from ._dropout import Dropout
from ._layernorm import LayerNorm
from ._linear import Linear
from ._module import Module
from ._sdpa import AttnMask, attention_mask

__all__ = ["TransformerBlock"]

B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)
S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)

_WHERE = "TransformerBlock"


class TransformerBlock(Module, Generic[D]):
    """A pre-norm Transformer block: ``TransformerBlock[L[64]](64, 4)`` maps (B, T, 64) to (B, T, 64).

    Args:
        dim: D, the size of the last dim.
        num_heads: the attention heads (must divide D).
        mlp_ratio: the MLP's hidden size is ``mlp_ratio * dim``.
        dropout: the probability of the attention dropout and of the three dropouts (after the attention,
            after the GELU, after the MLP), in training (``forward_mut``) only.
        causal: whether each position attends only to itself and the positions before it.
        approximate: the GELU's form: ``"none"`` (exact, PyTorch's ``activation="gelu"``; its erf is computed as
            whole-array NumPy passes, within 1 ulp of math.erf) or ``"tanh"`` (PyTorch's tanh approximation).
        dtype: the parameters' float dtype (inputs must have it too).
        seed: seed of the init (each sub-layer's PyTorch default) and of the dropout masks.

    Sub-layers, with PyTorch's ``TransformerEncoderLayer`` names: ``norm1`` (LayerNorm), ``self_attn``
    (MultiHeadAttention), ``dropout1``, ``norm2`` (LayerNorm), ``linear1`` (D -> mlp_ratio * D),
    ``activation`` (GELU), ``dropout``, ``linear2`` (mlp_ratio * D -> D), ``dropout2``: parameters
    ``norm1.weight``, ``self_attn.in_proj_weight``, ``linear1.weight``... A PyTorch
    ``TransformerEncoderLayer(D, H, mlp_ratio * D, dropout, "gelu", batch_first=True, norm_first=True)``
    loads into it with ``load_state_dict``.
    """

    structure_names: ClassVar[tuple[str, ...]] = ("dim", "num_heads", "mlp_ratio")

    norm1: LayerNorm[D]
    self_attn: MultiHeadAttention[D]
    norm2: LayerNorm[D]
    linear1: Linear[D, int]
    linear2: Linear[int, D]

    dim_attrs: ClassVar[Mapping[str, str]] = {"D": "dim"}

    def __init__(
        self,
        dim: D,
        num_heads: int,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        causal: bool = False,
        approximate: Literal["none", "tanh"] = "none",
        *,
        dtype: type[Any] = np.float32,
        seed: int | None = None,
    ) -> None:
        opt = ext.options
        d = opt.positive_int(dim, "dim", _WHERE)
        self.dim = cast("D", d)
        self.num_heads = opt.positive_int(num_heads, "num_heads", _WHERE)
        self.mlp_ratio = opt.positive_int(mlp_ratio, "mlp_ratio", _WHERE)
        p = opt.unit(dropout, "dropout", _WHERE)
        seed = opt.seed(seed, _WHERE)
        seeds = np.random.default_rng(seed).integers(0, 2**63, 4)
        hidden = self.mlp_ratio * d
        self.norm1 = LayerNorm(self.dim, dtype=dtype)
        self.self_attn = MultiHeadAttention(self.dim, self.num_heads, causal, p, dtype=dtype, seed=int(seeds[0]))
        self.dropout1 = Dropout(p, seed=int(seeds[1]))
        self.norm2 = LayerNorm(self.dim, dtype=dtype)
        self.linear1 = Linear(self.dim, hidden, dtype=dtype)
        self.activation = GELU(approximate)
        self.dropout = Dropout(p, seed=int(seeds[2]))
        self.linear2 = Linear(hidden, self.dim, dtype=dtype)
        self.dropout2 = Dropout(p, seed=int(seeds[3]))
        self.reset_params(seed)

    def extra_repr(self) -> str:
        return f"{self.dim}, num_heads={self.num_heads}, mlp_ratio={self.mlp_ratio}"

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)

        def __call__(
            self, x: Tensor[tuple[B, T, D], E, Tape], attn_mask: AttnMask[B, T, T] | None = None
        ) -> Tensor[tuple[B, T, D], E, Tape]: ...

    def forward(
        self,
        x: Tensor[tuple[B, T, D], E, NoneTape],
        attn_mask: AttnMask[B, T, T] | None = None,
    ) -> Tensor[tuple[B, T, D], E, NoneTape]:
        """Inference (no dropout): x (B, T, D) through the attention and the MLP, each with its residual."""
        self._check_call(x, attn_mask, training=False)
        # the sub-layers' outputs are fresh and read by nothing else: the GELU and the residual sums are
        # written over them (no fresh activation-sized arrays; x + a and a + x round alike)
        h = _add_into(self.self_attn.forward(self.norm1.forward(x), attn_mask=attn_mask), x)
        hidden = self.activation.forward_inplace(self.linear1.forward(self.norm2.forward(h)))
        return _add_into(self.linear2.forward(hidden), h)

    def forward_mut(
        self,
        x: Tensor[tuple[B, T, D], E, OwnedTape],
        attn_mask: AttnMask[B, T, T] | None = None,
    ) -> Tensor[tuple[B, T, D], E, OwnedTape]:
        """Training: as ``forward``, with the dropouts; x must be traced."""
        self._check_call(x, attn_mask, training=True)
        a = self.self_attn.forward_mut(self.norm1.forward_mut(x), attn_mask=attn_mask)
        h = x + _drop(self.dropout1, a)
        hidden = self.linear1.forward_mut(self.norm2.forward_mut(h))
        mlp: Tensor[tuple[B, T, D], E, OwnedTape]
        if self.dropout.p:
            mlp = self.linear2.forward_mut(_drop(self.dropout, self.activation.forward_mut(hidden)))
        else:  # the GELU recomputed in linear2's backward: the step keeps one hidden activation, not two
            mlp = self.linear2.after(hidden, self.activation.kernel())
        return h + _drop(self.dropout2, mlp)

    def _check_call(self, x: Tensor[Any, Any, Any], attn_mask: Tensor[Any, Any, Any] | None, training: bool) -> None:
        """Refuse a wrong tape, shape or mask before the first sub-layer records anything on x's tape."""
        method = "forward_mut" if training else "forward"
        if ext.tensor_arg(x, f"{_WHERE}.{method}").traced != training:
            raise TapeError(
                f"{_WHERE}.forward_mut is a training step and takes a traced tensor: x.trace(grads) (use forward for "
                "inference)"
                if training
                else f"{_WHERE}.forward is inference and takes an untraced tensor; for a training step call "
                "forward_mut (or pass x.detach() to run inference on these values)"
            )
        shape = ext.data(x).shape
        if len(shape) != 3 or shape[-1] != self.dim:
            raise ShapeError(f"{_WHERE}: expected input (B, T, {self.dim}) (batch_first), got shape {shape}")
        attention_mask(attn_mask, shape[0], shape[1], shape[1], False, _WHERE)


def _drop(dropout: Dropout, x: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]:
    """``dropout.forward_mut(x)``, skipped at p = 0 (where it would draw a mask of ones for nothing)."""
    return dropout.forward_mut(x) if dropout.p else x


def _add_into(fresh: Tensor[S, E, NoneTape], other: Tensor[S, E, NoneTape]) -> Tensor[S, E, NoneTape]:
    """``fresh + other`` written over ``fresh``, an untraced tensor this block owns (a sub-layer's output)."""
    out, b = ext.data_mut(fresh), ext.data(other)
    if out.shape != b.shape or out.dtype != b.dtype:
        return fresh + other
    np.add(out, b, out=out)
    return fresh
