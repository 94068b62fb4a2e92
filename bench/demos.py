"""The whole digits and sort demos' training loops: typedtensor vs the same loops in PyTorch CPU, wall time.

    python -m bench.demos [--repeat N] [--demos digits sort] [--quick] [--threads T]
                          [--epochs E] [--steps S] [--held-out N] [--no-torch]

Each side of each demo runs in its own fresh child process (``python -m bench.demos --child SIDE DEMO``),
so one library's thread pools never run beside the other's; the typedtensor child never imports torch
(it reports whether torch was loaded). The children of one repeat alternate their order (typedtensor
first, then PyTorch first, ...), ``--repeat`` times (default 3), and the run prints each child's figures
as it ends, then the medians, with the load average before and after.

* ``digits``: ``typedtensor.examples.digits.train`` as the demo calls it (its data, ``load_data(0)``, the
  1,437 training images; 20 epochs of batches of 64 reshuffled every epoch by ``tt.data.batches``; AdamW
  lr 3e-3 with a cosine schedule set per epoch, weight decay 1e-4; an evaluation of the 360 held-out images
  after every epoch), with ``verbose=False``: no progress bar or per-epoch line, nothing else changed. Its
  PyTorch twin (``bench._nets.torch_digits``, the same initial weights through ``bench._nets.copy_weights``)
  runs the same loop: the same batches in the same order (the demo's loader's own index arrays), the same
  skipped last batch rule, ``torch.optim.AdamW`` with the same hyper-parameters and per-epoch learning rate,
  the running loss read every step (``loss.item()``, as the demo does), the same evaluation every epoch
  (eval mode, ``no_grad``, batches of 512). Dropout draws different masks in the two libraries, so the
  accuracies are not equal to the digit (PyTorch's generator is seeded with the demo's seed, so each side's
  run is repeatable).
* ``sort``: ``typedtensor.examples.sort.train`` as the demo calls it (1,000 steps of 64 fresh problems
  drawn by its own generator, Adam lr 3e-3 with its warm-up and cosine decay set every step, the held-out
  accuracy of 1,000 problems by greedy generation at 5 points, the last at the end), with ``verbose=False``,
  under NumPy's BLAS at the demo's 1 thread (its ``--blas-threads 1``). Its PyTorch twin (the
  ``TransformerEncoderLayer`` network of ``bench.transformer_step``, the same initial weights) trains on the
  same problems (drawn by the same NumPy calls) with ``torch.optim.Adam`` and the same learning rate each
  step, and evaluates the same way (10 greedy forwards of the whole held-out batch in eval mode under
  ``no_grad``).

Timed (``time.perf_counter``): the training loop with its evaluations, to the end of the last one: on the
typedtensor side the demo's ``train`` call (which also builds the model and optimizer, a few milliseconds,
and, as in the demo, includes the first BatchNorm call's import of numba and load of its cached kernels,
about 0.6 s), on PyTorch's from after its model and optimizer exist; the child's start-up, imports and data
are not. Both sides use the same thread count (``--threads``; default: the demo's, all CPUs for digits, 1
for sort): typedtensor's BLAS pools through threadpoolctl, ``torch.set_num_threads`` for PyTorch. Before timing, the PyTorch child checks that its network computes the typedtensor model's
initial logits (the run prints the largest difference), then waits for its threads to go idle.

Ratio = typedtensor / PyTorch, lower is better. The machine is shared: only figures taken at a low load
compare with each other, so the load average is printed with every child's figure.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines here set and which slow NumPy's OpenBLAS,
are unset for this process and its children before NumPy is imported (the run prints what it unset).
"""

from __future__ import annotations

from bench._timing import settle, unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

import typedtensor as tt  # noqa: E402
from typedtensor.data import Column, batches  # noqa: E402
from typedtensor.examples import digits, sort  # noqa: E402
from typedtensor.examples._common import blas_threads  # noqa: E402
from typedtensor.nn import _bn_backend  # noqa: E402

__all__ = ["DEMOS", "Config", "Result", "config", "main", "run_side"]

DEMOS = ("digits", "sort")
SIDES = ("tt", "torch")
LABELS = {"tt": "typedtensor", "torch": "PyTorch"}
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_S = 1800


@dataclasses.dataclass(frozen=True)
class Config:
    """One demo's training run, as its command line's defaults give it (``config``)."""

    demo: str
    #: digits: epochs; sort: steps
    length: int
    batch_size: int
    lr: float
    seed: int
    #: NumPy's BLAS threads (typedtensor) and ``torch.set_num_threads`` (PyTorch)
    threads: int
    #: sort only: held-out evaluations (the last at the end) and held-out problems
    evals: int = 0
    held_out: int = 0

    def describe(self) -> str:
        common = f"batch {self.batch_size}, lr {self.lr:g}, seed {self.seed}, {self.threads} thread(s) each side"
        if self.demo == "digits":
            return (
                f"digits: {self.length} epochs, AdamW (weight decay 1e-4, cosine lr per epoch), {common}, "
                "held-out evaluation after every epoch"
            )
        return (
            f"sort: {self.length} steps, Adam (warm-up {sort_warmup(self.length)} steps, cosine decay), {common}, "
            f"{self.evals} evaluations of {self.held_out} held-out problems (greedy generation)"
        )


def sort_warmup(steps: int) -> int:
    """The sort demo's warm-up steps (``sort.train``'s rule)."""
    return max(1, min(100, steps // 10))


def config(
    demo: str,
    *,
    quick: bool = False,
    length: int | None = None,
    threads: int | None = None,
    held_out: int | None = None,
) -> Config:
    """The demo's own defaults (``python -m typedtensor.examples.DEMO`` with no option); ``quick``: a short run;
    ``length`` (epochs or steps), ``threads`` and (sort) ``held_out`` override."""
    batch_size, lr, seed = 64, 3e-3, 0  # examples._common.demo_parser's defaults
    if demo == "digits":
        n = length if length is not None else (2 if quick else 20)
        return Config("digits", n, batch_size, lr, seed, threads if threads is not None else CPUS)
    if demo == "sort":
        n = length if length is not None else (100 if quick else 1000)
        evals = min(2 if quick else 5, n)
        problems = held_out if held_out is not None else 1000
        return Config("sort", n, batch_size, lr, seed, threads if threads is not None else 1, evals, problems)
    raise ValueError(f"unknown demo {demo!r}: one of {', '.join(DEMOS)}")


@dataclasses.dataclass(frozen=True)
class Result:
    """One side's run: wall seconds of the timed loop, the final held-out accuracy, and what the child saw."""

    seconds: float
    accuracy: float
    #: the final training loss as the demo logs it (digits: the last epoch's running mean; sort: the mean of
    #: the steps since the previous logged point, the last 1% of the run)
    loss: float
    #: seconds before the timed loop (data, model, optimizer; the PyTorch side also the weight check)
    setup_s: float
    threads: str
    torch_loaded: bool
    #: PyTorch side: the largest difference of the initial logits from the typedtensor model's
    initial_logit_diff: float | None = None


def _digit_columns(
    x: NDArray[np.float32], y: NDArray[np.int64]
) -> tuple[Column[np.float32, Any, Any, Any], Column[np.int64]]:
    return Column[np.float32, Any, Any, Any](x, (1, 8, 8), np.float32), Column(y, (), np.int64)


# ---- typedtensor: the demos' own training functions ------------------------------------------------------


def _tt_digits(cfg: Config) -> Result:
    start = time.perf_counter()
    data = digits.load_data(cfg.seed)
    with blas_threads(cfg.threads):
        begin = time.perf_counter()
        _, history = digits.train(data, cfg.length, cfg.batch_size, cfg.lr, cfg.seed, verbose=False)
        seconds = time.perf_counter() - begin
        threads = _tt_threads()
    acc, loss = history["test_acc"][-1], history["train_loss"][-1]
    return Result(seconds, acc, loss, begin - start, threads, "torch" in sys.modules)


def _tt_sort(cfg: Config) -> Result:
    start = time.perf_counter()
    test = sort.held_out(cfg.held_out, cfg.seed)
    with blas_threads(cfg.threads):
        begin = time.perf_counter()
        _, history = sort.train(cfg.length, test, cfg.batch_size, cfg.lr, cfg.seed, cfg.evals, verbose=False)
        seconds = time.perf_counter() - begin
        threads = _tt_threads()
    acc, loss = history["accuracy"][-1], history["train_loss"][-1]
    return Result(seconds, acc, loss, begin - start, threads, "torch" in sys.modules)


def _tt_threads() -> str:
    """The BLAS pools' thread counts as threadpoolctl reports them now, and the BatchNorm backend."""
    backend = f"BatchNorm backend {_bn_backend.current()}"
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")  # untyped: used through Any
    except ImportError:
        return f"BLAS threads not limited (threadpoolctl is not installed), {backend}"
    pools: list[dict[str, Any]] = threadpoolctl.threadpool_info()
    counts = sorted({int(pool["num_threads"]) for pool in pools if pool.get("user_api") == "blas"})
    return f"BLAS threads {'/'.join(map(str, counts)) or '?'}, {backend}"


# ---- PyTorch: the same loops -----------------------------------------------------------------------------


def _torch_digits(torch: Any, cfg: Config) -> Result:
    from bench import _nets  # imports the typedtensor networks too (for the initial weights)

    f = torch.nn.functional
    start = time.perf_counter()
    data = digits.load_data(cfg.seed)
    model = digits.DigitsNet(cfg.seed)
    net, forward = _nets.torch_digits(torch)
    _nets.copy_weights(torch, model, net)
    x_test, y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    net.eval()
    with torch.no_grad():
        diff = float(np.abs(model.forward(tt.tensor(data.x_test)).numpy() - forward(x_test).numpy()).max())
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    # the demo's loader, used for its index arrays only: the same batches in the same order
    loader = batches(*_digit_columns(data.x_train, data.y_train), batch_size=cfg.batch_size, seed=cfg.seed)

    def evaluate() -> tuple[float, float]:
        net.eval()
        total_loss = correct = 0.0
        with torch.no_grad():
            for at in range(0, len(y_test), 512):
                logits = forward(x_test[at : at + 512])
                labels = y_test[at : at + 512]
                total_loss += f.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
        return total_loss / len(y_test), correct / len(y_test)

    settle()
    begin = time.perf_counter()
    accuracy = running = 0.0
    for epoch in range(cfg.length):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + np.cos(np.pi * epoch / cfg.length))
        net.train()
        running = 0.0
        for step, idx in enumerate(loader.index_batches()):
            if len(idx) < 2:
                continue  # as the demo: BatchNorm needs more than one value per channel in training
            opt.zero_grad()
            loss = f.cross_entropy(forward(torch.from_numpy(data.x_train[idx])), torch.from_numpy(data.y_train[idx]))
            loss.backward()
            opt.step()
            running += (loss.item() - running) / (step + 1)
        _, accuracy = evaluate()
    seconds = time.perf_counter() - begin
    return Result(seconds, accuracy, running, begin - start, _torch_threads(torch), True, diff)


def _torch_sort(torch: Any, cfg: Config) -> Result:
    from bench import _nets

    f = torch.nn.functional
    start = time.perf_counter()
    test = sort.held_out(cfg.held_out, cfg.seed)
    model = sort.build(cfg.seed)
    net, forward = _nets.torch_sort(torch, model, sort.problems(np.random.default_rng(cfg.seed), 2))
    net.eval()
    with torch.no_grad():
        ours = model.forward(sort.token_ids(test[:, :-1])).numpy()
        diff = float(np.abs(ours - forward(torch.as_tensor(test[:, :-1])).numpy()).max())
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng([cfg.seed, 2])  # sort.train's training problems: the same draws
    excluded = np.sort(sort._codes(test))  # the demo's rule: no held-out problem is drawn for training
    prompts, answers = torch.as_tensor(test[:, : sort.LENGTH]), torch.as_tensor(test[:, sort.LENGTH :])
    warmup = sort_warmup(cfg.length)
    marks = {cfg.length * (i + 1) // cfg.evals for i in range(cfg.evals)}

    def accuracy() -> float:
        net.eval()
        with torch.no_grad():
            seqs = prompts
            for _ in range(sort.LENGTH):
                seqs = torch.cat([seqs, forward(seqs)[:, -1].argmax(-1, keepdim=True)], 1)
        return float((seqs[:, sort.LENGTH :] == answers).all(1).sum().item()) / len(test)

    log_every = max(1, cfg.length // 100)  # sort.train's logging of the training loss
    settle()
    begin = time.perf_counter()
    final = total = mean_loss = 0.0
    previous = 0
    for step in range(cfg.length):
        for group in opt.param_groups:
            group["lr"] = sort.learning_rate(step, cfg.length, cfg.lr, warmup)
        rows = sort.training_batch(rng, cfg.batch_size, excluded)
        net.train()
        opt.zero_grad()
        logits = forward(torch.as_tensor(rows[:, :-1]))[:, sort.LENGTH - 1 :].reshape(-1, sort.VOCAB)
        loss = f.cross_entropy(logits, torch.as_tensor(rows[:, sort.LENGTH :]).reshape(-1))
        loss.backward()
        opt.step()
        total += loss.item()  # the demo reads every step's loss
        done = step + 1
        if done % log_every == 0 or done == cfg.length:
            mean_loss, total, previous = total / (done - previous), 0.0, done
        if done in marks:
            final = accuracy()
    seconds = time.perf_counter() - begin
    return Result(seconds, final, mean_loss, begin - start, _torch_threads(torch), True, diff)


def _torch_threads(torch: Any) -> str:
    return f"torch {torch.__version__} intra-op {torch.get_num_threads()}"


def run_side(side: str, cfg: Config) -> Result:
    """One side of one demo, in this process (the benchmark runs each in a fresh child process)."""
    if side == "tt":
        return (_tt_digits if cfg.demo == "digits" else _tt_sort)(cfg)
    if side != "torch":
        raise ValueError(f"unknown side {side!r}: one of {', '.join(SIDES)}")
    torch: Any = importlib.import_module("torch")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # its dropout masks: the same in every run (not typedtensor's: another generator)
    return (_torch_digits if cfg.demo == "digits" else _torch_sort)(torch, cfg)


# ---- the parent: children, alternated and repeated -------------------------------------------------------


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def child(side: str, cfg: Config) -> Result:
    """Run one side of one demo in a fresh process; its result."""
    command = [sys.executable, "-m", "bench.demos", "--child", side, json.dumps(dataclasses.asdict(cfg))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"the {LABELS[side]} child of {cfg.demo} failed:\n{done.stderr}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def _median(results: Sequence[Result], key: Callable[[Result], float]) -> float:
    return statistics.median(key(r) for r in results)


def _accuracies(results: Sequence[Result]) -> str:
    values = sorted({f"{100 * r.accuracy:.2f}%" for r in results})
    return " / ".join(values)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the digits and sort demos' training loops vs the same in PyTorch")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side of each demo (default 3)")
    parser.add_argument("--demos", nargs="+", choices=DEMOS, default=list(DEMOS))
    parser.add_argument("--quick", action="store_true", help="a smoke run: digits 2 epochs, sort 100 steps")
    parser.add_argument("--threads", type=int, default=None, help="threads of both sides (default: the demo's)")
    parser.add_argument("--epochs", type=int, default=None, help="digits epochs (default 20, --quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="sort steps (default 1000, --quick 100)")
    parser.add_argument("--held-out", type=int, default=None, help="sort's held-out problems (default 1000)")
    parser.add_argument("--no-torch", action="store_true", help="typedtensor only")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeat", "threads", "epochs", "steps", "held_out"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.child is not None:
        side, raw = args.child
        result = run_side(side, Config(**json.loads(raw)))
        print(json.dumps(dataclasses.asdict(result)))
        return
    print("the whole demos' training loops: typedtensor vs the same loops in PyTorch CPU (float32), wall time")
    print(f"python {platform.python_version()}, numpy {np.__version__}, typedtensor {tt.__version__}; CPUs: {CPUS}")
    if UNSET:
        print("unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET.items()) + " before importing numpy")
    sides: tuple[str, ...] = SIDES
    if args.no_torch:
        sides = ("tt",)
        print("--no-torch: typedtensor only")
    elif importlib.util.find_spec("torch") is None:
        sides = ("tt",)
        print("torch is not installed (pip install torch==2.13.0): typedtensor only")
    lengths = {"digits": args.epochs, "sort": args.steps}
    configs = [
        config(d, quick=args.quick, length=lengths[d], threads=args.threads, held_out=args.held_out) for d in args.demos
    ]
    for cfg in configs:
        print("  " + cfg.describe())
    print(f"each side in a fresh process, {args.repeat} repeat(s), the order of the sides alternating")
    before = load()
    print(f"{before} at the start")
    results: dict[tuple[str, str], list[Result]] = {(c.demo, s): [] for c in configs for s in sides}
    began = time.perf_counter()
    for index in range(args.repeat):
        order = sides if index % 2 == 0 else sides[::-1]
        for cfg in configs:
            for side in order:
                result = child(side, cfg)
                results[cfg.demo, side].append(result)
                print(f"  {describe_run(cfg.demo, side, result)}; {load()}")
    after = load()
    print(f"\nmedians of {args.repeat} run(s) per side, wall seconds of the training loop with its evaluations")
    print(f"{before} at the start, {after} at the end; {time.perf_counter() - began:.0f} s in all")
    for line in summary(configs, sides, results):
        print(line)


def describe_run(demo: str, side: str, result: Result) -> str:
    """One child's figures on one line."""
    check = "" if result.initial_logit_diff is None else f", initial logits differ by {result.initial_logit_diff:.1e}"
    return (
        f"{demo:6} {LABELS[side]:11} {result.seconds:7.2f} s, accuracy {100 * result.accuracy:.2f}%, "
        f"final training loss {result.loss:.4f} (setup {result.setup_s:.1f} s; {result.threads}; "
        f"torch loaded: {result.torch_loaded}{check})"
    )


def summary(configs: Sequence[Config], sides: Sequence[str], results: dict[tuple[str, str], list[Result]]) -> list[str]:
    """The table of medians: seconds per side, ratio, the accuracies reached (every distinct value), losses."""
    header = f"{'demo':8} {'typedtensor':>12}"
    if "torch" in sides:
        header += f" {'PyTorch':>10} {'ratio':>7}"
    lines = [header + "   final held-out accuracy; final training loss (median)"]
    for cfg in configs:
        ours = results[cfg.demo, "tt"]
        tt_s = _median(ours, lambda r: r.seconds)
        line = f"{cfg.demo:8} {tt_s:11.2f}s"
        accuracy = f"typedtensor {_accuracies(ours)}"
        loss = f"{_median(ours, lambda r: r.loss):.4f}"
        if "torch" in sides:
            theirs = results[cfg.demo, "torch"]
            pt_s = _median(theirs, lambda r: r.seconds)
            line += f" {pt_s:9.2f}s {tt_s / pt_s:6.2f}x"
            apart = 100 * abs(_median(ours, lambda r: r.accuracy) - _median(theirs, lambda r: r.accuracy))
            accuracy += f", PyTorch {_accuracies(theirs)} ({apart:.2f} points apart)"
            loss += f" / {_median(theirs, lambda r: r.loss):.4f}"
        lines.append(f"{line}   {accuracy}; {loss}")
    return lines


if __name__ == "__main__":
    main()
