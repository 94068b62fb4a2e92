"""``Sequential(*layers)``: the layers applied in order, as PyTorch's ``nn.Sequential``.

``forward`` chains the layers' ``forward`` (inference), ``forward_mut`` their ``forward_mut`` (a training
step), and ``seq(x)`` picks one by x's tape as every module does. The layers are the children ``0``, ``1``,
... so ``state_dict`` keys are PyTorch's (``0.weight``, ``1.running_mean``): a PyTorch ``nn.Sequential`` of
the same layers loads with ``naming="torch"``, and ours loads into it.

Static typing. A chain of generic layers cannot be typed without its input (each layer's ``forward`` is
generic in the batch dims, dtype and tape, and the Sequential would have to be generic over generic
functions, which no checker can express). Given the input's type first,
``Sequential(Tensor[tuple[int, L[4]], F32, Any], l1, ..., lN)`` (up to 8 layers) checks every link through
the layers' ``__call__`` types, as ``nn.pipe`` does, and is a ``Sequential[S_in, E_in, S_out, E_out]``:
``forward`` maps ``Tensor[S_in, E_in, NoneTape]`` to ``Tensor[S_out, E_out, NoneTape]``, ``forward_mut``
the same shapes with ``OwnedTape`` (the chain is checked on untraced tensors; every typedtensor layer keeps
the shapes on either tape). The checkers infer such a chain only through layers whose ``__call__`` is
one signature (Linear, the activations, LayerNorm, GroupNorm, Dropout, Flatten, Embedding, Identity,
Upsample, Sequential): through an overloaded one (Conv2D, Conv1D, BatchNorm, the pools,
AdaptiveAvgPool2D, MultiHeadAttention) mypy, pyright and pyrefly fail to solve the links ("cannot infer")
and the typed form is refused; build such a model without the input type (``Sequential[Any, Any, Any,
Any]``, output ``Tensor[Any, Any, tape]``, every layer still checked at run time) or as a Module class.
The input type is checked at run time too: an input of another shape or dtype is refused before the
first layer runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import numpy as np

from .._errors import ShapeError, TypedTensorError
from .._hints import HintMeta
from .._tape import NoneTape, OwnedTape
from .._tensor import Tensor
from . import _call
from ._module import Module

__all__ = ["Sequential"]

Tape = TypeVar("Tape", bound=NoneTape | OwnedTape)
# the class's: the input's and the output's shape and dtype
SI = TypeVar("SI")
EI = TypeVar("EI", bound=np.generic)
SO = TypeVar("SO")
EO = TypeVar("EO", bound=np.generic)
# the constructor's: the chain's links
S0 = TypeVar("S0")
E0 = TypeVar("E0", bound=np.generic)
S1 = TypeVar("S1")
E1 = TypeVar("E1", bound=np.generic)
S2 = TypeVar("S2")
E2 = TypeVar("E2", bound=np.generic)
S3 = TypeVar("S3")
E3 = TypeVar("E3", bound=np.generic)
S4 = TypeVar("S4")
E4 = TypeVar("E4", bound=np.generic)
S5 = TypeVar("S5")
E5 = TypeVar("E5", bound=np.generic)
S6 = TypeVar("S6")
E6 = TypeVar("E6", bound=np.generic)
S7 = TypeVar("S7")
E7 = TypeVar("E7", bound=np.generic)
S8 = TypeVar("S8")
E8 = TypeVar("E8", bound=np.generic)


class Sequential(Module, Generic[SI, EI, SO, EO]):
    """The layers applied in order: ``Sequential(conv, bn, relu)`` (see the module docstring for typing).

    ``len(seq)``, ``seq[i]`` and iteration give the layers; the repr lists them as PyTorch's does.
    """

    @overload
    def __init__(
        self: Sequential[S0, E0, S1, E1],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S2, E2],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S3, E3],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S4, E4],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        l4: Callable[[Tensor[S3, E3, NoneTape]], Tensor[S4, E4, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S5, E5],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        l4: Callable[[Tensor[S3, E3, NoneTape]], Tensor[S4, E4, NoneTape]],
        l5: Callable[[Tensor[S4, E4, NoneTape]], Tensor[S5, E5, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S6, E6],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        l4: Callable[[Tensor[S3, E3, NoneTape]], Tensor[S4, E4, NoneTape]],
        l5: Callable[[Tensor[S4, E4, NoneTape]], Tensor[S5, E5, NoneTape]],
        l6: Callable[[Tensor[S5, E5, NoneTape]], Tensor[S6, E6, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S7, E7],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        l4: Callable[[Tensor[S3, E3, NoneTape]], Tensor[S4, E4, NoneTape]],
        l5: Callable[[Tensor[S4, E4, NoneTape]], Tensor[S5, E5, NoneTape]],
        l6: Callable[[Tensor[S5, E5, NoneTape]], Tensor[S6, E6, NoneTape]],
        l7: Callable[[Tensor[S6, E6, NoneTape]], Tensor[S7, E7, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(
        self: Sequential[S0, E0, S8, E8],
        input_type: type[Tensor[S0, E0, Any]],
        l1: Callable[[Tensor[S0, E0, NoneTape]], Tensor[S1, E1, NoneTape]],
        l2: Callable[[Tensor[S1, E1, NoneTape]], Tensor[S2, E2, NoneTape]],
        l3: Callable[[Tensor[S2, E2, NoneTape]], Tensor[S3, E3, NoneTape]],
        l4: Callable[[Tensor[S3, E3, NoneTape]], Tensor[S4, E4, NoneTape]],
        l5: Callable[[Tensor[S4, E4, NoneTape]], Tensor[S5, E5, NoneTape]],
        l6: Callable[[Tensor[S5, E5, NoneTape]], Tensor[S6, E6, NoneTape]],
        l7: Callable[[Tensor[S6, E6, NoneTape]], Tensor[S7, E7, NoneTape]],
        l8: Callable[[Tensor[S7, E7, NoneTape]], Tensor[S8, E8, NoneTape]],
        /,
    ) -> None: ...
    @overload
    def __init__(self: Sequential[Any, Any, Any, Any], *layers: Module) -> None: ...
    def __init__(self, *layers: Any) -> None:
        input_type = None
        if layers and _is_tensor_type(layers[0]):  # the typed form: the input's type, then the layers
            input_type, layers = layers[0], layers[1:]
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypedTensorError(
                    f"Sequential: layer {i} is a {type(layer).__name__}, not a Module; pass layers such as "
                    "nn.Linear(4, 8), after the input's type if any (Tensor[tuple[int, L[4]], F32, Any]; for "
                    "functions, use nn.pipe)"
                )
        self._tt_input = input_type
        self._tt_count = len(layers)
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)  # the children "0", "1", ...: PyTorch's state_dict names

    if TYPE_CHECKING:  # model(x): forward on an untraced x, forward_mut on a traced one (see _call)

        def __call__(self, x: Tensor[SI, EI, Tape]) -> Tensor[SO, EO, Tape]: ...

    def forward(self, x: Tensor[SI, EI, NoneTape]) -> Tensor[SO, EO, NoneTape]:
        """Inference: each layer's ``forward`` in order."""
        self._check_input(x)
        y: Any = x
        for layer in self._layers():
            y = _call.method(layer, False)(y)  # a TapeError for a layer without forward
        return cast("Tensor[SO, EO, NoneTape]", y)

    def forward_mut(self, x: Tensor[SI, EI, OwnedTape]) -> Tensor[SO, EO, OwnedTape]:
        """Training: each layer's ``forward_mut`` in order."""
        self._check_input(x)
        y: Any = x
        for layer in self._layers():
            y = _call.method(layer, True)(y)  # a TapeError for a layer without forward_mut
        return cast("Tensor[SO, EO, OwnedTape]", y)

    def __len__(self) -> int:
        return self._tt_count

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())

    def __getitem__(self, index: int) -> Module:
        n = self._tt_count
        if isinstance(index, bool) or not isinstance(cast("object", index), int) or not -n <= index < n:
            raise TypedTensorError(
                f"Sequential[{index!r}]: the index must be an int in [-{n}, {n}) (this one has {n} layers)"
            )
        return self._layers()[index]

    def __setitem__(self, index: int, layer: Module) -> None:
        """Replace layer ``index`` (as PyTorch's); the typed form's static type is not re-checked: keep the shapes."""
        self[index]  # the index check
        if not isinstance(cast("object", layer), Module):
            raise TypedTensorError(f"Sequential[{index}] = ...: a layer must be a Module, got {type(layer).__name__}")
        setattr(self, str(index % self._tt_count), layer)

    def _layers(self) -> list[Module]:
        state = self.__dict__
        return [state[str(i)] for i in range(self._tt_count)]

    def _check_input(self, x: Tensor[Any, Any, Any]) -> None:
        hint = self._tt_input
        if hint is not None and not isinstance(x, hint):
            raise ShapeError(
                f"Sequential takes {hint!r} (its first argument when built) but got a tensor of shape {x.shape} and "
                f"dtype {x.dtype}; pass an input of that type"
            )


def _is_tensor_type(value: object) -> bool:
    """A tensor type such as ``Tensor[tuple[int, L[4]], np.float32, Any]`` (its run-time hint class)."""
    return value is Tensor or isinstance(value, HintMeta)
