"""typedtensor: NumPy tensors whose shape, dtype and gradient tape are part of their static type.

``Tensor[tuple[B, Literal[3], H, W], np.float32, NoneTape]`` is checked by mypy and pyright before
anything runs, and the same annotation is checked at run time (beartype plus typedtensor's hint
classes). Tape-based autodiff in the style of dfdx.
"""

# Layers and losses; the numba BatchNorm kernels load only when first used.
from . import nn as nn
from . import optim as optim
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
from ._functional import stack as stack
from ._functional import where as where
from ._ranks import Rank0 as Rank0
from ._ranks import Rank1 as Rank1
from ._ranks import Rank2 as Rank2
from ._ranks import Rank3 as Rank3
from ._ranks import Rank4 as Rank4
from ._tape import Gradients as Gradients
from ._tape import NoneTape as NoneTape
from ._tape import OwnedTape as OwnedTape
from ._tensor import Tensor as Tensor

__version__ = "0.1.0"
