"""Quick start: a two-layer classifier trained with typedtensor's tape autodiff.

    python -m typedtensor.examples.quickstart [--steps 300]

Every tensor's shape, dtype and tape is in its type: mypy and pyright check the model below, and
the same annotations are checked at run time. The data are two interleaved spirals (no download).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, TypeVar, cast
from typing import Literal as L

import numpy as np

import typedtensor as tt
from typedtensor import Gradients, NoneTape, OwnedTape, Tensor

B = TypeVar("B", bound=int)
T = TypeVar("T", NoneTape, OwnedTape)
S = TypeVar("S")
F = np.float32
Hidden = L[32]


class Params:
    """The network's parameters (plain untraced tensors)."""

    def __init__(
        self,
        w1: Tensor[tuple[L[2], Hidden], F, NoneTape],
        b1: Tensor[tuple[Hidden], F, NoneTape],
        w2: Tensor[tuple[Hidden, L[2]], F, NoneTape],
        b2: Tensor[tuple[L[2]], F, NoneTape],
    ) -> None:
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2

    def alloc_grads(self) -> Gradients:
        grads = Gradients()
        for p in (self.w1, self.b1, self.w2, self.b2):
            grads.alloc(p)
        return grads

    def sgd(self, grads: Gradients, lr: float) -> Params:
        return Params(
            self.w1 - grads.get(self.w1) * lr,
            self.b1 - grads.get(self.b1) * lr,
            self.w2 - grads.get(self.w2) * lr,
            self.b2 - grads.get(self.b2) * lr,
        )


def on_tape_of(param: Tensor[S, F, NoneTape], like: Tensor[Any, F, T]) -> Tensor[S, F, T]:
    """``param`` on the tape of ``like`` when ``like`` is traced, before an op of its own (``broadcast_to``).

    ``param.broadcast_to(...)`` of the untraced parameter would be an untraced copy whose gradient nothing
    keeps (a TapeError when a traced op reads it); retaped first, the parameter itself gets the gradient.
    """
    traced: Any = like  # checked by its .traced below: T is OwnedTape there
    on: Any = param.retaped(traced) if like.traced else param
    return cast("Tensor[S, F, T]", on)


@tt.checked
def forward(p: Params, x: Tensor[tuple[B, L[2]], F, T]) -> Tensor[tuple[B, L[2]], F, T]:
    """Logits of a 2 -> 32 -> 2 network; works traced (training) and untraced (inference)."""
    h = x @ p.w1
    h = (h + on_tape_of(p.b1, x).broadcast_to(h.shape)).tanh()
    logits = h @ p.w2
    return logits + on_tape_of(p.b2, x).broadcast_to(logits.shape)


@tt.checked
def cross_entropy(
    logits: Tensor[tuple[B, L[2]], F, OwnedTape], onehot: Tensor[tuple[B, L[2]], F, NoneTape]
) -> Tensor[tuple[()], F, OwnedTape]:
    """Mean cross-entropy of logits against one-hot targets."""
    return -(logits.log_softmax(-1) * onehot).sum(-1).mean()


def spirals(
    n: int, seed: int
) -> tuple[np.ndarray[tuple[int, int], np.dtype[F]], np.ndarray[tuple[int], np.dtype[np.int64]]]:
    """Two interleaved spirals with a little noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    angle = t + np.pi * labels
    xy = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    return (xy + rng.normal(0, 0.02, xy.shape)).astype(F), labels


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)

    xy, labels = spirals(512, seed=0)
    x: Tensor[tuple[int, L[2]], F, NoneTape] = tt.tensor(xy)
    onehot: Tensor[tuple[int, L[2]], F, NoneTape] = tt.tensor(np.eye(2, dtype=F)[labels])
    scale1, scale2 = 1 / np.sqrt(2), 1 / np.sqrt(32)
    p = Params(
        tt.randn((2, 32), seed=1) * scale1 * 4.0, tt.zeros((32,)), tt.randn((32, 2), seed=2) * scale2, tt.zeros((2,))
    )
    start = time.perf_counter()
    loss_value = float("nan")
    for step in range(1, args.steps + 1):
        grads = p.alloc_grads()
        loss = cross_entropy(forward(p, x.trace(grads)), onehot)
        loss_value = loss.item()
        loss.backward()
        p = p.sgd(grads, args.lr)
        if step % 100 == 0:
            print(f"step {step:4d}  loss {loss_value:.4f}")
    predictions = forward(p, x).numpy().argmax(axis=1)  # inference: untraced input, nothing recorded
    accuracy = float((predictions == labels).mean())
    print(f"final loss {loss_value:.4f}  train accuracy {accuracy:.1%}  ({time.perf_counter() - start:.2f} s)")
    return accuracy


if __name__ == "__main__":
    main()
