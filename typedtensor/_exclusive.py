"""Whether a tensor is the only holder of its buffer: the test a layer that writes into its input passes.

Every way to share a buffer holds a reference to the array that owns it: another tensor over the same
array (``detach``, ``realize``, ``trace`` keep the array as it is), a view (``reshape``, basic slices,
``permute``, ``numpy()``, ``np.asarray(t, copy=False)``: NumPy points every view at the owning
array), a backward closure on a tape that saved the array or a view of it, a user's variable. So the
buffer of ``t`` is seen by nobody else exactly when

* ``t._data`` owns its memory and nothing but ``t`` references it, or
* ``t._data`` is a view of an array that owns its memory, nothing but ``t`` references the view and
  nothing but the view references the owner (an op's output that is a reshaped temporary);

any other array (a view of memory NumPy does not own: a memory map, a ``bytes`` buffer) is refused.
Reference counts are compared with those of the same calls on a private tensor, measured at import,
so the test does not depend on how many references the interpreter itself takes.
"""

from __future__ import annotations

import sys
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ._tensor import Tensor, _make

__all__ = ["exclusive"]


def _counts(data: NDArray[Any]) -> tuple[int, int]:
    """References to ``data`` and to the array it views (-1 when it views none), in this frame's terms."""
    base = data.base
    return sys.getrefcount(data), (-1 if base is None else sys.getrefcount(base))


def _calibrated() -> tuple[int, int, int]:
    """The counts of a tensor that owns its buffer, and of one over a view of an otherwise unheld array."""
    owner = _make(np.empty(2), None)
    own, _ = _counts(owner._data)
    view = _make(np.empty(4)[:2], None)
    held, base = _counts(view._data)
    return own, held, base


_OWN, _VIEW, _BASE = _calibrated()


def exclusive(t: Tensor[Any, Any, Any]) -> bool:
    """Whether nothing but ``t`` can see (or will read) the memory of ``t``'s buffer; see the module docstring."""
    data, base = t._data, cast("object", t._data.base)  # any buffer-owning object, not only arrays
    if base is None:
        del data, base
        return _counts(t._data)[0] <= _OWN
    if not isinstance(base, np.ndarray) or base.base is not None:
        return False
    del data, base
    held, owner = _counts(t._data)
    return held <= _VIEW and owner <= _BASE
