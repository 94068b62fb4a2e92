"""Checkpoints shared with PyTorch: a Conv2d/BatchNorm2d/Linear state_dict written by PyTorch loads with
``naming="torch"`` and gives PyTorch's outputs, and the files typedtensor writes load into PyTorch.

Without torch, the committed fixtures (tests/golden/make_io_golden.py) stand in for it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import typedtensor as tt
from tests.iohelp import randomise
from tests.iospec import Net, forward, sample_input, torch_forward, torch_net

pytest.importorskip("safetensors", reason="the io extra: pip install -e '.[io]'")

GOLDEN = Path(__file__).parent / "golden"
CHECKPOINT = GOLDEN / "torch_net.safetensors"


def _torch() -> Any:
    return pytest.importorskip("torch", reason="the live PyTorch comparison needs torch (pip install torch==2.13.0)")


def test_pytorch_file_from_the_fixture_gives_pytorchs_outputs() -> None:
    io = np.load(GOLDEN / "torch_net_io.npz")
    net = Net(seed=7)
    report = net.load_safetensors(CHECKPOINT, naming="torch")
    assert report.metadata == {"format": "pt"}
    assert report.hparams == {}
    assert net.bn.num_batches_tracked == 3
    np.testing.assert_allclose(forward(net, io["x"]), io["y"], rtol=1e-5, atol=1e-6)
    with pytest.raises(tt.CheckpointError, match=r"unexpected keys \['bn.weight'\]"):
        Net().load_safetensors(CHECKPOINT)  # PyTorch's names need naming="torch"


def test_our_torch_named_file_has_pytorchs_keys_shapes_and_dtypes(tmp_path: Path) -> None:
    """What PyTorch's load_state_dict(strict=True) checks, against the file PyTorch wrote itself."""
    st_numpy: Any = importlib.import_module("safetensors.numpy")
    ours = tmp_path / "ours.safetensors"
    Net().save_safetensors(ours, naming="torch")
    mine, theirs = st_numpy.load_file(str(ours)), st_numpy.load_file(str(CHECKPOINT))
    assert sorted(mine) == sorted(theirs)
    for key, value in theirs.items():
        assert (mine[key].shape, mine[key].dtype) == (value.shape, value.dtype), key


@pytest.mark.parametrize("fmt", ["safetensors", "npz"])
def test_live_pytorch_state_dict_loads_and_matches(tmp_path: Path, fmt: str) -> None:
    torch = _torch()
    theirs = torch_net(torch, seed=3)
    path = tmp_path / f"torch.{fmt}"
    if fmt == "safetensors":
        importlib.import_module("safetensors.torch").save_file(theirs.state_dict(), str(path))
    else:
        np.savez(path, **{k: v.numpy() for k, v in theirs.state_dict().items()})
    ours = Net(seed=11)
    (ours.load_safetensors if fmt == "safetensors" else ours.load_npz)(path, naming="torch")
    x = sample_input(8)
    np.testing.assert_allclose(forward(ours, x), torch_forward(torch, theirs, x), rtol=1e-5, atol=1e-6)


def test_live_our_file_loads_into_pytorch_and_matches(tmp_path: Path) -> None:
    torch = _torch()
    ours = Net(seed=4)
    randomise(ours, 4)  # running statistics and counter away from their initial values
    path = tmp_path / "ours.safetensors"
    ours.save_safetensors(path, naming="torch")
    theirs = torch_net(torch, seed=0)
    state = importlib.import_module("safetensors.torch").load_file(str(path))
    theirs.load_state_dict(state, strict=True)
    assert int(theirs.bn.num_batches_tracked) == ours.bn.num_batches_tracked
    x = sample_input(9)
    np.testing.assert_allclose(torch_forward(torch, theirs, x), forward(ours, x), rtol=1e-5, atol=1e-6)
