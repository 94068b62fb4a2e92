"""TransformerBlock[D]: parity with PyTorch's TransformerEncoderLayer(norm_first=True, activation="gelu",
batch_first=True) (golden data and live), finite differences, dropout only in training, layouts, errors and
checkpoints with PyTorch's names."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import Literal as L

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.attnspec import (
    BLOCK_CASES,
    BlockCase,
    block_inputs,
    compare,
    golden,
    run_block_ours,
    run_block_torch,
    set_params,
)
from tests.fd import numeric_gradient
from tests.iohelp import FORMATS, load, save
from typedtensor import nn

Array = NDArray[Any]
GOLDEN = np.load(Path(__file__).parent / "golden" / "attention.npz")
IDS = [c.name for c in BLOCK_CASES]
TOLERANCE: dict[type[Any], tuple[float, float]] = {np.float64: (1e-11, 1e-12), np.float32: (1e-4, 5e-5)}
CASE = BlockCase("fd", 2, 3, 4, 2, mlp_ratio=2, causal=True, mask="3d")
NAMES = [
    "norm1.weight",
    "norm1.bias",
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "norm2.weight",
    "norm2.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
]


def _compare(ours: dict[str, Array], theirs: dict[str, Array], case: BlockCase) -> None:
    compare(ours, theirs, case.dtype, TOLERANCE[case.dtype], case.name)


@pytest.mark.parametrize("case", BLOCK_CASES, ids=IDS)
def test_matches_pytorch_golden(case: BlockCase) -> None:
    x, w, mask, params = block_inputs(case)
    _compare(run_block_ours(case, x, w, mask, params), golden(GOLDEN, f"block/{case.name}/", "x", x), case)


@pytest.mark.parametrize("case", BLOCK_CASES, ids=IDS)
def test_matches_pytorch_live(case: BlockCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers TransformerBlock")
    x, w, mask, params = block_inputs(case)
    _compare(run_block_ours(case, x, w, mask, params), run_block_torch(case, x, w, mask, params), case)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_float16_and_float32_are_close_to_the_float64_result(dtype: type[Any]) -> None:
    """The block in float16 (LayerNorm and attention computed in float32, Linear in float16) and float32, against
    float64 on the same rounded values: within 8 ulps of the largest output or gradient."""
    case = BlockCase("low", 2, 5, 16, 2, dtype, causal=True)
    x, w, mask, params = block_inputs(case)
    ours = run_block_ours(case, x, w, mask, params)
    wide = BlockCase("wide", 2, 5, 16, 2, np.float64, causal=True)
    as64 = {k: v.astype(np.float64) for k, v in params.items()}
    exact = run_block_ours(wide, x.astype(np.float64), w.astype(np.float64), mask, as64)
    for key, value in exact.items():
        assert ours[key].dtype == np.dtype(dtype), key
        ulp = float(np.spacing(dtype(np.abs(value).max())))
        assert np.abs(ours[key].astype(np.float64) - value).max() <= 8 * ulp, key  # measured: 2.1 (f16), 3.7 (f32)


def test_parameter_names_are_pytorchs() -> None:
    assert sorted(n for n, _ in CASE.module().named_parameters()) == sorted(NAMES)


def test_finite_differences_of_the_input_and_every_parameter() -> None:
    x, w, mask, params = block_inputs(CASE)
    ours = run_block_ours(CASE, x, w, mask, params)
    module = CASE.module()
    names = list(params)
    m = None if mask is None else tt.tensor(mask)

    def loss(values: list[Array]) -> float:
        set_params(module, dict(zip(names, values[1:], strict=True)))
        return float((module.forward(tt.tensor(values[0]), m).numpy() * w).sum())

    values = [x, *params.values()]
    for i, key in enumerate(["gx", *(f"g/{n}" for n in names)]):
        np.testing.assert_allclose(ours[key], numeric_gradient(loss, values, i), rtol=1e-6, atol=1e-8, err_msg=key)


def test_dropout_only_in_forward_mut() -> None:
    x, _, _, params = block_inputs(CASE)
    drop = nn.TransformerBlock(4, 2, 2, dropout=0.5, dtype=np.float64, seed=3)
    plain = nn.TransformerBlock(4, 2, 2, dtype=np.float64)
    set_params(drop, params)
    set_params(plain, params)
    xt = tt.tensor(x)
    np.testing.assert_array_equal(drop.forward(xt).numpy(), plain.forward(xt).numpy())
    grads = drop.alloc_grads()
    first = drop.forward_mut(xt.trace(grads)).numpy()
    assert not np.allclose(first, plain.forward(xt).numpy())
    again = nn.TransformerBlock(4, 2, 2, dropout=0.5, dtype=np.float64, seed=3)
    set_params(again, params)
    np.testing.assert_array_equal(again.forward_mut(xt.trace(again.alloc_grads())).numpy(), first)
    no_drop = plain.forward_mut(xt.trace(plain.alloc_grads())).numpy()
    np.testing.assert_array_equal(no_drop, plain.forward(xt).numpy())


@pytest.mark.parametrize("kind", ["F", "strided", "negative"])
def test_input_layouts(kind: str) -> None:
    x, w, mask, params = block_inputs(CASE)
    expected = run_block_ours(CASE, x, w, mask, params)
    if kind == "F":
        view = np.asfortranarray(x)
    elif kind == "strided":
        wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]))
        wide[..., 1::2] = x
        view = wide[..., 1::2]
    else:
        view = np.flip(np.flip(x).copy())
    got = run_block_ours(CASE, view, w, mask, params)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.mark.parametrize("checks", [True, False])
def test_errors(checks: bool) -> None:
    block: Any = nn.TransformerBlock(4, 2, dtype=np.float64)
    x = tt.zeros((2, 3, 4), dtype=np.float64)
    with tt.checks(checks):
        with pytest.raises(tt.ShapeError):
            block.forward(tt.zeros((2, 3, 5), dtype=np.float64))
        with pytest.raises(tt.ShapeError, match=None if checks else r"attn_mask must have shape"):
            block.forward(x, tt.tensor(np.zeros((2, 3), np.bool_)))
        with pytest.raises(tt.TapeError):
            block.forward(x.leaky_trace())
        with pytest.raises(tt.TapeError):
            block.forward_mut(x)
        with pytest.raises(tt.DTypeError):
            block.forward(tt.zeros((2, 3, 4)))
    for cls in (nn.TransformerBlock[L[16]], nn.MultiHeadAttention[L[16]]):  # the type argument disagrees
        wrong: Any = cls
        with pytest.raises(tt.CheckError, match="declares D = 16 but this instance was built with 8"):
            wrong(8, 2).forward(tt.zeros((2, 3, 8)))
    with pytest.raises(tt.TypedTensorError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        nn.TransformerBlock(6, 4)
    with pytest.raises(tt.TypedTensorError, match="mlp_ratio must be a positive int"):
        nn.TransformerBlock(8, 2, mlp_ratio=0)
    with pytest.raises(tt.TypedTensorError, match=r"dropout must be a number in \[0, 1\]"):
        nn.TransformerBlock(8, 2, dropout=2.0)


def test_a_refused_call_records_nothing() -> None:
    """A wrong mask, width or tape is refused before the first LayerNorm records on x's tape."""
    block: Any = nn.TransformerBlock(4, 2, dtype=np.float64)
    xt = tt.zeros((2, 3, 4), dtype=np.float64).trace(block.alloc_grads())
    with tt.checks(False):
        with pytest.raises(tt.ShapeError, match="attn_mask"):
            block.forward_mut(xt, tt.tensor(np.zeros((3, 5), np.bool_)))
        with pytest.raises(tt.TapeError, match="inference"):
            block.forward(xt)
    assert repr(xt._tape) == "OwnedTape(ops=0, used=False)"
    with tt.checks(False), pytest.raises(tt.ShapeError, match=r"expected input \(B, T, 4\)"):
        block.forward(tt.zeros((3, 4), dtype=np.float64))


def test_pytorch_state_dict_loads_both_ways() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, 32, 0.0, "gelu", batch_first=True, norm_first=True)
    ours = nn.TransformerBlock(8, 2)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, naming="torch")  # strict
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    expected = theirs(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours.forward(tt.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    back = torch.nn.TransformerEncoderLayer(8, 2, 32, 0.0, "gelu", batch_first=True, norm_first=True)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("naming", ["typedtensor", "torch"])
def test_checkpoint_round_trip(tmp_path: Path, fmt: str, naming: Any) -> None:
    pytest.importorskip("safetensors", reason="the io extra: pip install -e '.[io]'")
    x, _, _, params = block_inputs(CASE)
    src = CASE.module()
    set_params(src, params)
    path = tmp_path / f"b.{fmt}"
    save(src, fmt, path, naming=naming)
    dst = nn.TransformerBlock(4, 2, 2, causal=True, dtype=np.float64, seed=9)
    report = load(dst, fmt, path, naming=naming)
    assert report.missing == report.unexpected == ()
    np.testing.assert_array_equal(dst.forward(tt.tensor(x)).numpy(), src.forward(tt.tensor(x)).numpy())
    with pytest.raises(tt.CheckpointError):
        load(nn.TransformerBlock(4, 2, 4, causal=True, dtype=np.float64), fmt, path, naming=naming)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_linear_after_gelu_is_the_two_ops_bit_for_bit_and_keeps_only_its_input(
    approximate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``linear2.after(h, gelu)`` (the block's MLP in a training step without dropout) gives the output and every
    gradient of ``linear2(gelu(h))`` exactly, and its backward holds h and the weight, not gelu(h)."""
    from typedtensor import extend as ext

    rng = np.random.default_rng(5)
    h0 = rng.standard_normal((3, 4, 12)).astype(np.float32)
    linear, act = nn.Linear(12, 5, seed=1), nn.GELU(approximate)
    results: list[list[NDArray[Any]]] = []
    for fused in (False, True):
        grads = linear.alloc_grads()
        h = tt.tensor(h0).trace(grads)
        grads.alloc(h)
        hidden: tt.Tensor[Any, Any, Any] = h if fused else act.forward_mut(h)
        out: tt.Tensor[Any, Any, Any] = linear.after(h, act.kernel()) if fused else linear.forward_mut(hidden)
        got = (out * out).sum().backward()
        results.append([out.numpy(), got.get(h).numpy(), got.get(linear.weight).numpy()])
    for ours, want in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(ours, want)
    backwards: list[Any] = []
    record = ext.record

    def spy(parents: Any, out: Any, backward: Any) -> Any:
        backwards.append(backward)
        return record(parents, out, backward)

    monkeypatch.setattr(ext, "record", spy)  # the module _linear records through
    linear.after(tt.tensor(h0).trace(tt.Gradients()), act.kernel())
    cells: list[object] = [c.cell_contents for c in backwards[0].__closure__]
    held: list[NDArray[Any]] = [c for c in cells if isinstance(c, np.ndarray)]
    assert len(held) == 2  # h's values and the weight
    assert any(a is ext.data(linear.weight) for a in held)
    assert any(a.shape == h0.shape and np.array_equal(a, h0) for a in held)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_inference_written_over_fresh_outputs_equals_the_training_forward_bit_for_bit(approximate: Any) -> None:
    """forward writes the GELU and the residual sums over the sub-layers' fresh outputs; the values are the
    training forward's exactly (x + a and a + x round alike; the in-place GELU keeps the formula's roundings)."""
    rng = np.random.default_rng(6)
    block = nn.TransformerBlock(16, 4, causal=True, approximate=approximate, seed=2)
    x0 = rng.standard_normal((3, 7, 16)).astype(np.float32)
    x = tt.tensor(x0.copy())
    ours = block.forward(x).numpy()
    np.testing.assert_array_equal(x.numpy(), x0)  # the input is not written
    trained = block.forward_mut(tt.tensor(x0).trace(block.alloc_grads())).numpy()
    np.testing.assert_array_equal(ours, trained)


def test_gelu_forward_inplace_overwrites_only_what_it_may() -> None:
    from typedtensor._ops import elementwise as ew

    rng = np.random.default_rng(7)
    a0 = rng.standard_normal((4, 70_000)).astype(np.float32)  # more than two scratch blocks
    act = nn.GELU("tanh")
    x = tt.tensor(a0.copy())
    y = act.forward_inplace(x)
    assert y is x
    np.testing.assert_array_equal(x.numpy(), act.forward(tt.tensor(a0)).numpy())
    strided = tt.tensor(np.asfortranarray(a0))  # not C-contiguous: a new array, the input kept
    before = strided.numpy().copy()
    out = act.forward_inplace(strided)
    assert out is not strided
    np.testing.assert_array_equal(strided.numpy(), before)
    with pytest.raises(tt.TapeError):
        act.forward_inplace(tt.tensor(a0).trace(tt.Gradients()))  # type: ignore[arg-type]
    with pytest.raises(tt.TypedTensorError, match="C-contiguous"):
        ew.gelu_tanh_inplace(a0[:, ::2])
