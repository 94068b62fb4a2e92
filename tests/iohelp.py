"""Helpers of the checkpoint tests: a small model, random module trees, and "nothing changed" snapshots."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from typedtensor import nn
from typedtensor.nn import LoadReport, Module

FORMATS = ("npz", "safetensors")
FLOATS = (np.float16, np.float32, np.float64)


class Small(nn.Module):
    """A Linear, a BatchNorm1D and a Dropout: every kind of state (parameters, statistics, a counter)."""

    def __init__(self, seed: int = 0, dtype: type[Any] = np.float32, eps: float = 1e-5, p: float = 0.5) -> None:
        self.fc = nn.Linear(3, 2, seed=seed, dtype=dtype)
        self.bn = nn.BatchNorm1D(2, eps=eps, dtype=dtype)
        self.drop = nn.Dropout(p)


def trained_small(seed: int = 0, dtype: type[Any] = np.float32) -> Small:
    """A Small with non-default values everywhere (statistics, counter, eps, p)."""
    m = Small(seed, dtype, eps=1e-3, p=0.25)
    randomise(m, seed)
    return m


def randomise(m: Module, seed: int) -> None:
    """Random parameters, running statistics (variances positive) and counters."""
    rng = np.random.default_rng(seed)
    m.reset_params(seed)
    for _, sub in m.named_modules():
        bn: Any = sub
        if isinstance(sub, (nn.BatchNorm1D, nn.BatchNorm2D)) and bn.running_mean is not None:
            bn.running_mean._data[...] = rng.standard_normal(bn.running_mean._data.shape)
            bn.running_var._data[...] = rng.uniform(0.5, 2.0, bn.running_var._data.shape)
            bn.num_batches_tracked = int(rng.integers(0, 1000))


def save(m: Module, fmt: str, path: Any, **kwargs: Any) -> None:
    if fmt == "npz":
        m.save_npz(path, **kwargs)
    else:
        m.save_safetensors(path, **kwargs)


def load(m: Module, fmt: str, path: Any, **kwargs: Any) -> LoadReport:
    if fmt == "npz":
        return m.load_npz(path, **kwargs)
    return m.load_safetensors(path, **kwargs)


def snapshot(m: Module) -> dict[str, Any]:
    """Everything a load may change: the state and every declared hyper-parameter."""
    out: dict[str, Any] = {k: v.copy() for k, v in m.state_dict().items()}
    for prefix, sub in m.named_modules():
        for attr in (*sub.hparam_names, *sub.structure_names):
            out[f"hparam {prefix}.{attr}"] = getattr(sub, attr)
    return out


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            got: NDArray[Any] = after[key]
            want = cast("NDArray[Any]", value)
            np.testing.assert_array_equal(got, want, err_msg=key)
            assert got.dtype == want.dtype, key
        else:
            assert after[key] == value, key


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ---- random module trees (the property tests) ------------------------------------------------

Blueprint = tuple[Any, ...]


class Tree(nn.Module):
    """A node with a child attribute and a list of children (dotted names ``first.items.0.fc.weight``)."""

    def __init__(self, first: Module, items: list[Module]) -> None:
        self.first = first
        self.items = items


@st.composite
def blueprints(draw: Callable[..., Any], depth: int = 0) -> Blueprint:
    kinds = ["linear", "conv", "bn1", "bn2", "drop"] + (["tree", "tree"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    dtype = draw(st.sampled_from(FLOATS))
    size = st.integers(1, 4)
    if kind == "linear":
        return (kind, dtype, draw(size), draw(size), draw(st.booleans()))
    if kind == "conv":
        groups = draw(st.sampled_from([1, 2]))
        return (
            kind,
            dtype,
            groups * draw(size),
            groups * draw(size),
            draw(st.integers(1, 3)),
            draw(st.integers(1, 2)),
            groups,
            draw(st.booleans()),
        )
    if kind in ("bn1", "bn2"):
        eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
        momentum = draw(st.sampled_from([0.1, 0.3, None]))
        return (kind, dtype, draw(size), eps, momentum, draw(st.booleans()), draw(st.booleans()))
    if kind == "drop":
        return (kind, draw(st.sampled_from([0.0, 0.2, 0.5])))
    children = draw(st.lists(blueprints(depth + 1), min_size=1, max_size=3))
    return ("tree", *children)


def build(bp: Blueprint, seed: int, defaults: bool = False) -> Module:
    """The module of a blueprint; ``defaults``: default hyper-parameters (which a load must restore)."""
    kind = bp[0]
    if kind == "linear":
        _, dtype, i, o, bias = bp
        return nn.Linear(i, o, bias=bias, dtype=dtype, seed=seed)
    if kind == "conv":
        _, dtype, i, o, k, stride, groups, bias = bp
        return nn.Conv2D(i, o, k, stride=stride, groups=groups, bias=bias, dtype=dtype, seed=seed)
    if kind in ("bn1", "bn2"):
        _, dtype, c, eps, momentum, affine, track = bp
        cls: Any = nn.BatchNorm1D if kind == "bn1" else nn.BatchNorm2D
        options: dict[str, Any] = {} if defaults else {"eps": eps, "momentum": momentum}
        bn: Module = cls(c, affine=affine, track_running_stats=track, dtype=dtype, **options)
        return bn
    if kind == "drop":
        return nn.Dropout(0.5 if defaults else bp[1])
    children = [build(c, seed + i + 1, defaults) for i, c in enumerate(bp[1:])]
    return Tree(children[0], children[1:])


# ---- a save stopped half-way, in a child process (the fault tests) -------------------------------


def blocked_save_main(argv: list[str]) -> None:
    """A child process of tests/test_io_faults.py; ``argv``: ``fmt path seed handler``.

    Saves ``trained_small(seed)`` to ``path`` and stops once the temporary file holds the data, in its
    first ``os.fsync``: prints ``blocked``, then waits for a line on stdin, so the parent can kill it,
    signal it or let it go on (then prints ``saved``). ``handler``: ``default`` leaves SIGTERM alone;
    ``flag`` installs a handler that only prints ``flag`` (a program's graceful-shutdown handler) and
    prints ``kept`` if it is still installed after the save.
    """
    import signal
    import sys

    fmt, path, seed, handler = argv
    real_fsync = os.fsync
    blocked: list[bool] = []

    def fsync(fd: Any) -> None:
        if not blocked:
            blocked.append(True)
            print("blocked", flush=True)
            sys.stdin.readline()
        real_fsync(fd)

    def flag(signum: int, frame: object) -> None:
        print("flag", flush=True)

    if handler == "flag":
        signal.signal(signal.SIGTERM, flag)
    model = trained_small(int(seed))
    os.fsync = fsync
    save(model, fmt, path)
    print("saved", flush=True)
    if handler == "flag" and signal.getsignal(signal.SIGTERM) is flag:
        print("kept", flush=True)
