"""Asynchronous procedure calls (KAPC): work queued to one thread, run in that thread.

An APC is how the kernel gets code to run in a particular thread's context, which is the only
place where that thread's user addresses mean its own process's memory. There are three
kinds (ReactOS ntoskrnl/ke/apc.c, KiInsertQueueApc and KiDeliverApc; "Types of APCs",
https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/types-of-apcs):

- a special kernel APC has only a kernel routine, which runs at APC_LEVEL; it is queued ahead
  of the normal kernel APCs and runs even inside a critical region. The I/O manager's
  IopCompleteRequest, which finishes every thread's I/O request, is one;
- a normal kernel APC has a normal routine too, which runs at PASSIVE_LEVEL; KeEnterCritical
  Region holds it off;
- a user APC runs a user-mode routine (ReadFileEx's completion routine, QueueUserAPC), and
  only when the thread is in an alertable wait or asks for it (NtTestAlert).

A kernel APC is delivered (KiDeliverApc, at APC_LEVEL) as soon as its thread runs at an IRQL
below APC_LEVEL: at once if it is running (an APC_LEVEL software interrupt), when it is next
switched in if it is ready, and a thread waiting at PASSIVE_LEVEL is taken out of its wait
with STATUS_KERNEL_APC to run it (and waits again, unless the APC ended the wait).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class ApcKind(Enum):
    SPECIAL_KERNEL = "special kernel"
    KERNEL = "kernel"
    USER = "user"


@dataclass(eq=False)
class Apc:
    """A KAPC: its kind, the routine it runs, what it is for (for !thread), the routine's
    work, and its rundown: what is undone if the thread ends before it runs."""

    kind: ApcKind
    routine: str  # e.g. nt!IopCompleteRequest
    purpose: str  # e.g. "IRP 3"
    run: Callable[[], None]
    rundown: Callable[[], None] | None = None

    def __str__(self) -> str:
        return f"{self.kind.value} APC {self.routine} ({self.purpose})"
