"""Interrupts, ISRs and DPCs: the HAL gives each connected device a vector (on x64 the IRQL
of a vector is its high nibble), an interrupt runs the ISR at that DIRQL on one processor,
the ISR queues a DPC, and the DPC runs at DISPATCH_LEVEL once the IRQL falls below it —
before any thread runs again.

`Interrupts` is mixed into `System`. An interrupt is line-based, or message-signaled (MSI,
MSI-X: one vector per message, MSI-X messages each on their own processor); one arriving
while the processor's IRQL is at or above its DIRQL is held and delivered when the IRQL
drops. Simplifications: vectors are handed out from 0x80 in blocks of 0x10 (a driver's
messages share one block, so one DIRQL); one DPC per device; no shared lines; an interrupt
asserted from the shell arrives between ticks.
"""

from __future__ import annotations

from kmshell.nt.constants import DIRQL_MAX, Irql, NtStatus, irql_name
from kmshell.nt.errors import NtError

FIRST_VECTOR = 0x80


class Interrupts:
    """Mixed into `System`."""

    def connect_interrupt(self, device) -> None:
        """IoConnectInterruptEx: the HAL picks a vector (one per message for MSI and MSI-X);
        its high nibble is the DIRQL."""
        spec = device.driver.spec
        kind, messages = (spec.interrupt, spec.messages) if spec is not None else ("line", 1)
        vector = min(FIRST_VECTOR + 0x10 * self.vectors_assigned, DIRQL_MAX << 4)
        self.vectors_assigned += 1
        device.vectors = [vector + n for n in range(messages)]
        device.vector, device.dirql = vector, vector >> 4
        if kind == "line":
            self.emit("Hal", "interrupt", f"IoConnectInterruptEx (line-based): {device.label} "
                      f"gets vector {vector:#x}, so its ISR runs at DIRQL {device.dirql}",
                      "On x64 an interrupt's IRQL is its vector divided by 16.")
            return
        name = "MSI" if kind == "msi" else "MSI-X"
        self.emit("Hal", "interrupt", f"IoConnectInterruptEx (CONNECT_MESSAGE_BASED, {name}): "
                  f"{device.label} gets {messages} message(s), vectors {vector:#x}.."
                  f"{device.vectors[-1]:#x}, its ISR at DIRQL {device.dirql}",
                  "A message-signaled interrupt is a memory write by the device, not a wire: "
                  "it is never shared, each message has its own vector, and with MSI-X each "
                  "message can go to its own processor.")

    def interrupt(self, device, cpu_number: int | None = None, message: int = 0) -> None:
        """The device asserts its interrupt (message `message`) on processor cpu_number; by
        default an MSI-X message goes to its own processor (message mod CPUs), others to 0."""
        self._require_running()
        if device.vector is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{device.label} has no "
                          "interrupt connected (its driver never called IoConnectInterruptEx)")
        if not 0 <= message < len(device.vectors):
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{device.label} has "
                          f"{len(device.vectors)} message(s): 0..{len(device.vectors) - 1}")
        kind = device.driver.spec.interrupt if device.driver.spec else "line"
        if cpu_number is None:
            cpu_number = message % len(self.processors) if kind == "msi-x" else 0
        cpu = self.processors[cpu_number]
        vector = device.vectors[message]
        before = cpu.irql
        if before >= device.dirql:
            cpu.pending_interrupts.append((device, message))
            self.emit("Hal", "interrupt", f"vector {vector:#x} held pending: CPU"
                      f"{cpu.number} is at {irql_name(before)}, not below DIRQL {device.dirql}; "
                      "it is delivered when the IRQL drops", cpu=cpu.number)
            return
        running = "the idle thread" if cpu.is_idle else cpu.current_thread.label
        cpu.irql = device.dirql
        self.cpu_context = cpu.number
        what = f"message {message} (vector {vector:#x})" if kind != "line" else \
            f"vector {vector:#x}"
        self.emit("Hal", "interrupt", f"{what} on CPU{cpu.number}: "
                  f"{running} is interrupted; IRQL {before} → {device.dirql}; "
                  f"{device.driver.name}'s ISR runs"
                  + (f" with MessageID {message}" if kind != "line" else ""),
                  "An interrupt preempts whatever runs, thread or not; the ISR must be short "
                  "and may only queue the rest.", cpu=cpu.number)
        try:
            self.dpc_time_us = 0
            self._run_at(cpu, before, device.driver, "ISR", None, device)
            cpu.irql = before
            self.emit("Hal", "interrupt", f"ISR returns; IRQL back to {irql_name(before)}",
                      cpu=cpu.number)
            self.drain_dpcs(cpu)
        finally:
            self.cpu_context = 0
        self.dispatch()

    def synchronize_execution(self, driver, device) -> None:
        """KeSynchronizeExecution: the interrupt spin lock, at the device's DIRQL, around the
        driver's SynchCritSection: neither this ISR nor any other at that level can run."""
        if device is None or device.dirql is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{driver.name} has no "
                          "interrupt to synchronize with (IoConnectInterruptEx first)")
        cpu = self.processors[self.cpu_context]
        before, cpu.irql = cpu.irql, max(cpu.irql, device.dirql)
        self.emit("Ke", "sync", f"KeSynchronizeExecution: {driver.name} takes "
                  f"{device.label}'s interrupt spin lock, IRQL {before} → {device.dirql}; "
                  "SynchCritSection runs", "A spin lock raises only to DISPATCH_LEVEL, and the "
                  "ISR (at DIRQL) could still preempt its holder; the interrupt spin lock "
                  "keeps the ISR out on every processor while data it shares is touched.")
        self._run(driver, "SynchCritSection",
                  driver.spec.routines.get("SynchCritSection", []), None, device)
        cpu.irql = before
        self.emit("Ke", "sync", f"SynchCritSection returns: the interrupt spin lock is "
                  f"released, IRQL back to {irql_name(before)}")
        self._deliver_pending(cpu)

    def _deliver_pending(self, cpu) -> None:
        """Interrupts held off while the IRQL was too high arrive as soon as it drops."""
        waiting, cpu.pending_interrupts = cpu.pending_interrupts, []
        for device, message in waiting:
            self.interrupt(device, cpu.number, message)

    def request_dpc(self, device) -> None:
        """IoRequestDpc / KeInsertQueueDpc: queue the device's DPC on this processor."""
        cpu = self.processors[self.cpu_context]
        cpu.dpc_queue.append(device)
        self.emit("Ke", "dpc", f"{device.driver.name} queues its DPC on CPU{cpu.number} "
                  f"({len(cpu.dpc_queue)} queued)", cpu=cpu.number)

    def _run_at(self, cpu, before: int, driver, routine: str, irp, device) -> None:
        """Run a driver routine at the raised IRQL; a step that fails (an error, not a
        bugcheck) leaves the processor at the IRQL it had before, as the routine's return
        would."""
        try:
            self._run(driver, routine, driver.spec.routines.get(routine, []), irp, device)
        except NtError:
            cpu.irql = before
            raise

    def drain_dpcs(self, cpu) -> None:
        """Run queued DPCs at DISPATCH_LEVEL, if the IRQL has fallen below it."""
        if cpu.pending_interrupts and cpu.irql < min(d.dirql for d, _ in cpu.pending_interrupts):
            self._deliver_pending(cpu)
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
            self._run_at(cpu, before, device.driver, "DPC", None, device)
            cpu.irql = before
