"""Issue 14's layer cases (Identity, LeakyReLU, SiLU, Softplus ...), shared by tests/test_layers14.py and their
golden-data script tests/golden/make_layers14_golden.py: the same ``LayerCase`` as tests/layerspec.py (float64
input, gradients of ``sum(out * w)`` for the input and every parameter)."""

from __future__ import annotations

from tests.layerspec import LayerCase
from typedtensor import nn

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
]
