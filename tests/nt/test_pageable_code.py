"""Pageable driver code and pool on pages (kmshell/nt/mm.py system space, io/manager.py):
a routine in the PAGE section faults like data — at DISPATCH_LEVEL the machine stops with
0xD1, at PASSIVE_LEVEL a hard fault reads the page from the driver's image down the disk
stack while the routine waits, then the routine runs."""

from __future__ import annotations

import pytest
from sessions import page_out

from kmshell.drivers import load_spec, new_system
from kmshell.nt import SystemHalted
from kmshell.nt.constants import NtStatus
from kmshell.nt.invariants import violations
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.mm import PAGE_SECTION, image_range, routine_address
from kmshell.nt.pte import form, vpn


def machine():
    system = new_system()
    driver = system.io.load_driver(load_spec("pagedcode"))
    process = system.ps.create_process("app.exe")
    return system, driver, process


def code_pte(system, driver, routine: str) -> int:
    return system.mm.system_tables.ptes[vpn(routine_address(driver, routine))]


def test_a_pageable_routine_lies_in_the_page_section_and_its_page_is_in_the_system_working_set():
    system, driver, _ = machine()
    base = image_range(driver)[0]
    assert routine_address(driver, "DPC") >= base + PAGE_SECTION
    assert routine_address(driver, "IRP_MJ_CREATE") < base + PAGE_SECTION
    assert vpn(routine_address(driver, "DPC")) in system.mm.system_tables.working_set
    assert vpn(routine_address(driver, "IRP_MJ_CREATE")) not in system.mm.system_tables.working_set
    assert violations(system) == []


def test_a_trimmed_pageable_dpc_stops_the_machine_with_0xd1_execute_at_dispatch_level():
    system, driver, _ = machine()
    system.mm.trim_working_set(None)
    assert form(code_pte(system, driver, "DPC")) == "transition"  # clean code: on standby
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("PagedCode"))
    address = routine_address(driver, "DPC")
    assert system.core.bugcheck_info.code == 0xD1
    assert system.core.bugcheck_info.parameters == (address, 2, 8, address)


def test_a_resident_pageable_dpc_runs_and_the_mistake_goes_unnoticed():
    system, _, _ = machine()
    system.ke.interrupt(system.io.find_device("PagedCode"))
    assert not system.halted


def test_a_repurposed_pageable_routine_is_read_from_its_image_down_the_disk_stack():
    system, driver, process = machine()
    handle = system.files.open_file(process, "\\Device\\PagedCode")
    page_out(system)
    assert form(code_pte(system, driver, "IRP_MJ_READ")) == "image"
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    reads = [irp for irp in system.io.irps_in_progress() if irp.flags]
    assert len(reads) == 1 and reads[0].flags == 0x43
    assert "pagedcode.sys" in " ".join(e.text for e in system.core.log[-30:])
    srb = system.io.irps_in_progress()[-1]
    system.io.complete_pending(srb, NtStatus.STATUS_SUCCESS)
    system.ke.step(2)
    assert code_pte(system, driver, "IRP_MJ_READ") & 1
    assert any("NtReadFile returns 0x00000000" in e.text for e in system.core.log)
    assert system.mm.faults["hard"] == 1 and violations(system) == []


def test_unloading_a_driver_frees_its_code_pages():
    system, driver, _ = machine()
    pages = [vpn(routine_address(driver, r)) for r in driver.spec.routines]
    free = system.mm.pfn.available
    system.io.unload_driver(driver)
    assert all(p not in system.mm.system_tables.ptes for p in pages)
    assert system.mm.pfn.available == free + len(set(pages))
    assert violations(system) == []


def test_pageable_must_name_routines_the_spec_has():
    with pytest.raises(SpecError, match="pageable names 'IRP_MJ_RAED', which is not in"):
        spec_from_dict({"name": "x", "type": "function", "pageable": ["IRP_MJ_RAED"],
                        "routines": {"IRP_MJ_READ": ["return STATUS_SUCCESS"]}}, "x.toml")
