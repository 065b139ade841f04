"""Notify routines, worker threads and loaded drivers."""

from __future__ import annotations

from rich.table import Table

from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.ps import format_program
from kmshell.views.layout import Legend, deferred, titled


@deferred
def callback_table(system) -> Table:
    table = titled("notify routines")
    for column in ("#", "kind", "driver", "steps", "work item", "subsystems", "calls"):
        table.add_column(column, overflow="fold")
    for routine in system.ps.callbacks:
        table.add_row(str(routine.number), routine.kind, routine.driver.name,
                      format_program(routine.steps), format_program(routine.work),
                      "yes" if routine.subsystems else "no", str(routine.calls))
    return table


@deferred
def worker_table(system) -> Table:
    table = titled("system worker threads")
    for column in ("TID", "state", "doing"):
        table.add_column(column, overflow="fold")
    for thread in system.ps.processes[4].threads:
        if thread.start_address != "nt!ExpWorkerThread":
            continue
        if thread.work_item is not None:
            doing = f"work item {thread.work_item.number} for {thread.work_item.driver}"
        elif thread.wait_reason is WaitReason.WrQueue:
            doing = "waiting on the queue (WrQueue)"
        else:
            doing = ""
        table.add_row(str(thread.tid), thread.state.name, doing)
    queued = [f"#{i.number} {i.driver}," for i in system.ex.work_queue] or ["empty,"]
    queued[-1] = queued[-1].removesuffix(",") + ";"
    done = sum(1 for i in system.ex.work_items if i.done)
    table.legend = Legend([*queued, f"work items done: {done} of {len(system.ex.work_items)}"],
                          " ", "queue: ")
    return table


@deferred
def driver_table(system) -> Table:
    table = titled("drivers")
    for column in ("name", "object", "image", "what"):
        table.add_column(column, overflow="fold")
    for driver in system.io.drivers.values():
        table.add_row(driver.name, driver.header.path, driver.image, driver.description)
    return table
