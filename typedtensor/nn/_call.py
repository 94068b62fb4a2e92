"""``module(x)``: run ``forward`` on an untraced input and ``forward_mut`` on a traced one.

The choice is made from the first positional argument's tape (``NoneTape``: ``forward``, inference;
``OwnedTape``: ``forward_mut``, a training step), or, in a call without positional arguments
(``lin(x=t)``), from the first tensor passed by keyword. The method called keeps all its run-time checks
(dims bound from the module, every argument's tape and shape). Other tensor arguments follow the first
one: with an untraced first input, a traced second one (attention's key and value, FusedBatchNorm's
addend) is refused here, since inference cannot record it; with a traced first input, ``forward_mut``
decides (attention and FusedBatchNorm accept untraced keys, values and addends there).

What the type checkers see is each class's ``__call__`` declaration (``__call__ = forward`` for a layer
that behaves the same in both modes, overloads of both methods otherwise): see ``Module``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._errors import DTypeError, TapeError, TypedTensorError
from .._tensor import Tensor

__all__ = ["keyword_input", "method", "refuse_input", "refuse_mixed"]


def keyword_input(module: object, kwargs: Mapping[str, object]) -> object:
    """The input of a call without positional arguments: the first tensor passed by keyword."""
    tensors: list[object] = [value for value in kwargs.values() if isinstance(value, Tensor)]
    if not tensors:
        raise refuse_input(module, ())
    return tensors[0]


def method(module: object, traced: bool) -> Callable[..., Any]:
    """The bound method a call runs: ``forward_mut`` for a traced input, ``forward`` for an untraced one; a
    TapeError when the module's class does not define it (a user module with one of the two only)."""
    name = "forward_mut" if traced else "forward"
    if getattr(type(module), name, None) is None:
        cls = type(module).__name__
        if traced:
            fix = (
                "define forward_mut (forward_mut = forward when both modes run the same calls), or call the "
                "module on an untraced input for inference"
            )
        else:
            fix = "define forward for inference, or trace x for a training step (x.trace(grads))"
        raise TapeError(f"{cls}(x): x is {'' if traced else 'un'}traced but {cls} has no {name}; {fix}")
    bound: Callable[..., Any] = getattr(module, name)
    return bound


def refuse_input(module: object, args: tuple[object, ...]) -> TypedTensorError:
    """The error for a call whose first positional argument is not a Tensor (DTypeError, as ``forward``'s)."""
    name = type(module).__name__
    if not args:
        return TypedTensorError(
            f"{name}(...) got no tensor: pass the input (a Tensor) as the first argument, {name.lower()}(x); its tape "
            "chooses forward (untraced) or forward_mut (traced)"
        )
    got = type(args[0]).__name__
    hint = " (wrap a NumPy array with tt.tensor(array) first)" if hasattr(args[0], "__array__") else ""
    return DTypeError(  # the class ext.tensor_arg gives a non-Tensor argument of forward: one mistake, one class
        f"{name}(x) needs a typedtensor Tensor as its first argument, got {got}{hint}; the tape of x chooses "
        "forward (untraced) or forward_mut (traced)"
    )


def refuse_mixed(module: object, args: tuple[object, ...], kwargs: Mapping[str, object]) -> None:
    """Refuse an untraced first input next to a traced tensor argument (inference cannot record it)."""
    for i, value in enumerate(args[1:], 2):
        if _traced(value):
            _mixed(module, f"argument {i}")
    for key, value in kwargs.items():
        if _traced(value):
            _mixed(module, repr(key))


def _traced(value: object) -> bool:
    return isinstance(value, Tensor) and value.traced


def _mixed(module: object, which: str) -> None:
    name = type(module).__name__
    raise TapeError(
        f"{name}(x, ...): x is untraced (inference: forward) but {which} is traced; trace x too for a training "
        "step (x.trace(grads): forward_mut), or pass the other tensors detached (t.detach()) for inference"
    )
