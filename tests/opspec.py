# pyright: reportUnknownLambdaType=false, reportUnknownArgumentType=false, reportUnknownVariableType=false, reportUnknownMemberType=false
"""One table of every differentiable op, shared by the finite-difference tests, the golden-data
script (PyTorch) and the live PyTorch comparison.

Each case names the inputs' shapes, how typedtensor computes the op and how PyTorch does. The loss
is ``sum(out * w)`` with a fixed random ``w``, so the upstream gradient is not all ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt

Array = NDArray[np.float64]


def _mask(shape: tuple[int, ...]) -> NDArray[np.bool_]:
    mask: NDArray[np.bool_] = np.arange(int(np.prod(shape))).reshape(shape) % 3 == 0
    return mask


@dataclass(frozen=True)
class Case:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    ours: Callable[..., Any]
    torch: Callable[..., Any]  # (torch module, *torch tensors) -> torch tensor
    positive: bool = False

    def inputs(self, seed: int = 0) -> list[Array]:
        rng = np.random.default_rng(seed)
        xs = [rng.standard_normal(s) for s in self.shapes]
        return [np.abs(x) + 0.5 for x in xs] if self.positive else xs

    def weight(self, out_shape: tuple[int, ...], seed: int = 1) -> Array:
        return np.random.default_rng(seed).standard_normal(out_shape)


_IDX = np.array([0, 2, 0, 1])
_LABELS = np.array([1, 0, 4, 1])
#: take_along_axis/gather indices (repeats accumulate) and index tensors (negative ids wrap, as in torch)
_ALONG = np.array([[1, 1], [0, 3], [2, 0]])
_ALONG3 = np.array([[[3, 0, 3, 1, 2, 0], [1, 1, 2, 0, 3, 3], [0, 2, 1, 1, 0, 3]]] * 2)
_ROWS = np.array([[0, 2], [2, 3], [3, 0]])
_PAIRS = np.array([[2, 0], [1, 1], [0, 2]])


def _ids(ids: NDArray[np.int64], view: Callable[[Any], Any] = lambda t: t, dtype: type[Any] = np.int64) -> Any:
    """An integer tensor of ``ids``, seen through ``view`` (a layout: ``[::-1]``, ``.transpose()``, ``[:, ::2]``)."""
    return view(tt.tensor(ids.astype(dtype), dtype))


def _th(th: Any, ids: NDArray[np.int64], view: Callable[[Any], Any] = lambda a: a) -> Any:
    """The same indices as a torch tensor (int64: torch's index dtype)."""
    return th.as_tensor(np.ascontiguousarray(view(ids)), dtype=th.int64)


CASES: list[Case] = [
    Case("add", ((2, 3), (2, 3)), lambda a, b: a + b, lambda th, a, b: a + b),
    Case("sub", ((2, 3), (2, 3)), lambda a, b: a - b, lambda th, a, b: a - b),
    Case("mul", ((2, 3), (2, 3)), lambda a, b: a * b, lambda th, a, b: a * b),
    Case("div", ((2, 3), (2, 3)), lambda a, b: a / b, lambda th, a, b: a / b, positive=True),
    Case("add_scalar", ((2, 3),), lambda a: a + 1.5, lambda th, a: a + 1.5),
    Case("rsub_scalar", ((2, 3),), lambda a: 2.0 - a, lambda th, a: 2.0 - a),
    Case("mul_scalar", ((2, 3),), lambda a: 3 * a, lambda th, a: 3 * a),
    Case("rdiv_scalar", ((2, 3),), lambda a: 2.0 / a, lambda th, a: 2.0 / a, positive=True),
    Case("div_scalar", ((2, 3),), lambda a: a / 4.0, lambda th, a: a / 4.0),
    Case("neg", ((2, 3),), lambda a: -a, lambda th, a: -a),
    Case("pow_square", ((2, 3),), lambda a: a**2, lambda th, a: a**2),
    Case("pow_cube", ((2, 3),), lambda a: a**3, lambda th, a: a**3),
    Case("pow_zero", ((2, 3),), lambda a: a**0, lambda th, a: a**0),
    Case("pow_half", ((2, 3),), lambda a: a**0.5, lambda th, a: a**0.5, positive=True),
    Case("pow_negative_fraction", ((2, 3),), lambda a: a**-1.5, lambda th, a: a**-1.5, positive=True),
    Case("pow_fraction", ((2, 3),), lambda a: a**2.7, lambda th, a: a**2.7, positive=True),
    Case("rpow_scalar", ((2, 3),), lambda a: 2.0**a, lambda th, a: 2.0**a),
    Case("rpow_fraction_base", ((2, 3),), lambda a: 0.3**a, lambda th, a: 0.3**a),
    Case("exp", ((2, 3),), lambda a: a.exp(), lambda th, a: a.exp()),
    Case("log", ((2, 3),), lambda a: a.log(), lambda th, a: a.log(), positive=True),
    Case("sqrt", ((2, 3),), lambda a: a.sqrt(), lambda th, a: a.sqrt(), positive=True),
    Case("square", ((2, 3),), lambda a: a.square(), lambda th, a: a.square()),
    Case("abs", ((2, 3),), lambda a: a.abs(), lambda th, a: a.abs()),
    Case("relu", ((3, 4),), lambda a: a.relu(), lambda th, a: th.relu(a)),
    Case("sigmoid", ((3, 4),), lambda a: a.sigmoid(), lambda th, a: th.sigmoid(a)),
    Case("tanh", ((3, 4),), lambda a: a.tanh(), lambda th, a: th.tanh(a)),
    Case("clamp", ((3, 4),), lambda a: a.clamp(-0.5, 0.7), lambda th, a: th.clamp(a, -0.5, 0.7)),
    Case("clamp_min", ((3, 4),), lambda a: a.clamp(min=0.1), lambda th, a: th.clamp(a, min=0.1)),
    Case("matmul_2d", ((3, 4), (4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_batched", ((2, 3, 4), (2, 4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_broadcast", ((2, 3, 4), (4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_vector", ((4,), (4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_vector_vector", ((4,), (4,)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_matrix_vector", ((2, 3, 4), (4,)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_vector_batched", ((4,), (2, 4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_matrix_batched", ((3, 4), (2, 4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_batch_broadcast", ((3, 1, 2, 4), (2, 4, 5)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    Case("matmul_batch_broadcast_both", ((2, 1, 3, 4), (1, 3, 4, 2)), lambda a, b: a @ b, lambda th, a, b: a @ b),
    # layouts the kernel reads: F order (transposed views), negative strides, strided views
    Case(
        "matmul_fortran",
        ((4, 3), (5, 4)),
        lambda a, b: a.transpose() @ b.transpose(),
        lambda th, a, b: a.mT @ b.mT,
    ),
    Case(
        "matmul_negative_strides",
        ((3, 4), (4, 5)),
        lambda a, b: a[::-1] @ b[:, ::-1],
        lambda th, a, b: a.flip(0) @ b.flip(1),
    ),
    Case(
        "matmul_strided_batch_broadcast",
        ((2, 1, 3, 8), (3, 8, 5)),
        lambda a, b: a[..., ::2] @ b[:, ::2],
        lambda th, a, b: a[..., ::2] @ b[:, ::2],
    ),
    Case(
        "matmul_vector_negative_strides",
        ((8,), (3, 5, 4)),
        lambda a, b: a[::-2] @ b.transpose(),
        lambda th, a, b: a.flip(0)[::2] @ b.mT,
    ),
    Case(
        "matmul_batched_vector_fortran",
        ((2, 4, 3), (8,)),
        lambda a, b: a.transpose() @ b[1::2],
        lambda th, a, b: a.mT @ b[1::2],
    ),
    Case("sum_all", ((2, 3, 4),), lambda a: a.sum(), lambda th, a: a.sum()),
    Case("sum_axis0", ((2, 3, 4),), lambda a: a.sum(0), lambda th, a: a.sum(0)),
    Case("sum_keepdims", ((2, 3, 4),), lambda a: a.sum(-1, keepdims=True), lambda th, a: a.sum(-1, keepdim=True)),
    Case("sum_axes", ((2, 3, 4),), lambda a: a.sum((0, 2)), lambda th, a: a.sum((0, 2))),
    Case("mean_all", ((2, 3, 4),), lambda a: a.mean(), lambda th, a: a.mean()),
    Case("mean_axis1", ((2, 3, 4),), lambda a: a.mean(1), lambda th, a: a.mean(1)),
    Case("var_all", ((3, 4),), lambda a: a.var(), lambda th, a: a.var()),
    Case("var_axis0", ((5, 4),), lambda a: a.var(0), lambda th, a: a.var(0)),
    Case(
        "var_biased_keepdims",
        ((3, 4),),
        lambda a: a.var(1, keepdims=True, correction=0),
        lambda th, a: a.var(1, keepdim=True, correction=0),
    ),
    Case("std_all", ((3, 4),), lambda a: a.std(), lambda th, a: a.std()),
    Case("std_axis0_fortran", ((4, 5),), lambda a: a.transpose().std(0), lambda th, a: a.mT.std(0)),
    Case(
        "std_biased_keepdims_negative_strides",
        ((3, 4),),
        lambda a: a[::-1, ::-1].std(1, keepdims=True, correction=0),
        lambda th, a: a.flip(0).flip(1).std(1, keepdim=True, correction=0),
    ),
    Case("std_strided_last", ((3, 8),), lambda a: a[:, ::2].std(-1), lambda th, a: a[:, ::2].std(-1)),
    Case("max_all", ((3, 4),), lambda a: a.max(), lambda th, a: a.amax()),
    Case("max_axis1", ((3, 4),), lambda a: a.max(1), lambda th, a: a.amax(1)),
    Case("min_axis0_keepdims", ((3, 4),), lambda a: a.min(0, keepdims=True), lambda th, a: a.amin(0, keepdim=True)),
    Case("broadcast_to", ((3, 1),), lambda a: a.broadcast_to((2, 3, 4)), lambda th, a: a.broadcast_to((2, 3, 4))),
    Case("reshape", ((2, 3, 4),), lambda a: a.reshape((6, 4)), lambda th, a: a.reshape(6, 4)),
    Case("permute", ((2, 3, 4),), lambda a: a.permute((2, 0, 1)), lambda th, a: a.permute(2, 0, 1)),
    Case("transpose", ((2, 3, 4),), lambda a: a.transpose(), lambda th, a: a.mT),
    Case("transpose_dims_1_2", ((2, 3, 4, 5),), lambda a: a.transpose(1, 2), lambda th, a: a.transpose(1, 2)),
    Case(
        "transpose_negative_dims_fortran",
        ((3, 4, 5),),
        lambda a: a.permute((2, 1, 0)).transpose(-1, 0),
        lambda th, a: a.permute(2, 1, 0).transpose(-1, 0),
    ),
    Case(
        "transpose_strided_negative_strides",
        ((4, 3, 6),),
        lambda a: a[::-1, :, ::2].transpose(2, 0),
        lambda th, a: a.flip(0)[:, :, ::2].transpose(2, 0),
    ),
    Case("transpose_same_dim", ((2, 3, 4),), lambda a: a.transpose(1, -2), lambda th, a: a.transpose(1, -2)),
    Case(
        "permute_rank4_negative_axes",
        ((2, 3, 4, 5),),
        lambda a: a.permute((0, -2, 1, -1)),
        lambda th, a: a.permute(0, -2, 1, -1),
    ),
    Case("tril", ((3, 4),), lambda a: a.tril(), lambda th, a: a.tril()),
    Case("triu_diagonal1_batched", ((2, 3, 4),), lambda a: a.triu(1), lambda th, a: a.triu(1)),
    Case("tril_negative_fortran", ((4, 5),), lambda a: a.transpose().tril(-1), lambda th, a: a.mT.tril(-1)),
    Case(
        "triu_strided_negative_strides",
        ((2, 5, 6),),
        lambda a: a[::-1, :, ::2].triu(-2),
        lambda th, a: a.flip(0)[:, :, ::2].triu(-2),
    ),
    Case(
        "tril_broadcast_wide_diagonal",
        ((1, 4),),
        lambda a: a.broadcast_to((3, 4)).tril(2),
        lambda th, a: a.broadcast_to((3, 4)).tril(2),
    ),
    Case("squeeze_axis1", ((2, 1, 3),), lambda a: a.squeeze(1), lambda th, a: a.squeeze(1)),
    Case(
        "squeeze_last_negative_strides",
        ((3, 4, 1),),
        lambda a: a[::-1].squeeze(-1),
        lambda th, a: a.flip(0).squeeze(-1),
    ),
    Case(
        "squeeze_first_fortran",
        ((3, 4, 1),),
        lambda a: a.permute((2, 1, 0)).squeeze(0),
        lambda th, a: a.permute(2, 1, 0).squeeze(0),
    ),
    Case("unsqueeze_axis0", ((2, 3),), lambda a: a.unsqueeze(0), lambda th, a: a.unsqueeze(0)),
    Case(
        "unsqueeze_last_fortran",
        ((3, 4),),
        lambda a: a.transpose().unsqueeze(-1),
        lambda th, a: a.mT.unsqueeze(-1),
    ),
    Case(
        "unsqueeze_strided_negative_strides",
        ((4, 6),),
        lambda a: a[::-1, ::2].unsqueeze(1),
        lambda th, a: a.flip(0)[:, ::2].unsqueeze(1),
    ),
    Case("index_int", ((3, 4),), lambda a: a[1], lambda th, a: a[1]),
    Case("index_slice", ((3, 4),), lambda a: a[1:, ::2], lambda th, a: a[1:, ::2]),
    Case("index_array", ((3, 4),), lambda a: a[_IDX], lambda th, a: a[th.as_tensor(_IDX)]),
    Case(
        "split_sizes_unused_chunk",
        ((3, 5),),
        lambda a: tt.concat((a.split([2, 1, 2], axis=1)[2], a.split([2, 1, 2], axis=1)[0]), axis=1),
        lambda th, a: th.cat([th.split(a, [2, 1, 2], 1)[2], th.split(a, [2, 1, 2], 1)[0]], 1),
    ),
    Case(
        "split_int_last_smaller_fortran",
        ((5, 3),),
        lambda a: tt.concat((a.transpose().split(2, axis=-1)[2], a.transpose().split(2, axis=-1)[0]), axis=1),
        lambda th, a: th.cat([th.split(a.mT, 2, -1)[2], th.split(a.mT, 2, -1)[0]], 1),
    ),
    Case(
        "split_axis0_negative_strides",
        ((4, 3),),
        lambda a: tt.concat(tuple(reversed(a[::-1].split(3)))),
        lambda th, a: th.cat(list(reversed(th.split(a.flip(0), 3))), 0),
    ),
    Case(
        "chunk_last_strided",
        ((2, 12),),
        lambda a: (lambda q, k, v: q * k + v)(*a[:, ::2].chunk(3, axis=-1)),
        lambda th, a: (lambda q, k, v: q * k + v)(*a[:, ::2].chunk(3, -1)),
    ),
    Case(
        "take_along_axis_repeats",
        ((3, 4),),
        lambda a: a.take_along_axis(_ids(_ALONG), 1),
        lambda th, a: th.gather(a, 1, _th(th, _ALONG)),
    ),
    Case(
        "take_along_axis_indices_broadcast",
        ((3, 4),),
        lambda a: a.take_along_axis(_ids(_ALONG[:1], dtype=np.int32), 1),
        lambda th, a: th.gather(a, 1, _th(th, _ALONG[:1]).expand(3, 2)),
    ),
    Case(
        "take_along_axis_tensor_broadcast_fortran_indices",
        ((1, 3),),
        lambda a: a.take_along_axis(_ids(_ALONG.T % 3, lambda t: t.transpose()), 1),
        lambda th, a: th.gather(a.expand(3, 3), 1, _th(th, _ALONG % 3)),
    ),
    Case(
        "take_along_axis_3d_strided_indices_negative_strides",
        ((2, 3, 4),),
        lambda a: a[:, ::-1].take_along_axis(_ids(_ALONG3, lambda t: t[..., ::2]), -1),
        lambda th, a: th.gather(a.flip(1), -1, _th(th, _ALONG3, lambda i: i[..., ::2])),
    ),
    Case(
        "gather_axis0_fortran",
        ((4, 3),),
        lambda a: tt.gather(a.transpose(), 0, _ids(_PAIRS[:2].repeat(2, axis=1))),
        lambda th, a: th.gather(a.mT, 0, _th(th, _PAIRS[:2].repeat(2, axis=1))),
    ),
    Case(
        "gather_negative_strides_indices",
        ((3, 4),),
        lambda a: tt.gather(a[::-1, ::-1], 1, _ids(_ALONG, lambda t: t[::-1])),
        lambda th, a: th.gather(a.flip(0).flip(1), 1, _th(th, _ALONG, lambda i: i[::-1])),
    ),
    Case(
        "index_tensor_rows",
        ((4, 3),),
        lambda a: a[_ids(_ROWS)],
        lambda th, a: a[_th(th, _ROWS)],
    ),
    Case(
        "index_tensor_negative_ids_fortran",
        ((3, 4),),
        lambda a: a.transpose()[_ids(np.array([-1, 0, -1, 2]), dtype=np.int32)],
        lambda th, a: a.mT[_th(th, np.array([-1, 0, -1, 2]))],
    ),
    Case(
        "index_tensor_columns_strided",
        ((3, 6),),
        lambda a: a[:, ::2][:, _ids(_PAIRS, lambda t: t[:, ::-1])],
        lambda th, a: a[:, ::2][:, _th(th, _PAIRS, lambda i: i[:, ::-1])],
    ),
    Case(
        "index_tensor_pairs_negative_strides",
        ((4, 3),),
        lambda a: a[::-1][_ids(_PAIRS.T.copy(), lambda t: t.transpose()), _ids(_PAIRS[::-1])],
        lambda th, a: a.flip(0)[_th(th, _PAIRS), _th(th, _PAIRS[::-1])],
    ),
    Case(
        "index_tensor_bool_mask",
        ((3, 4),),
        lambda a: a[tt.tensor(_mask((3, 4)))],
        lambda th, a: a[th.as_tensor(_mask((3, 4)))],
    ),
    Case("concat_axis1", ((2, 3), (2, 2)), lambda a, b: tt.concat([a, b], axis=1), lambda th, a, b: th.cat([a, b], 1)),
    Case("stack_axis1", ((2, 3), (2, 3)), lambda a, b: tt.stack([a, b], axis=1), lambda th, a, b: th.stack([a, b], 1)),
    Case(
        "where",
        ((3, 4), (3, 4)),
        lambda a, b: tt.where(tt.tensor(_mask((3, 4))), a, b),
        lambda th, a, b: th.where(th.as_tensor(_mask((3, 4))), a, b),
    ),
    Case(
        "masked_fill",
        ((3, 4),),
        lambda a: a.masked_fill(tt.tensor(_mask((3, 4))), 0.25),
        lambda th, a: a.masked_fill(th.as_tensor(_mask((3, 4))), 0.25),
    ),
    Case("index_bool_mask", ((3, 4),), lambda a: a[_mask((3, 4))], lambda th, a: a[th.as_tensor(_mask((3, 4)))]),
    Case("concat_axis0", ((2, 3), (1, 3)), lambda a, b: tt.concat((a, b)), lambda th, a, b: th.cat([a, b], 0)),
    Case("stack_axis0", ((2, 3), (2, 3)), lambda a, b: tt.stack([a, b]), lambda th, a, b: th.stack([a, b], 0)),
    Case(
        "where_scalar",
        ((3, 4),),
        lambda a: tt.where(tt.tensor(_mask((3, 4))), 0.5, a),
        lambda th, a: th.where(th.as_tensor(_mask((3, 4))), 0.5, a),
    ),
    Case("maximum", ((3, 4), (3, 4)), lambda a, b: tt.maximum(a, b), lambda th, a, b: th.maximum(a, b)),
    Case(
        "maximum_scalar",
        ((3, 4),),
        lambda a: tt.maximum(a, 0.25),
        lambda th, a: th.maximum(a, th.tensor(0.25, dtype=a.dtype)),
    ),
    Case(
        "maximum_fortran",
        ((4, 3), (4, 3)),
        lambda a, b: tt.maximum(a.transpose(), b.transpose()),
        lambda th, a, b: th.maximum(a.mT, b.mT),
    ),
    Case(
        "maximum_strided_negative_strides",
        ((4, 6), (4, 3)),
        lambda a, b: tt.maximum(a[::-1, ::2], b[:, ::-1]),
        lambda th, a, b: th.maximum(a.flip(0)[:, ::2], b.flip(1)),
    ),
    Case("softmax", ((3, 5),), lambda a: a.softmax(), lambda th, a: th.softmax(a, -1)),
    Case("log_softmax_axis0", ((3, 5),), lambda a: a.log_softmax(0), lambda th, a: th.log_softmax(a, 0)),
    Case("gelu", ((3, 4),), lambda a: a.gelu(), lambda th, a: th.nn.functional.gelu(a)),
    Case(
        "gelu_tanh",
        ((3, 4),),
        lambda a: a.gelu("tanh"),
        lambda th, a: th.nn.functional.gelu(a, approximate="tanh"),
    ),
    Case(
        "cross_entropy_mean",
        ((4, 5),),
        lambda a: tt.nn.cross_entropy(a, tt.tensor(_LABELS, np.int64)),
        lambda th, a: th.nn.functional.cross_entropy(a, th.as_tensor(_LABELS)),
    ),
    Case(
        "cross_entropy_sum_smoothing",
        ((4, 5),),
        lambda a: tt.nn.cross_entropy(a, tt.tensor(_LABELS, np.int64), "sum", label_smoothing=0.1),
        lambda th, a: th.nn.functional.cross_entropy(a, th.as_tensor(_LABELS), reduction="sum", label_smoothing=0.1),
    ),
    Case(
        "cross_entropy_none",
        ((4, 5),),
        lambda a: tt.nn.cross_entropy(a, tt.tensor(_LABELS, np.int64), "none"),
        lambda th, a: th.nn.functional.cross_entropy(a, th.as_tensor(_LABELS), reduction="none"),
    ),
    Case(
        "mse_mean",
        ((3, 4), (3, 4)),
        lambda a, b: tt.nn.mse_loss(a, b),
        lambda th, a, b: th.nn.functional.mse_loss(a, b),
    ),
    Case(
        "mse_sum",
        ((3, 4), (3, 4)),
        lambda a, b: tt.nn.mse_loss(a, b, "sum"),
        lambda th, a, b: th.nn.functional.mse_loss(a, b, reduction="sum"),
    ),
    Case(
        "conv2d_plain",
        ((2, 3, 5, 5), (4, 3, 3, 3), (4,)),
        lambda x, w, b: tt.nn.functional.conv2d(x, w, b),
        lambda th, x, w, b: th.nn.functional.conv2d(x, w, b),
    ),
    Case(
        "conv2d_stride_padding",
        ((2, 2, 6, 5), (3, 2, 3, 2), (3,)),
        lambda x, w, b: tt.nn.functional.conv2d(x, w, b, stride=2, padding=(1, 2)),
        lambda th, x, w, b: th.nn.functional.conv2d(x, w, b, stride=2, padding=(1, 2)),
    ),
    Case(
        "conv2d_dilation",
        ((1, 2, 7, 6), (2, 2, 2, 3), (2,)),
        lambda x, w, b: tt.nn.functional.conv2d(x, w, b, padding=1, dilation=(2, 1)),
        lambda th, x, w, b: th.nn.functional.conv2d(x, w, b, padding=1, dilation=(2, 1)),
    ),
    Case(
        "conv2d_groups",
        ((2, 4, 4, 4), (6, 2, 3, 3), (6,)),
        lambda x, w, b: tt.nn.functional.conv2d(x, w, b, padding=1, groups=2),
        lambda th, x, w, b: th.nn.functional.conv2d(x, w, b, padding=1, groups=2),
    ),
    Case(
        "conv2d_no_bias_same",
        ((1, 2, 5, 4), (3, 2, 2, 3)),
        lambda x, w: tt.nn.functional.conv2d(x, w, padding="same"),
        # PyTorch's own padding="same" warns for even kernels; this is the padding it applies
        lambda th, x, w: th.nn.functional.conv2d(th.nn.functional.pad(x, (1, 1, 0, 1)), w),
    ),
    Case(
        "conv2d_unbatched",
        ((3, 5, 4), (2, 3, 3, 3), (2,)),
        lambda x, w, b: tt.nn.functional.conv2d(x, w, b, stride=(1, 2), padding=1),
        lambda th, x, w, b: th.nn.functional.conv2d(x, w, b, stride=(1, 2), padding=1),
    ),
    Case(
        "max_pool2d",
        ((2, 3, 4, 6),),
        lambda x: tt.nn.functional.max_pool2d(x, 2),
        lambda th, x: th.nn.functional.max_pool2d(x, 2),
    ),
    Case(
        "max_pool2d_stride_padding",
        ((2, 2, 7, 5),),
        lambda x: tt.nn.functional.max_pool2d(x, 3, stride=2, padding=1),
        lambda th, x: th.nn.functional.max_pool2d(x, 3, stride=2, padding=1),
    ),
    Case(
        "max_pool2d_unbatched_overlap",
        ((2, 5, 5),),
        lambda x: tt.nn.functional.max_pool2d(x, (2, 3), stride=1),
        lambda th, x: th.nn.functional.max_pool2d(x, (2, 3), stride=1),
    ),
    Case(
        "avg_pool2d",
        ((2, 3, 4, 6),),
        lambda x: tt.nn.functional.avg_pool2d(x, 2),
        lambda th, x: th.nn.functional.avg_pool2d(x, 2),
    ),
    Case(
        "avg_pool2d_stride_padding",
        ((1, 2, 7, 6),),
        lambda x: tt.nn.functional.avg_pool2d(x, (3, 2), stride=(2, 1), padding=1),
        lambda th, x: th.nn.functional.avg_pool2d(x, (3, 2), stride=(2, 1), padding=1),
    ),
    Case(
        "global_avg_pool2d",
        ((2, 3, 4, 5),),
        lambda x: tt.nn.functional.global_avg_pool2d(x),
        lambda th, x: th.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1),
    ),
    Case(
        "chain",
        ((4, 3), (3, 2)),
        lambda a, b: ((a @ b).tanh() * 2.0 - (a @ b).sigmoid()).softmax(),
        lambda th, a, b: (th.tanh(a @ b) * 2.0 - th.sigmoid(a @ b)).softmax(-1),
    ),
]

BY_NAME = {c.name: c for c in CASES}


def run_ours(case: Case, xs: list[Array], dtype: type[Any] = np.float64) -> tuple[Array, list[Array]]:
    """typedtensor's output and input gradients for ``loss = sum(out * w)``."""
    ts = [tt.tensor(x.astype(dtype), dtype).leaky_trace() for x in xs]
    out = case.ours(*ts)
    w = tt.tensor(case.weight(out.shape).astype(dtype), dtype)
    grads = (out * w).sum().backward()
    for t in ts:
        assert grads.get(t).dtype == t.dtype, f"{case.name}: gradient dtype differs from the input's"
    return np.asarray(out.numpy(), dtype=np.float64), [np.asarray(grads.get(t).numpy(), dtype=np.float64) for t in ts]


def run_torch(case: Case, xs: list[Array]) -> tuple[Array, list[Array]]:
    """PyTorch's output and input gradients (float64) for the same loss."""
    torch: Any = importlib.import_module("torch")  # optional: the golden data covers its absence
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = case.torch(torch, *ts)
    w = torch.tensor(case.weight(tuple(out.shape)), dtype=torch.float64)
    (out * w).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]
