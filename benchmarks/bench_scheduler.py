"""Scheduler benchmark: a 64-CPU machine stepping 1,000 ticks with N compute-bound threads,
on the minimal machine (`new_system(minimal=True)`) and on the default one.

    python benchmarks/bench_scheduler.py [--instructions]
    python benchmarks/bench_scheduler.py --against ../other-checkout [--pairs 5]

Prints a Markdown table (best of 3 runs) with the cost relative to the smallest N on the
same machine, so the figures can be pasted into docs/performance.md side by side. Creation
and stepping are timed apart: the target is that stepping stays under 1 s and does not grow
with N (the dispatcher's ready summary finds the next thread without scanning the queues).
With `--instructions`, also the instructions one tick costs (callgrind, 200 ticks minus
none: the same whatever the machine is doing; slow).

`--against TREE` compares this checkout with another one instead (paired.py): stepping 1,000
ticks, each case once in a fresh process per side, before and after interleaved, PAIRS
times; the table gives the medians and the median of the pairwise ratios.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from paired import benchmark_options

from kmshell.drivers import new_system
from kmshell.nt.ps import parse_program
from kmshell.nt.system import System

CPUS, TICKS, RUNS = 64, 1_000, 3
THREADS = (1_250, 2_500, 5_000, 10_000)
MACHINES = ("minimal", "default")
COUNTED_TICKS = 200  # ticks stepped for the instruction count (valgrind is slow)


def busy(threads: int, minimal: bool) -> tuple[System, float]:
    """A machine with `threads` compute-bound threads dispatched, and the seconds creating
    them took."""
    system = new_system(cpus=CPUS, minimal=minimal)
    program = parse_program("compute 1000000")
    start = time.perf_counter()
    process = system.ps.create_process("load.exe", program=program)
    for _ in range(threads - 1):
        system.ps.create_thread(process, program=program)
    system.ke.dispatch()
    return system, time.perf_counter() - start


def step(system: System, ticks: int) -> float:
    start = time.perf_counter()
    system.ke.step(ticks)
    return time.perf_counter() - start


def measure(threads: int, minimal: bool) -> tuple[float, float]:
    best_create = best_step = float("inf")
    for _ in range(RUNS):
        system, created = busy(threads, minimal)
        best_create = min(best_create, created)
        best_step = min(best_step, step(system, TICKS))
    return best_create, best_step


def table(instructions: bool) -> None:
    print(f"| machine | threads | create (s) | ×  | {TICKS:,} ticks on {CPUS} CPUs (s) | × |"
          + (" instructions per tick |" if instructions else ""))
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if instructions else ""))
    for machine in MACHINES:
        base_create = base_step = 0.0
        for n in THREADS:
            create, stepped = measure(n, machine == "minimal")
            base_create, base_step = base_create or create, base_step or stepped
            count = ""
            if instructions:
                count = f" {per_tick(n, machine, Path(__file__).resolve().parent.parent):,.0f} |"
            print(f"| {machine} | {n:,} | {create:.3f} | {create / base_create:.1f} | "
                  f"{stepped:.3f} | {stepped / base_step:.2f} |{count}", flush=True)


def per_tick(threads: int, machine: str, tree: Path) -> float:
    from paired import instructions_per  # runs valgrind: only when asked

    return instructions_per(tree, __file__, lambda ticks: [
        "--threads", str(threads), "--ticks", str(ticks), "--machine", machine], COUNTED_TICKS)


def main() -> None:
    parser = benchmark_options(__doc__.splitlines()[0], "tick")
    parser.add_argument("--threads", type=int, default=THREADS[0], help=argparse.SUPPRESS)
    parser.add_argument("--ticks", type=int, default=TICKS, help=argparse.SUPPRESS)
    parser.add_argument("--machine", choices=MACHINES, default="minimal", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:  # one run, for paired.py: print the seconds stepping took
        system, _ = busy(options.threads, options.machine == "minimal")
        print(step(system, options.ticks))
    elif options.against is not None:
        from paired import compare
        compare(__file__, options.against.resolve(), [
            (f"{TICKS:,} ticks, {n:,} threads, {machine} machine",
             ["--threads", str(n), "--machine", machine])
            for machine in MACHINES for n in (THREADS[0], THREADS[2])], options.pairs)
    else:
        table(options.instructions)


if __name__ == "__main__":
    main()
