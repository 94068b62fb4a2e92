"""Adam with PyTorch's options and update rule (``torch.optim.Adam``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from ..nn._module import Module
from ._base import Optimizer, OptimizerError
from ._groups import ParamGroup, Selector

__all__ = ["Adam"]

Array = NDArray[Any]


@dataclass(frozen=True)
class AdamState:
    """One parameter's state: its step count, the moment estimates and (AMSGrad) the running max."""

    step: int
    exp_avg: Array
    exp_avg_sq: Array
    max_exp_avg_sq: Array | None


class Adam(Optimizer[AdamState]):
    """``Adam(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, maximize=False)``.

    Per parameter ``p`` with gradient ``g`` at step ``t`` (from 1), as PyTorch::

        g = -g if maximize else g
        g = g + weight_decay * p                      # L2 penalty (AdamW decays p instead)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    ``opt.update(model, grads)`` applies one step (see ``typedtensor.optim``); ``opt.lr`` may be
    changed between steps. ``groups`` and ``frozen``: per-parameter learning-rate factors and weight
    decays, and parameters left untrained (see ``typedtensor.optim.ParamGroup``).
    """

    #: Weight decay applied to the parameter before the step (AdamW) instead of added to the gradient.
    _decoupled: ClassVar[bool] = False
    hparam_names: ClassVar[tuple[str, ...]] = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")

    def __init__(
        self,
        model: Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[ParamGroup] = (),
        frozen: Sequence[Module | Selector] = (),
    ) -> None:
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.maximize = maximize
        super().__init__(model, groups, frozen)

    def _validate(self) -> None:
        owner = type(self).__name__
        opt = ext.options
        err = OptimizerError
        self.lr = opt.non_negative(self.lr, "lr", owner, error=err)
        self.eps = opt.non_negative(self.eps, "eps", owner, error=err)
        self.weight_decay = opt.non_negative(self.weight_decay, "weight_decay", owner, error=err)
        self.amsgrad = opt.flag(self.amsgrad, "amsgrad", owner, error=err)
        self.maximize = opt.flag(self.maximize, "maximize", owner, error=err)
        betas = cast("object", self.betas)  # whatever the caller passed
        pair = (
            ()
            if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence)
            else cast("Sequence[object]", betas)
        )
        if len(pair) != 2:
            raise OptimizerError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = (opt.real(b, f"betas[{i}]", owner, error=err) for i, b in enumerate(pair))
        for i, b in enumerate((beta1, beta2)):
            if not 0.0 <= b < 1.0:
                raise OptimizerError(f"{owner}: betas[{i}] must be in [0, 1), got {b}")
        self.betas = (beta1, beta2)

    def _check_state(self, name: str, state: AdamState) -> None:
        if state.step < 1:
            raise OptimizerError(
                f"the state of {name!r} has step {state.step}; an Adam state exists from its first step (step >= 1)"
            )
        for field, v in (("exp_avg_sq", state.exp_avg_sq), ("max_exp_avg_sq", state.max_exp_avg_sq)):
            if v is not None and (v < 0).any():
                raise OptimizerError(
                    f"the state of {name!r} has negative values in {field}, a mean of squares; the state is damaged"
                )

    def _step(self, param: Array, grad: Array, state: AdamState | None) -> tuple[Array, AdamState]:
        return self._step_group(param, grad, state, self.lr, self.weight_decay)

    def _step_group(
        self, param: Array, grad: Array, state: AdamState | None, lr: float, weight_decay: float
    ) -> tuple[Array, AdamState]:
        beta1, beta2 = self.betas
        wd = weight_decay
        step = 1 if state is None else state.step + 1
        g = -grad if self.maximize else grad
        if wd != 0.0:
            if self._decoupled:
                param = param * (1.0 - lr * wd)
            else:
                g = g + wd * param
        if state is None:
            m0, v0 = np.zeros_like(param), np.zeros_like(param)
            vmax0 = np.zeros_like(param) if self.amsgrad else None
        else:
            m0, v0, vmax0 = state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq
            if self.amsgrad and vmax0 is None:  # amsgrad switched on after some steps
                vmax0 = np.zeros_like(param)
        weight = 1.0 - beta1
        # The formulas below, each operation in place in an array only this step made (the same roundings:
        # a * b is b * a and a + b is b + a in IEEE arithmetic), so that a parameter's step holds at most the
        # decayed parameter, the new moments, the denominator and the new value, not a fresh array per
        # operation (NumPy reuses an expression's temporaries in place only for arrays of 256 KiB or more).
        # torch.lerp's two forms (the second is exact at weight 1):
        # m = m0 + weight * (g - m0) if abs(weight) < 0.5 else g - (g - m0) * (1.0 - weight)
        m = np.subtract(g, m0, out=np.empty_like(param))
        if abs(weight) < 0.5:
            np.add(m0, np.multiply(m, weight, out=m), out=m)
        else:
            np.subtract(g, np.multiply(m, 1.0 - weight, out=m), out=m)
        # v = v0 * beta2 + ((1.0 - beta2) * g) * g
        sq = np.multiply(g, 1.0 - beta2, out=np.empty_like(param))
        np.multiply(sq, g, out=sq)
        v = np.add(np.multiply(v0, beta2, out=np.empty_like(param)), sq, out=sq)
        bias_correction1 = 1.0 - beta1**step
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        step_size = lr / bias_correction1
        vmax = np.maximum(vmax0, v) if self.amsgrad and vmax0 is not None else None
        # param + (-step_size * m) / (sqrt(v_hat) / bias_correction2_sqrt + eps)
        denom = np.sqrt(v if vmax is None else vmax, out=np.empty_like(param))
        np.add(np.divide(denom, bias_correction2_sqrt, out=denom), self.eps, out=denom)
        value = np.multiply(m, -step_size, out=np.empty_like(param))
        np.add(param, np.divide(value, denom, out=value), out=value)
        return value, AdamState(step, m, v, vmax)

    def _options(self) -> str:
        opts = [f"lr={self.lr}", f"betas={self.betas}", f"eps={self.eps}", f"weight_decay={self.weight_decay}"]
        if self.amsgrad:
            opts.append("amsgrad=True")
        if self.maximize:
            opts.append("maximize=True")
        return ", ".join(opts)
