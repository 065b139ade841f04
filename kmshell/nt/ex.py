"""Executive support (Ex): system worker threads and the work items drivers queue to them.

The System process owns a pool of worker threads (ExpWorkerThread) that wait on a work
queue (WrQueue). ExQueueWorkItem / IoQueueWorkItem put a work item on the queue; a waiting
worker takes it and runs it at PASSIVE_LEVEL in the System process.

State (`Executive`): `work_queue`, the items queued and not yet taken by a worker;
`work_items`, every work item since boot (what `show` and the notify routines look back on).

Reached: System builds it with the Core, Ke (which wakes and blocks the workers) and Ps (the
System process, whose threads the workers are); Ke (a worker's `dequeue` step) and Ps (a
notify routine's ExQueueWorkItem) call into it. Pool allocation, the other half of NT's Ex,
is Mm's here (mm.py, pool.py).

Simplification: one queue (real Windows has critical, delayed and other priorities, per NUMA
node); a work item is a thread program run by the worker, not a routine of the driver.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmshell.nt.core import Core
from kmshell.nt.ke.processor import Processor
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.ps import ProcessManager, Step, Thread, format_program

if TYPE_CHECKING:
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.ke.kernel import Kernel


@dataclass
class WorkItem:
    number: int
    driver: str
    program: list[Step]
    queued_tick: int
    done: bool = False


class Executive:
    """Ex. Built with the Core, Ke (to wake and block the workers) and Ps (the System
    process, whose threads the workers are)."""

    def __init__(self, core: Core, ke: Kernel, ps: ProcessManager) -> None:
        self.core = core
        self.ke = ke
        self.ps = ps
        self.emit = core.emit
        self.work_queue: deque[WorkItem] = deque()  # queued, not yet taken by a worker
        self.work_items: list[WorkItem] = []  # every work item since boot

    def latest_work_item(self, driver: str) -> WorkItem | None:
        """The newest work item, if `driver` queued it."""
        item = self.work_items[-1] if self.work_items else None
        return item if item is not None and item.driver == driver else None

    def queue_work_item(self, driver: DriverObject, program: list[Step], by: str) -> WorkItem:
        """ExQueueWorkItem: queue the work and return at once; a waiting worker wakes."""
        item = WorkItem(len(self.work_items) + 1, driver.name, list(program), self.core.tick)
        self.work_items.append(item)
        self.work_queue.append(item)
        self.emit("Ex", "work-queued", f"{by} queues work item {item.number} (ExQueueWorkItem) "
                  "and returns at once: a system worker thread will do the slow part",
                  "The right way: the callback stays short, and the slow work runs later in "
                  "a worker thread of the System process.")
        waiting = [t for t in self.ps.system_process.threads
                   if t.state is ThreadState.Waiting and t.wait_reason is WaitReason.WrQueue]
        if waiting:
            worker = waiting[0]
            worker.program, worker.pc = [Step("dequeue")], -1
            self.ke.wake_thread(worker, f"work item {item.number} was queued")
        return item

    def worker_dequeue(self, cpu: Processor, thread: Thread) -> str:
        """A worker thread finishes its work item, then takes the next or waits (WrQueue)."""
        if thread.work_item is not None:
            thread.work_item.done = True
            self.emit("Ex", "work-done", f"{thread.label} finished work item "
                      f"{thread.work_item.number} for {thread.work_item.driver}", cpu=cpu.number)
            thread.work_item = None
        if not self.work_queue:
            thread.program, thread.pc = [Step("dequeue")], 0
            self.ke.block_thread(cpu, thread, WaitReason.WrQueue, "waits on the work queue")
            return "left"
        item = self.work_queue.popleft()
        thread.work_item = item
        thread.program, thread.pc = [*item.program, Step("dequeue")], -1
        self.emit("Ex", "work", f"{thread.label} (a system worker thread) runs work item "
                  f"{item.number} for {item.driver}: '{format_program(item.program)}'",
                  cpu=cpu.number)
        return "next"
