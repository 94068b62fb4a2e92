"""What a module's declared attributes accept once the module is built.

A module declares its tensors (``param_names``, ``buffer_names``), its architecture
(``structure_names``), its hyper-parameters (``hparam_names``) and its run options (``option_names``).
``Module.__setattr__`` sends every assignment made after the constructor returned through
:func:`checked`, so that nothing a layer reads can be replaced by something it cannot read, and no
assignment is silently ignored:

* a parameter or buffer takes an untraced, writeable Tensor of the shape and dtype the layer reads
  (``Module._field_spec``) that shares no memory with the module's other tensors, or None where the
  layer does without it (``optional_names``); a counter takes an int >= 0;
* a structural setting, and ``dtype``, are fixed: they decide which tensors exist and their shapes, so
  a new module is built instead (``to_dtype`` converts a model);
* a hyper-parameter or option is validated by the module (``Module._check_setting``; BatchNorm runs
  its constructor's checks) and takes effect at the next call;
* a constructor argument the module does not keep (``seed``), and a read-only property, are refused
  instead of being stored as an attribute that nothing reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .. import extend as ext
from .._errors import DTypeError, ShapeError, TapeError, TypedTensorError
from .._tensor import Tensor

if TYPE_CHECKING:
    from ._module import Module

__all__ = ["check_fields", "checked", "fits", "refuse_deletion"]

_INT64_MAX = int(np.iinfo(np.int64).max)


def checked(module: Module, name: str, value: object) -> object:
    """The value to store for ``module.name = value`` after construction, or a TypedTensorError."""
    cls = type(module)
    if name in cls.param_names or name in cls.buffer_names:
        spec = module._field_spec(name)
        if spec is None:  # built without it: the layer never reads it
            if value is None:
                return None
            raise TypedTensorError(
                f"{_where(module, name)} is None: this {cls.__name__} was built without it, and the layer never "
                f"reads it{_flag(module, name, '; build the module with {}=True')}"
            )
        if spec is int:
            return _counter(module, name, value)
        assert not isinstance(spec, type)
        return _tensor(module, name, value, spec)
    alias = cls.torch_names.get(name)
    if alias is not None:  # (a declared field of that name is handled above)
        raise TypedTensorError(
            f"{_where(module, name)} is PyTorch's name for {alias}, which {cls.__name__} calls {alias}: assigning "
            f"{name} would create an attribute that nothing reads; assign .{alias} instead"
        )
    if name in cls.structure_names or (name == "dtype" and "dtype" in module.__dict__):
        raise TypedTensorError(f"{_where(module, name)} is fixed when the module is built: {_fixed_hint(module, name)}")
    if name in cls.hparam_names or name in cls.option_names:
        try:
            return module._check_setting(name, value)
        except TypedTensorError as e:
            raise type(e)(f"{_where(module, name)} = {value!r} is refused: {e}") from None
    if name not in module.__dict__:
        attr = getattr(cls, name, None)
        if isinstance(attr, property) and attr.fset is None:
            raise TypedTensorError(f"{_where(module, name)} is read-only{_hint(module, name, '; ')}")
        if name in cls._tt_init_args:
            raise TypedTensorError(
                f"{cls.__name__} does not keep its constructor argument {name!r}, so assigning it would change "
                f"nothing; {_hint(module, name) or f'pass {name}=... when building the module'}"
            )
    return value


def check_fields(module: Module) -> None:
    """Refuse (as an assignment would be) any parameter or buffer the layer cannot read.

    For a forward pass whose quick check failed: only a write that bypassed ``__setattr__`` (into the
    instance's ``__dict__``) can leave such a field behind.
    """
    cls = type(module)
    for name in (*cls.param_names, *cls.buffer_names):
        value, spec = module.__dict__.get(name), module._field_spec(name)
        where = _where(module, name)
        if spec is None and value is not None:
            raise TypedTensorError(
                f"{where} is set, but this {cls.__name__} was built without it (a write into the module's __dict__ "
                f"got around the checks), so the layer would change what it computes; set it back to None"
                f"{_flag(module, name, ', or build the module with {}=True')}"
            )
        if spec is not None and value is None and name not in cls.optional_names:
            built = _flag(module, name, f" (this {cls.__name__} was built with {{}}=True)")
            raise TypedTensorError(
                f"{where} is None, but the layer reads it{built}: a write into the module's __dict__ got around "
                f"the checks; assign {_wanted(spec)}"
            )
        checked(module, name, value)


def _wanted(spec: object) -> str:
    """What a field of ``spec`` takes, for messages."""
    if spec is int:
        return "an int >= 0 (a count of training steps)"
    shape, dtype = cast("tuple[tuple[int, ...], np.dtype[Any]]", spec)
    return f"a Tensor of shape {shape} and dtype {dtype.name}"


def fits(value: object, shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
    """Whether ``value`` is a tensor of ``shape`` and ``dtype``: a layer's quick test of a field it is about
    to read (on failure, :func:`check_fields` names the field)."""
    if not isinstance(value, Tensor):
        return False
    tensor: Tensor[Any, Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
    held = ext.data(tensor)
    return held.shape == shape and held.dtype == dtype


def refuse_deletion(module: Module, name: str) -> None:
    """``del module.name`` of a declared attribute: refused (the layer reads it)."""
    cls = type(module)
    declared = (*cls.param_names, *cls.buffer_names, *cls.structure_names, *cls.hparam_names, *cls.option_names)
    if name in declared or name == "dtype":
        raise TypedTensorError(
            f"{_where(module, name)} cannot be deleted: the module reads it; assign a new value instead"
        )


def _where(module: Module, name: str) -> str:
    return f"{type(module).__name__}.{name}"


def _hint(module: Module, name: str, prefix: str = "") -> str:
    hint = module._setting_hints.get(name)
    return f"{prefix}{hint}" if hint else ""


def _flag(module: Module, name: str, template: str) -> str:
    """``template`` filled with the constructor flag that creates the tensor ``name`` (or '')."""
    flag = module._field_flags.get(name)
    return template.format(flag) if flag else ""


def _fixed_hint(module: Module, name: str) -> str:
    hint = module._setting_hints.get(name)
    if hint:
        return hint
    if name == "dtype":
        return "convert a model with model.to_dtype(np.float64) (a converted copy), or build the module with dtype=..."
    return (
        f"build a new {type(module).__name__} with {name}=... (and copy the tensors that keep their shapes with "
        "new.load_state_dict(old.state_dict(), strict=False))"
    )


def _counter(module: Module, name: str, value: object) -> int:
    """An int buffer (a count of training steps): an int >= 0."""
    return ext.options.count(value, _where(module, name), why="a count of training steps", maximum=_INT64_MAX)


def _tensor(module: Module, name: str, value: object, spec: tuple[tuple[int, ...], np.dtype[Any]]) -> object:
    """A parameter or tensor buffer: see the module docstring."""
    cls = type(module)
    where = _where(module, name)
    if value is None:
        if name in cls.optional_names:
            return None
        fix = _flag(module, name, "build the module without it ({}=False)") or f"assign {_wanted(spec)}"
        raise TypedTensorError(f"{where} cannot be set to None: the layer reads it; {fix}")
    shape, dtype = spec
    wanted = _wanted(spec)
    if not isinstance(value, Tensor):
        raise TypedTensorError(
            f"{where} must be {wanted}, got {type(value).__name__}; wrap an array with tt.tensor(array) (a copy), "
            f"or load values with load_state_dict({{{name!r}: array}}, strict=False)"
        )
    t: Tensor[Any, Any, Any] = cast("Any", value)
    data = ext.data(t)
    if data.shape != shape:
        raise ShapeError(
            f"{where} must be {wanted} (the shape the layer reads), got shape {data.shape}; assign a tensor of "
            f"shape {shape} or change the values in place with load_state_dict({{{name!r}: array}}, strict=False); "
            f"a layer of another size is a new module: build a new {cls.__name__} with the size you want"
        )
    if data.dtype != dtype:
        raise DTypeError(
            f"{where} must be {wanted} (the module's dtype), got dtype {data.dtype.name}; "
            f"{ext.astype_advice('the tensor', dtype, model=True)}"
        )
    if t.traced:
        raise TapeError(
            f"{where} must be an untraced (NoneTape) tensor, got a traced one; assign tt.tensor(t) (an untraced copy)"
        )
    if not data.flags.writeable:
        raise TypedTensorError(
            f"{where}: the tensor's buffer is read-only (a broadcast or other read-only view), but the module's "
            "tensors are updated in place; assign tt.tensor(t) (a writeable copy)"
        )
    try:
        module._check_state(name, name, data)  # what loading refuses too (BatchNorm: negative variances)
    except TypedTensorError as e:
        raise type(e)(f"{where}: {e}") from None
    for other in (*cls.param_names, *cls.buffer_names):
        held: object = module.__dict__.get(other)
        if other != name and isinstance(held, Tensor) and np.may_share_memory(ext.data(held), data):  # pyright: ignore[reportUnknownArgumentType]
            raise TypedTensorError(
                f"{where}: the tensor shares memory with {other} of the same module, so changing one would change "
                "the other; assign a separate tensor (tt.tensor(t) copies)"
            )
    return t
