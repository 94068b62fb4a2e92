"""The exception hierarchy: every error typedtensor raises for bad input derives from one root."""

from __future__ import annotations

__all__ = ["CheckError", "CheckpointError", "DTypeError", "ShapeError", "TapeError", "TypedTensorError"]


class TypedTensorError(Exception):
    """Root of every error typedtensor raises for bad input."""


class ShapeError(TypedTensorError, ValueError):
    """A shape, rank, axis or index does not fit the operation."""


class DTypeError(TypedTensorError, TypeError):
    """A dtype is not supported here, or two operands disagree on it."""


class TapeError(TypedTensorError, TypeError):
    """A gradient tape is missing, already consumed, or of the wrong kind."""


class CheckError(TypedTensorError, TypeError):
    """A value violates its annotation (shape, dtype, tape or bound dim) at run time.

    Raised by the run-time checks that typedtensor derives from the same annotations
    mypy and pyright read.
    """


class CheckpointError(TypedTensorError, ValueError):
    """A checkpoint file is malformed, hostile, too large, or does not fit the module it is loaded into."""
