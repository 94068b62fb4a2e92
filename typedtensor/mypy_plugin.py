"""typedtensor's mypy plugin: Literal dims computed at call sites (``plugins = ["typedtensor.mypy_plugin"]``).

Where every input dim is a ``Literal``, the plugin computes the output's dims that the declared
signatures can only type ``int`` or ``tuple[Any, ...]``; where one is not (a TypeVar, ``int``), it
keeps what the declared types give, and ``int`` where a dim would have to be computed from it.

Design:
- Hooks only refine the type mypy inferred from the declared signature (``default_return_type``); a
  refined type is used only if the call's type context accepts it (``fits_context``), so the plugin
  never turns code that type-checks without it into an error: ``a: Tensor[tuple[int, int], ...] =
  tt.zeros((2, 3))`` keeps ``int``. Errors it adds are shape mistakes the run-time checks would raise
  (``tt-shape`` code), or the cause of an error mypy already reports (``arg-type``, same code).
- Layers built from literal arguments record them (see ``typedtensor._mypy.layers``): channels and
  features as the type arguments, window options (kernel, stride, padding, dilation) on the instance
  type as mypy extra attributes, read back by ``forward``/``forward_mut``. groups changes no output dim.
- Methods are found by the class that defines them (a user subclass of ``Conv2D`` keeps the hooks).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mypy.nodes import TypeInfo
from mypy.options import Options
from mypy.plugin import FunctionContext, MethodContext, MethodSigContext, Plugin
from mypy.types import FunctionLike, Type

from typedtensor._mypy import create, layers, ops

_FUNCTIONS: dict[str, Callable[[FunctionContext], Type]] = {
    "typedtensor._create.zeros": create.constructor,
    "typedtensor._create.ones": create.constructor,
    "typedtensor._create.full": create.constructor,
    "typedtensor._create.randn": create.constructor,
    layers.LINEAR: layers.linear_new,
    layers.CONV: layers.conv_new,
    **{name: layers.batchnorm_new for name in (*layers.BATCHNORM, *layers.SYNC_BATCHNORM)},
    layers.MAX_POOL: layers.pool_new,
    layers.AVG_POOL: layers.pool_new,
    "typedtensor._functional.concat": ops.concat,
    "typedtensor._functional.stack": ops.stack,
}

_PRODUCERS = {layers.FLATTEN: "Flatten"}

_METHODS: dict[str, Callable[[MethodContext], Type]] = {
    **{f"{layers.CONV}.{m}": partial(layers.conv_forward, producers=_PRODUCERS) for m in ("forward", "forward_mut")},
    **{f"typedtensor.nn._pool._WindowPool.{m}": layers.window_forward for m in ("forward", "forward_mut")},
    **{f"{layers.FLATTEN}.{m}": layers.flatten_forward for m in ("forward", "forward_mut")},
    **{
        f"{cls}.{m}": partial(layers.checked_forward, position=position, producers=_PRODUCERS)
        for cls, position in ((layers.LINEAR, -1), *layers.BATCHNORM.items())
        for m in ("forward", "forward_mut")
    },
    "typedtensor._tensor.Tensor.reshape": ops.reshape,
    "typedtensor._tensor.Tensor.broadcast_to": ops.broadcast_to,
    "typedtensor._tensor.Tensor.permute": ops.permute,
    "typedtensor._tensor.Tensor.var": ops.reduce,
    "typedtensor._tensor._Reducer.__call__": ops.reduce,  # sum, mean, max, min, any, all
    "typedtensor._tensor.Tensor.__getitem__": ops.getitem,
}


_SIGNATURES: dict[str, Callable[[MethodSigContext], FunctionLike]] = {
    f"{cls}.{m}": layers.relax
    for cls in (layers.CONV, layers.LINEAR, *layers.BATCHNORM)
    for m in ("forward", "forward_mut")
}


class TypedTensorPlugin(Plugin):
    """Dispatches the calls of typedtensor's constructors, layers and shape ops to their hooks."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._resolved: dict[str, str] = {}

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        return _FUNCTIONS.get(fullname)

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return _METHODS.get(self._defining(fullname))

    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        return _SIGNATURES.get(self._defining(fullname))

    def _defining(self, fullname: str) -> str:
        """The name of the method as defined (``MaxPool2D.forward`` is ``_WindowPool.forward``)."""
        found = self._resolved.get(fullname)
        if found is None:
            found = self._resolved[fullname] = self._lookup(fullname)
        return found

    def _lookup(self, fullname: str) -> str:
        owner, _, name = fullname.rpartition(".")
        if fullname in _METHODS or not owner:
            return fullname
        node = self.lookup_fully_qualified(owner)
        if node is None or not isinstance(node.node, TypeInfo):
            return fullname
        for info in node.node.mro:
            if name in info.names:
                return f"{info.fullname}.{name}"
        return fullname


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class (any mypy version with the plugin API of 1.x/2.x)."""
    return TypedTensorPlugin
