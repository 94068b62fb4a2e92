"""Reject corpus: typedtensor.extend used with the wrong kinds of arguments."""

from __future__ import annotations

import numpy as np

import typedtensor as tt
from typedtensor import extend as ext

x = tt.ones((2, 3))
ext.data(np.zeros(3))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.wrap([1.0, 2.0])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.record(x, np.zeros(3), lambda g, need: (g,))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.tensor_id(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.set_grad(x, x, np.zeros((2, 3)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.first_outside([0, 5], 0, 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
ext.install_checks(3, lambda self: {})  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
