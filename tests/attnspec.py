"""MultiHeadAttention and TransformerBlock cases shared by their tests and tests/golden/make_attention_golden.py.

An attention case builds ``nn.MultiHeadAttention`` and ``torch.nn.MultiheadAttention(batch_first=True)``
with the same random parameters (biases not PyTorch's zeros, so that their gradients matter), runs both
on the same query, key and value (three different arrays for cross-attention; the query alone for
self-attention) with the same mask, and takes the gradients of ``sum(out * w)`` for every input and
parameter. A block case does the same for ``nn.TransformerBlock`` and PyTorch's
``TransformerEncoderLayer(norm_first=True, activation="gelu", batch_first=True)``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import extend as ext
from typedtensor import nn

Array = NDArray[Any]
MaskKind = Literal["none", "2d", "3d"]


@dataclass(frozen=True)
class AttnCase:
    name: str
    batch: int
    queries: int
    #: the key/value length S, or None for self-attention
    keys: int | None
    dim: int
    heads: int
    dtype: type[Any] = np.float64
    causal: bool = False
    mask: MaskKind = "none"
    bias: bool = True

    def module(self) -> nn.MultiHeadAttention[int]:
        return nn.MultiHeadAttention(self.dim, self.heads, self.causal, bias=self.bias, dtype=self.dtype, seed=0)

    @property
    def length(self) -> int:
        return self.queries if self.keys is None else self.keys


CASES: list[AttnCase] = [
    AttnCase("f64_self", 2, 5, None, 8, 2),
    AttnCase("f64_cross", 2, 5, 3, 8, 2),
    AttnCase("f64_mask2d", 2, 5, None, 8, 2, mask="2d"),
    AttnCase("f64_mask3d_cross", 3, 4, 6, 8, 4, mask="3d"),
    AttnCase("f64_causal", 2, 6, None, 8, 2, causal=True),
    AttnCase("f64_causal_cross", 2, 4, 6, 8, 2, causal=True),
    AttnCase("f64_causal_mask3d", 2, 5, None, 6, 3, causal=True, mask="3d"),
    AttnCase("f64_nobias", 2, 3, 4, 8, 2, bias=False),
    AttnCase("f64_one_head", 1, 4, None, 6, 1),
    AttnCase("f64_dh1", 2, 3, None, 4, 4),
    AttnCase("f64_one_query", 2, 1, 5, 4, 2),
    AttnCase("f32_self", 4, 10, None, 32, 4, np.float32),
    AttnCase("f32_cross_mask3d", 3, 7, 9, 16, 2, np.float32, mask="3d"),
    AttnCase("f32_causal", 3, 12, None, 16, 4, np.float32, causal=True),
    AttnCase("f16_self", 2, 6, None, 16, 2, np.float16),
    AttnCase("f16_causal_cross", 2, 5, 7, 8, 2, np.float16, causal=True),
]


def inputs(case: AttnCase) -> tuple[dict[str, Array], Array | None, dict[str, Array]]:
    """The inputs (``query``, and ``key``, ``value`` for cross-attention), the mask (True: not attended; each
    row keeps one key) or None, and the parameters by PyTorch name, all in the case's dtype."""
    rng = np.random.default_rng(5)
    b, t, s, d = case.batch, case.queries, case.length, case.dim
    arrays = {"query": rng.standard_normal((b, t, d))}
    if case.keys is not None:
        arrays["key"] = rng.standard_normal((b, s, d))
        arrays["value"] = rng.standard_normal((b, s, d))
    arrays["w"] = rng.standard_normal((b, t, d))
    mask: Array | None = None
    if case.mask != "none":
        mask = rng.random((t, s) if case.mask == "2d" else (b, t, s)) < 0.4
        mask[..., np.arange(t), np.arange(t) % s] = False  # every row keeps one key (the causal mask too)
    bound = np.sqrt(6.0 / (4 * d))
    params = {
        "in_proj_weight": rng.uniform(-bound, bound, (3 * d, d)),
        "in_proj_bias": 0.3 * rng.standard_normal(3 * d),
        "out_proj.weight": rng.uniform(-(d**-0.5), d**-0.5, (d, d)),
        "out_proj.bias": 0.3 * rng.standard_normal(d),
    }
    names = [n for n, _ in case.module().named_parameters()]
    typed = {k: v.astype(case.dtype) for k, v in arrays.items()}
    return typed, mask, {n: params[n].astype(case.dtype) for n in names}


def compare(ours: dict[str, Array], theirs: dict[str, Array], dtype: type[Any], tolerance: tuple[float, float], name: str) -> None:  # fmt: skip
    """The same keys, ours in ``dtype``, every array within ``tolerance`` (rtol, atol) of theirs (NaN where theirs is)."""
    assert sorted(ours) == sorted(theirs)
    rtol, atol = tolerance
    for key, value in theirs.items():
        assert ours[key].dtype == np.dtype(dtype), key
        np.testing.assert_allclose(ours[key], value, rtol=rtol, atol=atol, err_msg=f"{name} {key}")


def golden(data: Any, prefix: str, input_key: str, value: Array) -> dict[str, Array]:
    """The golden arrays under ``prefix`` (``<case>/``), after checking that their input is ``value``."""
    np.testing.assert_array_equal(value, data[prefix + input_key])
    return {k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix) and k != prefix + input_key}


def set_params(module: nn.Module, params: dict[str, Array]) -> None:
    """Write ``params`` (name -> values) into the module's parameters."""
    for name, p in module.named_parameters():
        ext.data_mut(p)[...] = params[name]


def run_ours(
    case: AttnCase, arrays: dict[str, Array], mask: Array | None, params: dict[str, Array]
) -> dict[str, Array]:
    """Output and gradients (``g<input>``, ``g/<name>``) of typedtensor's MultiHeadAttention (``forward_mut``)."""
    module = case.module()
    set_params(module, params)
    grads = module.alloc_grads()
    traced = {k: tt.tensor(v).trace(grads) for k, v in arrays.items() if k != "w"}
    for t in traced.values():
        grads.alloc(t)
    m = None if mask is None else tt.tensor(mask)
    mha: Any = module
    out: tt.Tensor[Any, Any, Any] = mha.forward_mut(traced["query"], traced.get("key"), traced.get("value"), m)
    got = (out * tt.tensor(arrays["w"])).sum().backward()
    result = {"out": out.numpy().copy()}
    for k, t in traced.items():
        result[f"g{k}"] = got.get(t).numpy().copy()
    for name, p in module.named_parameters():
        result[f"g/{name}"] = got.get(p).numpy().copy()
    return result


def torch_mask(th: Any, mask: Array | None, t: int, s: int, causal: bool, heads: int) -> Any:
    """The mask as PyTorch's MultiheadAttention takes it: (T, S) or (B * H, T, S), the causal part or'ed in."""
    if mask is None and not causal:
        return None
    full = np.zeros((t, s), np.bool_) if mask is None else mask
    if causal:
        full = full | np.triu(np.ones((t, s), np.bool_), k=1)
    if full.ndim == 3:
        full = np.repeat(full, heads, axis=0)  # PyTorch's 3-D mask is per (batch, head)
    return th.as_tensor(full)


def run_torch(
    case: AttnCase, arrays: dict[str, Array], mask: Array | None, params: dict[str, Array]
) -> dict[str, Array]:
    """The same for ``torch.nn.MultiheadAttention(batch_first=True)`` in the case's dtype."""
    th: Any = importlib.import_module("torch")  # optional, untyped: the checkers pass without it
    module = th.nn.MultiheadAttention(case.dim, case.heads, bias=case.bias, batch_first=True)
    module = module.to(getattr(th, np.dtype(case.dtype).name))
    with th.no_grad():
        for name, p in module.named_parameters():
            p.copy_(th.as_tensor(params[name]))
    tensors = {k: th.tensor(v, requires_grad=True) for k, v in arrays.items() if k != "w"}
    q = tensors["query"]
    k, v = tensors.get("key", q), tensors.get("value", q)
    am = torch_mask(th, mask, case.queries, case.length, case.causal, case.heads)
    out, _ = module(q, k, v, attn_mask=am)
    (out * th.as_tensor(arrays["w"])).sum().backward()
    result = {"out": out.detach().numpy()}
    for key, t in tensors.items():
        result[f"g{key}"] = t.grad.numpy()
    for name, p in module.named_parameters():
        result[f"g/{name}"] = p.grad.numpy()
    return result


@dataclass(frozen=True)
class BlockCase:
    name: str
    batch: int
    length: int
    dim: int
    heads: int
    dtype: type[Any] = np.float64
    mlp_ratio: int = 4
    causal: bool = False
    mask: MaskKind = "none"
    approximate: Literal["none", "tanh"] = "none"

    def module(self) -> nn.TransformerBlock[int]:
        return nn.TransformerBlock(
            self.dim,
            self.heads,
            self.mlp_ratio,
            causal=self.causal,
            approximate=self.approximate,
            dtype=self.dtype,
            seed=0,
        )


BLOCK_CASES: list[BlockCase] = [
    BlockCase("f64", 2, 5, 8, 2),
    BlockCase("f64_causal", 2, 6, 8, 4, causal=True),
    BlockCase("f64_mask3d_ratio2", 3, 4, 6, 3, mlp_ratio=2, mask="3d"),
    BlockCase("f32_causal", 4, 10, 32, 4, np.float32, causal=True),
    BlockCase("f32_mask2d", 2, 7, 16, 2, np.float32, mask="2d"),
    BlockCase("f64_gelu_tanh", 2, 5, 8, 2, causal=True, approximate="tanh"),
]


def block_inputs(case: BlockCase) -> tuple[Array, Array, Array | None, dict[str, Array]]:
    """x, the loss weights w, the mask or None, and the parameters by name (random: not the init's)."""
    rng = np.random.default_rng(9)
    b, t, d = case.batch, case.length, case.dim
    x, w = rng.standard_normal((b, t, d)), rng.standard_normal((b, t, d))
    mask: Array | None = None
    if case.mask != "none":
        mask = rng.random((t, t) if case.mask == "2d" else (b, t, t)) < 0.4
        mask[..., np.arange(t), np.arange(t)] = False
    params: dict[str, Array] = {}
    for name, p in case.module().named_parameters():
        shape: tuple[int, ...] = ext.data(p).shape
        scale = 0.5 if name.endswith("bias") else 1.0 / np.sqrt(shape[-1])
        base = 1.0 if name.startswith("norm") and name.endswith("weight") else 0.0
        params[name] = (base + scale * rng.standard_normal(shape)).astype(case.dtype)
    return x.astype(case.dtype), w.astype(case.dtype), mask, params


def run_block_ours(
    case: BlockCase, x: Array, w: Array, mask: Array | None, params: dict[str, Array]
) -> dict[str, Array]:
    module = case.module()
    set_params(module, params)
    grads = module.alloc_grads()
    xt = tt.tensor(x).trace(grads)
    grads.alloc(xt)
    block: Any = module
    out: tt.Tensor[Any, Any, Any] = block.forward_mut(xt, None if mask is None else tt.tensor(mask))
    got = (out * tt.tensor(w)).sum().backward()
    result = {"out": out.numpy().copy(), "gx": got.get(xt).numpy().copy()}
    for name, p in module.named_parameters():
        result[f"g/{name}"] = got.get(p).numpy().copy()
    return result


def run_block_torch(
    case: BlockCase, x: Array, w: Array, mask: Array | None, params: dict[str, Array]
) -> dict[str, Array]:
    th: Any = importlib.import_module("torch")
    gelu = "gelu" if case.approximate == "none" else functools.partial(th.nn.functional.gelu, approximate="tanh")
    layer = th.nn.TransformerEncoderLayer(
        case.dim, case.heads, case.mlp_ratio * case.dim, 0.0, gelu, batch_first=True, norm_first=True
    ).to(getattr(th, np.dtype(case.dtype).name))
    with th.no_grad():
        for name, p in layer.named_parameters():
            p.copy_(th.as_tensor(params[name]))
    xt = th.tensor(x, requires_grad=True)
    out = layer(xt, src_mask=torch_mask(th, mask, case.length, case.length, case.causal, case.heads))
    (out * th.as_tensor(w)).sum().backward()
    result = {"out": out.detach().numpy(), "gx": xt.grad.numpy()}
    for name, p in layer.named_parameters():
        result[f"g/{name}"] = p.grad.numpy()
    return result
