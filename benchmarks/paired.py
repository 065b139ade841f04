"""Before/after figures that survive a noisy machine: two checkouts run interleaved, and
instruction counts, which do not depend on the machine at all.

A benchmark script that supports `--against TREE` hands its cases to `compare`. Each case is
run as a fresh process of the same script (`--child` and the case's arguments) with
PYTHONPATH set to one checkout or the other, alternating: before, after, before, after, ...
PAIRS times. A slow spell of the shared machine then hits both sides of a pair alike, and
the median of the pairwise ratios (after ÷ before) is the figure to compare; the medians
of each side are printed beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # the checkout these scripts belong to


def child(tree: Path, script: str, arguments: list[str]) -> float:
    """One run of `script --child ARGUMENTS` with kmshell from `tree`: the seconds it prints."""
    result = subprocess.run([sys.executable, script, "--child", *arguments],
                            env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.split()[-1])


def instructions(tree: Path, script: str, arguments: list[str]) -> int:
    """The instructions `valgrind --tool=callgrind` counts in one run of `script --child
    ARGUMENTS` with kmshell from `tree`, the whole process (PYTHONHASHSEED fixed, so that two
    runs hash alike). A benchmark counts a run with work and one without, and divides the
    difference."""
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
             sys.executable, script, "--child", *arguments], capture_output=True, text=True,
            check=True, env={**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{result.stderr}")
    return int(found.group(1))


def instructions_per(tree: Path, script: str, arguments: Callable[[int], list[str]],
                     n: int) -> float:
    """Instructions per unit of work: a run of `n` units less a run of none, over `n` (the
    interpreter's start-up and the machine's boot cancel out)."""
    return (instructions(tree, script, arguments(n)) - instructions(tree, script, arguments(0))) / n


def benchmark_options(description: str, unit: str) -> argparse.ArgumentParser:
    """The options of a benchmark that compares checkouts with `compare`: --instructions
    (per `unit`, with callgrind), --against TREE, --pairs N, and the hidden --child."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--instructions", action="store_true",
                        help=f"also count instructions per {unit} with callgrind (slow)")
    parser.add_argument("--against", type=Path, help="another checkout: compare with it")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def compare(script: str, before: Path, cases: list[tuple[str, list[str]]], pairs: int,
            unit: str = "s") -> None:
    """Print a Markdown table: per case, the median before and after and the median of the
    pairwise ratios, the runs interleaved before/after case by case."""
    print(f"before: {before}\nafter:  {HERE}\n{pairs} pairs, each side a fresh process, "
          "run before, after, before, after, ...\n")
    print(f"| case | before, median ({unit}) | after, median ({unit}) | "
          "median of after ÷ before | ratios |")
    print("|---|---:|---:|---:|---|")
    for label, arguments in cases:
        befores, afters = [], []
        for _ in range(pairs):
            befores.append(child(before, script, arguments))
            afters.append(child(HERE, script, arguments))
        ratios = sorted(a / b for a, b in zip(afters, befores, strict=True))
        print(f"| {label} | {statistics.median(befores):.3f} | {statistics.median(afters):.3f} "
              f"| {statistics.median(ratios):.2f} | {', '.join(f'{r:.2f}' for r in ratios)} |",
              flush=True)
