"""``LRScheduler``: what every learning-rate scheduler has, apart from the schedules (``lr_scheduler``).

Its own module so that the optimizer's state files (``_state``, ``_state_file``), which save and
restore a scheduler's position with the optimizer's, can check a scheduler without importing the
schedules, which import the optimizers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import Optimizer

__all__ = ["LRScheduler", "State", "Value"]

#: A value of a scheduler's state: every file format stores these as they are.
Value = int | float | str
State = dict[str, Value]


class LRScheduler(ABC):
    """Base class of the schedulers: ``step()``, ``get_last_lr()``, ``last_epoch``, ``state_dict()``.

    ``last_epoch`` counts the ``step()`` calls (0 after construction); ``get_last_lr()`` is the
    learning rate the last step (or the construction) gave the optimizer, as a one-element list.
    """

    #: The optimizer whose ``lr`` this scheduler writes.
    optimizer: Optimizer[Any]
    #: How many times ``step()`` was called since construction (PyTorch's name).
    last_epoch: int
    _last_lr: float

    @abstractmethod
    def step(self) -> None:
        """Advance the schedule by one and write the new learning rate into the optimizer; call after its update."""

    def get_last_lr(self) -> list[float]:
        """The learning rate the scheduler last wrote, as a list with one entry (PyTorch's form for one group)."""
        return [self._last_lr]

    @abstractmethod
    def state_dict(self) -> State:
        """The scheduler's class, arguments and position, as a flat mapping of ints, floats and strs."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore the position saved by ``state_dict()`` (of a scheduler built with the same arguments)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"
