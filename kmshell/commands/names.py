"""Turning the names a user types into model objects, with errors that list what is valid."""

from __future__ import annotations

from collections.abc import Iterable

from kmshell.commands.registry import TABLE
from kmshell.errors import KmsError
from kmshell.language.spec import Kind
from kmshell.nt.errors import NtError
from kmshell.nt.mm import is_kernel_address
from kmshell.nt.ob import ObjectPathError
from kmshell.nt.ps import Process, Thread
from kmshell.nt.system import System


def resolve_process(system: System, text: str, col: int | None = None) -> Process:
    """A PID, or an image name (case-insensitive). Several live matches are an error."""
    if text.isdigit() or text.lower().startswith("0x"):
        try:
            pid = int(text, 0)
        except ValueError:
            pid = -1
        process = system.ps.processes.get(pid)
        if process is None:
            raise KmsError(f"no process with PID {text}", col=col,
                           hint="type 'process list' to see PIDs")
        return process
    live = [p for p in system.ps.running.values() if p.image.lower() == text.lower()]
    if len(live) > 1:
        pids = ", ".join(str(p.pid) for p in live)
        raise KmsError(f"'{text}' is ambiguous: {len(live)} processes have that image name",
                       col=col, hint=f"name one by PID: {pids}")
    if live:
        return live[0]
    exited = (p for p in reversed(system.ps.processes.values()) if p.image.lower() == text.lower())
    if latest := next(exited, None):  # the latest exited one: expectations after a kill work
        return latest
    names = sorted({p.image for p in system.ps.live_processes()})
    raise KmsError(f"no process named '{text}'", col=col,
                   hint="running: " + ", ".join(names))


def resolve_thread(system: System, tid: int, col: int | None = None) -> Thread:
    thread = system.ps.threads.get(tid)
    if thread is None:
        if tid == 0:
            raise KmsError("TID 0 is shared by every idle thread", col=col,
                           hint="use 'thread list 0' or 'cpu' views to see them")
        raise KmsError(f"no thread with TID {tid}", col=col,
                       hint="type 'thread list' to see TIDs")
    return thread


def resolve_object(system: System, path: str, col: int | None = None):
    try:
        return system.ob.lookup(path)
    except ObjectPathError as error:
        raise KmsError(str(error), col=col, hint="type 'object ls \\' to browse the namespace") \
            from None


def process_names(system: System) -> list[str]:
    """Completion source: PIDs and image names (unique names only once)."""
    live = system.ps.live_processes()
    return [str(p.pid) for p in live] + sorted({p.image for p in live})


def thread_ids(system: System) -> list[str]:
    return [str(t.tid) for t in system.ps.threads.values()]


def object_paths(system: System) -> list[str]:
    return ["\\"] + [obj.header.path for obj in system.ob.walk()]


def resolve_driver(system: System, text: str, col: int | None = None):
    """A short name (`WdFilter`) or an object path (`\\Driver\\WdFilter`)."""
    name = text.rsplit("\\", 1)[-1].lower()
    driver = system.io.drivers.get(name)
    if driver is None:
        raise KmsError(f"no driver named '{text}' is loaded", col=col,
                       hint="loaded: " + ", ".join(system.io.drivers_names()))
    return driver


def resolve_device(system: System, text: str, col: int | None = None):
    """A device by its name (`Toaster`), its path (`\\Device\\Toaster`) or its label
    (`toasterfilter#1` for an unnamed one)."""
    try:
        return system.io.find_device(text)
    except NtError as error:
        raise KmsError(error.message, col=col,
                       hint="`device list` shows every device object") from None


def driver_names(system: System) -> list[str]:
    return system.io.drivers_names()


def device_names(system: System) -> list[str]:
    return [d.label.rsplit("\\", 1)[-1] for d in system.io.devices]


def handle_values(system: System) -> list[str]:
    """Every open handle value in any process (a process's handles start at 0x4)."""
    values = {h for p in system.ps.live_processes() for h in p.handle_table.entries}
    return [f"{h:#x}" for h in sorted(values)]


def registry_keys(system: System) -> list[str]:
    return sorted(key.path for key in system.cm.registry.walk_keys())


LIVE_SOURCES = {
    "process": process_names,
    "thread": thread_ids,
    "object": object_paths,
    "driver": driver_names,
    "device": device_names,
    "handle": handle_values,
    "key": registry_keys,
}


def live_values(system: System, kind: Kind, windbg: bool = False) -> list[str]:
    """What may stand where a value of `kind` goes, now: its fixed choices or the live names
    the model has (shared by tab completion and the property tests). For a `!` command
    (windbg), PIDs and TIDs in hex, as the command reads them."""
    if isinstance(kind.complete, tuple):
        return list(kind.complete)
    if kind.complete == "command":
        return [s.name for s in TABLE.specs] + list(TABLE.nouns())
    source = LIVE_SOURCES.get(kind.complete)
    values = source(system) if source else []
    if windbg and kind.number:
        return [f"{int(v):x}" if v.isdigit() else v for v in values]
    return values


def live_meta(system: System, kind: Kind, windbg: bool = False) -> dict[str, str]:
    """What the Tab menu shows beside a PID or a TID (as live_values spells it): whose it is."""
    if kind.complete == "process":
        pairs = [(p.pid, p.image) for p in system.ps.live_processes()]
    elif kind.complete == "thread":
        pairs = [(t.tid, f"thread of {t.process.image} ({t.process.pid})")
                 for t in system.ps.threads.values()]
    else:
        return {}
    return {f"{number:x}" if windbg else str(number): text for number, text in pairs}


# The structures whose addresses kmshell prints, and the `!` command that takes each one.
BANG_COMMAND = {"EPROCESS": "!process", "ETHREAD": "!thread", "DRIVER_OBJECT": "!drvobj",
                "DEVICE_OBJECT": "!devobj", "IRP": "!irp"}


def structure_at(system: System, address: int) -> tuple[str, object] | None:
    """The process, thread, driver, device or IRP in progress at a kernel address, with its
    structure's name; None when none is there."""
    groups: list[tuple[str, Iterable]] = [
        ("EPROCESS", system.ps.processes.values()), ("ETHREAD", system.ps.threads.values()),
        ("DRIVER_OBJECT", system.io.drivers.values()), ("DEVICE_OBJECT", system.io.devices)]
    for name, objects in groups:
        for obj in objects:
            if obj.header.address == address:
                return name, obj
    irp = next((i for i in system.io.irps.values() if i.address == address), None)
    return ("IRP", irp) if irp is not None else None


def resolve_address(system: System, address: int, wanted: str, col: int | None = None):
    """The `wanted` structure (EPROCESS, ETHREAD, ...) at address, or an error that says
    what is there instead, if anything."""
    found = structure_at(system, address)
    if found is not None and found[0] == wanted:
        return found[1]
    shown = f"{address:016x}"
    if found is not None:
        raise KmsError(f"{shown} is the address of {_a(found[0])}, not of {_a(wanted)}",
                       col=col, hint=f"try {BANG_COMMAND[found[0]]} {shown}")
    raise KmsError(f"no {wanted} at {shown}", col=col,
                   hint=f"{BANG_COMMAND[wanted]} takes the addresses kmshell prints for "
                        "live objects; an object freed since then is gone")


def _a(name: str) -> str:
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"


def current_thread(system: System) -> Thread:
    """The thread on processor 0: the current thread at WinDbg's `0: kd>` prompt."""
    return system.core.processors[0].current_thread


def windbg_process_named(system: System, text: str | None, col: int | None = None) -> Process:
    """A process as WinDbg's !process and !handle take one: left out or -1, the current
    process; above the system range start, an EPROCESS address (an address, not an ID, as
    WinDbg tells them apart); else a PID or an image name."""
    if text is None or text == "-1":
        return current_thread(system).process
    if text.startswith("0x") and is_kernel_address(int(text, 16)):
        return resolve_address(system, int(text, 16), "EPROCESS", col)
    return resolve_process(system, text, col)
