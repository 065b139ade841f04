"""Waiting and locking: shared variables, spin locks, mutexes, events, semaphores, timers,
handles to named objects, and the deadlock check.

`Synchronization` is mixed into `System` (nt/system.py); it uses the system's processors,
object manager, timers and the Scheduler's _block/_wake.
"""

from __future__ import annotations

import heapq

from kmshell.nt.constants import BugCheck, Irql, NtStatus, irql_name
from kmshell.nt.errors import NtError
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.sync import (
    KEvent,
    KMutant,
    KSemaphore,
    KTimer,
    SharedVariable,
    SpinLock,
    releases_all,
)
from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.ps import Process, Step, Thread
from kmshell.nt.se import access_check

# What each object-naming program step accepts.
STEP_TARGETS = {
    "acquire": (SpinLock, KMutant),
    "release": (SpinLock, KMutant, KSemaphore),
    "wait": (KEvent, KMutant, KSemaphore, KTimer),
    "set": (KEvent,),
}


class Synchronization:
    """Ke: dispatcher objects, spin locks and waits."""

    def _inc_tick(self, cpu: Processor, thread: Thread, step: Step) -> None:
        """One half of a read-modify-write: load on even ticks, store on odd ones."""
        var = self.variables.setdefault(step.name.lower(), SharedVariable(step.name))
        locked = " (lock held)" if thread.held_locks else ""
        if thread.step_done % 2 == 0:
            thread.register, thread.loaded_version = var.value, var.version
            self.emit("Ke", "load", f"{thread.label} loads {var.name} = {var.value}{locked}",
                      "An increment is three machine steps: load, add, store. Another processor "
                      "can run between them.", cpu=cpu.number, mode=thread.mode)
        else:
            stale = var.version != thread.loaded_version
            var.value, var.version = thread.register + 1, var.version + 1
            if stale:
                var.lost_updates += 1
                self.emit("Ke", "lost-update", f"{thread.label} stores {var.name} = {var.value}: "
                          f"LOST UPDATE — another thread stored {var.name} after this one loaded "
                          "it, and that store is now overwritten",
                          "This is a race: both threads read the same old value. A lock around "
                          "the load and the store makes the increment atomic.",
                          cpu=cpu.number, mode=thread.mode)
            else:
                self.emit("Ke", "store", f"{thread.label} stores {var.name} = {var.value}{locked}",
                          cpu=cpu.number, mode=thread.mode)
        thread.step_done += 1

    def _acquire_spin_lock(self, cpu: Processor, thread: Thread, lock: SpinLock) -> str:
        if lock.owner is None:
            lock.owner = thread
            lock.acquisitions += 1
            thread.held_locks.append(lock)
            cpu.irql = Irql.DISPATCH_LEVEL
            self.emit("Ke", "spinlock", f"{thread.label} KeAcquireSpinLock({lock.name}): IRQL "
                      "raised to DISPATCH_LEVEL", "At DISPATCH_LEVEL the dispatcher cannot run on "
                      "this processor, so the holder is never preempted while it holds the lock.",
                      cpu=cpu.number)
            return "next"
        if lock.owner is thread:
            self.bugcheck(BugCheck.IRQL_NOT_LESS_OR_EQUAL, (0, Irql.DISPATCH_LEVEL, 0, 0),
                          routine="KeAcquireSpinLock", driver=thread.process.image,
                          rule="A spin lock is not recursive: acquiring one you already hold "
                          "spins forever.", fix="Release the lock before acquiring it again.")
        lock.spins += 1
        cpu.irql = Irql.DISPATCH_LEVEL
        self.emit("Ke", "spin", f"{thread.label} spins on {lock.name}, held by "
                  f"{lock.owner.label}: this processor does no useful work this tick",
                  "A spin lock waiter never sleeps: it burns its processor until the lock is "
                  "free, which is why spin locks are held only briefly.", cpu=cpu.number)
        return "spin"

    def _release_spin_lock(self, cpu: Processor, thread: Thread, lock: SpinLock) -> None:
        if lock.owner is not thread:
            self.emit("Ke", "error", f"{thread.label} releases spin lock {lock.name}, which it "
                      "does not hold (the model does not bugcheck for this yet)",
                      cpu=cpu.number)
            return
        lock.owner = None
        thread.held_locks.remove(lock)
        if not any(isinstance(held, SpinLock) for held in thread.held_locks):
            cpu.irql = Irql.PASSIVE_LEVEL
            self.drain_dpcs(cpu)
        self.emit("Ke", "spinlock", f"{thread.label} KeReleaseSpinLock({lock.name}): IRQL back "
                  f"to {irql_name(cpu.irql)}", cpu=cpu.number)

    def _wait_for(self, cpu: Processor, thread: Thread, obj, timeout: int = 0) -> str:
        """KeWaitForSingleObject: satisfied now, or the thread waits (at most timeout ticks)."""
        name = obj.header.name
        thread.wait_status = NtStatus.STATUS_WAIT_0
        if isinstance(obj, KMutant):
            if obj.owner is None or obj.owner is thread:
                self._own_mutant(thread, obj)
                self.emit("Ke", "mutex", f"{thread.label} acquires mutex {name} (recursion "
                          f"{obj.recursion})", cpu=cpu.number)
                return "next"
        elif obj.signaled:
            self._satisfy(obj)
            self.emit("Ke", "wait", f"{thread.label} waits on {obj.header.type_name} {name}: "
                      "signaled, continues" + self._after_wait(obj), cpu=cpu.number)
            return "next"
        obj.waiters.append(thread)
        thread.waiting_on = obj
        owner = f", owned by {obj.owner.label}" if isinstance(obj, KMutant) else ""
        limit = f" for at most {timeout} tick(s)" if timeout else ""
        self._block(cpu, thread, WaitReason.UserRequest,
                    f"waits on {obj.header.type_name} {name}{owner}{limit}")
        if timeout:
            self._wake_at(thread, self.tick + timeout)
        if isinstance(obj, KMutant):
            self._check_deadlock(thread)
        return "left"

    @staticmethod
    def _satisfy(obj) -> None:
        """What a satisfied wait does to the object: a semaphore gives up a unit, an
        auto-reset (synchronization) event or timer resets; notification ones stay set."""
        if isinstance(obj, KSemaphore):
            obj.signal_state -= 1
        elif not releases_all(obj):
            obj.signal_state = 0

    @staticmethod
    def _after_wait(obj) -> str:
        if isinstance(obj, KSemaphore):
            return f"; count now {obj.signal_state}"
        return "" if releases_all(obj) else "; it resets itself"

    def _signal(self, obj, why: str) -> int:
        """Release the waiters a newly signaled object satisfies; returns how many."""
        released = 0
        while obj.waiters and obj.signaled:
            waiter = obj.waiters.pop(0)
            self._satisfy(obj)
            self._wake(waiter, why)
            released += 1
        return released

    def release_semaphore(self, semaphore: KSemaphore, by: Thread | None = None) -> None:
        """KeReleaseSemaphore by one unit; beyond the limit it fails."""
        who = by.label if by else "the shell"
        name = semaphore.header.name
        if semaphore.signal_state >= semaphore.limit:
            self.emit("Ke", "error", f"{who} releases semaphore {name} past its limit "
                      f"{semaphore.limit}: STATUS_SEMAPHORE_LIMIT_EXCEEDED")
            return
        semaphore.signal_state += 1
        released = self._signal(semaphore, f"got a unit of semaphore {name}")
        self.emit("Ke", "semaphore", f"{who} releases semaphore {name}: count "
                  f"{semaphore.signal_state}, {released} waiter(s) released")

    def _expire_timer(self, timer: KTimer) -> None:
        timer.signal_state = 1
        released = self._signal(timer, f"timer {timer.header.name} expired")
        self.emit("Ke", "timer", f"timer {timer.header.name} is due: signaled, {released} "
                  "waiter(s) released", "Timer expiry is found by the clock interrupt and "
                  "processed in a DPC.", irql=Irql.DISPATCH_LEVEL)
        timer.due_tick = None
        if timer.period:
            self._arm_timer(timer, self.tick + timer.period)

    def _arm_timer(self, timer: KTimer, due: int) -> None:
        timer.due_tick = due
        self._wait_sequence += 1
        heapq.heappush(self.timers, (due, self._wait_sequence, timer))

    def _own_mutant(self, thread: Thread, mutant: KMutant) -> None:
        if mutant.owner is None:
            thread.held_locks.append(mutant)
        mutant.owner = thread
        mutant.recursion += 1
        mutant.signal_state = 0

    def _release_mutant(self, cpu: Processor, thread: Thread, mutant: KMutant) -> None:
        if mutant.owner is not thread:
            self.emit("Ke", "error", f"{thread.label} releases mutex {mutant.header.name}, which "
                      "it does not own: STATUS_MUTANT_NOT_OWNED", cpu=cpu.number)
            return
        mutant.recursion -= 1
        if mutant.recursion:
            return
        mutant.owner = None
        mutant.signal_state = 1
        thread.held_locks.remove(mutant)
        self.emit("Ke", "mutex", f"{thread.label} releases mutex {mutant.header.name}",
                  cpu=cpu.number)
        if mutant.waiters:
            waiter = mutant.waiters.pop(0)
            self._own_mutant(waiter, mutant)
            self._wake(waiter, f"now owns mutex {mutant.header.name}")

    def set_event(self, event: KEvent, by: Thread | None = None) -> None:
        """KeSetEvent: a notification event releases every waiter and stays set; a
        synchronization event releases one waiter (and resets) or stays set until one comes."""
        who = by.label if by else "the shell"
        event.signal_state = 1
        released = self._signal(event, f"{event.header.name} was set")
        self.emit("Ke", "event", f"{who} sets {event.kind} {event.header.name}: "
                  f"{released} waiter(s) released")

    def reset_event(self, event: KEvent) -> None:
        event.signal_state = 0
        self.emit("Ke", "event", f"the shell resets {event.header.name}: not signaled")

    def _abandon(self, thread: Thread, lock) -> None:
        """A thread ended holding a lock: a mutex is abandoned to its next waiter."""
        thread.held_locks.remove(lock)
        if isinstance(lock, SpinLock):
            lock.owner = None
            self.emit("Ke", "abandoned", f"{thread.label} ended holding spin lock {lock.name}")
            return
        lock.owner, lock.recursion, lock.signal_state = None, 0, 1
        self.emit("Ke", "abandoned", f"{thread.label} ended owning mutex {lock.header.name}: "
                  "abandoned (the next waiter gets STATUS_ABANDONED_WAIT_0)")
        if lock.waiters:
            waiter = lock.waiters.pop(0)
            self._own_mutant(waiter, lock)
            self._wake(waiter, f"got abandoned mutex {lock.header.name}")


    def _check_deadlock(self, start: Thread) -> None:
        """Follow waits-for edges (thread → owner of the mutex it waits on) back to start."""
        chain, thread = [start], start
        while isinstance(thread.waiting_on, KMutant) and thread.waiting_on.owner is not None:
            thread = thread.waiting_on.owner
            if thread is start:
                links = " → ".join(f"{t.label} waits for {t.waiting_on.header.name} owned by "
                                   f"{t.waiting_on.owner.label}" for t in chain)
                self.deadlocks.append(chain)
                self.emit("Ke", "deadlock", f"DEADLOCK: {links}", "Each thread holds what the "
                          "next one wants, so none can go on. The cure: every thread takes the "
                          "locks in the same order.")
                return
            if thread in chain:
                return
            chain.append(thread)

    def _open_handle(self, process: Process, obj, desired: int) -> bool:
        """The first time a process names an object it opens a handle (OpenEvent...): the
        security reference monitor checks the process's token against the object's DACL."""
        if any(e.object is obj for e in process.handle_table.entries.values()):
            return True
        granted, mask, why = access_check(obj.header.security, process.token, desired,
                                          obj.header.type_name)
        if obj.header.security is not None:
            self.emit("Se", "access-check", f"{process.image} (as {process.token.user}) opens "
                      f"{obj.header.path} for {desired:#x}: "
                      f"{'granted ' + hex(mask) if granted else 'DENIED'} — {why}",
                      "SeAccessCheck walks the DACL in order: a deny ACE for a wanted right "
                      "ends the check; allow ACEs add rights until all are granted.")
        if granted:
            process.handle_table.insert(obj, mask)
        return granted



    def sync_object(self, name: str):
        """A spin lock by name, or an event or mutex in \\BaseNamedObjects."""
        lock = self.spin_locks.get(name.lower())
        if lock is not None:
            return lock
        obj = self.ob.lookup("\\BaseNamedObjects").entries.get(name.upper())
        if isinstance(obj, (KEvent, KMutant, KSemaphore, KTimer)):
            return obj
        raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND, f"no spin lock, event, mutex, "
                      f"semaphore or timer named '{name}'; create it first (spinlock create, "
                      "event create, mutex create, semaphore create, timer create)")

    def check_program(self, program: list[Step]) -> None:
        """Refuse a program that names a lock or event that does not exist, or misuses one."""
        for step in program:
            if step.op in ("acquire", "release", "wait", "set"):
                obj = self.sync_object(step.name)
                if not isinstance(obj, STEP_TARGETS[step.op]):
                    raise NtError(NtStatus.STATUS_OBJECT_TYPE_MISMATCH,
                                  f"'{step}': {step.name} is a {self._kind_of(obj)}; acquire "
                                  "takes a spin lock or mutex, release also a semaphore, wait "
                                  "any dispatcher object, set an event")

    @staticmethod
    def _kind_of(obj) -> str:
        return "spin lock" if isinstance(obj, SpinLock) else obj.header.type_name.lower()

    def create_named(self, kind: str, name: str, *, notification: bool = True,
                     count: int = 0, limit: int = 1, due: int = 0, period: int = 0):
        """event/mutex/semaphore/timer/spinlock create NAME."""
        self._require_running()
        # The object manager's paths are trimmed (ob.normalize_path), so a name with spaces at
        # either end would be stored under another name than the one given.
        if "\\" in name or not name or name != name.strip():
            raise NtError(NtStatus.STATUS_OBJECT_NAME_INVALID,
                          f"'{name}' is not a valid object name (no backslashes, no spaces "
                          "at either end)")
        taken = name.lower() in self.spin_locks or \
            name.upper() in self.ob.lookup("\\BaseNamedObjects").entries
        if taken:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION, f"'{name}' already exists")
        if kind == "spinlock":
            self.spin_locks[name.lower()] = SpinLock(name)
            self.emit("Ke", "create", f"spin lock {name} initialized (KeInitializeSpinLock)")
            return self.spin_locks[name.lower()]
        if kind == "event":
            obj = KEvent(self.ob.header("Event", permanent=True), notification=notification)
        elif kind == "semaphore":
            if not 0 <= count <= limit or limit < 1:
                raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"a semaphore needs 0 <= count "
                              f"<= limit and limit >= 1; got count {count}, limit {limit}")
            obj = KSemaphore(self.ob.header("Semaphore", permanent=True), count, limit=limit)
        elif kind == "timer":
            obj = KTimer(self.ob.header("Timer", permanent=True), period=period,
                         notification=notification)
            if due:
                self._arm_timer(obj, self.tick + due)
        else:
            obj = KMutant(self.ob.header("Mutant", permanent=True))
        self.ob.insert(f"\\BaseNamedObjects\\{name}", obj)
        self.emit("Ob", "create", f"{obj.header.type_name} \\BaseNamedObjects\\{name} created"
                  + (f" ({obj.kind})" if isinstance(obj, (KEvent, KTimer)) else ""))
        return obj
