"""Dispatcher objects and spin locks: what threads wait on and what they lock with.

KEVENT (notification or synchronization), KMUTANT (owned, recursive), KSEMAPHORE (a count
with a limit), KTIMER (signaled when due, optionally periodic) and the KSPIN_LOCK. Named
dispatcher objects live in \\BaseNamedObjects as the Win32 API creates them. A spin lock is
not an object-manager object; the model names it so that a thread program can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.ob import ObjectHeader

if TYPE_CHECKING:
    from kmshell.nt.io.irp import DeviceObject
    from kmshell.nt.ps import Thread


@dataclass(eq=False)
class DispatcherObject:
    header: ObjectHeader
    signal_state: int = 0
    waiters: list[Thread] = field(default_factory=list)  # in the order they began to wait

    @property
    def signaled(self) -> bool:
        return self.signal_state > 0


@dataclass(eq=False)
class KEvent(DispatcherObject):
    """A notification event wakes every waiter and stays set; a synchronization event wakes
    one waiter and resets itself (auto-reset)."""

    notification: bool = True

    @property
    def kind(self) -> str:
        return "NotificationEvent" if self.notification else "SynchronizationEvent"


def releases_all(obj: DispatcherObject) -> bool:
    """Notification events and timers release every waiter; the rest release one."""
    return isinstance(obj, (KEvent, KTimer)) and obj.notification


@dataclass(eq=False)
class KMutant(DispatcherObject):
    """A mutex: signaled when free; owned by one thread, which may acquire it again."""

    owner: Thread | None = None
    recursion: int = 0

    def __post_init__(self) -> None:
        self.signal_state = 1


@dataclass(eq=False)
class KSemaphore(DispatcherObject):
    """A count of available units: a wait takes one, a release gives one back."""

    limit: int = 1


@dataclass(eq=False)
class KTimer(DispatcherObject):
    """Signaled when its due tick comes; a periodic timer is set again each period."""

    due_tick: int | None = None
    period: int = 0
    notification: bool = True
    dpc: DeviceObject | None = None  # a driver's timer (KeSetTimer): whose DPC runs when due

    @property
    def kind(self) -> str:
        return "NotificationTimer" if self.notification else "SynchronizationTimer"


@dataclass(eq=False)
class SpinLock:
    """KSPIN_LOCK: acquiring raises the processor to DISPATCH_LEVEL; a contender spins."""

    name: str
    owner: Thread | None = None
    acquisitions: int = 0
    spins: int = 0  # ticks contenders burned spinning
    held_by: str = ""  # driver code holding it (KeAcquireSpinLock in a routine), e.g. "x!DPC"

    @property
    def holder(self) -> str:
        """Who holds it, for views and messages; "" when it is free."""
        return self.owner.label if self.owner is not None else self.held_by


# What a thread program's steps name: a spin lock, or a dispatcher object in \BaseNamedObjects.
SyncObject = SpinLock | KEvent | KMutant | KSemaphore | KTimer
Lock = SpinLock | KMutant  # what a thread holds (Thread.held_locks)


@dataclass
class SharedVariable:
    """A variable in memory that several threads increment (read-modify-write)."""

    name: str
    value: int = 0
    version: int = 0  # bumped by every store, to tell when a load went stale
    lost_updates: int = 0
