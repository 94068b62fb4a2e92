"""Reject corpus: an optimizer's state given the wrong kinds of arguments."""

from __future__ import annotations

from typing import Literal as L

from typedtensor import nn, optim
from typedtensor.optim import lr_scheduler as sch

net = nn.Linear[L[3], L[5]](3, 5)
opt = optim.Adam(net, lr=1e-3)
other = optim.SGD(net, lr=0.1)

opt.load_state_dict([1, 2])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
opt.load_state_dict({1: 2})  # type: ignore[dict-item]  # pyright: ignore[reportArgumentType]
opt.save_npz(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
opt.load_safetensors(b"opt.safetensors")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
opt.save_npz("opt.npz", scheduler=other)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
opt.load_npz("opt.npz", max_bytes=1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
opt.load_npz("opt.npz", sch.StepLR(opt, 3))  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
opt.state_dict()["steps"] + 1  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
