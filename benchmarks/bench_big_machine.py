"""One command on a big machine: 1,000 processes, 10,000 threads, 500 devices, 1,000 IRPs.

    python benchmarks/bench_big_machine.py

Builds the machine through the model (processes of 10 threads that wait for input, stepped
until every thread has reached its wait; joysticks plugged into the USB root hub until there
are 500 device objects; 1,000 reads pended at SlowDisk), then runs each command 15 times
through `Session.execute` and renders its trace and views to an in-memory console 100
columns wide, as the shell does. Prints a Markdown table: the median per command, the part
of it spent in `Session.execute` (the model; the rest is rich rendering), the slowest run,
the lines printed, and whether the median meets the 30 ms target.
"""

from __future__ import annotations

import io
import statistics
import time

from kmshell.drivers import load_spec
from kmshell.nt.ps import parse_program
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome

RUNS, TARGET_MS = 15, 30
PROCESSES, THREADS, DEVICES, IRPS = 1_000, 10_000, 500, 1_000


def big_session() -> Session:
    session = Session()
    system = session.system
    waiting = parse_program("wait-input")
    for number in range(PROCESSES - len(system.ps.live_processes())):
        system.ps.create_process(f"app{number}.exe", threads=10, program=waiting)
    last = system.ps.live_processes()[-1]
    while system.ps.live_thread_count < THREADS:
        system.ps.create_thread(last, program=waiting)
    system.ke.step(100)  # every thread runs to its wait: an idle machine, as most are
    hub = system.io.find_device("USBPDO-0")
    while len(system.io.devices) < DEVICES:
        system.pnp.plug(hub, "USB\\VID_045E&PID_0008")
    system.io.load_driver(load_spec("slowdisk"))
    disk = system.io.find_device("SlowDisk")
    for _ in range(IRPS):
        system.io.send_irp(disk, "IRP_MJ_READ")
    return session


def commands(session: Session) -> list[str]:
    app = session.system.ps.live_processes()[PROCESSES // 2].pid
    irp = next(iter(session.system.io.irps))
    return ["status", "step 1", "ps", "process show 4", f"process show {app}", "thread list",
            f"thread list {app}", "device list", "device tree", "device stack Joystick7",
            "irp list", f"irp show {irp}", "process create bench.exe"]


def measure(session: Session, line: str) -> tuple[float, float, float, int]:
    total, model, lines = [], [], 0
    for _ in range(RUNS):
        console = make_console(file=io.StringIO(), width=100, no_color=True)
        start = time.perf_counter()
        outcome = session.execute(line)
        executed = time.perf_counter()
        for part in render_outcome(outcome, session.settings):
            console.print(part)
        total.append(time.perf_counter() - start)
        model.append(executed - start)
        assert outcome.ok, (line, outcome.error)
        lines = console.file.getvalue().count("\n")
    return statistics.median(total), statistics.median(model), max(total), lines


def main() -> None:
    start = time.perf_counter()
    session = big_session()
    system = session.system
    threads = sum(len(p.live_threads) for p in system.ps.live_processes())
    print(f"machine: {len(system.ps.live_processes()):,} processes, {threads:,} threads, "
          f"{len(system.io.devices)} devices, {len(system.io.irps):,} IRPs in flight "
          f"(built in {time.perf_counter() - start:.1f} s)\n")
    print(f"| command | median (ms) | of which the model (ms) | slowest (ms) | lines printed | "
          f"≤ {TARGET_MS} ms |")
    print("|---|---:|---:|---:|---:|---|")
    for line in commands(session):
        median, model, slowest, lines = measure(session, line)
        print(f"| `{line}` | {median * 1000:.1f} | {model * 1000:.1f} | {slowest * 1000:.1f} | "
              f"{lines:,} | {'yes' if median * 1000 <= TARGET_MS else '**no**'} |")


if __name__ == "__main__":
    main()
