"""Processes and threads: process create|list|show|kill|crash, thread create|list|show."""

from __future__ import annotations

from kmshell.commands.names import (
    current_thread,
    is_kernel_address,
    resolve_address,
    resolve_process,
    resolve_thread,
    windbg_process_named,
)
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import (
    ADDRESS,
    NAME,
    NUMBER,
    PROCESS,
    TEXT,
    THREAD,
    Arg,
    Opt,
    choice,
    number,
)
from kmshell.nt.constants import HIGH_PRIORITY, parse_status
from kmshell.nt.ps import STEPS, Subsystem, parse_program
from kmshell.nt.rtl import U64
from kmshell.views.ke import cpu_table
from kmshell.views.ps import (
    memory_map,
    process_detail,
    process_dump,
    process_tree,
    thread_detail,
    thread_table,
    windbg_process,
    windbg_thread,
)

# One step a line, so that help shows a list (each wraps under its own indent) and
# docs/commands.md a bulleted one.
PROGRAM_HELP = ("A program is steps separated by ';'. A thread whose program ends exits. "
                "Steps:\n" + "\n".join(f"  {f'{name} {args}'.strip()} — {what}"
                                        for name, (args, what) in STEPS.items()))


def _program(cmd):
    text = cmd["program"]
    if text is None:
        return None
    try:
        return parse_program(text)
    except ValueError as error:
        raise KmsError(f"--program: {error}", col=cmd.col("program")) from None


def _priority(cmd):
    priority = cmd["priority"]
    if priority is not None and not 1 <= priority <= HIGH_PRIORITY:
        raise KmsError(f"--priority must be 1..{HIGH_PRIORITY} (1-15 dynamic, 16-31 "
                       f"real-time), not {priority}", col=cmd.col("priority"))
    return priority


@command("process create", "create a process (NtCreateUserProcess) with its first thread",
         args=(Arg("image", NAME, "image file name, e.g. notepad.exe"),),
         options=(Opt("parent", PROCESS, "parent process (default explorer.exe)"),
                  Opt("user", NAME, "user the process runs as (default: the parent's)"),
                  Opt("subsystem", choice("win32", "wsl"), "win32, or wsl for a pico process",
                      "win32"),
                  Opt("threads", NUMBER, "how many threads to start with", 1),
                  Opt("priority", NUMBER, "base priority 1..31", 8),
                  Opt("program", TEXT, "what its threads run, e.g. \"compute 3; sleep 2; exit\"")),
         details=PROGRAM_HELP,
         examples=("process create notepad.exe", "process create bash --subsystem wsl",
                   "process create calc.exe --threads 2 --program \"compute 4; exit\""),
         component="Ps")
def process_create(session, cmd):
    system = session.system
    parent = None
    if cmd["parent"] is not None:
        parent = resolve_process(system, cmd["parent"], cmd.col("parent"))
        if not parent.alive:
            raise KmsError(f"parent {parent.image} ({parent.pid}) has exited",
                           col=cmd.col("parent"))
    threads = cmd["threads"]
    if not 1 <= threads <= 64:
        raise KmsError(f"--threads must be 1..64, not {threads}", col=cmd.col("threads"))
    subsystem = Subsystem.WSL if cmd["subsystem"] == "wsl" else Subsystem.Win32
    process = system.ps.create_process(cmd["image"], parent=parent, user=cmd["user"],
                                    subsystem=subsystem, threads=threads,
                                    priority=_priority(cmd), program=_program(cmd))
    return [process_tree(system, highlight={process.pid})]


@command("process list", "the process tree (the latest exited processes stay, dimmed)",
         aliases=("ps",), when_halted=True, component="Ps")
def process_list(session, cmd):
    return [process_tree(session.system)]


@command("process show", "one process: EPROCESS fields, address space, threads",
         args=(Arg("p", PROCESS, "PID or image name"),), when_halted=True, component="Ps")
def process_show(session, cmd):
    return [process_detail(session.system, resolve_process(session.system, cmd["p"],
                                                           cmd.col("p")))]


PROCESS_FLAGS = number(0, 0x1F, "FLAGS", "WinDbg's !process flags")


@command("!process", "WinDbg's !process: PROCESS blocks, with their threads for flags 7",
         args=(Arg("p", PROCESS, "0 for every process; or a PID (hex), an EPROCESS address "
                   "or an image name; left out, the current process (processor 0's)",
                   optional=True),
               Arg("flags", PROCESS_FLAGS, "bit 0 (0x1) times and priority, bit 1 (0x2) "
                   "threads with their wait states, bit 2 (0x4) threads one line each",
                   optional=True),
               Arg("image", NAME, "with 0: only processes of this image name", optional=True)),
         details="As in WinDbg, numbers are hex (a4 is PID 164; 0n164 is decimal), a value "
                 "above the system range start is an EPROCESS address, FLAGS defaults to 3 "
                 "for 0 and 0xF for one process, and client IDs print in hex (Cid 00a4). "
                 "What the model has is shown: no ObjectTable, Win32Thread or stacks, times "
                 "in ticks. Bits 3 and 4 (stack details) have nothing more to show here.",
         examples=("!process 0 0", "!process 0 7", "!process 0 0 notepad.exe",
                   "!process notepad.exe"), when_halted=True,
         component="Ps")
def bang_process(session, cmd):
    system = session.system
    text, flags = cmd["p"], cmd["flags"]
    if text == "0x0":
        if cmd["image"] is None:
            processes, what = system.ps.live_processes(), "process is running"
        else:
            processes = [p for p in system.ps.live_processes()
                         if p.image.lower() == cmd["image"].lower()]
            what = f"running process has the image name {cmd['image']}"
        return [process_dump(processes, 0x3 if flags is None else flags, what)]
    if cmd["image"] is not None:
        raise KmsError("an image name goes with !process 0 FLAGS IMAGE", col=cmd.col("image"),
                       hint=f"!process 0 {flags or 0:x} {cmd['image']}")
    process = windbg_process_named(system, text, cmd.col("p"))
    return [windbg_process(process, 0xF if flags is None else flags)]


@command("process kill", "terminate a process (NtTerminateProcess)",
         args=(Arg("p", PROCESS, "PID or image name"),),
         options=(Opt("exit-code", TEXT, "exit status, a name or hex", "STATUS_SUCCESS"),
                  Opt("by", PROCESS, "the process that kills it: OpenProcess(PROCESS_TERMINATE)"
                                     " then TerminateProcess, as taskkill does")),
         details="Killing a critical process (smss, csrss, wininit, services, lsass, winlogon) "
                 "stops the machine with bugcheck 0xEF CRITICAL_PROCESS_DIED. With --by, the "
                 "handle is opened from user mode: a driver's ObRegisterCallbacks "
                 "pre-operation callback may strip PROCESS_TERMINATE from it, and "
                 "TerminateProcess then fails with STATUS_ACCESS_DENIED.",
         examples=("process kill notepad.exe", "process kill 172 --exit-code 0xC0000005",
                   "process kill MsMpEng.exe --by explorer.exe"), component="Ps")
def process_kill(session, cmd):
    system = session.system
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    try:
        status = parse_status(cmd["exit-code"])
    except ValueError as error:
        raise KmsError(f"--exit-code: {error}", col=cmd.col("exit-code")) from None
    if cmd["by"] is not None:
        caller = resolve_process(system, cmd["by"], cmd.col("by"))
        system.ps.open_and_terminate(caller, process, status)
    else:
        system.ps.terminate_process(process, status, reason=" by request")
    return [process_tree(system, highlight={process.pid})]


@command("process crash", "a user-mode access violation in the process: it dies, nothing else",
         args=(Arg("p", PROCESS, "PID or image name"),),
         options=(Opt("address", ADDRESS, "the address the thread touches", 0),),
         details="A fault in user mode ends one process and leaves the others running: the "
                 "kernel catches it and terminates only the process that faulted. Crash the "
                 "System process (4) instead and the fault is in kernel mode: the machine stops "
                 "with a bugcheck.",
         examples=("process crash notepad.exe", "process crash 172 --address 0xFFFF800000001000"),
         component="Ps")
def process_crash(session, cmd):
    system = session.system
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    system.ps.crash_process(process, cmd["address"])
    return [process_tree(system, highlight={process.pid}), cpu_table(system)]


@command("thread create", "start another thread in a process",
         args=(Arg("p", PROCESS, "PID or image name"),),
         options=(Opt("priority", NUMBER, "priority 1..31 (default: the process's base)"),
                  Opt("program", TEXT, "steps, e.g. \"compute 3; sleep 2; exit\"")),
         details=PROGRAM_HELP,
         examples=("thread create notepad.exe", "thread create 172 --program \"compute 5; exit\""),
         component="Ps")
def thread_create(session, cmd):
    system = session.system
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    system.ps.create_thread(process, priority=_priority(cmd), program=_program(cmd))
    return [thread_table(process.threads, title=f"threads of {process.image}"), cpu_table(system)]


@command("thread list", "threads of one process, or of all",
         args=(Arg("p", PROCESS, "PID or image name; all processes when left out",
                   optional=True),), when_halted=True, component="Ps")
def thread_list(session, cmd):
    system = session.system
    if cmd["p"] is None:
        return [thread_table(system.ps.all_threads())]
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    return [thread_table(process.threads, title=f"threads of {process.image}")]


@command("thread show", "one thread: state, wait reason, priority, TEB, program",
         args=(Arg("t", THREAD, "thread ID"),), when_halted=True,
         component="Ps")
def thread_show(session, cmd):
    return [thread_detail(resolve_thread(session.system, cmd["t"], cmd.col("t")))]


@command("!thread", "WinDbg's !thread: the THREAD line, what it waits on, its priority",
         args=(Arg("t", number(0, U64, "ADDR", "an ETHREAD address or a TID (hex)", "thread"),
                   "an ETHREAD address as kmshell prints it, or a TID; left out, the thread "
                   "running on processor 0", optional=True),
               Arg("flags", PROCESS_FLAGS, "bit 1 (0x2) wait state and details; 0 gives the "
                   "THREAD line alone", optional=True)),
         details="As in WinDbg, numbers are hex: !thread c8 is TID 200, 0n200 too. WinDbg "
                 "takes a TID only after -t; kmshell reads a value below the system range "
                 "start as a TID. FLAGS defaults to 6; bits 2-4 (the stack) have nothing "
                 "more to show here.",
         examples=("!thread", "!thread c8", "!thread c8 0"), when_halted=True,
         component="Ps")
def bang_thread(session, cmd):
    system, value = session.system, cmd["t"]
    if value is None:
        thread = current_thread(system)
    elif is_kernel_address(value):
        thread = resolve_address(system, value, "ETHREAD", cmd.col("t"))
    else:
        thread = resolve_thread(system, value, cmd.col("t"))
    return [windbg_thread(thread, 0x6 if cmd["flags"] is None else cmd["flags"])]


@command("memory map", "a process's address space: private user half, shared kernel half",
         args=(Arg("p", PROCESS, "PID or image name"),), when_halted=True,
         examples=("memory map notepad.exe",), component="Mm")
def memory_map_(session, cmd):
    return [memory_map(resolve_process(session.system, cmd["p"], cmd.col("p")))]


@command("touch", "a user-mode read (or --write) of an address by the process's thread",
         args=(Arg("p", PROCESS, "PID or image name"), Arg("addr", ADDRESS, "the address")),
         options=(Opt("write", NUMBER, "write this value instead of reading"),),
         details="A kernel-half address, or one no region covers, is an access violation: the "
                 "process ends and nothing else does. The same user address in two processes "
                 "holds two different values.",
         examples=("touch notepad.exe 0x900000 --write 7", "touch notepad.exe 0xFFFFF80000000000"),
         component="Mm")
def touch(session, cmd):
    system = session.system
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    system.mm.touch(process, cmd["addr"], cmd["write"])
    return [] if process.alive else [process_tree(system, highlight={process.pid})]
