"""Issue 14's layer cases (Identity, LeakyReLU, SiLU, Softplus ...), shared by tests/test_layers14.py and their
golden-data script tests/golden/make_layers14_golden.py: the same ``LayerCase`` as tests/layerspec.py (float64
input, gradients of ``sum(out * w)`` for the input and every parameter)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.layerspec import LayerCase
from typedtensor import extend as ext
from typedtensor import nn


def group_norm(groups: int, channels: int, seed: int, **options: Any) -> nn.GroupNorm[int]:
    """A float64 GroupNorm with random weight and bias (not PyTorch's 1 and 0, so that their gradients matter)."""
    layer = nn.GroupNorm(groups, channels, dtype=np.float64, **options)
    rng = np.random.default_rng(seed)
    for p in (layer.weight, layer.bias):
        if p is not None:
            ext.data_mut(p)[...] = rng.standard_normal(channels)
    return layer


LAYER14_CASES: list[LayerCase] = [
    LayerCase("identity", (3, 4), nn.Identity, lambda th: th.nn.Identity()),
    LayerCase("leaky_relu", (3, 4), nn.LeakyReLU, lambda th: th.nn.LeakyReLU()),
    LayerCase("leaky_relu_0.2", (2, 3, 4), lambda: nn.LeakyReLU(0.2), lambda th: th.nn.LeakyReLU(0.2)),
    LayerCase("leaky_relu_neg", (5,), lambda: nn.LeakyReLU(-1.5), lambda th: th.nn.LeakyReLU(-1.5)),
    LayerCase("silu", (3, 4), nn.SiLU, lambda th: th.nn.SiLU()),
    LayerCase("silu_rank4", (2, 2, 3, 3), nn.SiLU, lambda th: th.nn.SiLU()),
    LayerCase("softplus", (3, 4), nn.Softplus, lambda th: th.nn.Softplus()),
    LayerCase("softplus_beta2_t1", (4, 5), lambda: nn.Softplus(2.0, 1.0), lambda th: th.nn.Softplus(2.0, 1.0)),
    LayerCase("softplus_beta0.5_t0", (4, 5), lambda: nn.Softplus(0.5, 0.0), lambda th: th.nn.Softplus(0.5, 0.0)),
    LayerCase(
        "adaptive_avg_pool_3x4",
        (2, 3, 7, 10),
        lambda: nn.AdaptiveAvgPool2D((3, 4)),
        lambda th: th.nn.AdaptiveAvgPool2d((3, 4)),
    ),
    LayerCase(
        "adaptive_avg_pool_1", (2, 3, 5, 6), lambda: nn.AdaptiveAvgPool2D(1), lambda th: th.nn.AdaptiveAvgPool2d(1)
    ),
    LayerCase(
        "adaptive_avg_pool_up",
        (1, 2, 3, 4),
        lambda: nn.AdaptiveAvgPool2D((5, 7)),
        lambda th: th.nn.AdaptiveAvgPool2d((5, 7)),
    ),
    LayerCase(
        "adaptive_avg_pool_same",
        (2, 2, 4, 6),
        lambda: nn.AdaptiveAvgPool2D((4, 6)),
        lambda th: th.nn.AdaptiveAvgPool2d((4, 6)),
    ),
    LayerCase(
        "adaptive_avg_pool_unbatched",
        (3, 9, 5),
        lambda: nn.AdaptiveAvgPool2D((4, 2)),
        lambda th: th.nn.AdaptiveAvgPool2d((4, 2)),
    ),
    LayerCase("group_norm", (2, 6, 3, 4), lambda: group_norm(3, 6, 0), lambda th: th.nn.GroupNorm(3, 6)),
    LayerCase("group_norm_g1", (3, 4, 5), lambda: group_norm(1, 4, 1), lambda th: th.nn.GroupNorm(1, 4)),
    LayerCase("group_norm_gc", (2, 4, 3, 3), lambda: group_norm(4, 4, 2), lambda th: th.nn.GroupNorm(4, 4)),
    LayerCase("group_norm_rank2", (5, 6), lambda: group_norm(2, 6, 3), lambda th: th.nn.GroupNorm(2, 6)),
    LayerCase("group_norm_rank5", (2, 4, 2, 3, 2), lambda: group_norm(2, 4, 4), lambda th: th.nn.GroupNorm(2, 4)),
    LayerCase(
        "group_norm_noaffine",
        (2, 6, 4),
        lambda: group_norm(3, 6, 5, affine=False),
        lambda th: th.nn.GroupNorm(3, 6, affine=False),
    ),
    LayerCase(
        "group_norm_eps", (2, 4, 3), lambda: group_norm(2, 4, 6, eps=0.1), lambda th: th.nn.GroupNorm(2, 4, eps=0.1)
    ),
    LayerCase(
        "upsample_nearest_x2",
        (2, 3, 4, 5),
        lambda: nn.Upsample(scale_factor=2.0),
        lambda th: th.nn.Upsample(scale_factor=2.0),
    ),
    LayerCase(
        "upsample_nearest_size", (2, 2, 5, 7), lambda: nn.Upsample(size=(7, 9)), lambda th: th.nn.Upsample(size=(7, 9))
    ),
    LayerCase(
        "upsample_nearest_frac",
        (1, 2, 5, 7),
        lambda: nn.Upsample(scale_factor=(1.5, 2.5)),
        lambda th: th.nn.Upsample(scale_factor=(1.5, 2.5)),
    ),
    LayerCase(
        "upsample_nearest_down", (1, 2, 5, 7), lambda: nn.Upsample(size=(3, 4)), lambda th: th.nn.Upsample(size=(3, 4))
    ),
    LayerCase(
        "upsample_bilinear_x2",
        (2, 3, 4, 5),
        lambda: nn.Upsample(scale_factor=2.0, mode="bilinear"),
        lambda th: th.nn.Upsample(scale_factor=2.0, mode="bilinear"),
    ),
    LayerCase(
        "upsample_bilinear_frac",
        (1, 2, 5, 7),
        lambda: nn.Upsample(scale_factor=(1.5, 0.7), mode="bilinear"),
        lambda th: th.nn.Upsample(scale_factor=(1.5, 0.7), mode="bilinear"),
    ),
    LayerCase(
        "upsample_bilinear_size",
        (2, 2, 5, 7),
        lambda: nn.Upsample(size=(13, 29), mode="bilinear"),
        lambda th: th.nn.Upsample(size=(13, 29), mode="bilinear"),
    ),
    LayerCase(
        "upsample_bilinear_corners",
        (2, 2, 5, 7),
        lambda: nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True),
        lambda th: th.nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True),
    ),
    LayerCase(
        "upsample_bilinear_corners_x2",
        (1, 3, 4, 4),
        lambda: nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
        lambda th: th.nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
    ),
    LayerCase(
        "upsample_bilinear_corners_1",
        (1, 2, 3, 4),
        lambda: nn.Upsample(size=1, mode="bilinear", align_corners=True),
        lambda th: th.nn.Upsample(size=1, mode="bilinear", align_corners=True),
    ),
    LayerCase(
        "conv1d",
        (2, 4, 11),
        lambda: nn.Conv1D(4, 6, 3, dtype=np.float64, seed=0),
        lambda th: th.nn.Conv1d(4, 6, 3),
    ),
    LayerCase(
        "conv1d_stride_pad",
        (2, 4, 12),
        lambda: nn.Conv1D(4, 6, 3, stride=2, padding=2, dtype=np.float64, seed=1),
        lambda th: th.nn.Conv1d(4, 6, 3, stride=2, padding=2),
    ),
    LayerCase(
        "conv1d_same_dilation",
        (2, 4, 10),
        lambda: nn.Conv1D(4, 6, 4, padding="same", dilation=2, dtype=np.float64, seed=2),
        lambda th: th.nn.Conv1d(4, 6, 4, padding="same", dilation=2),
    ),
    LayerCase(
        "conv1d_groups_nobias",
        (3, 4, 9),
        lambda: nn.Conv1D(4, 6, 3, groups=2, bias=False, dtype=np.float64, seed=3),
        lambda th: th.nn.Conv1d(4, 6, 3, groups=2, bias=False),
    ),
    LayerCase(
        "conv1d_k1",
        (2, 3, 5),
        lambda: nn.Conv1D(3, 2, 1, dtype=np.float64, seed=4),
        lambda th: th.nn.Conv1d(3, 2, 1),
    ),
    LayerCase(
        "conv1d_unbatched",
        (4, 8),
        lambda: nn.Conv1D(4, 5, 3, padding=1, dtype=np.float64, seed=5),
        lambda th: th.nn.Conv1d(4, 5, 3, padding=1),
    ),
]
