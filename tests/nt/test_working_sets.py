"""Working sets, trimming, the modified page writer and soft and hard faults
(kmshell/nt/mm.py): where a trimmed page goes, how it comes back, and what memory pressure
does to the pages nobody touched lately."""

from __future__ import annotations

import pytest
from sessions import page_out

from kmshell.drivers import load_spec, new_system
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.invariants import violations
from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.pfn import MmList
from kmshell.nt.ps import parse_program
from kmshell.nt.pte import PAGEFILE_HIGH_SHIFT, form, frame_of, vpn
from kmshell.session import Session

MODIFIED, STANDBY, FREE = MmList.ModifiedPageList, MmList.StandbyPageList, MmList.FreePageList


def machine_with_pages(*writes: int | None):
    """A machine whose notepad.exe has touched one page of a VirtualAlloc region per item:
    written with that value, or (None) only read."""
    system = new_system()
    process = system.ps.create_process("notepad.exe")
    vad = system.mm.virtual_alloc(process, 0x1000 * len(writes))
    pages = [vad.start + 0x1000 * i for i in range(len(writes))]
    for address, value in zip(pages, writes, strict=True):
        system.mm.touch(process, address, value)
    return system, process, pages


def pte_of(process, address: int) -> int:
    return process.address_space.tables.ptes[vpn(address)]


def test_a_trimmed_page_keeps_its_frame_behind_a_transition_pte_on_the_modified_list():
    system, process, [page] = machine_with_pages(7)
    frame = frame_of(pte_of(process, page))
    system.mm.trim_working_set(process)
    assert form(pte_of(process, page)) == "transition" and frame_of(pte_of(process, page)) == frame
    assert system.mm.pfn.location[frame] == MODIFIED  # demand-zero pages are born dirty
    assert process.address_space.tables.working_set == {}
    assert violations(system) == []


def test_a_page_saved_in_the_paging_file_and_trimmed_again_goes_to_standby():
    system, process, [page] = machine_with_pages(7)
    frame = frame_of(pte_of(process, page))
    system.mm.trim_working_set(process)
    assert system.mm.write_modified_pages() == 1
    assert system.mm.pfn.location[frame] == STANDBY and system.mm.paging_file.count(1) == 1
    system.mm.touch(process, page)  # a read: the copy in the paging file stays good
    system.mm.trim_working_set(process)
    assert system.mm.pfn.location[frame] == STANDBY
    assert violations(system) == []


def test_touching_a_trimmed_page_is_a_soft_fault_on_the_same_frame_with_no_new_frame():
    system, process, [page] = machine_with_pages(7)
    frame = frame_of(pte_of(process, page))
    system.mm.trim_working_set(process)
    zeroed = system.mm.pfn.count(MmList.ZeroedPageList)
    assert system.mm.touch(process, page) == 7
    assert frame_of(pte_of(process, page)) == frame and pte_of(process, page) & 1
    assert system.mm.pfn.count(MmList.ZeroedPageList) == zeroed
    assert system.mm.faults["soft"] == 1 and system.mm.faults["hard"] == 0
    assert vpn(page) in process.address_space.tables.working_set


def test_a_repurposed_standby_page_is_read_back_from_the_paging_file_by_a_hard_fault():
    system, process, [page] = machine_with_pages(7)
    old = frame_of(pte_of(process, page))
    system.mm.trim_working_set(process)
    system.mm.write_modified_pages()
    taken = []
    while old not in taken:  # take frames until the standby page is repurposed
        taken.append(system.mm.remove_zero_page())
        system.mm.pfn.activate(taken[-1], 14, 0)
    pte = pte_of(process, page)
    assert form(pte) == "paged out" and (pte >> PAGEFILE_HIGH_SHIFT) == 1  # slot 0, + 1
    for frame in taken:
        system.mm.pfn.insert(frame, FREE)
    assert system.mm.touch(process, page) is None  # the thread waits for the paging read
    thread = process.threads[0]
    assert thread.wait_reason is WaitReason.PageIn and form(pte_of(process, page)) == "transition"
    read, srb = system.io.irps_in_progress()
    assert read.flags == 0x43 and read.stack[-1].major == "IRP_MJ_READ"
    assert [d.driver.name for d in read.reached] == ["Ntfs", "disk"]
    assert violations(system) == []
    system.io.complete_pending(srb, NtStatus.STATUS_SUCCESS)  # the disk answers
    assert thread.wait_reason is not WaitReason.PageIn
    assert system.mm.faults["hard"] == 1 and pte_of(process, page) & 1
    assert system.mm.touch(process, page) == 7
    assert system.mm.paging_file.count(1) == 1  # a read keeps the copy
    system.mm.touch(process, page, 8)
    assert system.mm.paging_file.count(1) == 0  # a write makes it stale: the slot is freed
    assert violations(system) == []


def test_memory_pressure_makes_the_balance_set_manager_trim_and_write_modified_pages():
    system, process, pages = machine_with_pages(1, 2, None)
    target = (system.mm.pfn.available - 100) * 0x1000 >> 20
    system.mm.apply_pressure(target)
    kinds = [event.kind for event in system.core.log[-3:]]
    assert kinds == ["balance", "write", "pressure"]
    assert all(form(pte_of(process, p)) == "transition" for p in pages)
    assert system.mm.pfn.count(STANDBY) == 3 and system.mm.paging_file.count(1) == 3
    assert violations(system) == []


def test_memory_pressure_that_cannot_be_met_says_how_much_can_and_changes_nothing():
    system = machine_with_pages(1)[0]
    available = system.mm.pfn.available
    with pytest.raises(NtError) as refused:
        system.mm.apply_pressure(64)
    assert refused.value.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert "at most 62 MB can be freed" in str(refused.value)
    assert system.mm.pfn.available == available and system.mm.pressure == []


def test_memory_pressure_0_gives_every_held_frame_back():
    system = machine_with_pages(1)[0]
    system.mm.apply_pressure(10)
    assert len(system.mm.pressure) == 2560
    system.mm.apply_pressure(0)
    assert system.mm.pressure == [] and system.mm.pfn.count(FREE) == 2560


def test_process_exit_frees_trimmed_frames_and_its_paging_file_slots():
    system, process, pages = machine_with_pages(1, 2)
    system.mm.trim_working_set(process)
    system.mm.write_modified_pages()
    frames = [frame_of(pte_of(process, p)) for p in pages]
    system.ps.terminate_process(process, 0)
    assert all(system.mm.pfn.location[f] == FREE for f in frames)
    assert system.mm.paging_file.count(1) == 0 and system.mm.pfn.count(STANDBY) == 0
    assert violations(system) == []


def test_trim_and_pressure_commands_show_the_lists_and_working_sets():
    session = Session()
    session.execute("process create notepad.exe")
    session.execute("memory alloc notepad.exe 0x2000")
    session.execute("touch notepad.exe 0xa03000 --write 1")
    outcome = session.execute("memory trim notepad.exe")
    assert "1 written since last saved → modified list" in outcome.events[0].text
    outcome = session.execute("memory pressure 62")
    assert [e.kind for e in outcome.events] == ["balance", "write", "pressure"]
    outcome = session.execute("touch notepad.exe 0xa03000")  # still on standby: not repurposed
    assert "soft fault" in outcome.events[0].text and "StandbyPageList" in outcome.events[0].text
    assert session.execute("memory trim nosuch.exe").error is not None


def test_a_hard_fault_on_a_machine_without_a_file_system_reads_the_page_at_once():
    system = new_system(minimal=True)
    process = system.ps.create_process("notepad.exe")
    vad = system.mm.virtual_alloc(process, 0x1000)
    system.mm.touch(process, vad.start, 9)
    page_out(system, process)
    assert form(pte_of(process, vad.start)) == "paged out"
    assert system.mm.touch(process, vad.start) == 9
    assert system.mm.faults["hard"] == 1 and violations(system) == []


def test_a_process_that_ends_while_its_page_is_read_in_frees_the_frame_when_the_read_ends():
    system, process, [page] = machine_with_pages(7)
    page_out(system, process)
    system.mm.touch(process, page)
    frame = frame_of(pte_of(process, page))
    system.ps.terminate_process(process, 0)
    assert violations(system) == []
    srb = system.io.irps_in_progress()[-1]
    system.io.complete_pending(srb, NtStatus.STATUS_SUCCESS)
    assert system.mm.pfn.location[frame] == FREE and violations(system) == []


def test_a_failed_paging_read_is_an_in_page_error_that_ends_the_process():
    system, process, [page] = machine_with_pages(7)
    page_out(system, process)
    system.mm.touch(process, page)
    srb = system.io.irps_in_progress()[-1]
    system.io.complete_pending(srb, 0xC000009C)  # STATUS_DEVICE_DATA_ERROR
    assert process.exit_status == NtStatus.STATUS_IN_PAGE_ERROR
    assert violations(system) == []


def test_a_thread_step_that_hard_faults_waits_then_runs_the_touch_again_and_goes_on():
    system = new_system()
    system.ke.create_named("event", "Go", notification=True)
    process = system.ps.create_process("t.exe", program=parse_program(
        "wait Go; touch 0xa03000; compute 1; exit"))
    vad = system.mm.virtual_alloc(process, 0x1000)
    assert vad.start == 0xA03000
    system.mm.touch(process, vad.start, 5)
    system.ke.step(2)  # the thread waits for Go
    page_out(system, process)
    system.ke.set_event(system.ke.sync_object("Go"))
    system.ke.step(1)
    thread = process.threads[0]
    assert thread.wait_reason is WaitReason.PageIn and thread.program[thread.pc].op == "touch"
    system.io.complete_pending(system.io.irps_in_progress()[-1], NtStatus.STATUS_SUCCESS)
    system.ke.step(5)
    assert process.exit_status == NtStatus.STATUS_SUCCESS
    assert system.mm.faults["hard"] == 1 and violations(system) == []


def test_a_thread_waiting_for_a_page_read_touches_nothing_else_until_it_completes():
    session = Session()
    for line in ("process create n.exe", "memory alloc n.exe 0x2000",
                 "touch n.exe 0xa03000 --write 1", "touch n.exe 0xa04000 --write 2",
                 "memory trim n.exe", "memory pressure max", "memory pressure 0",
                 "touch n.exe 0xa03000"):
        assert session.execute(line).error is None, line
    refused = session.execute("touch n.exe 0xa04000").error
    assert refused is not None and "waits for a page to be read in (IRP 2)" in refused.message


def test_paged_pool_whose_page_is_on_disk_is_read_back_when_the_pool_writes_a_header():
    system = new_system(minimal=True)  # no disk: the paging read is done at once
    driver = system.io.load_driver(load_spec("scribbler"))
    page = next(b for b in system.mm.pool if b.paged)
    page_out(system)
    assert form(system.mm.system_tables.ptes[vpn(page.address)]) == "paged out"
    hard = system.mm.faults["hard"]
    system.mm.allocate_pool(driver, True, 16, "Late", "IRP_MJ_READ")
    assert system.mm.faults["hard"] == hard + 1  # the header's page had to come back
    assert system.mm.system_tables.ptes[vpn(page.address)] & 1 and violations(system) == []
