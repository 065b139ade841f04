"""Instructions per IRP, counted with valgrind's callgrind: the figure that does not depend on
the machine or on what else it is doing.

    python benchmarks/callgrind_irp.py [--irps 3000] [--depth 4] [--default]

Runs this script twice under `valgrind --tool=callgrind`: once sending IRPS reads through a
stack DEPTH deep (the stack of bench_irp.py), once sending none; everything else (starting
Python, booting the machine, loading the drivers) is the same in both, so the difference
divided by IRPS is what one IRP costs. `--default` boots the default machine instead of
`new_system(minimal=True)`. PYTHONHASHSEED is fixed so that both runs hash alike. Run it with
PYTHONPATH pointing at another checkout to count that one's instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_irp import stack

import kmshell


def collected(irps: int, depth: int, default: bool) -> int:
    """The instructions valgrind counted for one run of this script sending `irps` IRPs."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
                   sys.executable, __file__, "--child", "--irps", str(irps), "--depth",
                   str(depth)] + (["--default"] if default else [])
        result = subprocess.run(command, capture_output=True, text=True, check=True,
                                env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{result.stderr}")
    return int(found.group(1))


def per_irp(irps: int, depth: int, default: bool) -> float:
    return (collected(irps, depth, default) - collected(0, depth, default)) / irps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irps", type=int, default=3000)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--default", action="store_true", help="boot the default machine")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:  # the run valgrind watches
        system, device = stack(options.depth, minimal=not options.default)
        for _ in range(options.irps):
            system.io.send_irp(device, "IRP_MJ_READ")
        return
    machine = "default" if options.default else "minimal"
    print(f"{per_irp(options.irps, options.depth, options.default):,.0f} instructions per IRP "
          f"through the {options.depth}-deep stack ({machine} machine, {options.irps:,} IRPs "
          f"minus none; kmshell from {Path(kmshell.__file__).parent.parent})")


if __name__ == "__main__":
    main()
