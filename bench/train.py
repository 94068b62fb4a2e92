"""One training step (and one inference batch) of the digits demo network: typedtensor vs PyTorch CPU.

    python -m bench.train [--repeat N] [--batch B]

The network is ``typedtensor.examples.digits.DigitsNet`` (Conv2D, BatchNorm2D, ReLU, MaxPool2D,
global average pooling, Dropout, Linear: the main job's model) and the same layers in PyTorch with
the same initial weights, both built by ``bench._nets`` (which bench.networks shares), and checked to
compute the same logits, loss and gradients before timing. A training step is: zero the gradients,
forward in training mode, cross-entropy, backward, AdamW update; inference is one forward of the
batch in inference mode (PyTorch: eval mode under ``no_grad``). Both use the same number of threads (PyTorch's intra-op
threads = the CPUs available; NumPy's OpenBLAS uses its own pool). Repeats are interleaved and the
median is reported; ratio = typedtensor / PyTorch, lower is better.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines here set and which slow NumPy's OpenBLAS,
are unset for this process before NumPy is imported (the run prints what it unset).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
from typing import Any

from bench._timing import Case, median_call_us, unset_env

UNSET = unset_env(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"])

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from bench import _nets  # noqa: E402
from typedtensor.nn import _bn_backend  # noqa: E402

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description="digits network: one training step and inference vs PyTorch")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64, help="batch size (the demo trains with 64)")
    args = parser.parse_args()
    print("digits network (DigitsNet) training step and inference: typedtensor vs PyTorch CPU (float32)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, typedtensor {tt.__version__}")
    print(f"CPUs available: {CPUS}; BatchNorm backend: {_bn_backend.current()}")
    if UNSET:
        print("unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET.items()) + " before importing numpy")
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        torch = None
        print("torch is not installed (pip install torch==2.13.0): typedtensor times only")
    pair = _nets.build("digits", args.batch, torch)
    namespace: dict[str, object] = {"tt_step": pair.step, "tt_infer": pair.infer}
    cases = [Case("tt_step()"), Case("tt_infer()")]
    if torch is not None:
        torch.set_num_threads(CPUS)
        print(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
        same = _nets.parity(torch, pair)
        print("same outputs (max |tt - torch| / max |torch|): " + ", ".join(f"{k} {v:.1e}" for k, v in same.items()))
        namespace |= {"pt_step": pair.torch_step, "pt_infer": pair.torch_infer}
        cases += [Case("pt_step()"), Case("pt_infer()")]
    times = median_call_us(cases, namespace, repeat=args.repeat, target_s=0.1)
    print(f"\nbatch {args.batch}, median of {args.repeat} interleaved repeats (ms per call):")
    print(f"{'':12} {'typedtensor':>12} {'PyTorch':>10} {'ratio':>8}")
    for i, name in enumerate(["train step", "inference"]):
        ours_ms = times[i] / 1e3
        if torch is None:
            print(f"{name:12} {ours_ms:12.3f}")
        else:
            theirs_ms = times[i + 2] / 1e3
            print(f"{name:12} {ours_ms:12.3f} {theirs_ms:10.3f} {ours_ms / theirs_ms:7.2f}x")


if __name__ == "__main__":
    main()
