"""The machine: processors, the clock, the components, the event log, and boot.

`System` composes the components (Ke, Ps, Ob, Mm, ...) and is the one object the command
layer talks to. Every change of state goes through a method here or in a component and is
announced with `emit`. All randomness comes from `self.rng`, seeded at boot, so the same
commands and seed always give the same events.

Simplifications: a command from the shell happens between two clock ticks, in the context of
processor 0; the clock interrupt is taken on every processor at once, once per tick.
"""

from __future__ import annotations

import heapq
import random
from collections import deque

from kmshell.nt.constants import (
    NORMAL_PRIORITY_BASE,
    QUANTUM_TICKS,
    BugCheck,
    Irql,
    NtStatus,
    format_status,
    irql_name,
)
from kmshell.nt.events import Event, ptr
from kmshell.nt.ex import WorkItem
from kmshell.nt.io.driver import BOOT_DRIVERS, DriverObject
from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.ke.dispatcher import Dispatcher
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
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import create_address_space, is_kernel_address
from kmshell.nt.ob import ObjectManager, build_namespace
from kmshell.nt.ps import (
    CALLBACK_STEPS,
    NOTIFY_KINDS,
    SLOW_CALLBACK_TICKS,
    TIMED_STEPS,
    NotifyRoutine,
    Process,
    ProcessState,
    Step,
    Subsystem,
    Thread,
    format_program,
)

MAX_CPUS = 64
TIMELINE_TICKS = 500  # how many recent ticks the schedule timeline keeps
FIRST_CID = 100  # PIDs and TIDs come from one table (PspCidTable), in multiples of 4

# The processes of a default boot: image, parent image, session, user, critical.
# In real Windows csrss.exe, wininit.exe and winlogon.exe are started by per-session copies of
# smss.exe that exit at once, and explorer.exe by userinit.exe, which exits too; the model
# makes the surviving ancestor the parent so that the tree stays connected.
BOOT_PROCESSES = (
    ("smss.exe", "System", 0, "SYSTEM", True),
    ("csrss.exe", "smss.exe", 0, "SYSTEM", True),
    ("wininit.exe", "smss.exe", 0, "SYSTEM", True),
    ("services.exe", "wininit.exe", 0, "SYSTEM", True),
    ("lsass.exe", "wininit.exe", 0, "SYSTEM", True),
    ("csrss.exe", "smss.exe", 1, "SYSTEM", True),
    ("winlogon.exe", "smss.exe", 1, "SYSTEM", True),
    ("explorer.exe", "winlogon.exe", 1, "student", False),
)
SYSTEM_WORKER_THREADS = 2
DEFAULT_USER = "student"

# What each object-naming program step accepts.
STEP_TARGETS = {
    "acquire": (SpinLock, KMutant),
    "release": (SpinLock, KMutant, KSemaphore),
    "wait": (KEvent, KMutant, KSemaphore, KTimer),
    "set": (KEvent,),
}

WHY_USER_FAULT = (
    "A fault in user mode is the process's own problem: the kernel turns it into an exception "
    "for that process, and when nothing handles it only that process ends."
)


class SystemHalted(Exception):
    """Raised through the model when KeBugCheckEx stops the machine."""

    def __init__(self, info: BugcheckInfo):
        super().__init__(f"bugcheck 0x{info.code:X}")
        self.info = info


class NtError(Exception):
    """An operation the kernel refuses, with the NTSTATUS it would return."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class System:
    def __init__(self, cpus: int = 2, minimal: bool = False, seed: int = 0):
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError(f"--cpus must be 1..{MAX_CPUS}, got {cpus}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.minimal = minimal
        self.tick = 0
        self.log: list[Event] = []
        self.cpu_context = 0
        self.bugcheck_info: BugcheckInfo | None = None
        self._next_address = 0xFFFF_C50F_0A00_0080
        self._next_cid = FIRST_CID
        self._next_dtb = 0x1AD000
        self._wait_sequence = 0
        self.ob = ObjectManager(self.allocate_address)
        self.processes: dict[int, Process] = {}
        self.threads: dict[int, Thread] = {}
        self.dispatcher = Dispatcher()
        self.sleepers: list[tuple[int, int, Thread]] = []  # (wake tick, sequence, thread)
        self.timers: list[tuple[int, int, KTimer]] = []  # (due tick, sequence, timer)
        self.processors: list[Processor] = []
        # who ran on each processor during each recent tick: (tick, (thread or None, ...))
        self.drivers: dict[str, DriverObject] = {}  # lower-cased service name -> object
        self.callbacks: list[NotifyRoutine] = []
        self.work_queue: deque[WorkItem] = deque()
        self.work_items: list[WorkItem] = []
        self.spin_locks: dict[str, SpinLock] = {}
        self.variables: dict[str, SharedVariable] = {}
        self.deadlocks: list[list[Thread]] = []
        self.timeline: deque[tuple[int, tuple[Thread | None, ...]]] = deque(maxlen=TIMELINE_TICKS)
        self._boot(cpus)

    # ----------------------------------------------------------------- plumbing

    @property
    def halted(self) -> bool:
        return self.bugcheck_info is not None

    def emit(self, component: str, kind: str, text: str, why: str = "", *,
             cpu: int | None = None, mode: str = "K", irql: int | None = None) -> Event:
        cpu = self.cpu_context if cpu is None else cpu
        if irql is None:
            irql = self.processors[cpu].irql if cpu < len(self.processors) else 0
        event = Event(self.tick, cpu, int(irql), mode, component, kind, text, why)
        self.log.append(event)
        return event

    def allocate_address(self, size: int = 0x80) -> int:
        """A kernel virtual address for a new structure (a deterministic bump allocator)."""
        address = self._next_address
        self._next_address += (size + 0x7F) & ~0x7F
        return address

    def _allocate_cid(self) -> int:
        cid = self._next_cid
        self._next_cid += 4
        return cid

    def bugcheck(self, code: int, parameters: tuple[int, int, int, int], *, driver: str = "",
                 routine: str = "", rule: str = "", fix: str = "", cpu: int | None = None):
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

    def drivers_names(self) -> list[str]:
        return [d.name for d in self.drivers.values()]

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng.seed(seed)

    # ----------------------------------------------------------------- boot

    def _boot(self, cpus: int) -> None:
        build_namespace(self.ob)
        idle = self._new_process("Idle", pid=0, parent=None, session=0, user="SYSTEM",
                                 subsystem=Subsystem.Minimal)
        for number in range(cpus):
            thread = Thread(self.ob.header("Thread"), 0, idle, 0, 0, [], system_thread=True,
                            state=ThreadState.Running, start_address="nt!KiIdleLoop")
            idle.threads.append(thread)
            self.processors.append(Processor(number, thread, thread))
        self.emit("Hal", "boot", f"{cpus} processor(s) started at PASSIVE_LEVEL, each running "
                  "its idle thread", "Every processor always runs something: when no thread is "
                  "ready it runs the Idle process's thread for that processor.")
        self.emit("Ob", "boot", "object namespace created: \\ObjectTypes, \\Device, \\Driver, "
                  "\\BaseNamedObjects, \\GLOBAL??, ...")
        system = self._new_process("System", pid=4, parent=None, session=0, user="SYSTEM",
                                   subsystem=Subsystem.Minimal, critical=True)
        for _ in range(SYSTEM_WORKER_THREADS):
            self._new_thread(system, NORMAL_PRIORITY_BASE + 5, [Step("dequeue")],
                             system_thread=True, waiting=WaitReason.WrQueue,
                             start_address="nt!ExpWorkerThread")
        for name, image, description in BOOT_DRIVERS:
            driver = DriverObject(self.ob.header("Driver", permanent=True), name, image,
                                  description)
            self.ob.insert(f"\\Driver\\{name}", driver)
            self.drivers[name.lower()] = driver
        self.emit("Io", "boot", f"boot drivers loaded: {', '.join(self.drivers_names())}")
        self.emit("Ps", "boot", "System process (PID 4) created; its threads run only in "
                  "kernel mode", "The System process owns the kernel's own threads, such as "
                  "the system worker threads; it has no user-mode address space or PEB.")
        if self.minimal:
            return
        for image, parent_image, session, user, critical in BOOT_PROCESSES:
            parent = next(p for p in reversed(self.processes.values()) if p.image == parent_image)
            process = self._new_process(image, pid=self._allocate_cid(), parent=parent,
                                        session=session, user=user, subsystem=Subsystem.Win32,
                                        critical=critical)
            self._new_thread(process, process.base_priority, [Step("wait-input")],
                             waiting=WaitReason.UserRequest, start_address=f"{image}!wWinMain")
            self.emit("Ps", "boot", f"{image} (PID {process.pid}) started in session {session}"
                      + (", marked critical" if critical else ""))

    # ----------------------------------------------------------------- Ps

    def _new_process(self, image: str, *, pid: int, parent: Process | None, session: int,
                     user: str, subsystem: Subsystem, critical: bool = False,
                     base_priority: int = NORMAL_PRIORITY_BASE) -> Process:
        has_user_half = subsystem is not Subsystem.Minimal
        space = None
        if has_user_half:
            space = create_address_space(self._next_dtb, image, subsystem is Subsystem.Win32)
            self._next_dtb += 0x1000
        process = Process(self.ob.header("Process"), pid, image,
                          parent.pid if parent else None, session, user, subsystem, space,
                          base_priority=base_priority, critical=critical,
                          create_tick=self.tick, command_line=image)
        if subsystem is Subsystem.Win32:
            process.peb = space.vad_for(0x0000_0090_0000).start
            for path in ("\\KnownDlls", "\\BaseNamedObjects"):
                process.handle_table.insert(self.ob.lookup(path), 0x0003)  # DIRECTORY_QUERY|TRAVERSE
        self.processes[pid] = process
        return process

    def _new_thread(self, process: Process, priority: int, program: list[Step], *,
                    system_thread: bool = False, waiting: WaitReason | None = None,
                    start_address: str = "") -> Thread:
        thread = Thread(self.ob.header("Thread"), self._allocate_cid(), process, priority,
                        priority, program, system_thread=system_thread,
                        create_tick=self.tick, start_address=start_address)
        if process.address_space is not None:
            process.address_space.reserve(0x10_0000, f"stack of thread {thread.tid}")
            if process.subsystem is Subsystem.Win32:
                thread.teb = process.address_space.reserve(0x2000, "TEB").start
        process.threads.append(thread)
        self.threads[thread.tid] = thread
        if waiting is None:
            self._ready(thread)
        else:
            thread.state = ThreadState.Waiting
            thread.wait_reason = waiting
        return thread

    def create_process(self, image: str, *, parent: Process | None = None, user: str | None = None,
                       subsystem: Subsystem = Subsystem.Win32, threads: int = 1,
                       priority: int = NORMAL_PRIORITY_BASE,
                       program: list[Step] | None = None) -> Process:
        """NtCreateUserProcess, as the parent's CreateProcess (or the WSL service) calls it."""
        self._require_running()
        if program is not None:
            self.check_program(program)
        if parent is None:
            parent = self._default_parent()
        creator = f"{parent.image} (PID {parent.pid})" if parent else "the kernel"
        api = "CreateProcess" if subsystem is Subsystem.Win32 else "the WSL service (lxcore.sys)"
        if parent is not None:
            self.emit("Ps", "syscall", f"{creator} calls {api} → NtCreateUserProcess: "
                      "system call, user → kernel", "Creating a process is kernel work: the "
                      "caller's thread switches to kernel mode through the system-call path.",
                      mode="U")
        pid = self._allocate_cid()
        process = self._new_process(image, pid=pid, parent=parent,
                                    session=parent.session_id if parent else 0,
                                    user=user or (parent.user if parent else "SYSTEM"),
                                    subsystem=subsystem, base_priority=priority)
        self.emit("Ps", "process-create", f"EPROCESS for {image} at {ptr(process.header.address)}: "
                  f"PID {pid}, parent {process.parent_pid}, session {process.session_id}, "
                  f"user {process.user}", "PspAllocateProcess builds the process object; the PID "
                  "comes from the same table as thread IDs, so both are multiples of 4.")
        self.emit("Mm", "address-space", f"private user half created (CR3 "
                  f"{process.address_space.directory_table_base:#x}); the kernel half is "
                  "shared, mapped the same in every process", "Each process gets its own "
                  "page tables for the user half; the kernel half is identical in all of them, "
                  "which is why a kernel bug can damage everything.")
        if subsystem is Subsystem.Win32:
            self.emit("Ps", "peb", f"PEB at {process.peb:#x} (user-mode process environment "
                      "block); handles to \\KnownDlls and \\BaseNamedObjects")
        else:
            self.emit("Ps", "pico", f"{image} is a pico process: no PEB, and its threads get no "
                      "TEB; the pico provider lxcore.sys keeps the Linux state",
                      "Subsystem processes are minimal processes whose user half is managed by "
                      "a subsystem provider, not by ntdll and the Win32 subsystem.")
        for _ in range(threads):
            self.create_thread(process, priority=priority, program=program, announce=False)
        pico = subsystem is not Subsystem.Win32
        context = f"{parent.image}'s creating thread" if parent else "the System process"
        self._notify("image", context, f"image {image} mapped into PID {pid}", pico)
        self._notify("process", context, f"PS_CREATE_NOTIFY_INFO {{ ImageFileName={image}, "
                     f"CommandLine=\"{process.command_line}\", ParentProcessId="
                     f"{process.parent_pid}, CreatingThreadId={self._creator_tid(parent)}, "
                     f"IsSubsystemProcess={'TRUE' if pico else 'FALSE'} }}", pico)
        if parent is not None:
            self.emit("Ps", "syscall", f"NtCreateUserProcess returns STATUS_SUCCESS to "
                      f"{parent.image}: kernel → user", mode="U")
        self.dispatch()
        return process

    @staticmethod
    def _creator_tid(parent: Process | None) -> int:
        threads = parent.live_threads if parent else []
        return threads[0].tid if threads else 0

    def _default_parent(self) -> Process | None:
        explorer = [p for p in self.processes.values() if p.image == "explorer.exe" and p.alive]
        return explorer[0] if explorer else self.processes.get(4)

    def create_thread(self, process: Process, *, priority: int | None = None,
                      program: list[Step] | None = None, announce: bool = True) -> Thread:
        """PspCreateThread: a new thread in process, Ready at its priority."""
        self._require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has exited; it can get no new "
                          "threads")
        if priority is None:
            priority = process.base_priority
        system_thread = process.subsystem is Subsystem.Minimal
        if program is None:
            program = [Step("compute", 2), Step("wait-input")]
        self.check_program(program)
        thread = self._new_thread(process, priority, program, system_thread=system_thread,
                                  start_address=f"{process.image}!ThreadStart")
        teb = (f"TEB at {thread.teb:#x}" if thread.teb is not None
               else "no TEB" + (" (system thread)" if system_thread else " (pico thread)"))
        self.emit("Ps", "thread-create", f"thread {thread.tid} created in {process.image} "
                  f"(PID {process.pid}): {teb}, priority {priority}, program "
                  f"'{format_program(program)}'", "A thread is what the processor runs; its "
                  "kernel stack and KTHREAD live in the kernel half, its TEB in the user half.")
        self._notify("thread", f"{process.image}'s creating thread",
                     f"ProcessId={process.pid}, ThreadId={thread.tid}, Create=TRUE",
                     process.subsystem is Subsystem.WSL)
        if announce:
            self.dispatch()
        return thread

    def terminate_process(self, process: Process, exit_status: int, *, reason: str = "") -> None:
        """PspTerminateProcess: end every thread, close every handle, tear down the user half."""
        self._require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        if process.subsystem is Subsystem.Minimal:
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{process.image} (PID {process.pid}) "
                          "belongs to the kernel and cannot be terminated")
        for thread in process.live_threads:
            self._terminate_thread(thread, exit_status)
        closed = process.handle_table.close_all()
        process.state = ProcessState.Terminated
        process.exit_status = exit_status
        process.exit_tick = self.tick
        if process.address_space is not None:
            process.address_space.vads.clear()
        self._notify("process", f"the last thread of {process.image}",
                     f"ProcessId={process.pid}, CreateInfo=NULL (the process is exiting)",
                     process.subsystem is Subsystem.WSL)
        self.emit("Ps", "process-exit", f"{process.image} (PID {process.pid}) terminated with "
                  f"exit status {format_status(exit_status)}{reason}: "
                  f"{len(process.threads)} thread(s) ended, {closed} handle(s) closed, user "
                  "half freed", "Ending a process ends its threads and closes its handles; the "
                  "process object itself lives on while anyone still references it.")
        if process.critical:
            self.bugcheck(BugCheck.CRITICAL_PROCESS_DIED, (process.header.address, 0, 0, 0),
                          driver=process.image, routine="PspCatchCriticalBreak",
                          rule=f"{process.image} is a critical process "
                          "(RtlSetProcessIsCritical): Windows cannot run without it, so its "
                          "death stops the machine even though the fault was in user mode.",
                          fix="Never end a critical system process; find why it died (a crash "
                          "dump of that process, not of the kernel).")
        self.dispatch()

    def _terminate_thread(self, thread: Thread, exit_status: int) -> None:
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
            self._abandon(thread, lock)
        thread.state = ThreadState.Terminated
        thread.wait_reason = None
        thread.exit_status = exit_status

    def crash_process(self, process: Process, address: int = 0, *,
                      thread: Thread | None = None) -> None:
        """A user-mode access violation that nothing handles: that process ends, nothing else."""
        self._require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        threads = process.live_threads
        if not threads:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                          f"{process.image} (PID {process.pid}) has no thread left to fault")
        thread = thread or threads[0]
        if process.subsystem is Subsystem.Minimal:
            self.emit("Ke", "fault", f"thread {thread.tid} of {process.image} touches "
                      f"{address:#x}: a page fault in kernel mode, no handler", mode="K")
            self.bugcheck(BugCheck.SYSTEM_THREAD_EXCEPTION_NOT_HANDLED,
                          (NtStatus.STATUS_ACCESS_VIOLATION, 0xFFFFF805_1A2B3C40,
                           self.allocate_address(0x98), self.allocate_address(0x4D0)),
                          driver="ntoskrnl.exe", routine=thread.start_address,
                          rule="A system thread runs only in kernel mode; an exception it does "
                          "not handle cannot be pinned on one process, so the kernel stops.",
                          fix="Kernel code must not touch invalid memory; wrap probes of "
                          "untrusted addresses in __try/__except.")
        kind = "kernel-half" if is_kernel_address(address) else "unmapped"
        self.emit("Ke", "fault", f"{thread.label} touches {address:#x} in user mode: "
                  f"{'a kernel-half address, not accessible from user mode' if kind == 'kernel-half' else 'no page is mapped there'}",
                  mode="U")
        self.emit("Ke", "trap", "page-fault trap (#PF, vector 14): the processor enters kernel "
                  "mode; MmAccessFault finds no valid access → STATUS_ACCESS_VIOLATION "
                  "(0xC0000005)", "The trap handler always runs in kernel mode, but it notes "
                  "the previous mode: here UserMode.")
        self.emit("Ke", "exception", "KiDispatchException: previous mode is UserMode, so the "
                  "exception is handed back to the thread's own handlers in user mode",
                  WHY_USER_FAULT)
        if process.subsystem is Subsystem.WSL:
            self.emit("Ps", "exception", f"lxcore.sys delivers SIGSEGV to {process.image}; it "
                      "has no handler and dies", mode="U")
        else:
            self.emit("Ps", "exception", "no handler takes it: the unhandled-exception filter "
                      "(Windows Error Reporting) ends the process", mode="U")
        self.terminate_process(process, NtStatus.STATUS_ACCESS_VIOLATION,
                               reason=" after an unhandled access violation")
        alive = sum(1 for p in self.processes.values() if p.alive)
        self.emit("Ke", "contained", f"the machine runs on: {alive} other process(es) untouched, "
                  "every processor still scheduling", WHY_USER_FAULT)

    def touch(self, process: Process, address: int, value: int | None = None, *,
              thread: Thread | None = None) -> int | None:
        """A user-mode read (or write) by thread (default: the process's first). A kernel-half
        or unmapped address is an access violation: the process dies, nothing else does.
        Returns the value read (or written), or None when the access faulted."""
        self._require_running()
        space = process.address_space
        if not process.alive or space is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{process.image} "
                          f"(PID {process.pid}) has no user-mode address space to touch")
        vad = space.vad_for(address)
        if vad is None:
            self.crash_process(process, address, thread=thread)
            return None
        if value is None:
            value = space.memory.get(address, 0)
            verb = f"reads {value} from"
        else:
            space.memory[address] = value
            verb = f"writes {value} to"
        self.emit("Mm", "touch", f"{process.image} (PID {process.pid}) {verb} {address:#x} "
                  f"({vad.description}): translated through its own page tables (CR3 "
                  f"{space.directory_table_base:#x})", "The same user address in two processes "
                  "maps to two different physical pages: each process has a private user half.",
                  mode="U")
        return value

    # ----------------------------------------------------------------- Ke: dispatching

    def _ready(self, thread: Thread, front: bool = False) -> None:
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
        """Give idle processors a ready thread, then preempt lower-priority running threads."""
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
            self._ready(preempted, front=True)
            self._switch(victim, self.dispatcher.pop(),
                         f", preempting {preempted.label} (priority {preempted.priority})")

    def step(self, ticks: int = 1) -> None:
        self._require_running()
        for _ in range(ticks):
            self._clock_tick()

    def run_until_idle(self, max_ticks: int) -> int:
        """Step until no thread is running or ready; returns the ticks taken."""
        self._require_running()
        taken = 0
        while taken < max_ticks and not self.idle:
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
        self.tick += 1
        while self.timers and self.timers[0][0] <= self.tick:
            due, _, timer = heapq.heappop(self.timers)
            if timer.due_tick == due:
                self._expire_timer(timer)
        while self.sleepers and self.sleepers[0][0] <= self.tick:
            _, _, thread = heapq.heappop(self.sleepers)
            if thread.state is ThreadState.Waiting and thread.wake_tick == self.tick:
                if thread.waiting_on is not None:
                    obj = thread.waiting_on
                    obj.waiters.remove(thread)
                    thread.wait_status = NtStatus.STATUS_TIMEOUT
                    self._wake(thread, f"its wait on {obj.header.name} timed out "
                                       "(STATUS_TIMEOUT)")
                else:
                    self._wake(thread, "its sleep ended")
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
                self.cpu_context = cpu.number
                result = self._run_instant_steps(cpu, thread)
                if result != "left":
                    started.add(thread)
                if result == "spin":
                    spinning.add(thread)
        self.cpu_context = 0
        running = " · ".join(f"CPU{c.number} {'idle' if c.is_idle else c.current_thread.label}"
                             for c in self.processors)
        self.emit("Ke", "tick", f"tick {self.tick}: {running}", "The clock interrupt (CLOCK_LEVEL) "
                  "charges the running thread one tick of its quantum.", irql=Irql.CLOCK_LEVEL)
        self.timeline.append((self.tick, tuple(None if c.is_idle else c.current_thread
                                               for c in self.processors)))
        for cpu in self.processors:
            if cpu.is_idle:
                cpu.idle_ticks += 1
                continue
            cpu.busy_ticks += 1
            thread = cpu.current_thread
            self.cpu_context = cpu.number
            self._run_timed_step(cpu, thread, spinning=thread in spinning)
            if cpu.current_thread is thread and cpu.irql < Irql.DISPATCH_LEVEL:
                thread.quantum -= 1
                if thread.quantum <= 0:
                    self._quantum_end(cpu, thread)
        self.cpu_context = 0
        self.dispatch()

    def _quantum_end(self, cpu: Processor, thread: Thread) -> None:
        if self.dispatcher.highest_priority() >= thread.priority:
            self._ready(thread)
            cpu.current_thread = cpu.idle_thread
            self.emit("Ke", "quantum-end", f"{thread.label} used up its quantum; another thread "
                      f"of priority {thread.priority} is ready, so it goes to the back of the "
                      "queue", "Round robin: threads of equal priority take turns, one quantum "
                      "each.", cpu=cpu.number, irql=Irql.DISPATCH_LEVEL)
        else:
            thread.quantum = QUANTUM_TICKS

    def _run_timed_step(self, cpu: Processor, thread: Thread, spinning: bool) -> None:
        """Spend this tick on the thread's timed step (or on spinning for a lock)."""
        step = thread.current_step
        in_kernel = step.op == "syscall" and not spinning
        if thread.system_thread or cpu.irql >= Irql.DISPATCH_LEVEL or in_kernel:
            thread.kernel_ticks += 1
        else:
            thread.user_ticks += 1
        if spinning:
            return
        if step.op == "syscall" and thread.step_done == 0 and not thread.system_thread:
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
            if step.op == "syscall" and not thread.system_thread:
                self.emit("Ke", "syscall", f"{thread.label}'s system call returns (sysret): "
                          "kernel → user", cpu=cpu.number)
            thread.pc += 1
            thread.step_done = 0
            self._run_instant_steps(cpu, thread)

    def _run_instant_steps(self, cpu: Processor, thread: Thread) -> str:
        """Carry out steps that take no clock time, up to the next timed step.

        Returns "timed" (a timed step is next), "spin" (the thread spins on a held spin lock
        and burns this tick) or "left" (it waited or exited and left the processor).
        """
        while True:
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

    def _instant_step(self, cpu: Processor, thread: Thread, step: Step) -> str:
        """One step that takes no clock time: "next" when done, else "spin" or "left"."""
        if step.op == "exit":
            self._exit_thread(cpu, thread, "it called exit")
            return "left"
        if step.op == "sleep":
            self._block(cpu, thread, WaitReason.DelayExecution,
                        f"NtDelayExecution: sleeps {step.count} tick(s)")
            self._wake_at(thread, self.tick + step.count)
            return "left"
        if step.op == "wait-input":
            self._block(cpu, thread, WaitReason.UserRequest, "calls GetMessage and waits for input")
            return "left"
        if step.op == "dequeue":
            return self._worker_dequeue(cpu, thread)
        if step.op == "touch":
            if thread.process.address_space is None:  # a system thread: a kernel-mode fault
                self.crash_process(thread.process, step.count, thread=thread)
            self.touch(thread.process, step.count, thread=thread)
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
        if step.op in ("acquire", "wait"):
            return self._wait_for(cpu, thread, obj, timeout=step.count)
        if step.op == "release" and isinstance(obj, KSemaphore):
            self.release_semaphore(obj, by=thread)
            return "next"
        if step.op == "release":
            self._release_mutant(cpu, thread, obj)
            return "next"
        if step.op == "set":
            self.set_event(obj, by=thread)
            return "next"
        raise AssertionError(f"unhandled step {step.op}")

    # ----------------------------------------------------------------- Ke: synchronization

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
        self.emit("Ke", "spinlock", f"{thread.label} KeReleaseSpinLock({lock.name}): IRQL back "
                  f"to {irql_name(cpu.irql)}", cpu=cpu.number)

    def _wait_for(self, cpu: Processor, thread: Thread, obj, timeout: int = 0) -> str:
        """KeWaitForSingleObject: satisfied now, or the thread waits (at most timeout ticks)."""
        self._open_handle(thread.process, obj)
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

    def _wake_at(self, thread: Thread, tick: int) -> None:
        thread.wake_tick = tick
        self._wait_sequence += 1
        heapq.heappush(self.sleepers, (tick, self._wait_sequence, thread))

    def _wake(self, thread: Thread, why: str) -> None:
        thread.waiting_on = None
        thread.wake_tick = None
        thread.pc += 1
        self._ready(thread)
        self.emit("Ke", "wake", f"{thread.label} wakes: {why}; Ready at priority "
                  f"{thread.priority}")

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

    def _open_handle(self, process: Process, obj) -> None:
        """The first time a process names an object, it opens a handle to it (OpenEvent...)."""
        if not any(e.object is obj for e in process.handle_table.entries.values()):
            process.handle_table.insert(obj, 0x1F0003)  # EVENT_ALL_ACCESS / MUTANT_ALL_ACCESS

    # ----------------------------------------------------------------- named sync objects

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
        if "\\" in name or not name:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_INVALID,
                          f"'{name}' is not a valid object name (no backslashes)")
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

    def _block(self, cpu: Processor, thread: Thread, reason: WaitReason, text: str) -> None:
        thread.state = ThreadState.Waiting
        thread.wait_reason = reason
        cpu.current_thread = cpu.idle_thread
        mode_note = "" if thread.system_thread else ": system call, user → kernel"
        self.emit("Ke", "wait", f"{thread.label} {text}{mode_note}; state Waiting ({reason.name})",
                  "A waiting thread uses no processor time; the dispatcher gives the processor "
                  "to the next ready thread.", cpu=cpu.number)

    def _exit_thread(self, cpu: Processor, thread: Thread, why: str) -> None:
        self._terminate_thread(thread, NtStatus.STATUS_SUCCESS)
        self.emit("Ps", "thread-exit", f"{thread.label} exits ({why})", cpu=cpu.number)
        process = thread.process
        if not process.live_threads and process.alive:
            self.terminate_process(process, NtStatus.STATUS_SUCCESS,
                                   reason=" because its last thread exited")

    def _require_running(self) -> None:
        if self.halted:
            info = self.bugcheck_info
            raise NtError(NtStatus.STATUS_UNSUCCESSFUL,
                          f"the system is halted by bugcheck 0x{info.code:X} {info.name}")

    # ----------------------------------------------------------------- Ps: notify routines

    def register_callback(self, kind: str, driver: DriverObject, steps: list[Step],
                          work: list[Step], subsystems: bool = False) -> NotifyRoutine:
        """PsSetCreateProcessNotifyRoutineEx2 and friends: a slot in a fixed-size array."""
        self._require_running()
        api, limit = NOTIFY_KINDS[kind]
        taken = sum(1 for c in self.callbacks if c.kind == kind)
        if taken >= limit:
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
                  f"({api}{flavour}): slot {taken + 1} of {limit}")
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

    # ----------------------------------------------------------------- Ex: worker threads

    def queue_work_item(self, driver: DriverObject, program: list[Step], by: str) -> WorkItem:
        """ExQueueWorkItem: queue the work and return at once; a waiting worker wakes."""
        item = WorkItem(len(self.work_items) + 1, driver.name, list(program), self.tick)
        self.work_items.append(item)
        self.work_queue.append(item)
        self.emit("Ex", "work-queued", f"{by} queues work item {item.number} (ExQueueWorkItem) "
                  "and returns at once: a system worker thread will do the slow part",
                  "The right way: the callback stays short, and the slow work runs later in "
                  "a worker thread of the System process.")
        waiting = [t for t in self.processes[4].threads
                   if t.state is ThreadState.Waiting and t.wait_reason is WaitReason.WrQueue]
        if waiting:
            worker = waiting[0]
            worker.program, worker.pc = [Step("dequeue")], -1
            self._wake(worker, f"work item {item.number} was queued")
        return item

    def _worker_dequeue(self, cpu: Processor, thread: Thread) -> str:
        """A worker thread finishes its work item, then takes the next or waits (WrQueue)."""
        if thread.work_item is not None:
            thread.work_item.done = True
            self.emit("Ex", "work-done", f"{thread.label} finished work item "
                      f"{thread.work_item.number} for {thread.work_item.driver}", cpu=cpu.number)
            thread.work_item = None
        if not self.work_queue:
            thread.program, thread.pc = [Step("dequeue")], 0
            self._block(cpu, thread, WaitReason.WrQueue, "waits on the work queue")
            return "left"
        item = self.work_queue.popleft()
        thread.work_item = item
        thread.program, thread.pc = [*item.program, Step("dequeue")], -1
        self.emit("Ex", "work", f"{thread.label} (a system worker thread) runs work item "
                  f"{item.number} for {item.driver}: '{format_program(item.program)}'",
                  cpu=cpu.number)
        return "next"

    # ----------------------------------------------------------------- views of the state

    def live_processes(self) -> list[Process]:
        return [p for p in self.processes.values() if p.alive]

    def all_threads(self) -> list[Thread]:
        idle = [cpu.idle_thread for cpu in self.processors]
        return idle + list(self.threads.values())

    def object_count(self) -> int:
        return sum(1 for _ in self.ob.walk())

    def handle_count(self) -> int:
        return sum(len(p.handle_table.entries) for p in self.processes.values())

    def to_json(self) -> dict:
        """The state as plain data, for grading and `--json`."""
        return {
            "tick": self.tick,
            "seed": self.seed,
            "halted": self.halted,
            "bugcheck": self.bugcheck_info.to_json() if self.bugcheck_info else None,
            "processors": [
                {"number": c.number, "irql": c.irql,
                 "thread": None if c.is_idle else c.current_thread.tid}
                for c in self.processors
            ],
            "processes": [
                {"pid": p.pid, "image": p.image, "parent": p.parent_pid,
                 "session": p.session_id, "user": p.user, "subsystem": p.subsystem.value,
                 "state": p.state.value, "exit_status": p.exit_status, "critical": p.critical,
                 "peb": p.peb, "handles": len(p.handle_table.entries),
                 "threads": [
                     {"tid": t.tid, "state": t.state.name, "priority": t.priority,
                      "wait_reason": t.wait_reason.name if t.wait_reason else None,
                      "teb": t.teb}
                     for t in p.threads
                 ]}
                for p in self.processes.values()
            ],
        }
