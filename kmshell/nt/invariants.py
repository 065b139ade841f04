"""The model's invariants: facts that hold after every command, whatever was typed.

`violations(system)` returns each broken rule as a sentence (an empty list when all hold).
The property tests call it after every random command; a new model part adds its rules here.
A bugcheck is a model state, not a broken invariant: the rules hold on a halted machine too,
except that an IRP may then have been completed twice (that is what 0x44 reports).
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import TYPE_CHECKING

from kmshell.nt.constants import BugCheck, Irql
from kmshell.nt.ke.sync import DispatcherObject
from kmshell.nt.ke.thread_state import ThreadState
from kmshell.nt.ob import Directory, ObjectBody
from kmshell.nt.pfn import (
    AVAILABLE_LISTS,
    LISTS,
    NO_FRAME,
    TRANSITION_LISTS,
    MmList,
    PfnDatabase,
)
from kmshell.nt.pnp import DevnodeState
from kmshell.nt.pte import PXE_SELFMAP, VALID, entry_address, form, frame_of

if TYPE_CHECKING:
    from kmshell.nt.io.irp import DeviceObject
    from kmshell.nt.system import System


def violations(system: System) -> list[str]:
    return [*_processes(system), *_pool(system), *_objects(system), *_threads(system),
            *_processors(system), *_devices(system), *_devnodes(system), *_irps(system),
            *_wmi(system), *_volumes(system), *_frames(system)]


def _frames(system: System) -> list[str]:
    """The PFN database: walking each list visits exactly its count of frames, each marked
    as on that list, with flink and blink agreeing (PFN_LIST_CORRUPT's concern) and no
    reference left (a locked page is on no list); every frame is on exactly one list or
    ActiveAndValid; available is zeroed + free + standby."""
    pfn = system.mm.pfn
    if _FRAMES_VERIFIED.get(pfn) == pfn.changes:
        return []  # nothing moved since the last walk found it sound: every command asks
    location, flink, blink = pfn.location, pfn.flink, pfn.blink
    problems, seen = [], bytearray(pfn.frames)
    walked = 0
    for name in LISTS:  # one pass a list, in local variables: it runs after every command
        head = pfn.heads[name]
        count, before, frame = 0, NO_FRAME, head.flink
        while frame != NO_FRAME and count <= pfn.frames:
            if location[frame] != name or blink[frame] != before:
                problems.append(f"frame {frame:#x} is linked in {name.name} but says it is on "
                                f"{MmList(location[frame]).name} after {blink[frame]:#x}")
            if seen[frame]:
                problems.append(f"frame {frame:#x} is on two lists")
            if pfn.refs[frame]:
                problems.append(f"frame {frame:#x} is on {name.name} with {pfn.refs[frame]} "
                                "reference(s): a locked page is never on a list")
            seen[frame] = 1
            count, before, frame = count + 1, frame, flink[frame]
        if count != head.total:
            problems.append(f"{name.name} counts {head.total} frames, but its links reach "
                            f"{count}")
        if count and head.blink != before:
            problems.append(f"{name.name}'s last frame is {head.blink:#x}, but its links end "
                            f"at {before:#x}")
        walked += count
    # every frame not reached through a list is ActiveAndValid (counted at C speed)
    off_lists = (MmList.ActiveAndValid, MmList.TransitionPage)  # in use, or being read in
    if walked + sum(location.count(state) for state in off_lists) != pfn.frames:
        problems += [f"frame {frame:#x} is on no list and neither ActiveAndValid nor being "
                     f"read in ({MmList(location[frame]).name})" for frame in range(pfn.frames)
                     if not seen[frame] and location[frame] not in off_lists]
    if pfn.available != sum(location.count(name) for name in AVAILABLE_LISTS):
        problems.append(f"{pfn.available} pages are counted available, not the zeroed, free "
                        "and standby frames")
    problems += _mappings(system)
    if not problems:
        _FRAMES_VERIFIED[pfn] = pfn.changes
    return problems


def _mappings(system: System) -> list[str]:
    """Every frame is valid in exactly the PTEs that map it: each valid PTE (and each page-
    table page) names an ActiveAndValid frame whose PteAddress and owner point back at it,
    each transition PTE a standby or modified frame that does, and no other frame has a
    PteAddress (the back-pointers make two PTEs of one frame impossible; the count makes a
    frame that claims a PTE nobody has impossible)."""
    pfn, problems = system.mm.pfn, []
    spaces = [(0, system.mm.system_tables, system.mm.kernel_pml4)]
    spaces += [(p.pid, p.address_space.tables, p.address_space.directory_table_base // 0x1000)
               for p in system.ps.running.values() if p.address_space is not None]
    active: tuple[MmList, ...] = (MmList.ActiveAndValid,)
    transition = (*TRANSITION_LISTS, MmList.TransitionPage)
    claimed = 0
    for owner, tables, pml4 in spaces:
        pointers = [(pml4, PXE_SELFMAP, active, "its PML4")]
        pointers += [(frame, entry_address(level - 1, upper << 9 * (4 - level)), active,
                      f"a level-{level} table") for (level, upper), frame in tables.tables.items()]
        pointers += [(frame_of(pte), entry_address(3, page),
                      active if pte & VALID else transition, f"page {page:#x}")
                     for page, pte in tables.ptes.items()
                     if (pte & VALID or form(pte) == "transition")
                     and not (owner == 0 and page in system.mm.mdl_mappings)]
        for frame, address, where, what in pointers:
            if pfn.location[frame] not in where:
                problems.append(f"frame {frame:#x} ({what} of PID {owner}) is "
                                f"{MmList(pfn.location[frame]).name}")
            if pfn.pte[frame] != address or pfn.owner[frame] != owner:
                problems.append(f"frame {frame:#x} ({what} of PID {owner}) says it is mapped at "
                                f"{pfn.pte[frame]:#x} for PID {pfn.owner[frame]}")
        claimed += len(pointers)
    for page, frame in system.mm.mdl_mappings.items():  # a second mapping, of a locked page
        if pfn.refs[frame] < 2 or system.mm.system_tables.ptes.get(page, 0) & VALID == 0:
            problems.append(f"system page {page:#x} maps frame {frame:#x} for an MDL, but the "
                            "frame is not locked or the PTE is not valid")
    kept = pfn.frames - pfn.pte.count(0)
    if kept != claimed:
        problems.append(f"{kept} frames have a PteAddress, but the page tables map {claimed}")
    return problems


# Each PFN database's `changes` when a walk last found it sound (a walk of 16,384 frames
# after every command doubled the property tests' time).
_FRAMES_VERIFIED: weakref.WeakKeyDictionary[PfnDatabase, int] = weakref.WeakKeyDictionary()


def _volumes(system: System) -> list[str]:
    """A registered file system and a mounted volume's device are live devices, and a
    volume device has a stack location more than the stack it sends its requests to."""
    problems = [f"file system {device.label} is registered, but was deleted"
                for device in system.files.file_systems if device not in system.io.devices]
    for device in system.io.devices:
        volume = device.mounted_volume
        if volume is None:
            continue
        target = volume.target_device
        if volume not in system.io.devices:
            problems.append(f"{device.label}'s VPB names {volume.label}, which was deleted")
        elif target is None:
            problems.append(f"volume device {volume.label} has no target device to send its "
                            "requests to")
        elif volume.stack_size <= target.stack_size:
            problems.append(f"volume device {volume.label} has StackSize {volume.stack_size}, "
                            f"not above {target.label}'s {target.stack_size}")
    return problems


def _wmi(system: System) -> list[str]:
    """WMI only knows providers that exist: a registered data block's device is live."""
    return [f"WMI class {block.name} is provided by {block.device.label}, which was deleted"
            for block in system.wmi.wmi_blocks.values() if block.device not in system.io.devices]


def _processes(system: System) -> list[str]:
    """The index of running processes holds exactly the processes that are alive, and the
    count of live threads counts exactly their threads not yet terminated."""
    alive = [pid for pid, process in system.ps.processes.items() if process.alive]
    if alive != list(system.ps.running):
        return [f"running processes are {list(system.ps.running)}, but the live ones are {alive}"]
    threads = sum(len(process.live_threads) for process in system.ps.running.values())
    if threads != system.ps.live_thread_count:
        return [f"Ps counts {system.ps.live_thread_count} live threads, but there are {threads}"]
    return []


def _pool(system: System) -> list[str]:
    """Pool blocks of one kind (paged, nonpaged, special) never overlap: each starts after
    the previous one's end."""
    problems: list[str] = []
    last_end: dict[str, int] = {}
    for block in system.mm.pool:
        kind = "special" if block.special else block.kind
        if block.address - 0x10 < last_end.get(kind, 0):
            problems.append(f"pool block '{block.tag}' of {block.driver} at "
                            f"{block.address:#x} overlaps the block before it")
        last_end[kind] = block.end
    return problems


def _objects(system: System) -> list[str]:
    """Handle counts match the handle tables; pointer counts cover the handles; nothing that
    was deleted (pointer count 0) is still reachable from the namespace or a handle."""
    handles: Counter[int] = Counter()
    referenced: dict[int, ObjectBody] = {}
    for process in system.ps.processes.values():
        for entry in process.handle_table.entries.values():
            handles[id(entry.object)] += 1
            referenced[id(entry.object)] = entry.object
    named = {id(obj): obj for obj in system.ob.walk()}
    problems = []
    for key, obj in {**named, **referenced}.items():
        header, label = obj.header, obj.header.path or obj.header.type_name
        if header.handle_count != handles[key]:
            problems.append(f"{label}: handle count {header.handle_count}, but "
                            f"{handles[key]} handle-table entries point at it")
        if header.pointer_count < header.handle_count:
            problems.append(f"{label}: pointer count {header.pointer_count} is below its "
                            f"handle count {header.handle_count}")
        if header.pointer_count <= 0:
            problems.append(f"{label}: deleted (pointer count {header.pointer_count}) but "
                            "still reachable")
    for obj in named.values():
        directory = obj.header.directory
        if directory is None or not isinstance(directory, Directory) or \
                directory.entries.get(obj.header.name.upper()) is not obj:
            problems.append(f"{obj.header.path}: its directory does not list it")
    return problems


def _threads(system: System) -> list[str]:
    """Each thread is in exactly one state, and the structures agree with that state: a Ready
    thread is in its priority's ready queue once, a Running one is current on one processor,
    a Waiting one is on the waiter list of what it waits for."""
    problems = []
    queued: Counter[int] = Counter()
    for priority, queue in enumerate(system.ke.dispatcher.queues):
        for thread in queue:
            queued[id(thread)] += 1
            if thread.priority != priority:
                problems.append(f"thread {thread.label} (priority {thread.priority}) is in the "
                                f"ready queue of priority {priority}")
        if bool(queue) != bool(system.ke.dispatcher.summary >> priority & 1):
            problems.append(f"KiReadySummary bit {priority} disagrees with its ready queue")
    current = Counter(id(cpu.current_thread) for cpu in system.core.processors)
    waiters: Counter[int] = Counter()
    for obj in _dispatcher_objects(system):
        for thread in obj.waiters:
            waiters[id(thread)] += 1
            if thread.waiting_on is not obj:
                problems.append(f"thread {thread.label} is on a waiter list of an object it "
                                "does not wait on")
    for thread in system.ps.threads.values():
        key, state = id(thread), thread.state
        if not isinstance(state, ThreadState):
            problems.append(f"thread {thread.label} has no valid state ({state!r})")
            continue
        expected = {
            "ready queue": (queued[key], int(state is ThreadState.Ready)),
            "processors running it": (current[key], int(state is ThreadState.Running)),
        }
        for where, (found, wanted) in expected.items():
            if found != wanted:
                problems.append(f"thread {thread.label} is {state.name} but is in {found} "
                                f"{where} (expected {wanted})")
        if thread.waiting_on is not None:
            if state is not ThreadState.Waiting:
                problems.append(f"thread {thread.label} waits on an object but is {state.name}")
            elif waiters[key] != 1:
                problems.append(f"thread {thread.label} waits on an object whose waiter list "
                                f"holds it {waiters[key]} times")
        if state is ThreadState.Terminated and thread.held_locks:
            problems.append(f"thread {thread.label} ended still holding locks")
    for lock in system.ke.spin_locks.values():
        if lock.owner is not None and lock not in lock.owner.held_locks:
            problems.append(f"spin lock {lock.name} is owned by {lock.owner.label}, which does "
                            "not list it as held")
    return problems


def _dispatcher_objects(system: System) -> list[DispatcherObject]:
    """Every dispatcher object a thread may wait on: named ones, and ones held by handle."""
    found = {id(obj): obj for obj in system.ob.walk() if isinstance(obj, DispatcherObject)}
    for process in system.ps.processes.values():
        for entry in process.handle_table.entries.values():
            if isinstance(entry.object, DispatcherObject):
                found[id(entry.object)] = entry.object
    for thread in system.ps.threads.values():
        if isinstance(thread.waiting_on, DispatcherObject):
            found[id(thread.waiting_on)] = thread.waiting_on
    return list(found.values())


def _processors(system: System) -> list[str]:
    """x64 IRQLs run from PASSIVE_LEVEL (0) to HIGH_LEVEL (15); a halted machine is at HIGH."""
    problems = []
    for cpu in system.core.processors:
        if not Irql.PASSIVE_LEVEL <= cpu.irql <= Irql.HIGH_LEVEL:
            problems.append(f"CPU{cpu.number} is at IRQL {cpu.irql}, outside 0..15")
        if system.halted and cpu.irql != Irql.HIGH_LEVEL:
            problems.append(f"CPU{cpu.number} is at IRQL {cpu.irql} after a bugcheck")
    return problems


def _devices(system: System) -> list[str]:
    """Device stack links agree both ways (AttachedDevice and AttachedTo), a device needs one
    more stack location than the device it is attached to, and a stack has no cycle."""
    problems = []
    for device in system.io.devices:
        above, below = device.attached_device, device.attached_to
        if above is not None and above.attached_to is not device:
            problems.append(f"{device.label}: AttachedDevice {above.label} is not attached "
                            "to it")
        if below is not None:
            if below.attached_device is not device:
                problems.append(f"{device.label}: attached to {below.label}, whose "
                                "AttachedDevice is another")
            if device.stack_size < below.stack_size + 1:
                problems.append(f"{device.label}: StackSize {device.stack_size} is not above "
                                f"{below.label}'s {below.stack_size}")
        seen: set[int] = set()
        walker: DeviceObject | None = device
        while walker is not None and id(walker) not in seen:
            seen.add(id(walker))
            walker = walker.attached_to
        if walker is not None:
            problems.append(f"{device.label}: its stack has a cycle")
    return problems


def _devnodes(system: System) -> list[str]:
    """The device tree: each devnode's PDO is a live device that points back at it, children
    name their parent, and no deleted devnode is still in the tree."""
    problems = []
    live = set(map(id, system.io.devices))
    for node in system.pnp.devnodes():
        if node.pdo is None or id(node.pdo) not in live or node.pdo.devnode is not node:
            problems.append(f"devnode {node.instance_path}: its PDO is missing or not its own")
        if node.state is DevnodeState.DeviceNodeDeleted:
            problems.append(f"devnode {node.instance_path} is deleted but still in the tree")
        for child in node.children:
            if child.parent is not node:
                problems.append(f"devnode {child.instance_path} does not name its parent")
    return problems


def _irps(system: System) -> list[str]:
    """An IRP still held by the I/O manager has not been completed, or waits for its
    completion APC in the thread that asked (or for a system service that already returned,
    when a completion routine lost the pending mark); no IRP finished twice unless bugcheck 0x44
    says so."""
    problems = [f"IRP {irp.number} is held as in progress but was completed"
                for irp in system.io.irps.values() if irp.completed and not (
                    irp.apc_to is not None
                    # a driver lost the pending mark: left to a service that returned
                    or (irp.requester is not None and irp.deferred
                        and not irp.pending_returned))]
    done = Counter(e.text.split()[1] for e in system.core.log if e.kind == "irp-done")
    info = system.core.bugcheck_info
    excused = info is not None and info.code == BugCheck.MULTIPLE_IRP_COMPLETE_REQUESTS
    problems += [f"IRP {number} finished {count} times"
                 for number, count in done.items() if count > 1 and not excused]
    return problems
