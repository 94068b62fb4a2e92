"""typedtensor.mypy_plugin: the dims it computes, the errors it adds, and the code it must leave alone.

All cases go into one file checked by two mypy runs, with the plugin and without (mypy starts in
seconds: one run per case would take minutes). Each case is a function; its last line carries the
expectation: the shape ``reveal_type`` shows (``(2, 16, H, W)``, Literal dims by value), a text the
revealed type contains, an error message, or nothing. Every line the plain run accepts must stay
accepted under the plugin unless the case expects an error there (a mistake only the plugin sees).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

HEADER = """\
from typing import Any, Literal as L, TypeVar, TypeVarTuple

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn

F32 = np.float32
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
Ts = TypeVarTuple("Ts")
X = Tensor[tuple[L[8], L[3], L[32], L[32]], F32, NoneTape]
XI = Tensor[tuple[int, int, int, int], F32, NoneTape]
"""


@dataclass(frozen=True)
class Case:
    name: str
    code: str  # the body; the expectation is about its last line
    shape: str | None = None  # the revealed tensor's shape, Literal dims by value
    contains: str | None = None  # a text of the revealed type
    error: str | None = None  # a text of the error on the last line
    note: str | None = None  # a text of a note there (the plugin's message on an error mypy reports)
    params: str = ""  # the case function's parameters
    returns: str = "None"


#: Generic functions of the user's (no hook of the plugin sees them), defined in the case's body.
PAIR = (
    "def pair(x: Tensor[tuple[B, L[3]], F32, NoneTape], y: Tensor[tuple[B, L[5]], F32, NoneTape])"
    " -> Tensor[tuple[B], F32, NoneTape]:\n"
    "    raise NotImplementedError\n"
)
IDENT = "def ident(x: Tensor[tuple[B, C], F32, NoneTape]) -> Tensor[tuple[B, C], F32, NoneTape]:\n    return x\n"

CASES = [
    # ---- constructors ----
    Case("zeros", "reveal_type(tt.zeros((2, 3)))", "(2, 3)", contains="NoneTape"),
    Case("ones_dtype", "reveal_type(tt.ones((2, 3), np.float64))", "(2, 3)", contains="numpy.float64"),
    Case("full", "reveal_type(tt.full((1, 2), 3.0))", "(1, 2)"),
    Case("randn", "reveal_type(tt.randn((4,), seed=1))", "(4,)"),
    Case("zeros_variable_dim", "n = int()\nreveal_type(tt.zeros((n, 3)))", "(int, 3)"),
    Case("int_target_keeps_int", "a: XI = tt.zeros((2, 3, 4, 4))\nreveal_type(a)", "(int, int, int, int)"),
    Case("int_parameter_accepts", "def g(t: XI) -> None: ...\ng(tt.zeros((2, 3, 4, 4)))"),
    Case("int_return_accepts", "return tt.zeros((2, 3, 4, 4))", returns="XI"),
    Case("mixed_target", "a: Tensor[tuple[int, L[3]], F32, NoneTape] = tt.zeros((2, 3))\nreveal_type(a)", "(int, 3)"),
    Case("union_target", "a: XI | None = tt.zeros((2, 3, 4, 4))"),
    Case("wrong_literal_target", "a: Tensor[tuple[L[2], L[4]], F32, NoneTape] = tt.zeros((2, 3))", error="[arg-type]"),
    # ---- layer constructors ----
    Case("linear_type", "reveal_type(nn.Linear(1024, 10))", contains="Linear[Literal[1024], Literal[10]]"),
    Case(
        "conv_type",
        "reveal_type(nn.Conv2D(3, 16, kernel_size=3, stride=2, padding=1))",
        contains="Conv2D[Literal[3], Literal[16], typedtensor.nn._spatial.AnySize]",
    ),
    Case("batchnorm_type", "reveal_type(nn.BatchNorm2D(16))", contains="BatchNorm2D[Literal[16]]"),
    Case(
        "conv_typevar_channels",
        "reveal_type(nn.Conv2D(c, c, 3))",
        contains="Conv2D[C, C, typedtensor.nn._spatial.AnySize]",
        params="c: C",
    ),
    Case(
        "conv_same_size_type",
        "reveal_type(nn.Conv2D(c, c, 3, padding=1))",
        contains="Conv2D[C, C, typedtensor.nn._spatial.SameSize]",
        params="c: C",
    ),
    Case(
        "layer_int_target", "lin: nn.Linear[int, int] = nn.Linear(3, 4)\nreveal_type(lin)", contains="Linear[int, int]"
    ),
    # ---- Conv2D ----
    Case("conv", "reveal_type(nn.Conv2D(3, 16, 3, stride=2, padding=1).forward(x))", "(8, 16, 16, 16)", params="x: X"),
    # computed dims in a variable meet an int context through a shape-keeping call: plain mypy typed them int
    Case(
        "variable_through_activation_into_int_return",
        "h = nn.Conv2D(3, 3, 3, stride=2, padding=1).forward(x)\nreturn nn.ReLU().forward(h)",
        params="x: X",
        returns="Tensor[tuple[L[8], L[3], int, int], F32, NoneTape]",
    ),
    Case(
        "variable_through_add_into_int_return",
        "h = nn.Conv2D(3, 3, 3, stride=2, padding=1).forward(x)\nreturn nn.ReLU().forward(h + h)",
        params="x: X",
        returns="Tensor[tuple[L[8], L[3], int, int], F32, NoneTape]",
    ),
    Case(
        "yielding_keeps_the_rank",
        "return nn.ReLU().forward(x.reshape((8, 3, 1024)))",
        error="[arg-type]",
        params="x: X",
        returns="Tensor[tuple[L[8], L[3], int, int], F32, NoneTape]",
    ),
    Case(
        "yielding_keeps_the_other_operand",
        "h = nn.Conv2D(3, 3, 3, stride=2, padding=1).forward(x)\ny: Tensor[tuple[L[8], L[3], int, int], F32, NoneTape] = h + x",
        error="[operator]",
        params="x: X",
    ),
    # a generic call as the argument: mypy infers it against the parameter's Any H, W; the hook infers it again
    Case(
        "pool_of_a_nested_call",
        "reveal_type(nn.MaxPool2D(2).forward(nn.ReLU().forward(x)))",
        "(8, 3, 16, 16)",
        params="x: X",
    ),
    Case(
        "conv_of_a_nested_call",
        "reveal_type(nn.Conv2D(3, 4, 3, stride=2, padding=1).forward(nn.ReLU().forward(x)))",
        "(8, 4, 16, 16)",
        params="x: X",
    ),
    Case(
        "deeply_nested_windows",
        "p = nn.MaxPool2D(2)\nr = nn.ReLU()\n"
        "reveal_type(p.forward(r.forward(p.forward(r.forward(p.forward(r.forward(p.forward(r.forward(x)))))))))",
        "(8, 3, 2, 2)",
        params="x: X",
    ),
    Case(
        "nested_call_error_reported_once",
        "nn.MaxPool2D(2).forward(nn.ReLU().forward(nn.Linear(5, 2).forward(x)))",
        error="Linear expects 5 input features (in_features), got 32  [arg-type]",
        params="x: X",
    ),
    Case(
        "conv_forward_mut_traced",
        "reveal_type(nn.Conv2D(3, 16, 3).forward_mut(x.leaky_trace()))",
        "(8, 16, 30, 30)",
        contains="OwnedTape",
        params="x: X",
    ),
    Case(
        "conv_unbatched",
        "reveal_type(nn.Conv2D(3, 16, 3, stride=2).forward(tt.zeros((3, 9, 9))))",
        "(16, 4, 4)",
    ),
    Case("conv_same", "reveal_type(nn.Conv2D(3, 4, 5, padding='same').forward(x))", "(8, 4, 32, 32)", params="x: X"),
    Case("conv_valid", "reveal_type(nn.Conv2D(3, 4, 3, padding='valid').forward(x))", "(8, 4, 30, 30)", params="x: X"),
    Case("conv_dilation", "reveal_type(nn.Conv2D(3, 4, 3, dilation=2).forward(x))", "(8, 4, 28, 28)", params="x: X"),
    Case(
        "conv_pairs",
        "reveal_type(nn.Conv2D(3, 4, (3, 5), stride=(1, 2), padding=(1, 2)).forward(x))",
        "(8, 4, 32, 16)",
        params="x: X",
    ),
    Case("conv_groups", "reveal_type(nn.Conv2D(3, 6, 3, groups=3).forward(x))", "(8, 6, 30, 30)", params="x: X"),
    Case(
        "conv_type_application",
        "reveal_type(nn.Conv2D[L[3], L[16]](3, 16, 3, padding=1).forward(x))",
        "(8, 16, 32, 32)",
        params="x: X",
    ),
    Case(
        "conv_keeps_typevar_dims",
        "reveal_type(nn.Conv2D(3, 16, 3, padding=1).forward(y))",
        "(B, 16, H, W)",
        params="y: Tensor[tuple[B, L[3], H, W], F32, NoneTape]",
    ),
    Case(
        "conv_strided_typevar_dims_are_half",  # dim expressions: tests/test_dim_exprs.py
        "reveal_type(nn.Conv2D(3, 16, 3, stride=2, padding=1).forward(y))",
        contains="Literal[16], typedtensor._dimexpr._Static.Half[H], typedtensor._dimexpr._Static.Half[W]]",
        params="y: Tensor[tuple[B, L[3], H, W], F32, NoneTape]",
    ),
    Case(
        "conv_strided_int_dims_are_int",
        "reveal_type(nn.Conv2D(3, 16, 3, stride=2, padding=1).forward(y))",
        "(B, 16, int, int)",
        params="y: Tensor[tuple[B, L[3], int, int], F32, NoneTape]",
    ),
    Case(
        "conv_variable_kernel_is_int",
        "reveal_type(nn.Conv2D(3, 16, k).forward(x))",
        "(8, 16, int, int)",
        params="x: X, k: int",
    ),
    Case(
        "conv_int_input_accepted", "reveal_type(nn.Conv2D(3, 16, 3).forward(y))", "(int, 16, int, int)", params="y: XI"
    ),
    Case(
        "conv_wrong_channels",
        "nn.Conv2D(4, 16, 3).forward(x)",
        error="Conv2D expects 4 input channels (in_channels), got 3  [arg-type]",
        params="x: X",
    ),
    Case(
        "conv_kernel_too_big",
        "nn.Conv2D(3, 16, 7).forward(tt.zeros((1, 3, 4, 4)))",
        error="Conv2D: a kernel of 7 (stride 1, padding 0, dilation 1) does not fit the input's height 4",
    ),
    Case(
        "conv_reassigned_variable",
        "c = nn.Conv2D(3, 16, 3)\nc = nn.Conv2D(3, 16, 5)\nreveal_type(c.forward(x))",
        "(8, 16, 28, 28)",
        params="x: X",
    ),
    Case(
        "conv_subclass",
        "class Stem(nn.Conv2D[L[3], L[16]]):\n    pass\nreveal_type(Stem(3, 16, 3, stride=2).forward(x))",
        "(8, 16, 15, 15)",
        params="x: X",
    ),
    Case(
        "conv_subclass_own_init",
        "class Stem(nn.Conv2D[L[3], L[16]]):\n"
        "    def __init__(self, k: int) -> None:\n"
        "        super().__init__(3, 16, 3)\n"
        "reveal_type(Stem(5).forward(x))",
        "(8, 16, int, int)",
        params="x: X",
    ),
    # ---- pools ----
    Case("max_pool", "reveal_type(nn.MaxPool2D(2).forward(x))", "(8, 3, 16, 16)", params="x: X"),
    Case("max_pool_none_stride", "reveal_type(nn.MaxPool2D(2, None).forward(x))", "(8, 3, 16, 16)", params="x: X"),
    Case(
        "avg_pool_options",
        "reveal_type(nn.AvgPool2D(3, stride=2, padding=1).forward_mut(x))",
        "(8, 3, 16, 16)",
        params="x: X",
    ),
    Case("max_pool_pair", "reveal_type(nn.MaxPool2D((2, 4)).forward(x))", "(8, 3, 16, 8)", params="x: X"),
    Case(
        "pool_keeps_typevar_dims",
        "reveal_type(nn.MaxPool2D(3, stride=1, padding=1).forward(y))",
        "(B, C, H, W)",
        params="y: Tensor[tuple[B, C, H, W], F32, NoneTape]",
    ),
    Case("global_avg_pool", "reveal_type(nn.GlobalAvgPool2D().forward(x))", "(8, 3)", params="x: X"),
    # ---- Flatten, Linear, BatchNorm ----
    Case("flatten", "reveal_type(nn.Flatten().forward(x))", "(8, 3072)", params="x: X"),
    Case(
        "flatten_typevar_dims_are_a_product",
        "reveal_type(nn.Flatten().forward(y))",
        contains="typedtensor._dimexpr._Static.Mul[Literal[3], typedtensor._dimexpr._Static.Mul[H, W]]]",
        params="y: Tensor[tuple[B, L[3], H, W], F32, NoneTape]",
    ),
    Case(
        "flatten_unknown_dim_is_int",
        "reveal_type(nn.Flatten().forward(y))",
        "(B, int)",
        params="y: Tensor[tuple[B, L[3], int, W], F32, NoneTape]",
    ),
    Case(
        "linear_after_flatten",
        "reveal_type(nn.Linear(3072, 10).forward(nn.Flatten().forward(x)))",
        "(8, 10)",
        params="x: X",
    ),
    Case(
        "flatten_into_wrong_linear",
        "nn.Linear(1024, 10).forward(nn.Flatten().forward(x))",
        error="Flatten gives 3072 features; Linear expects 1024  [arg-type]",
        params="x: X",
    ),
    Case(
        "linear_folded_features",
        "reveal_type(nn.Linear(32 * 8 * 8, 10 - 1))",
        contains="Linear[Literal[2048], Literal[9]]",
    ),
    Case(
        "folded_features_on_an_attribute",
        "class Net(nn.Module):\n"
        "    def __init__(self) -> None:\n"
        "        self.fc = nn.Linear(32 * 8 * 8, 10)\n"
        "        self.conv = nn.Conv2D(2 + 1, 4 * 4, 3)\n"
        "        self.bn = nn.BatchNorm2D(4 * 4)\n"
        "reveal_type((Net().fc, Net().bn))",
        contains="Linear[Literal[2048], Literal[10]], typedtensor.nn._batchnorm.BatchNorm2D[Literal[16]]",
    ),
    Case(
        "flatten_into_folded_linear",
        "nn.Linear(16 * 32 * 32, 10).forward(nn.Flatten().forward(nn.Conv2D(3, 16, 3).forward(x)))",
        error="Flatten gives 14400 features; Linear expects 16384  [arg-type]",
        params="x: X",
    ),
    Case("reshape_folded", "reveal_type(x.reshape((8, 3 * 32 * 32)))", "(8, 3072)", params="x: X"),
    Case("zeros_folded", "reveal_type(tt.zeros((2, 3 * 4, -(-5))))", "(2, 12, 5)"),
    Case(
        "linear_wrong_features",
        "nn.Linear(1000, 10).forward(tt.zeros((2, 1024)))",
        error="Linear expects 1000 input features (in_features), got 1024  [arg-type]",
    ),
    Case(
        "linear_typed_wrong_features",
        "nn.Linear[L[1000], L[10]](1000, 10).forward(tt.zeros((2, 1024)))",
        error="Linear expects 1000 input features (in_features), got 1024  [arg-type]",
    ),
    Case(
        "linear_typevar_features",
        "nn.Linear(3, 4).forward(y)",
        error="Linear expects 3 input features (in_features), got H",
        params="y: Tensor[tuple[B, H], F32, NoneTape]",
    ),
    Case(
        "linear_int_features_accepted",
        "reveal_type(nn.Linear(3, 4).forward(y))",
        "(int, 4)",
        params="y: Tensor[tuple[int, int], F32, NoneTape]",
    ),
    Case(
        "annotated_layer_for_bound_methods",
        "lin: nn.Linear[int, int] = nn.Linear(3, 4)\nreveal_type(nn.pipe(y, lin.forward))",
        "(int, int)",
        params="y: Tensor[tuple[int, int], F32, NoneTape]",
    ),
    Case(
        "linear_output_into_int_return",
        "return nn.Linear(3, 4).forward(y)",
        params="y: Tensor[tuple[int, int], F32, NoneTape]",
        returns="Tensor[tuple[int, int], F32, NoneTape]",
    ),
    Case(
        "linear_chain_through_int_layer",
        "return nn.Linear(4, 2).forward(nn.BatchNorm1D[int](4).forward(nn.Linear(3, 4).forward(y)).tanh())",
        params="y: Tensor[tuple[int, int], F32, NoneTape]",
        returns="Tensor[tuple[int, int], F32, NoneTape]",
    ),
    Case(
        "batchnorm_after_conv",
        "reveal_type(nn.BatchNorm2D(16).forward(nn.Conv2D(3, 16, 3, padding=1).forward(x)))",
        "(8, 16, 32, 32)",
        params="x: X",
    ),
    Case(
        "batchnorm_wrong_features",
        "nn.BatchNorm1D(4).forward(tt.zeros((8, 5)))",
        error="BatchNorm1D expects 4 input channels (num_features), got 5",
    ),
    Case(
        "fused_batchnorm_wrong_addend",
        "nn.FusedBatchNorm2D(3).forward(x, tt.zeros((8, 4, 32, 32)))",
        error="FusedBatchNorm2D expects 3 input channels (num_features), got 4 in addend",
        params="x: X",
    ),
    Case("fold_batchnorm", "reveal_type(nn.fold_batchnorm(nn.Conv2D(3, 4, 3), nn.BatchNorm2D(4)))", contains="Conv2D"),
    # ---- reshape, permute, broadcast_to ----
    Case("reshape_solves_minus_one", "reveal_type(x.reshape((8, -1)))", "(8, 3072)", params="x: X"),
    Case("reshape_products", "reveal_type(x.reshape((2, 4, 3, 1024)))", "(2, 4, 3, 1024)", params="x: X"),
    Case("reshape_unknown_input", "reveal_type(y.reshape((2, -1)))", "(2, int)", params="y: XI"),
    Case(
        "reshape_wrong_size",
        "x.reshape((8, 5))",
        error="reshape: cannot view shape (8, 3, 32, 32) (24576 elements) as (8, 5)  [tt-shape]",
        params="x: X",
    ),
    Case("reshape_indivisible", "x.reshape((7, -1))", error="reshape: cannot view shape", params="x: X"),
    Case(
        "computed_shapes_on_attributes",
        "class Holder:\n"
        "    def __init__(self, x: X) -> None:\n"
        "        self.flat = x.reshape((8, -1))\n"
        "        self.grid = tt.zeros((2, 3 * 4))\n"
        "        self.wide = tt.zeros((3, 1)).broadcast_to((2 * 1, 3, 4))\n"
        "reveal_type(Holder(x).flat)",
        "(8, 3072)",
        params="x: X",
    ),
    Case(
        "every_op_on_attributes",
        "class Holder:\n"
        "    def __init__(self, x: X) -> None:\n"
        "        self.conv = nn.Conv2D(3, 16, 3, stride=2, padding=1)\n"
        "        self.c = self.conv.forward(x)\n"
        "        self.p = nn.MaxPool2D(2).forward(self.c)\n"
        "        self.f = nn.Flatten().forward(self.p)\n"
        "        self.lin = nn.Linear(16 * 8 * 8, 10)\n"
        "        self.o = self.lin.forward(self.f)\n"
        "        self.b = nn.BatchNorm2D(16).forward(self.c)\n"
        "        self.t = x.permute((0, 2, 3, 1))\n"
        "        self.s = x.sum(axis=(2, 3), keepdims=True)\n"
        "        self.i = x[:, 1:, ::2]\n"
        "        self.j = tt.concat((x, x), axis=1)\n"
        "        self.k = tt.concat((x, x))\n"
        "        self.st = tt.stack((x, x), axis=1)\n"
        "reveal_type(Holder(x).o)",
        "(8, 10)",
        params="x: X",
    ),
    Case(
        "reshape_minus_one_annotated",
        "y: Tensor[tuple[L[8], L[3072]], F32, NoneTape] = x.reshape((8, -1))\nreveal_type(y)",
        "(8, 3072)",
        params="x: X",
    ),
    Case(
        "reshape_minus_one_wrong_annotation",
        "y: Tensor[tuple[L[8], L[3000]], F32, NoneTape] = x.reshape((8, -1))",
        error="[assignment]",
        params="x: X",
    ),
    Case(
        "folded_zeros_wrong_annotation",
        "a: Tensor[tuple[L[2], L[4]], F32, NoneTape] = tt.zeros((2, 3 * 1))",
        error="[assignment]",
    ),
    Case("permute", "reveal_type(x.permute((0, 2, 3, 1)))", "(8, 32, 32, 3)", params="x: X"),
    Case("permute_negative_axes", "reveal_type(x.permute((0, -1, 1, 2)))", "(8, 32, 3, 32)", params="x: X"),
    Case(
        "permute_typevar_dims",
        "reveal_type(y.permute((1, 0)))",
        "(H, B)",
        params="y: Tensor[tuple[B, H], F32, NoneTape]",
    ),
    Case(
        "permute_wrong_length",
        "x.permute((0, 1))",
        error="permute: axes (0, 1) are not a permutation of range(4) for shape (8, 3, 32, 32)",
        params="x: X",
    ),
    Case("permute_repeated_axis", "x.permute((0, 1, 1, 2))", error="not a permutation of range(4)", params="x: X"),
    Case("transpose", "reveal_type(x.transpose())", "(8, 3, 32, 32)", params="x: X"),
    Case("transpose_dims", "reveal_type(x.transpose(1, 2))", "(8, 32, 3, 32)", params="x: X"),
    Case("transpose_negative_dims", "reveal_type(x.transpose(-1, 0))", "(32, 3, 32, 8)", params="x: X"),
    Case("transpose_same_dim", "reveal_type(x.transpose(1, -3))", "(8, 3, 32, 32)", params="x: X"),
    Case(
        "transpose_rank5",
        "reveal_type(z.transpose(0, -1))",
        "(6, 3, 4, 5, 2)",
        params="z: Tensor[tuple[L[2], L[3], L[4], L[5], L[6]], F32, NoneTape]",
    ),
    Case(
        "transpose_typevar_dims",
        "reveal_type(y.transpose(0, 2))",
        "(W, H, B)",
        params="y: Tensor[tuple[B, H, W], F32, NoneTape]",
    ),
    Case(
        "transpose_dim_out_of_range",
        "x.transpose(0, 4)",
        error="transpose: dim1=4 is out of range for shape (8, 3, 32, 32) (rank 4): expected -4 <= dim < 4",
        params="x: X",
    ),
    Case(
        "permute_rank5_in_matmul",
        "reveal_type(z @ z.permute((0, 1, 2, 4, 3)))",
        "(2, 3, 4, 5, 5)",
        params="z: Tensor[tuple[L[2], L[3], L[4], L[5], L[6]], F32, NoneTape]",
    ),
    Case(
        "squeeze_other_axis_in_matmul",
        "reveal_type(a @ c.squeeze(2))",
        "(2, 3, 5)",
        params="a: Tensor[tuple[L[2], L[3], L[4]], F32, NoneTape], c: Tensor[tuple[L[2], L[4], L[1], L[5]], F32, NoneTape]",
    ),
    Case(
        "sum_other_axis_in_matmul",
        "reveal_type(a @ x.sum(2))",
        "(2, 3, 5)",
        params="a: Tensor[tuple[L[2], L[3], L[4]], F32, NoneTape], x: Tensor[tuple[L[2], L[4], L[9], L[5]], F32, NoneTape]",
    ),
    Case(
        "index_other_axis_in_matmul",
        "reveal_type(a @ x[:, :, 0])",
        "(2, 3, 5)",
        params="a: Tensor[tuple[L[2], L[3], L[4]], F32, NoneTape], x: Tensor[tuple[L[2], L[4], L[9], L[5]], F32, NoneTape]",
    ),
    Case("transpose_int_target", "y: XI = x.transpose(1, 2)\nreveal_type(y)", "(int, int, int, int)", params="x: X"),
    Case("transpose_int_return", "return x.transpose(-1, 0)", params="x: X", returns="XI"),
    Case("tril_keeps_the_shape", "reveal_type(x.tril(1))", "(8, 3, 32, 32)", params="x: X"),
    Case("triu_bool_ones", "reveal_type(tt.ones((4, 6), np.bool_).triu(1))", "(4, 6)", contains="numpy.bool"),
    Case(
        "transpose_unknown_rank",
        "reveal_type(u.transpose(1, 2))",
        contains="Tensor[tuple[Any, Any, Any, *tuple[Any, ...]]",
        params="u: Tensor[tuple[Any, ...], F32, NoneTape]",
    ),
    Case(
        "permute_unknown_rank",
        "reveal_type(u.permute((1, 0)))",
        contains="Tensor[tuple[Any, Any, *tuple[Any, ...]]",
        params="u: Tensor[tuple[Any, ...], F32, NoneTape]",
    ),
    Case(
        "permute_rank5",
        "reveal_type(z.permute((4, 0, 1, 2, 3)))",
        "(6, 2, 3, 4, 5)",
        params="z: Tensor[tuple[L[2], L[3], L[4], L[5], L[6]], F32, NoneTape]",
    ),
    Case("broadcast_to", "reveal_type(tt.zeros((3, 1)).broadcast_to((2, 3, 4)))", "(2, 3, 4)"),
    Case(
        "broadcast_to_wrong",
        "tt.zeros((3, 2)).broadcast_to((3, 4))",
        error="broadcast_to: shape (3, 2) cannot broadcast to (3, 4)",
    ),
    # ---- reductions ----
    Case("sum_axes", "reveal_type(x.sum(axis=(2, 3)))", "(8, 3)", params="x: X"),
    Case("mean_keepdims", "reveal_type(x.mean(axis=1, keepdims=True))", "(8, 1, 32, 32)", params="x: X"),
    Case("max_negative_axis", "reveal_type(x.max(axis=-1))", "(8, 3, 32)", params="x: X"),
    Case("min_axes_keepdims", "reveal_type(x.min(axis=(0, -1), keepdims=True))", "(1, 3, 32, 1)", params="x: X"),
    Case("var_axis", "reveal_type(x.var(axis=2))", "(8, 3, 32)", params="x: X"),
    Case("var_axes", "reveal_type(x.var((1, 2), correction=0))", "(8, 32)", params="x: X"),
    Case("sum_all", "reveal_type(x.sum())", "()", params="x: X"),
    Case("sum_all_keepdims", "reveal_type(x.sum(keepdims=True))", "(1, 1, 1, 1)", params="x: X"),
    Case("any_axis", "reveal_type(x.any(axis=0))", "(3, 32, 32)", contains="numpy.bool", params="x: X"),
    Case(
        "sum_keeps_typevars",
        "reveal_type(y.sum(axis=1))",
        "(B, W)",
        params="y: Tensor[tuple[B, H, W], F32, NoneTape]",
    ),
    Case(
        "sum_axis_out_of_range",
        "x.sum(axis=4)",
        error="sum: axis 4 is out of range for shape (8, 3, 32, 32) (rank 4)",
        params="x: X",
    ),
    Case("mean_repeated_axis", "x.mean(axis=(1, -3))", error="mean: axis (1, -3) repeats an axis", params="x: X"),
    # ---- indexing ----
    Case("index_int", "reveal_type(x[0])", "(3, 32, 32)", params="x: X"),
    Case("index_slices", "reveal_type(x[:, 1:3, ::2])", "(8, 2, 16, 32)", params="x: X"),
    Case("index_none_ellipsis", "reveal_type(x[..., None])", "(8, 3, 32, 32, 1)", params="x: X"),
    Case("index_negative", "reveal_type(x[-1, :, 5:, -4:])", "(3, 27, 4)", params="x: X"),
    Case("index_reversed", "reveal_type(x[::-1])", "(8, 3, 32, 32)", params="x: X"),
    Case(
        "index_typevar_slice",
        "reveal_type(y[:, :2])",
        "(B, int)",
        params="y: Tensor[tuple[B, H], F32, NoneTape]",
    ),
    Case(
        "index_out_of_range", "x[8]", error="index 8 is out of range for axis 0 of shape (8, 3, 32, 32)", params="x: X"
    ),
    Case(
        "index_too_many", "x[0, 0, 0, 0, 0]", error="index: 5 indices for shape (8, 3, 32, 32) (rank 4)", params="x: X"
    ),
    # ---- concat, stack ----
    Case("concat_axis", "reveal_type(tt.concat((x, x), axis=1))", "(8, 6, 32, 32)", params="x: X"),
    Case(
        "concat_last_axis",
        "reveal_type(tt.concat((tt.zeros((2, 3)), tt.zeros((2, 5))), axis=-1))",
        "(2, 8)",
    ),
    Case("concat_list", "reveal_type(tt.concat([x, x]))", "(16, 3, 32, 32)", params="x: X"),
    Case(
        "concat_mismatch",
        "tt.concat((tt.zeros((2, 3)), tt.zeros((4, 5))), axis=1)",
        error="concat: dim 0 differs (tensor 0 has (2, 3), tensor 1 has (4, 5)); need all dims but the axis",
    ),
    Case(
        "concat_ranks",
        "tt.concat((tt.zeros((2, 3)), tt.zeros((2, 3, 1))), axis=1)",
        error="concat: the tensors have ranks [2, 3]",
    ),
    Case(
        "concat_mismatch_mypy_reports_too",
        "tt.concat((tt.zeros((2, 3)), tt.zeros((2, 4))))",
        error='Cannot infer value of type parameter "Rest" of "concat"  [misc]',
        note="concat: dim 1 differs (tensor 0 has (2, 3), tensor 1 has (2, 4)); need all dims but the axis",
    ),
    Case("stack", "reveal_type(tt.stack([x, x, x], axis=2))", "(8, 3, 3, 32, 32)", params="x: X"),
    Case(
        "stack_mismatch",
        "tt.stack((tt.zeros((2, 3)), tt.zeros((2, 4))), axis=1)",
        error="stack: dim 1 differs",
    ),
    Case(
        "concat_typevar_dims",
        "reveal_type(tt.concat((y, y), axis=0))",
        "(int, H)",
        params="y: Tensor[tuple[B, H], F32, NoneTape]",
    ),
    # ---- matmul (declared overloads) ----
    Case("matmul", "reveal_type(tt.zeros((2, 3)) @ tt.zeros((3, 4)))", "(2, 4)"),
    Case("matmul_vector", "reveal_type(tt.zeros((3,)) @ tt.zeros((3, 4)))", "(4,)"),
    Case("matmul_batched", "reveal_type(tt.zeros((2, 5, 3)) @ tt.zeros((2, 3, 4)))", "(2, 5, 4)"),
    Case("matmul_inner_mismatch", "tt.zeros((2, 3)) @ tt.zeros((4, 5))", error="[arg-type]"),
    # ---- matmul at every rank (the hook: broadcast batch dims) ----
    Case("matmul_vector_vector", "reveal_type(tt.zeros((3,)) @ tt.zeros((3,)))", contains="Tensor[tuple[()]"),
    Case("matmul_matrix_vector", "reveal_type(tt.zeros((5, 2, 3)) @ tt.zeros((3,)))", "(5, 2)"),
    Case("matmul_vector_batched", "reveal_type(tt.zeros((3,)) @ tt.zeros((5, 3, 4)))", "(5, 4)"),
    Case("matmul_matrix_batched", "reveal_type(tt.zeros((2, 3)) @ tt.zeros((5, 3, 4)))", "(5, 2, 4)"),
    Case("matmul_broadcast", "reveal_type(tt.zeros((7, 1, 2, 3)) @ tt.zeros((5, 3, 4)))", "(7, 5, 2, 4)"),
    Case(
        "matmul_broadcast_both_traced",
        "reveal_type(tt.zeros((1, 6, 2, 3)).leaky_trace() @ tt.zeros((4, 1, 3, 5)))",
        "(4, 6, 2, 5)",
        contains="OwnedTape",
    ),
    Case(
        "matmul_broadcast_typevar",
        "reveal_type(x @ tt.zeros((5, 3, 4)))",
        "(B, 5, 2, 4)",
        params="x: Tensor[tuple[B, L[1], L[2], L[3]], F32, NoneTape]",
    ),
    Case(
        "matmul_broadcast_int",
        "reveal_type(x @ tt.zeros((n, 3, 4)))",
        "(B, int, 2, 4)",
        params="x: Tensor[tuple[B, L[1], L[2], L[3]], F32, NoneTape], n: int",
    ),
    Case(
        "matmul_broadcast_int_target",
        "a: XI = tt.zeros((7, 1, 2, 3)) @ tt.zeros((5, 3, 4))\nreveal_type(a)",
        "(int, int, int, int)",
    ),
    Case(
        "matmul_batch_mismatch",
        "tt.zeros((2, 2, 3)) @ tt.zeros((4, 3, 5))",
        error="matmul: batch dims do not broadcast: self (2, 2, 3) @ other (4, 3, 5) has batch dims (2,) and (4,), "
        "which pair 2 with 4 at batch dim -1; batch dims must be equal or 1, aligned from the right (make them so "
        "with broadcast_to() or reshape())  [tt-shape]",
    ),
    Case(
        "matmul_batch_mismatch_ranks",
        "x @ y",
        error="has batch dims (6, 2) and (4, 3, 3), which pair 6 with 3 at batch dim -2, 2 with 3 at batch dim -1;",
        params="x: Tensor[tuple[L[6], L[2], L[2], L[3]], F32, NoneTape], y: Tensor[tuple[L[4], L[3], L[3], L[3], L[5]], F32, OwnedTape]",
    ),
    Case(
        "matmul_inner_mismatch_note",
        "x @ y",
        error="[operator]",
        note="matmul: inner dims differ: self (2, 3) @ other (4, 5) pairs 3 with 4; the last dim of self must equal "
        "other's second-to-last dim",
        params="x: Tensor[tuple[L[2], L[3]], F32, NoneTape], y: Tensor[tuple[L[4], L[5]], F32, NoneTape]",
    ),
    Case(
        "matmul_vector_inner_mismatch_note",
        "x @ y",
        error="[operator]",
        note="matmul: inner dims differ: self (5, 2, 3) @ other (4,) pairs 3 with 4; the last dim of self must equal "
        "other's only dim (it is 1-D)",
        params="x: Tensor[tuple[L[5], L[2], L[3]], F32, NoneTape], y: Tensor[tuple[L[4]], F32, NoneTape]",
    ),
    Case(
        "matmul_rank0",
        "x @ s",
        error="[operator]",
        params="x: Tensor[tuple[L[5], L[3]], F32, NoneTape], s: Tensor[tuple[()], F32, NoneTape]",
    ),
    # ---- a user's generic function: a computed dim meets a type variable mypy solves (Any, never a clash) ----
    Case(
        "generic_literal_and_int_share_a_typevar",
        PAIR + "reveal_type(pair(tt.zeros((2, 3)), tt.zeros((n, 5))))",
        "(Any,)",
        params="n: int",
    ),
    Case("generic_literals_share_a_typevar", PAIR + "reveal_type(pair(tt.zeros((2, 3)), tt.zeros((2, 5))))", "(Any,)"),
    Case("generic_literals_disagree_run_time_catches", PAIR + "pair(tt.zeros((2, 3)), tt.zeros((4, 5)))"),
    Case(
        "generic_literal_variable_and_literal_call",
        PAIR + "x = tt.zeros((2, 3))\nreveal_type(pair(x, tt.zeros((2, 5))))",
        "(Any,)",
    ),
    Case(
        "generic_literal_dim_of_the_parameter_still_checked",
        PAIR + "pair(tt.zeros((2, 4)), tt.zeros((n, 5)))",
        error='Argument 1 to "zeros" has incompatible type "tuple[int, Literal[4]]"',
        params="n: int",
    ),
    Case(
        "generic_variadic_shares_dims",
        "def f(x: Tensor[tuple[*Ts, L[3]], F32, Any], y: Tensor[tuple[*Ts], F32, Any]) -> Tensor[tuple[*Ts], F32, Any]:\n"
        "    raise NotImplementedError\n"
        "reveal_type(f(tt.zeros((2, 5, 3)), tt.zeros((2, 4))))",
        "(Any, Any)",
    ),
    Case("generic_identity", IDENT + "reveal_type(ident(tt.zeros((2, 3))))", "(Any, Any)"),
    Case(
        "generic_identity_int_argument",
        IDENT + "reveal_type(ident(tt.zeros((n, 3))))",
        "(int, Any)",
        params="n: int",
    ),
    Case(
        "generic_identity_annotated_target_keeps_literals",
        IDENT + "a: Tensor[tuple[L[2], L[3]], F32, NoneTape] = ident(tt.zeros((2, 3)))\nreveal_type(a)",
        "(2, 3)",
    ),
    # ---- the residual block of issue 11, typed with TypeVar H and W ----
    Case(
        "residual_block",
        "conv = nn.Conv2D(c, c, 3, padding=1, bias=False)\nreturn conv.forward(conv.forward(y)) + y",
        params="y: Tensor[tuple[B, C, H, W], F32, NoneTape], c: C",
        returns="Tensor[tuple[B, C, H, W], F32, NoneTape]",
    ),
]


def _source() -> tuple[str, dict[int, Case]]:
    """The snippet file, and the case of each expectation line (by 1-based line number)."""
    lines: list[str] = list(HEADER.splitlines())
    at: dict[int, Case] = {}
    for case in CASES:
        lines.append("")
        lines.append(f"def case_{case.name}({case.params}) -> {case.returns}:")
        lines.extend(textwrap.indent(case.code, "    ").splitlines())
        at[len(lines)] = case
    return "\n".join(lines) + "\n", at


def _run(directory: Path, plugin: bool) -> dict[int, list[str]]:
    from mypy import api

    config = directory / ("plugin.ini" if plugin else "plain.ini")
    config.write_text("[mypy]\nstrict = True\n" + ("plugins = typedtensor.mypy_plugin\n" if plugin else ""))
    out, err, _ = api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(directory / ("cache" + str(plugin))),
            str(directory / "cases.py"),
        ]
    )
    assert "INTERNAL ERROR" not in out + err, out + err
    found: dict[int, list[str]] = {}
    for m in re.finditer(r"^[^\n]*cases\.py:(\d+): (error|note): (.*)$", out, re.MULTILINE):
        found.setdefault(int(m.group(1)), []).append(f"{m.group(2)}: {m.group(3)}")
    return found


@dataclass(frozen=True)
class Runs:
    at: dict[int, Case]
    plugin: dict[int, list[str]]
    plain: dict[int, list[str]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    directory = tmp_path_factory.mktemp("mypy_plugin")
    source, at = _source()
    (directory / "cases.py").write_text(source)
    return Runs(at, _run(directory, plugin=True), _run(directory, plugin=False))


def _shape(revealed: str) -> str:
    """``(2, 16, H, W)`` from a revealed ``Tensor[tuple[Literal[2], Literal[16], H`-1, W`-2], ...]``."""
    start = revealed.index("Tensor[tuple[") + len("Tensor[tuple[")
    depth, end = 0, start
    while depth >= 0:
        depth += {"[": 1, "]": -1}.get(revealed[end], 0)
        end += 1
    inner = revealed[start : end - 1]
    items: list[str] = []
    depth, current = 0, ""
    for ch in inner:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip() and current.strip() != "()":
        items.append(current.strip())
    shown = [re.sub(r"^Literal\[(-?\d+)\]$", r"\1", re.sub(r"`-?\d+$", "", i)) for i in items]
    return f"({shown[0]},)" if len(shown) == 1 else f"({', '.join(shown)})"


def _line(runs: Runs, case: Case) -> int:
    return next(n for n, c in runs.at.items() if c is case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(runs: Runs, case: Case) -> None:
    messages = runs.plugin.get(_line(runs, case), [])
    errors = [m for m in messages if m.startswith("error")]
    said = [m.removeprefix("error: ").removeprefix("note: ").split("  [")[0] for m in messages]
    assert len(said) == len(set(said)), f"a message said twice: {messages}"
    if case.error is not None:
        assert any(case.error in e for e in errors), messages
    else:
        assert errors == [], messages
    if case.note is not None:
        assert f"note: {case.note}" in messages, messages
        assert len(errors) == 1, "one mistake, one error"
    revealed = [m for m in messages if m.startswith("note: Revealed type is")]
    if case.shape is not None:
        assert len(revealed) == 1, messages
        assert _shape(revealed[0]) == case.shape, revealed[0]
    if case.contains is not None:
        assert len(revealed) == 1, messages
        assert case.contains in revealed[0], revealed[0]


def test_no_error_outside_the_cases_that_expect_one(runs: Runs) -> None:
    expected = {n for n, c in runs.at.items() if c.error is not None}
    unexpected = {n: m for n, ms in runs.plugin.items() for m in ms if m.startswith("error") and n not in expected}
    assert unexpected == {}


def test_what_plain_mypy_accepts_the_plugin_accepts(runs: Runs) -> None:
    """The plugin never turns a line plain mypy accepts into an error, except a mistake it proves."""
    proven = {n for n, c in runs.at.items() if c.error is not None}
    for n, messages in runs.plugin.items():
        plain_errors = [m for m in runs.plain.get(n, []) if m.startswith("error")]
        if any(m.startswith("error") for m in messages) and not plain_errors:
            assert n in proven, (n, messages)


def test_plugin_only_rejections_are_the_ones_plain_mypy_cannot_see(runs: Runs) -> None:
    """A case the plugin rejects that plain mypy rejects too keeps mypy's own error code (arg-type)."""
    for n, case in runs.at.items():
        plain_errors = [m for m in runs.plain.get(n, []) if m.startswith("error")]
        if case.error is not None and plain_errors:
            assert any(m.endswith(("[arg-type]", "[assignment]", "[operator]")) for m in plain_errors), plain_errors


def test_layer_options_survive_mypy_cache(tmp_path: Path) -> None:
    """A layer defined in one module, its forward called in another: the same dims from a warm cache."""
    from mypy import api

    (tmp_path / "layers_mod.py").write_text(
        "from typedtensor import nn\n\n"
        "conv = nn.Conv2D(3, 16, kernel_size=3, stride=2, padding=1)\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self) -> None:\n"
        "        self.conv = nn.Conv2D(3, 8, 5)\n"
        "        self.pool = nn.MaxPool2D(2)\n"
    )
    user = tmp_path / "user_mod.py"
    body = (
        "import typedtensor as tt\nfrom layers_mod import Net, conv\n\n"
        "x = tt.zeros((2, 3, 32, 32))\nreveal_type(conv.forward(x))\nnet = Net()\n"
        "reveal_type(net.pool.forward(net.conv.forward(x)))\n"
    )
    user.write_text(body)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nplugins = typedtensor.mypy_plugin\n")
    args = [
        "--config-file",
        str(config),
        "--cache-dir",
        str(tmp_path / "cache"),
        str(user),
        str(tmp_path / "layers_mod.py"),
    ]
    outputs: list[list[str]] = []
    for edit in ("", "# edited: layers_mod.py comes from the cache\n"):
        user.write_text(body + edit)
        out, _, status = api.run(args)
        assert status == 0, out
        outputs.append([_shape(line) for line in out.splitlines() if "Revealed type" in line])
    assert outputs[0] == outputs[1] == ["(2, 16, 16, 16)", "(2, 8, 14, 14)"]


def test_plugin_version_changes_with_any_of_its_parts(tmp_path: Path) -> None:
    """mypy reuses a cache only for the same plugin ``__version__``: it must follow typedtensor._mypy."""
    from typedtensor import _mypy, mypy_plugin

    assert mypy_plugin.__version__ == mypy_plugin.sources_digest(Path(_mypy.__file__).parent)
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    before = mypy_plugin.sources_digest(tmp_path)
    (tmp_path / "b.py").write_text("# b.py, edited\n")
    assert mypy_plugin.sources_digest(tmp_path) != before
