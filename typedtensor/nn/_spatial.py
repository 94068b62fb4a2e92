"""``AnySize`` / ``SameSize``: whether a window layer keeps its input's height and width, in its type.

``Conv2D``, ``MaxPool2D`` and ``AvgPool2D`` have a last type parameter ``S`` (PEP 696 default
``AnySize``, so ``Conv2D[I, O]`` is ``Conv2D[I, O, AnySize]``). Their constructors are overloaded on
the arguments: a stride-1 window whose padding keeps the size (``padding="same"``, kernel 1 /
padding 0, kernel 3 / padding 1, kernel 5 / padding 2, kernel 7 / padding 3, a pool's kernel 3 /
stride 1 / padding 1, ...) makes a ``...[SameSize]`` layer, any other a ``...[AnySize]`` one, and
``forward`` of a ``SameSize`` layer returns ``(B, O, H, W)`` for ``(B, I, H, W)`` whatever H and W
are (TypeVars included) where an ``AnySize`` one types them ``int``. ``S`` is covariant and
``SameSize`` a subclass of ``AnySize``, so a ``SameSize`` layer is also a ``Conv2D[I, O]``: code
that annotates its layers the old way keeps type-checking.

This works in every checker the project runs (mypy, pyright, basedpyright, pyrefly; ty too) with
no plugin. A type argument written by hand (``nn.Conv2D[L[1], L[8], nn.SameSize](1, 8, 3,
stride=2)``) is a claim no checker verifies against the arguments: the run-time checks do, at the
first checked call (``Module``'s type-application check).
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypeVar

__all__ = ["AnySize", "SameSize", "Sq0", "Sq1", "Sq2", "Sq3", "Sq5", "Sq7", "keeps_size"]


class AnySize:
    """The output's height and width may differ from the input's (typed ``int``): the default."""


class SameSize(AnySize):
    """A stride-1 window whose padding keeps the input's height and width."""


S = TypeVar("S", bound=AnySize, default=AnySize, covariant=True)

# A size n given as an int or as (n, n): the kernel sizes, paddings, strides and dilations of the overloads.
Sq0 = Literal[0] | tuple[Literal[0], Literal[0]]
Sq1 = Literal[1] | tuple[Literal[1], Literal[1]]
Sq2 = Literal[2] | tuple[Literal[2], Literal[2]]
Sq3 = Literal[3] | tuple[Literal[3], Literal[3]]
Sq5 = Literal[5] | tuple[Literal[5], Literal[5]]
Sq7 = Literal[7] | tuple[Literal[7], Literal[7]]


def keeps_size(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
) -> bool:
    """Whether a window with these settings maps every H x W to H x W."""
    return stride == (1, 1) and all(
        before + after == d * (k - 1) for (before, after), k, d in zip(pads, kernel, dilation, strict=True)
    )
