"""Layers. ``Module`` binds module-level dims (BatchNorm2D's C) and walks the module tree."""

from . import functional as functional
from ._activation import GELU as GELU
from ._activation import ReLU as ReLU
from ._activation import Sigmoid as Sigmoid
from ._activation import Tanh as Tanh
from ._batchnorm import BatchNorm1D as BatchNorm1D
from ._batchnorm import BatchNorm2D as BatchNorm2D
from ._batchnorm import FusedBatchNorm2D as FusedBatchNorm2D
from ._conv import Conv2D as Conv2D
from ._dropout import Dropout as Dropout
from ._flatten import Flatten as Flatten
from ._fold import fold_batchnorm as fold_batchnorm
from ._io._report import LoadReport as LoadReport
from ._linear import Linear as Linear
from ._losses import cross_entropy as cross_entropy
from ._losses import mse_loss as mse_loss
from ._module import Module as Module
from ._pipe import pipe as pipe
from ._pool import AvgPool2D as AvgPool2D
from ._pool import GlobalAvgPool2D as GlobalAvgPool2D
from ._pool import MaxPool2D as MaxPool2D
from ._residual import Residual as Residual
from ._sync_batchnorm import SyncBatchNorm1D as SyncBatchNorm1D
from ._sync_batchnorm import SyncBatchNorm2D as SyncBatchNorm2D
from ._sync_batchnorm import convert_sync_batchnorm as convert_sync_batchnorm
