"""Process and thread manager (Ps): EPROCESS and ETHREAD, and the programs threads run.

A process is a container: an address space, a handle table, a token, and threads. Threads
are what the dispatcher schedules. Win32 processes have a PEB and their threads TEBs; WSL
(pico) processes have neither, because the subsystem's own provider (lxcore.sys) keeps that
state. A thread runs a small program of steps (`compute 3; sleep 2; exit`), enough to show
time slicing and waits; the model does not execute real instructions. Drivers register
notify routines (PsSetCreateProcessNotifyRoutineEx2 and friends) that run whenever a process,
thread or image comes or goes, each in the thread the WDK names: process routines in the
creating thread, then (PsCreateThreadNotifyNonSystem) thread routines on the new thread and
the main image's routines in the new process, before its entry point; at exit, each thread's
routines in that thread (Create = FALSE), the process routines in its last one.

A routine's cost is real: its inline `compute` and blocking `KeWaitForSingleObject` are kernel
work the thread it runs in must do (Ke runs them as a `Detour` of that thread's program,
kernel ticks and a wait with WaitReason Executive), and the new process's threads cannot start
until the creating thread's share is done and NtCreateUserProcess returns.

State (`ProcessManager`): `processes`, by PID, the live ones and the exited ones the model
still keeps (below); `running`, the live ones; `exited`, the latest exited ones, oldest first;
`held`, older exited ones something still references; `threads`, the threads of every process
kept, by TID; `callbacks`, the notify routines drivers registered (registry callbacks among
them, which Cm calls); `console_user`, who is logged on at the console.

An exited process is kept while something references it, as Windows keeps a process object
until its last reference goes (ObDereferenceObject; the object's delete procedure,
PspDeleteProcess, then frees its PID: ReactOS ntoskrnl/ps/kill.c), and the latest
EXITED_KEEP exited ones are kept besides, so that `ps` can show them dimmed and `process show`
and expectations can name them. Older ones that nothing references are forgotten, PID and
threads: a long lab creates tens of thousands of processes. What references one in the
model: a handle in another process's table (OpenProcess; its header's handle and pointer
counts), and an IRP one of its threads asked for that no driver has completed yet (a thread
keeps its process referenced until it is deleted: PspDeleteThread's ObDereferenceObject).

Reached: System builds it with the Core, the object manager (process and thread objects,
handles), Ke (which schedules the threads) and Mm (address spaces), and wires in FileIo
(`io_files`: a dying process's open files) and Ex (`ex`: the work items notify routines
queue). Ke, Ex, Mm, Cm, Pnp and FileIo call into it.

Simplifications: no jobs, no impersonation; three fixed users (se.USERS), one at
the console at a time; a thread program stands for the instructions a thread executes;
Idle and System are "minimal" processes, with no user half. A notify routine's trace lines
appear when the command runs, in the order Windows calls the routines; only its time and
waits are deferred to the thread that pays them. The creating thread is the parent's first
thread that could have made the call (running, ready, or waiting for input); a System
parent's worker threads are not charged. Routines at exit, and at a creation another routine
refused, are not charged: the thread ends at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, NoReturn

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
from kmshell.nt.ke.sync import DispatcherObject, KEvent, KSemaphore, KTimer, Lock
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import USER_REGION_BASE, AddressSpace, routine_address
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
# The longest image name CreateProcess takes: the module name of its command line "is limited
# to MAX_PATH characters" (CreateProcessW, lpCommandLine, https://learn.microsoft.com/en-us/
# windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw), and MAX_PATH, 260
# (minwindef.h), counts the terminating NUL ("Maximum Path Length Limitation",
# https://learn.microsoft.com/en-us/windows/win32/fileio/maximum-file-path-limitation), so 259
# characters. NtCreateUserProcess would take more (ImagePathName is a UNICODE_STRING, up to
# 32,767 characters), but a CreateProcess caller never gets that far: kernel32 fails the call
# with STATUS_NAME_TOO_LONG, which GetLastError gives as ERROR_FILENAME_EXCED_RANGE (206).
# A WSL image name is not checked (Linux's limits are NAME_MAX per component, PATH_MAX).
MAX_PATH = 260

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
TIMED_STEPS = {"compute", "inc", "syscall", "kernel-work"}  # take clock ticks; the rest none
# Steps only Ps puts in a thread's program (a Detour), never typed: a notify routine's inline
# work (kernel mode, timed), its kernel-mode wait, and the return to what the thread was doing.
KERNEL_MODE_STEPS = ("syscall", "kernel-work")
DETOUR_STEPS = ("KeWaitForSingleObject", "return")
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
    "KeWaitForSingleObject": ("OBJECT [T]", "do not make blocking calls from a notify routine: the "
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
# Where the kernel calls each kind of routine from (nt!PspCallProcessNotifyRoutines, ...,
# nt!CmpCallCallBacks, nt!ObpCallPreOperationCallbacks, in the model's ntoskrnl): the
# address that references a routine, 0xCE's third parameter when the routine is gone.
CALLERS = {"process": 0xFFFFF805_1A2C1010, "thread": 0xFFFFF805_1A2C1120,
           "image": 0xFFFFF805_1A2C1230, "registry": 0xFFFFF805_1A2C1340,
           "object": 0xFFFFF805_1A2C1450}
PROCESS_TERMINATE = 0x0001  # winnt.h
PICO_CREATE = "PspCreatePicoProcess"  # PS_PICO_ROUTINES.CreateProcess, the provider calls it
SLOW_CALLBACK_TICKS = 1  # keep notify routines short: more inline work than this is flagged
# Exited processes kept besides those still referenced: the latest ones, for `ps` (which shows
# the latest exited after the running ones), `process show` and expectations. Every lesson
# ends far fewer processes; a long lab's older ones are forgotten (see the module docstring).
EXITED_KEEP = 1_000


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
    kernel_stack_peak: int = 0  # the most of its kernel stack driver code has used (bytes)
    work_item: WorkItem | None = None  # the work item a system worker thread is running
    detour: Detour | None = None  # kernel work it does before going on with its program
    create_reported: bool = True  # False while a creation's notify routines may refuse it
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
class Detour:
    """Kernel work a thread does before it goes on with its own program: the notify routines
    that run in it. Ke runs `steps` then a `return` step, which puts back the program as it
    was and readies `releases` (a new process's threads: none starts before its creation
    returns)."""

    steps: list[Step]
    api: str  # what returns at the end: NtCreateUserProcess, or the new thread's start
    releases: list[Thread] = field(default_factory=list)
    program: list[Step] = field(default_factory=list)  # the thread's own, put aside
    pc: int = 0
    step_done: int = 0
    repeats_done: int = 0


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

    @property
    def first_live_thread(self) -> Thread | None:
        """The oldest thread not yet terminated, found without listing them all: creating
        thread after thread in one process asks each time."""
        return next((t for t in self.threads if t.state is not ThreadState.Terminated), None)


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
        needed = len(argument.split()) - argument.count("[")
        if not needed <= len(words) - 1 <= len(argument.split()):
            usage = f"{name} {argument}".strip()
            raise ValueError(f"{where}: write it as '{usage}'")
        if argument == "OBJECT [T]":  # KeWaitForSingleObject with an optional timeout
            timeout = _count(words[2], where) if len(words) > 2 else 0
            steps.append(Step(name, timeout, words[1]))
        elif argument == "N":
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
    name: str = ""  # the routine's name in its driver's spec ([notify]); "" for `callback`
    altitude: str = ""  # a registry callback's (CmRegisterCallbackEx)


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
        self.processes: dict[int, Process] = {}  # the live ones and the exited ones kept
        # The live ones, kept at creation and exit: per-command work (status, the default
        # parent, name lookups) scans these, never the whole history.
        self.running: dict[int, Process] = {}
        self.exited: deque[Process] = deque()  # the latest EXITED_KEEP exited, oldest first
        self.held: list[Process] = []  # exited before those, and still referenced
        self.sessions = 0  # the highest session number so far (a logon takes the next)
        self.shells: list[Process] = []  # explorer.exe processes, newest last (console_shell)
        self.threads: dict[int, Thread] = {}
        self.live_thread_count = 0  # threads not yet terminated, for `status` (an invariant)
        self.callbacks: list[NotifyRoutine] = []  # the notify routines drivers registered
        self.console_user = DEFAULT_USER  # who is logged on: new processes run as them
        self.pico_provider_seen = False  # lxcore.sys's registration is told at first WSL use

    def new_process(self, image: str, *, pid: int, parent: Process | None, session: int,
                     user: str, subsystem: Subsystem, critical: bool = False,
                     base_priority: int = NORMAL_PRIORITY_BASE) -> Process:
        has_user_half = subsystem is not Subsystem.Minimal
        space = None
        if has_user_half:
            space = self.mm.create_address_space(image, subsystem is Subsystem.Win32, pid)
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
        self.sessions = max(self.sessions, session)
        if image == "explorer.exe":
            self.shells.append(process)
        return process

    def new_thread(self, process: Process, priority: int, program: list[Step], *,
                    system_thread: bool = False, waiting: WaitReason | None = None,
                    start_address: str = "", held: bool = False) -> Thread:
        thread = Thread(self.ob.header("Thread"), self.core.allocate_cid(), process, priority,
                        priority, program, system_thread=system_thread,
                        create_tick=self.core.tick, start_address=start_address)
        space = process.address_space
        if space is not None:
            # 1 MB reserved, its top page committed and a guard page below it: the linker's
            # defaults (https://learn.microsoft.com/en-us/windows/win32/procthread/thread-stack-size)
            self.mm.allocate_virtual(space, 0x10_0000, f"stack of thread {thread.tid}",
                                     commit=0x2000)
            if process.subsystem is Subsystem.Win32:
                thread.teb = self.mm.allocate_virtual(space, 0x2000, "TEB").start
        process.threads.append(thread)
        self.threads[thread.tid] = thread
        self.live_thread_count += 1
        if waiting is not None:
            thread.state = ThreadState.Waiting
            thread.wait_reason = waiting
        elif not held:  # a held thread stays Initialized until its creation returns
            self.ke.ready_thread(thread)
        return thread

    def create_process(self, image: str, *, parent: Process | None = None, user: str | None = None,
                       subsystem: Subsystem = Subsystem.Win32, threads: int = 1,
                       priority: int = NORMAL_PRIORITY_BASE,
                       program: list[Step] | None = None) -> Process:
        """NtCreateUserProcess as the parent's CreateProcess calls it; for WSL, the pico
        provider's create routine (PspCreatePicoProcess)."""
        self.core.require_running()
        if program is not None:
            self.ke.check_program(program)
        if user is not None and user not in USERS:
            raise NtError(NtStatus.STATUS_NO_SUCH_USER, f"no user named '{user}'; users: "
                          + ", ".join(USERS))
        if subsystem is Subsystem.Win32 and len(image) >= MAX_PATH:
            raise NtError(NtStatus.STATUS_NAME_TOO_LONG, f"the image name is {len(image)} "
                          f"characters; CreateProcess takes at most {MAX_PATH - 1} (MAX_PATH, "
                          f"{MAX_PATH}, counts the terminating NUL)")
        if parent is None:
            parent = self.console_shell()
        creator = self._creating_thread(parent)
        pico = subsystem is Subsystem.WSL
        api = PICO_CREATE if pico else "NtCreateUserProcess"
        if pico:
            self._pico_create(parent)
        elif parent is not None:
            self.emit("Ps", "syscall", f"{parent.image} (PID {parent.pid}) calls CreateProcess → "
                      "NtCreateUserProcess: system call, user → kernel", "Creating a process is "
                      "kernel work: the caller's thread switches to kernel mode through the "
                      "system-call path.", mode="U")
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
        new = [self._new_thread(process, priority, program, held=True) for _ in range(threads)]
        context = self._context(parent, creator)
        costs: dict[Thread, list[Step]] = {}
        # Process routines first, in the creating thread; then each new thread's routines; then
        # the main image's, in the new process (ReactOS ps/process.c PspCreateProcess calls
        # PspRunCreateProcessNotifyRoutines before ps/thread.c PspCreateThread calls
        # PspRunCreateThreadNotifyRoutines; dbgk/dbgkutil.c DbgkCreateThread calls the image
        # routines for the main image as the first thread starts; WDK
        # nc-ntddk-pload_image_notify_routine: "runs in the context of the new process").
        refused = self._notify(
            "process", f"PS_CREATE_NOTIFY_INFO {{ ImageFileName={image}, "
            f"CommandLine=\"{process.command_line}\", ParentProcessId={process.parent_pid}, "
            f"CreatingThreadId={creator.tid if creator else self._creator_tid(parent)}, "
            f"IsSubsystemProcess={'TRUE' if pico else 'FALSE'} }}", pico, context, creator, costs,
            creating=True)
        if refused is not None:
            # PsSetCreateProcessNotifyRoutineEx: "the operating system ... fails the process
            # creation" when a routine sets CreateInfo->CreationStatus to an error; the
            # process never runs (PS_CREATE_NOTIFY_INFO, ntddk.h).
            self.terminate_process(process, refused, reason=" before it ran: a process notify "
                                   "routine failed its creation")
            if parent is not None:
                self.emit("Ps", "syscall", f"{api} returns {format_status(refused)} to "
                          f"{parent.image}: kernel → user", mode="U")
            raise NtError(refused, f"a process notify routine set CreationStatus to "
                          f"{format_status(refused)}: {image} was not created")
        for thread in new:
            self._notify_thread_created(thread, context, creator, costs)
        self._notify("image", f"image {image} mapped into PID {pid}", pico,
                     f"the new process, on its thread {new[0].label}, before the image's entry "
                     "point", new[0], costs)
        self._start(new, creator, costs, api, parent.image if parent else "")
        return process

    def _pico_create(self, parent: Process | None) -> None:
        """How a pico process comes to be: lxcore.sys, registered with the kernel as the pico
        provider (PsRegisterPicoProvider, open only to a boot driver: later callers get
        STATUS_TOO_LATE), calls the kernel's PS_PICO_ROUTINES.CreateProcess; no
        NtCreateUserProcess, no ntdll, no PEB (thinkcz/pico-toolbox picostruct.h, from
        ntosp.h; learn.microsoft.com/archive/blogs/wsl/pico-process-overview)."""
        if not self.pico_provider_seen:
            self.pico_provider_seen = True
            self.emit("Ps", "pico", "lxcore.sys registered with the kernel as the pico provider "
                      "at boot (PsRegisterPicoProvider): the kernel gave it PS_PICO_ROUTINES "
                      "(CreateProcess, CreateThread, ...) and will send it its processes' "
                      "system calls and exceptions", "Only a boot driver can become a pico "
                      "provider; a later PsRegisterPicoProvider returns STATUS_TOO_LATE.")
        if parent is not None and parent.subsystem is Subsystem.WSL:
            caller = f"{parent.image} (PID {parent.pid}) forks/execs: a Linux system call"
        elif parent is not None:
            caller = (f"{parent.image} (PID {parent.pid}) asks the WSL service (LxssManager), "
                      "which asks lxcore.sys through its device")
        else:
            caller = "the WSL service asks lxcore.sys"
        self.emit("Ps", "pico", f"{caller}; lxcore.sys creates the process with "
                  "PS_PICO_ROUTINES.CreateProcess (PspCreatePicoProcess), not "
                  "NtCreateUserProcess", "A pico process is built by its provider: the kernel "
                  "makes a minimal process and leaves the user half to the provider.")

    def _start(self, threads: list[Thread], creator: Thread | None,
               costs: dict[Thread, list[Step]], api: str, caller: str) -> None:
        """The creation returns: at once, or once the creating thread has done the notify
        routines' work charged to it. New threads pay their own share before their start."""
        for thread, steps in costs.items():
            if thread is not creator and steps:
                self.ke.detour_thread(thread, Detour(_merged(steps), thread.start_address))
        own = _merged(costs.get(creator, [])) if creator is not None else []
        if creator is not None and own:
            ticks = sum(s.count for s in own if s.op == "kernel-work")
            waits = [s.name for s in own if s.op == "KeWaitForSingleObject"]
            self.emit("Ps", "notify-cost", f"{creator.label} must do the notify routines' "
                      f"work before {api} returns: {ticks} tick(s) in kernel mode"
                      + (f", a wait on {', '.join(waits)}" if waits else "")
                      + f"; {', '.join(t.label for t in threads)} cannot start until then",
                      "A notify routine is a call inside the creation: its time is the "
                      "creating thread's time, and the new thread is not readied before the "
                      "creation returns.")
            self.ke.detour_thread(creator, Detour(own, api, releases=threads))
        else:
            self.creation_returns(Detour([], api, releases=threads), caller)
        self.ke.dispatch()

    def creation_returns(self, detour: Detour, caller: str) -> None:
        """The end of a creation (Ke calls it at a detour's `return`): its threads may run."""
        for thread in detour.releases:
            if thread.state is ThreadState.Initialized:
                self.ke.ready_thread(thread)
        if detour.api == PICO_CREATE and detour.releases:
            self.emit("Ps", "pico", f"{PICO_CREATE} returns STATUS_SUCCESS to lxcore.sys; the "
                      "new thread(s) are Ready")
        elif caller and detour.releases:
            self.emit("Ps", "syscall", f"{detour.api} returns STATUS_SUCCESS to {caller}: "
                      "kernel → user", mode="U")

    @staticmethod
    def _context(parent: Process | None, creator: Thread | None) -> str:
        if creator is not None:
            return f"{creator.process.image}'s creating thread ({creator.label})"
        return f"{parent.image}'s creating thread" if parent else "the System process"

    def _creating_thread(self, process: Process | None) -> Thread | None:
        """The thread that makes the call: the process's first thread that could have (one
        running, ready or waiting for input, not already inside a creation)."""
        for thread in process.threads if process else []:
            if thread.state is ThreadState.Terminated:
                continue
            free = thread.state in (ThreadState.Running, ThreadState.Ready) or (
                thread.wait_reason is WaitReason.UserRequest and thread.waiting_on is None
                and thread.wake_tick is None)
            if free and not thread.system_thread and thread.detour is None:
                return thread
        return None

    @staticmethod
    def _creator_tid(parent: Process | None) -> int:
        thread = parent.first_live_thread if parent else None
        return thread.tid if thread else 0

    def console_shell(self) -> Process | None:
        """The shell of whoever logged on last: the newest explorer.exe still running. Found
        from the shells' own list, newest last, not by scanning every live process: every
        creation asks, and a lab may run thousands of processes."""
        while self.shells and not self.shells[-1].alive:
            self.shells.pop()
        return self.shells[-1] if self.shells else self.processes.get(4)

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
        session = self.sessions + 1
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
                      program: list[Step] | None = None) -> Thread:
        """PspCreateThread: a new thread in process (CreateThread from one of its threads),
        Ready at its priority once its notify routines have run."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has exited; it can get no new "
                          "threads")
        creator = self._creating_thread(process)
        thread = self._new_thread(process, priority, program, held=True)
        costs: dict[Thread, list[Step]] = {}
        self._notify_thread_created(thread, self._context(process, creator), creator, costs)
        self._start([thread], creator, costs, "NtCreateThreadEx", "")
        return thread

    def _new_thread(self, process: Process, priority: int | None, program: list[Step] | None,
                    held: bool) -> Thread:
        """The thread object, its stack and TEB; held (Initialized) until its creation
        returns."""
        if priority is None:
            priority = process.base_priority
        system_thread = process.subsystem is Subsystem.Minimal
        if program is None:
            program = [Step("compute", 2), Step("wait-input")]
        self.ke.check_program(program)
        thread = self.new_thread(process, priority, program, system_thread=system_thread,
                                  start_address=f"{process.image}!ThreadStart", held=held)
        thread.create_reported = False
        teb = (f"TEB at {thread.teb:#x}" if thread.teb is not None
               else "no TEB" + (" (system thread)" if system_thread else " (pico thread)"))
        self.emit("Ps", "thread-create", f"thread {thread.tid} created in {process.image} "
                  f"(PID {process.pid}): {teb}, priority {priority}, program "
                  f"'{format_program(program)}'", "A thread is what the processor runs; its "
                  "kernel stack and KTHREAD live in the kernel half, its TEB in the user half.")
        return thread

    def _notify_thread_created(self, thread: Thread, context: str, creator: Thread | None,
                               costs: dict[Thread, list[Step]]) -> None:
        process = thread.process
        self._notify("thread", f"ProcessId={process.pid}, ThreadId={thread.tid}, Create=TRUE",
                     process.subsystem is Subsystem.WSL, context, creator, costs,
                     new_thread=thread)
        thread.create_reported = True

    def terminate_process(self, process: Process, exit_status: int, *, reason: str = "") -> None:
        """PspTerminateProcess: every thread exits (PspExitThread, each calling the thread
        notify routines); the last one calls the process routines, and only then are the
        handles closed (ObKillProcess) and the user half torn down (ReactOS ps/kill.c:
        PspExitThread → PspExitProcess(TRUE) → PspRunCreateProcessNotifyRoutines, before
        ObKillProcess and MmCleanProcessAddressSpace)."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        if process.subsystem is Subsystem.Minimal:
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{process.image} (PID {process.pid}) "
                          "belongs to the kernel and cannot be terminated")
        for thread in process.live_threads:
            self.terminate_thread(thread, exit_status)
        last = process.threads[-1].label if process.threads else process.image
        self._notify("process", f"ProcessId={process.pid}, CreateInfo=NULL (the process is "
                     "exiting)", process.subsystem is Subsystem.WSL,
                     f"the last thread of {process.image} ({last}) as it exits", None, {})
        closed = len(process.handle_table.entries)
        self.io_files.run_down_io(process)
        process.handle_table.close_all()
        process.state = ProcessState.Terminated
        del self.running[process.pid]
        process.exit_status = exit_status
        process.exit_tick = self.core.tick
        if process.address_space is not None:
            self.mm.delete_address_space(process.address_space)
        self.emit("Ps", "process-exit", f"{process.image} (PID {process.pid}) terminated with "
                  f"exit status {format_status(exit_status)}{reason}: "
                  f"{len(process.threads)} thread(s) ended, {closed} handle(s) closed, user "
                  "half freed", "Ending a process ends its threads and closes its handles; the "
                  "process object itself lives on while anyone still references it.")
        self.exited.append(process)
        self._forget_exited()
        if process.critical:
            self.bugcheck(BugCheck.CRITICAL_PROCESS_DIED, (process.header.address, 0, 0, 0),
                          driver=process.image, routine="PspCatchCriticalBreak",
                          rule=f"{process.image} is a critical process "
                          "(RtlSetProcessIsCritical): Windows cannot run without it, so its "
                          "death stops the machine even though the fault was in user mode.",
                          fix="Never end a critical system process; find why it died (a crash "
                          "dump of that process, not of the kernel).")
        self.ke.dispatch()

    def _forget_exited(self) -> None:
        """Forget exited processes past the latest EXITED_KEEP that nothing references any
        more (their PIDs and threads go, as PspDeleteProcess and PspDeleteThread free them);
        one still referenced is held until its last reference goes."""
        if len(self.exited) <= EXITED_KEEP and not self.held:
            return
        asked = self.io_files.processes_with_io_in_progress()
        while len(self.exited) > EXITED_KEEP:
            self.held.append(self.exited.popleft())
        held, self.held = self.held, []
        for process in held:
            if self._referenced(process, asked):
                self.held.append(process)
            else:
                self._forget(process)

    @staticmethod
    def _referenced(process: Process, asked: set[Process]) -> bool:
        """A handle to it is open (its object's handle and pointer counts: the 1 left is the
        reference its own record stands for), or an IRP one of its threads asked for is
        still in progress."""
        header = process.header
        return header.handle_count > 0 or header.pointer_count > 1 or process in asked

    def _forget(self, process: Process) -> None:
        """The last reference went: the process object and its threads are deleted."""
        del self.processes[process.pid]
        for thread in process.threads:
            del self.threads[thread.tid]
        process.header.pointer_count = 0

    # ----------------------------------------------------------------- boot

    def create_idle_process(self, cpus: int) -> None:
        """The Idle process (PID 0) and one idle thread per processor, which Ke starts."""
        idle = self.new_process("Idle", pid=0, parent=None, session=0, user="SYSTEM",
                                subsystem=Subsystem.Minimal)
        for number in range(cpus):
            thread = Thread(self.ob.header("Thread"), 0, idle, 0, 0, [], system_thread=True,
                            state=ThreadState.Running, start_address="nt!KiIdleLoop")
            idle.threads.append(thread)
            self.live_thread_count += 1
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
        """PspExitThread: the thread notify routines run in the exiting thread, Create =
        FALSE (ReactOS ps/kill.c PspExitThread → PspRunCreateThreadNotifyRoutines(Thread,
        FALSE); WDK nc-ntddk-pcreate_thread_notify_routine: "in the context of this thread
        when the thread exits"), then Ke takes it off the processors. A thread whose creation
        was refused before its routines saw it never ran, so nothing is reported."""
        if thread.create_reported:
            self._notify("thread", f"ProcessId={thread.process.pid}, ThreadId={thread.tid}, "
                         "Create=FALSE", thread.process.subsystem is Subsystem.WSL,
                         f"the exiting thread {thread.label}", None, {})
        detour = thread.detour
        self.ke.terminate_thread(thread)
        self.live_thread_count -= 1
        thread.exit_status = exit_status
        if detour is not None and detour.releases:
            # Termination reaches a thread when its system call returns: the creation it was
            # making completes first.
            thread.detour = None
            self.creation_returns(detour, thread.process.image)

    def crash_process(self, process: Process, address: int = 0, *,
                      thread: Thread | None = None) -> None:
        """A thread of the process touches an invalid address (`process crash`, or a `touch`
        Mm refuses): Ke takes the page fault; a user-mode one that nothing handles ends that
        process, nothing else (`unhandled_exception`)."""
        self.core.require_running()
        if not process.alive:
            raise NtError(NtStatus.STATUS_PROCESS_IS_TERMINATING,
                          f"{process.image} (PID {process.pid}) has already exited")
        first = process.first_live_thread
        if first is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                          f"{process.image} (PID {process.pid}) has no thread left to fault")
        self.ke.page_fault(thread or first, address)

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
                          work: list[Step], subsystems: bool = False, *, name: str = "",
                          api: str = "", altitude: str = "") -> NotifyRoutine:
        """PsSetCreateProcessNotifyRoutineEx2 and friends: a slot in a fixed-size array. A
        driver's own routine (name, from its spec) is registered once; a registry callback
        takes an altitude no other one holds (CmRegisterCallbackEx's page)."""
        self.core.require_running()
        default_api, limit = NOTIFY_KINDS[kind]
        api = api or default_api
        if name and any(c.kind == kind and c.driver is driver and c.name == name
                        for c in self.callbacks):
            status = NtStatus.STATUS_INVALID_PARAMETER if kind == "process" \
                else NtStatus.STATUS_INSUFFICIENT_RESOURCES
            raise NtError(status, f"{api}: {driver.name}'s {name} is already registered")
        held = next((c for c in self.callbacks if altitude and c.altitude == altitude), None)
        if held is not None:
            raise NtError(NtStatus.STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, f"{api}: "
                          f"{held.driver.name} already holds altitude {altitude}")
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
        for step in steps:
            if step.op == "KeWaitForSingleObject" and \
                    not isinstance(self.ke.sync_object(step.name), (KEvent, KSemaphore, KTimer)):
                raise NtError(NtStatus.STATUS_OBJECT_TYPE_MISMATCH, f"'{step}': a notify "
                              "routine's KeWaitForSingleObject waits for an event, a semaphore "
                              "or a timer")
        number = max((c.number for c in self.callbacks), default=0) + 1
        routine = NotifyRoutine(number, kind, driver, steps, work, subsystems, name=name,
                                altitude=altitude)
        self.callbacks.append(routine)
        flavour = ""
        if subsystems:
            flavour = (" with PsCreateThreadNotifySubsystems" if kind == "thread"
                       else " with PsCreateProcessNotifySubsystems")
        self.emit("Ps", "callback", f"{driver.name} registers {kind} notify routine #{number} "
                  + (f"{name} " if name else "") + f"({api}{flavour})"
                  + (f": slot {taken + 1} of {limit}" if limit else "")
                  + (f" at altitude {altitude}" if altitude else ""))
        return routine

    def remove_routine(self, kind: str, driver: DriverObject, name: str, api: str) -> None:
        """PsSetCreateProcessNotifyRoutineEx(Remove = TRUE), PsRemoveCreateThreadNotifyRoutine,
        PsRemoveLoadImageNotifyRoutine, CmUnRegisterCallback: the driver's routine `name`.
        Not registered: STATUS_PROCEDURE_NOT_FOUND (the Ps pages), STATUS_INVALID_PARAMETER
        for CmUnRegisterCallback (its page: a cookie that matches no callback)."""
        routine = next((c for c in self.callbacks
                        if c.kind == kind and c.driver is driver and c.name == name), None)
        if routine is None:
            status = NtStatus.STATUS_INVALID_PARAMETER if kind == "registry" \
                else NtStatus.STATUS_PROCEDURE_NOT_FOUND
            raise NtError(status, f"{api}: {driver.name} has no {kind} routine {name} "
                          "registered")
        self.callbacks.remove(routine)
        self.emit("Ps", "callback", f"{api}: {driver.name} removes its {kind} notify routine "
                  f"#{routine.number} {name}: the kernel will not call it again")

    def call_unloaded(self, driver: DriverObject, routine: str, kind: str) -> NoReturn:
        """A routine of a driver that has unloaded is called: its code is gone, the call
        faults. 0xCE's parameters: the address referenced, 0 (a read), the address that
        referenced it (the kernel's caller of that kind of routine), reserved."""
        undo = {"process": "PsSetCreateProcessNotifyRoutineEx(..., TRUE)",
                "thread": "PsRemoveCreateThreadNotifyRoutine",
                "image": "PsRemoveLoadImageNotifyRoutine", "registry": "CmUnRegisterCallback",
                "object": "ObUnRegisterCallbacks"}[kind]
        self.bugcheck(BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
                      (routine_address(driver, routine), 0, CALLERS[kind], 0),
                      driver=driver.image, routine=routine,
                      rule=f"{driver.name} unloaded without removing its {kind} callback "
                      f"{routine} ({undo}); the next time the kernel called it, it ran into "
                      "memory that no longer holds the driver.",
                      fix=f"Call {undo} in Unload for every callback DriverEntry registered.")

    def open_and_terminate(self, caller: Process, target: Process, exit_status: int) -> None:
        """TerminateProcess from user mode: OpenProcess(PROCESS_TERMINATE) runs Ob's
        pre-operation callbacks, which may strip the right; NtTerminateProcess then checks the
        handle's granted access (STATUS_ACCESS_DENIED without PROCESS_TERMINATE)."""
        self.core.require_running()
        if not caller.alive or caller.address_space is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{caller.image} "
                          f"(PID {caller.pid}) has no user-mode thread to make the call")
        if caller is target:  # NtCurrentProcess(): a pseudo-handle, no open, no callbacks
            self.terminate_process(target, exit_status, reason=" by itself")
            return
        self.emit("Ps", "syscall", f"{caller.image} ({caller.pid}) calls OpenProcess("
                  f"PROCESS_TERMINATE, {target.pid}): system call, user → kernel", mode="U")
        for callback in self.ob.pre_operation_callbacks(target.image):
            if callback.driver.unloaded:
                self.call_unloaded(callback.driver, "ObjectPreCallback", "object")
        handle, granted = self.ob.open_process(caller, target, PROCESS_TERMINATE)
        self.emit("Ps", "syscall", f"OpenProcess returns handle {handle:#x} with access "
                  f"{granted:#x}; {caller.image} calls TerminateProcess({handle:#x})", mode="U")
        if not granted & PROCESS_TERMINATE:
            caller.handle_table.close(handle)
            self.emit("Ps", "syscall", f"NtTerminateProcess fails with STATUS_ACCESS_DENIED: "
                      f"handle {handle:#x} lacks PROCESS_TERMINATE; {target.image} runs on",
                      "The access a handle was granted at open is checked at every use: a "
                      "right stripped when the handle was made is missing for good.",
                      mode="U")
            raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{caller.image}'s handle to "
                          f"{target.image} lacks PROCESS_TERMINATE (an ObRegisterCallbacks "
                          "pre-operation callback stripped it)")
        self.terminate_process(target, exit_status, reason=f" by {caller.image} "
                               f"({caller.pid}) through handle {handle:#x}")
        if caller.alive:
            caller.handle_table.close(handle)

    def remove_callback(self, number: int) -> NotifyRoutine:
        routine = next((c for c in self.callbacks if c.number == number), None)
        if routine is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"no notify routine #{number}")
        self.callbacks.remove(routine)
        self.emit("Ps", "callback", f"{routine.driver.name} removes {routine.kind} notify "
                  f"routine #{number}")
        return routine

    def _notify(self, kind: str, fields: str, subsystem: bool, context: str,
                payer: Thread | None, costs: dict[Thread, list[Step]], *,
                new_thread: Thread | None = None, creating: bool = False) -> int | None:
        """Call every routine of kind, in registration order, at PASSIVE_LEVEL inside a
        critical region, in `context`; the inline work and waits each does go in costs, for
        the thread that pays them (payer; a PsCreateThreadNotifyNonSystem thread routine
        runs on the new thread itself: WDK ne-ntddk-_pscreatethreadnotifytype, "executed on
        the new non-system thread"; the classic PsSetCreateThreadNotifyRoutine, and here the
        Subsystems flavour, in the creating thread). At a process's creation, returns the
        error status a routine set in CreateInfo->CreationStatus (the first one; the routines
        after it still run)."""
        refused = None
        for routine in [c for c in self.callbacks if c.kind == kind]:
            if subsystem and not routine.subsystems:
                continue
            where, who = context, payer
            if new_thread is not None and not routine.subsystems and \
                    not new_thread.system_thread:
                where = (f"the new thread {new_thread.label} (PsCreateThreadNotifyNonSystem), "
                         "before its start address")
                who = new_thread
            routine.calls += 1
            if routine.driver.unloaded:
                self.call_unloaded(routine.driver, routine.name or f"{kind} notify routine",
                                   kind)
            self.emit("Ps", "notify", f"{routine.driver.name}'s {kind} notify routine "
                      f"#{routine.number} runs in {where}: {fields}",
                      "Notify routines run synchronously in the thread the event happens in; "
                      "whatever they do, that thread — and a creation — waits for.")
            status, work = self._run_callback(routine, where, creating, who is not None)
            if who is not None:
                costs.setdefault(who, []).extend(work)
            if refused is None:
                refused = status
        return refused

    def _run_callback(self, routine: NotifyRoutine, context: str, creating: bool = False,
                      charged: bool = True) -> tuple[int | None, list[Step]]:
        """Run a routine's steps: the CreationStatus it set, if any, and the kernel work and
        waits it costs the thread it runs in (Ke's `kernel-work` and KeWaitForSingleObject)."""
        who = f"{routine.driver.name} #{routine.number}"
        refused = None
        work: list[Step] = []
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
                work.append(Step("kernel-work", step.count))
                slow = step.count > SLOW_CALLBACK_TICKS
                self.emit("Ps", "notify-work", f"{who} works inline for {step.count} tick(s)"
                          + (": GUIDELINE BROKEN — keep notify routines short; "
                             + (f"{context} spends {step.count} ticks in kernel mode for this "
                                "driver" if charged else "the model does not charge a routine "
                                "run at exit to the clock") if slow else ""))
            elif step.op == "DenyAccess":
                self.emit("Ps", "notify-work", f"{who} returns STATUS_ACCESS_DENIED: a "
                          "notify routine returns nothing, so this changes nothing (a registry "
                          "callback refuses by its return; a process routine refuses a "
                          "creation with CreationStatus)")
            elif step.op == "ExQueueWorkItem":
                self.ex.queue_work_item(routine.driver, routine.work, by=who)
            elif step.op == "KeWaitForSingleObject":
                work.append(step)
                limit = f" (at most {step.count} tick(s))" if step.count else ""
                self.emit("Ps", "guideline", f"{who} calls KeWaitForSingleObject({step.name})"
                          f"{limit}: GUIDELINE BROKEN — {rule}. Consequence: {context} waits "
                          f"(Executive) until {step.name} is signaled")
            elif step.op == "WaitForWorkItem":
                item = self.ex.latest_work_item(routine.driver.name)
                state = "already done" if item and item.done else "not done yet"
                self.emit("Ps", "guideline", f"{who} waits for its own work item "
                          f"({state}): GUIDELINE BROKEN — {rule}")
            else:
                self.emit("Ps", "guideline", f"{who} calls {step.op}: GUIDELINE BROKEN — {rule}")
        return refused, work


def _merged(steps: list[Step]) -> list[Step]:
    """Consecutive inline work as one kernel-work step."""
    merged: list[Step] = []
    for step in steps:
        if merged and step.op == merged[-1].op == "kernel-work":
            merged[-1] = Step("kernel-work", merged[-1].count + step.count)
        else:
            merged.append(step)
    return merged
