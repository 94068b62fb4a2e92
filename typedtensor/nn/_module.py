"""``Module``: the base class of layers, with dims bound from the instance.

A module generic in a dim (``class Scale(Module, Generic[C])``) names, in ``dim_attrs``, the
attribute that holds each dim's value for one instance (``dim_attrs = {"C": "channels"}``). Every public method of a subclass is
run-time checked with those dims bound before the call, so ``forward(x: Tensor[tuple[B, C], ...])``
rejects an ``x`` whose channel count differs from the instance's, exactly as mypy and pyright reject
it statically. An explicit type application that disagrees with the constructor
(``Scale[Literal[3]](5)``) is reported at the first checked call.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from .. import _check
from .._errors import CheckError

__all__ = ["Module"]


class Module:
    """Base class of typedtensor layers (see the module docstring for dim binding)."""

    #: For each of the class's dim TypeVars (by name), the attribute holding its value.
    dim_attrs: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check.install(cls, _module_bindings)

    def _typed_dims(self) -> dict[object, Any]:
        """The module-level dims of this instance, keyed by the class's TypeVars."""
        params: tuple[object, ...] = getattr(type(self), "__parameters__", ())
        return {
            p: getattr(self, self.dim_attrs[n]) for p in params if (n := getattr(p, "__name__", "")) in self.dim_attrs
        }


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
        if typing.get_origin(arg) is typing.Literal and param in dims:
            (want,) = typing.get_args(arg)
            if dims[param] != want:
                name = type(self).__name__
                raise CheckError(
                    f"{name}[...] declares {getattr(param, '__name__', param)} = {want} but this instance was "
                    f"built with {dims[param]}; make the type argument and the constructor agree"
                )
