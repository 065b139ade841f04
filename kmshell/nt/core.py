"""Core: what every component may use — the clock, the processors, the trace and `emit`,
`bugcheck`, the seeded random generator, and address and ID allocation.

Not an NT component of its own: in ntoskrnl these are KeTickCount, the processor blocks
(KiProcessorBlock), the kernel logger, KeBugCheckEx, and the allocators of the handle table
(PspCidTable) and of kernel virtual addresses. Every component is handed the one Core at
construction. Ke alone advances the clock and says which processor runs now (`cpu_context`);
the processors' IRQL and current thread are Ke's to change too (test_ownership checks it).

State (`Core`): `tick`, the clock; `processors`, one Processor per CPU, and `cpu_context`,
the one the code running now runs on; `log`, the trace, and `events_dropped`, how many of
its oldest events were trimmed; `bugcheck_info`, the stop that halted the machine, if any;
`seed` and `rng`, the random generator; `minimal`, booted without the default processes and
hardware; and the next free kernel address and process or thread ID.

Simplifications: a command from the shell happens between two clock ticks, in the context of
processor 0; addresses come from a bump allocator, so the same commands give the same ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from kmshell.nt.constants import Irql, NtStatus
from kmshell.nt.errors import NtError, SystemHalted
from kmshell.nt.events import Event
from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.ke.processor import Processor

# The trace keeps the latest 25,000 to 50,000 events (about 6 to 12 MB): enough for any
# lesson's whole session, and a long run (100,000 IRPs, 500,000 events) stays flat.
TRACE_KEEP = 25_000
FIRST_CID = 100  # PIDs and TIDs come from one table (PspCidTable), in multiples of 4
FIRST_ADDRESS = 0xFFFF_C50F_0A00_0080  # where the model's kernel structures start


class Core:
    def __init__(self, seed: int = 0, minimal: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.minimal = minimal  # booted without the default processes and hardware
        self.tick = 0
        self.log: list[Event] = []  # the trace: the latest TRACE_KEEP to 2 × TRACE_KEEP events
        self.events_dropped = 0  # trimmed from the front of the log, oldest first
        self.processors: list[Processor] = []  # filled at boot, one per CPU
        self.cpu_context = 0  # the processor the code running now runs on
        self.bugcheck_info: BugcheckInfo | None = None
        self._next_address = FIRST_ADDRESS
        self._next_cid = FIRST_CID

    @property
    def halted(self) -> bool:
        return self.bugcheck_info is not None

    def emit(self, component: str, kind: str, text: str, why: str = "",
             cpu: int | None = None, mode: str = "K", irql: int | None = None,
             args: tuple = ()) -> Event:
        """Append an event to the trace. With `args`, `text` is a str.format template for
        them, formatted when the event's text is read (the IRP path's events). Pass `cpu`,
        `mode`, `irql` and `args` by keyword. (They are not keyword-only: a keyword-only
        parameter's default costs a dictionary look-up at every call, and a busy run
        emits hundreds of thousands of events.)"""
        if cpu is None:
            cpu = self.cpu_context
        if mode == "U":
            irql = 0  # user-mode code always runs at PASSIVE_LEVEL
        elif irql is None:
            try:
                irql = self.processors[cpu].irql
            except IndexError:  # booting: the processors are not there yet
                irql = 0
        # tuple.__new__ makes the Event without the NamedTuple's Python-level __new__: a
        # benchmark run emits hundreds of thousands of them.
        event = tuple.__new__(Event, (self.tick, cpu, irql, mode, component, kind, text, why,
                                      args))
        log = self.log
        log.append(event)
        if len(log) >= 2 * TRACE_KEEP:  # like the kernel logger's circular buffers
            del log[:TRACE_KEEP]
            self.events_dropped += TRACE_KEEP
        return event

    @contextmanager
    def trace_set_aside(self) -> Iterator[list[Event]]:
        """The trace taken out of the machine while a snapshot copies the rest
        (System.snapshot): its events are immutable, so a snapshot keeps them by reference."""
        log, self.log = self.log, []
        try:
            yield log
        finally:
            self.log = log

    def restore_trace(self, events: Sequence[Event]) -> None:
        """The trace of a machine rebuilt from a snapshot: the events it kept."""
        self.log = list(events)

    @property
    def events_emitted(self) -> int:
        """Every event since boot, trimmed or not: a mark to take a command's events from."""
        return self.events_dropped + len(self.log)

    def events_since(self, mark: int) -> list[Event]:
        """The events emitted after `mark` (events_emitted then) that the log still keeps."""
        return self.log[max(0, mark - self.events_dropped):]

    def allocate_address(self, size: int = 0x80) -> int:
        """A kernel virtual address for a new structure (a deterministic bump allocator)."""
        address = self._next_address
        self._next_address += (size + 0x7F) & ~0x7F
        return address

    def allocate_cid(self) -> int:
        """A process or thread ID (PspCidTable hands out multiples of 4)."""
        cid = self._next_cid
        self._next_cid += 4
        return cid

    def bugcheck(self, code: int, parameters: tuple[int, ...], *, driver: str = "",
                 routine: str = "", rule: str = "", fix: str = "",
                 cpu: int | None = None) -> NoReturn:
        """KeBugCheckEx: record the stop, raise every processor to HIGH_LEVEL, stop the model."""
        cpu = self.cpu_context if cpu is None else cpu
        info = BugcheckInfo(code, parameters, cpu, self.tick, driver, routine, rule, fix)
        self.bugcheck_info = info
        params = ", ".join(f"0x{p:X}" for p in parameters)
        self.emit("Ke", "bugcheck", f"KeBugCheckEx(0x{code:X} {info.name}; {params})",
                  "A fault in kernel mode cannot be contained: all kernel code shares one address "
                  "space, so Windows stops the whole machine rather than run on corrupted.",
                  cpu=cpu, irql=Irql.HIGH_LEVEL)
        for processor in self.processors:
            processor.irql = Irql.HIGH_LEVEL
        raise SystemHalted(info)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng.seed(seed)

    def require_running(self) -> None:
        info = self.bugcheck_info
        if info is not None:
            raise NtError(NtStatus.STATUS_UNSUCCESSFUL,
                          f"the system is halted by bugcheck 0x{info.code:X} {info.name}")

    def forget_events_since(self, mark: int) -> None:
        """Drop the events emitted after `mark`: boot folds its details into a summary."""
        del self.log[max(0, mark - self.events_dropped):]

    def processor(self) -> Processor:
        """The processor the code running now runs on (KeGetCurrentProcessorNumber)."""
        return self.processors[self.cpu_context]
