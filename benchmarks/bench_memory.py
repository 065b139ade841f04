"""Memory manager benchmark: a full trim-and-refault cycle of every frame (issue 22).

    python benchmarks/bench_memory.py [--memory 64,256,1024] [--instructions]

A machine of MB megabytes (64 by default: 16,384 frames) with one process, which commits
every available frame but a margin (MARGIN pages per 64 MB, and at least MARGIN: room for
the page tables the pages need and MmMinimumFreePages, so that the balance set manager never
trims on its own; a check makes sure it did not) and writes each page once (demand-zero
faults; setup, not timed). Then, timed, one cycle of every page, twice:

1. `trim_working_set(process)`: every page leaves the working set for the modified list
   (each was written); then a write to every page: a soft fault each, the frame taken back
   from the modified list.
2. The same with the modified page writer in between: trim, `write_modified_pages()` (every
   page gets a paging-file slot and goes to standby), then a write to every page: a soft
   fault from standby (the write makes the paging-file copy stale again, so the next cycle
   writes every page again).

Each cycle leaves the machine as it found it (every page valid, dirty, in the working set),
so the best of 3 cycles on one machine is given, with its phases; a check after each cycle
makes sure every page faulted softly and none hard. The target is a cycle of 16,384 frames
under 1 s; per page, the figure should not grow with the machine's size.

With `--instructions`, also the instructions one page's cycle costs (callgrind: a run with
one cycle minus a run with none, divided by the pages; the same on any machine; slow).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from paired import benchmark_options

from kmshell.drivers import new_system
from kmshell.nt.mm import PAGE_SIZE
from kmshell.nt.ps import Process, parse_program
from kmshell.nt.system import System

MEMORY = (64,)
RUNS = 3
MARGIN = 60  # pages left available per 64 MB of memory
WRITERS = (False, True)


def machine(memory: int) -> tuple[System, Process, int]:
    """A machine of `memory` MB, a process on it and how many pages it will commit."""
    system = new_system(memory=memory)
    process = system.ps.create_process("bench.exe", program=parse_program("wait-input"))
    return system, process, system.mm.pfn.available - MARGIN * max(memory, 64) // 64


def setup(memory: int) -> tuple[System, Process, list[int]]:
    """The machine with every page committed and written once: the addresses of the pages."""
    system, process, pages = machine(memory)
    vad = system.mm.virtual_alloc(process, pages * PAGE_SIZE)
    addresses = list(range(vad.start, vad.end, PAGE_SIZE))
    for address in addresses:
        system.mm.touch(process, address, 1)
    assert system.mm.faults == {"demand zero": pages, "soft": 0, "hard": 0}, system.mm.faults
    space = process.address_space
    assert space is not None and len(space.tables.working_set) == pages  # nothing trimmed
    return system, process, addresses


def cycle(system: System, process: Process, addresses: list[int],
          writer: bool) -> tuple[float, float, float]:
    """One trim-and-refault cycle of every page: seconds to trim, to write the modified
    pages (0 without the writer) and to refault."""
    mm, faults = system.mm, dict(system.mm.faults)
    start = time.perf_counter()
    mm.trim_working_set(process)
    trimmed = time.perf_counter()
    if writer:
        assert mm.write_modified_pages() == len(addresses)
    written = time.perf_counter()
    for address in addresses:
        mm.touch(process, address, 2)
    refaulted = time.perf_counter()
    assert mm.faults["soft"] - faults["soft"] == len(addresses), mm.faults
    assert mm.faults["hard"] == faults["hard"] and mm.faults["demand zero"] == faults[
        "demand zero"], mm.faults
    return trimmed - start, written - trimmed, refaulted - written


def per_page(memory: int, writer: bool, tree: Path) -> float:
    from paired import instructions_per  # runs valgrind: only when asked

    pages = machine(memory)[2]
    return instructions_per(tree, __file__, lambda cycles: [
        "--memory", str(memory), "--cycles", str(cycles)] + ["--writer"] * writer, 1) / pages


def table(sizes: list[int], instructions: bool) -> None:
    print("| memory (MB) | frames | pages cycled | modified page writer | trim (s) | write (s) "
          "| refault (s) | cycle (s) | µs per page | × the first |"
          + (" instructions per page |" if instructions else ""))
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if instructions else ""))
    firsts: dict[bool, float] = {}
    for memory in sizes:
        system, process, addresses = setup(memory)
        for writer in WRITERS:
            trim, write, refault = min((cycle(system, process, addresses, writer)
                                        for _ in range(RUNS)), key=sum)
            total = trim + write + refault
            each = total / len(addresses) * 1e6
            first = firsts.setdefault(writer, each)
            count = ""
            if instructions:
                count = (f" {per_page(memory, writer, Path(__file__).resolve().parent.parent):,.0f}"
                         " |")
            print(f"| {memory:,} | {system.mm.pfn.frames:,} | {len(addresses):,} | "
                  f"{'yes' if writer else 'no'} | {trim:.3f} | {write:.3f} | {refault:.3f} | "
                  f"{total:.3f} | {each:.1f} | {each / first:.2f} |{count}", flush=True)


def main() -> None:
    parser = benchmark_options(__doc__.splitlines()[0], "page")
    parser.add_argument("--memory", default=",".join(map(str, MEMORY)),
                        help="machine sizes in MB, comma-separated (default 64)")
    parser.add_argument("--cycles", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    sizes = [int(size) for size in options.memory.split(",")]
    if options.child:  # one run, for paired.py: print the seconds the cycles took
        system, process, addresses = setup(sizes[0])
        print(sum(sum(cycle(system, process, addresses, options.writer))
                  for _ in range(options.cycles)))
    elif options.against is not None:
        raise SystemExit("--against: the code before issue 22, stage 3 has no working sets")
    else:
        table(sizes, options.instructions)


if __name__ == "__main__":
    main()
