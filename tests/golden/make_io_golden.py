"""Regenerate the PyTorch checkpoint fixtures from PyTorch (``pip install torch==2.13.0 safetensors``).

    python -m tests.golden.make_io_golden

Writes tests/golden/torch_net.safetensors: the state_dict of tests/iospec.py's network, trained 3 steps,
written by ``safetensors.torch.save_file`` (metadata ``{"format": "pt"}``, as transformers writes); and
tests/golden/torch_net_io.npz: an input ``x`` and PyTorch's inference output ``y`` for it. The tests load
the first into typedtensor and compare outputs with the second, so they run without torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tests.iospec import sample_input, torch_forward, torch_net

HERE = Path(__file__).parent
CHECKPOINT = HERE / "torch_net.safetensors"
IO = HERE / "torch_net_io.npz"


def main() -> None:
    torch: Any = importlib.import_module("torch")
    st_torch: Any = importlib.import_module("safetensors.torch")
    net = torch_net(torch)
    st_torch.save_file(net.state_dict(), str(CHECKPOINT), metadata={"format": "pt"})
    x = sample_input()
    np.savez(IO, x=x, y=torch_forward(torch, net, x), torch_version=np.array(torch.__version__))
    print(f"wrote {CHECKPOINT.name} and {IO.name} from torch {torch.__version__}")


if __name__ == "__main__":
    main()
