"""typedtensor's mypy plugin: Literal dims computed at call sites (``plugins = ["typedtensor.mypy_plugin"]``).

Where every input dim is a ``Literal``, the plugin computes the output dims that the declared
signatures can only type ``int`` or ``tuple[Any, ...]``; where one is not (a TypeVar, ``int``), it
keeps what the declared types give, and ``int`` where a dim would have to be computed from it.

What it computes: ``zeros``/``ones``/``full``/``randn`` shapes without an annotated target; the type
arguments of ``Linear``, ``Conv2D`` and the BatchNorm layers from literal constructor arguments;
``Conv2D`` and ``MaxPool2D``/``AvgPool2D`` output H and W, ``(L + 2*P - D*(K-1) - 1)//S + 1``, rounded up
for a pool's literal ``ceil_mode=True`` less PyTorch's dropped last window (any H, even a TypeVar, is kept by
a stride-1 window whose padding keeps the size: ``"same"``, kernel 3 / padding 1, ...); ``Flatten`` (the product); ``reshape`` (one ``-1`` solved), ``broadcast_to``,
``permute`` and ``transpose(dim0, dim1)`` at any rank, ``squeeze``/``unsqueeze`` on a literal axis, the reductions over an int or a tuple of axes
with keepdims, basic indexing with literal ints, slices, ``None`` and ``...``, ``concat``/``stack`` on any
axis; ``@`` with broadcast batch dims (``typedtensor._mypy.matmul``). ``GlobalAvgPool2D`` and ``transpose()`` need nothing: their declared
signatures are exact for every rank the run time accepts.

Design:
- Hooks only refine the type mypy inferred from the declared signature (``default_return_type``),
  and a refined type yields to its context (``dims.refined``): where an annotated target, a
  parameter or a return type asks for ``int`` dims, the computed Literal dims become ``int`` there,
  so the plugin never turns code that type-checks without it into an error. In the parameter of a
  generic function of the user's, whose type variables mypy is still solving, a computed dim where
  the parameter has a type variable is ``Any`` (``dims._unsolved``): another argument typed ``int``
  would contradict it (``pair(tt.zeros((2, 3)), tt.zeros((n, 5)))``, ``B`` in both parameters), so
  the type variable comes from the other arguments (or is ``Any``); typedtensor's own generic
  signatures keep the computed dims, their hooks and the tests are written for them.
- typedtensor's other functions and methods (activations, elementwise ops, ``+``) get the same yielding
  (``_yielding``, ``_yielding_signature``): a variable holding computed dims (``h = conv.forward(x)``,
  ``L[4]`` or ``Half[H]``) passed through one of them into an ``int`` context is accepted, as plain mypy
  (which typed ``h`` ``int``) accepts it; a shape another operand binds (``h + x``) is still checked.
  Passed straight to an ``int``-typed parameter or return of the user's, such a variable is an error,
  as a Literal-dim variable is in pyright: annotate it.
- Layers built from literal arguments record them (``typedtensor._mypy.layers``): channels and
  features as the type arguments; window options (kernel, stride, padding, dilation) on the instance
  type as mypy extra attributes (``Instance.extra_attrs``, serialized in mypy's cache, no part of
  subtyping), read back by ``forward``/``forward_mut``. ``groups`` changes no output dim. An
  annotated layer variable (``conv: Conv2D[L[3], L[16]] = ...``) has its declared type, without the
  options: its H and W stay ``int``.
- ``nn.Linear(3, 4)`` is ``Linear[Literal[3], Literal[4]]``, where plain mypy infers ``Linear[int,
  int]``: so that ``int`` features keep passing, a method signature hook makes the layer's input dim
  ``Any`` in ``forward`` and the method hook judges it (another Literal or a TypeVar is an error
  under mypy's own code, ``arg-type``; ``int`` passes).
  That relaxation applies to calls only: a bound ``forward`` used as a value (``nn.pipe(y,
  lin.forward)``, ``f = lin.forward``) has the Literal dims in its type, as with a layer typed
  ``Linear[L[3], L[4]]`` by hand, so an ``int``-typed input is an error there; annotate the layer
  (``lin: nn.Linear[int, int] = nn.Linear(3, 4)``: the plugin yields to the annotation) or type the
  tensors with their dims.
- Int arithmetic on literals in arguments is folded (``nn.Linear(32 * 8 * 8, 10)``,
  ``x.reshape((b, 16 * 5 * 5))``). Where the plugin computes a value the argument's own type does
  not hold (a folded product, a solved ``-1``), the parameter also accepts ``int``/``tuple[int,
  ...]`` (signature hooks): mypy checks ``self.fc = ...`` a second time against the attribute's
  inferred type and would otherwise refuse the argument.
- Errors: shape mistakes the run-time checks would raise, worded like them, with the code
  ``tt-shape``; where mypy already reports an error on the line, the plugin's message is a note under
  mypy's code instead (one mistake, one error, one ignore comment).
- Methods are looked up by the class that defines them (``MaxPool2D.forward`` is ``_WindowPool``'s).

Limits: a layer attribute re-assigned elsewhere with other options keeps the options of its first
assignment (the run-time checks still hold); a user subclass with its own ``__init__`` keeps its
declared types, and so does the functional API (``nn.functional.conv2d``, ``max_pool2d``: the
typing corpus pins their ``int`` dims under the plugin too); a shape error the plugin finds while mypy tries the overloads of a call (the unbatched
overload of ``Conv2D.forward``, after the batched one failed) disqualifies that overload, so mypy
reports its own error for the first overload instead (still an error, a less clear one).

Cost: importing the plugin imports mypy's modules and the stdlib only (the ``typedtensor`` package
loads its names on first use, so NumPy, beartype and the layers stay unloaded): about 10 ms once mypy
is loaded. ``python -m bench.mypy_plugin_time`` measures mypy with the plugin against mypy without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from mypy.nodes import Decorator, FuncDef, OverloadedFuncDef, TypeInfo
from mypy.options import Options
from mypy.plugin import (
    AnalyzeTypeContext,
    FunctionContext,
    FunctionSigContext,
    MethodContext,
    MethodSigContext,
    Plugin,
)
from mypy.types import FunctionLike, Type

from typedtensor import _mypy
from typedtensor._mypy import create, dims, exprs, index, layers, matmul, ops


def sources_digest(directory: Path) -> str:
    """A digest of the ``.py`` files in ``directory`` (their names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


#: mypy keys its cache on a plugin module's hash and ``__version__``: this one changes with any of the
#: plugin's parts (``typedtensor._mypy``), so results computed by other versions of them are not reused.
__version__ = sources_digest(Path(_mypy.__file__).parent)

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

#: The layer methods the plugin types: the two modes and the call (``model(x)``, which runs one of them).
_FORWARDS = ("forward", "forward_mut", "__call__")

_METHODS: dict[str, Callable[[MethodContext], Type]] = {
    **{f"{layers.CONV}.{m}": partial(layers.conv_forward, producers=_PRODUCERS) for m in _FORWARDS},
    **{f"typedtensor.nn._pool._WindowPool.{m}": layers.window_forward for m in _FORWARDS},
    **{f"{layers.FLATTEN}.{m}": layers.flatten_forward for m in _FORWARDS},
    **{
        f"{cls}.{m}": partial(layers.checked_forward, position=position, producers=_PRODUCERS)
        for cls, position in ((layers.LINEAR, -1), *layers.BATCHNORM.items())
        for m in _FORWARDS
    },
    "typedtensor._tensor.Tensor.reshape": ops.reshape,
    "typedtensor._tensor.Tensor.broadcast_to": ops.broadcast_to,
    "typedtensor._tensor.Tensor.permute": ops.permute,
    "typedtensor._tensor.Tensor.transpose": ops.transpose,
    "typedtensor._tensor.Tensor.squeeze": ops.squeeze,
    "typedtensor._tensor.Tensor.unsqueeze": ops.unsqueeze,
    "typedtensor._tensor.Tensor.var": ops.reduce,
    "typedtensor._tensor.Tensor.std": ops.reduce,
    "typedtensor._tensor._Reducer.__call__": ops.reduce,  # sum, mean, max, min, any, all
    "typedtensor._tensor.Tensor.__getitem__": ops.getitem,
    "typedtensor._tensor.Tensor.chunk": index.chunk,
    "typedtensor._tensor.Tensor.split": index.split,
    "typedtensor._tensor.Tensor.take_along_axis": index.take_along_axis,
    "typedtensor._tensor.Tensor.__matmul__": matmul.matmul,
}


_SIGNATURES: dict[str, Callable[[MethodSigContext], FunctionLike]] = {
    "typedtensor._tensor.Tensor.reshape": dims.relax_shape,
    "typedtensor._tensor.Tensor.broadcast_to": dims.relax_shape,
    "typedtensor._tensor.Tensor.__matmul__": matmul.signature,
    "typedtensor._tensor.Tensor.permute": ops.general_axes,
    "typedtensor._tensor.Tensor.transpose": ops.general_axes,
    **{f"{cls}.{m}": layers.relax for cls in (layers.CONV, layers.LINEAR, *layers.BATCHNORM) for m in _FORWARDS},
}


_CONSTRUCTOR_SIGNATURES: dict[str, Callable[[FunctionSigContext], FunctionLike]] = {
    layers.LINEAR: partial(layers.folded_arguments, names=("in_features", "out_features")),
    layers.CONV: partial(layers.folded_arguments, names=("in_channels", "out_channels")),
    **{
        name: partial(layers.folded_arguments, names=("num_features",))
        for name in (*layers.BATCHNORM, *layers.SYNC_BATCHNORM)
    },
}


def _yielding(fullname: str) -> Callable[[FunctionContext | MethodContext], Type] | None:
    """For typedtensor's other functions and methods (``ReLU.forward``, ``Tensor.__add__``, ``relu``): the
    declared result, with computed dims widened to the ``int`` its context asks for (``dims.refined``).

    Their shape-keeping signatures pass a computed dim through (``h = conv.forward(x)`` is ``L[4]``, or
    ``Half[H]`` over a TypeVar): where the result then meets an ``int`` context (``return relu.forward(h +
    s)`` in a function returning ``int`` dims), plain mypy, which typed ``h`` ``int``, accepts the code,
    and so must the plugin.
    """
    return dims.refined_default if fullname.startswith("typedtensor.") else None


def _yielding_signature(fullname: str) -> Callable[[FunctionSigContext | MethodSigContext], FunctionLike] | None:
    """For typedtensor's other functions and methods: a tensor argument with computed dims is accepted
    where the call's result meets ``int`` dims (``dims.yielding_signature``)."""
    return dims.yielding_signature if fullname.startswith("typedtensor.") else None


class TypedTensorPlugin(Plugin):
    """Dispatches the calls of typedtensor's constructors, layers and shape ops to their hooks."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self._resolved: dict[str, str] = {}
        self._constructors: dict[str, Callable[[FunctionContext], Type] | None] = {}
        self._builder = exprs.Builder(self._type_info)
        exprs.install(self._builder)
        self._exprs: dict[str, tuple[bool, bool]] = {}  # a user's callable: (return, parameters) have expressions

    def get_type_analyze_hook(self, fullname: str) -> Callable[[AnalyzeTypeContext], Type] | None:
        module, _, name = fullname.rpartition(".")
        if module == exprs.MODULE and name in exprs.ALIASES:
            return partial(exprs.analyze, name=name, builder=self._builder)
        return None

    def _type_info(self, fullname: str) -> TypeInfo | None:
        node = self.lookup_fully_qualified(fullname)
        return node.node if node is not None and isinstance(node.node, TypeInfo) else None

    def _has_exprs(self, fullname: str) -> tuple[bool, bool]:
        """Whether the return type and the parameters of the function or method ``fullname`` have dim
        expressions (``typedtensor.Half`` ...), looked up once."""
        found = self._exprs.get(fullname)
        if found is None:
            found = self._exprs[fullname] = self._lookup_exprs(fullname)
        return found

    def _lookup_exprs(self, fullname: str) -> tuple[bool, bool]:
        owner, _, name = fullname.rpartition(".")
        node = self.lookup_fully_qualified(fullname)
        target = node.node if node is not None else None
        if target is None and owner:  # a method: the class's symbol table has it
            info = self._type_info(owner)
            found = info.get(name) if info is not None else None
            target = found.node if found is not None else None
        if isinstance(target, Decorator):
            target = target.func
        if isinstance(target, FuncDef | OverloadedFuncDef) and target.type is not None:
            return exprs.signature_has_expr(target.type)
        return (False, False)

    def _expr_hook(self, fullname: str) -> Callable[[FunctionContext | MethodContext], Type] | None:
        if fullname.startswith(("builtins.", "typing.", "numpy.")) or not self._has_exprs(fullname)[0]:
            return None
        return partial(exprs.folded_return, builder=self._builder)

    def _expr_signature_hook(
        self, fullname: str
    ) -> Callable[[FunctionSigContext | MethodSigContext], FunctionLike] | None:
        if fullname.startswith(("builtins.", "typing.", "numpy.")) or not self._has_exprs(fullname)[1]:
            return None
        return partial(exprs.loosened_signature, builder=self._builder)

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        hook = _FUNCTIONS.get(fullname)
        if hook is not None or fullname.startswith(("builtins.", "typing.", "numpy.")):
            return hook
        if fullname not in self._constructors:
            self._constructors[fullname] = (
                self._inherited_constructor(fullname) or self._expr_hook(fullname) or _yielding(fullname)
            )
        return self._constructors[fullname]

    def _inherited_constructor(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        """A subclass of a typed layer that keeps its ``__init__`` (``class Stem(nn.Conv2D[...])``)."""
        node = self.lookup_fully_qualified(fullname)
        if node is None or not isinstance(node.node, TypeInfo):
            return None
        for info in node.node.mro:
            if info.fullname in _FUNCTIONS:
                return _FUNCTIONS[info.fullname]
            if "__init__" in info.names:
                return None  # its own arguments: the hooks could misread them
        return None

    def get_function_signature_hook(self, fullname: str) -> Callable[[FunctionSigContext], FunctionLike] | None:
        if fullname in _FUNCTIONS and _FUNCTIONS[fullname] is create.constructor:
            return dims.relax_shape
        return (
            _CONSTRUCTOR_SIGNATURES.get(fullname)
            or self._expr_signature_hook(fullname)
            or _yielding_signature(fullname)
        )

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        defining = self._defining(fullname)
        return _METHODS.get(defining) or self._expr_hook(defining) or _yielding(defining)

    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        defining = self._defining(fullname)
        return _SIGNATURES.get(defining) or self._expr_signature_hook(defining) or _yielding_signature(defining)

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
