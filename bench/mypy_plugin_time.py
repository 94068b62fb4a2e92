"""What typedtensor's mypy plugin costs: mypy's time with the plugin over its time without it.

    python -m bench.mypy_plugin_time [--repeat 5]

Scope: what the project's ``mypy`` checks (``[tool.mypy]`` in pyproject.toml: the package, tests and
benchmarks) plus the typing corpus (``mypy --config-file tests/typing/mypy-plugin.ini tests/typing``).
"With" is the project's config; "without" is the same config minus ``plugins`` (pyproject's
``[tool.mypy]`` written to a config file twice, once without the plugin; the corpus's ``mypy.ini``
is its ``mypy-plugin.ini`` without the plugin). Both run mypy as ``python -m mypy`` in a copy of the
checked sources made at start-up (so that edits to the working tree during the run do not invalidate
a warm cache half way), which puts the copy's ``typedtensor`` first on ``sys.path`` for the plugin
import.

Cold: a fresh ``--cache-dir`` (nothing cached). Warm: the same command again on the cache the cold
run has just written (nothing changed: mypy reads the cache, imports the plugin, checks nothing).

Method: the machine is shared and noisy, so each figure is the MEDIAN over ``--repeat`` repeats, and
the two variants are measured interleaved (their order alternating from one repeat to the next).
Reported per variant: wall-clock seconds of the two mypy commands together, and their CPU seconds
(user + system of the child processes, less disturbed by other work on the machine than the wall
clock); ratio = with / without.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The corpus's own mypy configs (``tests/typing``): the plugin's and plain mypy's.
CORPUS = Path("tests/typing")
CORPUS_CONFIG = {True: CORPUS / "mypy-plugin.ini", False: CORPUS / "mypy.ini"}
#: What mypy reads: sources, stubs and configs (no data files, caches or byte code).
COPIED_SUFFIXES = {".py", ".pyi", ".ini", ".toml", ".typed"}
VARIANTS = (False, True)  # without the plugin, with it
DESCRIPTION = "mypy's time with typedtensor's plugin over its time without it (cold and warm cache)"


@dataclass(frozen=True)
class Timing:
    """Seconds of one measured step: wall clock, and CPU time (user + system) of its child processes."""

    wall: float
    cpu: float


def project_config(settings: Mapping[str, Any], plugin: bool) -> str:
    """pyproject's ``[tool.mypy]`` settings as a TOML config file, with or without its plugins.

    The values are TOML's bools, ints, strings and arrays of them, which JSON writes the TOML way.
    """
    lines = ["[tool.mypy]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items() if plugin or key != "plugins"]
    return "\n".join(lines) + "\n"


def _paths(value: Any) -> list[str]:
    """A config's path setting (a string, or a list of strings) as a list."""
    return [value] if isinstance(value, str) else [str(path) for path in value]


def copy_sources(settings: Mapping[str, Any], destination: Path) -> None:
    """Copy the files ``[tool.mypy]`` checks, its ``mypy_path`` and the corpus into ``destination``."""
    roots = {*_paths(settings.get("files", [])), *_paths(settings.get("mypy_path", [])), str(CORPUS)}
    for root in sorted(roots):
        for source in sorted((ROOT / root).rglob("*")):
            relative = source.relative_to(ROOT)
            if source.is_file() and source.suffix in COPIED_SUFFIXES and "__pycache__" not in relative.parts:
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_mypy(commands: Sequence[Sequence[str]], cwd: Path) -> Timing:
    """Run the mypy commands one after the other; a crash (exit status other than 0 or 1) is an error."""
    wall, cpu = time.perf_counter(), _children_cpu()
    for command in commands:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return Timing(time.perf_counter() - wall, _children_cpu() - cpu)


def commands(work: Path, plugin: bool, cache: Path) -> list[list[str]]:
    """The two mypy commands of one variant (project scope, then the corpus), each with its own cache."""
    mypy = [sys.executable, "-m", "mypy"]
    project = work / ("mypy-with.toml" if plugin else "mypy-without.toml")
    return [
        [*mypy, "--config-file", str(project), "--cache-dir", str(cache / "project")],
        [*mypy, "--config-file", str(CORPUS_CONFIG[plugin]), "--cache-dir", str(cache / "corpus"), str(CORPUS)],
    ]


def measure(repeat: int) -> Iterator[tuple[bool, str, Timing]]:
    """Yield ``(plugin, "cold" | "warm", timing)`` for each variant, ``repeat`` times, interleaved."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    if "plugins" not in settings:
        raise RuntimeError("pyproject.toml's [tool.mypy] enables no plugin: nothing to compare")
    with tempfile.TemporaryDirectory(prefix="tt-mypy-bench-") as temp:
        work, caches = Path(temp) / "src", Path(temp) / "caches"
        copy_sources(settings, work)
        for plugin in VARIANTS:
            (work / ("mypy-with.toml" if plugin else "mypy-without.toml")).write_text(project_config(settings, plugin))
        for i in range(repeat):
            order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
            for plugin in order:
                yield plugin, "cold", run_mypy(commands(work, plugin, caches / f"{i}-{plugin}"), work)
            for plugin in order:
                yield plugin, "warm", run_mypy(commands(work, plugin, caches / f"{i}-{plugin}"), work)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mypy_plugin_time", description=DESCRIPTION)
    parser.add_argument("--repeat", type=int, default=5, help="repeats of each measurement (the median is reported)")
    args = parser.parse_args(argv)
    samples: dict[tuple[bool, str], list[Timing]] = {}
    for plugin, cache, timing in measure(args.repeat):
        samples.setdefault((plugin, cache), []).append(timing)
        print(f"  {cache} {'with' if plugin else 'without'} plugin: {timing.wall:6.2f} s wall, {timing.cpu:6.2f} s CPU")
    print(f"mypy 'python -m mypy' on the project's [tool.mypy] files + {CORPUS}, median of {args.repeat}:")
    for cache in ("cold", "warm"):
        medians = {
            (plugin, kind): statistics.median(getattr(t, kind) for t in samples[plugin, cache])
            for plugin in VARIANTS
            for kind in ("wall", "cpu")
        }
        for kind in ("wall", "cpu"):
            without, with_ = medians[False, kind], medians[True, kind]
            print(f"{cache} {kind:4}: without {without:6.2f} s, with {with_:6.2f} s, ratio {with_ / without:.2f}x")


if __name__ == "__main__":
    main()
