"""``Dropout``: identity in inference; in training, zero each element with probability p."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from .. import extend as ext
from .._errors import TapeError
from .._ops import elementwise as _ew
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module

__all__ = ["Dropout"]

S = TypeVar("S")
E = TypeVar("E", bound=np.generic)
Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)


class Dropout(Module):
    """Dropout with PyTorch's scaling: kept elements are multiplied by 1 / (1 - p).

    ``forward`` (inference) takes only untraced input and returns it unchanged; ``forward_mut``
    (training) takes only traced input and draws the mask from the module's own generator, seeded
    by ``seed``: the same seed gives the same sequence of masks.
    """

    hparam_names: ClassVar[tuple[str, ...]] = ("p",)  # restored by checkpoint loads

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        self.p = ext.options.unit(p, "p", "Dropout")
        self._rng = np.random.default_rng(ext.options.seed(seed, "Dropout"))

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        p: Any = values["p"]
        Dropout(p)  # the constructor's checks

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)

        def __call__(self, x: Tensor[S, E, Tape]) -> Tensor[S, E, Tape]: ...

    def forward(self, x: Tensor[S, E, NoneTape]) -> Tensor[S, E, NoneTape]:
        """Inference: x unchanged."""
        if ext.tensor_arg(x, "Dropout.forward").traced:  # the annotation says so too, with checks on
            raise TapeError(
                "Dropout.forward is inference and takes an untraced tensor; for a training step call forward_mut "
                "(or pass x.detach() to run inference on these values)"
            )
        return x

    def forward_mut(self, x: Tensor[S, E, OwnedTape]) -> Tensor[S, E, OwnedTape]:
        """Training: each element zeroed with probability p, the others scaled by 1 / (1 - p)."""
        if not ext.tensor_arg(x, "Dropout.forward_mut").traced:
            raise TapeError(
                "Dropout.forward_mut is a training step and takes a traced tensor: x.trace(grads) (use forward for "
                "inference)"
            )
        data = ext.data(x)
        if self.p == 1.0:
            factor = np.zeros(data.shape, data.dtype)
        else:
            keep = self._rng.random(data.shape) >= self.p
            factor = keep.astype(data.dtype) * data.dtype.type(1.0 / (1.0 - self.p))
        return ext.record((x, None), *_ew.mul(data, factor))
