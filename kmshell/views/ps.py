"""Processes and threads: the process tree (`ps`), `!process`, the thread table, `!thread`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from functools import partial
from itertools import chain

from rich import box
from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from kmshell.nt.constants import (
    KERNEL_STACK_SIZE,
    MM_HIGHEST_USER_ADDRESS,
    MM_LOWEST_USER_ADDRESS,
    MM_SYSTEM_RANGE_START,
    format_status,
)
from kmshell.nt.events import ptr
from kmshell.nt.ke.sync import KMutant, Lock, SpinLock
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import KERNEL_REGIONS
from kmshell.nt.ps import Process, Thread, format_program
from kmshell.nt.pte import form
from kmshell.nt.system import System
from kmshell.views.layout import (
    LIST_LIMIT,
    Fitted,
    Indented,
    capped,
    deferred,
    fields,
    fixed_cells,
    fixed_width,
    titled,
)
from kmshell.views.theme import THREAD_STATE_STYLE


def _process_label(process: Process, highlight: AbstractSet[int]) -> Text:
    text = Text()
    style = "bold" if process.alive else "dim"
    if process.pid in highlight:
        style += " reverse"
    text.append(f"{process.image} ({process.pid})", style=style)
    details = [f"session {process.session_id}", process.user]
    if process.subsystem.name != "Win32":
        details.append(process.subsystem.name.lower())
    if process.critical:
        details.append("critical")
    if process.alive:
        threads = len(process.live_threads)
        details.append(f"{threads} thread{'s' if threads != 1 else ''}")
    text.append("  " + " · ".join(details), style="dim" if not process.alive else "")
    if not process.alive:
        text.append(f"  exited {format_status(process.exit_status)}", style="red")
    return text


@deferred
def process_tree(system: System, highlight: AbstractSet[int] = frozenset()) -> Tree:
    """Every process under its parent; exited ones the model keeps (ps.EXITED_KEEP) stay,
    dimmed. Past LIST_LIMIT processes the tree keeps the highlighted ones with their
    ancestors, then the running ones, then the latest exited, and its last line says how
    many it left out (counting the running ones left out without walking them all)."""
    tree = Tree(Text("processes", style="bold"), guide_style="dim")
    nodes: dict[int, Tree] = {}
    shown = _processes_shown(system, highlight)
    for pid in sorted(shown):
        process = system.ps.processes[pid]
        parent = nodes.get(process.parent_pid) if process.parent_pid is not None else None
        nodes[pid] = (parent or tree).add(_process_label(process, highlight))
    if hidden := len(system.ps.processes) - len(shown):
        running = len(system.ps.running) - sum(pid in system.ps.running for pid in shown)
        tree.add(Text(f"… and {hidden:,} more ({running:,} of them running): "
                      "name one with process show P", style="dim italic"))
    return tree


def _processes_shown(system: System, highlight: AbstractSet[int]) -> set[int]:
    """At most LIST_LIMIT PIDs (more only for a deep highlighted chain), without scanning
    the whole history: a long session creates tens of thousands of processes."""
    if len(system.ps.processes) <= LIST_LIMIT:
        return set(system.ps.processes)
    shown: set[int] = set()
    for start in highlight:
        pid: int | None = start
        while pid is not None and pid in system.ps.processes and pid not in shown:
            shown.add(pid)
            pid = system.ps.processes[pid].parent_pid
    for pid in chain(system.ps.running, reversed(system.ps.processes)):
        if len(shown) >= LIST_LIMIT:
            break
        shown.add(pid)
    return shown


THREAD_COLUMNS = ("TID", "process", "state", "wait reason", "prio", "TEB", "cpu", "ticks u/k")
# Where the width is short, these go first, in this order: what `thread show T` tells.
THREAD_DROPPED = ("TEB", "ticks u/k", "cpu")
PROCESS_WIDTH = 24  # a longer image name is cut with …


@deferred
def thread_table(threads: list[Thread], title: str = "threads") -> Fitted:
    """The short columns as wide as their longest cell, drawn as one cell (fixed_cells);
    the program wraps in what is left. Where the programs do not fit on a line beside them,
    the columns THREAD_DROPPED go, one by one."""
    rows = []
    caption = titled(title)
    for t in capped(caption, threads, "name a process: thread list P"):
        rows.append(((
            str(t.tid),
            f"{t.process.image} ({t.process.pid})",
            Text(t.state.name, style=THREAD_STATE_STYLE.get(t.state.name, "")),
            t.wait_reason.name if t.wait_reason is not None else "",
            str(t.priority),
            f"{t.teb:#x}" if t.teb is not None else "none",  # kernel and pico threads
            "" if t.last_cpu is None else str(t.last_cpu),
            f"{t.user_ticks}/{t.kernel_ticks}",
        ), _program_position(t)))
    widths = [max([len(name), *(cell_len(str(cells[i])) for cells, _ in rows)])
              for i, name in enumerate(THREAD_COLUMNS)]
    widths[1] = min(widths[1], PROCESS_WIDTH)

    def layout(dropped: tuple[str, ...]) -> Table:
        kept = [i for i, name in enumerate(THREAD_COLUMNS) if name not in dropped]
        shown = [widths[i] for i in kept]
        table = titled(title, padding=(0, 1, 0, 0))
        table.caption, table.caption_justify = caption.caption, "left"
        table.add_column(fixed_cells([THREAD_COLUMNS[i] for i in kept], shown),
                         width=fixed_width(shown), no_wrap=True)
        table.add_column("program", overflow="fold", ratio=1)
        for cells, program in rows:
            table.add_row(fixed_cells([cells[i] for i in kept], shown), program)
        return table

    return Fitted([partial(layout, THREAD_DROPPED[:count])
                   for count in range(len(THREAD_DROPPED) + 1)], whole_lines=True)


def _program_position(thread: Thread) -> str:
    if not thread.program:
        return thread.start_address
    steps = [str(step) for step in thread.program]
    if thread.pc < len(steps):
        steps[thread.pc] = f"▶ {steps[thread.pc]}"
    return "; ".join(steps)


@deferred
def process_detail(system: System, process: Process) -> Group:
    """In the spirit of `!process PID 7`: the EPROCESS fields, the address space, the threads."""
    state = process.state.value
    if not process.alive:
        state += f" (exit status {format_status(process.exit_status)})"
    space = process.address_space
    rows = [
        ("PROCESS", f"{ptr(process.header.address)}  {process.image}"),
        ("Cid (PID)", str(process.pid)),
        ("ParentCid", str(process.parent_pid) if process.parent_pid is not None else "none"),
        ("SessionId", str(process.session_id)),
        ("User", process.user),
        ("State", state),
        ("Subsystem", process.subsystem.value),
        ("Peb", f"{process.peb:#x}" if process.peb is not None else "none (no PEB)"),
        ("DirBase (CR3)", f"{space.directory_table_base:#x}" if space else "kernel only"),
        ("Critical", "yes — its death stops the system (0xEF)" if process.critical else "no"),
        ("BasePriority", str(process.base_priority)),
        ("HandleCount", str(len(process.handle_table.entries))),
        ("ObjectHeader", (f"PointerCount {process.header.pointer_count}, "
                          f"HandleCount {process.header.handle_count}")),
    ]
    return Group(fields(rows), thread_table(process.threads, title=f"threads of {process.image}"))


def _lock_name(lock: Lock) -> str:
    return lock.name if isinstance(lock, SpinLock) else lock.header.name


def _waiting_on(thread: Thread) -> str:
    obj = thread.waiting_on
    if thread.state is not ThreadState.Waiting:
        return "nothing"
    if obj is None:
        if thread.io_wait is not None and thread.wait_reason is WaitReason.PageIn:
            return f"IRP {thread.io_wait[0].number}: the paging read of the page it touched"
        if thread.io_wait is not None:
            return f"IRP {thread.io_wait[0].number}: the file object's event (synchronous I/O)"
        if thread.wake_tick is not None:
            return f"the clock (until tick {thread.wake_tick})"
        if thread.wait_reason is WaitReason.WrQueue:
            return "the system work queue"
        return "user input (GetMessage)"
    owner = obj.owner if isinstance(obj, KMutant) else None
    return f"{obj.header.type_name} {obj.header.path}" + (f", owned by {owner.label}" if owner
                                                          else "")


@deferred
def thread_detail(thread: Thread) -> Table:
    """In the spirit of `!thread`: state, wait reason, priority, TEB, program position."""
    rows = [
        ("THREAD", f"{ptr(thread.header.address)}  Cid {thread.process.pid}.{thread.tid}"),
        ("Process", f"{thread.process.image} ({thread.process.pid})"),
        ("State", Text(thread.state.name, style=THREAD_STATE_STYLE.get(thread.state.name, ""))),
        ("WaitReason", thread.wait_reason.name if thread.wait_reason is not None else "none"),
        ("Waiting on", _waiting_on(thread)),
        ("Holds", ", ".join(_lock_name(lock) for lock in thread.held_locks) or "nothing"),
        ("APC queue", "; ".join(str(apc) for apc in thread.kernel_apcs + thread.user_apcs)
         or "empty"),
        ("Priority", f"{thread.priority} (base {thread.base_priority})"),
        ("Mode", "kernel only (system thread)" if thread.system_thread else "user and kernel"),
        ("Teb", f"{thread.teb:#x}" if thread.teb is not None else "none"),
        ("Quantum left", f"{thread.quantum} tick(s)"),
        ("Last processor", "none yet" if thread.last_cpu is None else str(thread.last_cpu)),
        ("Time", f"user {thread.user_ticks} tick(s), kernel {thread.kernel_ticks} tick(s)"),
        ("Kernel stack", f"{KERNEL_STACK_SIZE // 1024} KB; driver code has used at most "
                         f"{thread.kernel_stack_peak} bytes of it, "
                         f"{KERNEL_STACK_SIZE - thread.kernel_stack_peak} left at the peak"),
        ("Start address", thread.start_address),
        ("Program", _program_position(thread) if thread.program else "none"),
    ]
    if thread.program:
        rows.append(("Program text", format_program(thread.program)))
    return fields(rows)


@deferred
def memory_map(process: Process) -> Group:
    """The address space: the private user half (its regions) and the shared kernel half.
    Where the columns do not fit side by side, each region's end goes under its start."""
    space = process.address_space
    note = Text(f"above the line: this process's private user half ({MM_LOWEST_USER_ADDRESS:#x}"
                f" – {MM_HIGHEST_USER_ADDRESS:#x}); below: the kernel half from "
                f"{ptr(MM_SYSTEM_RANGE_START)}, the same in every process, reachable only in "
                "kernel mode.", style="dim")
    if space is None:
        note = Text(f"{process.image} has no user half: only the shared kernel half.",
                    style="dim")
    return Group(Fitted([partial(_regions, process, stacked) for stacked in (False, True)]),
                 note)


# the titled tables' box with a rule between sections too: the line between the two halves
HALVES = box.Box("    \n    \n ── \n    \n ── \n    \n    \n    \n")


def _regions(process: Process, stacked: bool) -> Table:
    space = process.address_space
    table = titled(f"address space of {process.image} ({process.pid})")
    table.box = HALVES
    table.add_column("start / end" if stacked else "start", no_wrap=True)
    if not stacked:
        table.add_column("end", no_wrap=True)
    table.add_column("kind / pages" if stacked else "kind", no_wrap=True)
    table.add_column("protection", no_wrap=True)
    if not stacked:  # else under the kind
        table.add_column("pages", overflow="fold")
    table.add_column("what", overflow="fold")

    def add(start: int, end: int, kind: str | Text, protection: str, pages: str,
            what: str) -> None:
        if stacked:
            table.add_row(f"{ptr(start)}\n{ptr(end)}", Text.assemble(kind, "\n", pages),
                          protection, what)
        else:
            table.add_row(ptr(start), ptr(end), kind, protection, pages, what)

    for vad in space.vads if space is not None else ():
        add(vad.start, vad.end, vad.kind, vad.protection, _pages(space, vad), vad.description)
    table.add_section()
    for start, end, what in KERNEL_REGIONS:
        add(start, end, Text("shared", style="magenta"), "kernel only", "", what)
    return table


# WinDbg's `!process` and `!thread` blocks (Debugger Reference, "!process" and "!thread"):
# addresses as those extensions print them (16 hex digits, no grave accent), client IDs in
# hex (`Cid 00ac.00b0`). Only what the model has is printed: no Win32Thread, ObjectTable or
# stack, and times in clock ticks rather than h:mm:ss.
PROCESS_THREADS = 0x4  # !process flags bit 2: its threads, one line each
PROCESS_WAITS = 0x2  # bit 1: the threads' wait states (with the details the model keeps)
PROCESS_TIMES = 0x1  # bit 0: time and priority statistics


def windbg_ptr(address: int | None) -> str:
    """An address as !process and !thread print it: ffffc50f0a002980, 0 as 0000000000000000."""
    return f"{address or 0:016x}"


def cid(number: int | None) -> str:
    """A client ID (a PID or a TID) as WinDbg prints it: hex, at least four digits."""
    return f"{number or 0:04x}"


def _thread_state(thread: Thread) -> str:
    if thread.state is ThreadState.Running:
        return f"RUNNING on processor {thread.last_cpu}"
    if thread.state is ThreadState.Waiting:
        reason = thread.wait_reason.name if thread.wait_reason is not None else "Executive"
        return f"WAIT: ({reason}) {'Alertable' if thread.alertable else 'Non-Alertable'}"
    return thread.state.name.upper()  # READY, STANDBY, TERMINATED, INITIALIZED, ...


def thread_block(thread: Thread, flags: int = 0x6, indent: str = "") -> Text:
    """`!thread ADDR FLAGS`: the THREAD line, and with bit 1 (0x2) what it waits on, holds,
    its priority, times and program."""
    text = Text(f"{indent}THREAD ", style="bold")
    text.append(windbg_ptr(thread.header.address))
    text.append(f"  Cid {cid(thread.process.pid)}.{cid(thread.tid)}"
                f"  Teb: {windbg_ptr(thread.teb)} ")
    text.append(_thread_state(thread), style=THREAD_STATE_STYLE.get(thread.state.name, ""))
    if not flags & PROCESS_WAITS:
        return text
    pad = indent + "    "
    lines = [f"Owning Process  {windbg_ptr(thread.process.header.address)}  "
             f"Image: {thread.process.image}"]
    if thread.state is ThreadState.Waiting:
        obj = thread.waiting_on
        where = f"{windbg_ptr(obj.header.address)}  " if obj is not None else ""
        lines.append(f"Waiting on      {where}{_waiting_on(thread)}")
    if thread.held_locks:
        lines.append("Holds           " + ", ".join(_lock_name(lock)
                                                    for lock in thread.held_locks))
    if thread.kernel_apcs or thread.user_apcs:
        lines.append("APC queue       " + "; ".join(str(apc) for apc in
                                                    thread.kernel_apcs + thread.user_apcs))
    lines += [f"Priority        {thread.priority}  BasePriority {thread.base_priority}",
              f"UserTime        {thread.user_ticks} tick(s)  KernelTime "
              f"{thread.kernel_ticks} tick(s)",
              f"Start Address   {thread.start_address or '(none)'}",
              f"Kernel stack    {KERNEL_STACK_SIZE:#x} bytes; at most "
              f"{thread.kernel_stack_peak:#x} used, "
              f"{KERNEL_STACK_SIZE - thread.kernel_stack_peak:#x} left then"]
    if thread.program:
        lines.append(f"Program         {_program_position(thread)}")
    for line in lines:
        text.append(f"\n{pad}{line}")
    return text


def process_block(process: Process, flags: int = 0xF) -> Text:
    """`!process P FLAGS` for one process: the PROCESS block, then its threads (bit 2)."""
    space = process.address_space
    text = Text("PROCESS ", style="bold")
    text.append(windbg_ptr(process.header.address))
    text.append(f"\n    SessionId: {process.session_id}  Cid: {cid(process.pid)}"
                f"    Peb: {process.peb or 0:08x}  ParentCid: {cid(process.parent_pid)}")
    text.append("\n    " + (f"DirBase: {space.directory_table_base:08x}  " if space else "")
                + f"HandleCount: {len(process.handle_table.entries)}.")
    text.append(f"\n    Image: {process.image}")
    if not process.alive:
        text.append(f"\n    Exited with {format_status(process.exit_status)}", style="red")
    if flags & PROCESS_TIMES:
        threads = process.threads
        text.append(f"\n    BasePriority                      {process.base_priority}"
                    f"\n    UserTime                          "
                    f"{sum(t.user_ticks for t in threads)} tick(s)"
                    f"\n    KernelTime                        "
                    f"{sum(t.kernel_ticks for t in threads)} tick(s)")
    if flags & (PROCESS_THREADS | PROCESS_WAITS):
        for thread in process.threads:
            text.append("\n\n" if flags & PROCESS_WAITS else "\n")
            text.append_text(thread_block(thread, flags, indent="        "))
    return text


@deferred
def process_dump(processes: list[Process], flags: int, what: str) -> Group:
    """`!process 0 FLAGS [IMAGE]`: a block a process, as WinDbg's "NT ACTIVE PROCESS DUMP"."""
    parts: list = [Text("**** NT ACTIVE PROCESS DUMP ****")]
    parts += [Indented(process_block(p, flags)) for p in processes[:LIST_LIMIT]]
    if len(processes) > LIST_LIMIT:
        parts.append(Text(f"… the first {LIST_LIMIT} of {len(processes):,} processes: name "
                          "one with !process 0 0 IMAGE", style="dim italic"))
    if not processes:
        parts.append(Text(f"no {what}", style="dim"))
    return Group(*_spaced(parts))


def _spaced(parts: list) -> list:
    """Blocks one blank line apart, as WinDbg prints them."""
    spaced: list = []
    for part in parts:
        if spaced:
            spaced.append(Text(""))
        spaced.append(part)
    return spaced


@deferred
def windbg_process(process: Process, flags: int) -> Indented:
    return Indented(process_block(process, flags))


@deferred
def windbg_thread(thread: Thread, flags: int) -> Indented:
    return Indented(thread_block(thread, flags))


def _pages(space, vad) -> str:
    """How the region's pages stand: how many are committed, and of those how many are
    valid (in a frame, in the working set) or in the other PTE forms."""
    first, last = vad.start >> 12, vad.end >> 12
    forms = Counter(form(pte) for page, pte in space.tables.ptes.items()
                    if first <= page <= last)
    committed = vad.commit // 0x1000
    total = last - first + 1
    parts = [f"{total}"] + ([f"{committed} committed"] if committed < total else [])
    parts += [f"{count} {name}" for name, count in sorted(forms.items()) if name != "zero"]
    return ", ".join(parts)
