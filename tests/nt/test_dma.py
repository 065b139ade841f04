"""DMA and controller objects, one rule per test: a scatter/gather list covers the MDL's
pages exactly; a 32-bit device reaches pages above 4 GB only through map registers, which
are limited and shared; a 64-bit device needs none; a controller object serializes the
devices that share it."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt.constants import Irql, NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.hal import FOUR_GB, PAGE, physical_page
from kmshell.nt.io.spec import spec_from_dict


def reading(driver: str, device: str, *lengths: int, processes: int = 1):
    """Load DRIVER, open DEVICE overlapped from each process and read LENGTHS in turn."""
    system = new_system(minimal=True)
    system.io.load_driver(load_spec(driver))
    apps = [system.ps.create_process(f"app{n}.exe") for n in range(processes)]
    handles = [system.files.open_file(app, f"\\Device\\{device}", overlapped=True) for app in apps]
    for n, length in enumerate(lengths):
        app = apps[n % processes]
        system.files.file_io(app, handles[n % processes], "IRP_MJ_READ", "NtReadFile", length)
    return system, system.io.find_device(device).adapter


def test_the_adapter_allows_one_map_register_per_page_of_the_longest_transfer_plus_one():
    _, adapter = reading("dmadisk", "DmaDisk")
    assert (adapter.bits, adapter.maximum_length, adapter.map_registers) == (32, 16384, 5)


def test_the_list_covers_the_buffer_exactly_one_piece_per_page():
    _, adapter = reading("dmadisk64", "DmaDisk64", 12000)
    transfer = adapter.transfers[0]
    pid, start, length = transfer.irp.mdl
    assert sum(e.length for e in transfer.elements) == length == 12000
    assert len(transfer.elements) == ((start & (PAGE - 1)) + length + PAGE - 1) // PAGE
    assert [e.page for e in transfer.elements] == [
        physical_page(pid, page // PAGE) for page in range(start & ~(PAGE - 1), start + length,
                                                           PAGE)]


def test_a_32_bit_device_reaches_pages_above_4_gb_only_through_map_registers():
    _, adapter = reading("dmadisk", "DmaDisk", 16384)
    transfer = adapter.transfers[0]
    assert any(e.page >= FOUR_GB for e in transfer.elements)  # this buffer has some
    for element in transfer.elements:
        assert element.address + element.length <= FOUR_GB
        assert element.bounced == (element.page >= FOUR_GB)
    assert transfer.map_registers == sum(e.bounced for e in transfer.elements)


def test_a_64_bit_device_gets_the_real_addresses_and_no_map_registers():
    _, adapter = reading("dmadisk64", "DmaDisk64", 16384)
    transfer = adapter.transfers[0]
    assert transfer.map_registers == 0 and not any(e.bounced for e in transfer.elements)


def test_a_transfer_that_needs_more_map_registers_than_are_free_waits_for_a_put():
    system, adapter = reading("dmadisk", "DmaDisk", *[16384] * 6, processes=6)
    assert adapter.waiting, "six 16 KB reads need more than 5 map registers at once"
    waiting = adapter.waiting[0]
    assert adapter.in_use + waiting.map_registers > adapter.map_registers
    while adapter.waiting and adapter.waiting[0] is waiting:
        system.ke.interrupt(system.io.find_device("DmaDisk"))  # each DPC puts one list back
    assert waiting in adapter.transfers
    assert adapter.in_use <= adapter.map_registers


def test_a_transfer_longer_than_the_adapter_allows_is_refused_with_insufficient_resources():
    system, adapter = reading("dmadisk", "DmaDisk", 32768)
    assert adapter.transfers == [] and adapter.waiting == []
    assert any("STATUS_INSUFFICIENT_RESOURCES" in e.text for e in system.core.log)


def test_a_scatter_gather_list_needs_the_irps_mdl():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("dmadisk"))
    with pytest.raises(NtError, match="needs the IRP's MDL"):
        system.io.send_irp(system.io.find_device("DmaDisk"), "IRP_MJ_READ")


def test_a_failed_dpc_step_leaves_the_processor_at_its_old_irql():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("dmadisk"))
    with pytest.raises(NtError, match="no scatter/gather list"):
        system.ke.interrupt(system.io.find_device("DmaDisk"))  # a DPC with nothing to put back
    assert system.core.processors[0].irql == Irql.PASSIVE_LEVEL


@pytest.mark.parametrize("steps", [["GetScatterGatherList"], ["PutScatterGatherList"],
                                   ["IoCreateController", "IoAllocateController"],
                                   ["IoCreateController", "IoFreeController"]])
def test_a_dma_or_controller_step_in_driverentry_is_refused_it_has_no_device(steps):
    system = new_system(minimal=True)
    spec = spec_from_dict({"name": "early", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Early", *steps]}}, "early.toml")
    with pytest.raises(NtError, match="has none"):
        system.io.load_driver(spec)
    assert system.io.find_driver("early") is None


def test_a_controller_object_serializes_two_devices_in_request_order():
    system = new_system(minimal=True)
    driver = system.io.load_driver(load_spec("fdc"))
    app = system.ps.create_process("app.exe")
    first, second = (system.files.open_file(app, f"\\Device\\Floppy{n}", overlapped=True)
                     for n in (0, 1))
    system.files.file_io(app, first, "IRP_MJ_READ", "NtReadFile")
    system.files.file_io(app, second, "IRP_MJ_READ", "NtReadFile")
    floppy0, floppy1 = system.io.find_device("Floppy0"), system.io.find_device("Floppy1")
    assert driver.controller.owner is floppy0
    assert [device for device, _ in driver.controller.waiting] == [floppy1]
    with pytest.raises(NtError, match="which \\\\Device\\\\Floppy0 holds"):
        system.ke.interrupt(floppy1)  # Floppy1 cannot free what Floppy0 holds
    system.ke.interrupt(floppy0)
    assert driver.controller.owner is floppy1 and driver.controller.waiting == []
    system.ke.interrupt(floppy1)
    assert driver.controller.owner is None and system.io.irps == {}


def test_status_insufficient_resources_is_the_wdk_value():
    assert NtStatus.STATUS_INSUFFICIENT_RESOURCES == 0xC000009A
