"""Ke, the kernel: the processors and their IRQL, the clock tick and the dispatcher (ready
queues, quanta, preemption, context switches), waits and dispatcher objects (events, mutexes,
semaphores, timers), spin locks, interrupts with their ISRs and DPCs, APCs (KeInsertQueueApc,
KiDeliverApc: apc.py), and the IRQL rules of
the DDIs drivers call for these; and the page-fault trap and exception dispatch
(KiPageFault, KiDispatchException) for an access Mm finds invalid.

State it owns: the dispatcher's ready queues, the sleepers and the timer queue, the spin
locks and shared variables threads use, the deadlocks found, the per-tick schedule
(`timeline`), the DPC watchdog's count, per processor the IRQLs KeRaiseIrql returned, and the
spin locks driver code holds (with the IRQL each saved). The processors themselves are in
Core (every component reads the current IRQL); only Ke changes them, and KeBugCheckEx
(Core.bugcheck), which raises every one to HIGH_LEVEL.

Reached: System builds it with the Core and the object manager (named dispatcher objects
live in \\BaseNamedObjects), and wires in what it calls back into: Ps (a thread's exit, the
end of a process whose fault nothing handled), Ex (a worker's dequeue step), the I/O manager
(ISRs, DPCs and SynchCritSection are driver routines), Mm (a touch, Driver Verifier's IRQL
checks) and Po (the power watchdog, each tick). Ps, Ex, the I/O manager, FileIo and the HAL
call into it.

How it works: each thread runs a program of steps; a clock tick runs every processor's
thread for one tick, in two phases (the steps that take no time, then the timed ones), so
that no processor runs a whole tick ahead of another. An interrupt runs the ISR at the
device's DIRQL on one processor, the ISR queues a DPC, and the DPC runs at DISPATCH_LEVEL
once the IRQL falls below it — before any thread runs again. An interrupt that arrives while
the IRQL is at or above its DIRQL is held and delivered when the IRQL drops.

Simplifications: the clock interrupt is taken on every processor at once, once per tick;
one DPC per device; no shared interrupt lines; an interrupt asserted from the shell arrives
between ticks; a driver routine that waits (KeWaitForSingleObject below DISPATCH_LEVEL) hands its
caller STATUS_PENDING and goes on when the object is signaled (IoManager._suspend).
"""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from kmshell.nt.constants import (
    QUANTUM_TICKS,
    BugCheck,
    Irql,
    NtStatus,
    irql_name,
)
from kmshell.nt.core import Core
from kmshell.nt.errors import NtError
from kmshell.nt.ke.apc import Apc, ApcKind
from kmshell.nt.ke.dispatcher import Dispatcher
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.sync import (
    DispatcherObject,
    KEvent,
    KMutant,
    KSemaphore,
    KTimer,
    Lock,
    SharedVariable,
    SpinLock,
    SyncObject,
    releases_all,
)
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import image_range, is_kernel_address, routine_address
from kmshell.nt.ob import ObjectManager
from kmshell.nt.ps import (
    DETOUR_STEPS,
    KERNEL_MODE_STEPS,
    TIMED_STEPS,
    WHY_USER_FAULT,
    Detour,
    Step,
    Subsystem,
    Thread,
)
from kmshell.nt.se import SYNCHRONIZE

if TYPE_CHECKING:  # the components Ke calls back into, wired after construction
    from kmshell.nt.ex import Executive
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.irp import DeviceObject
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.mm import MemoryManager
    from kmshell.nt.po import PowerManager
    from kmshell.nt.ps import ProcessManager

# A program of steps that take no time (`set E; repeat 1000000`) would otherwise run inside one
# tick without end, out of reach of Ctrl-C, which is looked at between ticks.
INSTANT_STEPS_PER_TICK = 256
MODIFY_STATE = 0x0002  # EVENT_MODIFY_STATE and SEMAPHORE_MODIFY_STATE
TIMELINE_TICKS = 500  # how many recent ticks the schedule timeline keeps
CLOCK_TICK_US = 15_625  # the clock interrupt's period, 15.625 ms, as the watchdog counts
DPC_WATCHDOG_TICKS = 0x500  # the single-DPC allotment: 1,280 ticks, 20 s

# What each object-naming program step accepts.
STEP_TARGETS = {
    "acquire": (SpinLock, KMutant),
    "release": (SpinLock, KMutant, KSemaphore),
    "wait": (KEvent, KMutant, KSemaphore, KTimer),
    "set": (KEvent,),
}


def step_mode(cpu: Processor, thread: Thread) -> str:
    """Where a thread's step runs: "K" for a system thread or one at DISPATCH_LEVEL or above
    (a spin lock held), else "U". User mode is always PASSIVE_LEVEL: returning to it above
    that is bug check 0x4A, IRQL_GT_ZERO_AT_SYSTEM_SERVICE."""
    return "K" if thread.system_thread or cpu.irql >= Irql.DISPATCH_LEVEL else "U"


class Kernel:
    """Ke. Built with the Core and the object manager (named dispatcher objects live in
    \\BaseNamedObjects); the components it calls back into are wired in by `System`."""

    ps: ProcessManager  # a thread's exit, faults and touches in its program
    ex: Executive  # a worker thread's dequeue step
    io: IoManager  # ISRs, DPCs and SynchCritSection are driver routines
    mm: MemoryManager  # Driver Verifier's IRQL checks
    po: PowerManager  # the power IRP watchdog, looked at each tick

    def __init__(self, core: Core, ob: ObjectManager) -> None:
        self.core = core
        self.ob = ob
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        self.processors = core.processors
        self.dispatcher = Dispatcher()
        self.sleepers: list[tuple[int, int, Thread]] = []  # (wake tick, sequence, thread)
        self.timers: list[tuple[int, int, KTimer]] = []  # (due tick, sequence, timer)
        self._wait_sequence = 0  # orders sleepers and timers due at the same tick
        self.spin_locks: dict[str, SpinLock] = {}
        self.variables: dict[str, SharedVariable] = {}
        self.deadlocks: list[list[Thread]] = []
        # who ran on each processor during each recent tick: (tick, (thread or None, ...))
        self.timeline: deque[tuple[int, tuple[Thread | None, ...]]] = \
            deque(maxlen=TIMELINE_TICKS)
        self.dpc_time_us = 0  # how long the running DPC or ISR has spun (the DPC watchdog)
        self._raised: dict[int, list[int]] = {}  # per CPU: the IRQLs KeRaiseIrql returned
        # spin locks held by driver code: the IRQL to go back to when each is released
        self._driver_locks: dict[str, int] = {}
        # threads waiting (asleep, on an object, for input) with a kernel APC to run
        self.apc_waiters: list[Thread] = []
        self.irql_raised_by = ""  # the image whose code last raised the IRQL (a lock, a raise)
        # driver routines waiting (KeWaitForSingleObject) for an object, and how each goes on;
        # those whose object was signaled, to go on at the next dispatch
        self.suspended: list[tuple[DispatcherObject, Callable[[], None]]] = []
        self.resumable: list[Callable[[], None]] = []
        # events drivers keep in their own memory (KeInitializeEvent): (driver, name) -> event
        self.driver_events: dict[tuple[str, str], KEvent] = {}
        # timers drivers keep in their own memory (KeInitializeTimer): (driver, name) -> timer
        self.driver_timers: dict[tuple[str, str], KTimer] = {}

    def start_processor(self, number: int, idle_thread: Thread) -> None:
        """A processor comes up at PASSIVE_LEVEL running its idle thread, which runs on no
        other (ReactOS ntoskrnl/ke/amd64/krnlinit.c, KiInitializeKernel: the PRCB's
        IdleThread, with NextProcessor = Number and Affinity = 1 << Number)."""
        idle_thread.last_cpu = number
        self.processors.append(Processor(number, idle_thread, idle_thread))

    def terminate_thread(self, thread: Thread) -> None:
        """KeTerminateThread: off the ready queue, out of its wait, off its processor; its
        locks are abandoned."""
        if thread.state is ThreadState.Ready:
            self.dispatcher.remove(thread)
        if thread.waiting_on is not None:
            thread.waiting_on.waiters.remove(thread)
            thread.waiting_on = None
        for cpu in self.processors:
            if cpu.current_thread is thread:
                cpu.current_thread = cpu.idle_thread
                cpu.irql = Irql.PASSIVE_LEVEL
        for lock in list(thread.held_locks):
            self.abandon_lock(thread, lock)
        for apc in thread.kernel_apcs + thread.user_apcs:  # never delivered: run down
            if apc.rundown is not None:
                apc.rundown()
            else:
                self.emit("Ke", "apc", f"{thread.label} ends with the {apc} never run: it is "
                          "discarded")
        thread.kernel_apcs.clear()
        thread.user_apcs.clear()
        thread.apc_unwaited = None
        thread.state = ThreadState.Terminated
        thread.wait_reason = None

    def wait_executive(self, thread: Thread, reason: WaitReason = WaitReason.Executive) -> None:
        """The thread waits in the executive (synchronous I/O: WaitReason Executive; a page
        being read in for it: PageIn): off its processor and out of the ready queue."""
        for cpu in self.processors:
            if cpu.current_thread is thread:
                cpu.current_thread = cpu.idle_thread
        if thread.state is ThreadState.Ready:
            self.dispatcher.remove(thread)
        thread.state, thread.wait_reason = ThreadState.Waiting, reason

    def end_executive_wait(self, thread: Thread,
                           previous: tuple[ThreadState, WaitReason | None]) -> None:
        """The thread's synchronous I/O wait is satisfied (the completion APC set the file
        object's event, in the thread itself): it returns to the wait it was in before (e.g.
        for input), or runs on."""
        state, reason = previous
        thread.apc_unwaited = None  # the APC ended the wait it took the thread out of
        cpu = next((c for c in self.processors if c.current_thread is thread), None)
        if state is ThreadState.Waiting:
            thread.state, thread.wait_reason = state, reason
            if cpu is not None:
                cpu.current_thread = cpu.idle_thread
        elif cpu is None:
            self.ready_thread(thread)
        else:
            thread.state, thread.wait_reason = ThreadState.Running, None

    def _boost(self, thread: Thread, boost: int) -> None:
        """KiUnwaitThread's priority increment (IoCompleteRequest's PriorityBoost, passed on
        as KeInsertQueueApc's Increment)."""
        boosted = min(thread.base_priority + boost, 15)
        if thread.base_priority < 16 and boosted > thread.priority:  # not real-time ones
            thread.priority = boosted
            self.emit("Ke", "boost", f"{thread.label} wakes at priority {boosted}: base "
                      f"{thread.base_priority} + the driver's boost of {boost} "
                      "(IoCompleteRequest's PriorityBoost)", "A thread that waited for "
                      "I/O gets a temporary boost so it runs soon; it decays by one at "
                      "each quantum end, back to its base.")

    # ----------------------------------------------------------------- APCs

    def insert_queue_apc(self, thread: Thread, apc: Apc, boost: int = 0, *,
                         current: bool = False) -> None:
        """KeInsertQueueApc / KiInsertQueueApc (ReactOS ntoskrnl/ke/apc.c): into the thread's
        queue (a special kernel APC ahead of the normal kernel ones), then get it delivered:
        the running thread (`current`: the one whose code queues it) takes an APC_LEVEL
        software interrupt when its IRQL falls below APC_LEVEL; a thread waiting at
        PASSIVE_LEVEL is unwaited with STATUS_KERNEL_APC and the boost; a ready thread runs
        it when it is next switched in (Ke.dispatch delivers)."""
        if apc.kind is ApcKind.USER:
            thread.user_apcs.append(apc)
        elif apc.kind is ApcKind.SPECIAL_KERNEL:
            special = sum(1 for a in thread.kernel_apcs if a.kind is ApcKind.SPECIAL_KERNEL)
            thread.kernel_apcs.insert(special, apc)
        else:
            thread.kernel_apcs.append(apc)
        queued = len(thread.kernel_apcs) + len(thread.user_apcs)
        self.emit("Ke", "apc", f"KeInsertQueueApc: {apc} queued to {thread.label} "
                  f"({queued} in its APC queue)", "An APC runs in one particular thread: the "
                  "only place where that thread's user addresses mean its own process's "
                  "memory.")
        if apc.kind is ApcKind.USER:
            if thread.state is ThreadState.Waiting and thread.alertable:
                thread.user_apc_pending = True
                self._boost(thread, boost)
                self.wake_thread(thread, "a user APC ends its alertable wait (STATUS_USER_APC; "
                                 "SleepEx returns WAIT_IO_COMPLETION)")
            elif thread.alertable and thread.apc_unwaited is not None:
                self.emit("Ke", "apc", f"{thread.label} is in an alertable wait, out of it for "
                          "a kernel APC just now: that wait will end with STATUS_USER_APC")
            else:
                self.emit("Ke", "apc", f"{thread.label} is not in an alertable wait: the user "
                          "APC waits in its queue until it is (SleepEx, WaitForSingleObjectEx "
                          "with bAlertable TRUE)", "User APCs never interrupt a thread: it "
                          "says when it is ready for them by waiting alertably.")
            return
        if current:
            self.emit("Ke", "apc", f"{thread.label} is the thread running this code: an "
                      "APC_LEVEL software interrupt is requested, taken as soon as its IRQL "
                      "falls below APC_LEVEL")
        elif thread.state is ThreadState.Waiting:
            thread.apc_unwaited = (thread.state, thread.wait_reason)
            reason = thread.wait_reason.name if thread.wait_reason is not None else "Waiting"
            self.emit("Ke", "apc", f"{thread.label} waits at PASSIVE_LEVEL ({reason}): "
                      "KiUnwaitThread takes it out of its wait with STATUS_KERNEL_APC to run "
                      "the APC", "A kernel APC does not wait for the wait to end: the thread "
                      "runs the APC and then waits again, unless the APC ended the wait.")
            if thread.io_wait is not None:  # it waits in the executive for its I/O
                self._boost(thread, boost)
                self.ready_thread(thread)
            else:  # its wait (sleep, object, input) is kept: an idle processor runs the APC
                self.apc_waiters.append(thread)
        elif thread.state is ThreadState.Ready:
            self.emit("Ke", "apc", f"{thread.label} is ready: it runs the APC when it is next "
                      "switched in")

    def deliver_apcs(self, thread: Thread) -> None:
        """KiDeliverApc for the thread whose system call this is, its IRQL back at
        PASSIVE_LEVEL: the model runs the call on the current processor."""
        if thread.kernel_apcs:
            cpu = self.core.processor()
            running, cpu.current_thread = cpu.current_thread, thread
            try:
                self._deliver_apcs(cpu, thread)
            finally:
                cpu.current_thread = running

    def _deliver_apcs(self, cpu: Processor, thread: Thread) -> None:
        """KiDeliverApc (ReactOS ntoskrnl/ke/apc.c): the kernel-mode APCs in queue order, at
        APC_LEVEL; if one took the thread out of a wait it did not end, the thread waits
        again (an alertable wait with user APCs queued ends instead); then, on its way back
        to user mode, its user APCs if they are pending."""
        outer, self.core.cpu_context = self.core.cpu_context, cpu.number
        before, cpu.irql = cpu.irql, max(cpu.irql, Irql.APC_LEVEL)
        try:
            while thread.kernel_apcs:
                apc = thread.kernel_apcs.pop(0)
                self.emit("Ke", "apc", f"CPU{cpu.number}: APC_LEVEL software interrupt in "
                          f"{thread.label}: KiDeliverApc runs the {apc}",
                          "Kernel APCs run as soon as their thread runs below APC_LEVEL, "
                          "before it goes on with anything else.")
                apc.run()
        finally:
            cpu.irql = before
            self.core.cpu_context = outer
        if cpu.current_thread is not thread:
            return
        if thread.apc_unwaited is not None:
            state, reason = thread.apc_unwaited
            thread.apc_unwaited = None
            if thread.alertable and thread.user_apcs:  # KeDelayExecutionThread: it ends
                thread.alertable, thread.wake_tick, thread.user_apc_pending = False, None, True
                thread.pc += 1
                self.emit("Ke", "apc", f"{thread.label}'s alertable wait ends instead of "
                          "going on: a user APC is queued (STATUS_USER_APC; SleepEx returns "
                          "WAIT_IO_COMPLETION)", cpu=cpu.number)
            else:
                thread.state, thread.wait_reason = state, reason
                cpu.current_thread = cpu.idle_thread
                self.emit("Ke", "wait", f"{thread.label} goes back to its wait "
                          f"({reason.name if reason is not None else 'Waiting'})", cpu=cpu.number)
                return
        if thread.user_apc_pending:  # KiDeliverApc(UserMode)
            thread.user_apc_pending = False
            while thread.user_apcs:
                apc = thread.user_apcs.pop(0)
                self.emit("Ke", "apc", f"CPU{cpu.number}: {thread.label} returns to user mode "
                          f"through KiDeliverApc: the {apc} runs", cpu=cpu.number, mode="U")
                apc.run()

    def _run_waiters_apcs(self) -> bool:
        """A thread taken out of a sleep or an object wait to run a kernel APC runs it on an
        idle processor and waits again. Simplified: Windows would schedule it by priority;
        here it waits for a processor to be idle, keeping its wait as it was."""
        cpu = next((c for c in self.processors if c.is_idle and c.irql < Irql.APC_LEVEL), None)
        while cpu is not None and self.apc_waiters:
            thread = self.apc_waiters.pop(0)
            if thread.state is not ThreadState.Waiting or not thread.kernel_apcs:
                continue  # its wait ended, or it ended, meanwhile
            thread.state, cpu.current_thread = ThreadState.Running, thread
            self.emit("Ke", "context-switch", f"CPU{cpu.number}: idle → {thread.label} to run "
                      "its kernel APC", cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)
            self._deliver_apcs(cpu, thread)
            return True
        return False

    def page_fault(self, thread: Thread, address: int) -> None:
        """KiPageFault for an access MmAccessFault finds invalid: in a system thread (kernel
        mode, no handler) the machine stops; in user mode KiDispatchException hands the
        exception back to the thread, and Ps ends the process when nothing handles it."""
        process = thread.process
        if process.subsystem is Subsystem.Minimal:
            self.emit("Ke", "fault", f"thread {thread.tid} of {process.image} touches "
                      f"{address:#x}: a page fault in kernel mode, no handler", mode="K")
            self.bugcheck(BugCheck.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED,
                          (NtStatus.STATUS_ACCESS_VIOLATION, 0xFFFFF805_1A2B3C40,
                           self.core.allocate_address(0x98), self.core.allocate_address(0x4D0)),
                          driver="ntoskrnl.exe", routine=thread.start_address,
                          rule="A system thread runs only in kernel mode; an exception it does "
                          "not handle cannot be pinned on one process, so the kernel stops.",
                          fix="Kernel code must not touch invalid memory; wrap probes of "
                          "untrusted addresses in __try/__except.")
        kind = "kernel-half" if is_kernel_address(address) else "unmapped"
        why = "a kernel-half address, not accessible from user mode" if kind == "kernel-half" \
            else "no page is mapped there"
        self.emit("Ke", "fault", f"{thread.label} touches {address:#x} in user mode: {why}",
                  mode="U")
        self.emit("Ke", "trap", "page-fault trap (#PF, vector 14): the processor enters kernel "
                  "mode; MmAccessFault finds no valid access → STATUS_ACCESS_VIOLATION "
                  "(0xC0000005)", "The trap handler always runs in kernel mode, but it notes "
                  "the previous mode: here UserMode.")
        self.emit("Ke", "exception", "KiDispatchException: previous mode is UserMode, so the "
                  "exception is handed back to the thread's own handlers in user mode",
                  WHY_USER_FAULT)
        self.ps.unhandled_exception(thread)
        alive = len(self.ps.live_processes())
        self.emit("Ke", "contained", f"the machine runs on: {alive} other process(es) untouched, "
                  "every processor still scheduling", WHY_USER_FAULT)

    def raise_irql(self, level: int) -> int:
        """KeRaiseIrql for the I/O manager's and HAL's own work (never lowers); returns the
        IRQL to go back to."""
        cpu = self.core.processor()
        before, cpu.irql = cpu.irql, max(cpu.irql, level)
        return before

    def lower_irql(self, level: int) -> None:
        """KeLowerIrql back to what raise_irql returned."""
        self.core.processor().irql = level

    # ----------------------------------------------------------------- scheduling

    def ready_thread(self, thread: Thread, front: bool = False) -> None:
        thread.state = ThreadState.Ready
        thread.wait_reason = None
        self.dispatcher.insert(thread, front)

    def _switch(self, cpu: Processor, thread: Thread, why: str) -> None:
        old = cpu.current_thread
        thread.state = ThreadState.Running
        thread.last_cpu = cpu.number
        if thread.quantum <= 0:
            thread.quantum = QUANTUM_TICKS
        cpu.current_thread = thread
        old_label = "idle" if old is cpu.idle_thread else old.label
        self.emit("Ke", "context-switch", f"CPU{cpu.number}: {old_label} → {thread.label} "
                  f"(priority {thread.priority}){why}", "The dispatcher runs at DISPATCH_LEVEL "
                  "and always picks the highest-priority ready thread.",
                  cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)

    def dispatch(self) -> None:
        """Give idle processors a ready thread and preempt lower-priority running threads;
        then every running thread below APC_LEVEL with kernel APCs queued runs them."""
        while True:
            self._assign_processors()
            if self.resumable and self.core.processor().irql < Irql.DISPATCH_LEVEL:
                self.resumable.pop(0)()  # a driver routine whose wait is satisfied goes on
                continue
            cpu = self._apcs_due()
            if cpu is not None:
                self._deliver_apcs(cpu, cpu.current_thread)
            elif not (self.apc_waiters and self._run_waiters_apcs()):
                return

    def _apcs_due(self) -> Processor | None:
        """The first processor below APC_LEVEL whose running thread has APCs to run."""
        for cpu in self.processors:
            thread = cpu.current_thread
            if cpu.irql < Irql.APC_LEVEL and (thread.kernel_apcs or thread.user_apc_pending):
                return cpu
        return None

    def _assign_processors(self) -> None:
        for cpu in self.processors:
            if not self.dispatcher.summary:
                return
            if cpu.is_idle:
                self._switch(cpu, self.dispatcher.pop(), "")
        while self.dispatcher.summary:
            # a processor at DISPATCH_LEVEL or above cannot be preempted: skip it
            preemptible = [c for c in self.processors if c.irql < Irql.DISPATCH_LEVEL]
            if not preemptible:
                return
            victim = min(preemptible, key=lambda c: (c.current_thread.priority, -c.number))
            best = self.dispatcher.highest_priority()
            if best <= victim.current_thread.priority:
                return
            preempted = victim.current_thread
            self.ready_thread(preempted, front=True)
            self._switch(victim, self.dispatcher.pop(),
                         f", preempting {preempted.label} (priority {preempted.priority})")

    def step(self, ticks: int = 1, stop: Callable[[], bool] | None = None) -> int:
        """Advance the clock; returns the ticks taken, fewer than asked when `stop` (asked
        between ticks, where the machine is consistent) said to stop."""
        self.core.require_running()
        for taken in range(ticks):
            if stop is not None and stop():
                return taken
            self._clock_tick()
        return ticks

    def run_until_idle(self, max_ticks: int, stop: Callable[[], bool] | None = None) -> int:
        """Step until no thread is running or ready; returns the ticks taken."""
        self.core.require_running()
        taken = 0
        while taken < max_ticks and not self.idle and not (stop is not None and stop()):
            self._clock_tick()
            taken += 1
        return taken

    @property
    def idle(self) -> bool:
        return all(cpu.is_idle for cpu in self.processors) and not self.dispatcher.summary and \
            not self.sleepers

    def _clock_tick(self) -> None:
        """One tick on every processor at once, in two phases so that no processor runs a
        whole tick ahead of another: first every thread's instant steps (waits, lock
        acquisitions, exits), refilling processors that fall idle; then every thread's timed
        step (compute, or one half of an increment), after which a thread whose step ended
        goes on with its instant steps."""
        self.core.tick += 1
        self.po.power_watchdog()
        while self.timers and self.timers[0][0] <= self.core.tick:
            due, _, timer = heapq.heappop(self.timers)
            if timer.due_tick == due:
                self._expire_timer(timer)
        while self.sleepers and self.sleepers[0][0] <= self.core.tick:
            _, _, thread = heapq.heappop(self.sleepers)
            if thread.state is ThreadState.Waiting and thread.wake_tick == self.core.tick:
                if thread.waiting_on is not None:
                    obj = thread.waiting_on
                    obj.waiters.remove(thread)
                    thread.wait_status = NtStatus.STATUS_TIMEOUT
                    self.wake_thread(thread, f"its wait on {obj.header.name} timed out "
                                       "(STATUS_TIMEOUT)")
                else:
                    self.wake_thread(thread, "its sleep ended")
        spinning: set[Thread] = set()
        started: set[Thread] = set()
        while True:
            self.dispatch()
            pending = [c for c in self.processors
                       if not c.is_idle and c.current_thread not in started]
            if not pending:
                break
            for cpu in pending:
                thread = cpu.current_thread
                self.core.cpu_context = cpu.number
                result = self._run_instant_steps(cpu, thread)
                if result != "left":
                    started.add(thread)
                if result == "spin":
                    spinning.add(thread)
        self.core.cpu_context = 0
        running = " · ".join(f"CPU{c.number} {'idle' if c.is_idle else c.current_thread.label}"
                             for c in self.processors)
        self.emit("Ke", "tick", f"tick {self.core.tick}: {running}", "The clock interrupt "
                  "(CLOCK_LEVEL) "
                  "charges the running thread one tick of its quantum.", irql=Irql.CLOCK_LEVEL)
        self.timeline.append((self.core.tick, tuple(None if c.is_idle else c.current_thread
                                               for c in self.processors)))
        for cpu in self.processors:
            if cpu.is_idle:
                cpu.idle_ticks += 1
                continue
            cpu.busy_ticks += 1
            thread = cpu.current_thread
            self.core.cpu_context = cpu.number
            self._run_timed_step(cpu, thread, spinning=thread in spinning)
            if cpu.current_thread is thread and cpu.irql < Irql.DISPATCH_LEVEL:
                thread.quantum -= 1
                if thread.quantum <= 0:
                    self._quantum_end(cpu, thread)
        self.core.cpu_context = 0
        self.dispatch()

    def _quantum_end(self, cpu: Processor, thread: Thread) -> None:
        if thread.base_priority < thread.priority < 16:  # a boost decays, one per quantum
            thread.priority -= 1
            self.emit("Ke", "decay", f"{thread.label}'s boost decays: priority "
                      f"{thread.priority} (base {thread.base_priority})", cpu=cpu.number,
                      irql=Irql.DISPATCH_LEVEL)
        if self.dispatcher.highest_priority() >= thread.priority:
            self.ready_thread(thread)
            self.emit("Ke", "quantum-end", f"{thread.label} used up its quantum; another thread "
                      f"of priority {thread.priority} is ready, so it goes to the back of the "
                      "queue", "Round robin: threads of equal priority take turns, one quantum "
                      "each.", cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)
            self._switch(cpu, self.dispatcher.pop(), "")
        else:
            thread.quantum = QUANTUM_TICKS

    def _run_timed_step(self, cpu: Processor, thread: Thread, spinning: bool) -> None:
        """Spend this tick on the thread's timed step (or spinning: on a lock, or having used
        up the tick's zero-time steps, perhaps on its program's last step)."""
        step = thread.current_step
        in_kernel = not spinning and step is not None and step.op in KERNEL_MODE_STEPS
        mode = step_mode(cpu, thread)
        if mode == "K" or in_kernel:
            thread.kernel_ticks += 1
        else:
            thread.user_ticks += 1
        if spinning:
            return
        assert step is not None  # not spinning: its instant steps stopped at a timed step
        # a thread holding a spin lock runs kernel code already: no mode switch to show
        if step.op == "syscall" and thread.step_done == 0 and mode == "U":
            self.emit("Ke", "syscall", f"{thread.label} makes a system call: syscall "
                      "instruction → KiSystemCall64, user → kernel", "A system call is the "
                      "only door from user mode into the kernel: the processor switches mode "
                      "and stack, and the kernel checks every argument.",
                      cpu=cpu.number, mode="U")
        if step.op == "inc":
            self._inc_tick(cpu, thread, step)
            done = thread.step_done >= 2 * step.count
        else:
            thread.step_done += 1
            done = thread.step_done >= step.count
        if done:  # the rest of the tick: carry on with the steps that take no time
            if step.op == "syscall" and mode == "U":
                self.emit("Ke", "syscall", f"{thread.label}'s system call returns (sysret): "
                          "kernel → user", cpu=cpu.number)
            thread.pc += 1
            thread.step_done = 0
            self._run_instant_steps(cpu, thread)

    def _run_instant_steps(self, cpu: Processor, thread: Thread) -> str:
        """Carry out steps that take no clock time, up to the next timed step.

        Returns "timed" (a timed step is next), "spin" (the thread spins on a held spin lock,
        or has used up this tick's steps, and burns this tick) or "left" (it waited or exited
        and left the processor).
        """
        for _ in range(INSTANT_STEPS_PER_TICK):
            step = thread.current_step
            if step is None:
                self._exit_thread(cpu, thread, "its program ended")
                return "left"
            if step.op in TIMED_STEPS:
                return "timed"
            result = self._instant_step(cpu, thread, step)
            if result != "next":
                return result
            thread.pc += 1
        self.emit("Ke", "busy", f"{thread.label} ran {INSTANT_STEPS_PER_TICK} steps that take "
                  "no clock time of their own; it goes on next tick",
                  "Every instruction takes time: the model lets a thread do a bounded number "
                  "of zero-time steps (set, wait, repeat ...) in one tick.", cpu=cpu.number)
        return "spin"

    def _instant_step(self, cpu: Processor, thread: Thread, step: Step) -> str:
        """One step that takes no clock time: "next" when done, else "spin" or "left"."""
        if step.op in DETOUR_STEPS:
            return self._detour_step(cpu, thread, step)
        if step.op == "exit":
            self._exit_thread(cpu, thread, "it called exit")
            return "left"
        if step.op == "sleep":
            self.block_thread(cpu, thread, WaitReason.DelayExecution,
                        f"NtDelayExecution: sleeps {step.count} tick(s)")
            self._wake_at(thread, self.core.tick + step.count)
            return "left"
        if step.op == "sleepex":
            if thread.user_apcs:  # KeDelayExecutionThread: alertable, user APCs queued
                thread.user_apc_pending = True
                self.emit("Ke", "apc", f"{thread.label} calls SleepEx({step.count}, TRUE) with "
                          "a user APC already queued: the wait ends at once "
                          "(STATUS_USER_APC)", cpu=cpu.number)
                self._deliver_apcs(cpu, thread)
                return "next"
            self.block_thread(cpu, thread, WaitReason.DelayExecution,
                              f"SleepEx({step.count}, TRUE): an alertable wait of {step.count} "
                              "tick(s)")
            thread.alertable = True
            self._wake_at(thread, self.core.tick + step.count)
            return "left"
        if step.op == "wait-input":
            self.block_thread(cpu, thread, WaitReason.UserRequest,
                              "calls GetMessage and waits for input")
            return "left"
        if step.op == "dequeue":
            return self.ex.worker_dequeue(cpu, thread)
        if step.op == "io-work":  # a driver's work item routine (IoQueueWorkItem)
            self.io.run_work_item(step.count)
            return "next"
        if step.op == "touch":
            if thread.process.address_space is None:  # a system thread: a kernel-mode fault
                self.ps.crash_process(thread.process, step.count, thread=thread)
            # holding a spin lock, it runs kernel code at DISPATCH_LEVEL
            held = ", ".join(lock.name for lock in thread.held_locks
                             if isinstance(lock, SpinLock))
            self.mm.touch(thread.process, step.count, thread=thread, irql=cpu.irql,
                          where=f"{thread.label}, which holds spin lock {held}," if held else "")
            if thread.state is ThreadState.Waiting:  # for a page read: the touch restarts
                return "left"  # when it is in, as the faulting instruction does
            return "next" if thread.process.alive else "left"
        if step.op == "repeat":
            if thread.repeats_done < step.count:
                thread.repeats_done += 1
                thread.pc = -1  # the caller's pc += 1 lands on the first step
            return "next"
        obj = self.sync_object(step.name)
        if step.op == "acquire" and isinstance(obj, SpinLock):
            return self._acquire_spin_lock(cpu, thread, obj)
        if step.op == "release" and isinstance(obj, SpinLock):
            self._release_spin_lock(cpu, thread, obj)
            return "next"
        assert not isinstance(obj, SpinLock)  # check_program: only these two name a spin lock
        # The first use of a named object opens a handle to it, through an access check.
        desired = MODIFY_STATE if step.op in ("set", "release") else SYNCHRONIZE
        if not self.ob.open_object(thread.process, obj, desired):
            self._exit_thread(cpu, thread, f"opening {obj.header.name} failed with "
                              "STATUS_ACCESS_DENIED", NtStatus.STATUS_ACCESS_DENIED)
            return "left"
        if step.op in ("acquire", "wait"):
            return self._wait_for(cpu, thread, obj, timeout=step.count)
        if step.op == "release" and isinstance(obj, KSemaphore):
            self.release_semaphore(obj, by=thread)
            return "next"
        if step.op == "release" and isinstance(obj, KMutant):
            self._release_mutant(cpu, thread, obj)
            return "next"
        if step.op == "set" and isinstance(obj, KEvent):
            self.set_event(obj, by=thread)
            return "next"
        raise AssertionError(f"unhandled step {step.op}")

    def block_thread(self, cpu: Processor, thread: Thread, reason: WaitReason, text: str,
                     in_kernel: bool = False, why: str = "") -> None:
        """The thread waits and leaves its processor; `in_kernel`: it was in kernel mode
        already (no system call to enter)."""
        thread.state = ThreadState.Waiting
        thread.wait_reason = reason
        cpu.current_thread = cpu.idle_thread
        mode_note = "" if thread.system_thread or in_kernel else ": system call, user → kernel"
        self.emit("Ke", "wait", f"{thread.label} {text}{mode_note}; state Waiting ({reason.name})",
                  why or "A waiting thread uses no processor time; the dispatcher gives the "
                  "processor to the next ready thread.", cpu=cpu.number)

    def _exit_thread(self, cpu: Processor, thread: Thread, why: str,
                     status: int = NtStatus.STATUS_SUCCESS) -> None:
        self.ps.terminate_thread(thread, status)
        self.emit("Ps", "thread-exit", f"{thread.label} exits ({why})", cpu=cpu.number)
        process = thread.process
        if process.first_live_thread is None and process.alive:
            self.ps.terminate_process(process, status, reason=" because its last thread exited")

    def _wake_at(self, thread: Thread, tick: int) -> None:
        thread.wake_tick = tick
        self._wait_sequence += 1
        heapq.heappush(self.sleepers, (tick, self._wait_sequence, thread))

    def wake_thread(self, thread: Thread, why: str) -> None:
        thread.waiting_on = None
        thread.wake_tick = None
        thread.alertable = False
        thread.pc += 1
        self.ready_thread(thread)
        self.emit("Ke", "wake", f"{thread.label} wakes: {why}; Ready at priority "
                  f"{thread.priority}")

    # ----------------------------------------------------------------- waits and dispatcher objects

    def _inc_tick(self, cpu: Processor, thread: Thread, step: Step) -> None:
        """One half of a read-modify-write: load on even ticks, store on odd ones."""
        var = self.variables.setdefault(step.name.lower(), SharedVariable(step.name))
        locked = " (lock held)" if thread.held_locks else ""
        mode = step_mode(cpu, thread)
        if thread.step_done % 2 == 0:
            thread.register, thread.loaded_version = var.value, var.version
            self.emit("Ke", "load", f"{thread.label} loads {var.name} = {var.value}{locked}",
                      "An increment is three machine steps: load, add, store. Another processor "
                      "can run between them.", cpu=cpu.number, mode=mode)
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
                          cpu=cpu.number, mode=mode)
            else:
                self.emit("Ke", "store", f"{thread.label} stores {var.name} = {var.value}{locked}",
                          cpu=cpu.number, mode=mode)
        thread.step_done += 1

    def _acquire_spin_lock(self, cpu: Processor, thread: Thread, lock: SpinLock) -> str:
        if not lock.holder:
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
                  f"{lock.holder}: this processor does no useful work this tick",
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

    def _wait_for(self, cpu: Processor, thread: Thread, obj: DispatcherObject,
                  timeout: int = 0, kernel: str = "", why: str = "") -> str:
        """KeWaitForSingleObject: satisfied now, or the thread waits (at most timeout ticks):
        for its program (UserRequest), or, with `kernel` saying where, in kernel mode
        (Executive)."""
        name = obj.header.name + (f" {kernel}" if kernel else "")
        thread.wait_status = NtStatus.STATUS_WAIT_0
        owner = ""
        if isinstance(obj, KMutant):
            if obj.owner is None or obj.owner is thread:
                self._own_mutant(thread, obj)
                self.emit("Ke", "mutex", f"{thread.label} acquires mutex {name} (recursion "
                          f"{obj.recursion})", cpu=cpu.number)
                return "next"
            owner = f", owned by {obj.owner.label}"
        elif obj.signaled:
            self._satisfy(obj)
            self.emit("Ke", "wait", f"{thread.label} waits on {obj.header.type_name} {name}: "
                      "signaled, continues" + self._after_wait(obj), cpu=cpu.number)
            return "next"
        obj.waiters.append(thread)
        thread.waiting_on = obj
        limit = f" for at most {timeout} tick(s)" if timeout else ""
        self.block_thread(cpu, thread, WaitReason.Executive if kernel else WaitReason.UserRequest,
                          f"waits on {obj.header.type_name} {name}{owner}{limit}",
                          in_kernel=bool(kernel), why=why)
        if timeout:
            self._wake_at(thread, self.core.tick + timeout)
        if isinstance(obj, KMutant):
            self._check_deadlock(thread)
        return "left"

    @staticmethod
    def _satisfy(obj: DispatcherObject) -> None:
        """What a satisfied wait does to the object: a semaphore gives up a unit, an
        auto-reset (synchronization) event or timer resets; notification ones stay set."""
        if isinstance(obj, KSemaphore):
            obj.signal_state -= 1
        elif not releases_all(obj):
            obj.signal_state = 0

    @staticmethod
    def _after_wait(obj: DispatcherObject) -> str:
        if isinstance(obj, KSemaphore):
            return f"; count now {obj.signal_state}"
        return "" if releases_all(obj) else "; it resets itself"

    def _signal(self, obj: DispatcherObject, why: str) -> int:
        """Release the waiters a newly signaled object satisfies; returns how many."""
        released = 0
        while obj.waiters and obj.signaled:
            waiter = obj.waiters.pop(0)
            self._satisfy(obj)
            self.wake_thread(waiter, why)
            released += 1
        return released

    def release_semaphore(self, semaphore: KSemaphore, by: Thread | None = None) -> None:
        """KeReleaseSemaphore by one unit. Past the limit the count does not change and
        KeReleaseSemaphore raises STATUS_SEMAPHORE_LIMIT_EXCEEDED (ReactOS
        ntoskrnl/ke/semphobj.c, KeReleaseSemaphore), which NtReleaseSemaphore returns: from
        the shell the command fails with it; a thread's step fails and the thread goes on."""
        who = by.label if by else "the shell"
        name = semaphore.header.name
        if semaphore.signal_state >= semaphore.limit:
            self.emit("Ke", "error", f"{who} releases semaphore {name} past its limit "
                      f"{semaphore.limit}: STATUS_SEMAPHORE_LIMIT_EXCEEDED")
            if by is None:
                raise NtError(NtStatus.STATUS_SEMAPHORE_LIMIT_EXCEEDED,
                              f"semaphore {name} is already at its limit of "
                              f"{semaphore.limit}: a release must give back a unit a wait took")
            return
        semaphore.signal_state += 1
        released = self._signal(semaphore, f"got a unit of semaphore {name}")
        released += self._wake_routines(semaphore)
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
            self._arm_timer(timer, self.core.tick + timer.period)
        if timer.dpc is not None:  # a driver's timer: KiTimerExpiration queues its DPC
            cpu = self.core.processor()
            if not any(timer.dpc in other.dpc_queue for other in self.processors):
                cpu.dpc_queue.append(timer.dpc)
            self.emit("Ke", "dpc", f"timer {timer.header.name}'s DPC ({timer.dpc.driver.name}"
                      f"!DPC for {timer.dpc.label}) is queued on CPU{cpu.number}",
                      cpu=cpu.number)
            self.drain_dpcs(cpu)

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
            self.wake_thread(waiter, f"now owns mutex {mutant.header.name}")

    def set_event(self, event: KEvent, by: Thread | None = None, by_label: str = "") -> None:
        """KeSetEvent: a notification event releases every waiter and stays set; a
        synchronization event releases one waiter (and resets) or stays set until one comes."""
        who = by.label if by else by_label or "the shell"
        event.signal_state = 1
        released = self._signal(event, f"{event.header.name} was set")
        released += self._wake_routines(event)  # threads waiting in a driver routine
        call = f"KeSetEvent({event.header.name})" if by_label else \
            f"sets {event.kind} {event.header.name}"
        self.emit("Ke", "event", f"{who}: {call}: {released} waiter(s) released" if by_label
                  else f"{who} {call}: {released} waiter(s) released")

    def reset_event(self, event: KEvent) -> None:
        event.signal_state = 0
        self.emit("Ke", "event", f"the shell resets {event.header.name}: not signaled")

    def abandon_lock(self, thread: Thread, lock: Lock) -> None:
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
            self.wake_thread(waiter, f"got abandoned mutex {lock.header.name}")

    def _check_deadlock(self, start: Thread) -> None:
        """Follow waits-for edges (thread → owner of the mutex it waits on) back to start."""
        chain, links, thread = [start], [], start
        while isinstance(mutant := thread.waiting_on, KMutant) and mutant.owner is not None:
            links.append(f"{thread.label} waits for {mutant.header.name} owned by "
                         f"{mutant.owner.label}")
            thread = mutant.owner
            if thread is start:
                self.deadlocks.append(chain)
                self.emit("Ke", "deadlock", f"DEADLOCK: {' → '.join(links)}", "Each thread "
                          "holds what the "
                          "next one wants, so none can go on. The cure: every thread takes the "
                          "locks in the same order.")
                return
            if thread in chain:
                return
            chain.append(thread)

    def sync_object(self, name: str) -> SyncObject:
        """A spin lock by name, or an event or mutex in \\BaseNamedObjects."""
        lock = self.spin_locks.get(name.lower())
        if lock is not None:
            return lock
        obj = self.ob.directory("\\BaseNamedObjects").entries.get(name.upper())
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
    def _kind_of(obj: SyncObject) -> str:
        return "spin lock" if isinstance(obj, SpinLock) else obj.header.type_name.lower()

    def create_named(self, kind: str, name: str, *, notification: bool = True,
                     count: int = 0, limit: int = 1, due: int = 0,
                     period: int = 0) -> SyncObject:
        """event/mutex/semaphore/timer/spinlock create NAME."""
        self.core.require_running()
        # The object manager's paths are trimmed (ob.normalize_path), so a name with spaces at
        # either end would be stored under another name than the one given.
        if "\\" in name or not name or name != name.strip():
            raise NtError(NtStatus.STATUS_OBJECT_NAME_INVALID,
                          f"'{name}' is not a valid object name (no backslashes, no spaces "
                          "at either end)")
        taken = name.lower() in self.spin_locks or \
            name.upper() in self.ob.directory("\\BaseNamedObjects").entries
        if taken:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION, f"'{name}' already exists")
        if kind == "spinlock":
            self.spin_locks[name.lower()] = SpinLock(name)
            self.emit("Ke", "create", f"spin lock {name} initialized (KeInitializeSpinLock)")
            return self.spin_locks[name.lower()]
        obj: KEvent | KSemaphore | KTimer | KMutant
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
                self._arm_timer(obj, self.core.tick + due)
        else:
            obj = KMutant(self.ob.header("Mutant", permanent=True))
        self.ob.insert(f"\\BaseNamedObjects\\{name}", obj)
        self.emit("Ob", "create", f"{obj.header.type_name} \\BaseNamedObjects\\{name} created"
                  + (f" ({obj.kind})" if isinstance(obj, (KEvent, KTimer)) else ""))
        return obj

    # ------------------------------------- kernel work Ps charges a thread (notify routines)

    def detour_thread(self, thread: Thread, detour: Detour) -> None:
        """Put the thread's program aside for kernel work it must do first (detour.steps); the
        `return` step at the end puts it back. A thread waiting for input is woken for it
        (the user's request is what it takes); a held new thread stays held."""
        detour.program, detour.pc = thread.program, thread.pc
        detour.step_done, detour.repeats_done = thread.step_done, thread.repeats_done
        thread.detour = detour
        thread.program = [*detour.steps, Step("return", 0, detour.api)]
        thread.pc = thread.step_done = thread.repeats_done = 0
        if thread.state is ThreadState.Waiting:
            self.ready_thread(thread)
            self.emit("Ke", "wake", f"{thread.label} wakes for the user's request; Ready at "
                      f"priority {thread.priority}")

    def _detour_step(self, cpu: Processor, thread: Thread, step: Step) -> str:
        """A detour's zero-time steps: KeWaitForSingleObject in kernel mode (WaitReason
        Executive, no handle: a driver waits on the object itself), and the return."""
        if step.op == "return":
            detour = thread.detour
            assert detour is not None  # only detour_thread puts a return step in a program
            thread.detour = None
            thread.program, thread.pc = detour.program, detour.pc - 1  # the caller adds 1
            thread.step_done, thread.repeats_done = detour.step_done, detour.repeats_done
            self.ps.creation_returns(detour, thread.process.image)
            return "next"
        obj = self.sync_object(step.name)
        assert isinstance(obj, DispatcherObject)  # Ps admits events, semaphores and timers
        return self._wait_for(cpu, thread, obj, step.count,
                              kernel="in kernel mode, inside a notify routine "
                              "(KeWaitForSingleObject)",
                              why="The thread is stuck in the driver's routine: it runs "
                              "nothing, and what it was doing (a process creation) waits with "
                              "it.")

    # ----------------------------------------------------------------- interrupts and DPCs

    def interrupt(self, device: DeviceObject, cpu_number: int | None = None,
                  message: int = 0) -> None:
        """The device asserts its interrupt (message `message`) on processor cpu_number; by
        default an MSI-X message goes to its own processor (message mod CPUs), others to 0."""
        self.core.require_running()
        dirql = device.dirql  # set with the vector, by connect_interrupt
        if device.vector is None or dirql is None:
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
        if before >= dirql:
            cpu.pending_interrupts.append((device, message))
            self.emit("Hal", "interrupt", f"vector {vector:#x} held pending: CPU"
                      f"{cpu.number} is at {irql_name(before)}, not below DIRQL {dirql}; "
                      "it is delivered when the IRQL drops", cpu=cpu.number)
            return
        running = "the idle thread" if cpu.is_idle else cpu.current_thread.label
        cpu.irql = dirql
        self.core.cpu_context = cpu.number
        what = f"message {message} (vector {vector:#x})" if kind != "line" else \
            f"vector {vector:#x}"
        self.emit("Hal", "interrupt", f"{what} on CPU{cpu.number}: "
                  f"{running} is interrupted; IRQL {before} → {dirql}; "
                  f"{device.driver.name}'s ISR runs"
                  + (f" with MessageID {message}" if kind != "line" else ""),
                  "An interrupt preempts whatever runs, thread or not; the ISR must be short "
                  "and may only queue the rest.", cpu=cpu.number)
        try:
            self.dpc_time_us = 0
            self.io.run_routine_at(before, device.driver, "ISR", None, device)
            cpu.irql = before
            self.emit("Hal", "interrupt", f"ISR returns; IRQL back to {irql_name(before)}",
                      cpu=cpu.number)
            self.drain_dpcs(cpu)
        finally:
            self.core.cpu_context = 0
        self.dispatch()

    def synchronize_execution(self, driver: DriverObject, device: DeviceObject | None) -> None:
        """KeSynchronizeExecution: the interrupt spin lock, at the device's DIRQL, around the
        driver's SynchCritSection: neither this ISR nor any other at that level can run."""
        if device is None or device.dirql is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{driver.name} has no "
                          "interrupt to synchronize with (IoConnectInterruptEx first)")
        cpu = self.core.processor()
        before, cpu.irql = cpu.irql, max(cpu.irql, device.dirql)
        self.emit("Ke", "sync", f"KeSynchronizeExecution: {driver.name} takes "
                  f"{device.label}'s interrupt spin lock, IRQL {before} → {device.dirql}; "
                  "SynchCritSection runs", "A spin lock raises only to DISPATCH_LEVEL, and the "
                  "ISR (at DIRQL) could still preempt its holder; the interrupt spin lock "
                  "keeps the ISR out on every processor while data it shares is touched.")
        self.io.run_routine_at(before, driver, "SynchCritSection", None, device)
        cpu.irql = before
        self.emit("Ke", "sync", f"SynchCritSection returns: the interrupt spin lock is "
                  f"released, IRQL back to {irql_name(before)}")
        self._deliver_pending(cpu)

    def _deliver_pending(self, cpu: Processor) -> None:
        """Interrupts held off while the IRQL was too high arrive as soon as it drops."""
        waiting, cpu.pending_interrupts = cpu.pending_interrupts, []
        for device, message in waiting:
            self.interrupt(device, cpu.number, message)

    def request_dpc(self, device: DeviceObject) -> None:
        """IoRequestDpc / KeInsertQueueDpc: queue the device's DPC on this processor."""
        cpu = self.core.processor()
        cpu.dpc_queue.append(device)
        self.emit("Ke", "dpc", f"{device.driver.name} queues its DPC on CPU{cpu.number} "
                  f"({len(cpu.dpc_queue)} queued)", cpu=cpu.number)

    def insert_queue_dpc(self, driver: DriverObject, routine: str,
                         device: DeviceObject) -> None:
        """KeInsertQueueDpc: FALSE, and nothing queued, when the DPC is in a queue already; a
        DPC queued below DISPATCH_LEVEL runs at once, the IRQL falling back past it (ReactOS
        kmtests ntos_ke/KeDpc.c; https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-keinsertqueuedpc)."""
        cpu = self.core.processor()
        if any(device in other.dpc_queue for other in self.processors):
            self.emit("Ke", "dpc", f"{driver.name}!{routine}: KeInsertQueueDpc returns FALSE: "
                      f"{device.driver.name}'s DPC is queued already and will run once",
                      "A KDPC is in at most one queue at a time.")
            return
        cpu.dpc_queue.append(device)
        self.emit("Ke", "dpc", f"{driver.name}!{routine}: KeInsertQueueDpc returns TRUE: its DPC "
                  f"is queued on CPU{cpu.number}", cpu=cpu.number)
        self.drain_dpcs(cpu)  # at once when the processor is below DISPATCH_LEVEL

    def drain_dpcs(self, cpu: Processor) -> None:
        """Run queued DPCs at DISPATCH_LEVEL, if the IRQL has fallen below it."""
        if cpu.pending_interrupts and \
                cpu.irql < min(_dirql(d) for d, _ in cpu.pending_interrupts):
            self._deliver_pending(cpu)
        if cpu.irql >= Irql.DISPATCH_LEVEL:
            return
        while cpu.dpc_queue:
            device = cpu.dpc_queue.pop(0)
            before, cpu.irql = cpu.irql, Irql.DISPATCH_LEVEL
            self.core.cpu_context = cpu.number
            self.emit("Ke", "dpc", f"CPU{cpu.number} drains its DPC queue at DISPATCH_LEVEL: "
                      f"{device.driver.name}'s DPC runs", "DPCs run when the IRQL drops below "
                      "DISPATCH_LEVEL, before any thread gets the processor back.",
                      cpu=cpu.number)
            self.dpc_time_us = 0
            self.io.run_routine_at(before, device.driver, "DPC", None, device)
            cpu.irql = before

    # ------------------------------------------- IRQL, spin locks and waits in driver routines

    # ------------------------------------------- a driver's own events (KeInitializeEvent)

    def initialize_event(self, driver: DriverObject, routine: str, name: str,
                         notification: bool, signaled: bool) -> None:
        """KeInitializeEvent on an event in the driver's own memory (its device extension, a
        local variable): not an object-manager object, known to the driver by NAME."""
        event = KEvent(self.ob.header("Event"), int(signaled), notification=notification)
        self.driver_events[_owned(driver, name)] = event
        event.header.name = name
        self.emit("Ke", "event", f"{driver.name}!{routine}: KeInitializeEvent({name}, "
                  f"{event.kind}, {'TRUE' if signaled else 'FALSE'})")

    def driver_event(self, driver: DriverObject, name: str) -> KEvent:
        return _initialized(self.driver_events, driver, name, "event",
                            f"KeInitializeEvent {name} NotificationEvent")

    def set_driver_event(self, driver: DriverObject, routine: str, name: str) -> None:
        """KeSetEvent(Event, IO_NO_INCREMENT, FALSE) on the driver's event."""
        self.set_event(self.driver_event(driver, name), by_label=f"{driver.name}!{routine}")

    def clear_driver_event(self, driver: DriverObject, routine: str, name: str) -> None:
        """KeClearEvent: not signaled."""
        self.driver_event(driver, name).signal_state = 0
        self.emit("Ke", "event", f"{driver.name}!{routine}: KeClearEvent({name}): not signaled")

    def wait_for_single_object(self, driver: DriverObject, routine: str, name: str) -> None:
        """KeWaitForSingleObject from a driver routine (no timeout), on one of its own events
        or a named object."""
        obj: SyncObject = self.driver_events.get(_owned(driver, name)) or \
            self.sync_object(name)
        if not isinstance(obj, (KEvent, KSemaphore)):
            raise NtError(NtStatus.STATUS_OBJECT_TYPE_MISMATCH, f"{name} is a "
                          f"{type(obj).__name__}: a driver step waits for an event or a "
                          "semaphore")
        cpu = self.core.processor()
        if obj.signaled:
            self.emit("Ke", "wait", f"{driver.name}!{routine}: KeWaitForSingleObject({name}) is "
                      "satisfied at once: it is signaled")
            self._satisfy(obj)
            return
        if cpu.irql >= Irql.DISPATCH_LEVEL:
            original = cpu.current_thread
            ready = self.dispatcher.ready_threads()
            new = ready[0] if ready else cpu.idle_thread
            self.bugcheck(BugCheck.ATTEMPTED_SWITCH_FROM_DPC,
                          (original.header.address, new.header.address,
                           original.header.address + 0x6000, 0),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name}!{routine} waited for {name}, which is not "
                          f"signaled, at {irql_name(cpu.irql)}. Waiting means switching to "
                          "another thread, and a DPC runs on no thread of its own: it borrowed "
                          "whatever was running. The dispatcher cannot switch away from it.",
                          fix="Never wait in a DPC or an ISR. Queue a work item "
                          "(IoQueueWorkItem) and wait there, at PASSIVE_LEVEL, or use a "
                          "zero timeout to only poll.")
        raise RoutineWaits(obj, name)

    def suspend_routine(self, obj: KEvent | KSemaphore, resume: Callable[[], None]) -> None:
        """A driver routine waits for obj below DISPATCH_LEVEL: its thread waits, and the
        rest of the routine runs once obj is signaled (see IoManager._suspend)."""
        self.suspended.append((obj, resume))

    def _wake_routines(self, obj: DispatcherObject) -> int:
        """obj was signaled: the driver routines waiting for it may go on (satisfying it,
        as KiWaitSatisfy does), at the next dispatch, below DISPATCH_LEVEL; how many."""
        woken = 0
        for entry in [e for e in self.suspended if e[0] is obj]:
            if not obj.signaled:
                break
            self._satisfy(obj)
            self.suspended.remove(entry)
            self.resumable.append(entry[1])
            woken += 1
        return woken

    # ------------------------------------------- a driver's own timers (KeInitializeTimer)

    def initialize_timer(self, driver: DriverObject, routine: str, name: str,
                         notification: bool) -> None:
        """KeInitializeTimer(Ex) on a timer in the driver's own memory (a global of its image,
        where 0xC7 looks at unload): not an object-manager object, known to it by NAME."""
        timer = KTimer(self.ob.header("Timer"), notification=notification)
        timer.header.name = name
        timer.header.address = routine_address(driver, f"KTIMER {name}")
        old = self.driver_timers.get(_owned(driver, name))
        if old is not None:  # initializing a timer that is set: the queue loses track of it
            old.due_tick = None
        self.driver_timers[_owned(driver, name)] = timer
        self.emit("Ke", "timer", f"{driver.name}!{routine}: KeInitializeTimer({name}): a "
                  f"{timer.kind}, not signaled, not set")

    def driver_timer(self, driver: DriverObject, name: str) -> KTimer:
        return _initialized(self.driver_timers, driver, name, "timer",
                            f"KeInitializeTimer {name}")

    def set_timer(self, driver: DriverObject, routine: str, name: str, dpc: DeviceObject,
                  ticks: int, period: int = 0) -> None:
        """KeSetTimer(Ex) with the device's DPC: TRUE if the timer was in the timer queue
        already (then it is canceled and set anew)."""
        timer = self.driver_timer(driver, name)
        was_set = timer.due_tick is not None
        timer.signal_state, timer.period, timer.dpc = 0, period, dpc
        self._arm_timer(timer, self.core.tick + ticks)
        self.emit("Ke", "timer", f"{driver.name}!{routine}: KeSetTimer{'Ex' if period else ''}"
                  f"({name}, {ticks} tick(s)" + (f", period {period}" if period else "")
                  + f", its DPC) returns {'TRUE' if was_set else 'FALSE'}: due at tick "
                  f"{timer.due_tick}, when {driver.name}!DPC runs for {dpc.label}",
                  "The clock interrupt finds the timer due; its DPC then runs at "
                  "DISPATCH_LEVEL on that processor, in whatever thread was running.")

    def cancel_timer(self, driver: DriverObject, routine: str, name: str) -> None:
        """KeCancelTimer: TRUE if the timer was in the timer queue (a periodic one always is)."""
        timer = self.driver_timer(driver, name)
        was_set = timer.due_tick is not None
        timer.due_tick = None  # its entry in the heap is stale now: _clock_tick skips it
        self.emit("Ke", "timer", f"{driver.name}!{routine}: KeCancelTimer({name}) returns "
                  + ("TRUE: taken out of the timer queue, its DPC will not run" if was_set
                     else "FALSE: it was not set (or has expired and its DPC was queued)"))

    def check_for_timer(self, driver: DriverObject) -> None:
        """The image is unloaded: a timer still set in its memory is found by KeCheckForTimer
        and stops the machine with 0xC7, Arg1 0: the timer, the range being freed."""
        mine = [(key, t) for key, t in self.driver_timers.items() if key[0] == driver.name.lower()]
        for key, _ in mine:
            del self.driver_timers[key]
        timer = next((t for _, t in mine if t.due_tick is not None), None)
        if timer is None:
            return
        start, end = image_range(driver)
        self.bugcheck(BugCheck.TIMER_OR_DPC_INVALID, (0, timer.header.address, start, end),
                      driver=driver.image, routine="Unload",
                      rule=f"{driver.name} unloaded with its timer {timer.header.name} still "
                      f"set (due at tick {timer.due_tick}). The timer lives in the driver's "
                      "image, which is being freed, and its DPC is the driver's code: when it "
                      "expired, the kernel would run code that is gone.",
                      fix="Cancel every timer in Unload (KeCancelTimer), and for a periodic "
                      "timer wait for its DPC to finish (KeFlushQueuedDpcs).")

    def stall_execution_processor(self, driver: DriverObject, routine: str,
                                  microseconds: int) -> None:
        """KeStallExecutionProcessor: spin. In a DPC or ISR, the DPC watchdog is counting."""
        cpu = self.core.processor()
        self.emit("Ke", "stall", f"{driver.name}!{routine} spins {microseconds:,} µs on "
                  f"CPU{cpu.number} at {irql_name(cpu.irql)}", "Nothing else runs on this "
                  "processor meanwhile: not a thread, and at DISPATCH_LEVEL or above not a DPC.")
        if cpu.irql < Irql.DISPATCH_LEVEL:
            return
        self.dpc_time_us += microseconds
        ticks = -(-self.dpc_time_us // CLOCK_TICK_US)
        if ticks > DPC_WATCHDOG_TICKS:
            self.bugcheck(BugCheck.DPC_WATCHDOG_VIOLATION, (0, ticks, DPC_WATCHDOG_TICKS, 0),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name}!{routine} ran {self.dpc_time_us / 1e6:.1f} s at "
                          f"{irql_name(cpu.irql)}: {ticks} clock ticks, more than the DPC "
                          f"watchdog's {DPC_WATCHDOG_TICKS} (20 s). Meanwhile no thread could "
                          "run on this processor.",
                          fix="A DPC should finish in about 100 µs (an ISR in 25 µs): do the "
                          "long work in a work item or a system thread, at PASSIVE_LEVEL.")

    def change_irql(self, driver: DriverObject, routine: str, name: str, level: int) -> None:
        """KeRaiseIrql / KeLowerIrql. Going the wrong way, or lowering to another IRQL than
        the matching raise returned, is a fatal error the WDK names; a free build does not
        check it, Driver Verifier does (0xC4, 0x30 / 0x31)."""
        cpu = self.core.processor()
        current = cpu.irql
        raised = self._raised.setdefault(cpu.number, [])
        if name == "KeRaiseIrql":
            wrong = level < current
            if wrong and driver.verified:
                self.mm.verifier_stop(driver, routine, 0x30, (current, level, 0),
                                    f"KeRaiseIrql({level}) at IRQL {current}: a raise may not "
                                    "lower the IRQL.", "Use KeLowerIrql with the saved IRQL.")
            raised.append(current)
            self.irql_raised_by = driver.image
        else:
            expected = raised.pop() if raised else None
            wrong = level > current or level != expected
            in_dpc = routine == "DPC"
            if wrong and driver.verified:
                self.mm.verifier_stop(driver, routine, 0x31, (current, level, int(in_dpc)),
                                    f"KeLowerIrql({level}) at IRQL {current}, where the matching "
                                    f"KeRaiseIrql returned {expected}"
                                    + (" — inside a DPC" if in_dpc else "") + ".",
                                    "Lower only to the IRQL KeRaiseIrql gave back, and never "
                                    "below DISPATCH_LEVEL in a DPC.")
        cpu.irql = level
        self.emit("Ke", "irql", f"{driver.name}!{routine}: {name}({irql_name(level)}): IRQL "
                  f"{current} → {level}" + ("" if not wrong else " — against the rules: on a "
                  "free build nothing checks, and code that expected the old IRQL now runs "
                  "unprotected (Driver Verifier stops here)"))
        self.drain_dpcs(cpu)  # below DISPATCH_LEVEL the queued DPCs run at once (KeDpc.c)

    def verify_spin_lock_irql(self, driver: DriverObject, routine: str, name: str) -> None:
        """Driver Verifier's check of KeAcquireSpinLock above DISPATCH_LEVEL, made before
        the generic IRQL check: 0xC4, parameter 1 = 0x42 (current IRQL, the lock's address)
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation)."""
        irql = self.core.processor().irql
        if driver.verified and irql > Irql.DISPATCH_LEVEL:
            lock = self._driver_lock(name)
            self.mm.verifier_stop(driver, routine, 0x42, (irql, _address(lock), 0),
                                  f"KeAcquireSpinLock({lock.name}) at IRQL {irql}: a spin lock "
                                  "is taken at DISPATCH_LEVEL or below, and taking it would "
                                  "lower the IRQL.", "At DIRQL, use the interrupt spin lock "
                                  "(KeSynchronizeExecution) instead.")

    def acquire_driver_spin_lock(self, driver: DriverObject, routine: str, name: str) -> None:
        lock = self._driver_lock(name)
        if name.lower() in self._driver_locks:
            raise NtError(NtStatus.STATUS_POSSIBLE_DEADLOCK, f"{driver.name}!{routine}: spin "
                          f"lock {lock.name} is already held here: acquiring it again would spin "
                          "forever on this processor")
        cpu = self.core.processor()
        self._driver_locks[name.lower()] = cpu.irql
        lock.held_by = f"{driver.name}!{routine} on CPU{cpu.number}"
        self.irql_raised_by = driver.image
        before, cpu.irql = cpu.irql, max(cpu.irql, Irql.DISPATCH_LEVEL)
        self.emit("Ke", "spinlock", f"{driver.name}!{routine}: KeAcquireSpinLock({lock.name}): "
                  f"IRQL {before} → {cpu.irql}")

    def release_driver_spin_lock(self, driver: DriverObject, routine: str, name: str) -> None:
        lock = self._driver_lock(name)
        cpu = self.core.processor()
        if name.lower() not in self._driver_locks:
            if driver.verified:
                self.mm.verifier_stop(driver, routine, 0x32, (cpu.irql, _address(lock), 0),
                                    f"KeReleaseSpinLock({lock.name}), which is not held "
                                    "(a double release).", "Release each spin lock once, "
                                    "with the IRQL its acquire saved.")
            self.emit("Ke", "rule", f"{driver.name}!{routine} releases spin lock {lock.name}, "
                      "which it does not hold: the lock word is cleared under whoever holds it, "
                      "and the IRQL falls to whatever the OldIrql variable holds (here "
                      "PASSIVE_LEVEL). Driver Verifier stops this (0xC4, 0x32).")
            cpu.irql = Irql.PASSIVE_LEVEL
            return
        before, cpu.irql = cpu.irql, self._driver_locks.pop(name.lower())
        lock.held_by = ""
        self.emit("Ke", "spinlock", f"{driver.name}!{routine}: KeReleaseSpinLock({lock.name}): "
                  f"IRQL {before} → {cpu.irql}")
        self.drain_dpcs(cpu)  # the DPCs queued meanwhile run as the IRQL falls

    def driver_locks_held(self) -> list[SpinLock]:
        """The spin locks driver code holds now."""
        return [self.spin_locks[name] for name in self._driver_locks]

    def _driver_lock(self, name: str) -> SpinLock:
        lock = self.spin_locks.get(name.lower())
        if lock is None:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND, f"no spin lock named '{name}'"
                          "; create it first (spinlock create NAME)")
        return lock


class RoutineWaits(Exception):
    """KeWaitForSingleObject in a driver routine, below DISPATCH_LEVEL, on an object that is
    not signaled: the I/O manager's interpreter suspends the routine (IoManager._suspend)."""

    def __init__(self, obj: KEvent | KSemaphore, name: str, text: str = "",
                 restart: bool = False) -> None:
        super().__init__(name)
        self.obj, self.name = obj, name
        self.text = text  # what the wait is, for the trace (default: KeWaitForSingleObject)
        self.restart = restart  # the step that waited runs again (a page fault), not the next


def _address(lock: SpinLock) -> int:
    """Where the model says a named spin lock lives, for bugcheck parameters."""
    return 0xFFFFC50F_0C000000 + zlib.crc32(lock.name.encode()) % 0x10000 * 0x10


def _dirql(device: DeviceObject) -> int:
    """The DIRQL of a device whose interrupt is held pending: it was connected to have one."""
    assert device.dirql is not None
    return device.dirql


Owned = TypeVar("Owned", KEvent, KTimer)


def _owned(driver: DriverObject, name: str) -> tuple[str, str]:
    """The key of an object in a driver's own memory (an event, a timer): names match in
    any case, as the spec's steps do."""
    return driver.name.lower(), name.lower()


def _initialized(objects: dict[tuple[str, str], Owned], driver: DriverObject, name: str,
                 what: str, initialize: str) -> Owned:
    """The driver's `what` called name; a step using one it never initialized is refused."""
    found = objects.get(_owned(driver, name))
    if found is None:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} has no {what} "
                      f"'{name}': initialize it first ({initialize})")
    return found
