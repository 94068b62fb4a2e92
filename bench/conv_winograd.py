"""The Winograd 3x3 convolution (``typedtensor.nn._conv_winograd``) against the im2col path and PyTorch.

Run from the repository root::

    python -m bench.conv_winograd [--threads 2] [--repeat 9] [--shapes all|big|small] [--direction fwd|dx]

The shapes, the harness and the printed line are ``bench/conv_numba.py``'s (round-robin series of each side,
the process settled before a series of another library, medians, GF/s, load average), with the Winograd
kernel as the first side ("nb" in the line); the im2col side is im2col whatever ``TYPEDTENSOR_CONV`` says.
``--threads 1`` times the serial build, the one Conv2D's split parts run (``_ops.conv_parallel``: OpenBLAS on one
thread). ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are unset before NumPy is imported.
"""

from bench._timing import unset_env

UNSET_OPENBLAS = unset_env(("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench import conv_numba as _harness  # noqa: E402


class _Kernel:
    """``conv_numba``'s interface (conv3x3, input_grad, supports) over the Winograd kernel."""

    def __init__(self) -> None:
        from typedtensor.nn import _conv_winograd

        self.winograd: Any = _conv_winograd

    def conv3x3(self, x: Any, w: Any, b: Any, pad: Any, dil: Any) -> Any:
        return self.winograd.conv3x3(x, w, b, pad)

    def input_grad(self, g: Any, w: Any, pad: Any, dil: Any) -> Any:
        return self.winograd.input_grad(g, w, pad)

    def supports(self, x: Any, w: Any, stride: Any, groups: Any) -> bool:
        return bool(self.winograd.supports(x, w, stride, (1, 1), groups))


def main(argv: Sequence[str] | None = None) -> None:
    args = _harness._parse(argv)
    numba: Any = importlib.import_module("numba")
    torch: Any = importlib.import_module("torch")  # not a dependency: the default install's checkers lack it
    threadpoolctl: Any = importlib.import_module("threadpoolctl")

    from typedtensor._ops import conv as im2col
    from typedtensor.nn import _conv_backend

    _conv_backend.use("im2col")  # the reference side: conv2d would take this kernel under TYPEDTENSOR_CONV=winograd

    threads = args.threads
    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    print(f"threads {threads}, numba layer via NUMBA_THREADING_LAYER={os.environ.get('NUMBA_THREADING_LAYER')!r}")
    print(f"load average {os.getloadavg()} (nb = Winograd F(2x2, 3x3))")
    small = _harness.SMALL
    shapes = [s for s in _harness.SHAPES if args.shapes == "all" or (s in small) == (args.shapes == "small")]
    rng = np.random.default_rng(0)
    kernel = _Kernel()
    for shape, o, stride in shapes:
        _harness._measure(shape, o, stride, args.repeat, rng, torch, im2col, kernel, args.direction)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main(sys.argv[1:])
