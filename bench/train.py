"""One training step (and one inference batch) of the digits demo network: typedtensor vs PyTorch CPU.

    python -m bench.train [--repeat N] [--batch B]

The network is ``typedtensor.examples.digits.DigitsNet`` (Conv2D, BatchNorm2D, ReLU, MaxPool2D,
global average pooling, Dropout, Linear: the main job's model) and the same layers in PyTorch with
the same initial weights. A training step is: zero the gradients, forward in training mode,
cross-entropy, backward, AdamW update; inference is one forward of the batch in inference mode
(PyTorch: eval mode under ``no_grad``). Both use the same number of threads (PyTorch's intra-op
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
from typedtensor import nn  # noqa: E402
from typedtensor.examples.digits import DigitsNet, Images, Labels  # noqa: E402
from typedtensor.nn import _bn_backend  # noqa: E402

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ours(batch: int, seed: int = 0) -> dict[str, Any]:
    """The typedtensor step and inference closures, plus the model (for copying its weights)."""
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal((batch, 1, 8, 8)).astype(np.float32)
    y_np = rng.integers(0, 10, batch)
    model = DigitsNet(seed)
    grads = model.alloc_grads()
    opt = tt.optim.AdamW(model, lr=1e-3, weight_decay=1e-4)
    x: Images = tt.tensor(x_np).realize((batch, 1, 8, 8))
    labels: Labels = tt.tensor(y_np, np.int64).realize((batch,))

    def step() -> None:
        model.zero_grads(grads)
        loss = nn.cross_entropy(model.forward_mut(x.trace(grads)), labels)
        opt.update(model, loss.backward())

    def infer() -> None:
        model.forward(x)

    return {"model": model, "step": step, "infer": infer, "x": x_np, "y": y_np}


def theirs(torch: Any, model: DigitsNet, x_np: Any, y_np: Any) -> dict[str, Any]:
    """The same network in PyTorch, initialised with ``model``'s weights."""
    tn = torch.nn
    net = tn.Sequential(
        tn.Conv2d(1, 16, 3, padding=1, bias=False),
        tn.BatchNorm2d(16),
        tn.ReLU(),
        tn.Conv2d(16, 32, 3, padding=1, bias=False),
        tn.BatchNorm2d(32),
        tn.ReLU(),
        tn.MaxPool2d(2),
        tn.Conv2d(32, 64, 3, padding=1, bias=False),
        tn.BatchNorm2d(64),
        tn.ReLU(),
        tn.AdaptiveAvgPool2d(1),
        tn.Flatten(),
        tn.Dropout(0.2),
        tn.Linear(64, 10),
    )
    ours_state = model.state_dict()
    names = {
        "0": "conv1",
        "1": "bn1",
        "3": "conv2",
        "4": "bn2",
        "7": "conv3",
        "8": "bn3",
        "13": "fc",
    }
    with torch.no_grad():
        for key, value in net.state_dict().items():
            index, attr = key.split(".", 1)
            source = f"{names[index]}.{'scale' if attr == 'weight' and names[index].startswith('bn') else attr}"
            value.copy_(torch.as_tensor(ours_state[source]))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.as_tensor(x_np)
    y = torch.as_tensor(y_np)

    def step() -> None:
        net.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    def infer() -> None:
        net.eval()
        with torch.no_grad():
            net(x)

    return {"step": step, "infer": infer}


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
    mine = ours(args.batch)
    namespace: dict[str, object] = {"tt_step": mine["step"], "tt_infer": mine["infer"]}
    cases = [Case("tt_step()"), Case("tt_infer()")]
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        torch = None
        print("torch is not installed (pip install torch==2.13.0): typedtensor times only")
    if torch is not None:
        torch.set_num_threads(CPUS)
        print(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
        other = theirs(torch, mine["model"], mine["x"], mine["y"])
        namespace |= {"pt_step": other["step"], "pt_infer": other["infer"]}
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
