"""The dispatcher database: 32 ready queues, one per priority, and the ready summary.

KiReadySummary has bit N set when queue N is not empty, so finding the highest-priority ready
thread is one bit_length() — the cost of a dispatch does not grow with the number of threads.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from kmshell.nt.constants import MAXIMUM_PRIORITY

if TYPE_CHECKING:
    from kmshell.nt.ps import Thread


class Dispatcher:
    def __init__(self) -> None:
        self.queues: list[deque[Thread]] = [deque() for _ in range(MAXIMUM_PRIORITY)]
        self.summary = 0

    def insert(self, thread: Thread, front: bool = False) -> None:
        """Queue a Ready thread: at the tail, or at the head for a preempted thread."""
        queue = self.queues[thread.priority]
        if front:
            queue.appendleft(thread)
        else:
            queue.append(thread)
        self.summary |= 1 << thread.priority

    def remove(self, thread: Thread) -> None:
        queue = self.queues[thread.priority]
        queue.remove(thread)
        if not queue:
            self.summary &= ~(1 << thread.priority)

    def highest_priority(self) -> int:
        """The priority of the best ready thread, or -1 when none is ready."""
        return self.summary.bit_length() - 1

    def pop(self) -> Thread:
        """Take the best ready thread off its queue; callers pop only when one is ready."""
        priority = self.highest_priority()
        assert priority >= 0, "pop with no thread ready: the caller looks at summary first"
        queue = self.queues[priority]
        thread = queue.popleft()
        if not queue:
            self.summary &= ~(1 << priority)
        return thread

    @property
    def ready_count(self) -> int:
        """How many threads are ready, without listing them."""
        return sum(len(queue) for queue in self.queues)

    def ready_threads(self) -> list[Thread]:
        """All ready threads, best first, in the order they would run."""
        return [thread for priority in range(MAXIMUM_PRIORITY - 1, -1, -1)
                for thread in self.queues[priority]]
