"""Interrupts, ISRs and DPCs: the HAL gives each connected device a vector (on x64 the IRQL
of a vector is its high nibble), an interrupt runs the ISR at that DIRQL on one processor,
the ISR queues a DPC, and the DPC runs at DISPATCH_LEVEL once the IRQL falls below it —
before any thread runs again.

`Interrupts` is mixed into `System`. Simplifications: vectors are handed out from 0x80 in
steps of 0x10; one DPC per device; an interrupt asserted from the shell arrives between
ticks.
"""

from __future__ import annotations

from kmshell.nt.constants import DIRQL_MAX, Irql, NtStatus, irql_name
from kmshell.nt.errors import NtError

FIRST_VECTOR = 0x80


class Interrupts:
    """Mixed into `System`."""

    def connect_interrupt(self, device) -> None:
        """IoConnectInterruptEx: the HAL picks a vector; its high nibble is the DIRQL."""
        vector = min(FIRST_VECTOR + 0x10 * self.vectors_assigned, DIRQL_MAX << 4)
        self.vectors_assigned += 1
        device.vector, device.dirql = vector, vector >> 4
        self.emit("Hal", "interrupt", f"IoConnectInterruptEx: {device.label} gets vector "
                  f"{vector:#x}, so its ISR runs at DIRQL {device.dirql}", "On x64 an "
                  "interrupt's IRQL is its vector divided by 16.")

    def interrupt(self, device, cpu_number: int = 0) -> None:
        """The device asserts its interrupt on processor cpu_number."""
        self._require_running()
        if device.vector is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{device.label} has no "
                          "interrupt connected (its driver never called IoConnectInterruptEx)")
        cpu = self.processors[cpu_number]
        before = cpu.irql
        if before >= device.dirql:
            self.emit("Hal", "interrupt", f"vector {device.vector:#x} held pending: CPU"
                      f"{cpu.number} is at {irql_name(before)}, not below DIRQL {device.dirql}",
                      cpu=cpu.number)
            return
        running = "the idle thread" if cpu.is_idle else cpu.current_thread.label
        cpu.irql = device.dirql
        self.cpu_context = cpu.number
        self.emit("Hal", "interrupt", f"vector {device.vector:#x} on CPU{cpu.number}: "
                  f"{running} is interrupted; IRQL {before} → {device.dirql}; "
                  f"{device.driver.name}'s ISR runs", "An interrupt preempts whatever runs, "
                  "thread or not; the ISR must be short and may only queue the rest.",
                  cpu=cpu.number)
        try:
            self.dpc_time_us = 0
            self._run(device.driver, "ISR", device.driver.spec.routines.get("ISR", []), None,
                      device)
            cpu.irql = before
            self.emit("Hal", "interrupt", f"ISR returns; IRQL back to {irql_name(before)}",
                      cpu=cpu.number)
            self.drain_dpcs(cpu)
        finally:
            self.cpu_context = 0
        self.dispatch()

    def request_dpc(self, device) -> None:
        """IoRequestDpc / KeInsertQueueDpc: queue the device's DPC on this processor."""
        cpu = self.processors[self.cpu_context]
        cpu.dpc_queue.append(device)
        self.emit("Ke", "dpc", f"{device.driver.name} queues its DPC on CPU{cpu.number} "
                  f"({len(cpu.dpc_queue)} queued)", cpu=cpu.number)

    def drain_dpcs(self, cpu) -> None:
        """Run queued DPCs at DISPATCH_LEVEL, if the IRQL has fallen below it."""
        if cpu.irql >= Irql.DISPATCH_LEVEL:
            return
        while cpu.dpc_queue:
            device = cpu.dpc_queue.pop(0)
            before, cpu.irql = cpu.irql, Irql.DISPATCH_LEVEL
            self.cpu_context = cpu.number
            self.emit("Ke", "dpc", f"CPU{cpu.number} drains its DPC queue at DISPATCH_LEVEL: "
                      f"{device.driver.name}'s DPC runs", "DPCs run when the IRQL drops below "
                      "DISPATCH_LEVEL, before any thread gets the processor back.",
                      cpu=cpu.number)
            self.dpc_time_us = 0
            self._run(device.driver, "DPC", device.driver.spec.routines.get("DPC", []), None,
                      device)
            cpu.irql = before
