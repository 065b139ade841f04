"""Processors and the machine: the CPU table, the status panel, the bugcheck screen, !analyze."""

from __future__ import annotations

from functools import partial

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kmshell.nt.constants import Irql, irql_name
from kmshell.nt.events import Event, ptr
from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.ps import Thread
from kmshell.nt.system import System
from kmshell.views.layout import (
    ByWidth,
    Fitted,
    Legend,
    Packed,
    deferred,
    fields,
    hanging,
    titled,
)
from kmshell.views.mm import memory_row
from kmshell.views.theme import irql_label, irql_style
from kmshell.views.trace import Trace


@deferred
def cpu_table(system: System) -> Packed:
    table = titled("processors")
    for column in ("CPU", "IRQL", "running", "prio", "quantum", "busy/idle ticks"):
        table.add_column(column)
    for cpu in system.core.processors:
        thread = cpu.current_thread
        table.add_row(
            str(cpu.number),
            Text(irql_label(cpu.irql), style=irql_style(cpu.irql)),
            "idle thread" if cpu.is_idle else thread.label,
            "" if cpu.is_idle else str(thread.priority),
            "" if cpu.is_idle else str(thread.quantum),
            f"{cpu.busy_ticks}/{cpu.idle_ticks}",
        )
    ready = system.ke.dispatcher.ready_threads()
    if ready:
        queue = [f"{t.label} (prio {t.priority})" for t in ready[:8]]
        if len(ready) > 8:
            queue.append(f"… {len(ready) - 8} more")
        table.legend = Legend(queue, ", ", "ready: ")
    return Packed(table)


@deferred
def irql_table(system: System, processors) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("CPU", "IRQL", "name", "what may run"):
        table.add_column(column)
    for cpu in processors:
        table.add_row(str(cpu.number), Text(str(cpu.irql), style=irql_style(cpu.irql)),
                      irql_name(cpu.irql), _irql_meaning(cpu.irql))
    return table


def _irql_meaning(level: int) -> str:
    if level == Irql.PASSIVE_LEVEL:
        return "threads; everything may interrupt"
    if level == Irql.APC_LEVEL:
        return "no APCs on this processor"
    if level == Irql.DISPATCH_LEVEL:
        return "no thread switches here; no waits, no paged memory"
    if level >= Irql.HIGH_LEVEL:
        return "nothing: every interrupt is masked"
    return "only interrupts above this level"


@deferred
def processor_detail(system: System, cpu) -> Table:
    """In the spirit of !pcr / !prcb: the processor's IRQL and threads."""
    rows = fields()
    thread = cpu.current_thread
    rows.add_row("Processor", str(cpu.number))
    rows.add_row("Irql", Text(f"{cpu.irql} {irql_name(cpu.irql)}", style=irql_style(cpu.irql)))
    rows.add_row("CurrentThread", "the idle thread" if cpu.is_idle else
                 f"{ptr(thread.header.address)} {thread.label} (priority {thread.priority})")
    rows.add_row("IdleThread", f"{ptr(cpu.idle_thread.header.address)} (Idle process, PID 0)")
    rows.add_row("Ticks", f"{cpu.busy_ticks} busy, {cpu.idle_ticks} idle")
    ready = system.ke.dispatcher.ready_threads()
    rows.add_row("Ready (shared)", ", ".join(t.label for t in ready[:6]) + (" …" if len(ready) > 6
                                                                           else "") or "none")
    return rows


PALETTE = ("cyan", "green", "yellow", "magenta", "blue", "red", "bright_cyan", "bright_green",
           "bright_yellow", "bright_magenta")


@deferred
def timeline_table(system: System, last: int | None = None) -> ByWidth:
    """Gantt style: a row per processor, a column per tick, the TID that ran in each cell.
    Without `last`, the latest ticks that fit the width side by side; the `last` ticks asked
    for go on in bands below one another, as many ticks in each (none a lone leftover)."""
    return ByWidth(partial(_timeline_bands, system, list(system.ke.timeline), last))


def _cell_width(ticks: list) -> int:
    """A tick's column: 4, or its longest tick number or TID."""
    return max([4] + [len(str(tick)) for tick, _ in ticks]
               + [len(str(t.tid)) for _, running in ticks for t in running if t is not None])


def _timeline_bands(system: System, timeline: list, last: int | None, width: int) -> Group:
    per_line = max(1, (width - 5) // (_cell_width(timeline) + 1))  # CPU column, edges: 5
    ticks = timeline[-(last or per_line):]
    cell = _cell_width(ticks)
    per_line = max(1, (width - 5) // (cell + 1))
    count = -(-len(ticks) // per_line)  # bands, then as many ticks in each as can be
    per_band = -(-len(ticks) // count) if ticks else 1
    bands = [ticks[start:start + per_band] for start in range(0, len(ticks), per_band)]
    seen: dict[int, Thread] = {}
    for _, running in ticks:
        for thread in running:
            if thread is not None:
                seen.setdefault(thread.tid, thread)
    colours = {tid: PALETTE[index % len(PALETTE)] for index, tid in enumerate(seen)}
    window = f", ticks {ticks[0][0]}–{ticks[-1][0]} of {system.core.tick}" if ticks else ""
    tables = []
    for number, band in enumerate(bands or [[]]):
        title = f"schedule{window} (TID that ran each tick; · idle)" if number == 0 else ""
        table = titled(title, padding=(0, 0))
        table.add_column("CPU", style="bold")
        for tick, _ in band:
            table.add_column(str(tick), justify="right", no_wrap=True, min_width=cell)
        for index, cpu in enumerate(system.core.processors):
            table.add_row(str(cpu.number), *(
                Text("·", style="dim") if running[index] is None else
                Text(str(running[index].tid), style=colours[running[index].tid])
                for _, running in band))
        tables.append(table)
    if len(ticks) < len(timeline):  # say how to see the ones before the window
        tables[-1].caption = f"earlier ticks: timeline --last {len(timeline)}"
        tables[-1].caption_justify = "left"
    if seen:
        tables[-1].legend = Legend([f"{tid} = {t.process.image} (prio {t.priority})"
                                    for tid, t in seen.items()])
    elif not ticks:
        tables[-1].caption = "no ticks yet: type step or run"
    return Group(*tables)


@deferred
def status_panel(system: System) -> Panel:
    processes = system.ps.running
    threads = system.ps.live_thread_count
    state = Text("running", style="green")
    info = system.core.bugcheck_info
    if info is not None:  # halted
        state = Text(f"HALTED — bugcheck 0x{info.code:X} {info.name}", style="bold red")
    summary = fields()
    summary.add_row("tick", str(system.core.tick))
    summary.add_row("seed", str(system.core.seed))
    summary.add_row("state", state)
    summary.add_row("processes", f"{len(processes)} running, "
                    f"{len(system.ps.processes) - len(processes)} exited")
    ready = system.ke.dispatcher.ready_count
    summary.add_row("threads", f"{threads} (ready {ready})")
    summary.add_row("objects", f"{system.ob.object_count()} named, "
                    f"{system.ps.handle_count()} handles")
    summary.add_row("memory", memory_row(system))
    return Panel(Group(summary, cpu_table(system)), title="status", title_align="left")


def bugcheck_screen(info: BugcheckInfo) -> Panel:
    """In the spirit of the real stop screen: a sad face, the stop code, what failed. The
    parameters that do not fit on one line go on two a line under the first two."""
    head = Text()
    head.append(":(\n\n", style="bold")
    head.append("Your device ran into a problem and needs to restart.\n\n")
    head.append(f"Stop code: {info.name} (0x{info.code:X})", style="bold")
    values = [f"0x{p:X}" for p in info.parameters]
    parameters = Fitted([partial(_parameters, values, per_line) for per_line in (4, 2, 1)],
                        whole_lines=True)
    tail = Text()
    if info.driver:
        tail.append(f"What failed: {info.driver}\n", style="bold")
    tail.append("\nThe machine is halted. Type !analyze to see why, or reboot.")
    return Panel(Group(head, hanging(Text("Parameters: "), parameters), tail),
                 style="bold white on blue", title="BUGCHECK", title_align="left")


def _parameters(values: list[str], per_line: int) -> Table:
    grid = Table.grid(padding=(0, 2, 0, 0))
    for _ in range(min(per_line, len(values)) or 1):
        grid.add_column(no_wrap=True)
    for start in range(0, len(values), per_line):
        grid.add_row(*values[start:start + per_line])
    return grid


@deferred
def analyze(info: BugcheckInfo, trail: list[Event]) -> Group:
    """!analyze -v, for students: the code, its parameters, the broken rule, the fix, the trail."""
    rows = fields()
    rows.add_row("BUGCHECK_CODE", f"0x{info.code:X}")
    rows.add_row("BUGCHECK_NAME", info.name)
    for number, value in enumerate(info.parameters, start=1):
        rows.add_row(f"Arg{number}", f"{value:#018x}")
    rows.add_row("PROCESSOR", str(info.cpu))
    rows.add_row("TICK", str(info.tick))
    rows.add_row("MODULE_NAME", info.driver or "unknown")
    rows.add_row("FAULTING_ROUTINE", info.routine or "unknown")
    rows.add_row("RULE", info.rule or "")
    rows.add_row("FIX", info.fix or "")
    return Group(rows, Text("\nevents that led here:", style="bold"), Trace(trail))


@deferred
def dpc_table(system: System) -> Table:
    table = titled("DPC queues", "CPU", "IRQL", "queued DPCs")
    for cpu in system.core.processors:
        table.add_row(str(cpu.number), irql_label(cpu.irql),
                      ", ".join(f"{d.driver.name} ({d.label})" for d in cpu.dpc_queue) or "empty")
    return table
