"""``AdaptiveAvgPool2D[OH, OW](output_size)``: average pooling to a fixed (OH, OW) output whatever the input's H, W.

PyTorch's ``nn.AdaptiveAvgPool2d`` bins (``typedtensor._ops.adaptive_pool``). The output's height and width are
the layer's type parameters, so ``AdaptiveAvgPool2D[L[1], L[1]](1)`` followed by ``Flatten`` or a ``Linear`` keeps
C typed. No parameters; the same in training and inference (``forward`` and ``forward_mut`` accept either tape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, TypeVarTuple, cast, overload

import numpy as np

from .. import extend as ext
from .._errors import ShapeError, TypedTensorError
from .._ops import adaptive_pool as _ap
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from ._module import Module
from .functional import _image

__all__ = ["AdaptiveAvgPool2D"]

OH = TypeVar("OH", bound=int)
OW = TypeVar("OW", bound=int)
B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
E = TypeVar("E", bound=np.generic)
T = TypeVar("T", bound=NoneTape | OwnedTape)
Lead = TypeVarTuple("Lead")


def _output_size(value: object) -> tuple[int, int]:
    pair: tuple[object, ...] = cast("tuple[object, ...]", value) if isinstance(value, tuple) else (value, value)
    if len(pair) != 2:
        raise TypedTensorError(
            f"AdaptiveAvgPool2D: output_size must be an int or an (height, width) pair of ints, got {value!r}"
        )
    h, w = pair
    why = "the output's height and width"
    fix = "pass an int >= 1 or a pair of them, e.g. AdaptiveAvgPool2D(1) or AdaptiveAvgPool2D((7, 7))"
    return (
        ext.options.positive_int(h, "output_size", "AdaptiveAvgPool2D", why=why, fix=fix),
        ext.options.positive_int(w, "output_size", "AdaptiveAvgPool2D", why=why, fix=fix),
    )


class _AdaptiveSize(Module, Generic[OH, OW]):
    """AdaptiveAvgPool2D's output size and ``__init__`` (see ``AdaptiveAvgPool2D``)."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"OH": "out_h", "OW": "out_w"}

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        h, w = _output_size(output_size)
        self.out_h = cast("OH", h)
        self.out_w = cast("OW", w)


class AdaptiveAvgPool2D(_AdaptiveSize[OH, OW]):
    """Mean over PyTorch's adaptive bins: (B, C, H, W) -> (B, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW).

    Args:
        output_size: OH = OW as an int, or (OH, OW); each >= 1 (PyTorch's ``None`` "keep that dim" is not taken).

    Output row i averages input rows ``floor(i H / OH)`` to ``ceil((i + 1) H / OH)`` (end excluded), columns
    likewise: equal windows when H is a multiple of OH, overlapping ones otherwise, repeated rows when OH > H.
    Float inputs only; float16 is computed in float32.
    """

    # The constructor's overloads bind OH and OW from the argument (an int is both). They are __new__'s, with
    # __init__ on the base class, as Conv2D's: mypy takes the signature from the one lower in the MRO.
    @overload
    def __new__(cls, output_size: OH) -> AdaptiveAvgPool2D[OH, OH]: ...
    @overload
    def __new__(cls, output_size: tuple[OH, OW]) -> AdaptiveAvgPool2D[OH, OW]: ...
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls)

    def extra_repr(self) -> str:
        """PyTorch's text: ``output_size=(7, 7)``."""
        return f"output_size={(self.out_h, self.out_w)}"

    @overload
    def forward(self, x: Tensor[tuple[B, C, Any, Any], E, T]) -> Tensor[tuple[B, C, OH, OW], E, T]: ...
    @overload
    def forward(self, x: Tensor[tuple[C, Any, Any], E, T]) -> Tensor[tuple[C, OH, OW], E, T]: ...
    def forward(self, x: Tensor[tuple[*Lead, C, Any, Any], E, T]) -> Tensor[tuple[*Lead, C, OH, OW], E, T]:  # pyright: ignore[reportInconsistentOverload]
        """(B, C, H, W) -> (B, C, OH, OW), or (C, H, W) -> (C, OH, OW)."""
        return self._apply(x)

    forward_mut = forward  # the same in training (no train/infer difference)
    if TYPE_CHECKING:  # model(x): forward or forward_mut by x's tape (see _call), with forward's type
        __call__ = forward

    def _apply(self, x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
        data, _ = _image(x, "AdaptiveAvgPool2D")  # rank 3 or 4, float: the kernel pools the last two dims
        if data.shape[-2] == 0 or data.shape[-1] == 0:
            raise ShapeError(
                f"AdaptiveAvgPool2D: expected an input of height and width >= 1, got shape {ext.data(x).shape}; an "
                "empty image has no mean"
            )
        out = (int(self.out_h), int(self.out_w))
        # before the kernel allocates: its averaging matrices (oh, H) and (ow, W) and the product P_h @ x
        # (..., oh, W), in its work dtype (float32, float64 for float64), and the result
        work = np.dtype(np.float64 if data.dtype == np.float64 else np.float32)
        lead, (h, w) = data.shape[:-2], data.shape[-2:]
        for shape in ((*lead, *out), (out[0], h), (out[1], w), (*lead, out[0], w)):
            ext.room(shape, work, "AdaptiveAvgPool2D")
        return ext.record((x,), *_ap.adaptive_avg_pool2d(ext.data(x), out))
