"""tt.data: typed mini-batches of NumPy arrays (order, seeds, drop_last, validation) and the train/validation split."""

from __future__ import annotations

from typing import Any
from typing import Literal as L

import numpy as np
import pytest

import typedtensor as tt
from tests.layouts import layouts
from typedtensor.data import Column, batches, split_indices, train_val_split

F32 = np.float32


def _data(n: int = 10) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x = np.arange(n * 6, dtype=F32).reshape(n, 2, 3)
    return x, np.arange(n, dtype=np.int64)


def _epoch_ids(loader: Any) -> list[list[int]]:
    return [y.numpy().tolist() for _, y in loader]


@pytest.mark.parametrize(("n", "size", "drop_last"), [(10, 3, False), (10, 3, True), (12, 4, False), (12, 4, True)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_item_once_per_epoch_and_images_stay_with_their_labels(
    n: int, size: int, drop_last: bool, shuffle: bool
) -> None:
    x, y = _data(n)
    loader = batches(
        Column(x, (2, 3), F32), Column(y, (), np.int64), batch_size=size, shuffle=shuffle, drop_last=drop_last
    )
    full = n // size
    assert len(loader) == (full if drop_last or n % size == 0 else full + 1)
    for _ in range(3):
        seen: list[int] = []
        sizes: list[int] = []
        for xb, yb in loader:
            np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])  # the rows of the labels' items
            seen += yb.numpy().tolist()
            sizes.append(xb.shape[0])
        assert len(sizes) == len(loader)
        assert all(s == size for s in sizes[:full])
        if drop_last:
            assert len(seen) == full * size
            assert len(set(seen)) == len(seen)
        else:
            assert sorted(seen) == list(range(n))
        if not shuffle:
            assert seen == sorted(seen)


def test_seeded_orders_repeat_across_runs_and_differ_across_epochs() -> None:
    x, y = _data(50)

    def make(seed: int) -> Any:
        return batches(Column(x, (2, 3), F32), Column(y, (), np.int64), batch_size=8, seed=seed)

    a, b, c = make(3), make(3), make(4)
    epochs_a = [_epoch_ids(a) for _ in range(4)]
    assert epochs_a == [_epoch_ids(b) for _ in range(4)]
    assert len({str(e) for e in epochs_a}) == 4  # a fresh order every epoch
    assert _epoch_ids(c) != epochs_a[0]
    assert a.epoch == 4
    # the orders are the successive permutations of default_rng(seed), as a hand-written loop draws them
    rng = np.random.default_rng(3)
    for ids in epochs_a:
        assert [i for batch in ids for i in batch] == rng.permutation(50).tolist()
    a.set_epoch(2)
    assert _epoch_ids(a) == epochs_a[2]
    assert a.epoch == 3
    # index_batches consumes the same order
    b.set_epoch(1)
    assert [i.tolist() for i in b.index_batches()] == epochs_a[1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_tensors_have_the_columns_dtypes_and_shapes_for_every_layout(dtype: Any) -> None:
    base = np.random.default_rng(0).standard_normal((9, 4)).astype(dtype)
    for name, view in layouts(base).items():
        labels = np.arange(9, dtype=np.int32)
        flags = (np.arange(9) % 2).astype(np.bool_)
        loader = batches(
            Column(view, (4,), dtype), Column(labels, (), np.int32), Column(flags, (), np.bool_), batch_size=4, seed=1
        )
        for xb, yb, fb in loader:
            assert xb.dtype == np.dtype(dtype)
            assert yb.dtype == np.int32
            assert fb.dtype == np.bool_
            assert xb.shape == (len(yb.numpy()), 4)
            assert fb.shape == yb.shape
            assert xb.numpy().flags.c_contiguous
            np.testing.assert_array_equal(xb.numpy(), view[yb.numpy()], err_msg=name)
            np.testing.assert_array_equal(fb.numpy(), flags[yb.numpy()])


def test_a_batch_is_a_copy_and_the_tensors_are_untraced() -> None:
    x, y = _data(4)
    (xb, _), *_ = batches(Column(x, (2, 3), F32), Column(y, (), np.int64), batch_size=4, shuffle=False)
    assert not np.shares_memory(xb.numpy(), x)  # a copy: the array may change afterwards
    x[...] = -1
    assert xb.numpy().min() == 0
    model = tt.nn.Linear(3, 2)
    out = model.forward_mut(xb.trace(model.alloc_grads()))  # a batch traces like any tensor
    assert out.shape == (4, 2, 2)


def test_literal_columns_yield_the_declared_dims_which_checks_accept() -> None:
    x = np.zeros((5, 1, 8, 8), F32)

    @tt.checked
    def first(images: tt.Tensor[tuple[int, L[1], L[8], L[8]], F32, tt.NoneTape]) -> int:
        return images.shape[0]

    loader = batches(Column[F32, L[1], L[8], L[8]](x, (1, 8, 8), F32), batch_size=2)
    assert [first(xb) for (xb,) in loader] == [2, 2, 1]


def test_mismatched_lengths_and_bad_arguments_are_refused() -> None:
    x, y = _data(10)
    images, labels = Column(x, (2, 3), F32), Column(y[:9], (), np.int64)
    with pytest.raises(tt.ShapeError, match=r"same number of items, got \[10, 9\]"):
        batches(images, labels, batch_size=2)
    anything: Any = batches
    with pytest.raises(tt.ShapeError, match="1 to 3 Column"):
        anything(batch_size=2)
    with pytest.raises(tt.DTypeError, match="argument 1 must be a Column"):
        anything(images, y, batch_size=2)
    for bad in (0, -1):
        with pytest.raises(tt.ShapeError, match="batch_size must be >= 1"):
            batches(images, batch_size=bad)
    for bad_type in (2.0, True, "2"):
        with pytest.raises(tt.DTypeError, match="batch_size must be an int"):
            anything(images, batch_size=bad_type)
    with pytest.raises(tt.DTypeError, match="shuffle and drop_last"):
        anything(images, batch_size=2, shuffle=1)
    with pytest.raises(tt.ShapeError, match="seed must be >= 0"):
        batches(images, batch_size=2, seed=-1)
    column: Any = Column
    with pytest.raises(tt.ShapeError, match=r"shape \(10, 2, 3\) but items of shape \(3, 2\)"):
        column(x, (3, 2), F32)
    with pytest.raises(tt.ShapeError, match="items of shape"):
        column(np.array(1.0, F32), (), F32)
    with pytest.raises(tt.DTypeError, match=r"dtype is float32 but dtype=float64 was declared"):
        column(x, (2, 3), np.float64)
    with pytest.raises(tt.DTypeError, match="must be a NumPy array, got list"):
        column([[1.0]], (1,), F32)
    with pytest.raises(tt.DTypeError, match="NumPy scalar type"):
        column(x, (2, 3), "float32")
    with pytest.raises(tt.ShapeError, match="tuple of ints"):
        column(x, [2, 3], F32)
    with pytest.raises(tt.DTypeError, match="cannot hold dtype complex64"):
        column(np.zeros((2, 1), np.complex64), (1,), np.complex64)
    # a declared dtype no tensor holds is refused as such, not with a hint to cast the array to it
    with pytest.raises(tt.DTypeError, match="cannot hold dtype complex64"):
        column(x, (2, 3), np.complex64)
    with pytest.raises(tt.DTypeError, match="cannot hold dtype <U1"):
        column(np.array(["a", "b"]), (), np.str_)
    loader = batches(images, batch_size=3)
    with pytest.raises(tt.ShapeError, match="epoch must be >= 0"):
        loader.set_epoch(-1)


def test_an_empty_data_set_has_no_batches() -> None:
    loader = batches(Column(np.zeros((0, 2), F32), (2,), F32), batch_size=4)
    assert len(loader) == 0
    assert list(loader) == []
    small = batches(Column(np.zeros((3, 2), F32), (2,), F32), batch_size=4, drop_last=True)
    assert len(small) == 0
    assert list(small) == []


# ---------------------------------------------------------------- train/validation split


def test_split_by_fraction_and_count_covers_every_item_once_seeded() -> None:
    for val, expected in ((0.25, 5), (7, 7)):
        train, held = split_indices(20, val, seed=5)
        assert len(held) == expected
        assert sorted([*train, *held]) == list(range(20))
        assert list(train) == sorted(train)
        assert list(held) == sorted(held)
        again, held_again = split_indices(20, val, seed=5)
        np.testing.assert_array_equal(held, held_again)
        np.testing.assert_array_equal(train, again)
    assert not np.array_equal(split_indices(20, 5, seed=5)[1], split_indices(20, 5, seed=6)[1])
    # a fraction's count is Python's round, half to even, as documented (scikit-learn's ceiling would give 3, 4)
    assert [len(split_indices(n, 0.25)[1]) for n in (10, 14)] == [2, 4]


def test_stratified_split_takes_each_classes_share() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 31])
    _, held = split_indices(len(labels), 0.2, seed=0, stratify=labels)
    assert np.bincount(labels[held]).tolist() == [2, 4, 6]  # round(0.2 * 31) = 6
    _, held = split_indices(len(labels), 12, seed=0, stratify=labels)
    counts = np.bincount(labels[held], minlength=3).tolist()
    assert sum(counts) == 12  # a count is met exactly: largest remainders of 12 * (10, 20, 31) / 61
    assert counts == [2, 4, 6]
    # the fraction rule is the hand-written per-class loop the digits demo used
    rng = np.random.default_rng(0)
    mask = np.zeros(len(labels), bool)
    for c in range(3):
        idx = rng.permutation(np.flatnonzero(labels == c))
        mask[idx[: round(0.2 * len(idx))]] = True
    np.testing.assert_array_equal(split_indices(len(labels), 0.2, seed=0, stratify=labels)[1], np.flatnonzero(mask))


def test_train_val_split_returns_train_and_val_parts_in_sklearns_order() -> None:
    x, y = _data(10)
    x_tr, x_val, y_tr, y_val = train_val_split(x, y, val=0.3, seed=2)
    train, held = split_indices(10, 0.3, seed=2)
    np.testing.assert_array_equal(y_tr, train)
    np.testing.assert_array_equal(y_val, held)
    np.testing.assert_array_equal(x_tr, x[train])
    np.testing.assert_array_equal(x_val, x[held])
    (only_tr, only_val) = train_val_split(y, val=2)
    assert len(only_tr) == 8
    assert len(only_val) == 2


def test_bad_splits_are_refused() -> None:
    x, y = _data(10)
    split: Any = train_val_split
    for val in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(tt.ShapeError, match=r"fraction must be in \(0, 1\)"):
            split_indices(10, val)
    for count in (0, 10, -3):
        with pytest.raises(tt.ShapeError, match=r"count must be in \[1, 9\]"):
            split_indices(10, count)
    with pytest.raises(tt.ShapeError, match="leaves a split empty"):
        split_indices(10, 0.01)
    with pytest.raises(tt.DTypeError, match="val must be"):
        split(x, val="0.2")
    with pytest.raises(tt.DTypeError, match="val must be"):
        split(x, val=True)
    with pytest.raises(tt.ShapeError, match=r"same length \(first dim\), got \[10, 9\]"):
        train_val_split(x, y[:9], val=0.2)
    with pytest.raises(tt.ShapeError, match=r"stratify must have shape \(10,\)"):
        train_val_split(x, val=0.2, stratify=y[:9])
    with pytest.raises(tt.DTypeError, match="integer class labels"):
        train_val_split(x, val=0.2, stratify=y.astype(F32))
    with pytest.raises(tt.DTypeError, match="argument 0 must be a NumPy array"):
        split([1, 2, 3], val=1)
    with pytest.raises(tt.ShapeError, match="1 to 3 arrays"):
        split(val=1)
    with pytest.raises(tt.ShapeError, match="n must be >= 2"):
        split_indices(1, 0.5)
