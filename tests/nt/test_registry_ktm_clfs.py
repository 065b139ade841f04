"""Configuration manager, KTM and CLFS rules, one per test."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System
from kmshell.nt.cm import RegistryOperation, RegValue
from kmshell.nt.ps import parse_callback_steps, parse_program
from kmshell.nt.system import NtError


def set_value(system: System, path: str, name: str, data, type_name: str = "REG_DWORD"):
    system.cm.reg_apply(RegistryOperation("set", path, name, RegValue(name, type_name, data)))


def test_every_boot_driver_has_a_services_key_with_type_start_and_image_path():
    registry = new_system().cm.registry
    key = registry.open("HKLM\\SYSTEM\\CurrentControlSet\\Services\\pci")
    assert key.values["TYPE"].data == 1  # SERVICE_KERNEL_DRIVER
    assert key.values["START"].data == 0  # SERVICE_BOOT_START
    assert key.values["IMAGEPATH"].data == "\\SystemRoot\\System32\\drivers\\pci.sys"


def test_current_control_set_is_a_link_to_control_set_001():
    registry = new_system().cm.registry
    assert registry.open("HKLM\\SYSTEM\\CurrentControlSet") is \
        registry.open("HKEY_LOCAL_MACHINE\\system\\controlset001")


def test_a_pre_callback_denying_access_blocks_the_operation():
    system = new_system()
    system.ps.register_callback("registry", system.io.drivers["wdfilter"],
                             parse_callback_steps("DenyAccess"), parse_program("compute 1"))
    with pytest.raises(NtError) as error:
        set_value(system, "HKLM\\SOFTWARE\\Lab", "x", 1)
    assert error.value.status == 0xC0000022  # STATUS_ACCESS_DENIED
    with pytest.raises(LookupError):
        system.cm.registry.open("HKLM\\SOFTWARE\\Lab")


def test_transacted_changes_are_invisible_until_commit_and_gone_after_rollback():
    system = new_system()
    set_value(system, "HKLM\\SOFTWARE\\Bank", "Alice", 100)
    system.tm.tx_begin()
    set_value(system, "HKLM\\SOFTWARE\\Bank", "Alice", 40)
    assert system.cm.registry.open("HKLM\\SOFTWARE\\Bank").values["ALICE"].data == 100
    system.tm.tx_end(commit=False)
    assert system.cm.registry.open("HKLM\\SOFTWARE\\Bank").values["ALICE"].data == 100
    system.tm.tx_begin()
    set_value(system, "HKLM\\SOFTWARE\\Bank", "Alice", 40)
    system.tm.tx_end(commit=True)
    assert system.cm.registry.open("HKLM\\SOFTWARE\\Bank").values["ALICE"].data == 40


def test_only_flushed_log_records_survive_a_restart():
    system = new_system()
    system.clfs.log_create("J")
    for text in ("a", "b"):
        system.clfs.log_append("J", text)
    system.clfs.log_flush("J")
    system.clfs.log_append("J", "c")
    restarted = new_system(disk=system.disk)
    assert [r.text for r in restarted.clfs.clfs_log("J").records] == ["a", "b"]


def test_lsns_increase_with_every_append():
    system = new_system()
    system.clfs.log_create("J")
    assert [system.clfs.log_append("J", str(n)).lsn for n in range(3)] == [1, 2, 3]


def test_the_registry_survives_a_restart():
    system = new_system()
    set_value(system, "HKLM\\SOFTWARE\\Lab", "Kept", 1)
    restarted = new_system(disk=system.disk)
    assert restarted.cm.registry.open("HKLM\\SOFTWARE\\Lab").values["KEPT"].data == 1
