"""Pool rules, one per test: blocks side by side in one pool shared by every driver, an
overrun found only when the victim frees its block, wild and paged-at-DISPATCH writes, double
frees, leaks at unload — each bugcheck with its real parameters."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import BugCheck
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.pool import POOL_HEADER


def loaded(*names: str) -> System:
    system = new_system(minimal=True)
    for name in names:
        system.io.load_driver(load_spec(name))
    return system


def test_blocks_of_one_kind_sit_one_after_another_behind_a_pool_header():
    system = loaded("scribbler", "tidy")
    scrb, tidy = (next(b for b in system.mm.pool if b.tag == tag) for tag in ("Scrb", "Tidy"))
    assert tidy.address == scrb.end + POOL_HEADER  # 64 bytes, then Tidy's 16-byte header
    page = next(b for b in system.mm.pool if b.tag == "Page")
    assert page.paged and not scrb.paged and page.address != scrb.end + POOL_HEADER


def test_an_overrun_is_silent_and_the_victim_crashes_when_it_frees_its_block():
    system = loaded("scribbler", "tidy")
    system.io.send_irp(system.io.find_device("Scribbler"), "IRP_MJ_WRITE")
    assert not system.halted  # nothing notices the overrun itself
    tidy = next(b for b in system.mm.pool if b.tag == "Tidy")
    assert tidy.overwritten_by == "scribbler"
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Tidy"), "IRP_MJ_CLEANUP")
    info = system.core.bugcheck_info
    assert info.code == BugCheck.BAD_POOL_HEADER and info.driver == "tidy.sys"
    assert info.parameters[:2] == (0x20, tidy.address - POOL_HEADER)
    assert "scribbler" in info.rule


def test_a_block_freed_without_damage_frees_quietly():
    system = loaded("scribbler", "tidy")
    system.io.send_irp(system.io.find_device("Tidy"), "IRP_MJ_CLEANUP")
    assert not system.halted and next(b for b in system.mm.pool if b.tag == "Tidy").freed


def test_a_write_to_an_address_no_block_covers_bugchecks_0x50_at_once():
    system = loaded("scribbler")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Scribbler"), "IRP_MJ_READ")
    info = system.core.bugcheck_info
    # Arg2 2: a write, on x64 Windows 10 1507 and later (bug check 0x50's WDK page)
    assert info.code == 0x50 and info.parameters[:2] == (0xFFFFA50F0BFF0000, 2)


def test_touching_trimmed_paged_pool_at_dispatch_level_bugchecks_0xd1_with_the_irql():
    system = loaded("scribbler")
    system.mm.trim_working_set(None)  # the system working set: paged pool's page in transition
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("Scribbler"))  # its DPC touches paged pool
    page = next(b for b in system.mm.pool if b.tag == "Page")
    assert system.core.bugcheck_info.code == 0xD1
    assert system.core.bugcheck_info.parameters[:3] == (page.address, 2, 1)


def test_touching_resident_paged_pool_at_dispatch_level_goes_unnoticed_without_verifier():
    system = loaded("scribbler")
    system.ke.interrupt(system.io.find_device("Scribbler"))  # the page happens to be in memory
    assert not system.halted


def test_force_irql_checking_trims_paged_pool_so_a_verified_driver_faults_every_time():
    system = new_system()
    system.mm.set_verifier("scribbler", True)
    system.io.load_driver(load_spec("scribbler"))
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("Scribbler"))
    assert system.core.bugcheck_info.code == 0xD1
    assert any(e.kind == "force-irql" for e in system.core.log)


def test_freeing_a_block_twice_bugchecks_0xc2_parameter_7_with_its_address():
    system = loaded("scribbler")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Scribbler"), "IRP_MJ_DEVICE_CONTROL")
    scrb = next(b for b in system.mm.pool if b.tag == "Scrb")
    info = system.core.bugcheck_info
    assert info.code == 0xC2 and info.parameters[0] == 7 and info.parameters[3] == scrb.address


def test_allocating_paged_pool_above_apc_level_bugchecks_0xc2_parameter_8():
    spec = spec_from_dict({"name": "eager", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Eager", "IoConnectInterruptEx"],
        "ISR": ["IoRequestDpc"], "DPC": ["ExAllocatePool2 PAGED 16 Eagr"]}}, "eager.toml")
    system = new_system(minimal=True)
    system.io.load_driver(spec)
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("Eager"))
    assert system.core.bugcheck_info.parameters[:4] == (8, 2, 1, 16)  # IRQL 2, PagedPool, 16 bytes


def test_a_driver_that_unloads_holding_pool_leaks_it_and_the_trace_says_so():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_045E&PID_0008")
    hidusb = system.io.drivers["hidusb"]
    system.mm.allocate_pool(hidusb, False, 128, "HidX", "AddDevice")
    system.pnp.unplug(node.pdo)
    leak = next(e for e in system.core.log if e.kind == "leak")
    assert "HidUsb unloads without freeing 1 pool block(s), 128 bytes (tag 'HidX')" in leak.text


@pytest.mark.parametrize("step, message", [
    ("ExAllocatePool2 SOMETIMES 16 Tag1", "takes NONPAGED or PAGED"),
    ("ExAllocatePool2 NONPAGED 16 TooLong", "a pool tag is one to four letters or digits"),
    ("RtlFillMemory 0x1000 8", "is not a kernel address"),
    ("RtlFillMemory Tag1 lots", "LENGTH is a number of bytes"),
])
def test_a_pool_step_written_wrong_is_a_load_time_error(step, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict({"name": "bad", "type": "function",
                        "routines": {"DriverEntry": [step]}}, "bad.toml")


# ------------------------------------------------------------------ Driver Verifier


def verified(*names: str, verify: str = "scribbler") -> System:
    system = new_system(minimal=True)
    system.mm.set_verifier(verify, True)
    for name in names:
        system.io.load_driver(load_spec(name))
    return system


def test_verifier_writes_verifydrivers_and_applies_from_the_next_load():
    system = loaded("scribbler")
    system.mm.set_verifier("scribbler", True)
    assert system.mm.verify_drivers() == ["scribbler.sys"]
    assert not system.io.drivers["scribbler"].verified  # loaded before: not yet
    system.mm.set_verifier("scribbler.sys", False)
    assert system.mm.verify_drivers() == []


def test_a_verifydrivers_value_that_is_not_a_string_names_no_driver():
    from kmshell.nt.pool import VERIFY_DRIVERS_KEY

    system = new_system(minimal=True)
    system.cm.write_value(VERIFY_DRIVERS_KEY, "VerifyDrivers", "REG_DWORD", 5)  # reg set can
    assert system.mm.verify_drivers() == []
    system.io.load_driver(load_spec("scribbler"))
    assert not system.io.drivers["scribbler"].verified
    system.mm.set_verifier("scribbler", True)  # verifier.exe writes it back as REG_SZ
    assert system.mm.verify_drivers() == ["scribbler.sys"]


def test_a_verified_drivers_overrun_faults_on_the_write_itself_0xd6():
    system = verified("scribbler", "tidy")
    scrb = next(b for b in system.mm.pool if b.tag == "Scrb")
    assert scrb.special and (scrb.address + scrb.size) % 0x1000 == 0  # ends at its page's end
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Scribbler"), "IRP_MJ_WRITE")
    info = system.core.bugcheck_info
    assert info.code == BugCheck.DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION
    assert info.parameters[:2] == (scrb.address + scrb.size, 1) and info.driver == "scribbler.sys"
    assert not next(b for b in system.mm.pool if b.tag == "Tidy").overwritten_by


def test_a_verified_drivers_double_free_is_0xc4_parameter_0x13():
    system = verified("scribbler")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Scribbler"), "IRP_MJ_DEVICE_CONTROL")
    scrb = next(b for b in system.mm.pool if b.tag == "Scrb")
    assert system.core.bugcheck_info.parameters[:3] == (0x13, 0, scrb.address - POOL_HEADER)


def test_a_verified_driver_unloading_with_pool_is_0xc4_parameter_0x62_with_the_count():
    system = new_system()
    system.mm.set_verifier("HidUsb", True)
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_045E&PID_0008")
    hidusb = system.io.drivers["hidusb"]
    system.mm.allocate_pool(hidusb, False, 128, "HidX", "AddDevice")
    system.mm.allocate_pool(hidusb, True, 64, "HidY", "AddDevice")
    with pytest.raises(SystemHalted):
        system.pnp.unplug(node.pdo)
    info = system.core.bugcheck_info
    assert info.code == 0xC4 and info.parameters[0] == 0x62 and info.parameters[3] == 2
