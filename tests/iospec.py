"""The network of the PyTorch checkpoint tests: Conv2d -> BatchNorm2d -> ReLU -> mean over H, W -> Linear.

Used by tests/test_io_torch.py (live, when torch is installed) and tests/golden/make_io_golden.py,
which writes tests/golden/torch_net.safetensors (PyTorch's state_dict, trained 3 steps so that the
running statistics and the counter are not their initial values) and tests/golden/torch_net_io.npz
(an input and PyTorch's inference output for it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import nn

IN, MID, OUT = 2, 3, 4


class Net(nn.Module):
    """typedtensor's side: the same attribute names as TorchNet, so the state_dict keys agree."""

    def __init__(self, seed: int = 0, dtype: type[Any] = np.float32) -> None:
        self.conv = nn.Conv2D(IN, MID, 3, padding=1, seed=seed, dtype=dtype)
        self.bn = nn.BatchNorm2D(MID, dtype=dtype)
        self.fc = nn.Linear(MID, OUT, seed=seed + 1, dtype=dtype)


def forward(net: Net, x: NDArray[Any]) -> NDArray[Any]:
    """Inference output (running statistics) for x (B, IN, H, W)."""
    conv: Any = net.conv
    bn: Any = net.bn
    fc: Any = net.fc
    h = bn.forward(conv.forward(tt.tensor(x))).relu()
    pooled = tt.tensor(h.numpy().mean(axis=(2, 3)))
    out: NDArray[Any] = fc.forward(pooled).numpy()
    return out


def torch_net(torch: Any, seed: int = 0) -> Any:
    """PyTorch's side, trained 3 steps on random input (running statistics moved, counter 3), in eval mode.

    A plain ``torch.nn.Module`` holding ``conv``, ``bn`` and ``fc`` (so its state_dict keys are
    ``conv.weight``, ``bn.running_mean``...); ``torch_forward`` applies them.
    """
    tnn = torch.nn
    torch.manual_seed(seed)
    net = tnn.Module()
    net.conv = tnn.Conv2d(IN, MID, 3, padding=1)
    net.bn = tnn.BatchNorm2d(MID)
    net.fc = tnn.Linear(MID, OUT)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        _apply(torch, net, torch.randn(4, IN, 5, 5) * 2 + 1).exp().mean().backward()
        opt.step()
    return net.eval()


def _apply(torch: Any, net: Any, x: Any) -> Any:
    return net.fc(torch.relu(net.bn(net.conv(x))).mean(dim=(2, 3)))


def torch_forward(torch: Any, net: Any, x: NDArray[Any]) -> NDArray[Any]:
    with torch.no_grad():
        out: NDArray[Any] = _apply(torch, net, torch.from_numpy(x)).numpy()
    return out


def sample_input(seed: int = 5) -> NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((2, IN, 5, 5)).astype(np.float32)
