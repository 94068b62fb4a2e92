"""Accept corpus: saving and loading modules (str and os.PathLike paths, the report's type)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal as L
from typing import assert_type

from typedtensor import nn
from typedtensor.nn import LoadReport

net = nn.Linear[L[3], L[5]](3, 5)
net.save_npz("net.npz")
net.save_npz(Path("net.npz"), naming="torch")
net.save_safetensors("net.safetensors", {"epoch": "3"})
net.save_safetensors(Path("net.safetensors"), metadata=None, naming="typedtensor")
assert_type(net.load_npz("net.npz"), LoadReport)
report = net.load_safetensors(Path("net.safetensors"), naming="torch", strict=False, cast=True, check_finite=False)
assert_type(report.missing, tuple[str, ...])
assert_type(report.metadata["epoch"], str)
net.load_npz("net.npz", max_bytes=1 << 20)
