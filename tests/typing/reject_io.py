"""Reject corpus: saving and loading modules with arguments of the wrong type."""

from __future__ import annotations

from typing import Literal as L

from typedtensor import nn

net = nn.Linear[L[3], L[5]](3, 5)

net.save_npz(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
net.save_npz(b"net.npz")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
net.load_npz("net.npz", naming="pytorch")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
net.save_safetensors("net.safetensors", {"epoch": 3})  # type: ignore[dict-item]  # pyright: ignore[reportArgumentType]
net.load_safetensors("net.safetensors", strict="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
net.save_npz("net.npz", "torch")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
