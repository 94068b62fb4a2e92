"""Train a small CNN on the UCI handwritten digits (8x8 images, 10 classes): typedtensor's main job.

    python -m typedtensor.examples.digits [--epochs N] [--out DIR]
    mpiexec -n 2 python -m typedtensor.examples.digits  # data-parallel over MPI (the mpi extra)

Needs the ``examples`` extra (scikit-learn ships the data set, no download; matplotlib draws the
plot; safetensors writes the checkpoint). The run:

1. splits the 1,797 images 80/20 (``tt.data.train_val_split``: stratified, seeded) and standardises them;
2. trains Conv2D/BatchNorm2D/ReLU/pooling/Linear with Adam, mini-batches (``tt.data.batches``: typed
   tensors, reshuffled every epoch) through ``forward_mut`` (traced input: BatchNorm uses batch
   statistics and updates its running ones), with a progress bar;
3. evaluates the held-out 20% through ``forward`` (untraced input: running statistics, nothing
   updated) after every epoch;
4. saves a safetensors checkpoint, loads it into a freshly built model and evaluates again;
5. writes a loss/accuracy plot (PNG).

The checkpoint and the plot go to ``--out`` (default ``digits-output`` in the current directory,
which the repository's .gitignore lists); the run prints both paths.

The model is a class whose ``forward``/``forward_mut`` call the layers directly, so every checker
checks every link (channel counts, the tape each layer accepts) and knows every layer's output
shape: exactly under mypy with ``typedtensor.mypy_plugin`` (the pool's 8 -> 4 too), and with ``int``
height and width after the pool in plain mypy, pyright, basedpyright, pyrefly and ty (the
size-keeping convolutions are ``Conv2D[..., SameSize]``: they keep whatever H and W they get).
Calling ``self.bn1.forward`` inside ``forward_mut`` would be a type error: see the README.

Under ``mpiexec -n P`` (or with ``--distributed``) the run is data-parallel: every process takes its
share of each batch, the BatchNorms become SyncBatchNorm2D (statistics of the whole batch), the
gradients are summed in one all-reduce per step, and only rank 0 prints and writes files.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from typing import Literal as L

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn
from typedtensor import distributed as dist
from typedtensor.data import Column, batches, train_val_split
from typedtensor.examples._common import demo_parser
from typedtensor.progress import History, ProgressBar

B = TypeVar("B", bound=int)
C = TypeVar("C", bound=int)
H = TypeVar("H", bound=int)
W = TypeVar("W", bound=int)
T = TypeVar("T", bound=NoneTape | OwnedTape)
F32 = np.float32
Maps = Tensor[tuple[B, C, H, W], F32, T]  # feature maps: batch, channels, height, width
Images = Tensor[tuple[int, L[1], L[8], L[8]], F32, NoneTape]
Labels = Tensor[tuple[int], np.int64, NoneTape]


class DigitsNet(nn.Module):
    """conv(1->16) bn relu, conv(16->32) bn relu, maxpool 2, conv(32->64) bn relu, global avg pool,
    dropout, linear(64->10). About 24k parameters."""

    def __init__(self, seed: int = 0) -> None:
        self.conv1 = nn.Conv2D[L[1], L[16]](1, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2D[L[16]](16)
        self.conv2 = nn.Conv2D[L[16], L[32]](16, 32, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2D[L[32]](32)
        self.pool = nn.MaxPool2D(2)
        self.conv3 = nn.Conv2D[L[32], L[64]](32, 64, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2D[L[64]](64)
        self.gap = nn.GlobalAvgPool2D()
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.2, seed=seed)
        self.fc = nn.Linear[L[64], L[10]](64, 10)
        self.reset_params(seed)

    def forward(self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, NoneTape]) -> Tensor[tuple[B, L[10]], F32, NoneTape]:
        """Inference: running statistics, no dropout, nothing updated."""
        h1: Maps[B, L[16], L[8], L[8], NoneTape] = self.relu.forward(self.bn1.forward(self.conv1.forward(x)))
        h2: Maps[B, L[32], L[8], L[8], NoneTape] = self.relu.forward(self.bn2.forward(self.conv2.forward(h1)))
        p = self.pool.forward(h2)  # (B, 32, 4, 4) under the mypy plugin; H and W are int in the other checkers
        h3 = self.relu.forward(self.bn3.forward(self.conv3.forward(p)))  # (B, 64, 4, 4): conv3 keeps p's H and W
        v: Tensor[tuple[B, L[64]], F32, NoneTape] = self.gap.forward(h3)
        return self.fc.forward(self.drop.forward(v))

    def forward_mut(
        self, x: Tensor[tuple[B, L[1], L[8], L[8]], F32, OwnedTape]
    ) -> Tensor[tuple[B, L[10]], F32, OwnedTape]:
        """Training: batch statistics (running ones updated), dropout on."""
        h1: Maps[B, L[16], L[8], L[8], OwnedTape] = self.relu.forward_mut(
            self.bn1.forward_mut(self.conv1.forward_mut(x))
        )
        h2: Maps[B, L[32], L[8], L[8], OwnedTape] = self.relu.forward_mut(
            self.bn2.forward_mut(self.conv2.forward_mut(h1))
        )
        p = self.pool.forward_mut(h2)  # (B, 32, 4, 4)
        h3 = self.relu.forward_mut(self.bn3.forward_mut(self.conv3.forward_mut(p)))  # (B, 64, 4, 4)
        v: Tensor[tuple[B, L[64]], F32, OwnedTape] = self.gap.forward_mut(h3)
        return self.fc.forward_mut(self.drop.forward_mut(v))


@dataclass
class Data:
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]


def load_data(seed: int = 0) -> Data:
    """The digits as (N, 1, 8, 8) float32, standardised with the training split's mean and std."""
    try:
        datasets: Any = importlib.import_module("sklearn.datasets")  # untyped: used through Any
    except ImportError:
        raise SystemExit(
            "this demo needs the examples extra: pip install 'typedtensor[examples]' (scikit-learn, matplotlib, "
            "safetensors)"
        ) from None
    digits: Any = datasets.load_digits()
    images = np.asarray(digits.images, dtype=np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
    labels = np.asarray(digits.target, dtype=np.int64)
    # stratified: round(20%) of every class, drawn with one seeded generator
    x_train, x_test, y_train, y_test = train_val_split(images, labels, val=0.2, seed=seed, stratify=labels)
    mean, std = x_train.mean(), x_train.std()
    return Data((x_train - mean) / std, y_train, (x_test - mean) / std, y_test)


def _images(x: NDArray[np.float32]) -> Images:  # pyright: ignore[reportUnusedFunction]  # bench/mpi.py
    """One batch of images as a tensor (bench/mpi.py times steps on such batches; the demo uses ``batches``)."""
    return tt.tensor(x).realize((len(x), 1, 8, 8))


def _labels(y: NDArray[np.int64]) -> Labels:  # pyright: ignore[reportUnusedFunction]  # bench/mpi.py
    """One batch of labels as a tensor (for bench/mpi.py, as ``_images``)."""
    return tt.tensor(y, np.int64).realize((len(y),))


def _columns(x: NDArray[np.float32], y: NDArray[np.int64]) -> tuple[Column[F32, L[1], L[8], L[8]], Column[np.int64]]:
    """Images and labels for ``batches``: it yields ``Images`` and ``Labels`` tensors (no ``realize`` by hand)."""
    return Column[F32, L[1], L[8], L[8]](x, (1, 8, 8), F32), Column(y, (), np.int64)


def evaluate(model: DigitsNet, x: NDArray[np.float32], y: NDArray[np.int64], batch: int = 512) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in inference mode (``forward``: untraced input)."""
    total_loss = correct = 0.0
    for images, labels in batches(*_columns(x, y), batch_size=batch, shuffle=False):
        logits = model.forward(images)
        total_loss += nn.cross_entropy(logits, labels, "sum").item()
        correct += nn.accuracy(logits, labels, "sum")
    return total_loss / len(x), correct / len(x)


def train(
    data: Data,
    epochs: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    verbose: bool = True,
    distributed: bool = False,
) -> tuple[DigitsNet, History]:
    """Adam with a cosine learning-rate schedule, reshuffled mini-batches every epoch.

    ``distributed``: data-parallel over the MPI world (see the module docstring); every process gets
    the same model and history.
    """
    model = DigitsNet(seed)
    if distributed:
        model = _data_parallel(model, seed, len(data.x_train), batch_size)
        verbose = verbose and dist.rank() == 0
    grads = model.alloc_grads()
    opt = tt.optim.AdamW(model, lr=lr, weight_decay=1e-4)
    loader = batches(*_columns(data.x_train, data.y_train), batch_size=batch_size, seed=seed)  # a new order per epoch
    history = History()
    for epoch in range(epochs):
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        bar = ProgressBar(len(loader), f"epoch {epoch + 1:2d}/{epochs}")
        running = 0.0
        for step, (images, labels) in enumerate(loader):
            if images.shape[0] < 2:
                continue  # BatchNorm needs more than one value per channel in training
            model.zero_grads(grads)
            if distributed:
                running += (_data_parallel_step(model, grads, images, labels) - running) / (step + 1)
                opt.update(model, grads)
            else:
                loss = nn.cross_entropy(model.forward_mut(images.trace(grads)), labels)
                running += (loss.item() - running) / (step + 1)
                opt.update(model, loss.backward())
            if verbose:
                bar.update(step + 1, running)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        history.log(epoch + 1, train_loss=running, test_loss=test_loss, test_acc=test_acc)
        if verbose:
            print(f"           held-out loss {test_loss:.4f}  accuracy {100 * test_acc:.2f}%", file=sys.stderr)
    return model, history


def _data_parallel(model: DigitsNet, seed: int, n: int, batch_size: int) -> DigitsNet:
    """The model for data-parallel training: SyncBatchNorm2D, rank 0's weights, a dropout stream per process."""
    processes = dist.size()
    smallest = min(batch_size, n % batch_size if n % batch_size >= 2 else batch_size)
    if processes > smallest:
        raise SystemExit(
            f"{processes} processes need batches of at least {processes} images (the smallest here has {smallest}); "
            "use a larger --batch-size or fewer processes"
        )
    dist.share_cores()  # a BLAS thread per core in every process would oversubscribe the machine
    model = nn.convert_sync_batchnorm(model)
    dist.broadcast_parameters(model)
    model.drop = nn.Dropout(0.2, seed=seed + dist.rank())  # rank 0 keeps the single-process stream
    return model


def _data_parallel_step(model: DigitsNet, grads: tt.Gradients, images: Images, labels: Labels) -> float:
    """Forward and backward of this process's share of the batch; the gradients summed over processes.

    Each process's loss is its share's summed cross-entropy over the whole batch's size, so the summed
    gradients are exactly those of the batch's mean loss, even when the shares differ by one image.
    Returns that mean loss.
    """
    n = images.shape[0]
    part = dist.shard(n)  # a contiguous slice of the batch
    logits = model.forward_mut(images[part].trace(grads))
    loss = nn.cross_entropy(logits, labels[part], "sum") * (1.0 / n)
    loss.backward()
    (total,) = dist.average_gradients(model, grads, op="sum", extra=[loss.item()])
    return total


def save_checkpoint(model: DigitsNet, path: Path) -> None:
    """Parameters, running statistics, counters and hyper-parameters as safetensors (an atomic write)."""
    model.save_safetensors(path)


def load_checkpoint(path: Path) -> DigitsNet:
    """A freshly built model (other seed: different initial weights) with the checkpoint's state."""
    model = DigitsNet(seed=12345)
    model.load_safetensors(path)  # validated first, then applied all at once
    return model


def plot(history: History, path: Path) -> None:
    """Loss (train and held-out) and held-out accuracy per epoch, side by side."""
    history.plot(
        path,
        ylabel="cross-entropy",
        titles=("loss", "held-out accuracy"),
        labels={"train_loss": "train (running mean)", "test_loss": "held-out"},
    )


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = demo_parser(
        "digits",
        __doc__,
        lr="peak learning rate of AdamW (cosine schedule)",
        quiet="no progress bar or per-epoch lines",
    )
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument(
        "--distributed", action="store_true", help="data-parallel over MPI (automatic under mpiexec -n P, P > 1)"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 2:
        parser.error("--epochs must be >= 1 and --batch-size >= 2")
    start = time.perf_counter()
    distributed = args.distributed or dist.launched_size() > 1
    if distributed and dist.rank() != 0:  # the other processes train and stay silent
        data = load_data(args.seed)
        model, _ = train(data, args.epochs, args.batch_size, args.lr, args.seed, False, distributed)
        _, accuracy = evaluate(model, data.x_test, data.y_test)
        return {"accuracy": accuracy, "reloaded_accuracy": accuracy, "seconds": time.perf_counter() - start}
    data = load_data(args.seed)
    print(f"digits: {len(data.x_train)} training and {len(data.x_test)} held-out images, 10 classes")
    if distributed:
        print(f"data-parallel over {dist.size()} MPI processes, SyncBatchNorm2D, one gradient all-reduce per step")
    model, history = train(
        data, args.epochs, args.batch_size, args.lr, args.seed, verbose=not args.quiet, distributed=distributed
    )
    _, accuracy = evaluate(model, data.x_test, data.y_test)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint, figure = args.out / "digits.safetensors", args.out / "digits.png"
    save_checkpoint(model, checkpoint)
    reloaded = load_checkpoint(checkpoint)
    _, reloaded_accuracy = evaluate(reloaded, data.x_test, data.y_test)
    plot(history, figure)
    seconds = time.perf_counter() - start
    print(f"model: {model.num_trainable_params()} trainable parameters")
    print(f"held-out accuracy (inference mode): {100 * accuracy:.2f}%")
    print(f"after reloading {checkpoint}: {100 * reloaded_accuracy:.2f}%")
    print(f"plot: {figure}; total time {seconds:.1f} s")
    if reloaded_accuracy != accuracy:
        raise SystemExit("the reloaded checkpoint does not reproduce the accuracy")
    return {"accuracy": accuracy, "reloaded_accuracy": reloaded_accuracy, "seconds": seconds}


if __name__ == "__main__":
    main()
