"""Notify routines and system worker threads: callback register|list|remove, worker list,
and the loaded drivers that own them (driver list)."""

from __future__ import annotations

from kmshell.commands.names import resolve_driver
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import DRIVER, NUMBER, TEXT, Arg, Opt, choice
from kmshell.nt.ps import (
    CALLBACK_STEPS,
    NOTIFY_KINDS,
    parse_callback_steps,
    parse_program,
)

STEP_HELP = "; ".join(f"{name} {args}".strip() for name, (args, _) in CALLBACK_STEPS.items())
from kmshell.views.callbacks import callback_table, driver_table, worker_table


def _parse(cmd, name: str, parser, default: str):
    try:
        return parser(cmd[name] if cmd[name] is not None else default)
    except ValueError as error:
        raise KmsError(f"--{name}: {error}", col=cmd.col(name)) from None


@command("callback register", "a driver registers a process, thread or image notify routine",
         args=(Arg("kind", choice(*NOTIFY_KINDS), "process, thread or image"),
               Arg("driver", DRIVER, "the registering driver, e.g. WdFilter")),
         options=(Opt("steps", TEXT, "what the routine does", "compute 1"),
                  Opt("work", TEXT, "the program its ExQueueWorkItem queues", "compute 3"),
                  Opt("subsystems", None, "also notify for subsystem (WSL pico) processes "
                                          "and threads")),
         details="The routine runs at PASSIVE_LEVEL, before the creation goes on: a process "
                 "routine in the creating thread, a thread routine (PsCreateThreadNotifyNonSystem) "
                 "on the new thread, an image routine in the new process; at exit, in the exiting "
                 "thread. Its compute and waits are that thread's time: the creating thread runs "
                 "them in kernel mode before the new threads can start. Steps: " + STEP_HELP
                 + ". KeWaitForSingleObject, ZwSetValueKey, "
                 "CallUserMode, WaitForWorkItem and long compute break the guidelines and are "
                 "flagged; ExQueueWorkItem moves slow work to a system worker thread; "
                 "CreationStatus STATUS_X in a process routine fails the creation with that "
                 "status (the process never runs). At most 64 routines of each kind can be "
                 "registered.",
         examples=("callback register process WdFilter",
                   "callback register process WdFilter --steps \"ExQueueWorkItem\" "
                   "--work \"compute 5\"",
                   "callback register thread WdFilter --subsystems"), component="Ps")
def callback_register(session, cmd):
    system = session.system
    driver = resolve_driver(system, cmd["driver"], cmd.col("driver"))
    steps = _parse(cmd, "steps", parse_callback_steps, "compute 1")
    work = _parse(cmd, "work", parse_program, "compute 3")
    system.ps.register_callback(cmd["kind"], driver, steps, work, cmd["subsystems"])
    return [callback_table(system)]


@command("callback list", "registered notify routines: kind, driver, steps, calls",
         when_halted=True, component="Ps")
def callback_list(session, cmd):
    return [callback_table(session.system)]


@command("callback remove", "remove a notify routine by its number",
         args=(Arg("id", NUMBER, "the routine's number from callback list"),), component="Ps")
def callback_remove(session, cmd):
    session.system.ps.remove_callback(cmd["id"])
    return [callback_table(session.system)]


@command("worker list", "the System process's worker threads and their work queue",
         when_halted=True, component="Ex")
def worker_list(session, cmd):
    return [worker_table(session.system)]


@command("driver list", "loaded drivers: their objects in \\Driver", when_halted=True,
         component="Io")
def driver_list(session, cmd):
    return [driver_table(session.system)]
