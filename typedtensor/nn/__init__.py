"""Layers. The module system (``Module``) binds module-level dims such as BatchNorm2D's C."""

from ._module import Module as Module
