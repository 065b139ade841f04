"""Scheduler benchmark: a 64-CPU machine stepping 1,000 ticks with N compute-bound threads.

    python benchmarks/bench_scheduler.py

Prints a Markdown table (best of 3 runs) with the cost relative to the smallest N, so the
figures can be pasted into docs/performance.md side by side. Creation and stepping are
timed apart: the target is that stepping stays under 1 s and does not grow with N (the
dispatcher's ready summary finds the next thread without scanning the queues).
"""

from __future__ import annotations

import time

from kmshell.drivers import new_system
from kmshell.nt.ps import parse_program

CPUS, TICKS, RUNS = 64, 1_000, 3
THREADS = (1_250, 2_500, 5_000, 10_000)


def measure(threads: int) -> tuple[float, float]:
    best_create = best_step = float("inf")
    for _ in range(RUNS):
        system = new_system(cpus=CPUS, minimal=True)
        program = parse_program("compute 1000000")
        start = time.perf_counter()
        process = system.ps.create_process("load.exe", program=program)
        for _ in range(threads - 1):
            system.ps.create_thread(process, program=program, announce=False)
        system.ke.dispatch()
        created = time.perf_counter()
        system.ke.step(TICKS)
        stepped = time.perf_counter()
        best_create = min(best_create, created - start)
        best_step = min(best_step, stepped - created)
    return best_create, best_step


def main() -> None:
    rows = [(n, *measure(n)) for n in THREADS]
    base_create, base_step = rows[0][1], rows[0][2]
    print(f"| threads | create (s) | ×  | {TICKS:,} ticks on {CPUS} CPUs (s) | × |")
    print("|---:|---:|---:|---:|---:|")
    for n, create, step in rows:
        print(f"| {n:,} | {create:.3f} | {create / base_create:.1f} | {step:.3f} | "
              f"{step / base_step:.2f} |")


if __name__ == "__main__":
    main()
