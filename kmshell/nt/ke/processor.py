"""A logical processor: its number, current IRQL, and the thread it runs (KPRCB, simplified)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.constants import Irql

if TYPE_CHECKING:
    from kmshell.nt.io.irp import DeviceObject
    from kmshell.nt.ps import Thread


@dataclass(eq=False)
class Processor:
    number: int
    idle_thread: Thread
    current_thread: Thread
    irql: int = Irql.PASSIVE_LEVEL
    idle_ticks: int = 0
    busy_ticks: int = 0
    dpc_queue: list[DeviceObject] = field(default_factory=list)  # devices whose DPC is queued
    # (device, message) interrupts held off by the IRQL
    pending_interrupts: list[tuple[DeviceObject, int]] = field(default_factory=list)

    @property
    def is_idle(self) -> bool:
        return self.current_thread is self.idle_thread
