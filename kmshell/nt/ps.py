"""Process and thread manager (Ps): EPROCESS and ETHREAD, and the programs threads run.

A process is a container: an address space, a handle table, a token (later), and threads.
Threads are what the dispatcher schedules. Win32 processes have a PEB and their threads TEBs;
WSL (pico) processes have neither, because the subsystem's own provider (lxcore.sys) keeps
that state. A thread runs a small program of steps (`compute 3; sleep 2; exit`), enough to show
time slicing and waits; the model does not execute real instructions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.mm import AddressSpace
from kmshell.nt.ob import HandleTable, ObjectHeader
from kmshell.nt.rtl import U64, parse_number


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


# step name -> (its arguments, what it does): the thread-program language.
STEPS = {
    "compute": ("N", "run in user mode (kernel mode for system threads) for N ticks"),
    "sleep": ("N", "wait N ticks (NtDelayExecution: DelayExecution)"),
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
    waiting_on: object | None = None  # the dispatcher object of the current wait
    wait_status: int = 0  # how the last wait ended: STATUS_WAIT_0, STATUS_TIMEOUT, ...
    register: int = 0  # the value an `inc` loaded and will store plus one
    loaded_version: int = 0  # the variable's version when it was loaded
    repeats_done: int = 0
    held_locks: list = field(default_factory=list)  # spin locks and mutexes, in order taken
    work_item: object | None = None  # the work item a system worker thread is running
    io_wait: tuple | None = None  # (IRP, state before) while it waits for synchronous I/O

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
    token: object | None = None  # the primary token (nt/se.py): who the process acts as
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
        else:
            steps.append(Step(name, 0, words[1] if argument else ""))
    if not steps:
        raise ValueError("the callback has no steps; e.g. 'compute 1' or 'ExQueueWorkItem'")
    return steps


@dataclass(eq=False)
class NotifyRoutine:
    number: int
    kind: str  # process, thread or image
    driver: object  # the DriverObject that registered it
    steps: list[Step]
    work: list[Step]  # what its ExQueueWorkItem queues
    subsystems: bool = False  # registered to see subsystem (pico) processes and threads too
    calls: int = 0
