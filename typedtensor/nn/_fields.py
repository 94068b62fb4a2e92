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

from .._errors import DTypeError, ShapeError, TapeError, TypedTensorError
from .._tensor import Tensor

if TYPE_CHECKING:
    from ._module import Module

__all__ = ["check_fields", "checked", "refuse_deletion"]

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
        checked(module, name, module.__dict__.get(name))


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
    number: Any = value
    if (
        isinstance(number, (bool, np.bool_))
        or not isinstance(number, (int, np.integer))
        or not 0 <= number <= _INT64_MAX
    ):
        raise TypedTensorError(f"{_where(module, name)} must be an int >= 0 (a count of training steps), got {value!r}")
    return int(cast("int", number))


def _tensor(module: Module, name: str, value: object, spec: tuple[tuple[int, ...], np.dtype[Any]]) -> object:
    """A parameter or tensor buffer: see the module docstring."""
    cls = type(module)
    where = _where(module, name)
    if value is None:
        if name in cls.optional_names:
            return None
        raise TypedTensorError(
            f"{where} cannot be set to None: the layer reads it; build the module without it"
            f"{_flag(module, name, ' ({}=False)')}"
        )
    shape, dtype = spec
    wanted = f"a Tensor of shape {shape} and dtype {dtype.name}"
    if not isinstance(value, Tensor):
        raise TypedTensorError(
            f"{where} must be {wanted}, got {type(value).__name__}; wrap an array with tt.tensor(array) (a copy), "
            f"or load values with load_state_dict({{{name!r}: array}}, strict=False)"
        )
    t: Tensor[Any, Any, Any] = cast("Any", value)
    data = t._data
    if data.shape != shape:
        raise ShapeError(
            f"{where} must be {wanted} (the shape the layer reads), got shape {data.shape}; assign a tensor of "
            f"shape {shape} or change the values in place with load_state_dict({{{name!r}: array}}, strict=False); "
            f"a layer of another size is a new module: build a new {cls.__name__} with the size you want"
        )
    if data.dtype != dtype:
        raise DTypeError(
            f"{where} must be {wanted} (the module's dtype), got dtype {data.dtype.name}; convert the tensor "
            f"with .astype(np.{dtype.name}), or the whole model with to_dtype()"
        )
    if t._tape is not None:
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
        held = module.__dict__.get(other)
        if other != name and isinstance(held, Tensor) and np.may_share_memory(held._data, data):
            raise TypedTensorError(
                f"{where}: the tensor shares memory with {other} of the same module, so changing one would change "
                "the other; assign a separate tensor (tt.tensor(t) copies)"
            )
    return t
