"""Accept corpus: typedtensor.extend, the API a user's op or layer is written against."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import Gradients, NoneTape, Tensor
from typedtensor import extend as ext

F32 = np.float32


def cube(x: Tensor[Any, Any, Any]) -> Tensor[Any, Any, Any]:
    xd = ext.data(x)

    def backward(g: ext.Array, need: tuple[bool, ...]) -> tuple[ext.Array | None, ...]:
        return (g * 3 * xd * xd if need[0] else None,)

    return ext.record((x,), xd * xd * xd, backward)


x: Tensor[tuple[int, int], F32, NoneTape] = tt.ones((2, 3))
assert_type(ext.data(x), NDArray[Any])
assert_type(ext.wrap(np.zeros((2, 3), np.float32)), Tensor[tuple[Any, ...], np.float32, NoneTape])
assert_type(cube(x), Tensor[Any, Any, Any])
assert_type(ext.tensor_id(x), int)
grads: Gradients = tt.Gradients()
assert_type(ext.grad_array(grads, x), ext.Array | None)
ext.set_grad(grads, x, np.ones((2, 3), np.float32))
ext.accumulate_grad(grads, x, np.ones((2, 3), np.float32))
assert_type(ext.iter_grads(grads), Iterator[tuple[int, ext.Array]])
assert_type(ext.first_outside(np.array([0, 5, 1]), 0, 3), tuple[int, tuple[int, ...]] | None)


class Doubler:
    def __init__(self, width: int) -> None:
        self.width = width

    def apply(self, v: Tensor[tuple[int], F32, NoneTape]) -> Tensor[tuple[int], F32, NoneTape]:
        return v * 2.0


ext.install_checks(Doubler, lambda self: {})
