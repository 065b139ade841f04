"""Security reference monitor rules: SDDL parsing, the access check, tokens, logon."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt.cm import RegistryError
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.ps import parse_program
from kmshell.nt.se import (
    GENERIC_READ,
    SYNCHRONIZE,
    SddlError,
    access_check,
    parse_sddl,
    token_for,
)


def test_sddl_aliases_become_well_known_sids():
    sd = parse_sddl("O:BAD:P(A;;GA;;;SY)(A;;GR;;;BU)")
    assert sd.owner == "S-1-5-32-544" and sd.protected
    assert [(a.allow, a.sid) for a in sd.dacl] == [(True, "S-1-5-18"), (True, "S-1-5-32-545")]


@pytest.mark.parametrize("sddl, position, what", [
    ("D:(A;;GZ;;;SY)", 7, "not an access right"),
    ("D:(X;;GA;;;SY)", 4, "not an ACE type"),
    ("D:(A;;GA;;;nobody)", 12, "not a SID"),
    ("D:(A;;GA;;SY)", 3, "6 fields"),
    ("D:(A;;GA;;;SY", 3, "never closed"),
    ("Q:BA", 1, "expected O:, G: or D:"),
])
def test_malformed_sddl_names_the_position(sddl, position, what):
    with pytest.raises(SddlError) as error:
        parse_sddl(sddl)
    assert error.value.position + 1 == position and what in str(error.value)


def test_a_deny_ace_before_an_allow_ace_wins():
    sd = parse_sddl("D:(D;;GA;;;BU)(A;;GA;;;WD)")
    granted, _, why = access_check(sd, token_for("student"), SYNCHRONIZE, "Event")
    assert not granted and "ACE 1 denies BUILTIN\\Users" in why


def test_an_allow_ace_before_a_deny_ace_grants_first():
    sd = parse_sddl("D:(A;;GA;;;WD)(D;;GA;;;BU)")
    assert access_check(sd, token_for("student"), SYNCHRONIZE, "Event")[0]


def test_an_empty_dacl_grants_nothing_and_no_dacl_grants_everything():
    assert not access_check(parse_sddl("D:"), token_for("teacher"), SYNCHRONIZE, "Event")[0]
    assert access_check(None, token_for("student"), SYNCHRONIZE, "Event")[0]


def test_generic_read_maps_through_the_types_generic_mapping():
    sd = parse_sddl("D:(A;;GR;;;BU)")
    granted, mask, _ = access_check(sd, token_for("student"), GENERIC_READ, "Event")
    assert granted and mask == 0x00120001  # EVENT's GENERIC_MAPPING read rights


def test_a_user_without_rights_gets_status_access_denied_when_opening():
    system = new_system()
    event = system.ke.create_named("event", "Go")
    event.header.security = parse_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)")
    system.ps.login("student")
    process = system.ps.create_process("w.exe", program=parse_program("wait Go; exit"))
    system.ke.step(1)
    assert process.exit_status == 0xC0000022
    assert event.header.handle_count == 0


def test_an_administrator_passes_the_same_check():
    system = new_system()
    event = system.ke.create_named("event", "Go")
    event.header.security = parse_sddl("D:P(A;;GA;;;SY)(A;;GA;;;BA)")
    system.ps.login("teacher")
    process = system.ps.create_process("t.exe", program=parse_program("wait Go; exit"))
    system.ke.step(1)
    assert process.alive and process.token.user == "teacher"
    assert event.header.handle_count == 1


def test_only_administrators_and_system_hold_the_load_driver_privilege():
    assert token_for("teacher").has("SeLoadDriverPrivilege")
    assert token_for("SYSTEM").has("SeLoadDriverPrivilege")
    assert not token_for("student").has("SeLoadDriverPrivilege")


def test_nt_load_driver_without_the_privilege_fails_and_loads_nothing():
    system = new_system()
    system.ps.login("student")
    with pytest.raises(NtError) as failure:
        system.io.load_driver(load_spec("nullsink"), caller=system.ps.console_shell())
    assert failure.value.status == NtStatus.STATUS_PRIVILEGE_NOT_HELD
    assert "nullsink" not in system.io.drivers
    with pytest.raises(RegistryError):
        system.cm.registry.open("HKLM\\SYSTEM\\CurrentControlSet\\Services\\nullsink")


def test_an_administrator_loads_and_unloads_a_driver_through_the_system_call():
    system = new_system()  # teacher, an administrator, is at the console after boot
    shell = system.ps.console_shell()
    assert shell.token.user == "teacher"
    driver = system.io.load_driver(load_spec("nullsink"), caller=shell)
    system.ps.login("student")
    with pytest.raises(NtError) as failure:
        system.io.stop_driver(driver, caller=system.ps.console_shell())
    assert failure.value.status == NtStatus.STATUS_PRIVILEGE_NOT_HELD
    assert not driver.unloaded
    system.io.stop_driver(driver, caller=shell)
    assert driver.unloaded


def test_plug_and_play_loads_drivers_from_the_system_process_unchecked():
    system = new_system()
    system.ps.login("student")
    system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_045E&PID_0008")
    assert "hidusb" in system.io.drivers


def test_the_console_shell_is_the_newest_explorer_still_running_whatever_exits_between():
    system = new_system()
    teacher = system.ps.console_shell()
    student = system.ps.login("student")
    assert system.ps.console_shell() is student
    system.ps.terminate_process(teacher, 0)  # an older shell ends: the newest stays
    assert system.ps.console_shell() is student
    system.ps.terminate_process(student, 0)
    assert system.ps.console_shell() is system.ps.system_process  # no shell left
