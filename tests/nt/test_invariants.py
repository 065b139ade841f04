"""The invariant checker itself: a sound machine has no violation, and each rule, broken on
purpose, is reported. (Otherwise the property tests that rely on it could never fail.)"""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System
from kmshell.nt.invariants import violations
from kmshell.nt.ke.thread_state import ThreadState
from kmshell.nt.pfn import MmList, PfnList


def busy() -> System:
    """A machine with something of everything: processes, a waiter, drivers, a pending IRP."""
    system = new_system()
    system.io.load_driver(load_spec("slowdisk"))
    system.io.load_driver(load_spec("watchfilter"))
    system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    system.ps.create_process("notepad.exe")
    return system


def test_a_sound_machine_has_no_violation():
    assert violations(busy()) == []


def handle_count_off(system):
    explorer = next(p for p in system.ps.processes.values() if p.image == "explorer.exe")
    next(iter(explorer.handle_table.entries.values())).object.header.handle_count += 1


def pointer_count_below_handles(system):
    explorer = next(p for p in system.ps.processes.values() if p.image == "explorer.exe")
    next(iter(explorer.handle_table.entries.values())).object.header.pointer_count = 0


def ready_thread_off_its_queue(system):
    thread = system.ps.create_process("calc.exe").threads[0]
    if thread.state is ThreadState.Ready:
        system.ke.dispatcher.remove(thread)
    else:
        thread.state = ThreadState.Ready


def running_thread_on_no_processor(system):
    cpu = next(c for c in system.core.processors if not c.is_idle)
    cpu.current_thread = cpu.idle_thread


def exited_process_still_running(system):
    system.ps.processes[max(system.ps.processes)].state = system.ps.processes[4].state.Terminated


def overlapping_pool_blocks(system):
    first = system.mm.allocate_pool(system.io.drivers["slowdisk"], False, 64, "One", "test")
    second = system.mm.allocate_pool(system.io.drivers["slowdisk"], False, 64, "Two", "test")
    second.address = first.address + 8


def irql_out_of_range(system):
    system.core.processors[1].irql = 16


def broken_stack_link(system):
    filter_device = next(d for d in system.io.devices if d.attached_to is not None)
    filter_device.attached_to.attached_device = None


def stack_size_too_small(system):
    filter_device = next(d for d in system.io.devices if d.attached_to is not None)
    filter_device.stack_size = 1


def completed_irp_still_held(system):
    next(iter(system.io.irps.values())).completed = True


def irp_finished_twice(system):
    system.io.complete_pending(next(iter(system.io.irps.values())), 0)
    system.core.log.append(next(e for e in system.core.log if e.kind == "irp-done"))


def devnode_without_its_pdo(system):
    system.pnp.device_root.children[0].pdo.devnode = None


def unlisted_named_object(system):
    directory = system.ob.lookup("\\BaseNamedObjects")
    system.ob.lookup("\\KernelObjects\\LowMemoryCondition").header.directory = directory


def wmi_provider_deleted(system):
    system.io.load_driver(load_spec("toaster"))
    system.io.devices.remove(system.io.find_device("Toaster"))  # gone without IoDeleteDevice


def mounted_volume_device_deleted(system):
    system.files.open_file(system.ps.create_process("edit.exe"), "C:\\notes.txt")
    volume = system.io.find_device("Harddisk0").vpb.device
    system.io.devices.remove(volume)  # gone without dismounting


def registered_file_system_deleted(system):
    system.io.devices.remove(system.files.file_systems[0])  # gone without IoUnregisterFileSystem


def volume_device_without_room_to_pass_down(system):
    system.files.open_file(system.ps.create_process("edit.exe"), "C:\\notes.txt")
    system.io.find_device("Harddisk0").vpb.device.stack_size = 1


def page_list_count_off(system):
    system.mm.pfn.heads[MmList.ZeroedPageList].total += 1


def frame_on_no_list(system):
    pfn = system.mm.pfn
    frame = pfn.heads[MmList.ZeroedPageList].flink
    pfn.unlink(frame)  # and never activated nor put on another list


def frame_on_two_lists(system):
    pfn = system.mm.pfn
    frame = pfn.heads[MmList.ZeroedPageList].blink
    pfn.heads[MmList.FreePageList] = PfnList(1, frame, frame)


@pytest.mark.parametrize("corrupt, complaint", [
    (handle_count_off, "handle-table entries point at it"),
    (pointer_count_below_handles, "is below its handle count"),
    (ready_thread_off_its_queue, "ready queue"),
    (running_thread_on_no_processor, "processors running it"),
    (exited_process_still_running, "but the live ones are"),
    (overlapping_pool_blocks, "overlaps the block before it"),
    (irql_out_of_range, "outside 0..15"),
    (broken_stack_link, "whose AttachedDevice is another"),
    (stack_size_too_small, "StackSize 1 is not above"),
    (completed_irp_still_held, "was completed"),
    (irp_finished_twice, "finished 2 times"),
    (unlisted_named_object, "its directory does not list it"),
    (devnode_without_its_pdo, "its PDO is missing or not its own"),
    (wmi_provider_deleted, "which was deleted"),
    (mounted_volume_device_deleted, "VPB names"),
    (registered_file_system_deleted, "is registered, but was deleted"),
    (volume_device_without_room_to_pass_down, "StackSize 1, not above"),
    (page_list_count_off, "ZeroedPageList counts"),
    (frame_on_no_list, "is on no list and neither ActiveAndValid nor being read in"),
    (frame_on_two_lists, "is linked in FreePageList but says it is on ZeroedPageList"),
], ids=lambda value: getattr(value, "__name__", ""))
def test_each_broken_rule_is_reported(corrupt, complaint):
    system = busy()
    corrupt(system)
    assert any(complaint in problem for problem in violations(system)), violations(system)
