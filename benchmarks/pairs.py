"""A/B measurements that survive a noisy machine: run A and B interleaved (A B A B ...),
N pairs, and report each side's median and the median of the pairwise ratios B ÷ A.

A shared machine's speed drifts over seconds (other jobs, the CPU's clock); two runs side
by side see about the same drift, so their ratio is steadier than either time. Used by the
benchmarks that compare this tree with another (`--against PATH`), and importable by any:

    from pairs import compare_calls, compare_commands
    result = compare_calls(lambda: old(), lambda: new(), pairs=7)
    print(result.row("1,000 creations"))

A callable's figure is what it returns when that is a number (seconds it measured itself),
else the wall-clock time of the call. A command's figure is the last number on the last line
of its output when it prints one, else the wall-clock time of the command.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """N interleaved pairs: each side's figures in run order, their medians, and the median
    of the ratios b ÷ a taken pair by pair."""

    a: list[float]
    b: list[float]

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)

    @property
    def ratios(self) -> list[float]:
        return [b / a for a, b in zip(self.a, self.b, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def row(self, name: str, digits: int = 3) -> str:
        """A Markdown table row: name | median A | median B | median of B ÷ A | ratio range."""
        low, high = min(self.ratios), max(self.ratios)
        return (f"| {name} | {self.median_a:.{digits}f} | {self.median_b:.{digits}f} | "
                f"{self.ratio:.2f} | {low:.2f}–{high:.2f} |")


HEADER = ("| what | A (median) | B (median) | B ÷ A (median of pairs) | range of pairs |\n"
          "|---|---:|---:|---:|---|")


def _figure(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    value = call()
    elapsed = time.perf_counter() - start
    return float(value) if isinstance(value, (int, float)) else elapsed


def compare_calls(a: Callable[[], object], b: Callable[[], object],
                  pairs: int = 5) -> Paired:
    """Run a, b, a, b, ... pairs times each."""
    first, second = [], []
    for _ in range(pairs):
        first.append(_figure(a))
        second.append(_figure(b))
    return Paired(first, second)


def run_command(command: Sequence[str], env: dict[str, str] | None = None) -> float:
    """A command's figure: the last number it prints on its last line, or its wall time."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    for word in reversed(lines[-1].split() if lines else []):
        try:
            return float(word)
        except ValueError:
            continue
    return elapsed


def compare_commands(a: Sequence[str], b: Sequence[str], pairs: int = 5,
                     env_a: dict[str, str] | None = None,
                     env_b: dict[str, str] | None = None) -> Paired:
    """Run the commands a, b, a, b, ... pairs times each (each a fresh process)."""
    return compare_calls(lambda: run_command(a, env_a), lambda: run_command(b, env_b), pairs)
