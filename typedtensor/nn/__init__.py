"""Layers. ``Module`` binds module-level dims (BatchNorm2D's C) and walks the module tree."""

from ._batchnorm import BatchNorm1D as BatchNorm1D
from ._batchnorm import BatchNorm2D as BatchNorm2D
from ._batchnorm import FusedBatchNorm2D as FusedBatchNorm2D
from ._module import Module as Module
