"""The sort demo's Transformer: one training step, one inference batch and the greedy evaluation, vs PyTorch CPU.

    python -m bench.transformer_step [--repeat N] [--batch B] [--generate-repeat N]

The network is ``typedtensor.examples.sort.SortNet`` at the demo's size (token and position embeddings
of 48, two causal pre-norm ``nn.TransformerBlock``s of 4 heads with a tanh-GELU MLP of 192, a final
LayerNorm, a linear head to 10 tokens) and the same network in PyTorch (``nn.Embedding`` twice,
``nn.TransformerEncoderLayer(48, 4, 192, dropout=0, activation=gelu(approximate="tanh"), batch_first=True,
norm_first=True)`` twice with a causal mask, ``nn.LayerNorm``, ``nn.Linear``) holding the same weights
(PyTorch's names are ours, so the state_dict copies key by key). A training step is: zero the
gradients, forward on (batch, 19) tokens, the cross-entropy of the 10 answer positions, backward, Adam
update; inference is one forward of that batch (PyTorch: eval mode under ``no_grad``); generation is
the demo's evaluation, the greedy answers of 1,000 problems (10 forwards of the whole batch, growing
from 10 to 19 tokens). Each is timed with as many threads as CPUs (NumPy's OpenBLAS at its default
pool, ``torch.set_num_threads(CPUs)``) and with one (the demo's ``--blas-threads 1`` through
threadpoolctl, ``torch.set_num_threads(1)``): on a busy machine the small matrices of this model lose
far more to waiting for a second thread than they gain. Repeats are interleaved and the median is
reported; ratio = typedtensor / PyTorch at the same thread count, lower is better.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines here set and which slow NumPy's OpenBLAS,
are unset for this process before NumPy is imported (the run prints what it unset).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import platform
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from bench._timing import Case, PreparedCase, median_call_us, median_prepared_us, unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from typedtensor.examples import sort  # noqa: E402
from typedtensor.examples._common import blas_threads  # noqa: E402

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
PROBLEMS = 1000  # the demo's held-out set


def ours(batch: int, seed: int = 0) -> dict[str, Any]:
    """The typedtensor step, inference and generation closures, plus the model (for copying its weights)."""
    rows = sort.problems(np.random.default_rng(seed), batch)
    test = sort.held_out(PROBLEMS, seed)
    model = sort.build(seed)
    grads = model.alloc_grads()
    opt = tt.optim.Adam(model, lr=1e-3)
    ids = sort.token_ids(rows[:, :-1]).realize((batch, sort.CONTEXT))

    def step() -> None:
        model.zero_grads(grads)
        loss = sort.answer_loss(model.forward_mut(ids.trace(grads)), rows[:, sort.LENGTH :])
        opt.update(model, loss.backward())

    def infer() -> None:
        model.forward(ids)

    def generate() -> None:
        sort.generate(model, test[:, : sort.LENGTH])

    return {"model": model, "step": step, "infer": infer, "generate": generate, "rows": rows, "test": test}


def theirs(torch: Any, model: sort.SortNet[Any], rows: Any, test: Any) -> dict[str, Any]:
    """The same network in PyTorch, initialised with ``model``'s weights."""
    tn = torch.nn
    dim, heads, layers = model.dim, model.blocks[0].num_heads, len(model.blocks)

    gelu = functools.partial(torch.nn.functional.gelu, approximate="tanh")  # the demo's (and minGPT's) GELU
    blocks = [
        tn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation=gelu, batch_first=True, norm_first=True)
        for _ in range(layers)
    ]
    net = tn.ModuleDict(  # the state_dict keys are SortNet's
        {
            "tokens": tn.Embedding(sort.VOCAB, dim),
            "positions": tn.Embedding(sort.CONTEXT, dim),
            "blocks": tn.ModuleList(blocks),
            "norm": tn.LayerNorm(dim),
            "head": tn.Linear(dim, sort.VOCAB),
        }
    )

    def forward(tokens: Any) -> Any:
        t = tokens.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)  # True: not attended (a later token)
        x = net["tokens"](tokens) + net["positions"](torch.arange(t))
        for block in blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return net["head"](net["norm"](x))

    ours_state = model.state_dict()
    with torch.no_grad():
        for key, value in net.state_dict().items():
            value.copy_(torch.as_tensor(ours_state[key]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    ids = torch.as_tensor(rows[:, :-1])
    labels = torch.as_tensor(rows[:, sort.LENGTH :]).reshape(-1)
    prompts = torch.as_tensor(test[:, : sort.LENGTH])

    def step() -> None:
        net.train()
        opt.zero_grad()
        logits = forward(ids)[:, sort.LENGTH - 1 :].reshape(-1, sort.VOCAB)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        opt.step()

    def infer() -> None:
        net.eval()
        with torch.no_grad():
            forward(ids)

    def generate() -> None:
        net.eval()
        with torch.no_grad():
            seqs = prompts
            for _ in range(sort.LENGTH):
                seqs = torch.cat([seqs, forward(seqs)[:, -1].argmax(-1, keepdim=True)], 1)

    return {"net": net, "forward": forward, "step": step, "infer": infer, "generate": generate}


def _same_logits(torch: Any, model: sort.SortNet[Any], other: dict[str, Any], rows: Any) -> float:
    """The largest difference between the two networks' logits on the batch (a check of the weight copy)."""
    other["net"].eval()
    with torch.no_grad():
        pt = other["forward"](torch.as_tensor(rows[:, :-1])).numpy()
    return float(np.abs(model.forward(sort.token_ids(rows[:, :-1])).numpy() - pt).max())


@contextmanager
def _torch_threads(torch: Any, threads: int) -> Generator[None]:
    """PyTorch's intra-op threads set to ``threads`` inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description="sort Transformer: training step, inference and generation vs PyTorch")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64, help="batch size (the demo trains with 64)")
    parser.add_argument("--generate-repeat", type=int, default=3, help="repeats of the 1,000-problem generation")
    args = parser.parse_args()
    print("sort Transformer (SortNet, D=48, 4 heads, 2 blocks) vs PyTorch CPU (float32)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, typedtensor {tt.__version__}")
    print(f"CPUs available: {CPUS}")
    if UNSET:
        print("unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET.items()) + " before importing numpy")
    # the weights are copied before any step changes them (the steps below train both models alike)
    mine = ours(args.batch)
    contexts: list[Callable[[], AbstractContextManager[object]]] = [nullcontext, lambda: blas_threads(1)]
    namespace: dict[str, object] = {"tt_step": mine["step"], "tt_infer": mine["infer"]}
    cases = [Case(f"tt_{name}()", context=context) for name in ("step", "infer") for context in contexts]
    generators = [PreparedCase(lambda: mine["generate"], context) for context in contexts]
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        torch = None
        print("torch is not installed (pip install torch==2.13.0): typedtensor times only")
    if torch is not None:
        torch.set_num_threads(CPUS)
        print(f"torch {torch.__version__}")
        other = theirs(torch, mine["model"], mine["rows"], mine["test"])
        print(f"same weights: largest logit difference {_same_logits(torch, mine['model'], other, mine['rows']):.1e}")
        namespace |= {"pt_step": other["step"], "pt_infer": other["infer"]}
        torch_contexts: list[Callable[[], AbstractContextManager[object]]] = [
            lambda: _torch_threads(torch, CPUS),
            lambda: _torch_threads(torch, 1),
        ]
        cases += [Case(f"pt_{name}()", context=context) for name in ("step", "infer") for context in torch_contexts]
        generators += [PreparedCase(lambda: other["generate"], context) for context in torch_contexts]
    times = median_call_us(cases, namespace, repeat=args.repeat, target_s=0.1)
    gen = median_prepared_us(generators, calls=1, repeat=args.generate_repeat)
    print(f"\nbatch {args.batch} x {sort.CONTEXT} tokens, median of {args.repeat} interleaved repeats (ms per call);")
    print(f"generation: {PROBLEMS} problems x {sort.LENGTH} tokens, median of {args.generate_repeat}")
    print(f"{CPUS} threads: OpenBLAS's default pool and torch.set_num_threads({CPUS}); 1: the demo's --blas-threads 1")
    header = f"{'':12} {f'tt {CPUS} thr':>11} {'tt 1 thr':>10}"
    if torch is not None:
        header += f" {f'torch {CPUS} thr':>12} {'torch 1 thr':>12} {f'ratio {CPUS}':>8} {'ratio 1':>8}"
    print(header)
    # per row: typedtensor (CPUS threads, 1 thread) and PyTorch (CPUS threads, 1 thread), in microseconds
    rows = [
        ("train step", times[0:2], times[4:6]),
        ("inference", times[2:4], times[6:8]),
        ("generation", gen[0:2], gen[2:4]),
    ]
    for name, mine_us, theirs_us in rows:
        line = f"{name:12} {mine_us[0] / 1e3:11.3f} {mine_us[1] / 1e3:10.3f}"
        if torch is not None:
            line += f" {theirs_us[0] / 1e3:12.3f} {theirs_us[1] / 1e3:12.3f}"
            line += f" {mine_us[0] / theirs_us[0]:7.2f}x {mine_us[1] / theirs_us[1]:7.2f}x"
        print(line)


if __name__ == "__main__":
    main()
