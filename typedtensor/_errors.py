"""The exception hierarchy: every error typedtensor raises for bad input derives from one root."""

from __future__ import annotations

__all__ = [
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
]


class TypedTensorError(Exception):
    """Root of every error typedtensor raises for bad input."""


class ShapeError(TypedTensorError, ValueError):
    """A shape, rank, axis or index does not fit the operation."""


class DTypeError(TypedTensorError, TypeError):
    """A dtype is not supported here, or two operands disagree on it.

    Also a value of the wrong kind: an ndarray, a str or a list where a tensor or a number is expected.
    """


class TapeError(TypedTensorError, TypeError):
    """A gradient tape is missing, already consumed, or of the wrong kind."""


class CheckError(TypedTensorError, TypeError):
    """A value violates its annotation (shape, dtype, tape or bound dim) at run time.

    Raised by the run-time checks that typedtensor derives from the same annotations
    mypy and pyright read. What they find is one of the subclasses below, so the same mistake is
    caught by the same class with checks on or off: ``except ShapeError`` catches a shape mismatch
    found by the annotation check (a ``ShapeCheckError``) and by the op itself.
    """


class ShapeCheckError(CheckError, ShapeError):
    """The annotation check found a shape, rank or bound-dim mismatch."""


class DTypeCheckError(CheckError, DTypeError):
    """The annotation check found a dtype mismatch, or a value that is not of the annotated kind."""


class TapeCheckError(CheckError, TapeError):
    """The annotation check found the wrong tape (a traced tensor where an untraced one belongs, or back)."""


# One check can find several problems (shape and dtype both wrong) while the op alone, with checks
# off, reports whichever it tests first: the checker's error is then an instance of each kind.
class _ShapeDTypeCheckError(ShapeCheckError, DTypeCheckError):
    """Shape and dtype mismatches."""


class _ShapeTapeCheckError(ShapeCheckError, TapeCheckError):
    """Shape and tape mismatches."""


class _DTypeTapeCheckError(DTypeCheckError, TapeCheckError):
    """Dtype and tape mismatches."""


class _AllCheckError(ShapeCheckError, DTypeCheckError, TapeCheckError):
    """Shape, dtype and tape mismatches."""


_S, _D, _T = ShapeCheckError, DTypeCheckError, TapeCheckError
#: The checker's error class for a non-empty set of the kinds ShapeCheckError, DTypeCheckError, TapeCheckError.
CHECK_ERRORS: dict[frozenset[type[CheckError]], type[CheckError]] = {
    frozenset({_S}): _S,
    frozenset({_D}): _D,
    frozenset({_T}): _T,
    frozenset({_S, _D}): _ShapeDTypeCheckError,
    frozenset({_S, _T}): _ShapeTapeCheckError,
    frozenset({_D, _T}): _DTypeTapeCheckError,
    frozenset({_S, _D, _T}): _AllCheckError,
}


class InplaceError(TypedTensorError, ValueError):
    """A layer that writes its output into its input's buffer (``inplace=True``) cannot use this one.

    The buffer is read-only, not C-contiguous, or seen by something else (another tensor, a NumPy view,
    a tape that keeps it for a backward pass): writing into it would fail or change those too.
    """


class CheckpointError(TypedTensorError, ValueError):
    """A checkpoint file is malformed, hostile, too large, or does not fit the module it is loaded into."""
