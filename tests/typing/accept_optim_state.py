"""Accept corpus: an optimizer's state saved and loaded with its scheduler (resuming training)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal as L
from typing import assert_type

from typedtensor import nn, optim
from typedtensor.optim import lr_scheduler as sch

net = nn.Linear[L[3], L[5]](3, 5)
sgd = optim.SGD(net, lr=0.1, momentum=0.9, nesterov=True)
adam = optim.Adam(net, lr=1e-3, amsgrad=True)
adamw = optim.AdamW(net, lr=1e-3, groups=[optim.ParamGroup(optim.no_decay, weight_decay=0.0)])
cycle = sch.OneCycleLR(adam, max_lr=0.01, total_steps=100)

state = sgd.state_dict()
assert_type(state, dict[str, object])
sgd.load_state_dict(state)
with_schedule: Mapping[str, object] = adam.state_dict(scheduler=cycle)
adam.load_state_dict(with_schedule, scheduler=cycle)
adam.save_npz("adam.npz", scheduler=cycle)
adam.load_npz(Path("adam.npz"), scheduler=cycle, max_bytes=1 << 20)
adamw.save_safetensors(Path("adamw.safetensors"))
adamw.load_safetensors("adamw.safetensors")
assert_type(sgd.save_npz("sgd.npz"), None)
assert_type(sgd.load_npz("sgd.npz"), None)
assert_type(optim.Adam.hparam_names, tuple[str, ...])
optimizers: list[optim.Optimizer[object]] = []
for opt in optimizers:
    opt.save_npz("opt.npz")
