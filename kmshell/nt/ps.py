"""Process and thread manager (Ps): EPROCESS and ETHREAD, and the programs threads run.

A process is a container: an address space, a handle table, a token, and threads. Threads
are what the dispatcher schedules. Win32 processes have a PEB and their threads TEBs; WSL
(pico) processes have neither, because the subsystem's own provider (lxcore.sys) keeps that
state. A thread runs a small program of steps (`compute 3; sleep 2; exit`), enough to show
time slicing and waits; the model does not execute real instructions. Drivers register
notify routines (PsSetCreateProcessNotifyRoutineEx2 and friends) that run, in the creating
thread, whenever a process, thread or image comes or goes.

State (`ProcessManager`): `processes`, every process since boot by PID, exited ones too;
`running`, the live ones; `threads`, every thread by TID; `callbacks`, the notify routines
drivers registered (registry callbacks among them, which Cm calls); `console_user`, who is
logged on at the console.

Reached: System builds it with the Core, the object manager (process and thread objects,
handles), Ke (which schedules the threads) and Mm (address spaces), and wires in FileIo
(`io_files`: a dying process's open files) and Ex (`ex`: the work items notify routines
queue). Ke, Ex, Mm, Cm, Pnp and FileIo call into it.

Simplifications: no jobs, no impersonation; three fixed users (se.USERS), one at
the console at a time; a thread program stands for the instructions a thread executes;
Idle and System are "minimal" processes, with no user half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from kmshell.nt.constants import (
    NORMAL_PRIORITY_BASE,
    BugCheck,
    NtStatus,
    format_status,
    nt_success,
    parse_status,
)
from kmshell.nt.core import Core
from kmshell.nt.errors import NtError
from kmshell.nt.events import ptr
from kmshell.nt.ke.sync import DispatcherObject, Lock
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import USER_REGION_BASE, AddressSpace
from kmshell.nt.ob import HandleTable, ObjectHeader, ObjectManager
from kmshell.nt.rtl import U64, parse_number
from kmshell.nt.se import USERS, Token, token_for

if TYPE_CHECKING:  # Ps's partners, wired in by System
    from kmshell.nt.ex import Executive, WorkItem
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.files import FileIo
    from kmshell.nt.io.irp import Irp
    from kmshell.nt.ke.apc import Apc
    from kmshell.nt.ke.kernel import Kernel
    from kmshell.nt.mm import MemoryManager

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
WHY_USER_FAULT = (
    "A fault in user mode is the process's own problem: the kernel turns it into an exception "
    "for that process, and when nothing handles it only that process ends."
)

# step name -> (its arguments, what it does): the thread-program language.
STEPS = {
    "compute": ("N", "run in user mode (kernel mode for system threads) for N ticks"),
    "sleep": ("N", "wait N ticks (NtDelayExecution: DelayExecution)"),
    "sleepex": ("N", "an alertable wait of N ticks (SleepEx(N, TRUE)): a user APC queued to "
                     "the thread ends it at once and runs (WAIT_IO_COMPLETION)"),
    "inc": ("VAR [N]", "add 1 to a shared variable N times: load one tick, store the next"),
    "acquire": ("LOCK", "take a spin lock (raises to DISPATCH_LEVEL, spins while held) or a "
                        "mutex (waits while another thread owns it)"),
    "release": ("LOCK", "release a spin lock or a mutex, or give a semaphore back one unit"),
    "wait": ("OBJECT [T]", "wait until an event, mutex, semaphore or timer is signaled, at most "
                           "T ticks (WaitForSingleObject); STATUS_TIMEOUT after T"),
    "syscall": ("[N]", "a system call: user → kernel mode, N ticks of kernel work (default 1), "
                       "back to user mode"),
    "set": ("EVENT", "signal an event (SetEvent)"),
    "touch": ("ADDR", "read an address in user mode; a kernel or unmapped address is an access "
                      "violation that ends the process"),
    "repeat": ("N", "go back to the first step, N more times"),
    "wait-input": ("", "wait for user input, as a GUI thread in GetMessage (UserRequest)"),
    "exit": ("", "end the thread (PspExitThread)"),
}
TIMED_STEPS = {"compute", "inc", "syscall"}  # steps that take clock ticks; the rest take none
MAX_STEP_COUNT = 1_000_000  # a program step's N (ticks, increments): no lesson needs more

# Notify routines (PsSetCreateProcessNotifyRoutineEx2, PsSetCreateThreadNotifyRoutineEx,
# PsSetLoadImageNotifyRoutine): each kind has a fixed-size array of 64 slots in the kernel.
NOTIFY_KINDS = {
    "process": ("PsSetCreateProcessNotifyRoutineEx2", 64),
    "thread": ("PsSetCreateThreadNotifyRoutineEx", 64),
    "image": ("PsSetLoadImageNotifyRoutine", 64),
    "registry": ("CmRegisterCallbackEx", None),  # a list ordered by altitude: no fixed limit
}

# What a notify routine may do, with the guideline each risky step breaks (from the WDK's
# guidance for process and thread callbacks): step -> (its argument, rule broken or "").
CALLBACK_STEPS = {
    "compute": ("N", ""),
    "ExQueueWorkItem": ("", ""),
    "DenyAccess": ("", ""),  # a registry callback refusing the operation in its pre-notify
    # a process routine (Ex/Ex2) failing the creation: CreateInfo->CreationStatus = STATUS
    "CreationStatus": ("STATUS", ""),
    "KeWaitForSingleObject": ("OBJECT", "do not make blocking calls from a notify routine: the "
                              "creating thread stalls until OBJECT is signaled"),
    "ZwSetValueKey": ("", "do not make registry calls from a notify routine: the registry's "
                      "own callbacks and locks can re-enter and deadlock"),
    "CallUserMode": ("", "do not call into a user-mode service to validate the process: the "
                     "service may create a process or thread itself and wait on this one — a "
                     "reentrancy deadlock"),
    "WaitForWorkItem": ("", "do not synchronize with other threads, not even your own work "
                        "item: the callback stalls as long as the work takes, and deadlocks "
                        "if the work needs a lock the creation path holds"),
}
SLOW_CALLBACK_TICKS = 1  # keep notify routines short: more inline work than this is flagged


class ProcessState(Enum):
    Active = "Active"
    Terminated = "Terminated"


class Subsystem(Enum):
    """What NtQueryInformationProcess(ProcessSubsystemInformation) reports."""

    Win32 = "SubsystemInformationTypeWin32"
    WSL = "SubsystemInformationTypeWSL"
    Minimal = "minimal"  # System, Idle: no subsystem, no user-mode part at all


@dataclass(frozen=True)
class Step:
    op: str
    count: int = 0
    name: str = ""

    def __str__(self) -> str:
        count = f"{self.count:#x}" if self.op == "touch" else self.count or ""
        return " ".join(str(part) for part in (self.op, self.name, count) if part)


def _count(text: str, where: str) -> int:
    try:
        return parse_number(text, 1, MAX_STEP_COUNT)
    except ValueError as error:
        raise ValueError(f"{where}: a count N here is 1..{MAX_STEP_COUNT:,}: {error}") from None


def parse_program(text: str) -> list[Step]:
    """`compute 3; sleep 2; exit` -> steps. ValueError names the step and what is valid."""
    steps = []
    valid = ", ".join(f"{name} {args}".strip() for name, (args, _) in STEPS.items())
    for number, part in enumerate(text.split(";"), start=1):
        words = part.split()
        if not words:
            continue
        where = f"program step {number} '{part.strip()}'"
        op, args = words[0].lower(), words[1:]
        if op not in STEPS:
            raise ValueError(f"{where}: unknown step; valid: {valid}")
        signature = STEPS[op][0]
        needed = len(signature.split()) - signature.count("[")
        allowed = len(signature.split())
        if not needed <= len(args) <= allowed:
            usage = f"{op} {signature}".strip()
            raise ValueError(f"{where}: write it as '{usage}'")
        if signature == "N":
            steps.append(Step(op, _count(args[0], where)))
        elif signature == "[N]":
            steps.append(Step(op, _count(args[0], where) if args else 1))
        elif signature == "ADDR":
            try:
                steps.append(Step(op, parse_number(args[0], 0, U64)))
            except ValueError as error:
                raise ValueError(f"{where}: not an address: {error}") from None
        elif args:
            count = _count(args[1], where) if len(args) > 1 else (1 if op == "inc" else 0)
            steps.append(Step(op, count, args[0]))
        else:
            steps.append(Step(op))
    if not steps:
        raise ValueError("the program is empty; write steps such as 'compute 3; sleep 2; exit'")
    return steps


def format_program(steps: list[Step]) -> str:
    return "; ".join(str(step) for step in steps)


@dataclass(eq=False)
class Thread:
    """ETHREAD with the KTHREAD fields the model uses."""

    header: ObjectHeader
    tid: int
    process: Process
    base_priority: int
    priority: int
    program: list[Step]
    system_thread: bool = False  # system threads run only in kernel mode and have no TEB
    teb: int | None = None
    state: ThreadState = ThreadState.Initialized
    wait_reason: WaitReason | None = None
    wake_tick: int | None = None
    pc: int = 0  # index of the current program step
    step_done: int = 0  # ticks already spent on the current step
    quantum: int = 0  # clock ticks left in the current quantum
    last_cpu: int | None = None
    user_ticks: int = 0
    kernel_ticks: int = 0
    create_tick: int = 0
    exit_status: int | None = None
    start_address: str = ""
    waiting_on: DispatcherObject | None = None  # the dispatcher object of the current wait
    wait_status: int = 0  # how the last wait ended: STATUS_WAIT_0, STATUS_TIMEOUT, ...
    register: int = 0  # the value an `inc` loaded and will store plus one
    loaded_version: int = 0  # the variable's version when it was loaded
    repeats_done: int = 0
    held_locks: list[Lock] = field(default_factory=list)  # spin locks and mutexes, in order taken
    work_item: WorkItem | None = None  # the work item a system worker thread is running
    # (IRP, (state, wait reason) before) while it waits for synchronous I/O
    io_wait: tuple[Irp, tuple[ThreadState, WaitReason | None]] | None = None
    # its APC queues (KAPC_STATE.ApcListHead): kernel-mode APCs, special ones first, and
    # user-mode APCs, which wait for an alertable wait
    kernel_apcs: list[Apc] = field(default_factory=list)
    user_apcs: list[Apc] = field(default_factory=list)
    # while a kernel APC took it out of a wait (STATUS_KERNEL_APC): the wait to go back to
    apc_unwaited: tuple[ThreadState, WaitReason | None] | None = None
    alertable: bool = False  # in an alertable wait (SleepEx(N, TRUE)): user APCs end it
    user_apc_pending: bool = False  # UserApcPending: deliver user APCs on return to user mode

    @property
    def label(self) -> str:
        return f"{self.process.image}:{self.tid}"

    @property
    def mode(self) -> str:
        return "K" if self.system_thread else "U"

    @property
    def current_step(self) -> Step | None:
        return self.program[self.pc] if self.pc < len(self.program) else None


@dataclass(eq=False)
class Process:
    """EPROCESS with the fields the model uses."""

    header: ObjectHeader
    pid: int
    image: str
    parent_pid: int | None
    session_id: int
    user: str
    subsystem: Subsystem
    address_space: AddressSpace | None
    base_priority: int = 8
    peb: int | None = None
    critical: bool = False  # RtlSetProcessIsCritical: its death stops the system (0xEF)
    token: Token = field(default_factory=lambda: token_for("SYSTEM"))  # the primary token
    command_line: str = ""
    handle_table: HandleTable = field(default_factory=HandleTable)
    threads: list[Thread] = field(default_factory=list)
    state: ProcessState = ProcessState.Active
    exit_status: int | None = None
    create_tick: int = 0
    exit_tick: int | None = None
    io_buffer: tuple[int, int] | None = None  # the user buffer its I/O uses: address, size

    @property
    def alive(self) -> bool:
        return self.state is ProcessState.Active

    @property
    def live_threads(self) -> list[Thread]:
        return [t for t in self.threads if t.state is not ThreadState.Terminated]


def parse_callback_steps(text: str) -> list[Step]:
    """`compute 1; ExQueueWorkItem` -> steps; names are matched case-insensitively."""
    names = {name.lower(): name for name in CALLBACK_STEPS}
    steps = []
    for number, part in enumerate(text.split(";"), start=1):
        words = part.split()
        if not words:
            continue
        where = f"callback step {number} '{part.strip()}'"
        name = names.get(words[0].lower())
        if name is None:
            valid = ", ".join(f"{n} {a}".strip() for n, (a, _) in CALLBACK_STEPS.items())
            raise ValueError(f"{where}: unknown step; valid: {valid}")
        argument = CALLBACK_STEPS[name][0]
        if len(words) != (2 if argument else 1):
            usage = f"{name} {argument}".strip()
            raise ValueError(f"{where}: write it as '{usage}'")
        if argument == "N":
            steps.append(Step(name, _count(words[1], where)))
        elif argument == "STATUS":
            try:
                status = parse_status(words[1])
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            if nt_success(status):
                raise ValueError(f"{where}: CreationStatus fails the creation, so it takes an "
                                 "error status such as STATUS_ACCESS_DENIED")
            steps.append(Step(name, status, words[1]))
        else:
            steps.append(Step(name, 0, words[1] if argument else ""))
    if not steps:
        raise ValueError("the callback has no steps; e.g. 'compute 1' or 'ExQueueWorkItem'")
    return steps


@dataclass(eq=False)
class NotifyRoutine:
    number: int
    kind: str  # process, thread or image
    driver: DriverObject  # the driver that registered it
    steps: list[Step]
    work: list[Step]  # what its ExQueueWorkItem queues
    subsystems: bool = False  # registered to see subsystem (pico) processes and threads too
    calls: int = 0


class ProcessManager:
    """Ps. Built with the Core and the components a process is made of: the object manager
    (its object and handles), Ke (its threads' scheduling) and Mm (its address space); Io
    (its open files at exit) and Ex (work items notify routines queue) are wired in by
    `System`."""

    io_files: FileIo
    ex: Executive

    def __init__(self, core: Core, ob: ObjectManager, ke: Kernel, mm: MemoryManager) -> None:
        self.core = core
        self.ob = ob
        self.ke = ke
        self.mm = mm
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        self.processes: dict[int, Process] = {}  # every process since boot, exited ones too
        # The live ones, kept at creation and exit: per-command work (status, the default
        # parent, name lookups) scans these, never the whole history.
        self.running: dict[int, Process] = {}
        self.threads: dict[int, Thread] = {}
        self.callbacks: list[NotifyRoutine] = []  # the notify routines drivers registered
        self.console_user = DEFAULT_USER  # who is logged on: new processes run as them

    def new_process(self, image: str, *, pid: int, parent: Process | None, session: int,
                     user: str, subsystem: Subsystem, critical: bool = False,
                     base_priority: int = NORMAL_PRIORITY_BASE) -> Process:
        has_user_half = subsystem is not Subsystem.Minimal
        space = None
        if has_user_half:
            space = self.mm.create_address_space(image, subsystem is Subsystem.Win32)
        process = Process(self.ob.header("Process"), pid, image,
                          parent.pid if parent else None, session, user, subsystem, space,
                          base_priority=base_priority, critical=critical,
                          create_tick=self.core.tick, command_line=image, token=token_for(user))
        if subsystem is Subsystem.Win32:
            assert space is not None  # a Win32 process has a user half (has_user_half)
            peb = space.vad_for(USER_REGION_BASE)
            assert peb is not None  # Mm reserved its PEB first, at USER_REGION_BASE
            process.peb = peb.start
            for path in ("\\KnownDlls", "\\BaseNamedObjects"):
                # 0x0003: DIRECTORY_QUERY | DIRECTORY_TRAVERSE
                process.handle_table.insert(self.ob.lookup(path), 0x0003)
        self.processes[pid] = process
        self.running[pid] = process
        return process

    def new_thread(self, process: Process, priority: int, program: list[Step], *,
                    system_thread: bool = False, waiting: WaitReason | None = None,
                    start_address: str = "") -> Thread:
        thread = Thread(self.ob.header("Thread"), self.core.allocate_cid(), process, priority,
                        priority, program, system_thread=system_thread,
                        create_tick=self.core.tick, start_address=start_address)
        if process.address_space is not None:
            process.address_space.reserve(0x10_0000, f"stack of thread {thread.tid}")
            if process.subsystem is Subsystem.Win32:
                thread.teb = process.address_space.reserve(0x2000, "TEB").start
        process.threads.append(thread)
        self.threads[thread.tid] = thread
        if waiting is None:
            self.ke.ready_thread(thread)
        else:
            thread.state = ThreadState.Waiting
            thread.wait_reason = waiting
        return thread

    def create_process(self, image: str, *, parent: Process | None = None, user: str | None = None,
                       subsystem: Subsystem = Subsystem.Win32, threads: int = 1,
                       priority: int = NORMAL_PRIORITY_BASE,
                       program: list[Step] | None = None) -> Process:
        """NtCreateUserProcess, as the parent's CreateProcess (or the WSL service) calls it."""
        self.core.require_running()
        if program is not None:
            self.ke.check_program(program)
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
        pid = self.core.allocate_cid()
        process = self.new_process(image, pid=pid, parent=parent,
                                    session=parent.session_id if parent else 0,
                                    user=user or (parent.user if parent else self.console_user),
                                    subsystem=subsystem, base_priority=priority)
        self.emit("Ps", "process-create", f"EPROCESS for {image} at {ptr(process.header.address)}: "
                  f"PID {pid}, parent {process.parent_pid}, session {process.session_id}, "
                  f"user {process.user}", "PspAllocateProcess builds the process object; the PID "
                  "comes from the same table as thread IDs, so both are multiples of 4.")
        space = process.address_space
        assert space is not None  # a Win32 or WSL process has a user half
        self.emit("Mm", "address-space", f"private user half created (CR3 "
                  f"{space.directory_table_base:#x}); the kernel half is "
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
        refused = self._notify(
            "process", context, f"PS_CREATE_NOTIFY_INFO {{ ImageFileName={image}, "
            f"CommandLine=\"{process.command_line}\", ParentProcessId={process.parent_pid}, "
            f"CreatingThreadId={self._creator_tid(parent)}, "
            f"IsSubsystemProcess={'TRUE' if pico else 'FALSE'} }}", pico, creating=True)
        if refused is not None:
            # PsSetCreateProcessNotifyRoutineEx: "the operating system ... fails the process
            # creation" when a routine sets CreateInfo->CreationStatus to an error; the
            # process never runs (PS_CREATE_NOTIFY_INFO, ntddk.h).
            self.terminate_process(process, refused, reason=" before it ran: a process notify "
                                   "routine failed its creation")
            if parent is not None:
                self.emit("Ps", "syscall", f"NtCreateUserProcess returns "
                          f"{format_status(refused)} to {parent.image}: kernel → user",
                          mode="U")
            raise NtError(refused, f"a process notify routine set CreationStatus to "
                          f"{format_status(refused)}: {image} was not created")
        if parent is not None:
            self.emit("Ps", "syscall", f"NtCreateUserProcess returns STATUS_SUCCESS to "
                      f"{parent.image}: kernel → user", mode="U")
        self.ke.dispatch()
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
        self.core.require_running()
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
        shell = self.new_process("explorer.exe", pid=self.core.allocate_cid(), parent=winlogon,
                                  session=session, user=user, subsystem=Subsystem.Win32)
        self.new_thread(shell, shell.base_priority, [Step("wait-input")],
                         waiting=WaitReason.UserRequest, start_address="explorer.exe!wWinMain")
        self.emit("Ps", "process-create", f"explorer.exe (PID {shell.pid}) started for {user} "
                  f"in session {session}; new processes now start from it")
        return shell

    def create_thread(self, process: Process, *, priority: int | None = None,
                      program: list[Step] | None = None, announce: bool = True) -> Thread:
        """PspCreateThread: a new thread in process, Ready at its priority."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has exited; it can get no new "
                          "threads")
        if priority is None:
            priority = process.base_priority
        system_thread = process.subsystem is Subsystem.Minimal
        if program is None:
            program = [Step("compute", 2), Step("wait-input")]
        self.ke.check_program(program)
        thread = self.new_thread(process, priority, program, system_thread=system_thread,
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
            self.ke.dispatch()
        return thread

    def terminate_process(self, process: Process, exit_status: int, *, reason: str = "") -> None:
        """PspTerminateProcess: end every thread, close every handle, tear down the user half."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        if process.subsystem is Subsystem.Minimal:
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{process.image} (PID {process.pid}) "
                          "belongs to the kernel and cannot be terminated")
        for thread in process.live_threads:
            self.terminate_thread(thread, exit_status)
        closed = len(process.handle_table.entries)
        self.io_files.run_down_io(process)
        process.handle_table.close_all()
        process.state = ProcessState.Terminated
        del self.running[process.pid]
        process.exit_status = exit_status
        process.exit_tick = self.core.tick
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
        self.ke.dispatch()

    # ----------------------------------------------------------------- boot

    def create_idle_process(self, cpus: int) -> None:
        """The Idle process (PID 0) and one idle thread per processor, which Ke starts."""
        idle = self.new_process("Idle", pid=0, parent=None, session=0, user="SYSTEM",
                                subsystem=Subsystem.Minimal)
        for number in range(cpus):
            thread = Thread(self.ob.header("Thread"), 0, idle, 0, 0, [], system_thread=True,
                            state=ThreadState.Running, start_address="nt!KiIdleLoop")
            idle.threads.append(thread)
            self.ke.start_processor(number, thread)

    def create_system_process(self, workers: int) -> None:
        """PspInitPhase0: the System process (PID 4), with the executive's worker threads
        waiting on their queue (ExpWorkerThread)."""
        system = self.new_process("System", pid=4, parent=None, session=0, user="SYSTEM",
                                  subsystem=Subsystem.Minimal, critical=True)
        for _ in range(workers):
            self.new_thread(system, NORMAL_PRIORITY_BASE + 5, [Step("dequeue")],
                            system_thread=True, waiting=WaitReason.WrQueue,
                            start_address="nt!ExpWorkerThread")

    def start_boot_processes(self) -> None:
        """smss.exe and what it starts, down to the console user's explorer.exe."""
        for image, parent_image, session, user, critical in BOOT_PROCESSES:
            parent = next(p for p in reversed(self.processes.values())
                          if p.image == parent_image)
            process = self.new_process(image, pid=self.core.allocate_cid(), parent=parent,
                                       session=session, user=user, subsystem=Subsystem.Win32,
                                       critical=critical)
            self.new_thread(process, process.base_priority, [Step("wait-input")],
                            waiting=WaitReason.UserRequest, start_address=f"{image}!wWinMain")
            self.emit("Ps", "boot", f"{image} (PID {process.pid}) started in session {session}"
                      + (", marked critical" if critical else ""))

    def notify_routines(self, kind: str) -> list[NotifyRoutine]:
        """The routines of kind (process, thread, image, registry), in registration order."""
        return [c for c in self.callbacks if c.kind == kind]

    def lookup_process(self, pid: int) -> Process:
        """PsLookupProcessByProcessId, for a PID the caller knows exists (exited or not)."""
        return self.processes[pid]

    @property
    def system_process(self) -> Process:
        """PsInitialSystemProcess: PID 4, whose threads run only in kernel mode."""
        return self.processes[4]

    def terminate_thread(self, thread: Thread, exit_status: int) -> None:
        """PspTerminateThreadByPointer: Ke takes the thread off the processors."""
        self.ke.terminate_thread(thread)
        thread.exit_status = exit_status

    def crash_process(self, process: Process, address: int = 0, *,
                      thread: Thread | None = None) -> None:
        """A thread of the process touches an invalid address (`process crash`, or a `touch`
        Mm refuses): Ke takes the page fault; a user-mode one that nothing handles ends that
        process, nothing else (`unhandled_exception`)."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        threads = process.live_threads
        if not threads:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                          f"{process.image} (PID {process.pid}) has no thread left to fault")
        self.ke.page_fault(thread or threads[0], address)

    def unhandled_exception(self, thread: Thread) -> None:
        """KiDispatchException handed a user-mode exception back to the thread, and nothing
        handled it: the unhandled-exception filter (or, for a pico process, the SIGSEGV
        lxcore.sys delivers) ends the process."""
        process = thread.process
        if process.subsystem is Subsystem.WSL:
            self.emit("Ps", "exception", f"lxcore.sys delivers SIGSEGV to {process.image}; it "
                      "has no handler and dies", mode="U")
        else:
            self.emit("Ps", "exception", "no handler takes it: the unhandled-exception filter "
                      "(Windows Error Reporting) ends the process", mode="U")
        self.terminate_process(process, NtStatus.STATUS_ACCESS_VIOLATION,
                               reason=" after an unhandled access violation")

    def live_processes(self) -> list[Process]:
        return list(self.running.values())

    def all_threads(self) -> list[Thread]:
        idle = [cpu.idle_thread for cpu in self.core.processors]
        return idle + list(self.threads.values())

    def handle_count(self) -> int:
        return sum(len(p.handle_table.entries) for p in self.running.values())

    # ----------------------------------------------------------------- notify routines

    def register_callback(self, kind: str, driver: DriverObject, steps: list[Step],
                          work: list[Step], subsystems: bool = False) -> NotifyRoutine:
        """PsSetCreateProcessNotifyRoutineEx2 and friends: a slot in a fixed-size array."""
        self.core.require_running()
        api, limit = NOTIFY_KINDS[kind]
        taken = sum(1 for c in self.callbacks if c.kind == kind)
        if limit is not None and taken >= limit:
            # PsSetCreateProcessNotifyRoutine[Ex] returns STATUS_INVALID_PARAMETER when its
            # array is full; the thread and image routines' registration returns
            # STATUS_INSUFFICIENT_RESOURCES (their WDK pages: nf-ntddk-pssetcreatethread
            # notifyroutine, nf-ntddk-pssetloadimagenotifyroutine, "Return value").
            status = NtStatus.STATUS_INVALID_PARAMETER if kind == "process" \
                else NtStatus.STATUS_INSUFFICIENT_RESOURCES
            raise NtError(status, f"{api}: all {limit} {kind} notify slots are taken; the "
                          "kernel refuses more")
        self.ke.check_program(work)
        if any(s.op == "KeWaitForSingleObject" for s in steps):
            for step in steps:
                if step.op == "KeWaitForSingleObject":
                    self.ke.sync_object(step.name)
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

    def _notify(self, kind: str, context: str, fields: str, subsystem: bool,
                creating: bool = False) -> int | None:
        """Call every routine of kind, in registration order, in the creating thread's
        context at PASSIVE_LEVEL inside a critical region (normal kernel APCs disabled).
        At a process's creation, returns the error status a routine set in
        CreateInfo->CreationStatus (the first one; the routines after it still run)."""
        refused = None
        for routine in [c for c in self.callbacks if c.kind == kind]:
            if subsystem and not routine.subsystems:
                continue
            routine.calls += 1
            self.emit("Ps", "notify", f"{routine.driver.name}'s {kind} notify routine "
                      f"#{routine.number} runs in {context}: {fields}",
                      "Notify routines run synchronously in the thread that caused the event; "
                      "whatever they do, that thread — and the creation — waits for.")
            status = self._run_callback(routine, context, creating)
            if refused is None:
                refused = status
        return refused

    def _run_callback(self, routine: NotifyRoutine, context: str,
                      creating: bool = False) -> int | None:
        """Run a routine's steps; returns the CreationStatus it set, if it set one."""
        who = f"{routine.driver.name} #{routine.number}"
        refused = None
        for step in routine.steps:
            rule = CALLBACK_STEPS[step.op][1]
            if step.op == "CreationStatus":
                if creating and routine.kind == "process":
                    refused = step.count
                    self.emit("Ps", "notify-work", f"{who} sets CreateInfo->CreationStatus = "
                              f"{format_status(step.count)}: the creation fails",
                              "A process notify routine registered with "
                              "PsSetCreateProcessNotifyRoutineEx or Ex2 can refuse a process: "
                              "NtCreateUserProcess returns that status and the process never "
                              "runs.")
                else:
                    self.emit("Ps", "notify-work", f"{who} sets CreationStatus, which only a "
                              "process routine's CreateInfo has, at a creation: no effect here")
                continue
            if step.op == "compute":
                slow = step.count > SLOW_CALLBACK_TICKS
                self.emit("Ps", "notify-work", f"{who} works inline for {step.count} tick(s)"
                          + (": GUIDELINE BROKEN — keep notify routines short; every process "
                             f"creation now waits {step.count} ticks for this driver" if slow
                             else ""))
            elif step.op == "DenyAccess":
                self.emit("Ps", "notify-work", f"{who} returns STATUS_ACCESS_DENIED: a "
                          "notify routine returns nothing, so this changes nothing (a registry "
                          "callback refuses by its return; a process routine refuses a "
                          "creation with CreationStatus)")
            elif step.op == "ExQueueWorkItem":
                self.ex.queue_work_item(routine.driver, routine.work, by=who)
            elif step.op == "KeWaitForSingleObject":
                obj = self.ke.sync_object(step.name)
                if isinstance(obj, DispatcherObject) and obj.signaled:
                    self.emit("Ps", "notify-wait", f"{who} waits on {step.name}: signaled, "
                              "returns at once — but " + rule.split(":")[0])
                else:
                    self.emit("Ps", "guideline", f"{who} waits on {step.name}, not signaled: "
                              f"GUIDELINE BROKEN — {rule}. Consequence: a stall of {context}")
            elif step.op == "WaitForWorkItem":
                item = self.ex.latest_work_item(routine.driver.name)
                state = "already done" if item and item.done else "not done yet"
                self.emit("Ps", "guideline", f"{who} waits for its own work item "
                          f"({state}): GUIDELINE BROKEN — {rule}")
            else:
                self.emit("Ps", "guideline", f"{who} calls {step.op}: GUIDELINE BROKEN — {rule}")
        return refused
