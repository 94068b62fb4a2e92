"""The numba 3x3 convolution (``typedtensor.nn._conv_numba``) against the im2col path and PyTorch, forward.

Run from the repository root::

    python -m bench.conv_numba [--threads 2] [--repeat 9] [--shapes all|big|small] [--direction fwd|dx]

For each shape (float32, 3x3, padding 1, stride 1, random weights and bias) it times ``conv3x3``, the
im2col + BLAS kernel (``typedtensor._ops.conv.conv2d`` with the Winograd kernel switched off) and
``torch.nn.functional.conv2d`` in ``torch.no_grad()`` (``--direction dx``: the input gradient alone,
``conv_numba.input_grad`` against the im2col backward asked for dx only and
``torch.ops.aten.convolution_backward`` with output mask (dx, -, -)), all with ``--threads`` threads. The three sides
run in series of about ``TARGET_S`` each, round-robin (``bench._timing.median_call_us``): before a
series of one library after another's, the process waits until the other's thread pool is idle
(``settle``), and each series starts with untimed warm-up calls. Printed: the MEDIAN ms per call, GF/s
(2 * N * O * C * 9 * Ho * Wo flops) and the ratios, with the load average before and after.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are unset before NumPy is imported (they slow OpenBLAS here).
"""

import sys

from bench._timing import unset_env

UNSET_OPENBLAS = unset_env(("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
NUMPY_PRELOADED = "numpy" in sys.modules

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench._timing import Case, median_call_us  # noqa: E402

#: (input shape, output channels, stride): kernel 3x3, padding 1.
SHAPES: tuple[tuple[tuple[int, int, int, int], int, int], ...] = (
    ((64, 16, 32, 32), 16, 1),
    ((64, 32, 16, 16), 32, 1),
    ((64, 3, 32, 32), 16, 1),
    ((8, 16, 32, 32), 16, 1),
    ((256, 16, 32, 32), 16, 1),
    ((64, 1, 8, 8), 16, 1),
    ((64, 16, 8, 8), 32, 1),
    ((64, 32, 4, 4), 64, 1),
    ((64, 16, 32, 32), 32, 2),
)
SMALL = {((64, 1, 8, 8), 16, 1), ((64, 16, 8, 8), 32, 1), ((64, 32, 4, 4), 64, 1)}
TARGET_S = 0.03
SERIES_WARMUP_S = 0.01


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--shapes", choices=("all", "big", "small"), default="all")
    parser.add_argument(
        "--direction", choices=("fwd", "dx"), default="fwd", help="forward, or the input gradient alone"
    )
    return parser.parse_args(argv)


def _measure(
    shape: tuple[int, int, int, int],
    o: int,
    stride: int,
    repeat: int,
    rng: Any,
    torch: Any,
    im2col: Any,
    conv_numba: Any,
    direction: str,
) -> None:
    """Time one shape (the three sides, round-robin series) and print its line; ``direction`` "fwd" or "dx"."""
    n, c, h, w = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    wt = rng.standard_normal((o, c, 3, 3), dtype=np.float32)
    b = rng.standard_normal(o, dtype=np.float32)
    pad = ((1, 1), (1, 1))
    xt, wtt, bt = torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(b)

    def run_torch() -> Any:
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wtt, bt, stride=stride, padding=1)

    ns: dict[str, object] = {
        "nb": lambda: conv_numba.conv3x3(x, wt, b, pad, (1, 1)),
        "i2c": lambda: im2col.conv2d(x, wt, b, (stride, stride), pad, (1, 1), 1),
        "pt": run_torch,
    }
    ok = bool(conv_numba.supports(x, wt, (stride, stride), 1))
    ref = None
    if direction == "dx":
        y, bwd = im2col.conv2d(x, wt, b, (stride, stride), pad, (1, 1), 1)
        g = rng.standard_normal(y.shape, dtype=np.float32)
        gt = torch.from_numpy(g)
        mask = [True, False, False]
        conv_bwd = torch.ops.aten.convolution_backward
        ns["nb"] = lambda: conv_numba.input_grad(g, wt, pad, (1, 1))
        ns["i2c"] = lambda: bwd(g, (True, False, False))
        ns["pt"] = lambda: conv_bwd(gt, xt, wtt, None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], 1, mask)[0]
        ref = conv_bwd(gt, xt, wtt, None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], 1, mask)[0].numpy()
    names = (["nb"] if ok else []) + ["i2c", "pt"]
    sides = {"nb": "numba", "i2c": "numpy", "pt": "torch"}
    cases = [Case(f"{name}()", side=sides[name]) for name in names]
    if ref is None:
        ref = run_torch().numpy()
    err = float(np.abs(ns["nb"]() - ref).max()) if ok else float("nan")  # type: ignore[operator]
    us = median_call_us(cases, ns, repeat=repeat, target_s=TARGET_S, series_warmup_s=SERIES_WARMUP_S, warmup=3)
    times = dict(zip(names, us, strict=True))
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    flops = 2 * n * o * c * 9 * ho * wo
    cells = [f"{k} {t / 1e3:.3f} ms {flops / t / 1e3:.0f} GF/s" for k, t in times.items()]
    if ok:
        ratio = f" | nb/torch {times['nb'] / times['pt']:.2f}  im2col/nb {times['i2c'] / times['nb']:.2f}"
    else:
        ratio = f" | (stride {stride}: not supported by conv3x3) im2col/torch {times['i2c'] / times['pt']:.2f}"
    print(f"{direction} {shape}->{o} s{stride}: " + "  ".join(cells) + ratio + f"  maxerr {err:.1e}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    numba: Any = importlib.import_module("numba")
    torch: Any = importlib.import_module("torch")  # not a dependency: the default install's checkers lack it
    threadpoolctl: Any = importlib.import_module("threadpoolctl")

    from typedtensor._ops import conv as im2col
    from typedtensor.nn import _conv_backend
    from typedtensor.nn import _conv_numba as conv_numba

    _conv_backend.use("im2col")  # the im2col side: conv2d would take the Winograd kernel for these shapes

    threads = args.threads
    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    print(f"threads {threads}, numba layer via NUMBA_THREADING_LAYER={os.environ.get('NUMBA_THREADING_LAYER')!r}")
    print(f"unset {sorted(UNSET_OPENBLAS)} (numpy preloaded: {NUMPY_PRELOADED}); load average {os.getloadavg()}")
    shapes = [s for s in SHAPES if args.shapes == "all" or (s in SMALL) == (args.shapes == "small")]
    rng = np.random.default_rng(0)
    for shape, o, stride in shapes:
        _measure(shape, o, stride, args.repeat, rng, torch, im2col, conv_numba, args.direction)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
