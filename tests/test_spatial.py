"""``SameSize``: the layers whose constructor overloads promise the input's H and W keep them at run time.

The overloads of ``Conv2D.__new__`` and the pools' are a static promise; these tests hold each of
their argument combinations to it on inputs of several sizes, and check the run-time refusal of a
``SameSize`` type argument written by hand on a layer that changes the size.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import nn

# Every argument combination the SameSize overloads accept (typedtensor/nn/_conv.py, _pool.py).
SAME_CONVS: list[dict[str, Any]] = [
    {"kernel_size": 3, "padding": "same"},
    {"kernel_size": (2, 4), "padding": "same", "dilation": 2},
    {"kernel_size": 1},
    {"kernel_size": (1, 1), "padding": "valid", "stride": (1, 1)},
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": (3, 3), "padding": (1, 1), "stride": 1, "dilation": (1, 1)},
    {"kernel_size": 5, "padding": 2},
    {"kernel_size": 7, "padding": 3},
]
SAME_POOLS: list[tuple[Any, ...]] = [(1,), ((1, 1), 1, 0), (3, 1, 1), ((3, 3), (1, 1), (1, 1)), (5, 1, 2)]
SIZES = [(1, 1), (5, 8), (9, 4)]


@pytest.mark.parametrize("options", SAME_CONVS, ids=str)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_same_size_convolutions_keep_the_size(options: dict[str, Any], size: tuple[int, int]) -> None:
    conv = nn.Conv2D(2, 3, **options)
    assert conv._keeps_size()
    assert conv.forward(tt.zeros((2, 2, *size))).shape == (2, 3, *size)
    assert conv.forward(tt.zeros((2, *size))).shape == (3, *size)


@pytest.mark.parametrize("cls", [nn.MaxPool2D, nn.AvgPool2D])
@pytest.mark.parametrize("args", SAME_POOLS, ids=str)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_same_size_pools_keep_the_size(cls: Any, args: tuple[Any, ...], size: tuple[int, int]) -> None:
    pool = cls(*args)
    assert pool._keeps_size()
    assert pool.forward(tt.zeros((2, 2, *size))).shape == (2, 2, *size)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: nn.Conv2D(1, 4, 3),
        lambda: nn.Conv2D(1, 4, 3, stride=2, padding=1),
        lambda: nn.Conv2D(1, 4, 3, padding=2),
        lambda: nn.Conv2D(1, 4, 3, padding=1, dilation=2),
        lambda: nn.MaxPool2D(2),
        lambda: nn.AvgPool2D(3, padding=1),
    ],
)
def test_resizing_layers_do_not_claim_the_size(layer: Any) -> None:
    assert not layer()._keeps_size()


def test_a_same_size_argument_on_a_resizing_layer_is_refused_at_its_first_call() -> None:
    conv = nn.Conv2D[L[1], L[4], nn.SameSize](1, 4, 3, stride=2, padding=1)
    with pytest.raises(tt.CheckError, match=r"Conv2D\[\.\.\., SameSize\] declares .*stride=\(2, 2\)"):
        conv.forward(tt.zeros((2, 1, 8, 8)))
    pool = nn.MaxPool2D[nn.SameSize](2)
    with pytest.raises(tt.CheckError, match=r"MaxPool2D\[\.\.\., SameSize\] declares"):
        pool.forward(tt.zeros((2, 1, 8, 8)))
    with tt.checks(False):  # the switch turns off the run-time checks, this one included
        assert conv.forward(tt.zeros((2, 1, 8, 8))).shape == (2, 4, 4, 4)


def test_a_true_same_size_argument_passes() -> None:
    conv = nn.Conv2D[L[1], L[4], nn.SameSize](1, 4, 3, padding=1)
    assert conv.forward(tt.zeros((2, 1, 8, 8))).shape == (2, 4, 8, 8)
    assert nn.AvgPool2D[nn.SameSize](3, 1, 1).forward(tt.zeros((1, 8, 8))).shape == (1, 8, 8)


def test_layers_with_new_copy_and_pickle() -> None:
    conv = nn.Conv2D[L[2], L[3]](2, 3, 3, padding=1, seed=0)
    x = tt.randn((1, 2, 5, 5), seed=1)
    others: list[nn.Conv2D[L[2], L[3], nn.SameSize]] = [copy.deepcopy(conv), pickle.loads(pickle.dumps(conv))]
    for other in others:
        assert type(other) is nn.Conv2D
        np.testing.assert_array_equal(other.forward(x).numpy(), conv.forward(x).numpy())
    pool = pickle.loads(pickle.dumps(nn.MaxPool2D(3, 1, 1)))
    assert pool.forward(x).shape == (1, 2, 5, 5)


def test_constructor_errors_are_unchanged_by_new() -> None:
    with pytest.raises(tt.TypedTensorError, match="in_channels must be a positive int"):
        nn.Conv2D(0, 4, 3)
    with pytest.raises(tt.TypedTensorError, match="stride"):
        nn.MaxPool2D(2, stride=0)


def test_a_subclass_with_its_own_new_and_init() -> None:
    """The pattern the README gives for subclasses (pinned statically in tests/typing/accept_layers.py)."""

    class Stem(nn.Conv2D[L[1], L[16], nn.SameSize]):
        def __new__(cls, *args: Any, **kwargs: Any) -> Stem:
            return object.__new__(cls)

        def __init__(self, seed: int | None = None) -> None:
            super().__init__(1, 16, 3, padding=1, seed=seed)

    stem = Stem(seed=0)
    assert type(stem) is Stem
    assert stem.forward(tt.zeros((2, 1, 8, 8))).shape == (2, 16, 8, 8)
    np.testing.assert_array_equal(copy.deepcopy(stem).weight.numpy(), stem.weight.numpy())
