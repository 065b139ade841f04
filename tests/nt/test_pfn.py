"""Physical memory and the PFN database (kmshell/nt/pfn.py, kmshell/nt/mm.py): the frames a
`boot --memory` machine has, the page lists (MMLISTS) and their transitions, and the page
directory each process takes."""

from __future__ import annotations

import json
import pickle
import re
import zlib
from functools import partial

import pytest
from sessions import printed

from kmshell.drivers import new_system
from kmshell.nt.invariants import violations
from kmshell.nt.mm import BOOT_FRAMES, PAGE_SIZE
from kmshell.nt.pfn import MmList, PfnDatabase
from kmshell.session import Session

shown = partial(printed, width=100)

ZEROED, FREE, STANDBY = MmList.ZeroedPageList, MmList.FreePageList, MmList.StandbyPageList
ACTIVE = MmList.ActiveAndValid


def counts(pfn: PfnDatabase) -> list[int]:
    return [pfn.count(name) for name in MmList]


def test_mmlists_have_the_ndk_names_and_values():
    assert [(m.name, int(m)) for m in MmList] == [
        ("ZeroedPageList", 0), ("FreePageList", 1), ("StandbyPageList", 2),
        ("ModifiedPageList", 3), ("ModifiedNoWritePageList", 4), ("BadPageList", 5),
        ("ActiveAndValid", 6), ("TransitionPage", 7)]


def test_boot_memory_64_has_16384_frames_of_4_kb():
    session = Session()
    session.execute("boot --memory 64")
    assert session.system.mm.pfn.frames == 16_384
    session.execute("boot --memory 16")
    assert session.system.mm.pfn.frames == 4_096


def test_boot_takes_the_loader_frames_and_zeroes_the_rest():
    system = new_system(minimal=True)
    pfn = system.mm.pfn
    loader = sum(count for _, count in BOOT_FRAMES)
    assert all(pfn.location[f] == ACTIVE for f in range(loader))
    assert pfn.count(ACTIVE) == loader  # a minimal machine has no page directory yet
    assert pfn.walk(ZEROED) == list(range(loader, pfn.frames))
    assert pfn.count(FREE) == 0 and violations(system) == []


@pytest.mark.parametrize("memory", [0, 15, 4097])
def test_boot_refuses_memory_outside_16_to_4096_mb(memory):
    session = Session()
    before = session.system
    outcome = session.execute(f"boot --memory {memory}")
    assert outcome.error is not None and "--memory must be 16..4096 MB" in outcome.error.message
    assert session.system is before


def test_a_frame_taken_from_zeroed_is_active_and_freeing_it_puts_it_on_free():
    system = new_system(minimal=True)
    pfn = system.mm.pfn
    first = pfn.heads[ZEROED].flink
    zeroed = pfn.count(ZEROED)
    assert system.mm.remove_zero_page() == first
    pfn.activate(first, 0, 4)
    assert pfn.location[first] == ACTIVE and pfn.count(ZEROED) == zeroed - 1
    assert pfn.share[first] == pfn.refs[first] == 1
    pfn.insert(first, FREE)
    assert pfn.location[first] == FREE and pfn.walk(FREE) == [first]
    assert pfn.share[first] == pfn.refs[first] == 0
    assert violations(system) == []


def test_a_free_frame_is_taken_when_no_zeroed_frame_is_left():
    system = new_system(minimal=True)
    pfn = system.mm.pfn
    for frame in pfn.walk(ZEROED)[:-1]:
        pfn.unlink(frame)
        pfn.activate(frame, 0, 0)
    last = pfn.heads[ZEROED].flink
    pfn.unlink(last)
    pfn.insert(last, FREE)
    assert system.mm.remove_zero_page() == last
    assert pfn.available == 0


def test_unlinking_from_the_middle_keeps_the_list_order():
    pfn = PfnDatabase(8)
    pfn.fill(FREE, 0, 5)
    pfn.unlink(2)
    pfn.insert(2, STANDBY)
    assert pfn.walk(FREE) == [0, 1, 3, 4] and pfn.heads[FREE].total == 4
    assert pfn.walk(STANDBY) == [2]


def test_available_is_zeroed_plus_free_plus_standby():
    pfn = PfnDatabase(10)
    pfn.fill(ZEROED, 0, 3)
    pfn.fill(FREE, 3, 5)
    pfn.insert(5, STANDBY)
    pfn.insert(6, MmList.ModifiedPageList)
    assert pfn.available == 3 + 2 + 1


def test_a_new_process_page_directory_is_an_active_frame_freed_at_exit():
    system = new_system(minimal=True)
    pfn = system.mm.pfn
    process = system.ps.create_process("notepad.exe")
    frame = process.address_space.directory_table_base // PAGE_SIZE
    assert pfn.location[frame] == ACTIVE and pfn.owner[frame] == process.pid
    system.ps.terminate_process(process, 0)
    assert pfn.location[frame] == FREE and pfn.walk(FREE) == [frame]
    assert violations(system) == []


def test_pfn_of_a_page_directory_shows_it_active_and_owned():
    session = Session()
    session.execute("process create notepad.exe")
    process = next(p for p in session.system.ps.processes.values() if p.image == "notepad.exe")
    frame = process.address_space.directory_table_base // PAGE_SIZE
    text = shown(session, f"!pfn {frame:x}")
    assert f"PFN {frame:08X}" in text and "Active" in text
    assert f"notepad.exe (PID {process.pid})" in text and "page table" in text


def test_pfn_beyond_the_last_frame_is_refused():
    outcome = Session().execute("pfn 0x4000")
    assert outcome.error is not None and "0x0..0x3fff" in outcome.error.message


def test_memory_stats_counts_every_list_and_the_available_pages():
    session = Session()
    pfn = session.system.mm.pfn
    text = shown(session, "!vm")
    assert re.search(rf"Physical Memory: +{pfn.frames} \( +65536 Kb\)", text)
    assert re.search(rf"Available Pages: +{pfn.available} ", text)
    assert all(name.name in text for name in MmList)


def test_undo_of_process_create_restores_the_page_lists():
    session = Session(checkpoint_every=1)
    session.execute("step")
    before = counts(session.system.mm.pfn), bytes(session.system.mm.pfn.location)
    session.execute("process create notepad.exe")
    assert counts(session.system.mm.pfn)[ZEROED] == before[0][ZEROED] - 1
    session.execute("undo")
    assert (counts(session.system.mm.pfn), bytes(session.system.mm.pfn.location)) == before
    assert violations(session.system) == []


def test_a_snapshot_of_the_pfn_database_is_flat_arrays_of_31_bytes_a_frame():
    pfn = new_system().mm.pfn
    pickled = pickle.dumps(pfn, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(pickled) < 32 * pfn.frames  # no object per frame: the arrays' bytes
    assert len(zlib.compress(pickled, 1)) < 100_000  # as System.snapshot compresses it


def test_process_create_fails_cleanly_when_no_frame_is_left_for_its_page_directory():
    session = Session()
    pfn = session.system.mm.pfn
    for frame in pfn.walk(ZEROED):
        pfn.unlink(frame)
        pfn.activate(frame, 0, 0)
    processes = len(session.system.ps.processes)
    outcome = session.execute("process create notepad.exe")
    assert outcome.error is not None
    assert "no free page frame is left in 64 MB" in outcome.error.message
    assert "STATUS_INSUFFICIENT_RESOURCES" in outcome.error.message
    assert len(session.system.ps.processes) == processes and violations(session.system) == []


@pytest.mark.parametrize("memory, loads", [(16, True), (8, False), ("64", False)])
def test_a_save_file_boot_memory_must_be_16_to_4096_mb(tmp_path, memory, loads):
    path = tmp_path / "s.json"
    assert Session().execute(f"save {path}").error is None
    data = json.loads(path.read_text())
    assert data["boot"]["memory"] == 64
    data["boot"]["memory"] = memory
    data["state"] = None if not loads else data["state"]
    path.write_text(json.dumps(data))
    session = Session()
    outcome = session.execute(f"load {path}")
    if loads:
        assert outcome.error is None and session.system.mm.pfn.frames == 4_096
    else:
        assert "memory (16..4096 MB)" in outcome.error.message


def test_a_database_found_sound_is_walked_again_once_a_frame_moves():
    """The invariants skip a walk when nothing moved since the last sound one: a frame taken
    off its list without a new place must still be reported."""
    system = new_system()
    assert violations(system) == []
    frame = system.mm.pfn.heads[ZEROED].flink
    system.mm.pfn.unlink(frame)  # on no list now, and not ActiveAndValid
    assert any(f"frame {frame:#x} is on no list" in problem for problem in violations(system))
