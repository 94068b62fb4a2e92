"""Reject corpus: learning-rate schedulers given the wrong kinds of arguments."""

from __future__ import annotations

from typing import Literal as L

from typedtensor import nn, optim
from typedtensor.optim import lr_scheduler as sch

net = nn.Linear[L[3], L[5]](3, 5)
opt = optim.SGD(net, lr=0.1)

sch.StepLR(net, step_size=3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.StepLR(opt, 3, gamma="0.5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.StepLR(opt, step_size=2.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.ExponentialLR(opt)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
sch.CosineAnnealingLR(net, T_max=10)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.MultiStepLR(opt, milestones=30)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.OneCycleLR(opt, max_lr=0.1, total_steps=100, anneal_strategy="exp")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
sch.SequentialLR(opt, [opt], milestones=[])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
sch.StepLR(opt, 3).get_last_lr() + 1  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
sch.StepLR(opt, 3).step(5)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
