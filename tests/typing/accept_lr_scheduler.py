"""Accept corpus: learning-rate schedulers built on each optimizer, stepped, read and saved."""

from __future__ import annotations

from typing import Any, assert_type
from typing import Literal as L

from typedtensor import nn, optim
from typedtensor.optim import lr_scheduler as sch

net = nn.Linear[L[3], L[5]](3, 5)
sgd = optim.SGD(net, lr=0.1, momentum=0.9)
adam = optim.Adam(net, lr=1e-3)
adamw = optim.AdamW(net, lr=1e-3)

step = sch.StepLR(sgd, step_size=3, gamma=0.5)
multi = sch.MultiStepLR(adam, milestones=[30, 80], gamma=0.1)
expo = sch.ExponentialLR(adamw, 0.95)
cosine = sch.CosineAnnealingLR(sgd, T_max=100, eta_min=1e-5)
linear = sch.LinearLR(sgd, start_factor=0.1, end_factor=1.0, total_iters=5)
cycle = sch.OneCycleLR(adam, max_lr=0.01, total_steps=100, anneal_strategy="linear", three_phase=True)
cycle_epochs = sch.OneCycleLR(adamw, 0.01, epochs=10, steps_per_epoch=50, cycle_momentum=False)
seq = sch.SequentialLR(sgd, [linear, cosine], milestones=[5])

step.step()
seq.step()
assert_type(step.get_last_lr(), list[float])
assert_type(seq.get_last_lr(), list[float])
assert_type(cycle.last_epoch, int)
assert_type(cosine.optimizer, optim.Optimizer[Any])
state = seq.state_dict()
assert_type(state, dict[str, int | float | str])
seq.load_state_dict(state)
schedulers: list[sch.LRScheduler] = [step, multi, expo, cosine, linear, cycle, cycle_epochs, seq]
for s in schedulers:
    s.step()
