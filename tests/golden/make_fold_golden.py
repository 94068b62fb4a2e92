"""Regenerate tests/golden/fold.npz from PyTorch (``pip install torch==2.13.0``).

    python -m tests.golden.make_fold_golden

The small ResNet of ``bench._nets`` (seed 0) with its BatchNorms set away from the identity
(``bench.fold.trained_stats``, seed 0), copied into its PyTorch twin (``bench._nets.torch_resnet``,
``copy_weights``), in eval mode: for each of its six conv -> BatchNorm pairs, PyTorch's own fold
(``torch.nn.utils.fusion.fuse_conv_bn_eval``) gives the fused weight and bias, stored under
``<dtype>/<conv name>.weight`` / ``.bias``; and the network's logits on a seeded (4, 3, 32, 32) batch
(``<dtype>/logits``), in float32 and float64. ``torch_fold`` also serves the live test.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench._nets import SmallResNet, copy_weights, torch_resnet
from bench.fold import trained_stats
from tests.golden.write import write_golden
from typedtensor import nn

OUT = Path(__file__).with_name("fold.npz")
#: conv -> BatchNorm pairs of the small ResNet, by the names both libraries use.
PAIRS = {
    "stem.conv": "stem.bn",
    "block.conv1": "block.bn1",
    "block.conv2": "block.bn2",
    "down.conv1": "down.bn1",
    "down.conv2": "down.bn2",
    "down.shortcut": "down.bn_shortcut",
}
DTYPES = ("float32", "float64")


def model(dtype: str) -> nn.Module:
    """The typedtensor network with trained-looking statistics, in ``dtype``."""
    net = SmallResNet(seed=0)
    trained_stats(net, 0)
    return net.to_dtype(np.dtype(dtype).type)


def batch(dtype: str) -> NDArray[Any]:
    return np.random.default_rng(3).standard_normal((4, 3, 32, 32)).astype(dtype)


def torch_fold(dtype: str) -> dict[str, NDArray[Any]]:
    """PyTorch's fused weights and biases of every pair, and the unfused network's logits on ``batch``."""
    torch: Any = importlib.import_module("torch")
    fusion: Any = importlib.import_module("torch.nn.utils.fusion")
    net, forward = torch_resnet(torch)
    if dtype == "float64":
        net = net.double()
    copy_weights(torch, model(dtype), net)
    net.eval()
    out: dict[str, NDArray[Any]] = {}
    with torch.no_grad():
        for conv_name, bn_name in PAIRS.items():
            fused = fusion.fuse_conv_bn_eval(net.get_submodule(conv_name), net.get_submodule(bn_name))
            out[f"{conv_name}.weight"] = fused.weight.numpy().copy()
            out[f"{conv_name}.bias"] = fused.bias.numpy().copy()
        out["logits"] = forward(torch.from_numpy(batch(dtype))).numpy().copy()
    return out


def main() -> None:
    write_golden(OUT, "fold", ((dtype, torch_fold(dtype)) for dtype in DTYPES))


if __name__ == "__main__":
    main()
