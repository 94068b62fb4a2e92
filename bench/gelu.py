"""GELU speed, exact (erf) and tanh, alone and inside a TransformerBlock, against PyTorch CPU.

Run from the repository root::

    python -m bench.gelu [--repeat N] [--threads N]

At the MLP of a ``TransformerBlock`` with B = 64, T = 20, D = 64 (hidden 4 D = 256), float32, checks on:

* ``gelu fwd``: ``x.gelu(approximate)`` on a (64, 20, 256) tensor; PyTorch: ``F.gelu`` under ``no_grad``;
* ``gelu f+b``: ``(x.leaky_trace().gelu(approximate) * w).sum().backward()``; PyTorch the same with
  ``x.requires_grad``;
* ``block f+b``: zero the gradients, ``(block.forward_mut(x.trace(grads)) * w).sum().backward()`` for a
  ``TransformerBlock(64, 4, approximate=...)``; PyTorch: ``TransformerEncoderLayer(64, 4, 256, 0.0, gelu,
  batch_first=True, norm_first=True)`` holding the same weights.

Both libraries run at ``--threads`` threads (default 1: NumPy's BLAS through threadpoolctl,
``torch.set_num_threads``). Repeats are interleaved (``bench._timing``), medians reported; ratio =
typedtensor / PyTorch, lower is better. ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are unset for this
process before NumPy is imported (the run prints what it unset).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
from contextlib import nullcontext
from typing import Any, Literal

from bench._timing import Calls, median_calls_s, unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from typedtensor import nn  # noqa: E402
from typedtensor.examples._common import blas_threads  # noqa: E402

B, T, D, HEADS = 64, 20, 64, 4
Form = Literal["none", "tanh"]
FORMS: tuple[Form, ...] = ("none", "tanh")
TITLE = "GELU speed, exact (erf) and tanh, alone and inside a TransformerBlock, against PyTorch CPU."


def _calls(torch: Any) -> Calls:
    rng = np.random.default_rng(0)
    h = rng.standard_normal((B, T, 4 * D)).astype(np.float32)
    hw = rng.standard_normal(h.shape).astype(np.float32)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    xw = rng.standard_normal(x.shape).astype(np.float32)
    th, thw, tx, txw = (torch.as_tensor(a) for a in (h, hw, x, xw))
    calls: Calls = {}
    for form in FORMS:
        layer = torch.nn.TransformerEncoderLayer(
            D, HEADS, 4 * D, 0.0, functools.partial(torch.nn.functional.gelu, approximate=form), batch_first=True,
            norm_first=True,
        )  # fmt: skip
        block = nn.TransformerBlock(D, HEADS, approximate=form)
        block.load_state_dict({k: v.detach().numpy() for k, v in layer.state_dict().items()}, naming="torch")
        grads = block.alloc_grads()
        calls.update(_pair(torch, form, h, hw, th, thw))
        calls[f"block f+b {form} tt"] = (functools.partial(_block_step, block, grads, x, xw), nullcontext)
        calls[f"block f+b {form} torch"] = (functools.partial(_torch_block_step, layer, tx, txw), nullcontext)
    return calls


def _pair(torch: Any, form: Form, h: Any, hw: Any, th: Any, thw: Any) -> Calls:
    ht, hwt = tt.tensor(h), tt.tensor(hw)
    gelu = functools.partial(torch.nn.functional.gelu, approximate=form)

    def tt_fwd() -> None:
        ht.gelu(form)

    def torch_fwd() -> None:
        with torch.no_grad():
            gelu(th)

    def tt_fb() -> None:
        (ht.leaky_trace().gelu(form) * hwt).sum().backward()

    def torch_fb() -> None:
        a = th.detach().requires_grad_()
        (gelu(a) * thw).sum().backward()

    return {
        f"gelu fwd {form} tt": (tt_fwd, nullcontext),
        f"gelu fwd {form} torch": (torch_fwd, nullcontext),
        f"gelu f+b {form} tt": (tt_fb, nullcontext),
        f"gelu f+b {form} torch": (torch_fb, nullcontext),
    }


def _block_step(block: Any, grads: Any, x: Any, w: Any) -> None:
    block.zero_grads(grads)
    (block.forward_mut(tt.tensor(x).trace(grads)) * tt.tensor(w)).sum().backward()


def _torch_block_step(layer: Any, x: Any, w: Any) -> None:
    layer.zero_grad()
    (layer(x) * w).sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="for NumPy's BLAS and torch (default 1)")
    args = parser.parse_args()
    torch: Any = importlib.import_module("torch")  # not a dependency: the default install's mypy has no stubs for it

    torch.set_num_threads(args.threads)
    print(TITLE)
    print(f"numpy {np.__version__}, torch {torch.__version__}, threads {args.threads}; unset: {UNSET or 'nothing'}")
    with blas_threads(args.threads):
        calls = _calls(torch)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        medians = median_calls_s(calls, repeat=args.repeat, target_s=0.05)
        print(f"load average after:  {os.getloadavg()[0]:.2f}")
    print(f"{'(ms, median of ' + str(args.repeat) + ')':24s} {'tt':>9s} {'torch':>9s} {'ratio':>7s}")
    for name in calls:
        if name.endswith(" tt"):
            ours, theirs = medians[name], medians[name[:-3] + " torch"]
            print(f"{name[:-3]:24s} {ours * 1e3:9.3f} {theirs * 1e3:9.3f} {ours / theirs:6.2f}x")


if __name__ == "__main__":
    main()
