"""The optimizers' errors (kept apart so that ``_base`` and the modules it uses can all raise them)."""

from __future__ import annotations

from .._errors import TapeError, TypedTensorError

__all__ = ["MissingGradientError", "OptimizerError"]


class OptimizerError(TypedTensorError, ValueError):
    """An invalid hyper-parameter, a model the optimizer was not built for, or a step that would diverge."""


class MissingGradientError(OptimizerError, TapeError):
    """A parameter of the model has no gradient in the Gradients passed to ``update``."""
