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

    def __str__(self) -> str:
        return f"{self.op} {self.count}" if self.op in COUNTED_STEPS else self.op


# step name -> (takes a count, what it does) — the thread-program language.
STEPS = {
    "compute": (True, "run in user mode (kernel mode for system threads) for N ticks"),
    "sleep": (True, "wait N ticks (KeDelayExecutionThread: DelayExecution)"),
    "syscall": (False, "enter kernel mode through the system-call path and return"),
    "wait-input": (False, "wait for user input, as a GUI thread in GetMessage (WrUserRequest)"),
    "exit": (False, "end the thread (PspExitThread)"),
}
COUNTED_STEPS = {name for name, (counted, _) in STEPS.items() if counted}


def parse_program(text: str) -> list[Step]:
    """`compute 3; sleep 2; exit` -> steps. ValueError names the step and what is valid."""
    steps = []
    for number, part in enumerate(text.split(";"), start=1):
        words = part.split()
        if not words:
            continue
        op = words[0].lower()
        valid = ", ".join(f"{name} N" if name in COUNTED_STEPS else name for name in STEPS)
        if op not in STEPS:
            raise ValueError(f"program step {number} '{part.strip()}': unknown step; valid: {valid}")
        if op in COUNTED_STEPS:
            if len(words) != 2 or not words[1].isdigit() or int(words[1]) < 1:
                raise ValueError(f"program step {number} '{part.strip()}': {op} takes a count N >= 1")
            steps.append(Step(op, int(words[1])))
        else:
            if len(words) != 1:
                raise ValueError(f"program step {number} '{part.strip()}': {op} takes no argument")
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
    command_line: str = ""
    handle_table: HandleTable = field(default_factory=HandleTable)
    threads: list[Thread] = field(default_factory=list)
    state: ProcessState = ProcessState.Active
    exit_status: int | None = None
    create_tick: int = 0
    exit_tick: int | None = None

    @property
    def alive(self) -> bool:
        return self.state is ProcessState.Active

    @property
    def live_threads(self) -> list[Thread]:
        return [t for t in self.threads if t.state is not ThreadState.Terminated]
