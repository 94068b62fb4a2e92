"""``Module``: the base class of layers: dims bound from the instance, and one walk of the tree.

A module generic in a dim (``class Scale(Module, Generic[C])``) names, in ``dim_attrs``, the
attribute that holds each dim's value for one instance (``dim_attrs = {"C": "channels"}``). Every public method of a subclass is
run-time checked with those dims bound before the call, so ``forward(x: Tensor[tuple[B, C], ...])``
rejects an ``x`` whose channel count differs from the instance's, exactly as mypy and pyright reject
it statically. An explicit type application that disagrees with the constructor
(``Scale[Literal[3]](5)``) is reported at the first checked call.

A module declares its trainable tensors in ``param_names`` and its saved, untrained state (running
statistics, counters) in ``buffer_names``; attributes holding modules, or lists/tuples of modules,
are its children. ``named_parameters``, ``named_buffers``, ``state_dict``, ``load_state_dict``,
``alloc_grads``, ``zero_grads``, ``reset_params``, ``to_dtype``, ``ema`` and the repr are all built on
that one walk, with dotted names (``blocks.0.bn.running_var``); the state goes through ``_walk.state``,
which yields a tied tensor (one layer or tensor under two names) once, with all its names. So are the checkpoint files
(``save_npz``/``load_npz``, ``save_safetensors``/``load_safetensors``: the loading in ``_checkpoint`` and
``_staging``, the file formats in ``_io/``), which also record ``hparam_names`` (restored when loading) and
``structure_names`` (which must match).

Every module has ``forward`` (untraced ``NoneTape`` input: inference) and ``forward_mut`` (traced
``OwnedTape`` input: training). Layers that behave the same in both accept either tape in both (one
method: ``forward_mut = forward``); layers that differ (BatchNorm, Dropout) accept only the right one,
statically and at run time.

``module(x)`` calls ``forward`` when x is untraced and ``forward_mut`` when it is traced (``_call``: the
first positional argument decides, or with none the first tensor passed by keyword; the method called
keeps all its run-time checks). The type checkers
see the ``__call__`` each class declares under ``TYPE_CHECKING``: ``__call__ = forward`` for a layer
that behaves the same in both modes, the overloads of ``forward`` then those of ``forward_mut``
otherwise. No checker can derive that type from ``forward``/``forward_mut`` for every subclass (mypy
solves no self-type protocol against a generic method), so this base class declares none: calling a
module class that declares no ``__call__`` is a static error ("not callable"), never a silent ``Any``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._convert import converted
from .._errors import CheckError, ShapeError, TypedTensorError
from .._tensor import Gradients, Tensor
from . import _call, _fields, _staging, _walk
from ._io._report import LoadReport, Naming
from ._spatial import SameSize

#: What a parameter or buffer may hold: a tensor's (shape, dtype), ``int`` (a counter), or None (nothing).
FieldSpec = tuple[tuple[int, ...], np.dtype[Any]] | type[int] | None

__all__ = ["Module"]


class Module:
    """Base class of typedtensor layers (see the module docstring for dim binding)."""

    #: For each of the class's dim TypeVars (by name), the attribute holding its value.
    dim_attrs: ClassVar[Mapping[str, str]] = {}

    #: Attributes holding trainable tensors (None where disabled).
    param_names: ClassVar[tuple[str, ...]] = ()
    #: Attributes holding saved state that is not trained: tensors, or ints such as counters.
    buffer_names: ClassVar[tuple[str, ...]] = ()
    #: PyTorch's name for an attribute, where it differs (``{"weight": "scale"}``).
    torch_names: ClassVar[Mapping[str, str]] = {}
    #: Hyper-parameters that change no tensor's shape (``eps``, ``momentum``): written into checkpoint
    #: files and restored from them (validated by ``_check_hparams`` first).
    hparam_names: ClassVar[tuple[str, ...]] = ()
    #: Settings that fix the architecture (``in_features``, ``stride``): written into checkpoint files,
    #: and a file whose value differs is refused. Fixed once the module is built (assigning one is refused).
    structure_names: ClassVar[tuple[str, ...]] = ()
    #: Run options that are not saved (BatchNorm's ``freeze``, ``inplace``): may be changed after
    #: construction, validated by ``_check_setting`` (as hyper-parameters are).
    option_names: ClassVar[tuple[str, ...]] = ()
    #: Parameters the layer can do without (Linear's ``bias``): assigning None removes one, and a tensor of
    #: the shape ``_field_spec`` gives adds one.
    optional_names: ClassVar[tuple[str, ...]] = ()
    #: The constructor flag that creates a parameter or buffer (``{"scale": "affine"}``), for messages.
    _field_flags: ClassVar[Mapping[str, str]] = {}
    #: How to get another value of a fixed setting, constructor-only argument or read-only property.
    _setting_hints: ClassVar[Mapping[str, str]] = {}
    #: The constructor's argument names (an assignment to one the module does not keep is refused).
    _tt_init_args: ClassVar[frozenset[str]] = frozenset()
    #: Methods (defined on the class or inherited) whose failed run-time argument check is handed to
    #: ``_refused`` before it is raised, as their own input checks do (SyncBatchNorm's ``forward_mut``).
    _tt_refusing: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", _building(init))  # noqa: B010 (mypy refuses assigning to a method)
        signature = inspect.signature(cls.__init__)
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        cls._tt_init_args = frozenset(n for n, p in list(signature.parameters.items())[1:] if p.kind in named)
        ext.install_checks(cls, _module_bindings, refusing=cls._tt_refusing, refuse=_refuse_call)

    # ---- assignments after construction (see _fields) ------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        if "_tt_building" not in self.__dict__:
            value = _fields.checked(self, name, value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _fields.refuse_deletion(self, name)
        object.__delattr__(self, name)

    if not TYPE_CHECKING:  # (each class declares its own static __call__: see the module docstring)

        def __call__(self, *args, **kwargs):
            """``forward(*args, **kwargs)`` for an untraced first argument, ``forward_mut`` for a traced one."""
            x = args[0] if args else _call.keyword_input(self, kwargs)
            if isinstance(x, Tensor):
                if x.traced:
                    return _call.method(self, True)(*args, **kwargs)
                if len(args) > 1 or kwargs:
                    _call.refuse_mixed(self, args, kwargs)
                return _call.method(self, False)(*args, **kwargs)
            raise _call.refuse_input(self, args)

    def _refused(self, error: TypedTensorError) -> None:
        """A call of a method named in ``_tt_refusing`` was refused before it changed anything (``error`` is
        about to be raised); this default does nothing. A layer whose call is part of a collective joins it
        here, so that the other processes do not wait for it (and may raise a shared error instead)."""

    def _field_spec(self, name: str) -> FieldSpec:
        """What the parameter or buffer ``name`` may hold: (shape, dtype) of a tensor, ``int`` for a counter,
        or None when the module was built without it.

        This default describes the current value; layers whose kernels read a field state the shape they
        read (and give a spec for their optional fields).
        """
        current = self.__dict__.get(name)
        if isinstance(current, Tensor):
            data: NDArray[Any] = ext.data(current)  # pyright: ignore[reportUnknownArgumentType]
            return data.shape, data.dtype
        if isinstance(current, int) and not isinstance(current, bool):
            return int
        return None

    def _check_setting(self, name: str, value: object) -> object:
        """Validate a new value of a hyper-parameter or option (raise TypedTensorError); returns what to store.

        This default runs ``_check_hparams`` for a hyper-parameter and requires an option to keep the
        type of its current value; BatchNorm runs its constructor's checks.
        """
        if name in self.hparam_names:
            self._check_hparams({**{n: getattr(self, n) for n in self.hparam_names}, name: value})
            return value
        current = getattr(self, name)
        if current is not None and type(value) is not type(current):
            raise TypedTensorError(f"{type(self).__name__}.{name} must be a {type(current).__name__}, got {value!r}")
        return value

    def _typed_dims(self) -> dict[object, Any]:
        """The module-level dims of this instance, keyed by TypeVar.

        A dim named in ``dim_attrs`` binds the TypeVar of that name in every generic ancestor, and
        follows subclassing: ``class Sub(Base[D])`` binds D too, and ``class Three(Base[Literal[3]])``
        checks that the instance's value is 3.
        """
        cls = type(self)
        values: dict[object, Any] = {}
        for klass in cls.__mro__:
            for p in getattr(klass, "__parameters__", ()):
                attr = self.dim_attrs.get(getattr(p, "__name__", ""))
                if attr is not None:
                    if not hasattr(self, attr):
                        raise TypedTensorError(f"{cls.__name__}.dim_attrs names {attr!r}, which the instance lacks")
                    values[p] = getattr(self, attr)
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                origin = typing.get_origin(base)
                for param, arg in zip(getattr(origin, "__parameters__", ()), typing.get_args(base), strict=False):
                    if param in values:
                        _bind_alias(cls.__name__, param, arg, values)
        return values

    # ---- the tree walk ------------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, with dotted names ('' for this one)."""
        yield prefix, self
        for name, child in _children(self):
            yield from child.named_modules(_walk.join(prefix, name))

    def named_parameters(self) -> Iterator[tuple[str, Tensor[Any, Any, Any]]]:
        """Every trainable tensor of the tree once, with its dotted name (disabled ones skipped).

        A tied tensor (reachable under several names) comes once, under its first name, as in PyTorch.
        """
        for entry in _walk.state(self):
            if entry.param:
                yield entry.name, cast("Tensor[Any, Any, Any]", entry.value)

    def named_buffers(self) -> Iterator[tuple[str, Tensor[Any, Any, Any] | int]]:
        """Every buffer of the tree once (running statistics, counters), with its dotted name."""
        for entry in _walk.state(self):
            if not entry.param:
                yield entry.name, entry.value

    def num_trainable_params(self) -> int:
        """How many trainable scalars the tree holds."""
        return sum(ext.data(t).size for _, t in self.named_parameters())

    def alloc_grads(self) -> Gradients:
        """A Gradients keeping (and accumulating) the gradient of every parameter."""
        grads = Gradients()
        for _, t in self.named_parameters():
            grads.alloc(t)
        return grads

    def zero_grads(self, grads: Gradients) -> None:
        """Set the stored gradient of every parameter of the tree to zero (in place)."""
        for _, t in self.named_parameters():
            g = ext.grad_array(grads, t)
            if g is not None:
                g[...] = 0

    def reset_params(self, seed: int | None = None) -> None:
        """Re-initialise every parameter (each layer's default init) from one seeded generator.

        Buffers are reset too (running statistics to mean 0, variance 1). Tensors keep their
        identity, so a Gradients allocated before stays valid.
        """
        rng = np.random.default_rng(ext.options.seed(seed, "reset_params"))
        seen: set[int] = set()
        for _, module in self.named_modules():
            if id(module) not in seen:  # a layer tied under two names is reset once
                seen.add(id(module))
                module._reset(rng)

    def _reset(self, rng: np.random.Generator) -> None:
        """This module's own initialisation (not its children's); layers with state override it."""

    def to_dtype(self, dtype: type[Any]) -> Self:
        """A copy of the tree whose parameters and float buffers have the float dtype ``dtype``.

        A finite value that ``dtype`` cannot hold (1e6 in float16) is a DTypeError, as when loading;
        ``self`` is left as it was.

        The copy's tensors are new: allocate a new Gradients (``alloc_grads()``) and optimizer for it.
        """
        dt = ext.float_dtype(dtype, "to_dtype")
        clone = copy.deepcopy(self)  # (keeps tied tensors tied: deepcopy copies a shared object once)
        for entry in _walk.state(clone):
            value = entry.value
            if isinstance(value, Tensor):
                # as loading does, a finite value too large for dtype is refused, not turned into inf
                new = ext.wrap(converted(ext.data(value), dt, f"to_dtype: {entry.name!r}"))
                for module, attr in entry.places:  # one new tensor in every place: still tied
                    # into __dict__: __setattr__ refuses a tensor of another dtype
                    module.__dict__[attr] = new
        for _, module in clone.named_modules():
            if isinstance(getattr(module, "dtype", None), np.dtype):
                module.__dict__["dtype"] = dt
        return clone

    def ema(self, other: Self, decay: float) -> None:
        """Exponential moving average of parameters: ``p = decay * p + (1 - decay) * other.p``.

        Parameters only: running statistics and counters are left alone (as dfdx). ``other`` must
        have the same structure (names and shapes).
        """
        d = ext.options.unit(decay, "decay", "ema")
        pairs = _paired(self, other, "ema")
        for mine, theirs in pairs:
            values = ext.data_mut(mine)
            values *= d
            values += (1.0 - d) * ext.data(theirs)

    def extra_repr(self) -> str:
        """The module's own settings, shown inside its repr (``'1, 16, kernel_size=(3, 3)'``)."""
        return ""

    def __repr__(self) -> str:
        children = list(_children(self))
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"

    def state_dict(self) -> dict[str, NDArray[Any]]:
        """Parameters and buffers as fresh C-contiguous arrays, by dotted name.

        A tied tensor is listed under each of its names, as one array (PyTorch's keys share a storage).
        """
        out: dict[str, NDArray[Any]] = {}
        entries = _walk.state(self)
        for entry in (*(e for e in entries if e.param), *(e for e in entries if not e.param)):
            b = entry.value
            arr = np.array(b, dtype=np.int64) if isinstance(b, int) else np.array(ext.data(b), order="C", copy=True)
            for name in entry.names:
                out[name] = arr
        return out

    def load_state_dict(
        self, mapping: Mapping[str, NDArray[Any]], strict: bool = True, naming: Naming = "typedtensor"
    ) -> None:
        """Load parameters and buffers, validated first and then applied all at once.

        Each value must have the shape of the tensor it replaces and a float dtype (cast to the
        module's) or, for counters, an integer scalar. ``strict`` also refuses missing and unexpected
        keys. ``naming="torch"`` accepts PyTorch's names (``weight`` for ``scale``...).
        """
        if naming not in ("typedtensor", "torch"):
            raise TypedTensorError(f"load_state_dict: naming must be 'typedtensor' or 'torch', got {naming!r}")
        if not isinstance(cast("object", mapping), Mapping):
            raise TypedTensorError(f"load_state_dict needs a mapping of names to arrays, got {type(mapping).__name__}")
        staged, _, _ = _staging.stage(self, mapping, strict=strict, naming=naming)
        _staging.apply_state(staged)

    # ---- checkpoint files (_checkpoint, on the formats in _io/: loaded on first use) ---------------

    def save_npz(self, path: str | os.PathLike[str], *, naming: Naming = "typedtensor") -> None:
        """Write parameters, buffers and hyper-parameters to an ``.npz`` file, atomically.

        Keys are dotted names (``naming="torch"``: PyTorch's). The file is written to a temporary file
        in the same directory, flushed and fsynced, then renamed over ``path``: a failure leaves a
        previous file unchanged. Read it back with ``load_npz`` (or ``numpy.load``).
        """
        from . import _checkpoint

        _checkpoint.save_npz(self, path, naming=naming)

    def load_npz(
        self,
        path: str | os.PathLike[str],
        *,
        naming: Naming = "typedtensor",
        strict: bool = True,
        cast: bool = False,
        check_finite: bool = True,
        max_bytes: int | None = None,
    ) -> LoadReport:
        """Load an ``.npz`` checkpoint: everything validated first, then applied all at once.

        ``strict`` refuses missing and unexpected keys (``strict=False`` reports them); ``cast``
        converts another float dtype to the module's (else an error); ``check_finite`` refuses NaN and
        infinities; ``max_bytes`` (default: 1 GiB or twice the module's size, the larger) bounds the
        decompressed size, checked before anything is read. Hyper-parameters in the file are restored;
        structural settings must match. Any problem raises a ``TypedTensorError`` and leaves the module
        as it was.
        """
        from . import _checkpoint

        return _checkpoint.load_npz(
            self, path, naming=naming, strict=strict, cast=cast, check_finite=check_finite, max_bytes=max_bytes
        )

    def save_safetensors(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, str] | None = None,
        *,
        naming: Naming = "typedtensor",
    ) -> None:
        """Write parameters and buffers to a ``.safetensors`` file, atomically (as ``save_npz``).

        The header's string metadata holds the typedtensor version, the module's class, its
        hyper-parameters and ``metadata`` (keys must not start with ``typedtensor.``). With
        ``naming="torch"`` the file loads into PyTorch with ``safetensors.torch.load_file`` and
        ``load_state_dict``. Needs the ``safetensors`` package (``pip install 'typedtensor[io]'``).
        """
        from . import _checkpoint

        _checkpoint.save_safetensors(self, path, metadata, naming=naming)

    def load_safetensors(
        self,
        path: str | os.PathLike[str],
        *,
        naming: Naming = "typedtensor",
        strict: bool = True,
        cast: bool = False,
        check_finite: bool = True,
        max_bytes: int | None = None,
    ) -> LoadReport:
        """Load a ``.safetensors`` checkpoint (also one written by PyTorch): as ``load_npz``.

        ``max_bytes`` bounds the file's size. The returned report holds the file's metadata.
        """
        from . import _checkpoint

        return _checkpoint.load_safetensors(
            self, path, naming=naming, strict=strict, cast=cast, check_finite=check_finite, max_bytes=max_bytes
        )

    # ---- hooks of the loading (_staging, _checkpoint) ------------------------------------------------

    def _check_declared_dims(self) -> None:
        """Refuse an explicit type application that disagrees with this module's sizes
        (``Linear[L[3], L[5]](4, 5)``), as a checked call's first binding does, caching nothing."""
        _check_type_application(self, dict(self._typed_dims()))

    def _check_state(self, attr: str, key: str, value: object) -> None:
        """Module-specific validation of a value about to be loaded (raise TypedTensorError to refuse)."""

    def _check_hparams(self, values: Mapping[str, object]) -> None:
        """Refuse (raise TypedTensorError) hyper-parameters about to be restored from a checkpoint.

        ``values`` has every name of ``hparam_names``: the file's value where it has one, else the
        current one. This default accepts values of the current values' types; a module whose
        hyper-parameters have ranges overrides it (BatchNorm builds a probe module from them).
        """
        for name, value in values.items():
            current = getattr(self, name)
            if current is not None and type(value) is not type(current):
                raise TypedTensorError(
                    f"{type(self).__name__}.{name} must be a {type(current).__name__}, got {value!r}"
                )

    def _torch_names_inverse(self) -> dict[str, str]:
        """Our attribute name -> PyTorch's name."""
        return {ours: theirs for theirs, ours in self.torch_names.items()}


def _building(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` marking the instance as under construction while it runs (nested super() calls too)."""

    @functools.wraps(init)
    def __init__(self: Module, *args: Any, **kwargs: Any) -> None:
        state = self.__dict__
        depth: int = state.get("_tt_building", 0)
        state["_tt_building"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                state["_tt_building"] = depth
            else:
                del state["_tt_building"]

    return __init__


def _children(module: Module) -> Iterator[tuple[str, Module]]:
    """Direct sub-modules, with their attribute names (``blocks.0`` for list items)."""
    for name, value in vars(module).items():
        if isinstance(value, Module):
            yield name, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(typing.cast("list[object]", value)):
                if isinstance(item, Module):
                    yield f"{name}.{i}", item


def _paired(a: Module, b: Module, where: str) -> list[tuple[Tensor[Any, Any, Any], Tensor[Any, Any, Any]]]:
    """The parameters of two same-structured trees, in pairs; refuses trees that differ."""
    if not isinstance(cast("object", b), Module):
        raise TypedTensorError(f"{where}: expected a Module, got {type(b).__name__}")
    mine, theirs = dict(a.named_parameters()), dict(b.named_parameters())
    if mine.keys() != theirs.keys():
        raise TypedTensorError(
            f"{where}: the modules have different parameters: only in self {sorted(mine.keys() - theirs.keys())}, "
            f"only in other {sorted(theirs.keys() - mine.keys())}; pass a module of the same architecture"
        )
    for name, t in mine.items():
        o = theirs[name]
        if ext.data(t).shape != ext.data(o).shape:
            raise ShapeError(f"{where}: {name!r} has shape {ext.data(t).shape} here and {ext.data(o).shape} in other")
    return [(t, theirs[name]) for name, t in mine.items()]


def _bind_alias(name: str, param: object, arg: object, values: dict[object, Any]) -> None:
    """``param`` of a base class is specialised to ``arg`` (a TypeVar, or a Literal to check)."""
    if isinstance(arg, typing.TypeVar):
        values.setdefault(arg, values[param])
    elif typing.get_origin(arg) is Literal:
        (want,) = typing.get_args(arg)
        if values[param] != want:
            raise CheckError(
                f"{name} fixes {getattr(param, '__name__', param)} = {want} but this instance was built with "
                f"{values[param]}; build it with {want}"
            )


def _refuse_call(self: Module, error: CheckError) -> None:
    self._refused(error)


def _module_bindings(self: Module) -> dict[object, Any]:
    dims = self.__dict__.get("_tt_dims")
    if dims is None:
        dims = dict(self._typed_dims())
        _check_type_application(self, dims)
        self.__dict__["_tt_dims"] = dims
    return dict(dims)


def _check_type_application(self: Module, dims: dict[object, Any]) -> None:
    alias = self.__dict__.get("__orig_class__")
    if alias is None:
        return
    params: tuple[object, ...] = getattr(typing.get_origin(alias), "__parameters__", ())
    for param, arg in zip(params, typing.get_args(alias), strict=False):
        if arg is SameSize and not cast("Any", self)._keeps_size():  # a claim the checkers take on trust
            settings = inspect.unwrap(type(self).extra_repr)(self)  # (the checked method would come back here)
            raise CheckError(
                f"{type(self).__name__}[..., SameSize] declares that the layer keeps the input's height and width, "
                f"but it was built as {type(self).__name__}({settings}); build it with stride 1 and a "
                "padding that keeps the size, or drop the SameSize type argument"
            )
        if typing.get_origin(arg) is typing.Literal and param in dims:
            (want,) = typing.get_args(arg)
            if dims[param] != want:
                name = type(self).__name__
                raise CheckError(
                    f"{name}[...] declares {getattr(param, '__name__', param)} = {want} but this instance was "
                    f"built with {dims[param]}; make the type argument and the constructor agree"
                )
