"""What `kmshell run --json` adds to the model's own state for grading: the IRPs in
progress, every device object (a legacy driver's too, which no devnode lists), the pool
blocks not yet freed and the locks. Read through the model's public state; docs/state-schema.md
documents each key.
"""

from __future__ import annotations

from kmshell.nt.ke.sync import KEvent, KMutant, KSemaphore, KTimer
from kmshell.nt.system import System

_KINDS = ((KEvent, "event"), (KMutant, "mutex"), (KSemaphore, "semaphore"), (KTimer, "timer"))


def _irps(system: System) -> list[dict]:
    return [{
        "number": irp.number,
        "major": next((s.major for s in reversed(irp.stack) if s.major), None),
        "status": irp.status,
        "device": irp.holder.label if irp.holder is not None else None,
        "thread": irp.requester.tid if irp.requester is not None else None,
        "cancel": irp.cancel,
        "stack": [{"major": s.major, "minor": s.minor,
                   "device": s.device.label if s.device is not None else None,
                   "pending": s.pending,
                   "completion": f"{s.completion.driver.name}!{s.completion.routine}"
                   if s.completion is not None else None}
                  for s in reversed(irp.stack)],
    } for irp in system.io.irps.values()]


def _devnode(device) -> str | None:
    """The instance path of the devnode its stack stands for; None for a legacy driver's."""
    devnode = device.stack()[-1].devnode
    return devnode.instance_path if devnode is not None else None


def _devices(system: System) -> list[dict]:
    return [{
        "label": d.label,
        "driver": d.driver.name,
        "type": d.device_type,
        "attached_to": d.attached_to.label if d.attached_to is not None else None,
        "devnode": _devnode(d),
        "stack_size": d.stack_size,
    } for d in system.io.devices]


def _pool(system: System) -> list[dict]:
    return [{"address": b.address, "size": b.size, "tag": b.tag, "kind": b.kind,
             "driver": b.driver} for b in system.mm.pool if not b.freed]


def _locks(system: System) -> list[dict]:
    locks: list[dict] = [{"name": lock.name, "kind": "spinlock", "signaled": lock.owner is None
              and not lock.held_by,
              "owner": lock.owner.tid if lock.owner is not None else None,
              "held_by": lock.held_by or None, "waiters": []}
             for lock in system.ke.spin_locks.values()]
    for obj in system.ob.directory("\\BaseNamedObjects").children():
        if not isinstance(obj, (KEvent, KMutant, KSemaphore, KTimer)):
            continue
        kind = next(name for cls, name in _KINDS if isinstance(obj, cls))
        owner = obj.owner if isinstance(obj, KMutant) else None
        locks.append({"name": obj.header.name, "kind": kind, "signaled": obj.signaled,
                      "owner": owner.tid if owner is not None else None, "held_by": None,
                      "waiters": [t.tid for t in obj.waiters]})
    return locks


def grading_state(system: System) -> dict:
    return {"irps": _irps(system), "devices": _devices(system), "pool": _pool(system),
            "locks": _locks(system)}
