"""Inference with and without BatchNorm folding (``nn.fold_batchnorms``): time per batch, and the outputs' difference.

    python -m bench.fold [--networks resnet vgg digits] [--batch 64] [--repeat 7] [--dtypes float32 float64]

For each network of ``bench._nets`` (the small ResNet and the VGG-style stack on (B, 3, 32, 32), the digits
CNN on (B, 1, 8, 8)), with BatchNorm statistics and affine parameters set away from the identity (as after
training; seeded), the run folds the model with a batch-2 example and prints: how many pairs were folded,
how long folding took, the largest absolute difference between the folded and the unfolded model's
outputs on a fresh batch (and relative to the largest output), per dtype; and, for float32, the median time
of one inference batch (``model.forward(x)``) of each (``bench._timing.median_call_us``: series of about
50 ms, interleaved, ``--repeat`` times), with the load average (a shared machine: compare figures taken at
the same load only), and the fastest of 15 alternating pairs of calls of each (less moved by other jobs).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import typedtensor as tt
from bench._nets import SmallResNet, VGGStack
from bench._timing import Case, median_call_us
from typedtensor import extend as ext
from typedtensor import nn
from typedtensor.examples.digits import DigitsNet

NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "resnet": (SmallResNet, (3, 32, 32)),
    "vgg": (VGGStack, (3, 32, 32)),
    "digits": (DigitsNet, (1, 8, 8)),
}


def trained_stats(model: nn.Module, seed: int = 0) -> None:
    """Every BatchNorm's running statistics and affine parameters (where it has them) away from the identity,
    as after training (seeded)."""
    rng = np.random.default_rng(seed)
    for _, module in model.named_modules():
        m: Any = module
        if isinstance(module, nn.BatchNorm2D | nn.BatchNorm1D | nn.FusedBatchNorm2D):
            c = m.num_features
            if m.running_mean is not None and m.running_var is not None:
                ext.data_mut(m.running_mean)[...] = rng.normal(0.0, 0.5, c)
                ext.data_mut(m.running_var)[...] = rng.uniform(0.3, 3.0, c)
            if m.scale is not None and m.bias is not None:
                ext.data_mut(m.scale)[...] = rng.normal(1.0, 0.4, c)
                ext.data_mut(m.bias)[...] = rng.normal(0.0, 0.4, c)


def batch(shape: tuple[int, ...], dtype: Any, seed: int) -> tt.Tensor[Any, Any, tt.NoneTape]:
    return tt.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def run(name: str, batch_size: int, dtypes: list[str], repeat: int) -> None:
    build, item = NETWORKS[name]
    for dtype_name in dtypes:
        dtype = np.dtype(dtype_name).type
        with tt.checks(dtype is np.float32):  # the networks' annotations say float32
            model = build().to_dtype(dtype)
            trained_stats(model)
            start = time.perf_counter()
            folded = nn.fold_batchnorms(model, batch((2, *item), dtype, 0))
            took = time.perf_counter() - start
            x = batch((batch_size, *item), dtype, 1)
            forward: Any = getattr(model, "forward")  # noqa: B009
            forward_folded: Any = getattr(folded, "forward")  # noqa: B009
            ref = np.asarray(forward(x).numpy(), np.float64)
            diff = float(np.max(np.abs(np.asarray(forward_folded(x).numpy(), np.float64) - ref)))
            pairs = len(nn.folded_batchnorms(folded))
            print(
                f"{name} {dtype_name}: {pairs} pairs folded in {took:.2f} s; batch {batch_size}: max |folded - "
                f"unfolded| {diff:.3g} ({diff / float(np.max(np.abs(ref))):.3g} of max |output|)"
            )
            if dtype is not np.float32:
                continue
            namespace: dict[str, object] = {"unfolded": forward, "folded": forward_folded, "x": x}
            load = os.getloadavg()[0]
            before, after = median_call_us(
                [Case("unfolded(x)"), Case("folded(x)")], namespace, repeat=repeat, target_s=0.05
            )
            print(
                f"{name} float32 batch {batch_size} inference: unfolded {before / 1000:.2f} ms, folded "
                f"{after / 1000:.2f} ms ({after / before:.2f}x; load {load:.1f} -> {os.getloadavg()[0]:.1f})"
            )
            fast_before, fast_after = alternating_min_s(forward, forward_folded, x, 15)
            print(
                f"{name} float32 batch {batch_size}, fastest of 15 alternating pairs: unfolded "
                f"{fast_before * 1000:.2f} ms, folded {fast_after * 1000:.2f} ms ({fast_after / fast_before:.2f}x)"
            )


def alternating_min_s(
    a: Callable[[Any], object], b: Callable[[Any], object], x: object, rounds: int
) -> tuple[float, float]:
    """The fastest of ``rounds`` calls of each, ``a`` and ``b`` in turn (two calls each per round): seconds per call."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(rounds):
        for f, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            f(x)
            f(x)
            out.append((time.perf_counter() - start) / 2)
    return min(ta), min(tb)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["resnet", "vgg"], choices=sorted(NETWORKS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = parser.parse_args()
    for name in args.networks:
        run(name, args.batch, args.dtypes, args.repeat)


if __name__ == "__main__":
    main()
