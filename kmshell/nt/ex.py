"""Executive support (Ex): system worker threads and the work items drivers queue to them.

The System process owns a pool of worker threads (ExpWorkerThread) that wait on a work
queue (WrQueue). ExQueueWorkItem / IoQueueWorkItem put a work item on the queue; a waiting
worker takes it and runs it at PASSIVE_LEVEL in the System process. Simplification: one
queue (real Windows has critical, delayed and other priorities, per NUMA node).
"""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.ps import Step


@dataclass
class WorkItem:
    number: int
    driver: str
    program: list[Step]
    queued_tick: int
    done: bool = False
