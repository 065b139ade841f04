"""Instructions per IRP, counted with valgrind's callgrind: the figure that does not depend on
the machine or on what else it is doing.

    python benchmarks/callgrind_irp.py [--irps 3000] [--depth 4] [--default] [--tree PATH]

Runs bench_irp.py's child twice under `valgrind --tool=callgrind`: once sending IRPS reads
through a stack DEPTH deep, once sending none; everything else (starting Python, booting the
machine, loading the drivers, exiting) is the same in both, so the difference divided by
IRPS is what one IRP costs. `--default` boots the default machine instead of
`new_system(minimal=True)`; `--tree` counts another checkout's kmshell (default: this one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paired import HERE, instructions_per

BENCH_IRP = str(Path(__file__).with_name("bench_irp.py"))


def per_irp(irps: int, depth: int, machine: str, tree: Path = HERE) -> float:
    return instructions_per(tree, BENCH_IRP, lambda n: [
        "--irps", str(n), "--depth", str(depth), "--machine", machine], irps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irps", type=int, default=3000)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--default", action="store_true", help="boot the default machine")
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout to count")
    options = parser.parse_args()
    machine = "default" if options.default else "minimal"
    count = per_irp(options.irps, options.depth, machine, options.tree.resolve())
    print(f"{count:,.0f} instructions per IRP through the {options.depth}-deep stack "
          f"({machine} machine, {options.irps:,} IRPs minus none; kmshell from {options.tree})")


if __name__ == "__main__":
    main()
