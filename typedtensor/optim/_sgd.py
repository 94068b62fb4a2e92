"""Stochastic gradient descent with PyTorch's options and update rule (``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from numpy.typing import NDArray

from .. import extend as ext
from ..nn._module import Module
from ._base import Optimizer, OptimizerError
from ._groups import ParamGroup, Selector

__all__ = ["SGD"]

Array = NDArray[Any]


@dataclass(frozen=True)
class SGDState:
    """One parameter's state: its momentum buffer (None without momentum)."""

    momentum_buffer: Array | None


class SGD(Optimizer[SGDState]):
    """``SGD(model, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0, maximize=False)``.

    Per parameter ``p`` with gradient ``g``, as PyTorch::

        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g (first step) or momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    ``opt.update(model, grads)`` applies one step (see ``typedtensor.optim``); ``opt.lr`` may be
    changed between steps. ``groups`` and ``frozen``: per-parameter learning-rate factors and weight
    decays, and parameters left untrained (see ``typedtensor.optim.ParamGroup``).
    """

    hparam_names: ClassVar[tuple[str, ...]] = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize")

    def __init__(
        self,
        model: Module,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        maximize: bool = False,
        *,
        groups: Sequence[ParamGroup] = (),
        frozen: Sequence[Module | Selector] = (),
    ) -> None:
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.maximize = maximize
        super().__init__(model, groups, frozen)

    def _validate(self) -> None:
        opt = ext.options
        err = OptimizerError
        self.lr = opt.non_negative(self.lr, "lr", "SGD", error=err)
        self.momentum = opt.non_negative(self.momentum, "momentum", "SGD", error=err)
        self.dampening = opt.real(self.dampening, "dampening", "SGD", error=err)
        self.weight_decay = opt.non_negative(self.weight_decay, "weight_decay", "SGD", error=err)
        self.nesterov = opt.flag(self.nesterov, "nesterov", "SGD", error=err)
        self.maximize = opt.flag(self.maximize, "maximize", "SGD", error=err)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise OptimizerError(
                f"SGD: Nesterov momentum requires a momentum and zero dampening, got momentum={self.momentum}, "
                f"dampening={self.dampening}; set momentum > 0 and dampening=0, or nesterov=False"
            )

    def _step(self, param: Array, grad: Array, state: SGDState | None) -> tuple[Array, SGDState]:
        return self._step_group(param, grad, state, self.lr, self.weight_decay)

    def _step_group(
        self, param: Array, grad: Array, state: SGDState | None, lr: float, weight_decay: float
    ) -> tuple[Array, SGDState]:
        d = -grad if self.maximize else grad
        if weight_decay != 0.0:
            d = d + weight_decay * param
        buf: Array | None = None
        if self.momentum != 0.0:
            previous = None if state is None else state.momentum_buffer
            buf = d.copy() if previous is None else previous * self.momentum + (1.0 - self.dampening) * d
            d = d + self.momentum * buf if self.nesterov else buf
        return param - lr * d, SGDState(buf)

    def _options(self) -> str:
        opts = [f"lr={self.lr}"]
        if self.momentum:
            opts.append(f"momentum={self.momentum}")
        if self.dampening:
            opts.append(f"dampening={self.dampening}")
        if self.nesterov:
            opts.append("nesterov=True")
        if self.weight_decay:
            opts.append(f"weight_decay={self.weight_decay}")
        if self.maximize:
            opts.append("maximize=True")
        return ", ".join(opts)
