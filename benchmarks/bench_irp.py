"""IRP benchmark: 100,000 reads through device stacks 1, 2 and 4 deep.

    python benchmarks/bench_irp.py

The bottom driver (nullsink) completes each read at once; the filters above it skip their
stack location and call down, as pass-through filters do. Prints a Markdown table (best of 3)
with times relative to the 1-deep stack, the IRPs still held afterwards (0: completed IRPs are
freed), and the events the trace keeps; then the time of a fixed pure-Python loop on the same
machine in the same run, and the 4-deep figure as a multiple of it, so that figures taken on
machines of different speeds (or on one machine on a busy day) can be compared.
"""

from __future__ import annotations

import time

from kmshell.drivers import load_spec, new_system
from kmshell.nt.io.spec import spec_from_dict

IRPS, RUNS = 100_000, 3


def pass_through(number: int):
    return spec_from_dict({"name": f"pass{number}", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"],
        "IRP_MJ_READ": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                        "return status"]}}, f"pass{number}.toml")


def measure(depth: int) -> tuple[float, int, int]:
    best, held, events = float("inf"), 0, 0
    for _ in range(RUNS):
        system = new_system(minimal=True)
        system.io.load_driver(load_spec("nullsink"))
        for number in range(depth - 1):
            system.io.load_driver(pass_through(number))
        device = system.io.find_device("NullSink")
        start = time.perf_counter()
        for _ in range(IRPS):
            system.io.send_irp(device, "IRP_MJ_READ")
        best = min(best, time.perf_counter() - start)
        held, events = len(system.io.irps), system.core.events_emitted
    return best, held, events


def reference_loop() -> float:
    """Best of RUNS: ten million additions in a Python for loop."""
    best = float("inf")
    for _ in range(RUNS):
        start, total = time.perf_counter(), 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rows = [(depth, *measure(depth)) for depth in (1, 2, 4)]
    loop = reference_loop()
    base = rows[0][1]
    print(f"| stack depth | {IRPS:,} IRPs (s) | × | IRPs held after | events emitted |")
    print("|---:|---:|---:|---:|---:|")
    for depth, seconds, held, events in rows:
        print(f"| {depth} | {seconds:.2f} | {seconds / base:.2f} | {held} | {events:,} |")
    print(f"\nreference loop (10,000,000 additions): {loop:.2f} s; 100,000 IRPs through the "
          f"4-deep stack take {rows[-1][1] / loop:.1f} × the loop")


if __name__ == "__main__":
    main()
