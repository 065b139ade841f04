"""Page tables and page faults (kmshell/nt/pte.py, kmshell/nt/mm.py): the x64 PTE forms and
the self-map, demand-zero faults that make page tables as they go, commit and its limit, a
fault above APC_LEVEL, and what a process's exit gives back."""

from __future__ import annotations

import re
from functools import partial

import pytest
from sessions import printed

from kmshell.drivers import new_system
from kmshell.nt.constants import BugCheck, NtStatus
from kmshell.nt.errors import NtError, SystemHalted
from kmshell.nt.invariants import violations
from kmshell.nt.mm import routine_address
from kmshell.nt.pfn import USE_PAGE_TABLE, USE_PROCESS_PRIVATE, MmList
from kmshell.nt.ps import parse_program
from kmshell.nt.pte import (
    DEMAND_ZERO,
    PTE_BASE,
    PXE_SELFMAP,
    VALID,
    entry_address,
    flags,
    form,
    frame_of,
    pagefile_pte,
    table_entry,
    transition_pte,
    valid_pte,
    vpn,
)
from kmshell.session import Session

shown = partial(printed, width=100)
PEB = 0x900000


def mi_address_to_pte(address: int) -> int:
    """ReactOS ntoskrnl/include/internal/amd64/mm.h, MiAddressToPte, written out again."""
    return PTE_BASE + ((address >> 9) & (0xFFFFFFFFF << 3))


@pytest.mark.parametrize("address", [0x900000, 0x7FFB_0000_0000, 0xFFFF_F800_0000_1000,
                                     0xFFFF_A50F_0B00_0000])
def test_the_pte_of_an_address_is_where_mi_address_to_pte_puts_it(address):
    assert entry_address(3, vpn(address)) == mi_address_to_pte(address)


def test_the_pml4_self_map_entry_is_index_0x1ed():
    assert PXE_SELFMAP == 0xFFFF_F6FB_7DBE_DF68 == entry_address(0, vpn(0xFFFF_F680_0000_0000))


def test_pte_forms_have_the_mmpte_layouts():
    assert DEMAND_ZERO == 0x80  # DemandZeroPte: MM_READWRITE << 5 (ReactOS mm/amd64/init.c)
    user_page = valid_pte(0x1B6, user=True)
    assert user_page == 0x8000_0000_001B_6867 and flags(user_page) == "---DA--UW-V"
    assert flags(table_entry(0x1B7, user=True)) == "---DA--UWEV"
    assert flags(valid_pte(1, user=False)) == "-G-DA--KW-V"
    assert form(transition_pte(0x1B6)) == "transition" and frame_of(transition_pte(0x1B6)) == 0x1B6
    assert form(pagefile_pte(5)) == "paged out" and form(DEMAND_ZERO) == "demand zero"
    assert form(0) == "zero" and form(user_page) == "valid"


def test_the_first_touch_of_committed_memory_takes_a_zeroed_frame_and_its_page_tables():
    system = new_system()
    process = system.ps.create_process("n.exe")
    space = process.address_space
    zeroed_head = system.mm.pfn.heads[MmList.ZeroedPageList].flink
    assert space.tables.ptes == {} and space.tables.tables == {}
    system.mm.touch(process, PEB, 7)
    pte = space.tables.ptes[vpn(PEB)]
    frame = frame_of(pte)
    assert pte & VALID and frame == zeroed_head
    assert len(space.tables.tables) == 3  # a PDPT, a page directory and a page table
    pfn = system.mm.pfn
    assert pfn.use[frame] == USE_PROCESS_PRIVATE and pfn.owner[frame] == process.pid
    assert pfn.pte[frame] == mi_address_to_pte(PEB)
    assert all(pfn.use[t] == USE_PAGE_TABLE for t in space.tables.tables.values())
    assert violations(system) == []


def test_a_second_touch_of_a_valid_page_takes_no_frame():
    system = new_system()
    process = system.ps.create_process("n.exe")
    system.mm.touch(process, PEB, 7)
    available = system.mm.pfn.available
    assert system.mm.touch(process, PEB + 8) == 0
    assert system.mm.touch(process, PEB) == 7
    assert system.mm.pfn.available == available


def test_a_new_page_table_is_made_only_where_none_covers_the_address():
    system = new_system()
    process = system.ps.create_process("n.exe")
    system.mm.touch(process, PEB)
    before = dict(process.address_space.tables.tables)
    system.mm.touch(process, 0x9FF000)  # the stack's committed top, in the same 2 MB
    assert process.address_space.tables.tables == before
    vad = system.mm.virtual_alloc(process, 0x1000)
    system.mm.touch(process, vad.start)  # the next 2 MB: a page table of its own
    assert len(process.address_space.tables.tables) == len(before) + 1


def test_a_reserved_but_uncommitted_stack_page_is_an_access_violation():
    system = new_system()
    process = system.ps.create_process("n.exe")
    stack = next(v for v in process.address_space.vads if v.description.startswith("stack"))
    assert system.mm.touch(process, stack.end - 0x1000) == 0  # the committed top
    assert system.mm.touch(process, stack.start) is None
    assert process.exit_status == NtStatus.STATUS_ACCESS_VIOLATION


def test_a_page_fault_above_apc_level_stops_the_machine_with_0xa():
    system = new_system()
    system.ke.create_named("spinlock", "L")
    process = system.ps.create_process(
        "t.exe", program=parse_program(f"acquire L; touch {PEB:#x}; release L; exit"))
    with pytest.raises(SystemHalted):
        system.ke.step(20)
    info = system.core.bugcheck_info
    assert info.code == BugCheck.IRQL_NOT_LESS_OR_EQUAL
    assert info.parameters[:3] == (PEB, 2, 0)  # the address, DISPATCH_LEVEL, a read
    assert "holds spin lock L" in info.rule and process.alive


def test_a_page_made_valid_first_can_be_touched_while_holding_a_spin_lock():
    system = new_system()
    system.ke.create_named("spinlock", "L")
    process = system.ps.create_process(
        "t.exe", program=parse_program(f"touch {PEB:#x}; acquire L; touch {PEB:#x}; "
                                       "release L; exit"))
    system.ke.step(20)
    assert not system.halted and process.exit_status == NtStatus.STATUS_SUCCESS


def test_process_exit_gives_its_pages_and_page_tables_to_the_free_list():
    system = new_system()
    pfn = system.mm.pfn
    process = system.ps.create_process("n.exe")
    system.mm.touch(process, PEB, 1)
    space = process.address_space
    held = [frame_of(p) for p in space.tables.ptes.values()] + list(space.tables.tables.values())
    held.append(space.directory_table_base >> 12)
    committed = system.mm.committed
    system.ps.terminate_process(process, 0)
    assert all(pfn.location[frame] == MmList.FreePageList for frame in held)
    assert pfn.count(MmList.FreePageList) == len(held) == 5
    assert system.mm.committed == committed - 5  # the PEB, two stack pages and the TEB's two
    assert violations(system) == []


def test_commit_beyond_memory_plus_the_paging_file_fails_with_status_commitment_limit():
    system = new_system()
    process = system.ps.create_process("n.exe")
    room = system.mm.commit_limit - system.mm.committed
    assert system.mm.commit_limit == 16_384 * 3  # 64 MB, and a paging file of twice that
    with pytest.raises(NtError) as failed:
        system.mm.virtual_alloc(process, (room + 1) * 0x1000)
    assert failed.value.status == NtStatus.STATUS_COMMITMENT_LIMIT
    system.mm.virtual_alloc(process, room * 0x1000)
    assert system.mm.committed == system.mm.commit_limit


def test_memory_alloc_past_the_limit_says_status_commitment_limit():
    session = Session()
    session.execute("process create notepad.exe")
    outcome = session.execute("memory alloc notepad.exe 0x10000000")
    assert "STATUS_COMMITMENT_LIMIT" in outcome.error.message
    assert "past the commit limit of 49152" in outcome.error.message


def test_pte_shows_each_level_of_the_walk_and_what_the_last_entry_means():
    session = Session()
    session.execute("process create notepad.exe")
    before = shown(session, "pte 0x900000 notepad.exe")
    assert "PXE" in before and "PPE" not in before and "no page table below it" in before
    session.execute("touch notepad.exe 0x900000 --write 7")
    after = shown(session, "!pte 900000 notepad.exe")
    for entry in ("PXE     FFFFF6FB7DBED000", "PPE     FFFFF6FB7DA00000",
                  "PDE     FFFFF6FB40000020", "PTE     FFFFF68000004800", "---DA--UW-V"):
        assert entry in after
    assert "valid: 0x900000 is in frame" in after


def test_pte_of_a_kernel_address_walks_the_shared_tables():
    session = Session()
    text = shown(session, "!pte fffff80000001000")
    assert "system space, the same in every process" in text
    assert "PTE     FFFFF6FC00000008   8000000000001963" in text  # frame 1, global, kernel


def test_memory_stats_shows_the_commit_charge_and_limit_as_vm_does():
    session = Session()
    text = shown(session, "memory stats")
    assert re.search(r"Committed pages: +\d+ \(", text)
    assert re.search(r"Commit limit: +49152 \(  196608 Kb\)", text)


def test_pte_of_a_driver_code_page_on_disk_says_it_is_in_its_image_file():
    session = Session()
    session.execute("driver load pagedcode")
    for line in ("memory trim system", "memory pressure max", "memory pressure 0"):
        session.execute(line)
    driver = session.system.io.find_driver("pagedcode")
    text = shown(session, f"!pte {routine_address(driver, 'DPC'):x}")
    assert "not valid, Prototype: the page is in its image file" in text


def test_pte_refuses_an_exited_process_and_a_non_canonical_address_before_anything_else():
    session = Session()
    session.execute("process create n.exe")
    session.execute("process kill n.exe")
    assert "has exited" in session.execute("pte 0x900000 n.exe").error.message
    assert "is not canonical" in session.execute("pte 0x123456789abcdef0").error.message


def test_vm_1_leaves_out_the_per_process_figures_as_windbg_does():
    session = Session()
    assert "working sets" in shown(session, "!vm") and "working sets" not in shown(session, "!vm 1")
