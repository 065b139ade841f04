"""Process, thread and image notify routines (PsSetCreateProcessNotifyRoutineEx2 and friends).

`NotifyRoutines` is mixed into `System` (nt/system.py). Routines run inline, in the thread
that caused the event; the steps that break the WDK's guidelines are flagged in the trace.
"""

from __future__ import annotations

from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.driver import DriverObject
from kmshell.nt.ps import CALLBACK_STEPS, NOTIFY_KINDS, SLOW_CALLBACK_TICKS, NotifyRoutine, Step


class NotifyRoutines:
    """Ps: notify routine registration and calls."""

    def register_callback(self, kind: str, driver: DriverObject, steps: list[Step],
                          work: list[Step], subsystems: bool = False) -> NotifyRoutine:
        """PsSetCreateProcessNotifyRoutineEx2 and friends: a slot in a fixed-size array."""
        self._require_running()
        api, limit = NOTIFY_KINDS[kind]
        taken = sum(1 for c in self.callbacks if c.kind == kind)
        if limit is not None and taken >= limit:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{api}: all {limit} {kind} "
                          "notify slots are taken; the kernel refuses more")
        self.check_program(work)
        if any(s.op == "KeWaitForSingleObject" for s in steps):
            for step in steps:
                if step.op == "KeWaitForSingleObject":
                    self.sync_object(step.name)
        number = max((c.number for c in self.callbacks), default=0) + 1
        routine = NotifyRoutine(number, kind, driver, steps, work, subsystems)
        self.callbacks.append(routine)
        flavour = ""
        if subsystems:
            flavour = (" with PsCreateThreadNotifySubsystems" if kind == "thread"
                       else " with PsCreateProcessNotifySubsystems")
        self.emit("Ps", "callback", f"{driver.name} registers {kind} notify routine #{number} "
                  f"({api}{flavour})" + (f": slot {taken + 1} of {limit}" if limit else ""))
        return routine

    def remove_callback(self, number: int) -> NotifyRoutine:
        routine = next((c for c in self.callbacks if c.number == number), None)
        if routine is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"no notify routine #{number}")
        self.callbacks.remove(routine)
        self.emit("Ps", "callback", f"{routine.driver.name} removes {routine.kind} notify "
                  f"routine #{number}")
        return routine

    def _notify(self, kind: str, context: str, fields: str, subsystem: bool) -> None:
        """Call every routine of kind, in registration order, in the creating thread's
        context at PASSIVE_LEVEL inside a critical region (normal kernel APCs disabled)."""
        for routine in [c for c in self.callbacks if c.kind == kind]:
            if subsystem and not routine.subsystems:
                continue
            routine.calls += 1
            self.emit("Ps", "notify", f"{routine.driver.name}'s {kind} notify routine "
                      f"#{routine.number} runs in {context}: {fields}",
                      "Notify routines run synchronously in the thread that caused the event; "
                      "whatever they do, that thread — and the creation — waits for.")
            self._run_callback(routine, context)

    def _run_callback(self, routine: NotifyRoutine, context: str) -> None:
        who = f"{routine.driver.name} #{routine.number}"
        for step in routine.steps:
            rule = CALLBACK_STEPS[step.op][1]
            if step.op == "compute":
                slow = step.count > SLOW_CALLBACK_TICKS
                self.emit("Ps", "notify-work", f"{who} works inline for {step.count} tick(s)"
                          + (": GUIDELINE BROKEN — keep notify routines short; every process "
                             f"creation now waits {step.count} ticks for this driver" if slow
                             else ""))
            elif step.op == "DenyAccess":
                self.emit("Ps", "notify-work", f"{who} returns STATUS_ACCESS_DENIED: only a "
                          "registry callback can refuse an operation this way; here it changes "
                          "nothing")
            elif step.op == "ExQueueWorkItem":
                self.queue_work_item(routine.driver, routine.work, by=who)
            elif step.op == "KeWaitForSingleObject":
                obj = self.sync_object(step.name)
                if getattr(obj, "signaled", False):
                    self.emit("Ps", "notify-wait", f"{who} waits on {step.name}: signaled, "
                              "returns at once — but " + rule.split(":")[0])
                else:
                    self.emit("Ps", "guideline", f"{who} waits on {step.name}, not signaled: "
                              f"GUIDELINE BROKEN — {rule}. Consequence: a stall of {context}")
            elif step.op == "WaitForWorkItem":
                item = self.work_items[-1] if self.work_items and \
                    self.work_items[-1].driver == routine.driver.name else None
                state = "already done" if item and item.done else "not done yet"
                self.emit("Ps", "guideline", f"{who} waits for its own work item "
                          f"({state}): GUIDELINE BROKEN — {rule}")
            else:
                self.emit("Ps", "guideline", f"{who} calls {step.op}: GUIDELINE BROKEN — {rule}")
