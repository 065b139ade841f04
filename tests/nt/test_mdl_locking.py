"""MDLs for real (kmshell/nt/mm.py probe_and_lock / unlock_pages, io/files.py direct I/O):
MmProbeAndLockPages faults a user buffer in and locks its frames, a locked page survives a
trim, IofCompleteRequest's MmUnlockPages lets go, and a frame still locked when its process
ends waits for the unlock before it is freed."""

from __future__ import annotations

from sessions import printed

from kmshell.drivers import load_spec, new_system
from kmshell.nt.constants import NtStatus
from kmshell.nt.invariants import violations
from kmshell.nt.pfn import MmList
from kmshell.nt.pte import form, frame_of, vpn
from kmshell.session import Session


def pended_direct_read(driver: str = "slowdisk", device: str = "SlowDisk", length: int = 4096):
    """A direct-I/O driver (slowdisk) holds app.exe's read pended: its buffer is locked
    meanwhile."""
    system = new_system()
    system.io.load_driver(load_spec(driver))
    process = system.ps.create_process("app.exe")
    handle = system.files.open_file(process, f"\\Device\\{device}")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", length=length)
    [irp] = [i for i in system.io.irps_in_progress() if i.mdl is not None]
    return system, process, irp


def test_probe_and_lock_faults_the_buffer_in_and_raises_each_frames_reference_count():
    system, _, irp = pended_direct_read()
    [frame] = irp.mdl_frames
    assert system.mm.pfn.refs[frame] == 2 and system.mm.pfn.share[frame] == 1
    assert system.mm.faults["demand zero"] == 1 and violations(system) == []


def test_a_locked_page_is_not_trimmed_and_the_trim_says_so():
    system, process, irp = pended_direct_read()
    [frame] = irp.mdl_frames
    system.mm.trim_working_set(process)
    page = vpn(irp.mdl[1])
    assert process.address_space.tables.ptes[page] & 1  # still valid
    assert system.mm.pfn.location[frame] == MmList.ActiveAndValid
    assert "1 locked page(s) stay" in system.core.log[-1].text
    assert violations(system) == []


def test_completion_unlocks_the_pages_and_a_trim_then_takes_them():
    system, process, irp = pended_direct_read()
    [frame] = irp.mdl_frames
    system.io.complete_pending(irp, NtStatus.STATUS_SUCCESS)
    system.ke.step(2)
    assert system.mm.pfn.refs[frame] == 1
    system.mm.trim_working_set(process)
    assert form(process.address_space.tables.ptes[vpn(irp.mdl[1])]) == "transition"
    assert violations(system) == []


def test_a_frame_locked_when_its_process_ends_is_freed_at_the_unlock_not_before():
    system = new_system()
    process = system.ps.create_process("app.exe")
    vad = system.mm.virtual_alloc(process, 0x1000)
    frames = system.mm.probe_and_lock(process, vad.start, 0x1000)
    system.ps.terminate_process(process, 0)
    assert system.mm.pfn.location[frames[0]] == MmList.ActiveAndValid  # a device may still DMA
    assert violations(system) == []
    system.mm.unlock_pages(frames)
    assert system.mm.pfn.location[frames[0]] == MmList.FreePageList
    assert violations(system) == []


def test_pfn_shows_the_lock_in_the_reference_count():
    session = Session()
    session.execute("driver load slowdisk")
    session.execute("process create app.exe")
    session.execute("open app.exe \\Device\\SlowDisk")
    outcome = session.execute("read app.exe 0xc --length 4096")
    lock = next(e for e in outcome.events if e.kind == "lock")
    frame = lock.text.split("frame(s) ")[1].split(",")[0]
    assert "reference count 0002" in printed(session, f"pfn {frame}", width=100)


def test_the_system_address_of_an_mdl_maps_the_same_frames_until_completion_unmaps_it():
    system, _, irp = pended_direct_read("mdldisk", "MdlDisk", 8192)
    system_pages = [vpn(irp.system_address) + i for i in range(2)]
    mapped = [frame_of(system.mm.system_tables.ptes[p]) for p in system_pages]
    assert mapped == list(irp.mdl_frames) and violations(system) == []
    system.ke.interrupt(system.io.find_device("MdlDisk"))
    system.ke.step(2)
    assert all(p not in system.mm.system_tables.ptes for p in system_pages)
    assert system.mm.mdl_mappings == {} and violations(system) == []
