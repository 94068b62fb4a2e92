"""Reject corpus: parameter groups and frozen parameters given the wrong kinds of arguments."""

from __future__ import annotations

from typing import Any
from typing import Literal as L

from typedtensor import Tensor, nn, optim

net = nn.Linear[L[4], L[2]](4, 2)


def count(name: str, param: Tensor[Any, Any, Any]) -> int:
    return 1


optim.ParamGroup("head")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.ParamGroup(count)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.ParamGroup(optim.no_decay, lr_scale="10")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.AdamW(net, groups=optim.ParamGroup(optim.no_decay))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.SGD(net, 0.1, frozen=net)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
optim.SGD(net, 0.1, frozen=["bias"])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
optim.Adam(net, groups=[{"params": net, "lr": 0.1}])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
optim.Adam(net).frozen = ()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
