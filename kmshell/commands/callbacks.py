"""Notify routines and system worker threads: callback register|list|remove, worker list,
and the loaded drivers that own them (driver list)."""

from __future__ import annotations

from rich.table import Table

from kmshell.commands.names import resolve_driver
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import DRIVER, NUMBER, TEXT, Arg, Opt, choice
from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.ps import (
    CALLBACK_STEPS,
    NOTIFY_KINDS,
    format_program,
    parse_callback_steps,
    parse_program,
)
from kmshell.views.layout import titled

STEP_HELP = "; ".join(f"{name} {args}".strip() for name, (args, _) in CALLBACK_STEPS.items())


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
         details="The routine runs in the creating thread, at PASSIVE_LEVEL, before creation "
                 "goes on. Steps: " + STEP_HELP + ". KeWaitForSingleObject, ZwSetValueKey, "
                 "CallUserMode, WaitForWorkItem and long compute break the guidelines and are "
                 "flagged; ExQueueWorkItem moves slow work to a system worker thread. At most "
                 "64 routines of each kind can be registered.",
         examples=("callback register process WdFilter",
                   "callback register process WdFilter --steps \"ExQueueWorkItem\" "
                   "--work \"compute 5\"",
                   "callback register thread WdFilter --subsystems"))
def callback_register(session, cmd):
    system = session.system
    driver = resolve_driver(system, cmd["driver"], cmd.col("driver"))
    steps = _parse(cmd, "steps", parse_callback_steps, "compute 1")
    work = _parse(cmd, "work", parse_program, "compute 3")
    system.register_callback(cmd["kind"], driver, steps, work, cmd["subsystems"])
    return [callback_table(system)]


@command("callback list", "registered notify routines: kind, driver, steps, calls",
         when_halted=True)
def callback_list(session, cmd):
    return [callback_table(session.system)]


@command("callback remove", "remove a notify routine by its number",
         args=(Arg("id", NUMBER, "the routine's number from callback list"),))
def callback_remove(session, cmd):
    session.system.remove_callback(cmd["id"])
    return [callback_table(session.system)]


def callback_table(system) -> Table:
    table = titled("notify routines")
    for column in ("#", "kind", "driver", "steps", "work item", "subsystems", "calls"):
        table.add_column(column, overflow="fold")
    for routine in system.callbacks:
        table.add_row(str(routine.number), routine.kind, routine.driver.name,
                      format_program(routine.steps), format_program(routine.work),
                      "yes" if routine.subsystems else "no", str(routine.calls))
    return table


@command("worker list", "the System process's worker threads and their work queue",
         when_halted=True)
def worker_list(session, cmd):
    system = session.system
    table = titled("system worker threads")
    for column in ("TID", "state", "doing"):
        table.add_column(column, overflow="fold")
    for thread in system.processes[4].threads:
        if thread.start_address != "nt!ExpWorkerThread":
            continue
        if thread.work_item is not None:
            doing = f"work item {thread.work_item.number} for {thread.work_item.driver}"
        elif thread.wait_reason is WaitReason.WrQueue:
            doing = "waiting on the queue (WrQueue)"
        else:
            doing = ""
        table.add_row(str(thread.tid), thread.state.name, doing)
    queued = ", ".join(f"#{i.number} {i.driver}" for i in system.work_queue) or "empty"
    table.caption = f"queue: {queued}; work items done: " \
                    f"{sum(1 for i in system.work_items if i.done)} of {len(system.work_items)}"
    table.caption_justify = "left"
    return [table]


@command("driver list", "loaded drivers: their objects in \\Driver", when_halted=True)
def driver_list(session, cmd):
    table = titled("drivers")
    for column in ("name", "object", "image", "what"):
        table.add_column(column, overflow="fold")
    for driver in session.system.drivers.values():
        table.add_row(driver.name, driver.header.path, driver.image, driver.description)
    return [table]
