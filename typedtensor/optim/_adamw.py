"""AdamW: Adam with decoupled weight decay, PyTorch's update rule (``torch.optim.AdamW``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..nn._module import Module
from ._adam import Adam
from ._groups import ParamGroup, Selector

__all__ = ["AdamW"]


class AdamW(Adam):
    """``AdamW(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False)``.

    Adam's step after decaying each parameter on its own, ``p = p * (1 - lr * weight_decay)``, rather
    than adding ``weight_decay * p`` to the gradient (Loshchilov & Hutter; PyTorch's AdamW).
    ``groups`` and ``frozen`` as Adam's (see ``typedtensor.optim.ParamGroup``).
    """

    _decoupled: ClassVar[bool] = True

    def __init__(
        self,
        model: Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[ParamGroup] = (),
        frozen: Sequence[Module | Selector] = (),
    ) -> None:
        super().__init__(model, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, groups=groups, frozen=frozen)
