"""``typedtensor.extend``: the API a new op or layer is written against (record, wrap, data, gradients)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import numpy as np
import pytest

import typedtensor as tt
from typedtensor import NoneTape
from typedtensor import extend as ext
from typedtensor.extend import Array

C = TypeVar("C", bound=int)


def _cube(x: tt.Tensor[Any, Any, Any]) -> tt.Tensor[Any, Any, Any]:
    """x**3 written as a user would: the forward and its local derivative side by side."""
    xd = ext.data(x)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        return (g * 3 * xd * xd if need[0] else None,)

    return ext.record((x,), xd * xd * xd, backward)


def _mul(a: tt.Tensor[Any, Any, Any], b: tt.Tensor[Any, Any, Any]) -> tt.Tensor[Any, Any, Any]:
    ad, bd = ext.data(a), ext.data(b)

    def backward(g: Array, need: tuple[bool, ...]) -> tuple[Array | None, ...]:
        return (g * bd if need[0] else None, g * ad if need[1] else None)

    return ext.record((a, b), ad * bd, backward)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_recorded_op_back_propagates_like_the_builtin_one(dtype: type[np.floating[Any]]) -> None:
    x0 = tt.tensor(np.array([[1.0, -2.0], [0.5, 3.0]], dtype))
    x = x0.leaky_trace()
    ours = _cube(x).exp().mean().backward().get(x).numpy()
    y = x0.leaky_trace()
    builtin = (y * y * y).exp().mean().backward().get(y).numpy()
    np.testing.assert_allclose(ours, builtin, rtol=1e-5)
    assert ours.dtype == dtype


def test_record_of_untraced_parents_is_untraced_and_a_traced_parent_traces_it() -> None:
    a, b = tt.tensor(np.array([1.0, 2.0])), tt.tensor(np.array([3.0, 4.0]))
    assert not _mul(a, b).traced
    grads = tt.Gradients()
    grads.alloc(b)
    at = a.leaky_trace()
    out = _mul(at, b)  # b is a constant of at's tape, but grads (a second tape's sink) keeps it
    bt = b.trace(grads)
    both = _mul(out, bt).sum().backward()  # two tapes merged
    np.testing.assert_allclose(both.get(at).numpy(), [9.0, 16.0])
    np.testing.assert_allclose(grads.get(b).numpy(), [6.0, 16.0])


def test_record_refuses_bad_parents_and_promotion() -> None:
    x = tt.tensor(np.array([1.0], np.float32))
    with pytest.raises(tt.TapeError, match="non-empty tuple"):
        ext.record((), np.zeros(1, np.float32), lambda g, need: ())
    with pytest.raises(tt.DTypeError, match=r"must be a typedtensor\.Tensor, got ndarray"):
        ext.record((x, np.zeros(1)), np.zeros(1, np.float32), lambda g, need: (None, None))  # type: ignore[arg-type]
    with pytest.raises(tt.DTypeError, match="float32 into float64"):
        ext.record((x,), np.zeros(1, np.float64), lambda g, need: (None,))


def test_wrap_takes_the_array_itself_and_checks_its_dtype() -> None:
    a = np.arange(6.0).reshape(2, 3)
    t = ext.wrap(a)
    assert ext.data(t) is a
    assert t.shape == (2, 3)
    assert not t.traced
    assert ext.wrap(np.array([1, 2], np.int64)).dtype == np.int64
    assert ext.wrap(np.array([True])).dtype == np.bool_
    for bad in (np.zeros(2, np.complex64), np.zeros(2, object), np.zeros(2, np.longdouble)):
        with pytest.raises(tt.DTypeError, match="wrap: a tensor holds float16/32/64"):
            ext.wrap(bad)
    with pytest.raises(tt.DTypeError, match="expected a NumPy ndarray, got list"):
        ext.wrap([1.0])  # type: ignore[arg-type]


def test_data_mut_writes_an_untraced_tensor_and_refuses_a_traced_one() -> None:
    t = tt.zeros((2,))
    ext.data_mut(t)[...] = 5
    np.testing.assert_array_equal(t.numpy(), [5.0, 5.0])
    with pytest.raises(tt.TapeError, match="data_mut: this tensor is traced"):
        ext.data_mut(t.leaky_trace())


def test_gradients_get_set_accumulate_and_iterate() -> None:
    w = tt.tensor(np.array([1.0, 2.0], np.float32))
    grads = tt.Gradients()
    assert ext.grad_array(grads, w) is None
    ext.set_grad(grads, w, np.array([1.0, 1.0], np.float32))
    stored = ext.grad_array(grads, w)
    assert stored is not None
    ext.accumulate_grad(grads, w, np.array([0.5, 2.0], np.float32))
    ext.set_grad(grads, w, stored * 2)
    assert ext.grad_array(grads, w) is stored  # written in place: views of the stored array see it
    np.testing.assert_array_equal(grads.get(w).numpy(), [3.0, 6.0])
    assert [(k, list(g)) for k, g in ext.iter_grads(grads)] == [(ext.tensor_id(w), [3.0, 6.0])]
    assert ext.tensor_id(w.leaky_trace()) == ext.tensor_id(w)  # what the tape knows w by
    with pytest.raises(tt.ShapeError, match=r"set_grad: the gradient has shape \(3,\) but the tensor \(2,\)"):
        ext.set_grad(grads, w, np.zeros(3, np.float32))
    with pytest.raises(tt.DTypeError, match="accumulate_grad: the gradient has dtype float64 but the tensor float32"):
        ext.accumulate_grad(grads, w, np.zeros(2))


def test_accumulate_grad_stores_a_copy() -> None:
    w = tt.zeros((2,))
    grads = tt.Gradients()
    g = np.ones(2, np.float32)
    ext.accumulate_grad(grads, w, g)
    g[...] = 7
    np.testing.assert_array_equal(grads.get(w).numpy(), [1.0, 1.0])


def test_the_argument_helpers_raise_the_library_errors() -> None:
    with pytest.raises(tt.DTypeError, match=r"where: expected a typedtensor\.Tensor, got ndarray"):
        ext.tensor_arg(np.zeros(1), "where")
    with pytest.raises(tt.DTypeError, match="expected a Python number, got bool"):
        ext.scalar(True)
    assert ext.float_dtype(np.float16, "x") == np.dtype(np.float16)
    with pytest.raises(tt.DTypeError, match=r"layer: dtype must be np\.float16"):
        ext.float_dtype("float32", "layer")
    x = tt.zeros((2,))
    with pytest.raises(tt.ShapeError, match="shapes"):
        ext.operand(x, tt.zeros((3,)))
    assert ext.operand(x, 2) == 2.0
    t = ext.filled((2, 2), 1.5, np.dtype(np.float64), "layer")
    assert t.dtype == np.float64
    assert float(t.sum().item()) == 6.0
    with pytest.raises(tt.ShapeError, match="layer: shape must be a tuple of non-negative ints"):
        ext.filled((-1,), 0.0, np.dtype(np.float32), "layer")


class _Scale(Generic[C]):
    """A layer base of one's own (not nn.Module), generic in its width C."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.refused: list[tt.CheckError] = []

    def apply(self, x: tt.Tensor[tuple[C], np.float32, NoneTape]) -> tt.Tensor[tuple[C], np.float32, NoneTape]:
        return x * 2.0

    def strict_apply(self, x: tt.Tensor[tuple[C], np.float32, NoneTape]) -> tt.Tensor[tuple[C], np.float32, NoneTape]:
        return x


def _refuse(self: _Scale[Any], error: tt.CheckError) -> None:
    self.refused.append(error)


ext.install_checks(_Scale, lambda self: {C: self.width}, refusing=("strict_apply",), refuse=_refuse)


def test_install_checks_binds_the_instance_dims_on_a_class_of_ones_own() -> None:
    """What nn.Module does for every layer class, for any class: the width bound from the instance."""
    layer = _Scale[Any](3)
    np.testing.assert_array_equal(layer.apply(tt.ones((3,))).numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(tt.ShapeCheckError, match="C"):
        layer.apply(tt.ones((4,)))
    wide: Any = tt.ones((3,), dtype=np.float64)  # (statically refused too)
    with pytest.raises(tt.DTypeCheckError):
        layer.apply(wide)
    with pytest.raises(tt.ShapeCheckError) as refused:
        layer.strict_apply(tt.ones((4,)))
    assert layer.refused == [refused.value]  # handed to refuse(self, error) before it was raised
    with tt.checks(False):
        assert layer.apply(tt.ones((4,))).shape == (4,)


def test_first_outside_names_the_first_bad_value_and_its_position() -> None:
    ids = np.array([[0, 2], [5, -1]], np.int64)
    assert ext.first_outside(ids, 0, 3) == (5, (1, 0))
    assert ext.first_outside(ids, -1, 6) is None
    assert ext.first_outside(np.zeros((0, 4), np.int32), 0, 1) is None
    assert ext.first_outside(ids[:, ::-1], 0, 3) == (-1, (1, 0))  # C order of the view, not of its buffer
    assert ext.first_outside(np.asfortranarray(ids), 0, 3) == (5, (1, 0))
    assert ext.first_outside(np.array([7, 1], np.uint8), 0, 5) == (7, (0,))


@pytest.mark.parametrize("bad", [[0, 5], np.array([0.0, 5.0]), np.array([True, False])])
def test_first_outside_refuses_what_is_not_an_integer_array(bad: object) -> None:
    with pytest.raises(tt.DTypeError, match="expected an integer NumPy array"):
        ext.first_outside(bad, 0, 3)  # type: ignore[arg-type]  # the run-time guard for unchecked callers
