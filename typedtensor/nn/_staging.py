"""Validating values against a module tree, then assigning them all at once: ``load_state_dict``.

``stage`` checks a mapping of names to values against the tree (keys, shapes, dtypes, finiteness, each
module's ``_check_state``, the names of a tied tensor bringing equal values) and changes nothing;
``apply_state`` assigns what was staged, tensors in place, and cannot fail. The checkpoint files
(``_checkpoint``) end with the same two steps after checking a file's header (``check_spec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import extend as ext
from .._convert import converted
from .._errors import CheckpointError, DTypeError, ShapeError, TypedTensorError
from .._tensor import Tensor
from . import _walk
from ._io._report import Naming

if TYPE_CHECKING:
    from ._module import Module

__all__ = ["Staged", "apply_state", "check_spec", "stage"]

#: A value validated for loading into (module, attribute).
Staged = tuple["Module", str, object]
_INT64_MAX = np.iinfo(np.int64).max


def stage(
    module: Module,
    mapping: Mapping[str, object],
    *,
    strict: bool,
    naming: Naming,
    cast: bool = True,
    check_finite: bool = True,
    where: str = "load_state_dict",
) -> tuple[list[Staged], list[str], list[str]]:
    """Validate ``mapping`` against the tree without changing anything: (staged values, missing, unexpected).

    A tied tensor is loaded from any of its names; where ``mapping`` has several, they must be equal.
    """
    entries = _walk.state(module, naming)
    missing = _walk.missing(entries, mapping)
    unexpected = sorted(set(mapping) - set(_walk.by_name(entries)))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{where}: missing keys {missing}, unexpected keys {unexpected}; pass strict=False to "
            + ("load a subset" if naming == "torch" else "load a subset, or naming='torch' for a PyTorch checkpoint")
        )
    staged: list[Staged] = []
    for entry in entries:
        keys = [name for name in entry.names if name in mapping]
        if not keys:
            continue
        key = keys[0]
        value = _validated(key, mapping[key], entry.value, cast, check_finite, where)
        for alias in keys[1:]:
            _check_tied(
                key, value, alias, _validated(alias, mapping[alias], entry.value, cast, check_finite, where), where
            )
        for owner, attr in entry.places:
            try:
                owner._check_state(attr, key, value)
            except TypedTensorError as e:
                raise type(e)(f"{where}: {e}") from None
        staged.append((entry.owner, entry.attr, value))
    return staged, missing, unexpected


def apply_state(staged: list[Staged]) -> None:
    """Assign validated values (tensors in place, so Gradients and optimizers stay valid); cannot fail."""
    for module, attr, value in staged:
        current = getattr(module, attr)
        if isinstance(current, Tensor):
            ext.data_mut(current)[...] = value  # pyright: ignore[reportUnknownArgumentType]
        else:
            setattr(module, attr, value)


def _check_tied(key: str, value: object, alias: str, other: object, where: str) -> None:
    """Two names of one tied tensor must bring the same value."""
    same = (
        value == other
        if isinstance(value, int)
        else np.array_equal(cast("Any", value), cast("Any", other), equal_nan=True)
    )
    if not same:
        raise CheckpointError(
            f"{where}: {key!r} and {alias!r} are one tied tensor (the same tensor under both names in this module), "
            "but they hold different values; load a checkpoint of a model tied the same way, or keep only the "
            "value you want under one of the names"
        )


def check_spec(key: str, shape: tuple[int, ...], dtype: np.dtype[Any], current: object, cast: bool, where: str) -> None:
    """Shape and dtype of a value for ``current`` (a tensor or an int counter), before reading any data."""
    if isinstance(current, Tensor):
        target: NDArray[Any] = ext.data(current)  # pyright: ignore[reportUnknownArgumentType]
        if shape != target.shape:
            raise ShapeError(f"{where}: {key!r} has shape {shape}, the module expects {target.shape}")
        if dtype.kind != "f":
            raise DTypeError(f"{where}: {key!r} has dtype {dtype}, a float array is expected ({target.dtype})")
        if not cast and dtype.newbyteorder("=") != target.dtype:
            raise DTypeError(
                f"{where}: {key!r} has dtype {dtype}, the module holds {target.dtype}; pass cast=True to convert "
                f"it, or load into a model converted with to_dtype(np.{dtype.name})"
            )
        return
    if shape not in ((), (1,)) or dtype.kind not in "iu" or (not cast and dtype.newbyteorder("=") != np.int64):
        raise DTypeError(
            f"{where}: {key!r} must be a non-negative integer scalar (int64), got shape {shape} dtype {dtype}"
            + ("" if cast or dtype.kind not in "iu" else "; pass cast=True to convert another integer dtype")
        )


def _validated(
    key: str,
    value: object,
    current: object,
    cast: bool = True,
    check_finite: bool = True,
    where: str = "load_state_dict",
) -> object:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypedTensorError(
            f"{where}: {key!r} is not convertible to a NumPy array ({e}); pass arrays "
            "(for a PyTorch tensor: t.detach().cpu().numpy())"
        ) from None
    check_spec(key, arr.shape, arr.dtype, current, cast, where)
    if isinstance(current, Tensor):
        target: NDArray[Any] = ext.data(current)  # pyright: ignore[reportUnknownArgumentType]
        # The rule of tt.tensor and to_dtype: a finite value the module's dtype cannot hold is a DTypeError.
        values = converted(arr, target.dtype, f"{where}: {key!r}")
        if check_finite and not np.all(np.isfinite(values)):
            hint = "" if where == "load_state_dict" else "; pass check_finite=False to load them as they are"
            raise TypedTensorError(f"{where}: {key!r} holds NaN or infinite values{hint}")
        return values
    if not 0 <= int(arr.reshape(())) <= _INT64_MAX:
        raise DTypeError(
            f"{where}: {key!r} must be a non-negative integer scalar (int64), got shape {arr.shape} dtype {arr.dtype}"
        )
    return int(arr.reshape(()))
