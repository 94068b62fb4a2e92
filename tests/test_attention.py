"""MultiHeadAttention[D]: PyTorch parity (golden data and live), finite differences for the layer and each
input, masks (both shapes, causal, fully masked rows), large logits, dropout, layouts, errors with checks on
and off, init and checkpoints with PyTorch's names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.attnspec import CASES, AttnCase, compare, golden, inputs, run_ours, run_torch, set_params, torch_mask
from tests.fd import numeric_gradient
from tests.iohelp import FORMATS, load, save
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.nn import functional as F

Array = NDArray[Any]
GOLDEN = np.load(Path(__file__).parent / "golden" / "attention.npz")
IDS = [c.name for c in CASES]
#: (rtol, atol) against PyTorch, per dtype (measured: float64 2e-15, float32 3e-6, float16 8e-3 abs: PyTorch
#: rounds float16 at every step, we once)
TOLERANCE: dict[type[Any], tuple[float, float]] = {
    np.float64: (1e-12, 1e-13),
    np.float32: (1e-5, 1e-5),
    np.float16: (1e-2, 2e-2),
}
CASE = AttnCase("fd", 2, 3, 4, 4, 2, causal=True, mask="3d")


def _compare(ours: dict[str, Array], theirs: dict[str, Array], case: AttnCase) -> None:
    compare(ours, theirs, case.dtype, TOLERANCE[case.dtype], case.name)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_golden(case: AttnCase) -> None:
    arrays, mask, params = inputs(case)
    theirs = golden(GOLDEN, f"{case.name}/", "query", arrays["query"])
    _compare(run_ours(case, arrays, mask, params), theirs, case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_live(case: AttnCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers MultiHeadAttention")
    arrays, mask, params = inputs(case)
    _compare(run_ours(case, arrays, mask, params), run_torch(case, arrays, mask, params), case)


@pytest.mark.parametrize("case", [c for c in CASES if c.dtype != np.float64], ids=lambda c: c.name)
def test_float16_and_float32_are_close_to_the_exact_result(case: AttnCase) -> None:
    """float16 is computed in float32 and rounded once: within an ulp (of the largest value) of the float64
    result on the same inputs; float32 within a few ulps."""
    arrays, mask, params = inputs(case)
    ours = run_ours(case, arrays, mask, params)
    wide = dataclasses.replace(case, dtype=np.float64)
    as64 = {k: v.astype(np.float64) for k, v in params.items()}
    exact = run_ours(wide, {k: v.astype(np.float64) for k, v in arrays.items()}, mask, as64)
    for key, value in exact.items():
        ulp = float(np.spacing(case.dtype(np.abs(value).max())))
        limit = 1.0 if case.dtype == np.float16 else 16.0
        assert np.abs(ours[key].astype(np.float64) - value).max() <= limit * ulp, key


def _loss(case: AttnCase, mask: Array | None, w: Array, names: list[str]) -> Any:
    def loss(values: list[Array]) -> float:
        module = case.module()
        set_params(module, dict(zip(names, values[3:], strict=True)))
        q, k, v = (tt.tensor(a) for a in values[:3])
        out: tt.Tensor[Any, Any, Any] = module.forward(q, k, v, None if mask is None else tt.tensor(mask))
        return float((out.numpy() * w).sum())

    return loss


def test_finite_differences_of_every_input_and_parameter() -> None:
    """float64: query, key and value (cross-attention, causal and a (B, T, S) mask) and all four parameters."""
    arrays, mask, params = inputs(CASE)
    ours = run_ours(CASE, arrays, mask, params)
    names = list(params)
    values = [arrays["query"], arrays["key"], arrays["value"], *params.values()]
    loss = _loss(CASE, mask, arrays["w"], names)
    keys = ["gquery", "gkey", "gvalue", *(f"g/{n}" for n in names)]
    for i, key in enumerate(keys):
        np.testing.assert_allclose(ours[key], numeric_gradient(loss, values, i), rtol=1e-6, atol=1e-8, err_msg=key)


def test_self_attention_finite_differences() -> None:
    case = AttnCase("fd_self", 2, 4, None, 6, 3, mask="2d")
    arrays, mask, params = inputs(case)
    ours = run_ours(case, arrays, mask, params)
    module = case.module()
    set_params(module, params)

    def loss(values: list[Array]) -> float:
        out: tt.Tensor[Any, Any, Any] = module.forward(
            tt.tensor(values[0]), attn_mask=None if mask is None else tt.tensor(mask)
        )
        return float((out.numpy() * arrays["w"]).sum())

    np.testing.assert_allclose(ours["gquery"], numeric_gradient(loss, [arrays["query"]], 0), rtol=1e-6, atol=1e-8)


def _module(case: AttnCase = CASE) -> tuple[nn.MultiHeadAttention[int], dict[str, Array], Array | None]:
    arrays, mask, params = inputs(case)
    module = case.module()
    set_params(module, params)
    return module, arrays, mask


def test_a_2d_mask_is_the_3d_mask_repeated_and_causal_is_the_upper_triangle() -> None:
    module, arrays, _ = _module()
    q, k, v = (tt.tensor(arrays[n]) for n in ("query", "key", "value"))
    b, t, s = 2, 3, 4
    mask2 = np.random.default_rng(0).random((t, s)) < 0.5
    mask2[:, 0] = False
    two = module.forward(q, k, v, tt.tensor(mask2)).numpy()
    three = module.forward(q, k, v, tt.tensor(np.broadcast_to(mask2, (b, t, s)).copy())).numpy()
    np.testing.assert_array_equal(two, three)
    plain = nn.MultiHeadAttention(4, 2, dtype=np.float64)
    plain.load_state_dict(module.state_dict())
    upper = np.triu(np.ones((t, s), np.bool_), k=1)
    np.testing.assert_array_equal(
        module.forward(q, k, v).numpy(), plain.forward(q, k, v, tt.tensor(upper)).numpy()
    )  # CASE is causal: the (T, S) upper triangle, top-left aligned also for T != S


def test_scaled_dot_product_attention_matches_torch_is_causal() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 5))
    grads = tt.Gradients()
    qt, kt, vt = (tt.tensor(a).trace(grads) for a in (q, k, v))
    for t in (qt, kt, vt):
        grads.alloc(t)
    out: tt.Tensor[Any, Any, Any] = F.scaled_dot_product_attention(qt, kt, vt, causal=True)
    got = out.sum().backward()
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    theirs = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    theirs.sum().backward()
    np.testing.assert_allclose(out.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-13)
    for ours_t, their_t in ((qt, tq), (kt, tk), (vt, tv)):
        np.testing.assert_allclose(got.get(ours_t).numpy(), their_t.grad.numpy(), rtol=1e-11, atol=1e-12)


def test_split_and_merge_heads_are_torch_view_and_transpose() -> None:
    x = np.arange(2 * 3 * 8, dtype=np.float64).reshape(2, 3, 8)
    heads: tt.Tensor[Any, Any, Any] = F.split_heads(tt.tensor(x), 2, 4)
    np.testing.assert_array_equal(heads.numpy(), x.reshape(2, 3, 2, 4).transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(F.merge_heads(heads, 8).numpy(), x)


@pytest.mark.parametrize("checks", [True, False])
def test_functional_errors(checks: bool) -> None:
    x: Any = tt.zeros((2, 3, 8))
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=None if checks else r"must be heads \* head_dim = 2 \* 3"):
            F.split_heads(x, 2, 3)
        with pytest.raises(tt.ShapeError, match=None if checks else r"must be H \* Dh = 2 \* 4"):
            F.merge_heads(F.split_heads(x, 2, 4), 6)
        q: Any = tt.zeros((2, 2, 3, 4))
        k: Any = tt.zeros((2, 2, 5, 3))
        with pytest.raises(tt.ShapeError, match=None if checks else r"expected query \(B, H, T, Dh\)"):
            F.scaled_dot_product_attention(q, k, k)
        with pytest.raises(tt.DTypeError, match=None if checks else "one float dtype"):
            F.scaled_dot_product_attention(q, q.astype(np.float64), q)


def test_fully_masked_rows_are_nan_as_pytorch() -> None:
    """A query row that may attend to nothing: NaN in its output row (and, through the backward, in the
    gradients), as torch.nn.MultiheadAttention's default path (need_weights=True); the other rows are exact."""
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    case = dataclasses.replace(CASE, causal=False)
    arrays, mask, params = inputs(case)
    assert mask is not None
    mask[1, 2, :] = True
    ours, theirs = run_ours(case, arrays, mask, params), run_torch(case, arrays, mask, params)
    assert np.isnan(ours["out"][1, 2]).all()
    assert not np.isnan(ours["out"][0]).any()
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-12, atol=1e-13, err_msg=key)  # NaN where torch's is
    module = case.module()
    q, k, v = (tt.tensor(arrays[n]) for n in ("query", "key", "value"))
    out: tt.Tensor[Any, Any, Any] = module.forward(q, k, v, tt.tensor(mask))
    assert np.isnan(out.numpy()[1, 2]).all()
    assert np.isfinite(out.numpy()[0]).all()
    with torch.no_grad():  # the fast path of torch (inference) gives NaN too
        tm = torch.nn.MultiheadAttention(4, 2, batch_first=True).double().eval()
        q = torch.as_tensor(arrays["query"])
        y, _ = tm(q, q, q, attn_mask=torch.as_tensor(np.ones((3, 3), np.bool_)))
        assert torch.isnan(y).all()


@pytest.mark.parametrize("sizes", [(0, 3, 4), (2, 0, 4), (2, 3, 0)], ids=["no_batch", "no_query", "no_key"])
def test_empty_batch_queries_or_keys_as_pytorch(sizes: tuple[int, int, int]) -> None:
    """No keys (S = 0): the attention's output is 0 (the output projection's bias), as PyTorch's."""
    pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    b, t, s = sizes
    case = AttnCase("empty", b, t, s, 4, 2)
    arrays, mask, params = inputs(case)
    _compare(run_ours(case, arrays, mask, params), run_torch(case, arrays, mask, params), case)


def test_a_key_padding_mask_repeated_over_the_queries_is_torchs_key_padding_mask() -> None:
    """Padded keys: the (B, S) padding mask as a (B, T, S) attn_mask gives torch's key_padding_mask result."""
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    case = dataclasses.replace(CASE, causal=False, mask="none")
    module, arrays, _ = _module(case)
    pad = np.array([[False, False, True, True], [False, False, False, True]])
    mask = np.repeat(pad[:, None, :], 3, axis=1)
    q, k, v = (tt.tensor(arrays[n]) for n in ("query", "key", "value"))
    ours = module.forward(q, k, v, tt.tensor(mask)).numpy()
    theirs = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    theirs.load_state_dict({n: torch.as_tensor(a) for n, a in module.state_dict().items()})
    tq, tk, tv = (torch.as_tensor(arrays[n]) for n in ("query", "key", "value"))
    expected, _ = theirs(tq, tk, tv, key_padding_mask=torch.as_tensor(pad))
    np.testing.assert_allclose(ours, expected.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_large_logits_are_stable_in_float32() -> None:
    """Logits about 1e4 (the queries and keys scaled up): the softmax subtracts each row's maximum, so the
    float32 result is finite and within float32's error of the float64 one."""
    module = nn.MultiHeadAttention(8, 2, dtype=np.float32, seed=3)
    rng = np.random.default_rng(4)
    x = (300 * rng.standard_normal((2, 5, 8))).astype(np.float32)
    weight = ext.data(module.in_proj_weight)
    logits = (x @ weight[:8].T).reshape(2, 5, 2, 4) @ (x @ weight[8:16].T).reshape(2, 5, 2, 4).transpose(0, 1, 3, 2)
    assert np.abs(logits).max() / 2 > 1e4  # divided by sqrt(Dh): logits of 1e4 and more
    out = module.forward(tt.tensor(x)).numpy()
    wide = module.to_dtype(np.float64).forward(tt.tensor(x.astype(np.float64))).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, wide, rtol=1e-3, atol=1e-3 * np.abs(wide).max())


def test_float16_beyond_its_range_is_inf_without_a_warning() -> None:
    """Projections past 65504 in float16: IEEE inf (then NaN through the softmax), with no warning (warnings are
    errors in this suite), forward and backward."""
    module = nn.MultiHeadAttention(8, 2, dtype=np.float16, seed=0)
    grads = module.alloc_grads()
    x = tt.tensor(np.full((2, 3, 8), 60000, np.float16)).trace(grads)
    out: tt.Tensor[Any, Any, Any] = module.forward_mut(x)
    got = (out * 1000.0).sum().backward()
    assert not np.isfinite(out.numpy()).any()
    assert not np.isfinite(ext.data(got.get(module.in_proj_weight))).all()


def test_dropout_is_applied_to_the_probabilities_in_forward_mut_only() -> None:
    case = dataclasses.replace(CASE, causal=False, mask="none")
    arrays, _, params = inputs(case)
    module = nn.MultiHeadAttention(4, 2, dropout=0.5, dtype=np.float64, seed=7)
    set_params(module, params)
    q, k, v = (tt.tensor(arrays[n]) for n in ("query", "key", "value"))
    plain = case.module()
    set_params(plain, params)
    np.testing.assert_array_equal(module.forward(q, k, v).numpy(), plain.forward(q, k, v).numpy())
    grads = module.alloc_grads()
    out = module.forward_mut(q.trace(grads), k, v).numpy()
    # the reference: the same draw from the seed, (B, H, T, S), applied to the softmax probabilities
    keep = (np.random.default_rng(7).random((2, 2, 3, 4)) >= 0.5) * 2.0
    w, b = params["in_proj_weight"], params["in_proj_bias"]
    heads = [
        (arrays[n] @ w[i * 4 : i * 4 + 4].T + b[i * 4 : i * 4 + 4]).reshape(2, -1, 2, 2).transpose(0, 2, 1, 3)
        for i, n in enumerate(("query", "key", "value"))
    ]
    scores = heads[0] @ heads[1].transpose(0, 1, 3, 2) / np.sqrt(2)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    merged = ((p * keep) @ heads[2]).transpose(0, 2, 1, 3).reshape(2, 3, 4)
    expected = merged @ params["out_proj.weight"].T + params["out_proj.bias"]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)


def test_dropout_gradients_are_the_finite_differences_of_the_same_masks() -> None:
    case = dataclasses.replace(CASE, mask="none")
    arrays, _, params = inputs(case)
    names = list(params)
    module = nn.MultiHeadAttention(4, 2, True, dropout=0.3, dtype=np.float64, seed=2)

    def run(values: list[Array], trace: bool) -> tuple[Any, Any, list[Any]]:
        module._rng = np.random.default_rng(11)  # the same masks at every call
        set_params(module, dict(zip(names, values[3:], strict=True)))
        grads = module.alloc_grads()
        ts = [tt.tensor(a).trace(grads) for a in values[:3]]
        for t in ts:
            grads.alloc(t)
        return module.forward_mut(ts[0], ts[1], ts[2]), grads, ts

    values = [arrays["query"], arrays["key"], arrays["value"], *params.values()]
    out, _, ts = run(values, True)
    got = (out * tt.tensor(arrays["w"])).sum().backward()
    analytic = [got.get(t).numpy() for t in ts] + [got.get(p).numpy() for _, p in module.named_parameters()]

    def loss(vals: list[Array]) -> float:
        return float((run(vals, True)[0].numpy() * arrays["w"]).sum())

    for i, g in enumerate(analytic):
        np.testing.assert_allclose(g, numeric_gradient(loss, values, i), rtol=1e-6, atol=1e-8)


def test_dropout_one_leaves_the_output_bias() -> None:
    module: Any = nn.MultiHeadAttention(4, 2, dropout=1.0, dtype=np.float64, seed=0)
    ext.data_mut(module.out_proj.bias)[...] = [1, 2, 3, 4]
    grads = module.alloc_grads()
    out = module.forward_mut(tt.randn((2, 3, 4), dtype=np.float64, seed=1).trace(grads))
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to([1.0, 2, 3, 4], (2, 3, 4)))


def test_untraced_key_and_value_in_training_still_train_the_projections() -> None:
    """forward_mut(traced query, untraced memory): the key/value thirds of in_proj_weight get their gradient."""
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    case = dataclasses.replace(CASE, causal=False, mask="none")
    arrays, _, params = inputs(case)
    module = case.module()
    set_params(module, params)
    grads = module.alloc_grads()
    out: tt.Tensor[Any, Any, Any] = module.forward_mut(
        tt.tensor(arrays["query"]).trace(grads), tt.tensor(arrays["key"]), tt.tensor(arrays["value"])
    )
    got = (out * tt.tensor(arrays["w"])).sum().backward()
    theirs = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.as_tensor(params[name]))
    y, _ = theirs(
        torch.tensor(arrays["query"], requires_grad=True), *(torch.as_tensor(arrays[n]) for n in ("key", "value"))
    )
    (y * torch.as_tensor(arrays["w"])).sum().backward()
    for name, p in module.named_parameters():
        np.testing.assert_allclose(
            got.get(p).numpy(), dict(theirs.named_parameters())[name].grad.numpy(), rtol=1e-12, atol=1e-13
        )
    assert np.abs(got.get(module.in_proj_weight).numpy()[4:]).min() > 0


def _layout(a: Array, kind: str) -> Array:
    """a's values as a C, F, strided or negative-stride array."""
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    flipped = np.flip(np.flip(a).copy())
    assert all(s < 0 for s in flipped.strides)
    return flipped


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kind", ["C", "F", "strided", "negative"])
def test_every_input_layout_gives_the_same_result(dtype: type[Any], kind: str) -> None:
    case = dataclasses.replace(CASE, dtype=dtype)
    arrays, mask, params = inputs(case)
    expected = run_ours(case, arrays, mask, params)
    views = {n: _layout(a, kind) for n, a in arrays.items()}
    got = run_ours(case, views, None if mask is None else _layout(mask, kind), params)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f"{kind} {key}")


@pytest.mark.parametrize("checks", [True, False])
def test_input_errors(checks: bool) -> None:
    module = nn.MultiHeadAttention(4, 2, dtype=np.float64)
    x = tt.zeros((2, 3, 4), dtype=np.float64)
    kv = tt.zeros((2, 5, 4), dtype=np.float64)
    any_module: Any = module

    def says(pattern: str) -> str | None:  # with checks on, the annotation check may speak first (same class)
        return None if checks else pattern

    with tt.checks(checks):
        with pytest.raises(tt.ShapeError, match=says(r"\(B, T, 4\)")):
            any_module.forward(tt.zeros((2, 3, 6), dtype=np.float64))
        with pytest.raises(tt.ShapeError):
            any_module.forward(x, tt.zeros((3, 5, 4), dtype=np.float64), tt.zeros((3, 5, 4), dtype=np.float64))
        with pytest.raises(
            tt.ShapeError,
            match=says(r"attn_mask must have shape \(T, S\) = \(3, 5\) or \(B, T, S\) = \(2, 3, 5\), got \(2, 5\)"),
        ):
            any_module.forward(x, kv, kv, tt.tensor(np.zeros((2, 5), np.bool_)))
        with pytest.raises(tt.ShapeError, match=says(r"\(T, S\) = \(3, 3\)")):
            any_module.forward(x, attn_mask=tt.tensor(np.zeros((3, 4), np.bool_)))
        with pytest.raises(tt.DTypeError, match=says("bool")):
            any_module.forward(x, attn_mask=tt.zeros((3, 3), dtype=np.float64))
        with pytest.raises(tt.DTypeError, match=says("float64 parameters but the input is float32")):
            any_module.forward(tt.zeros((2, 3, 4)))
        with pytest.raises(tt.TypedTensorError, match=says("both key and value")):
            any_module.forward(x, kv)
        with pytest.raises(tt.TapeError, match=says("forward_mut")):
            any_module.forward(x.leaky_trace())
        with pytest.raises(tt.TapeError, match=says("traced query")):
            any_module.forward_mut(x)
        with pytest.raises(tt.DTypeError):
            any_module.forward(x.numpy())


def test_a_refused_call_records_nothing() -> None:
    """A mask of the wrong shape is refused before any op is recorded on the query's tape."""
    module: Any = nn.MultiHeadAttention(4, 2, dtype=np.float64)
    xt = tt.zeros((2, 3, 4), dtype=np.float64).trace(module.alloc_grads())
    before = repr(xt._tape)
    with tt.checks(False), pytest.raises(tt.ShapeError, match="attn_mask"):
        module.forward_mut(xt, attn_mask=tt.tensor(np.zeros((3, 5), np.bool_)))
    assert repr(xt._tape) == before == "OwnedTape(ops=0, used=False)"


def test_constructor_errors() -> None:
    with pytest.raises(tt.TypedTensorError, match=r"embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.MultiHeadAttention(10, 3)
    with pytest.raises(tt.TypedTensorError, match="num_heads must be a positive int"):
        nn.MultiHeadAttention(8, 0)
    with pytest.raises(tt.TypedTensorError, match=r"dropout must be a number in \[0, 1\]"):
        nn.MultiHeadAttention(8, 2, dropout=1.5)
    with pytest.raises(tt.TypedTensorError, match="causal must be True or False"):
        nn.MultiHeadAttention(8, 2, causal=1)  # type: ignore[arg-type]
    module = nn.MultiHeadAttention(8, 2)
    with pytest.raises(tt.TypedTensorError, match=r"dropout must be a number in \[0, 1\]"):
        module.dropout = -0.1
    module.dropout = 0.25
    assert module.dropout == 0.25


def test_fields_are_checked() -> None:
    module = nn.MultiHeadAttention(4, 2)
    any_module: Any = module
    x = tt.zeros((2, 3, 4))
    with pytest.raises(tt.ShapeError, match=r"in_proj_weight must be a Tensor of shape \(12, 4\)"):
        any_module.in_proj_weight = tt.zeros((4, 4))
    with pytest.raises(tt.ShapeError, match=r"in_proj_bias must be a Tensor of shape \(12,\)"):
        any_module.in_proj_bias = tt.zeros((4,))
    for name in ("causal", "num_heads", "embed_dim"):
        with pytest.raises(tt.TypedTensorError, match=f"{name} is fixed"):
            setattr(module, name, 1)
    with pytest.raises(tt.TypedTensorError, match="head_dim is read-only"):
        any_module.head_dim = 1
    module.in_proj_bias = None  # an optional parameter: removed, then added back
    assert [n for n, _ in module.named_parameters()] == ["in_proj_weight", "out_proj.weight", "out_proj.bias"]
    assert any_module.forward(x).shape == (2, 3, 4)
    module.in_proj_bias = tt.zeros((12,))
    module.__dict__["in_proj_weight"] = tt.zeros((4, 4))  # around the checks: named at the next call
    with pytest.raises(tt.ShapeError, match="in_proj_weight"):
        any_module.forward(x)


def test_init_is_pytorchs() -> None:
    module = nn.MultiHeadAttention(16, 4, seed=0)
    w = ext.data(module.in_proj_weight)
    bound = np.sqrt(6.0 / (16 + 48))
    assert w.shape == (48, 16)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    assert module.in_proj_bias is not None
    assert not ext.data(module.in_proj_bias).any()
    assert module.out_proj.bias is not None
    assert not ext.data(module.out_proj.bias).any()
    assert np.abs(ext.data(module.out_proj.weight)).max() <= 0.25  # U(-1/sqrt(D), 1/sqrt(D))
    again = nn.MultiHeadAttention(16, 4, seed=0)
    for (_, a), (_, b) in zip(module.named_parameters(), again.named_parameters(), strict=True):
        np.testing.assert_array_equal(ext.data(a), ext.data(b))
    module.reset_params(1)
    assert module.out_proj.bias is not None
    assert not ext.data(module.out_proj.bias).any()
    nobias = nn.MultiHeadAttention(16, 4, bias=False)
    assert [n for n, _ in nobias.named_parameters()] == ["in_proj_weight", "out_proj.weight"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("naming", ["typedtensor", "torch"])
def test_checkpoint_round_trip(tmp_path: Path, fmt: str, naming: Any) -> None:
    pytest.importorskip("safetensors", reason="the io extra: pip install -e '.[io]'")
    src, arrays, _mask = _module()
    src.dropout = 0.125
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path, naming=naming)
    dst = nn.MultiHeadAttention(4, 2, True, dtype=np.float64, seed=5)
    report = load(dst, fmt, path, naming=naming)
    assert report.missing == report.unexpected == ()
    assert sorted(src.state_dict()) == ["in_proj_bias", "in_proj_weight", "out_proj.bias", "out_proj.weight"]
    for key, value in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[key], value)
    assert dst.dropout == 0.125
    q = tt.tensor(arrays["query"])
    np.testing.assert_array_equal(dst.forward(q).numpy(), src.forward(q).numpy())
    with pytest.raises(tt.CheckpointError):  # another architecture: refused
        load(nn.MultiHeadAttention(4, 4, True, dtype=np.float64), fmt, path, naming=naming)


def test_pytorch_state_dict_loads_both_ways() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_bias.normal_()
        theirs.out_proj.bias.normal_()
    ours = nn.MultiHeadAttention(8, 2)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, naming="torch")
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    expected, _ = theirs(*(torch.as_tensor(x),) * 3)
    np.testing.assert_allclose(ours.forward(tt.tensor(x)).numpy(), expected.detach().numpy(), rtol=1e-5, atol=2e-6)
    back = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    causal = nn.MultiHeadAttention(8, 2, causal=True)
    causal.load_state_dict(ours.state_dict())
    y, _ = back(*(torch.as_tensor(x),) * 3, attn_mask=torch_mask(torch, None, 5, 5, True, 2))
    np.testing.assert_allclose(causal.forward(tt.tensor(x)).numpy(), y.detach().numpy(), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_heads_output_is_token_major_so_merging_the_heads_is_a_view(dtype: type[Any]) -> None:
    """The attention writes its (B, H, T, Dh) output over (B, T, H, Dh) memory: merge_heads copies nothing (a
    copy per layer in both modes, and one more activation kept to the backward by the output projection)."""
    rng = np.random.default_rng(4)
    q, k, v = (tt.tensor(rng.standard_normal((2, 3, 4, 5)).astype(dtype)) for _ in range(3))
    heads = F.scaled_dot_product_attention(q, k, v, causal=True)
    merged = ext.data(F.merge_heads(heads, 15))
    assert merged.flags.c_contiguous
    assert np.shares_memory(merged, ext.data(heads))
    want = np.swapaxes(ext.data(heads), 1, 2).reshape(2, 4, 15)
    np.testing.assert_array_equal(merged, want)
