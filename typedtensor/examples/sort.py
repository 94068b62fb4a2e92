"""Train a small causal Transformer to sort 10 digits, generating the answer token by token (minGPT's sort demo).

    python -m typedtensor.examples.sort [--steps N] [--out DIR]

Needs the ``examples`` extra (matplotlib draws the plot, safetensors writes the checkpoint). A
problem is 10 tokens over a vocabulary of 10 (``3 1 4 1 5 9 2 6 5 3``), the answer the same tokens
sorted (``1 1 2 3 3 4 5 5 6 9``). The model reads the problem and the answer so far, 19 tokens at most,
and predicts the next answer token. The run:

1. draws 1,000 held-out problems (seeded), and for every training step 64 fresh ones that are not among
   them;
2. trains token and position embeddings (48 features), two pre-norm causal ``nn.TransformerBlock``s
   (LayerNorm, 4-head self-attention, residual, LayerNorm, an MLP of 192 with minGPT's tanh GELU,
   residual), a final LayerNorm and a linear head with Adam (warm-up, then a cosine decay), 1,000
   steps on problem + answer through ``forward_mut``, scored by the cross-entropy of the 10 answer
   positions only, with a progress bar;
3. generates the answers of the held-out problems greedily, all at once, in inference mode
   (``forward``), one token per step, and counts the exact matches, at a few points during training
   and at the end;
4. saves a safetensors checkpoint, loads it into a freshly built model and generates again (the same
   accuracy, or the run fails);
5. writes a loss/accuracy plot (PNG).

NumPy's BLAS runs one thread during the run (``--blas-threads``; through threadpoolctl, which the
examples extra installs): the model's matrices are small, and on a busy 2-core machine a second
OpenBLAS thread made a training step about 6 times slower.

The checkpoint and the plot go to ``--out`` (default ``sort-output`` in the current directory, which
the repository's .gitignore lists); the run prints both paths.

The model is typed in its batch, sequence and feature dims (``B``, ``T``, ``D``) and its vocabulary
(``Literal[10]``), so every checker follows the shape from the token ids (B, T) to the logits
(B, T, 10) through every layer, with no cast.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Final, Generic, TypeVar
from typing import Literal as L

import numpy as np
from numpy.typing import NDArray

import typedtensor as tt
from typedtensor import NoneTape, OwnedTape, Tensor, nn
from typedtensor.examples._common import blas_threads, demo_parser
from typedtensor.progress import History, ProgressBar

B = TypeVar("B", bound=int)
T = TypeVar("T", bound=int)
D = TypeVar("D", bound=int)
F32 = np.float32
Vocab = L[10]  # the tokens 0..9
Context = L[19]  # the longest input: a problem (10) and 9 answer tokens
Width = L[48]  # the demo's model width
VOCAB: Final[Vocab] = 10
LENGTH: Final = 10  # tokens in a problem and in its answer
CONTEXT: Final[Context] = 19
WIDTH: Final[Width] = 48
HEADS: Final = 4
LAYERS: Final = 2
Ids = Tensor[tuple[B, T], np.int64, NoneTape]


class SortNet(nn.Module, Generic[D]):
    """Token + position embeddings (D), ``layers`` causal pre-norm Transformer blocks of ``heads`` heads,
    a final LayerNorm and a linear head to the 10 tokens. About 58k parameters at D = 48, 2 blocks."""

    dim_attrs: ClassVar[Mapping[str, str]] = {"D": "dim"}

    def __init__(self, dim: D, heads: int = HEADS, layers: int = LAYERS, seed: int = 0) -> None:
        self.dim: D = dim
        self.tokens = nn.Embedding[Vocab, D](VOCAB, dim)
        self.positions = nn.Embedding[Context, D](CONTEXT, dim)
        self.blocks = [nn.TransformerBlock[D](dim, heads, causal=True, approximate="tanh") for _ in range(layers)]
        self.norm = nn.LayerNorm[D](dim)
        self.head = nn.Linear[D, Vocab](dim, VOCAB)
        self.reset_params(seed)

    def forward(self, ids: Tensor[tuple[B, T], np.int64, NoneTape]) -> Tensor[tuple[B, T, Vocab], F32, NoneTape]:
        """Inference: the next-token logits (B, T, 10) at every position of ids (B, T), T <= 19."""
        x: Tensor[tuple[B, T, D], F32, NoneTape] = self.tokens.forward(ids)
        x = x + self.positions.forward(steps(ids.shape[1])).broadcast_to(x.shape)
        for block in self.blocks:
            x = block.forward(x)
        return self.head.forward(self.norm.forward(x))

    def forward_mut(self, ids: Tensor[tuple[B, T], np.int64, OwnedTape]) -> Tensor[tuple[B, T, Vocab], F32, OwnedTape]:
        """Training: as ``forward``, on traced ids (``ids.trace(grads)``)."""
        x: Tensor[tuple[B, T, D], F32, OwnedTape] = self.tokens.forward_mut(ids)
        # the positions are built here, untraced: on the ids' tape their table trains (x + pos(arange(T)))
        x = x + self.positions.forward_mut(steps(ids.shape[1]).retaped(ids)).broadcast_to(x.shape)
        for block in self.blocks:
            x = block.forward_mut(x)
        return self.head.forward_mut(self.norm.forward_mut(x))


def steps(t: T) -> Tensor[tuple[T], np.int64, NoneTape]:
    """The positions 0, 1, ..., t - 1 (the ids of the position embedding)."""
    return tt.tensor(np.arange(t), np.int64).realize((t,))


def build(seed: int = 0) -> SortNet[Width]:
    """The demo's model: D = 48, 4 heads, 2 blocks."""
    return SortNet[Width](WIDTH, HEADS, LAYERS, seed)


# ---- data --------------------------------------------------------------------------------------------


def problems(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    """``n`` problems followed by their answers: (n, 20) int64, each row 10 random tokens then them sorted."""
    x = rng.integers(0, VOCAB, (n, LENGTH), dtype=np.int64)
    return np.concatenate([x, np.sort(x, axis=1)], axis=1)


def _codes(rows: NDArray[np.int64]) -> NDArray[np.int64]:
    """Each problem (its first 10 tokens) as one number, for telling problems apart."""
    return rows[:, :LENGTH] @ (VOCAB ** np.arange(LENGTH, dtype=np.int64))


def held_out(n: int, seed: int = 0) -> NDArray[np.int64]:
    """The held-out problems and answers (n, 20): their own generator, never drawn for training."""
    return problems(np.random.default_rng([seed, 1]), n)


def training_batch(rng: np.random.Generator, n: int, excluded: NDArray[np.int64]) -> NDArray[np.int64]:
    """``n`` fresh problems with answers, redrawn where one is a held-out problem (``excluded``, sorted codes)."""
    rows = problems(rng, n)
    while True:
        codes = _codes(rows)
        clash = np.isin(codes, excluded)
        if not clash.any():
            return rows
        rows[clash] = problems(rng, int(clash.sum()))


def token_ids(rows: NDArray[np.int64]) -> Ids[int, int]:
    """Token rows (n, t) as an untraced int64 tensor, the model's input (``.trace(grads)`` for training)."""
    return tt.tensor(np.ascontiguousarray(rows), np.int64).realize((rows.shape[0], rows.shape[1]))


# ---- training and evaluation -------------------------------------------------------------------------


def answer_loss(
    logits: Tensor[tuple[B, Context, Vocab], F32, OwnedTape], answers: NDArray[np.int64]
) -> Tensor[tuple[()], F32, OwnedTape]:
    """Mean cross-entropy of the 10 answer tokens: position 9 (the problem's last token) predicts the first
    answer token, position 18 the last; the problem's own positions are not scored."""
    b = answers.shape[0]
    scored: Tensor[tuple[int, int, Vocab], F32, OwnedTape] = logits[:, LENGTH - 1 :]
    flat = scored.reshape((b * LENGTH, VOCAB))
    labels = tt.tensor(answers.reshape(-1), np.int64).realize((b * LENGTH,))
    return nn.cross_entropy(flat, labels)


def generate(model: SortNet[D], prompts: NDArray[np.int64]) -> NDArray[np.int64]:
    """The answers (n, 10) to ``prompts`` (n, 10), greedily: each step runs the whole batch through
    ``forward`` (inference) and appends every row's most likely next token."""
    rows = np.ascontiguousarray(prompts, dtype=np.int64)
    for _ in range(LENGTH):
        last = model.forward(token_ids(rows))[:, -1]  # (n, 10): the logits of the next token
        rows = np.concatenate([rows, last.argmax(-1).numpy()[:, None]], axis=1)
    return rows[:, LENGTH:]


def accuracy(model: SortNet[D], rows: NDArray[np.int64]) -> float:
    """The share of problems in ``rows`` (n, 20) whose generated answer is exactly the sorted problem."""
    answers = generate(model, rows[:, :LENGTH])
    return int(np.count_nonzero(np.all(answers == rows[:, LENGTH:], axis=1))) / len(rows)


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    return peak * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))


def train(
    steps: int,
    test: NDArray[np.int64],
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    evals: int = 5,
    verbose: bool = True,
) -> tuple[SortNet[Width], History]:
    """Adam, fresh problems every step, held-out accuracy on ``test`` at ``evals`` points (the last at the end)."""
    model = build(seed)
    grads = model.alloc_grads()
    opt = tt.optim.Adam(model, lr=lr)
    rng = np.random.default_rng([seed, 2])
    excluded = np.sort(_codes(test))
    history = History()
    bar = ProgressBar(steps, "train", lines=evals)
    warmup = max(1, min(100, steps // 10))
    marks = {steps * (i + 1) // evals for i in range(evals)}
    log_every = max(1, steps // 100)
    running = total = 0.0
    for step in range(steps):
        opt.lr = learning_rate(step, steps, lr, warmup)
        rows = training_batch(rng, batch_size, excluded)
        model.zero_grads(grads)
        loss = answer_loss(
            model.forward_mut(token_ids(rows[:, :-1]).realize((batch_size, CONTEXT)).trace(grads)), rows[:, LENGTH:]
        )
        opt.update(model, loss.backward())
        value = loss.item()
        running = value if step == 0 else 0.95 * running + 0.05 * value
        total += value
        done = step + 1
        if done % log_every == 0 or done == steps:  # the mean over the steps since the previous point
            previous = history.steps("train_loss")[-1] if "train_loss" in history.names else 0
            history.log(done, train_loss=total / (done - previous))
            total = 0.0
        if verbose:
            bar.update(done, running)
        if done in marks:
            history.log(done, accuracy=accuracy(model, test))
            if verbose:
                print(f"      held-out exact match {100 * history['accuracy'][-1]:.1f}%", file=sys.stderr)
    return model, history


# ---- checkpoint and plot -----------------------------------------------------------------------------


def save_checkpoint(model: SortNet[Width], path: Path) -> None:
    """Parameters and structure as safetensors (an atomic write)."""
    model.save_safetensors(path)


def load_checkpoint(path: Path) -> SortNet[Width]:
    """A freshly built model (another seed: other initial weights) with the checkpoint's state."""
    model = build(seed=12345)
    model.load_safetensors(path)  # validated first, then applied all at once
    return model


def plot(history: History, path: Path) -> None:
    """Training loss (log scale) and held-out exact-match accuracy against the step, side by side."""
    history.plot(
        path,
        xlabel="step",
        ylabel="cross-entropy",
        titles=("training loss (answer tokens)", "held-out exact match (greedy)"),
        log_loss=True,
        accuracy_range=(0, 100),
        markers=["accuracy"],
    )


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = demo_parser(
        "sort",
        __doc__,
        lr="peak learning rate of Adam (warm-up, cosine decay)",
        quiet="no progress bar or evaluation lines",
    )
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument("--held-out", type=int, default=1000, help="held-out problems (default 1000)")
    parser.add_argument("--evals", type=int, default=5, help="held-out evaluations during training (default 5)")
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="NumPy's BLAS threads during the run (default 1; 0: its default)"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.held_out < 1 or args.evals < 1 or args.blas_threads < 0:
        parser.error("--steps, --batch-size, --held-out and --evals must be >= 1, --blas-threads >= 0")
    with blas_threads(args.blas_threads):
        return _run(args)


def _run(args: argparse.Namespace) -> dict[str, float]:
    start = time.perf_counter()
    test = held_out(args.held_out, args.seed)
    print(
        f"sort: {args.held_out} held-out problems of {LENGTH} tokens over {VOCAB}; {args.batch_size} fresh ones a step"
    )
    model, history = train(args.steps, test, args.batch_size, args.lr, args.seed, args.evals, not args.quiet)
    trained_at = time.perf_counter()
    final = history["accuracy"][-1]
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint, figure = args.out / "sort.safetensors", args.out / "sort.png"
    save_checkpoint(model, checkpoint)
    reloaded = accuracy(load_checkpoint(checkpoint), test)
    plot(history, figure)
    seconds = time.perf_counter() - start
    print(
        f"model: {model.num_trainable_params()} trainable parameters; {args.steps} steps in {trained_at - start:.1f} s"
    )
    print(f"held-out exact match (greedy, inference mode): {100 * final:.2f}%")
    print(f"after reloading {checkpoint}: {100 * reloaded:.2f}%")
    print(f"plot: {figure}; total time {seconds:.1f} s")
    if reloaded != final:
        raise SystemExit("the reloaded checkpoint does not reproduce the accuracy")
    return {
        "accuracy": final,
        "reloaded_accuracy": reloaded,
        "seconds": seconds,
        "first_loss": history["train_loss"][0],
        "final_loss": history["train_loss"][-1],
    }


if __name__ == "__main__":
    main()
