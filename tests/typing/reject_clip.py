"""Reject corpus: gradient clipping given the wrong kinds of arguments, or its result misused."""

from __future__ import annotations

from typing import Literal as L

from typedtensor import nn, optim

net = nn.Linear[L[4], L[3]](4, 3)
grads = net.alloc_grads()
opt = optim.SGD(net, lr=0.1)

optim.clip_grad_norm(net, grads, "1.0")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.clip_grad_norm(net, grads, 1.0, norm_type="inf")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.clip_grad_norm(grads, net, 1.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.clip_grad_norm(net, grads)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
optim.clip_grad_norm(opt, grads, 1.0)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
len(optim.clip_grad_norm(net, grads, 1.0))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.clip_grad_value(net, grads, None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.clip_grad_value(net, {}, 0.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
norm: str = optim.clip_grad_norm(net, grads, 1.0)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
