"""IRP benchmark: 100,000 reads through device stacks 1, 2 and 4 deep, on the minimal machine
(`new_system(minimal=True)`) and on the default one (what the shell boots).

    python benchmarks/bench_irp.py [--instructions]
    python benchmarks/bench_irp.py --against ../other-checkout [--pairs 5]

The bottom driver (nullsink) completes each read at once; the filters above it skip their
stack location and call down, as pass-through filters do. Prints a Markdown table (best of 3)
with times relative to the 1-deep stack on the same machine, the IRPs still held afterwards
(0: completed IRPs are freed), and the events emitted; with `--instructions`, also the
instructions one IRP costs, counted with callgrind (callgrind_irp.py, 3,000 IRPs minus none:
slow, but the same whatever the machine is doing). Then the time of a fixed pure-Python loop
in the same run, and the 4-deep minimal figure as a multiple of it, so that figures taken on
machines of different speeds (or on one machine on a busy day) can be compared.

`--against TREE` compares this checkout with another one instead (paired.py): each case runs
once in a fresh process per side, before and after interleaved, PAIRS times; the table gives
the medians and the median of the pairwise ratios.
"""

from __future__ import annotations

import argparse
import time

from paired import benchmark_options

from kmshell.drivers import load_spec, new_system
from kmshell.nt.io.irp import DeviceObject
from kmshell.nt.io.spec import spec_from_dict
from kmshell.nt.system import System

IRPS, RUNS = 100_000, 3
DEPTHS = (1, 2, 4)
MACHINES = ("minimal", "default")


def pass_through(number: int):
    return spec_from_dict({"name": f"pass{number}", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"],
        "IRP_MJ_READ": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                        "return status"]}}, f"pass{number}.toml")


def stack(depth: int, minimal: bool = True) -> tuple[System, DeviceObject]:
    """A machine with NullSink under depth - 1 pass-through filters, and the NullSink device."""
    system = new_system(minimal=minimal)
    system.io.load_driver(load_spec("nullsink"))
    for number in range(depth - 1):
        system.io.load_driver(pass_through(number))
    return system, system.io.find_device("NullSink")


def run(depth: int, minimal: bool, irps: int = IRPS) -> tuple[float, int, int]:
    """Seconds for `irps` reads on a fresh machine, the IRPs held after, the events emitted."""
    system, device = stack(depth, minimal)
    start = time.perf_counter()
    for _ in range(irps):
        system.io.send_irp(device, "IRP_MJ_READ")
    seconds = time.perf_counter() - start
    return seconds, len(system.io.irps), system.core.events_emitted


def measure(depth: int, minimal: bool) -> tuple[float, int, int]:
    """Best of RUNS."""
    runs = [run(depth, minimal) for _ in range(RUNS)]
    return min(runs)[0], runs[-1][1], runs[-1][2]


def reference_loop() -> float:
    """Best of RUNS: ten million additions in a Python for loop."""
    best = float("inf")
    for _ in range(RUNS):
        start, total = time.perf_counter(), 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - start)
    return best


def table(instructions: bool) -> None:
    print(f"| machine | stack depth | {IRPS:,} IRPs (s) | × | IRPs held after | events emitted |"
          + (" instructions per IRP |" if instructions else ""))
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if instructions else ""))
    deepest = 0.0
    for machine in MACHINES:
        base = 0.0
        for depth in DEPTHS:
            seconds, held, events = measure(depth, machine == "minimal")
            base = base or seconds
            if machine == "minimal":
                deepest = seconds
            count = ""
            if instructions:
                from callgrind_irp import per_irp  # runs valgrind: only when asked
                count = f" {per_irp(3000, depth, machine):,.0f} |"
            print(f"| {machine} | {depth} | {seconds:.2f} | {seconds / base:.2f} | {held} | "
                  f"{events:,} |{count}", flush=True)
    loop = reference_loop()
    print(f"\nreference loop (10,000,000 additions): {loop:.2f} s; {IRPS:,} IRPs through the "
          f"4-deep stack (minimal machine) take {deepest / loop:.1f} × the loop")


def main() -> None:
    parser = benchmark_options(__doc__.splitlines()[0], "IRP")
    parser.add_argument("--depth", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--machine", choices=MACHINES, default="minimal", help=argparse.SUPPRESS)
    parser.add_argument("--irps", type=int, default=IRPS, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:  # one run, for paired.py: print its seconds
        print(run(options.depth, options.machine == "minimal", options.irps)[0])
    elif options.against is not None:
        from paired import compare
        compare(__file__, options.against.resolve(), [
            (f"{IRPS:,} IRPs, {depth}-deep, {machine} machine",
             ["--depth", str(depth), "--machine", machine])
            for machine in MACHINES for depth in DEPTHS], options.pairs)
    else:
        table(options.instructions)


if __name__ == "__main__":
    main()
