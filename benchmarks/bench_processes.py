"""Creating processes by the thousand, and saving a long session (issue 20, items 3 and 5).

    python benchmarks/bench_processes.py                    # this tree: time and ×
    python benchmarks/bench_processes.py --against TREE     # A = TREE, B = this tree, paired
    python benchmarks/bench_processes.py --sizes 1000,5000 --pairs 7 --against TREE
    python benchmarks/bench_processes.py --instructions --sizes 1000,10000 [--against TREE]

1. Creation: 1,000, 5,000, 10,000 and 50,000 processes, each case in a fresh process,
   created through `Session.execute("process create …")` (parsing included, nothing rendered,
   as `kmshell check` runs) and through the model directly (`ps.create_process`). Two kinds:
   processes whose thread waits for input, so that they all stay alive, and processes whose
   thread exits at once (`--program exit`, then one clock tick: `step 1` through the
   session). Creation is O(1) amortised when the × column follows the size (50,000 ≈ 50 ×
   the 1,000 figure); the last column is the processes the machine still keeps.
2. `save` after 1,000, 10,000 and 30,000 commands of bench_replay's mix (its processes
   exit or are killed): median of 5 saves. Exited processes are kept up to a fixed number
   (ps.EXITED_KEEP), so what grows is only the journal itself.

With --against TREE, each case runs as a command in both trees (PYTHONPATH=TREE, then this
tree), interleaved A B A B … (`paired.py`), and the table gives both medians and the
median of the pairwise ratios B ÷ A: below 1 means this tree is faster.

With --instructions, each creation case runs once under `valgrind --tool=callgrind` instead,
and the table gives the instructions per creation (the case's count minus a case creating
none, divided by the processes created): the machine-independent figure, with no noise.
Linear creation shows as the same figure at every size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from paired import compare, instructions

HERE = Path(__file__).resolve()
TREE = HERE.parent.parent
SIZES = (1_000, 5_000, 10_000, 50_000)
SAVE_AFTER = (1_000, 10_000, 30_000)
PROGRAMS = {"wait": "wait-input", "exit": "exit"}


def create(kind: str, path: str, count: int) -> tuple[float, int]:
    """Seconds to create count processes of kind through path; the processes kept after."""
    from kmshell.nt.ps import parse_program
    from kmshell.session import Session

    session = Session()
    system = session.system
    line = f'process create bench.exe --program "{PROGRAMS[kind]}"'
    program = parse_program(PROGRAMS[kind])
    exits = kind == "exit"
    start = time.perf_counter()
    if path == "session":
        for _ in range(count):
            assert session.execute(line).ok
            if exits:
                session.execute("step 1")
    else:
        for _ in range(count):
            system.ps.create_process("bench.exe", program=program)
            if exits:
                system.ke.step(1)
    return time.perf_counter() - start, len(system.ps.processes)


def save_time(commands: int) -> tuple[float, int]:
    """Median seconds of 5 saves after `commands` lines of bench_replay's mix; file size."""
    sys.path.insert(0, str(HERE.parent))
    from bench_replay import MIX, replay

    session = replay(MIX, commands)[2]
    times = []
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "lab.json")
        for _ in range(5):
            start = time.perf_counter()
            session.save(target)
            times.append(time.perf_counter() - start)
        size = os.path.getsize(target)
    return statistics.median(times), size


def case(words: list[str]) -> None:
    """One case, in this process; the figure (seconds) ends the output."""
    if words[0] == "save":
        seconds, size = save_time(int(words[1]))
        print(f"{size} {seconds:.6f}")
    else:
        seconds, kept = create(words[0], words[1], int(words[2]))
        print(f"{kept} {seconds:.6f}")


def cases(sizes: list[int]) -> list[tuple[str, list[str]]]:
    out = []
    for kind in PROGRAMS:
        for path in ("session", "model"):
            out += [(f"{count:,} processes that {kind}, {path}", [kind, path, str(count)])
                    for count in sizes]
    return out


def counted(trees: list[Path], sizes: list[int]) -> None:
    names = " | ".join(f"{tree.name}: instructions per creation" for tree in trees)
    print(f"| processes | kind | through | {names} |")
    print("|---:|---|---|" + "---:|" * len(trees))
    for kind in PROGRAMS:
        for path in ("session", "model"):
            bases = [instructions(tree, str(HERE), [kind, path, "0"]) for tree in trees]
            for count in sizes:
                each = [(instructions(tree, str(HERE), [kind, path, str(count)]) - base)
                        / count
                        for tree, base in zip(trees, bases, strict=True)]
                print(f"| {count:,} | {kind} | {path} | "
                      + " | ".join(f"{n:,.0f}" for n in each) + " |", flush=True)


def alone(sizes: list[int]) -> None:
    print("| processes | kind | through | seconds | × the first | µs each | kept after |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for kind in PROGRAMS:
        for path in ("session", "model"):
            first = 0.0
            for count in sizes:
                seconds, kept = create(kind, path, count)
                first = first or seconds
                print(f"| {count:,} | {kind} | {path} | {seconds:.3f} | {seconds / first:.1f} | "
                      f"{seconds / count * 1e6:.0f} | {kept:,} |")
    print()
    print("| `save` after commands | ms (median of 5) | × the first | file (KB) |")
    print("|---:|---:|---:|---:|")
    first = 0.0
    for commands in SAVE_AFTER:
        seconds, size = save_time(commands)
        first = first or seconds
        print(f"| {commands:,} | {seconds * 1000:.1f} | {seconds / first:.1f} | "
              f"{size / 1000:,.0f} |")


def against(other: Path, sizes: list[int], pairs: int) -> None:
    compare(str(HERE), other, cases(sizes) + [(f"`save` after {n:,} commands", ["save", str(n)])
                                              for n in SAVE_AFTER], pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another tree to compare with, paired")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per creation with callgrind")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # one case: paired.py
    args = parser.parse_args()
    if args.child:
        case(args.child)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.instructions:
        counted([args.against.resolve()] * bool(args.against) + [TREE], sizes)
    elif args.against:
        against(args.against.resolve(), sizes, args.pairs)
    else:
        alone(sizes)


if __name__ == "__main__":
    main()
