"""Accept corpus: gradient clipping between backward() and the optimizer's update; the norm is a float."""

from __future__ import annotations

import math
from typing import Literal as L
from typing import assert_type

import numpy as np

import typedtensor as tt
from typedtensor import NoneTape, Tensor, nn, optim

net = nn.Linear[L[4], L[3]](4, 3)
opt = optim.SGD(net, lr=0.1, momentum=0.9)
x: Tensor[tuple[int, L[4]], np.float32, NoneTape] = tt.zeros((5, 4))
grads = net.alloc_grads()
net.forward_mut(x.trace(grads)).square().mean().backward()

norm = optim.clip_grad_norm(net, grads, 1.0)
assert_type(norm, float)
assert_type(optim.clip_grad_norm(net, grads, max_norm=5, norm_type=1), float)
assert_type(optim.clip_grad_norm(net, grads, math.inf, norm_type=math.inf), float)
optim.clip_grad_value(net, grads, clip_value=0.5)
opt.update(net, grads)
logged: list[float] = [norm, optim.clip_grad_norm(net, grads, 2.0) * 0.5]
