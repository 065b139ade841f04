"""The machine: processors, the clock, the components, the event log, and boot.

`System` composes the components (Ke, Ps, Ob, Mm, ...) and is the one object the command
layer talks to. Ke's scheduler and waits, Ps's notify routines and Ex's worker threads are
mixed in from the modules named after them; process and thread life cycle lives here.
Every change of state goes through a method here or in a component and is
announced with `emit`. All randomness comes from `self.rng`, seeded at boot, so the same
commands and seed always give the same events.

Simplifications: a command from the shell happens between two clock ticks, in the context of
processor 0; the clock interrupt is taken on every processor at once, once per tick.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from kmshell.nt.clfs import Log, LogFileSystem
from kmshell.nt.cm import ConfigurationManager, Registry
from kmshell.nt.constants import (
    NORMAL_PRIORITY_BASE,
    BugCheck,
    Irql,
    NtStatus,
    format_status,
)
from kmshell.nt.errors import NtError, SystemHalted
from kmshell.nt.events import Event, ptr
from kmshell.nt.ex import Workers, WorkItem
from kmshell.nt.hal import Dma
from kmshell.nt.io.driver import BOOT_DRIVERS, DriverObject
from kmshell.nt.io.files import FileIo
from kmshell.nt.io.manager import IoManager
from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.ke.dispatcher import Dispatcher
from kmshell.nt.ke.interrupts import Interrupts
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.scheduler import Scheduler
from kmshell.nt.ke.sync import (
    KTimer,
    SharedVariable,
    SpinLock,
)
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.ke.waits import Synchronization
from kmshell.nt.mm import create_address_space, is_kernel_address
from kmshell.nt.notify import NotifyRoutines
from kmshell.nt.ob import ObjectManager, build_namespace
from kmshell.nt.pnp import PlugAndPlay
from kmshell.nt.po import PowerManager
from kmshell.nt.pool import Pool
from kmshell.nt.ps import (
    NotifyRoutine,
    Process,
    ProcessState,
    Step,
    Subsystem,
    Thread,
    format_program,
)
from kmshell.nt.se import USERS, token_for
from kmshell.nt.tm import Transaction, TransactionManager
from kmshell.nt.wmi import Wmi

MAX_CPUS = 64
TIMELINE_TICKS = 500  # how many recent ticks the schedule timeline keeps
# The trace keeps the latest 25,000 to 50,000 events (about 6 to 12 MB): enough for any
# lesson's whole session, and a long run (100,000 IRPs, 500,000 events) stays flat.
TRACE_KEEP = 25_000
FIRST_CID = 100  # PIDs and TIDs come from one table (PspCidTable), in multiples of 4

DEFAULT_USER = "teacher"  # at the console of the default machine: its owner, an administrator

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
    ("explorer.exe", "winlogon.exe", 1, DEFAULT_USER, False),
)
SYSTEM_WORKER_THREADS = 2

WHY_USER_FAULT = (
    "A fault in user mode is the process's own problem: the kernel turns it into an exception "
    "for that process, and when nothing handles it only that process ends."
)




@dataclass
class Disk:
    """What survives a restart: the registry and the CLFS logs."""

    registry: Registry = field(default_factory=Registry)
    logs: dict[str, Log] = field(default_factory=dict)


class System(Scheduler, Synchronization, NotifyRoutines, Workers, ConfigurationManager,
             TransactionManager, LogFileSystem, IoManager, FileIo, Interrupts, PlugAndPlay,
             PowerManager, Pool, Wmi, Dma):
    def __init__(self, cpus: int = 2, minimal: bool = False, seed: int = 0,
                 disk: Disk | None = None):
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError(f"--cpus must be 1..{MAX_CPUS}, got {cpus}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.minimal = minimal
        self.tick = 0
        self.log: list[Event] = []  # the trace: the latest TRACE_KEEP to 2 × TRACE_KEEP events
        self.events_dropped = 0  # trimmed from the front of the log, oldest first
        self.cpu_context = 0
        self.bugcheck_info: BugcheckInfo | None = None
        self._next_address = 0xFFFF_C50F_0A00_0080
        self._next_cid = FIRST_CID
        self._next_dtb = 0x1AD000
        self._wait_sequence = 0
        self.ob = ObjectManager(self.allocate_address)
        self.processes: dict[int, Process] = {}  # every process since boot, exited ones too
        # The live ones, kept at creation and exit: per-command work (status, the default
        # parent, name lookups) scans these, never the whole history.
        self.running: dict[int, Process] = {}
        self.threads: dict[int, Thread] = {}
        self.dispatcher = Dispatcher()
        self.sleepers: list[tuple[int, int, Thread]] = []  # (wake tick, sequence, thread)
        self.timers: list[tuple[int, int, KTimer]] = []  # (due tick, sequence, timer)
        self.processors: list[Processor] = []
        self.disk = disk or Disk()
        self.console_user = DEFAULT_USER  # who is logged on: new processes run as them
        self.registry = self.disk.registry
        self.transaction: Transaction | None = None
        self.transactions_started = 0
        # who ran on each processor during each recent tick: (tick, (thread or None, ...))
        self.drivers: dict[str, DriverObject] = {}  # lower-cased service name -> object
        self.devices: list = []  # every DeviceObject, in creation order
        self.file_systems: list = []  # registered disk file systems' control devices, newest first
        self.irps: dict = {}  # IRP number -> Irp still in progress (completed ones are freed)
        # IRP number -> FinishedIrp: the latest completed ones, oldest first. An OrderedDict
        # drops its oldest in O(1); a dict's first key is found by scanning past the holes
        # that earlier deletions left, microseconds each once it holds thousands.
        self.finished_irps: OrderedDict = OrderedDict()
        self.irp_count = 0
        self._pool_init()
        self.syscall_thread = None  # whose system call the I/O manager is carrying out now
        self._wmi_init()
        self._cancel_lock: int | None = None
        self.dpc_time_us = 0  # how long the running DPC or ISR has spun (the DPC watchdog)
        self._raised: dict[int, list[int]] = {}  # per CPU: the IRQLs KeRaiseIrql returned
        # spin locks held by driver code (the cancel spin lock among them): the IRQL to go
        # back to when each is released
        self._driver_locks: dict[str, int] = {}
        self.vectors_assigned = 0
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
        if mode == "U":
            irql = 0  # user-mode code always runs at PASSIVE_LEVEL
        elif irql is None:
            irql = self.processors[cpu].irql if cpu < len(self.processors) else 0
        # tuple.__new__ makes the Event without the NamedTuple's Python-level __new__: a
        # benchmark run emits hundreds of thousands of them.
        event = tuple.__new__(Event, (self.tick, cpu, int(irql), mode, component, kind, text,
                                      why))
        self.log.append(event)
        if len(self.log) >= 2 * TRACE_KEEP:  # like the kernel logger's circular buffers
            del self.log[:TRACE_KEEP]
            self.events_dropped += TRACE_KEEP
        return event

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
            self.registry.install_service(name, image, "boot")
        self.emit("Io", "boot", f"boot drivers loaded: {', '.join(self.drivers_names())}; "
                  "each has its key under HKLM\\SYSTEM\\CurrentControlSet\\Services")
        self._boot_device_tree()
        self._recover_logs()
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
                          create_tick=self.tick, command_line=image, token=token_for(user))
        if subsystem is Subsystem.Win32:
            process.peb = space.vad_for(0x0000_0090_0000).start
            for path in ("\\KnownDlls", "\\BaseNamedObjects"):
                # 0x0003: DIRECTORY_QUERY | DIRECTORY_TRAVERSE
                process.handle_table.insert(self.ob.lookup(path), 0x0003)
        self.processes[pid] = process
        self.running[pid] = process
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
        if user is not None and user not in USERS:
            raise NtError(NtStatus.STATUS_NO_SUCH_USER, f"no user named '{user}'; users: "
                          + ", ".join(USERS))
        if parent is None:
            parent = self.console_shell()
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
                                    user=user or (parent.user if parent else self.console_user),
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

    def console_shell(self) -> Process | None:
        """The shell of whoever logged on last: the newest explorer.exe still running."""
        explorer = (p for p in reversed(self.running.values()) if p.image == "explorer.exe")
        return next(explorer, self.processes.get(4))

    def login(self, user: str) -> Process:
        """An interactive logon: winlogon (after lsass checks the password) starts the user's
        shell in a new session, with a token for that user."""
        self._require_running()
        if user not in USERS or user == "SYSTEM":
            raise NtError(NtStatus.STATUS_NO_SUCH_USER, f"no interactive user named '{user}'; "
                          "users: " + ", ".join(u for u in USERS if u != "SYSTEM"))
        winlogon = next((p for p in self.processes.values()
                         if p.image == "winlogon.exe" and p.alive), None)
        self.console_user = user
        session = max(p.session_id for p in self.processes.values()) + 1
        self.emit("Se", "logon", f"lsass.exe authenticates {user}: a token with "
                  f"{len(USERS[user][1])} group SIDs and {len(token_for(user).privileges)} "
                  f"privileges; new logon session {session}", "Everything a user runs carries "
                  "their token; the access checks compare its SIDs with each object's DACL.")
        shell = self._new_process("explorer.exe", pid=self._allocate_cid(), parent=winlogon,
                                  session=session, user=user, subsystem=Subsystem.Win32)
        self._new_thread(shell, shell.base_priority, [Step("wait-input")],
                         waiting=WaitReason.UserRequest, start_address="explorer.exe!wWinMain")
        self.emit("Ps", "process-create", f"explorer.exe (PID {shell.pid}) started for {user} "
                  f"in session {session}; new processes now start from it")
        return shell

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
        closed = len(process.handle_table.entries)
        self.run_down_io(process)
        process.handle_table.close_all()
        process.state = ProcessState.Terminated
        del self.running[process.pid]
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
        if process.subsystem is Subsystem.WSL:
            self.emit("Ps", "exception", f"lxcore.sys delivers SIGSEGV to {process.image}; it "
                      "has no handler and dies", mode="U")
        else:
            self.emit("Ps", "exception", "no handler takes it: the unhandled-exception filter "
                      "(Windows Error Reporting) ends the process", mode="U")
        self.terminate_process(process, NtStatus.STATUS_ACCESS_VIOLATION,
                               reason=" after an unhandled access violation")
        alive = len(self.running)
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

    def _require_running(self) -> None:
        if self.halted:
            info = self.bugcheck_info
            raise NtError(NtStatus.STATUS_UNSUCCESSFUL,
                          f"the system is halted by bugcheck 0x{info.code:X} {info.name}")

    # ----------------------------------------------------------------- views of the state

    def live_processes(self) -> list[Process]:
        return list(self.running.values())

    def all_threads(self) -> list[Thread]:
        idle = [cpu.idle_thread for cpu in self.processors]
        return idle + list(self.threads.values())

    def object_count(self) -> int:
        return sum(1 for _ in self.ob.walk())

    def handle_count(self) -> int:
        return sum(len(p.handle_table.entries) for p in self.running.values())

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
                      "wait_reason": t.wait_reason.name if t.wait_reason is not None else None,
                      "teb": t.teb}
                     for t in p.threads
                 ]}
                for p in self.processes.values()
            ],
            "variables": {v.name: {"value": v.value, "stores": v.version,
                                   "lost_updates": v.lost_updates}
                          for v in self.variables.values()},
            "deadlocks": [[t.tid for t in cycle] for cycle in self.deadlocks],
            "drivers": [d.name for d in self.drivers.values()],
            "devnodes": [{"instance": n.instance_path, "state": n.state.name,
                          "parent": n.parent.instance_path if n.parent else None,
                          "service": n.service, "problem": n.problem,
                          "stack": [d.label for d in n.stack()]}
                         for n in self.device_root.walk()],
            "callbacks": [{"number": c.number, "kind": c.kind, "driver": c.driver.name,
                           "calls": c.calls} for c in self.callbacks],
            "work_items": [{"number": i.number, "driver": i.driver, "done": i.done}
                           for i in self.work_items],
            "transaction": None if self.transaction is None else {
                "number": self.transaction.number,
                "operations": [str(op) for op in self.transaction.operations]},
            "logs": {log.name: [{"lsn": r.lsn, "text": r.text, "flushed": r.flushed}
                                for r in log.records] for log in self.disk.logs.values()},
        }
