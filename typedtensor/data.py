"""Mini-batches of NumPy arrays as typed tensors, and a seeded train/validation split.

``Column(array, item_shape, dtype)`` declares what one array holds: every item's shape (the array's
shape without its first, item axis) and its dtype, checked against the array once, when it is built.
``batches(images, labels, batch_size=64, seed=0)`` then iterates several columns together, yielding
a tuple of untraced tensors per mini-batch, ``Tensor[tuple[int, *item_shape], dtype, NoneTape]``: the
batch dim is ``int`` (the last batch may be smaller), the other dims are the column's declared ones
(``Literal`` dims when the column is built as ``Column[np.float32, L[1], L[8], L[8]](...)`` or assigned
to an annotated name), so a training loop needs no ``realize`` at the NumPy boundary::

    images = Column[np.float32, L[1], L[8], L[8]](x_train, (1, 8, 8), np.float32)
    labels = Column(y_train, (), np.int64)
    for x, y in batches(images, labels, batch_size=64, seed=0):
        loss = nn.cross_entropy(model.forward_mut(x.trace(grads)), y)

Shuffling is seeded: the order of epoch ``e`` is the ``e``-th ``permutation`` drawn from
``np.random.default_rng(seed)``, so two loaders with one seed give the same orders, and every epoch
(every ``for`` over the loader) gets a fresh one. ``set_epoch(e)`` jumps to an epoch's order (to resume).

``train_val_split(images, labels, val=0.2, seed=0, stratify=labels)`` splits arrays along their first
axis, seeded, by a fraction or a count of validation items, optionally stratified by class.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar, TypeVarTuple, overload

import numpy as np
from numpy.typing import NDArray

from ._create import tensor
from ._errors import DTypeError, ShapeError
from ._options import integer
from ._tape import NoneTape
from ._tensor import Tensor

__all__ = ["Batches", "Column", "batches", "split_indices", "train_val_split"]

E = TypeVar("E", bound=np.generic)
E1 = TypeVar("E1", bound=np.generic)
E2 = TypeVar("E2", bound=np.generic)
E3 = TypeVar("E3", bound=np.generic)
D = TypeVarTuple("D")
D1 = TypeVarTuple("D1")
D2 = TypeVarTuple("D2")
D3 = TypeVarTuple("D3")
X = TypeVar("X", covariant=True)
A1 = TypeVar("A1", bound=NDArray[Any])
A2 = TypeVar("A2", bound=NDArray[Any])
A3 = TypeVar("A3", bound=NDArray[Any])


def _whole(value: object, name: str, where: str, low: int) -> int:
    """``value`` as a Python int >= ``low`` (an int or NumPy integer, never a bool or a float)."""
    whole = integer(value)
    if whole is None:
        raise DTypeError(f"{where}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if whole < low:
        raise ShapeError(f"{where}: {name} must be >= {low}, got {whole}")
    return whole


class Column(Generic[E, *D]):
    """One array of a data set: its items' shape and dtype, checked once against the array.

    Args:
        data: a NumPy array of shape ``(N, *item_shape)`` (any memory layout; it is not copied here,
            each batch copies its items).
        item_shape: the shape of one item, ``()`` for scalars (class labels). Its static type gives the
            yielded tensors' dims after the batch dim: ``Column[np.float32, L[1], L[8], L[8]](x, (1, 8, 8),
            np.float32)`` yields ``Tensor[tuple[int, L[1], L[8], L[8]], np.float32, NoneTape]``.
        dtype: the array's dtype as a NumPy scalar type (``np.float32``, ``np.int64``): it must be the
            array's own dtype (nothing is converted: cast the array first).

    Raises:
        DTypeError: ``data`` is not a NumPy array, or its dtype is not ``dtype`` or not one a tensor can hold.
        ShapeError: ``data.shape[1:]`` is not ``item_shape``.
    """

    __slots__ = ("_data", "_dtype", "_item_shape")

    def __init__(self, data: NDArray[Any], item_shape: tuple[*D], dtype: type[E]) -> None:
        if not isinstance(data, np.ndarray):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise DTypeError(
                f"Column: data must be a NumPy array, got {type(data).__name__}; pass np.asarray(data, dtype)"
            )
        if not isinstance(item_shape, tuple):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ShapeError(f"Column: item_shape must be a tuple of ints, got {item_shape!r}; e.g. (1, 8, 8) or ()")
        dims = tuple(_whole(d, "every dim of item_shape", "Column", 0) for d in item_shape)
        if not (isinstance(dtype, type) and issubclass(dtype, np.generic)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise DTypeError(f"Column: dtype must be a NumPy scalar type such as np.float32, got {dtype!r}")
        # first the dtypes no tensor holds (the array's, else the declared one): no hint to cast to one of them
        unheld = next((d for d in (data.dtype, np.dtype(dtype)) if d.kind not in "biuf"), None)
        if unheld is not None:
            raise DTypeError(f"Column: a tensor cannot hold dtype {unheld}; use a bool, integer or float array")
        if data.dtype != np.dtype(dtype):
            raise DTypeError(
                f"Column: the array's dtype is {data.dtype} but dtype={np.dtype(dtype).name} was declared; "
                f"cast it first (data.astype(np.{np.dtype(dtype).name})) or declare its dtype"
            )
        if data.ndim == 0 or data.shape[1:] != dims:
            raise ShapeError(
                f"Column: the array has shape {data.shape} but items of shape {dims} were declared, so the "
                f"array must have shape (N, {', '.join(map(str, dims))}{',' if len(dims) == 1 else ''}); "
                "the first axis indexes the items"
            )
        self._data = data
        self._item_shape = dims
        self._dtype: type[E] = dtype

    def __len__(self) -> int:
        """The number of items (the array's first dim)."""
        return int(self._data.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """One item's shape."""
        return self._item_shape

    def take(self, idx: NDArray[np.intp]) -> Tensor[tuple[int, *D], E, NoneTape]:
        """The items ``idx`` (an index array) as one untraced tensor of shape ``(len(idx), *item_shape)`` (a copy)."""
        shape: Any = (len(idx), *self._item_shape)  # the declared dims, checked against the array when built
        out: Tensor[tuple[int, *D], E, NoneTape] = tensor(self._data[idx], self._dtype).realize(shape)
        return out

    def __repr__(self) -> str:
        return f"Column(items={len(self)}, item_shape={self._item_shape}, dtype={np.dtype(self._dtype).name})"


class Batches(Generic[X]):
    """Mini-batches of columns iterated together; built by ``batches(...)``. Re-iterable: one epoch per ``for``.

    ``len(loader)`` is the number of batches per epoch; ``loader.epoch`` the epoch the next ``for`` runs
    (0 first); ``loader.set_epoch(e)`` jumps there; ``loader.index_batches()`` runs an epoch as index arrays
    (for code that slices the arrays itself, e.g. a data-parallel step), consuming the same order.
    """

    __slots__ = ("_batch_size", "_columns", "_drop_last", "_epoch", "_n", "_rng", "_seed", "_shuffle")

    def __init__(
        self,
        columns: Sequence[Column[Any, *tuple[Any, ...]]],
        batch_size: int,
        shuffle: bool,
        seed: int,
        drop_last: bool,
    ) -> None:
        self._columns = tuple(columns)
        self._n = len(self._columns[0])
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._seed = seed
        self._drop_last = drop_last
        self._rng = np.random.default_rng(seed)
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The epoch the next iteration runs (0-based)."""
        return self._epoch

    @property
    def num_items(self) -> int:
        """The number of items per column."""
        return self._n

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration run epoch ``epoch``: the order that an uninterrupted run gives it.

        The earlier epochs' orders are drawn again to get there (``epoch`` permutations of the items: pass the
        epoch, not a step count)."""
        epoch = _whole(epoch, "epoch", "Batches.set_epoch", 0)
        self._rng = np.random.default_rng(self._seed)
        if self._shuffle:
            for _ in range(epoch):
                self._rng.permutation(self._n)
        self._epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self._n, self._batch_size)
        return full + (1 if rest and not self._drop_last else 0)

    def index_batches(self) -> Iterator[NDArray[np.intp]]:
        """One epoch's batches as index arrays into the columns (the epoch's order is drawn at the first batch)."""
        order = self._rng.permutation(self._n) if self._shuffle else np.arange(self._n, dtype=np.intp)
        self._epoch += 1
        for start in range(0, len(self) * self._batch_size, self._batch_size):
            yield order[start : start + self._batch_size]

    def __iter__(self) -> Iterator[X]:
        for idx in self.index_batches():
            yield tuple(c.take(idx) for c in self._columns)  # type: ignore[misc]  # X is that tuple (see batches)

    def __repr__(self) -> str:
        return (
            f"Batches(items={self._n}, batch_size={self._batch_size}, shuffle={self._shuffle}, seed={self._seed}, "
            f"drop_last={self._drop_last}, columns={len(self._columns)}, epoch={self._epoch})"
        )


@overload
def batches(
    a: Column[E1, *D1], /, *, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
) -> Batches[tuple[Tensor[tuple[int, *D1], E1, NoneTape]]]: ...
@overload
def batches(
    a: Column[E1, *D1],
    b: Column[E2, *D2],
    /,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> Batches[tuple[Tensor[tuple[int, *D1], E1, NoneTape], Tensor[tuple[int, *D2], E2, NoneTape]]]: ...
@overload
def batches(
    a: Column[E1, *D1],
    b: Column[E2, *D2],
    c: Column[E3, *D3],
    /,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> Batches[
    tuple[
        Tensor[tuple[int, *D1], E1, NoneTape],
        Tensor[tuple[int, *D2], E2, NoneTape],
        Tensor[tuple[int, *D3], E3, NoneTape],
    ]
]: ...
def batches(
    *columns: object,
    batch_size: int,
    shuffle: object = True,
    seed: int = 0,
    drop_last: object = False,
) -> Batches[tuple[Any, ...]]:
    """Iterate one to three columns of one length together, a tuple of typed tensors per mini-batch.

    Args:
        columns: ``Column`` objects (1 to 3, positional), all with the same number of items.
        batch_size: items per batch (>= 1); the last batch has the remainder unless ``drop_last``.
        shuffle: a fresh seeded order every epoch (``False``: items in order, every epoch the same).
        seed: the seed of ``np.random.default_rng`` whose successive ``permutation(N)`` draws order the
            epochs (as a training loop drawing ``rng.permutation(N)`` per epoch would).
        drop_last: leave out the last batch when it is smaller than ``batch_size``.

    Returns:
        A re-iterable ``Batches``: each ``for`` over it is one epoch, yielding for every batch a tuple with
        one untraced tensor per column, ``Tensor[tuple[int, *item_shape], dtype, NoneTape]`` (a copy of
        the batch's items; trace it with ``x.trace(grads)`` to train).

    Raises:
        DTypeError: an argument of the wrong type (a column that is not a ``Column``, a float batch size).
        ShapeError: no column or more than three, columns of different lengths, batch_size < 1.
    """
    where = "batches"
    if not 1 <= len(columns) <= 3:
        raise ShapeError(f"{where}: pass 1 to 3 Column objects, got {len(columns)}")
    cols: list[Column[Any, *tuple[Any, ...]]] = []
    for i, col in enumerate(columns):
        if not isinstance(col, Column):
            raise DTypeError(
                f"{where}: argument {i} must be a Column, got {type(col).__name__}; wrap an array as "
                "Column(array, item_shape, dtype)"
            )
        cols.append(col)  # pyright: ignore[reportUnknownArgumentType]  # any column
    lengths = [len(c) for c in cols]
    if len(set(lengths)) > 1:
        raise ShapeError(
            f"{where}: every column must have the same number of items, got {lengths} ({', '.join(map(repr, cols))})"
        )
    size = _whole(batch_size, "batch_size", where, 1)
    if not isinstance(shuffle, bool) or not isinstance(drop_last, bool):
        raise DTypeError(f"{where}: shuffle and drop_last must be True or False, got {shuffle!r} and {drop_last!r}")
    return Batches(cols, size, shuffle, _whole(seed, "seed", where, 0), drop_last)


def split_indices(
    n: int, val: float, *, seed: int = 0, stratify: NDArray[Any] | None = None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Seeded train and validation indices of ``n`` items, each sorted ascending (the data's own order).

    Args:
        n: the number of items.
        val: a float in (0, 1), the validation fraction, or an int in [1, n - 1], the validation count. A
            fraction takes ``round(val * n)`` items (Python's round, half to even: 2 of 10 for 0.25, where
            scikit-learn's ``train_test_split`` takes the ceiling, 3); pass a count for an exact number.
        seed: the seed of ``np.random.default_rng`` that draws the validation items.
        stratify: optional labels (one per item, any integer or bool dtype): every class contributes to the
            validation set in proportion. With a fraction, each class gives ``round(val * its count)`` items
            (Python's round, half to even; so the total may differ from ``round(val * n)`` by a few); with a
            count, the classes' shares of it are rounded by largest remainder so they sum to exactly ``val``.
            Classes are taken in sorted order, each class's items drawn by one ``rng.permutation``.

    Raises:
        ShapeError: ``val`` outside those ranges, or labels not of length ``n``.
        DTypeError: an argument of the wrong type.
    """
    where = "split_indices"
    n = _whole(n, "n", where, 2)
    seed = _whole(seed, "seed", where, 0)
    given: object = val
    if isinstance(given, bool) or not isinstance(given, int | float | np.integer | np.floating):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise DTypeError(f"{where}: val must be a float fraction or an int count, got {given!r}")
    is_count = isinstance(given, int | np.integer)
    if isinstance(given, int | np.integer):
        count = operator.index(given)
        if not 1 <= count <= n - 1:
            raise ShapeError(f"{where}: a validation count must be in [1, {n - 1}] for {n} items, got {count}")
        fraction = count / n
    else:
        fraction = float(val)
        if not 0.0 < fraction < 1.0:
            raise ShapeError(f"{where}: a validation fraction must be in (0, 1), got {fraction!r}")
        count = 0
    rng = np.random.default_rng(seed)
    is_val = np.zeros(n, dtype=bool)
    if stratify is None:
        k = count if is_count else round(fraction * n)
        if not 1 <= k <= n - 1:
            raise ShapeError(f"{where}: a fraction of {fraction!r} of {n} items leaves a split empty; pass a count")
        is_val[rng.permutation(n)[:k]] = True
    else:
        labels: object = stratify
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "biu":  # pyright: ignore[reportUnnecessaryIsInstance]
            raise DTypeError(
                f"{where}: stratify must be a NumPy array of integer class labels, got {type(labels).__name__}"
            )
        if labels.shape != (n,):
            raise ShapeError(f"{where}: stratify must have shape ({n},) (one label per item), got {labels.shape}")
        classes, counts = np.unique(labels, return_counts=True)
        if is_count:
            exact = counts * (count / n)
            shares = np.floor(exact).astype(np.intp)
            extra = count - int(shares.sum())
            shares[np.argsort(-(exact - shares), kind="stable")[:extra]] += 1
        else:
            shares = np.array([round(fraction * int(c)) for c in counts], dtype=np.intp)
        for cls, share in zip(classes, shares, strict=True):
            members = rng.permutation(np.flatnonzero(labels == cls))
            is_val[members[: int(share)]] = True
        picked = int(is_val.sum())
        if not 1 <= picked <= n - 1:
            raise ShapeError(
                f"{where}: the stratified split of {n} items puts {picked} in validation; pass another val"
            )
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


@overload
def train_val_split(a: A1, /, *, val: float, seed: int = 0, stratify: NDArray[Any] | None = None) -> tuple[A1, A1]: ...
@overload
def train_val_split(
    a: A1, b: A2, /, *, val: float, seed: int = 0, stratify: NDArray[Any] | None = None
) -> tuple[A1, A1, A2, A2]: ...
@overload
def train_val_split(
    a: A1, b: A2, c: A3, /, *, val: float, seed: int = 0, stratify: NDArray[Any] | None = None
) -> tuple[A1, A1, A2, A2, A3, A3]: ...
def train_val_split(
    *arrays: NDArray[Any], val: float, seed: int = 0, stratify: NDArray[Any] | None = None
) -> tuple[NDArray[Any], ...]:
    """Split 1 to 3 arrays of one length along their first axis: ``train_a, val_a, train_b, val_b, ...``.

    The items are chosen by ``split_indices(len, val, seed=seed, stratify=stratify)`` (see there: a
    fraction or a count, optional stratification) and keep their order; the parts are copies.

    Raises:
        ShapeError: arrays of different lengths, no array or more than three, or a bad ``val``.
        DTypeError: an argument that is not a NumPy array.
    """
    where = "train_val_split"
    if not 1 <= len(arrays) <= 3:
        raise ShapeError(f"{where}: pass 1 to 3 arrays, got {len(arrays)}")
    for i, a in enumerate(arrays):
        given: object = a
        if not isinstance(given, np.ndarray) or a.ndim == 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise DTypeError(f"{where}: argument {i} must be a NumPy array with an item axis, got {type(a).__name__}")
    lengths = [int(a.shape[0]) for a in arrays]
    if len(set(lengths)) > 1:
        raise ShapeError(f"{where}: every array must have the same length (first dim), got {lengths}")
    train, held = split_indices(lengths[0], val, seed=seed, stratify=stratify)
    return tuple(part for a in arrays for part in (a[train], a[held]))
