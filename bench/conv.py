"""Conv2D speed: typedtensor (NumPy im2col + BLAS) against PyTorch CPU (``torch.nn.Conv2d``, 2 threads).

Run from the repository root::

    python -m bench.conv [--shapes all|small] [--repeat N]

For float32 3x3 convolutions with padding 1 on inputs (64, 1, 8, 8) -> 16 channels, (64, 16, 8, 8) -> 32
and (32, 64, 56, 56) -> 64 (``--shapes small``: the first two), through the public API with run-time
checks on, it times:

* ``fwd``: inference, ``conv.forward(x)`` (untraced: nothing recorded); PyTorch: ``conv(x)`` in
  ``torch.no_grad()``;
* ``f+b``: the training forward and backward, gradients of the input, weight and bias:
  ``(conv.forward_mut(x.trace(grads)) * g).sum().backward()`` minus ``mulsum``, the same
  ``(y.trace(grads) * g).sum().backward()`` on an output-sized tensor without the convolution (the
  fixed random ``g`` is the upstream gradient); PyTorch: ``conv(x).backward(g)`` with ``x`` requiring
  grad.

Both libraries start from the same weights. Every number is the MEDIAN over the repeats of a batch
of calls lasting about ``TARGET_S``, the calls of one shape measured round-robin (``bench._timing``)
so that a slow phase of this shared machine hits them alike.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` slow NumPy's BLAS on some processors here; this module
unsets them for its own process before NumPy is imported, and says so in its output.
"""

import sys

from bench._timing import unset_env

#: OpenBLAS variables removed before NumPy loads: {name: old value}.
UNSET_OPENBLAS = unset_env(("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
#: True when NumPy was loaded before the variables could be unset (then unsetting had no effect).
NUMPY_PRELOADED = "numpy" in sys.modules

import argparse  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import typedtensor as tt  # noqa: E402
from bench._timing import Calls, ContextFactory, median_calls_s  # noqa: E402
from typedtensor.nn import Conv2D  # noqa: E402

#: (input shape, output channels): kernel 3x3, padding 1, stride 1.
SHAPES: tuple[tuple[tuple[int, int, int, int], int], ...] = (
    ((64, 1, 8, 8), 16),
    ((64, 16, 8, 8), 32),
    ((32, 64, 56, 56), 64),
)
TORCH_THREADS = 2
#: Each timed batch of calls lasts about this long.
TARGET_S = 0.05
#: Repeats per shape when --repeat is not given: fewer for the big shape (a call takes ~0.1 s).
REPEAT_SMALL = 15
REPEAT_BIG = 7
BIG_OUTPUT = 1 << 24

Input = tt.Tensor[tuple[int, int, int, int], np.float32, tt.NoneTape]
DESCRIPTION = "Conv2D speed: typedtensor (NumPy im2col + BLAS) against PyTorch CPU."


def calls_for(shape: tuple[int, int, int, int], out_channels: int, torch: Any | None) -> Calls:
    """The timed calls of one shape by name (ours: fwd, step, mulsum; torch: fwd, f+b)."""
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(shape, dtype=np.float32)
    conv = Conv2D(shape[1], out_channels, 3, padding=1, seed=0)
    x: Input = tt.tensor(xa)
    ya = conv.forward(x).numpy()
    ga = rng.standard_normal(ya.shape, dtype=np.float32)
    g: Input = tt.tensor(ga)
    y: Input = tt.tensor(np.array(ya))
    grads = conv.alloc_grads()

    def fwd() -> object:
        return conv.forward(x)

    def step() -> object:
        return (conv.forward_mut(x.trace(grads)) * g).sum().backward()

    def mulsum() -> object:
        return (y.trace(grads) * g).sum().backward()

    calls: Calls = {"fwd": (fwd, nullcontext), "step": (step, nullcontext), "mulsum": (mulsum, nullcontext)}
    if torch is None:
        return calls
    reference = torch.nn.Conv2d(shape[1], out_channels, 3, padding=1)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in conv.state_dict().items()})
    xt = torch.from_numpy(xa.copy())
    xg = torch.from_numpy(xa.copy()).requires_grad_()
    gt = torch.from_numpy(ga)

    def torch_fwd() -> object:
        return reference(xt)

    def torch_fb() -> object:
        xg.grad = None
        reference.zero_grad()
        reference(xg).backward(gt)
        return xg.grad

    no_grad: ContextFactory = torch.no_grad
    calls["torch fwd"] = (torch_fwd, no_grad)
    calls["torch f+b"] = (torch_fb, nullcontext)
    return calls


def ratio(ours: float, theirs: float | None) -> str:
    return "n/a" if theirs is None or theirs <= 0 or ours <= 0 else f"{ours / theirs:.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conv", description=DESCRIPTION)
    parser.add_argument("--shapes", choices=("all", "small"), default="all", help="'small': the two 8x8 shapes")
    parser.add_argument("--repeat", type=int, default=None, help="repeats per measurement (default: per shape)")
    args = parser.parse_args(argv)
    torch: Any | None
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        torch = None
    print(
        f"Conv2D benchmark, float32, 3x3 kernel, padding 1: python {platform.python_version()}, numpy {np.__version__}, "
        f"torch {'not installed' if torch is None else torch.__version__}, run-time checks on: {tt.checks_enabled()}"
    )
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
        print(f"torch threads: {torch.get_num_threads()}; numpy's BLAS: its default threads")
    if UNSET_OPENBLAS:
        effect = " (numpy was already imported: no effect)" if NUMPY_PRELOADED else " before importing numpy"
        print("unset for this process: " + ", ".join(f"{k}={v}" for k, v in UNSET_OPENBLAS.items()) + effect)
    shapes = SHAPES[:2] if args.shapes == "small" else SHAPES
    header = f"{'input -> out channels':<26}{'fwd ms':>9}{'torch':>9}{'ratio':>7}{'f+b ms':>10}{'torch':>9}{'ratio':>7}"
    print(header)
    for shape, out_channels in shapes:
        big = shape[0] * out_channels * shape[2] * shape[3] >= BIG_OUTPUT
        repeat = args.repeat or (REPEAT_BIG if big else REPEAT_SMALL)
        ms = {
            k: v * 1e3
            for k, v in median_calls_s(calls_for(shape, out_channels, torch), repeat=repeat, target_s=TARGET_S).items()
        }
        fb = ms["step"] - ms["mulsum"]
        tf, tfb = ms.get("torch fwd"), ms.get("torch f+b")
        label = f"{'x'.join(map(str, shape))} -> {out_channels}"
        print(
            f"{label:<26}{ms['fwd']:>9.3f}{tf or float('nan'):>9.3f}{ratio(ms['fwd'], tf):>7}"
            f"{fb:>10.3f}{tfb or float('nan'):>9.3f}{ratio(fb, tfb):>7}"
        )
    print(
        "fwd: conv.forward(x) vs conv(x) under torch.no_grad(); f+b: forward + backward with input, weight and bias "
        "gradients (ours: step - mulsum, see the module docstring); ratio: typedtensor / PyTorch (< 1: faster)"
    )


if __name__ == "__main__":
    main()
