"""typedtensor: NumPy tensors whose shape, dtype and gradient tape are part of their static type.

``Tensor[tuple[B, Literal[3], H, W], np.float32, NoneTape]`` is checked by mypy and pyright before
anything runs, and the same annotation is checked at run time (beartype plus typedtensor's hint
classes). Tape-based autodiff in the style of dfdx.

The public names load on first use (PEP 562): ``import typedtensor`` alone imports no NumPy, beartype
or layers, so that mypy importing the plugin (``typedtensor.mypy_plugin``) pays for none of them;
``tt.zeros`` loads the tensor core, ``tt.nn`` the layers (whose numba BatchNorm kernels load only when
first used). The type checkers read the ``TYPE_CHECKING`` imports below; ``_EXPORTS`` is the same
table for the run time (tests/test_package_imports.py checks that the two and ``__all__`` agree).
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import data as data
    from . import nn as nn
    from . import optim as optim
    from . import progress as progress
    from ._check import checked as checked
    from ._check import checks as checks
    from ._check import checks_enabled as checks_enabled
    from ._check import set_checks as set_checks
    from ._create import full as full
    from ._create import ones as ones
    from ._create import randn as randn
    from ._create import tensor as tensor
    from ._create import zeros as zeros
    from ._dimexpr import Add as Add
    from ._dimexpr import Div as Div
    from ._dimexpr import Half as Half
    from ._dimexpr import Mul as Mul
    from ._dimexpr import Sub as Sub
    from ._errors import CheckError as CheckError
    from ._errors import CheckpointError as CheckpointError
    from ._errors import DTypeCheckError as DTypeCheckError
    from ._errors import DTypeError as DTypeError
    from ._errors import InplaceError as InplaceError
    from ._errors import ShapeCheckError as ShapeCheckError
    from ._errors import ShapeError as ShapeError
    from ._errors import TapeCheckError as TapeCheckError
    from ._errors import TapeError as TapeError
    from ._errors import TypedTensorError as TypedTensorError
    from ._functional import concat as concat
    from ._functional import maximum as maximum
    from ._functional import stack as stack
    from ._functional import where as where
    from ._gather import gather as gather
    from ._ranks import Rank0 as Rank0
    from ._ranks import Rank1 as Rank1
    from ._ranks import Rank2 as Rank2
    from ._ranks import Rank3 as Rank3
    from ._ranks import Rank4 as Rank4
    from ._tape import NoneTape as NoneTape
    from ._tape import OwnedTape as OwnedTape
    from ._tensor import Gradients as Gradients
    from ._tensor import Tensor as Tensor

from ._version import VERSION as _VERSION

__version__ = _VERSION

__all__ = [
    "Add",
    "CheckError",
    "CheckpointError",
    "DTypeCheckError",
    "DTypeError",
    "Div",
    "Gradients",
    "Half",
    "InplaceError",
    "Mul",
    "NoneTape",
    "OwnedTape",
    "Rank0",
    "Rank1",
    "Rank2",
    "Rank3",
    "Rank4",
    "ShapeCheckError",
    "ShapeError",
    "Sub",
    "TapeCheckError",
    "TapeError",
    "Tensor",
    "TypedTensorError",
    "checked",
    "checks",
    "checks_enabled",
    "concat",
    "data",
    "full",
    "gather",
    "maximum",
    "nn",
    "ones",
    "optim",
    "progress",
    "randn",
    "set_checks",
    "stack",
    "tensor",
    "where",
    "zeros",
]

#: Where each public name is defined: ``{module: names}`` (a subpackage, ``".nn"``, is its own name).
_EXPORTS: dict[str, tuple[str, ...]] = {
    ".data": ("data",),
    ".nn": ("nn",),
    ".optim": ("optim",),
    ".progress": ("progress",),
    "._check": ("checked", "checks", "checks_enabled", "set_checks"),
    "._create": ("full", "ones", "randn", "tensor", "zeros"),
    "._dimexpr": ("Add", "Div", "Half", "Mul", "Sub"),
    "._errors": (
        "CheckError",
        "CheckpointError",
        "DTypeCheckError",
        "DTypeError",
        "InplaceError",
        "ShapeCheckError",
        "ShapeError",
        "TapeCheckError",
        "TapeError",
        "TypedTensorError",
    ),
    "._functional": ("concat", "maximum", "stack", "where"),
    "._gather": ("gather",),
    "._ranks": ("Rank0", "Rank1", "Rank2", "Rank3", "Rank4"),
    "._tape": ("NoneTape", "OwnedTape"),
    "._tensor": ("Gradients", "Tensor"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def _load(name: str) -> object:
    """The public ``name``, imported from its module on first access and kept as a module global."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    imported = _import_module(module, __name__)
    value = imported if module == "." + name else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:  # hidden from the checkers: a module ``__getattr__`` would type every misspelt name
    __getattr__ = _load
