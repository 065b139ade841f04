"""The machine: the components wired together, and boot.

`System` builds one object per NT component and hands each the others it needs (in the order
their constructors need, not the order of ntoskrnl's phase 0 and phase 1 initialization),
then boots the machine as those phases do. It owns nothing but that wiring, the disk that
survives a restart, and `to_json` for the command layer; everything else is reached
through the components:

    core  the clock, processors, trace, bugcheck, random generator, allocation (core.py)
    ke    the kernel: scheduling, waits, IRQL, interrupts and DPCs (ke/kernel.py)
    ps    processes, threads, notify routines (ps.py)       ex   worker threads (ex.py)
    mm    frames, address spaces, pool (mm.py)           ob   the namespace (ob.py)
    io    drivers, devices, IRPs (io/manager.py)             files  file systems and the
    pnp   the device tree (pnp.py)                                  system-call path (io/files.py)
    po    power states (po.py)                               cm   the registry (cm.py)
    tm    KTM transactions (tm.py)                           clfs CLFS logs (clfs.py)
    hal   vectors and DMA (hal.py)                           wmi  WMI providers (wmi.py)

Each component gets at construction the components it calls; the few that call back into one
built after them (Ke into Ps, Ex, Io, Mm and Po; Io into Pnp and its file-system
half; Ps into Io's file-system half and Ex; Mm into Io and Ps; Cm into Tm and Ps; the
file-system half into Pnp; the HAL and WMI into Io) get it assigned here, once, before
anything runs. All randomness comes from `core.rng`, seeded at
boot, so the same commands and seed always give the same events.
"""

from __future__ import annotations

import gc
import pickle
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from kmshell.nt.clfs import Log, LogFileSystem
from kmshell.nt.cm import ConfigurationManager, Registry
from kmshell.nt.core import Core
from kmshell.nt.errors import NtError, SystemHalted
from kmshell.nt.events import Event
from kmshell.nt.ex import Executive
from kmshell.nt.hal import Hal
from kmshell.nt.io.files import FileIo
from kmshell.nt.io.manager import IoManager
from kmshell.nt.io.spec import DriverSpec
from kmshell.nt.ke.kernel import Kernel
from kmshell.nt.mm import DEFAULT_MEMORY_MB, MemoryManager
from kmshell.nt.ob import ObjectManager, build_namespace
from kmshell.nt.pnp import PlugAndPlayManager
from kmshell.nt.po import PowerManager
from kmshell.nt.ps import ProcessManager
from kmshell.nt.tm import TransactionManager
from kmshell.nt.wmi import Wmi

__all__ = ["Disk", "NtError", "Snapshot", "System", "SystemHalted"]

MAX_CPUS = 64
SYSTEM_WORKER_THREADS = 2


@dataclass
class Disk:
    """What survives a restart: the registry and the CLFS logs."""

    registry: Registry = field(default_factory=Registry)
    logs: dict[str, Log] = field(default_factory=dict)


class System:
    """The machine. `driver_store` is the driver packages Plug and Play finds devices'
    drivers among (the command layer reads them: kmshell/drivers)."""

    def __init__(self, cpus: int = 2, minimal: bool = False, seed: int = 0,
                 disk: Disk | None = None, driver_store: Sequence[DriverSpec] = (),
                 memory: int = DEFAULT_MEMORY_MB) -> None:
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError(f"--cpus must be 1..{MAX_CPUS}, got {cpus}")
        self.disk = disk or Disk()
        self.core = core = Core(seed, minimal)
        self.ob = ObjectManager(core)
        self.cm = ConfigurationManager(core, self.disk.registry)
        self.tm = TransactionManager(core, self.cm)
        self.clfs = LogFileSystem(core, self.disk.logs)
        self.mm = MemoryManager(core, self.cm, memory)
        self.ke = Kernel(core, self.ob)
        self.hal = Hal(core, self.ke)
        self.wmi = Wmi(core)
        self.ps = ProcessManager(core, self.ob, self.ke, self.mm)
        self.ex = Executive(core, self.ke, self.ps)
        self.io = IoManager(core, self.ob, self.ke, self.mm, self.cm, self.hal, self.wmi)
        self.files = FileIo(core, self.ob, self.ke, self.io, self.ps, self.mm)
        self.pnp = PlugAndPlayManager(core, self.io, self.cm, self.ps, driver_store)
        self.po = PowerManager(core, self.io, self.pnp)
        # the back-edges: components that call one built after them
        self.ke.ps, self.ke.ex, self.ke.io, self.ke.mm = self.ps, self.ex, self.io, self.mm
        self.ke.po = self.po
        self.cm.tm, self.cm.ps = self.tm, self.ps
        self.mm.io, self.mm.ps = self.io, self.ps
        self.hal.io = self.wmi.io = self.io
        self.ps.io_files, self.ps.ex = self.files, self.ex
        self.io.files, self.io.pnp, self.io.ex = self.files, self.pnp, self.ex
        self.io.po = self.po
        self.files.pnp = self.pnp
        self.mm.files = self.files
        self._boot(cpus)

    @property
    def halted(self) -> bool:
        return self.core.halted

    def _boot(self, cpus: int) -> None:
        core = self.core
        build_namespace(self.ob)
        self.ps.create_idle_process(cpus)
        core.emit("Hal", "boot", f"{cpus} processor(s) started at PASSIVE_LEVEL, each running "
                  "its idle thread", "Every processor always runs something: when no thread is "
                  "ready it runs the Idle process's thread for that processor.")
        core.emit("Ob", "boot", "object namespace created: \\ObjectTypes, \\Device, "
                  "\\Driver, \\BaseNamedObjects, \\GLOBAL??, ...")
        self.ps.create_system_process(SYSTEM_WORKER_THREADS)
        self.io.load_boot_drivers()
        self.pnp.boot_device_tree()
        self.clfs.recover_logs()
        core.emit("Ps", "boot", "System process (PID 4) created; its threads run only in "
                  "kernel mode", "The System process owns the kernel's own threads, such as "
                  "the system worker threads; it has no user-mode address space or PEB.")
        if not core.minimal:
            self.ps.start_boot_processes()

    def snapshot(self) -> Snapshot:
        """The machine as it is now, to rebuild later (undo and goto: kmshell/session.py).
        cloudpickle, because the state holds closures (an IRP's completion, a routine's
        resumption after its wait): it pickles them with the objects they refer to, where
        pickle refuses them and copy.deepcopy would share them with the machine copied."""
        import cloudpickle  # 20 ms: imported by the first checkpoint, not at start-up

        with self.core.trace_set_aside() as trace, _collector_paused():
            machine = cloudpickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return Snapshot(zlib.compress(machine, 1), tuple(trace))

    def to_json(self) -> dict:
        """The state as plain data, for grading and `--json`."""
        return {
            "tick": self.core.tick,
            "seed": self.core.seed,
            "halted": self.core.halted,
            "bugcheck": self.core.bugcheck_info.to_json() if self.core.bugcheck_info else None,
            "processors": [
                {"number": c.number, "irql": c.irql,
                 "thread": None if c.is_idle else c.current_thread.tid}
                for c in self.core.processors
            ],
            "processes": [
                {"pid": p.pid, "image": p.image, "parent": p.parent_pid,
                 "session": p.session_id, "user": p.user, "subsystem": p.subsystem.value,
                 "state": p.state.value, "exit_status": p.exit_status, "critical": p.critical,
                 "peb": p.peb, "handles": len(p.handle_table.entries),
                 "threads": [
                     {"tid": t.tid, "state": t.state.name, "priority": t.priority,
                      "wait_reason": t.wait_reason.name if t.wait_reason is not None else None,
                      "teb": t.teb}
                     for t in p.threads
                 ]}
                for p in self.ps.processes.values()
            ],
            "variables": {v.name: {"value": v.value, "stores": v.version,
                                   "lost_updates": v.lost_updates}
                          for v in self.ke.variables.values()},
            "deadlocks": [[t.tid for t in cycle] for cycle in self.ke.deadlocks],
            "drivers": [d.name for d in self.io.drivers.values()],
            "devnodes": [{"instance": n.instance_path, "state": n.state.name,
                          "parent": n.parent.instance_path if n.parent else None,
                          "service": n.service, "problem": n.problem,
                          "stack": [d.label for d in n.stack()]}
                         for n in self.pnp.device_root.walk()],
            "callbacks": [{"number": c.number, "kind": c.kind, "driver": c.driver.name,
                           "calls": c.calls} for c in self.ps.callbacks],
            "work_items": [{"number": i.number, "driver": i.driver, "done": i.done}
                           for i in self.ex.work_items],
            "transaction": None if self.tm.transaction is None else {
                "number": self.tm.transaction.number,
                "operations": [str(op) for op in self.tm.transaction.operations]},
            "logs": {log.name: [{"lsn": r.lsn, "text": r.text, "flushed": r.flushed}
                                for r in log.records] for log in self.disk.logs.values()},
        }


@dataclass(frozen=True)
class Snapshot:
    """A machine at one moment: every component pickled (and compressed: a tenth of the
    size, for a few milliseconds) but the trace, whose events are immutable tuples and so
    are kept by reference; a snapshot costs the bytes of the machine's objects, not of its
    trace. A snapshot lives in memory only, and pickle is
    only ever given what this process pickled: nothing a user loads is unpickled."""

    machine: bytes
    trace: tuple[Event, ...]

    def restore(self) -> System:
        """A new machine in the state snapshotted; the snapshot can be restored again."""
        with _collector_paused():
            system: System = pickle.loads(zlib.decompress(self.machine))
        system.core.restore_trace(self.trace)
        return system


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pickling a machine makes or walks some 100,000 objects: with the cyclic garbage
    collector running it takes several times longer (it scans the new objects again and
    again, though none of them is garbage)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
