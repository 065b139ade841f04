"""File systems and volumes, one rule per test: a file system registers and is asked to mount
a disk's volume at its first use; a file's requests go to the file system's volume device,
which sends them down the disk's stack (disk class driver, then the storage port)."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict

COMPLETE = ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]


def fussy_fs(mount: list[str]) -> dict:
    """A second disk file system whose IRP_MN_MOUNT_VOLUME does what `mount` says."""
    return {"name": "fussyfs", "type": "filesystem", "device_type": "FILE_DEVICE_DISK_FILE_SYSTEM",
            "routines": {"DriverEntry": ["IoCreateDevice", "IoRegisterFileSystem"],
                         "IRP_MN_MOUNT_VOLUME": mount, "IRP_MJ_CREATE": COMPLETE}}


def opened(system: System, path: str = "C:\\notes.txt"):
    process = system.ps.create_process("edit.exe")
    handle = system.files.open_file(process, path, "all")
    return process, handle, process.handle_table.entries[handle].object


def test_ntfs_registers_at_boot_as_a_disk_file_system_under_filesystem():
    system = new_system()
    assert [d.driver.name for d in system.files.file_systems] == ["Ntfs"]
    assert system.ob.lookup("\\FileSystem\\Ntfs") is system.io.drivers["ntfs"]
    assert not system.io.find_device("Harddisk0").vpb.mounted


def test_the_namespace_has_filesystem_filters_and_no_pre_vista_port_type():
    system = new_system()
    assert system.ob.lookup("\\FileSystem\\Filters").header.type_name == "Directory"
    types = {name.lower() for name in system.ob.lookup("\\ObjectTypes").entries}
    assert "alpc port" in types and "port" not in types  # LPC's Port went with Vista


def test_only_disk_like_devices_get_a_vpb():
    system = new_system()
    assert system.io.find_device("Harddisk0").device_type == "FILE_DEVICE_DISK"
    assert system.io.find_device("USBFDO-0").vpb is None


def test_the_first_open_of_a_file_mounts_the_volume_with_irp_mn_mount_volume():
    system = new_system()
    _, _, file = opened(system)
    disk = system.io.find_device("Harddisk0")
    texts = [event.text for event in system.core.log]
    assert any("IRP_MJ_FILE_SYSTEM_CONTROL/IRP_MN_MOUNT_VOLUME" in t for t in texts)
    assert disk.vpb.mounted and disk.vpb.device.driver.name == "Ntfs"
    assert file.vpb is disk.vpb and file.file_name == "\\notes.txt"


def test_a_volume_device_has_one_stack_location_more_than_the_disks_stack():
    system = new_system()
    opened(system)
    disk = system.io.find_device("Harddisk0")
    volume = disk.vpb.device
    assert volume.target_device is disk.top()
    assert volume.stack_size == disk.top().stack_size + 1
    assert volume.attached_to is None  # a stack of its own, not part of the disk's


def test_a_mounted_volume_is_not_mounted_again():
    system = new_system()
    opened(system)
    start = len(system.core.log)
    opened(system, "C:\\other.txt")
    assert not any("IRP_MN_MOUNT_VOLUME" in e.text for e in system.core.log[start:])


def test_drive_letters_and_systemroot_follow_the_symbolic_links_to_the_disk():
    system = new_system()
    for path in ("C:\\notes.txt", "\\GLOBAL??\\C:\\notes.txt", "\\SystemRoot\\win.ini",
                 "\\Device\\HarddiskVolume1\\notes.txt"):
        _, _, file = opened(system, path)
        assert file.device is system.io.find_device("Harddisk0") and file.vpb is not None


def test_opening_the_disk_itself_goes_to_the_disk_stack_without_mounting():
    system = new_system()
    _, _, file = opened(system, "\\GLOBAL??\\PhysicalDrive0")
    assert file.vpb is None and file.target is system.io.find_device("Harddisk0")
    assert not system.io.find_device("Harddisk0").vpb.mounted


def test_a_file_read_goes_through_the_file_system_and_the_disk_class_to_the_storage_port():
    system = new_system()
    process, handle, file = opened(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 512)
    read, packet = sorted(system.io.irps.values(), key=lambda irp: irp.number)
    assert [d.label for d in read.reached] == [file.vpb.device.label, "\\Device\\Harddisk0"]
    assert packet.master is read and packet.owner is system.io.drivers["disk"]
    assert packet.location.device.driver.name == "storahci"
    assert process.threads[0].io_wait is not None  # a synchronous read waits for the disk


def test_the_storage_ports_completion_completes_the_read_and_the_packet_is_freed():
    system = new_system()
    process, handle, _ = opened(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 512)
    read, packet = sorted(system.io.irps.values(), key=lambda irp: irp.number)
    system.io.complete_pending(packet, NtStatus.STATUS_SUCCESS)
    assert system.io.irps == {} and read.completed and read.status == NtStatus.STATUS_SUCCESS
    assert process.threads[0].io_wait is None


def test_a_file_close_sends_cleanup_and_close_to_the_volume_device():
    system = new_system()
    process, handle, file = opened(system)
    start = len(system.core.log)
    system.files.close_handle(process, handle)
    hops = [e.text for e in system.core.log[start:] if e.kind == "irp-down"]
    assert [h.split(" (")[0].split(" ↓ ")[1] for h in hops] == [file.vpb.device.label] * 2
    assert "IRP_MJ_CLEANUP" in hops[0] and "IRP_MJ_CLOSE" in hops[1]


def test_the_newest_file_system_is_asked_first_and_a_refusal_passes_the_volume_on():
    system = new_system()
    refuse = ["IoCompleteRequest STATUS_UNRECOGNIZED_VOLUME", "return STATUS_UNRECOGNIZED_VOLUME"]
    system.io.load_driver(spec_from_dict(fussy_fs(refuse), "fussyfs.toml"))
    assert [d.driver.name for d in system.files.file_systems] == ["fussyfs", "Ntfs"]
    opened(system)
    asked = [e.text for e in system.core.log if "IRP_MJ_FILE_SYSTEM_CONTROL)" in e.text]
    assert len(asked) == 2 and "fussyfs" in asked[0] and "Ntfs" in asked[1]
    assert system.io.find_device("Harddisk0").vpb.device.driver.name == "Ntfs"


def test_a_volume_no_file_system_recognizes_fails_the_open_with_unrecognized_volume():
    system = new_system()
    system.files.unregister_file_system(system.io.drivers["ntfs"])
    with pytest.raises(NtError) as error:
        opened(system)
    assert error.value.status == NtStatus.STATUS_UNRECOGNIZED_VOLUME == 0xC000014F
    assert not system.io.find_device("Harddisk0").vpb.mounted


def test_a_mount_that_fails_after_creating_a_volume_device_leaves_the_vpb_unmounted():
    system = new_system()
    system.files.unregister_file_system(system.io.drivers["ntfs"])
    fails = ["IoCreateDevice", "IoCompleteRequest STATUS_UNSUCCESSFUL",
             "return STATUS_UNSUCCESSFUL"]
    system.io.load_driver(spec_from_dict(fussy_fs(fails), "fussyfs.toml"))
    with pytest.raises(NtError):
        opened(system)
    assert not system.io.find_device("Harddisk0").vpb.mounted


def test_a_file_system_serving_a_mounted_volume_refuses_to_unload():
    system = new_system()
    opened(system)
    with pytest.raises(NtError) as error:
        system.io.stop_driver(system.io.drivers["ntfs"])
    assert "volume(s) mounted" in error.value.message


def test_removing_the_disk_dismounts_its_volume_and_deletes_the_volume_device():
    system = new_system()
    process, handle, _ = opened(system)
    volume = system.io.find_device("Harddisk0").vpb.device
    system.files.close_handle(process, handle)
    system.pnp.unplug(system.io.find_device("Harddisk0"))
    assert volume not in system.io.devices and volume not in system.io.drivers["ntfs"].devices


def test_an_open_file_on_the_volume_vetoes_removing_the_disk():
    system = new_system()
    opened(system)
    with pytest.raises(NtError) as error:
        system.pnp.unplug(system.io.find_device("Harddisk0"))
    assert error.value.status == NtStatus.STATUS_PLUGPLAY_QUERY_VETOED


def test_io_register_file_system_needs_a_file_system_device_type():
    data = fussy_fs(COMPLETE)
    del data["device_type"]
    with pytest.raises(SpecError) as error:
        spec_from_dict(data, "fussyfs.toml")
    assert "FILE_DEVICE_DISK_FILE_SYSTEM" in str(error.value)


def test_only_a_volume_device_may_call_down_to_its_volume():
    data = {"name": "lost", "type": "function",
            "routines": {"DriverEntry": ["IoCreateDevice Lost"],
                         "IRP_MJ_READ": ["IoCallDriver volume", "return status"]}}
    system = new_system()
    system.io.load_driver(spec_from_dict(data, "lost.toml"))
    with pytest.raises(NtError) as error:
        system.io.send_irp(system.io.find_device("Lost"), "IRP_MJ_READ")
    assert "not a file system's volume device" in error.value.message


def test_iogetcurrentirpstacklocation_shows_the_drivers_own_location_and_its_parameters():
    system = new_system()
    process, handle, _ = opened(system)
    start = len(system.core.log)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 512)
    seen = [e.text for e in system.core.log[start:] if e.kind == "stack-location"]
    assert len(seen) == 1 and "Ntfs!IRP_MJ_READ: IoGetCurrentIrpStackLocation → location 3 " \
        "of 3" in seen[0] and "IRP_MJ_READ; UserBuffer" in seen[0]


def test_a_file_whose_volume_was_dismounted_sends_its_requests_to_the_disk_itself():
    system = new_system()
    _, _, file = opened(system)
    file.vpb.device = None  # what dismount leaves
    assert file.target is system.io.find_device("Harddisk0").top()
