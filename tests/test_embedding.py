"""Embedding[N, D]: PyTorch parity (golden data and live), finite differences, the scatter of repeated ids,
padding_idx, id layouts and dtypes, input and option errors, and checkpoints with PyTorch's names."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import typedtensor as tt
from tests.embspec import CASES, EmbCase, inputs, run_ours, run_torch
from tests.fd import numeric_gradient
from tests.iohelp import FLOATS, FORMATS, load, save
from typedtensor import nn

Array = NDArray[Any]
GOLDEN = np.load(Path(__file__).parent / "golden" / "embedding.npz")
IDS = [c.name for c in CASES]
#: (rtol, atol) against PyTorch: the gather is exact; float16 gradients are accumulated in float32 here
#: and rounded once (PyTorch's may differ by an ulp)
TOLERANCE: dict[type[Any], tuple[float, float]] = {np.float64: (1e-12, 0.0), np.float32: (1e-6, 1e-7), np.float16: (1e-3, 4e-3)}  # fmt: skip


def _compare(ours: dict[str, Array], theirs: dict[str, Array], case: EmbCase) -> None:
    assert sorted(ours) == sorted(theirs)
    np.testing.assert_array_equal(ours["out"], theirs["out"])  # a gather: bit for bit
    rtol, atol = TOLERANCE[case.dtype]
    for key, value in theirs.items():
        assert ours[key].dtype == np.dtype(case.dtype), key
        np.testing.assert_allclose(ours[key], value, rtol=rtol, atol=atol, err_msg=f"{case.name} {key}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_golden(case: EmbCase) -> None:
    weight, ids, w = inputs(case)
    np.testing.assert_array_equal(ids, GOLDEN[f"{case.name}/ids"])
    theirs = {k: GOLDEN[f"{case.name}/{k}"] for k in ("out", "g/weight")}
    _compare(run_ours(case, weight, ids, w), theirs, case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_pytorch_live(case: EmbCase) -> None:
    pytest.importorskip("torch", reason="torch is not installed: the golden-data test covers Embedding")
    weight, ids, w = inputs(case)
    _compare(run_ours(case, weight, ids, w), run_torch(case, weight, ids, w), case)


def _grad(layer: nn.Embedding[Any, Any], ids: tt.Tensor[Any, Any, Any], w: Array) -> Array:
    grads = tt.Gradients()
    grads.alloc(layer.weight)
    out: tt.Tensor[Any, Any, Any] = layer.forward_mut(ids.trace(grads))
    result = (out * tt.tensor(w, layer.dtype.type)).sum().backward()
    return result.get(layer.weight).numpy()


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_weight_gradient_matches_finite_differences(padding_idx: int | None) -> None:
    rng = np.random.default_rng(0)
    layer = nn.Embedding(4, 3, padding_idx, dtype=np.float64, seed=1)
    ids = np.array([[0, 1, 3], [3, 3, 1]])
    w = rng.standard_normal((2, 3, 3))

    def loss(values: list[Array]) -> float:
        return float(np.sum(values[0][ids] * w))

    expected = numeric_gradient(loss, [layer.weight.numpy()], 0)
    if padding_idx is not None:
        expected[padding_idx] = 0  # PyTorch's rule: the padding row gets no gradient
    np.testing.assert_allclose(_grad(layer, tt.tensor(ids, np.int64), w), expected, rtol=1e-8, atol=1e-9)


def test_repeated_ids_accumulate() -> None:
    layer = nn.Embedding(3, 2, dtype=np.float64, seed=0)
    g = _grad(layer, tt.tensor([2, 0, 2, 2], np.int64), np.ones((4, 2)))
    np.testing.assert_array_equal(g, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


@pytest.mark.parametrize("dtype", FLOATS)
def test_float16_32_64_weights(dtype: type[Any]) -> None:
    layer = nn.Embedding(5, 3, dtype=dtype, seed=0)
    ids = tt.tensor([[4, 0], [4, 4]], np.int64)
    out: tt.Tensor[Any, Any, Any] = layer.forward(ids)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.numpy(), layer.weight.numpy()[[[4, 0], [4, 4]]])
    g = _grad(layer, ids, np.full((2, 2, 3), 0.1, dtype))
    assert g.dtype == np.dtype(dtype)
    np.testing.assert_allclose(g[4], np.full(3, 0.3), rtol=1e-3)


def _layouts(base: Array) -> dict[str, Array]:
    """The same (4, 6) ids in every layout: C, F, strided, negative strides, a transposed (channels-last) view."""
    return {
        "C": np.ascontiguousarray(base),
        "F": np.asfortranarray(base),
        "strided": np.repeat(np.repeat(base, 2, axis=0), 3, axis=1)[::2, ::3],
        "negative": np.ascontiguousarray(base[::-1, ::-1])[::-1, ::-1],
        "transposed": np.ascontiguousarray(base.T).T,
    }


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative", "transposed"])
@pytest.mark.parametrize("id_dtype", [np.int64, np.int32, np.uint8, np.int16])
def test_every_layout_and_integer_dtype_of_the_ids(layout: str, id_dtype: type[Any]) -> None:
    base = np.random.default_rng(2).integers(0, 7, (4, 6)).astype(id_dtype)
    arr = _layouts(base)[layout]
    np.testing.assert_array_equal(arr, base)
    layer = nn.Embedding(7, 3, padding_idx=5, dtype=np.float64, seed=3)
    ids = tt.tensor(arr, id_dtype)
    np.testing.assert_array_equal(layer.forward(ids).numpy(), layer.weight.numpy()[base])
    w = np.random.default_rng(4).standard_normal((4, 6, 3))
    expected = np.zeros((7, 3))
    np.add.at(expected, base.astype(np.int64).ravel(), w.reshape(-1, 3))
    expected[5] = 0
    np.testing.assert_allclose(_grad(layer, ids, w), expected, rtol=1e-12, atol=1e-12)


def test_the_gradient_reads_a_strided_g() -> None:
    """g reaches the scatter through a transpose (not C-ordered) and a zero-stride broadcast (the sum)."""
    layer = nn.Embedding(4, 3, dtype=np.float64, seed=0)
    grads = tt.Gradients()
    grads.alloc(layer.weight)
    out: tt.Tensor[Any, Any, Any] = layer.forward_mut(tt.tensor([[1, 2], [1, 3]], np.int64).trace(grads))
    w = np.arange(12.0).reshape(2, 3, 2)
    result = (out.transpose() * tt.tensor(w, np.float64)).sum().backward()
    expected = np.zeros((4, 3))
    np.add.at(expected, [1, 2, 1, 3], np.swapaxes(w, 1, 2).reshape(-1, 3))
    np.testing.assert_array_equal(result.get(layer.weight).numpy(), expected)
    plain = tt.Gradients()
    plain.alloc(layer.weight)
    again: tt.Tensor[Any, Any, Any] = layer.forward_mut(tt.tensor([0, 0, 3], np.int64).trace(plain))
    again.sum().backward()
    np.testing.assert_array_equal(plain.get(layer.weight).numpy(), [[2.0] * 3, [0.0] * 3, [0.0] * 3, [1.0] * 3])


def test_padding_idx_row_starts_at_zero_and_never_learns() -> None:
    layer = nn.Embedding(5, 4, padding_idx=-2, seed=0)
    assert layer.padding_idx == 3  # counted from the end, stored as PyTorch does
    weight = layer.weight.numpy()
    np.testing.assert_array_equal(weight[3], np.zeros(4))
    assert np.all(np.delete(weight, 3, axis=0) != 0)
    g = _grad(layer, tt.tensor([3, 3, 0], np.int64), np.ones((3, 4), np.float32))
    np.testing.assert_array_equal(g[3], np.zeros(4))
    np.testing.assert_array_equal(g[0], np.ones(4))
    layer.reset_params(7)
    np.testing.assert_array_equal(layer.weight.numpy()[3], np.zeros(4))


def test_init_is_standard_normal_and_seeded() -> None:
    a, b = nn.Embedding(400, 250, seed=5), nn.Embedding(400, 250, seed=5)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    values = a.weight.numpy().astype(np.float64)
    assert abs(values.mean()) < 0.01
    assert abs(values.std() - 1.0) < 0.01
    assert not np.array_equal(values, nn.Embedding(400, 250, seed=6).weight.numpy())


def test_untraced_ids_give_an_untraced_output_and_traced_ids_a_traced_one() -> None:
    layer = nn.Embedding(3, 2)
    ids = tt.tensor([0, 1], np.int64)
    assert not layer.forward(ids).traced
    grads = tt.Gradients()
    traced = ids.trace(grads)
    out: tt.Tensor[Any, Any, Any] = layer.forward_mut(traced)
    assert out.traced
    assert traced not in out.sum().backward()


@pytest.mark.parametrize("bad", [7, -1, 100])
def test_an_out_of_range_id_is_a_shape_error_naming_it(bad: int) -> None:
    layer = nn.Embedding(7, 2)
    ids = np.zeros((2, 3), np.int64)
    ids[1, 2] = bad
    with pytest.raises(tt.ShapeError, match=rf"id {bad} at index \(1, 2\) is out of range: ids must be in \[0, 7\)"):
        layer.forward(tt.tensor(ids, np.int64))
    with pytest.raises(tt.ShapeError, match=f"id {bad}"), tt.checks(False):
        layer.forward_mut(tt.tensor(ids, np.int64).leaky_trace())


def test_empty_ids_give_an_empty_output() -> None:
    out: tt.Tensor[Any, Any, Any] = nn.Embedding(3, 4).forward(tt.tensor(np.zeros((2, 0), np.int64), np.int64))
    assert out.shape == (2, 0, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_])
def test_non_integer_ids_are_a_dtype_error_with_the_fix(dtype: type[Any]) -> None:
    layer = nn.Embedding(3, 2)
    x = tt.tensor(np.zeros(2), dtype)
    with pytest.raises(tt.DTypeError):
        layer.forward(x)
    with tt.checks(False), pytest.raises(tt.DTypeError, match=r"expected integer ids, got dtype .*np\.int64"):
        layer.forward(x)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 2), "num_embeddings"),
        ((3, 0), "embedding_dim"),
        ((3, 2, 3), r"padding_idx must be None or an int in \[-3, 3\)"),
        ((3, 2, -4), "padding_idx"),
        ((3, 2, 1.0), "padding_idx"),
        ((3, 2, True), "padding_idx"),
    ],
)
def test_bad_options_are_refused(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(tt.TypedTensorError, match=match):
        nn.Embedding(*args)


def test_padding_idx_assignment_is_checked_and_normalised() -> None:
    layer = nn.Embedding(4, 2)
    layer.padding_idx = -1
    assert layer.padding_idx == 3
    with pytest.raises(tt.TypedTensorError, match="padding_idx"):
        layer.padding_idx = 4
    assert layer.padding_idx == 3


def test_a_wrong_weight_is_refused() -> None:
    layer = nn.Embedding(4, 2)
    with pytest.raises(tt.TypedTensorError):
        layer.weight = tt.zeros((4, 3))


class _Tagger(nn.Module):
    def __init__(self) -> None:
        self.emb = nn.Embedding(6, 4, padding_idx=0, seed=1)
        self.fc = nn.Linear(4, 2, seed=2)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("naming", ["typedtensor", "torch"])
def test_checkpoint_round_trip(tmp_path: Path, fmt: str, naming: Any) -> None:
    pytest.importorskip("safetensors", reason="the io extra: pip install -e '.[io]'")
    src = _Tagger()
    path = tmp_path / f"m.{fmt}"
    save(src, fmt, path, naming=naming)
    dst = _Tagger()
    dst.emb.reset_params(9)
    report = load(dst, fmt, path, naming=naming)
    assert report.missing == report.unexpected == ()
    assert sorted(src.state_dict()) == ["emb.weight", "fc.bias", "fc.weight"]
    for key, value in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[key], value)
    ids = tt.tensor([[1, 5, 0]], np.int64)
    np.testing.assert_array_equal(
        dst.fc.forward(dst.emb.forward(ids)).numpy(), src.fc.forward(src.emb.forward(ids)).numpy()
    )
    with pytest.raises(tt.CheckpointError):
        load(nn.Embedding(5, 4), fmt, path, naming=naming)  # another table size: refused


def test_pytorch_state_dict_loads() -> None:
    torch: Any = pytest.importorskip("torch", reason="the live PyTorch comparison needs torch")
    theirs = torch.nn.Embedding(10, 3, padding_idx=2)
    ours = nn.Embedding(10, 3, padding_idx=2)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, naming="torch")
    ids = np.array([[2, 9, 0], [9, 9, 1]])
    expected = theirs(torch.as_tensor(ids)).detach().numpy()
    np.testing.assert_array_equal(ours.forward(tt.tensor(ids, np.int64)).numpy(), expected)
    back = importlib.import_module("torch.nn").Embedding(10, 3)
    back.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
