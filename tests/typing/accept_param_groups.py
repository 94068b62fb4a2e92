"""Accept corpus: parameter groups (a sub-module or a selector, lr factor, weight decay) and frozen sub-modules."""

from __future__ import annotations

from typing import Any, assert_type
from typing import Literal as L

from typedtensor import Gradients, Tensor, nn, optim


class Net(nn.Module):
    def __init__(self) -> None:
        self.body = nn.Linear[L[4], L[8]](4, 8)
        self.head = nn.Linear[L[8], L[2]](8, 2)


net = Net()


def is_head(name: str, param: Tensor[Any, Any, Any]) -> bool:
    return name.startswith("head.")


decay = optim.ParamGroup(optim.no_decay, weight_decay=0.0)
head: optim.ParamGroup = optim.ParamGroup(is_head, lr_scale=10.0)
adamw = optim.AdamW(net, lr=3e-4, weight_decay=0.1, groups=[decay, head])
adam = optim.Adam(net, groups=[optim.ParamGroup(net.head, lr_scale=0.5)], frozen=[net.body])
sgd = optim.SGD(net, 0.1, momentum=0.9, frozen=[lambda name, p: p.ndim == 1])
selector: optim.Selector = optim.no_decay
assert_type(adam.frozen, tuple[str, ...])
assert_type(adam.alloc_grads(), Gradients)
assert_type(decay.weight_decay, float | None)
assert_type(head.lr_scale, float)
