"""Power rules, one per test: query before set, leaves first to sleep, parents first to
wake, S to D mapping, vetoes, the 0x9F watchdog."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import BugCheck
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import spec_from_dict
from kmshell.nt.po import (
    POWER_WATCHDOG_TICKS,
    TRIAGE_9F_POWER,
    DevicePowerState,
    SystemPowerState,
)

S3 = SystemPowerState.PowerSystemSleeping3
D0, D3 = DevicePowerState.PowerDeviceD0, DevicePowerState.PowerDeviceD3
JOYSTICK = "USB\\VID_045E&PID_0008"


def with_joystick() -> System:
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    return system


def power_irps(system: System, start: int, minor: str) -> list[str]:
    """The devnodes that got a power IRP of this minor, in order."""
    return [e.text.rsplit(" to ", 1)[1] for e in system.core.log[start:]
            if e.kind == "power-irp" and f"{minor} (" in e.text]


def test_sleep_queries_every_stack_before_it_sets_any():
    system = with_joystick()
    start = len(system.core.log)
    system.po.set_system_power(S3)
    kinds = [e.text.split()[2] for e in system.core.log[start:] if e.kind == "power-irp"]
    first_set = kinds.index("IRP_MN_SET_POWER")
    assert set(kinds[:first_set]) == {"IRP_MN_QUERY_POWER"}
    assert "IRP_MN_QUERY_POWER" not in kinds[first_set:]


def test_sleep_goes_leaves_first_and_wake_parents_first():
    system = with_joystick()
    start = len(system.core.log)
    system.po.set_system_power(S3)
    down = power_irps(system, start, "IRP_MN_QUERY_POWER")
    assert down.index(JOYSTICK + "\\0") < down.index("USB\\ROOT_HUB30\\0") < \
        down.index("ACPI_HAL\\PNP0C08\\0")
    start = len(system.core.log)
    system.po.wake()
    up = [p for p in power_irps(system, start, "IRP_MN_SET_POWER")]
    assert up.index("ACPI_HAL\\PNP0C08\\0") < up.index("USB\\ROOT_HUB30\\0") < \
        up.index(JOYSTICK + "\\0")


def test_the_power_policy_owner_maps_s3_to_d3_and_s0_back_to_d0():
    system = with_joystick()
    system.po.set_system_power(S3)
    nodes = [n for n in system.pnp.device_root.walk() if n.service]
    assert system.po.system_power is S3 and {n.power for n in nodes} == {D3}
    assert any("HidUsb, power policy owner" in e.text and "PoRequestPowerIrp(D3)" in e.text
               for e in system.core.log)
    system.po.wake()
    assert {n.power for n in nodes} == {D0}
    assert system.po.system_power is SystemPowerState.PowerSystemWorking


def test_a_driver_that_fails_query_power_vetoes_sleep_and_nothing_is_set():
    system = new_system()
    system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_0BDA&PID_8153")
    start = len(system.core.log)
    with pytest.raises(NtError, match="stubborn vetoed S3"):
        system.po.set_system_power(S3)
    assert power_irps(system, start, "IRP_MN_SET_POWER") == []
    assert system.po.system_power is SystemPowerState.PowerSystemWorking


def test_idle_power_down_changes_one_device_only():
    system = with_joystick()
    system.po.set_device_power(system.io.find_device("Joystick0"), D3)
    powers = {n.instance_path: n.power for n in system.pnp.device_root.walk() if n.service}
    assert powers.pop(JOYSTICK + "\\0") is D3 and set(powers.values()) == {D0}


def test_a_power_irp_never_completed_ends_in_0x9f_after_the_watchdog():
    system = new_system()
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_046D&PID_C52B")
    system.po.set_system_power(S3)
    held = system.po.pending_power[0]
    system.ke.step(POWER_WATCHDOG_TICKS - 1)
    with pytest.raises(SystemHalted) as halt:
        system.ke.step(1)
    info = halt.value.info
    assert info.code == BugCheck.DRIVER_POWER_STATE_FAILURE == 0x9F
    assert info.parameters == (0x3, node.pdo.header.address, TRIAGE_9F_POWER, held.address)


D2 = DevicePowerState.PowerDeviceD2


def test_an_armed_device_gets_wait_wake_before_sleep_and_sleeps_in_d2_not_d3():
    system = with_joystick()
    joystick = system.io.find_device("Joystick0")
    system.po.arm_wake(joystick)
    start = len(system.core.log)
    system.po.set_system_power(S3)
    assert power_irps(system, start, "IRP_MN_WAIT_WAKE") == [f"{JOYSTICK}\\0"]
    node = system.pnp.devnode_of(joystick)
    assert node.wait_wake is not None and not node.wait_wake.completed  # the hub holds it
    assert node.wait_wake.location.device.is_pdo
    assert node.power is D2
    assert system.pnp.devnode_of(system.io.find_device("USBPDO-0")).power is D3
    system.ke.step(POWER_WATCHDOG_TICKS * 2)  # a held wait-wake is no power failure
    assert not system.halted


def test_the_armed_device_wakes_the_machine_by_completing_its_wait_wake():
    system = with_joystick()
    joystick = system.io.find_device("Joystick0")
    system.po.arm_wake(joystick)
    system.po.set_system_power(S3)
    irp = system.pnp.devnode_of(joystick).wait_wake
    start = len(system.core.log)
    system.po.wake(joystick)
    kinds = [e.kind for e in system.core.log[start:]]
    assert kinds.index("wake-signal") < kinds.index("power")  # the signal, then S0
    assert irp.completed and irp.status == 0
    assert system.po.system_power is SystemPowerState.PowerSystemWorking
    assert system.pnp.devnode_of(joystick).power is D0


def test_waking_by_the_power_button_cancels_the_held_wait_wake():
    system = with_joystick()
    system.po.arm_wake(system.io.find_device("Joystick0"))
    system.po.set_system_power(S3)
    irp = system.pnp.devnode_of(system.io.find_device("Joystick0")).wait_wake
    system.po.wake()
    assert irp.completed and irp.status == 0xC0000120  # STATUS_CANCELLED
    assert irp.number not in system.io.irps


def test_only_an_armed_device_can_wake_and_only_under_a_wake_capable_bus():
    system = with_joystick()
    with pytest.raises(NtError, match="reports no wake capability"):
        system.po.arm_wake(system.io.find_device("USBPDO-0"))  # the root hub's bus: USBXHCI
    system.po.set_system_power(S3)
    with pytest.raises(NtError, match="holds no IRP_MN_WAIT_WAKE"):
        system.po.wake(system.io.find_device("Joystick0"))
    assert system.po.system_power is S3


def test_a_power_irp_held_by_a_driver_that_skipped_past_the_top_still_ends_in_0x9f():
    """IoSkipCurrentIrpStackLocation then STATUS_PENDING leaves the IRP at no stack location:
    the watchdog blames the last device it reached (it used to fail an internal assert)."""
    system = new_system()
    system.pnp.add_driver_package(spec_from_dict({
        "name": "skipper", "type": "function", "hardware_ids": ["USB\\VID_046D&PID_C99B"],
        "routines": {
            "AddDevice": ["IoCreateDevice Mouse#", "IoAttachDeviceToDeviceStack pdo"],
            "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                           "return status"],
            "IRP_MJ_POWER": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                             "return status"],
            "IRP_MN_SET_POWER": ["IoSkipCurrentIrpStackLocation", "return STATUS_PENDING"]}},
        "skipper.toml"))
    system.pnp.plug(system.io.find_device("USBPDO-0"), "USB\\VID_046D&PID_C99B")
    system.po.set_system_power(SystemPowerState.PowerSystemSleeping3)
    with pytest.raises(SystemHalted):
        system.ke.step(POWER_WATCHDOG_TICKS + 1)
    info = system.core.bugcheck_info
    assert info is not None and info.code == BugCheck.DRIVER_POWER_STATE_FAILURE
    assert info.driver == "skipper.sys"


def test_0x9f_blames_the_driver_whose_device_holds_the_irp_in_trace_and_analyze_alike():
    """The function driver (HidUsb) passes the power IRP down; a lower filter under it holds
    it. The wait line, the watchdog line and the bugcheck all name the filter, and the
    parameters are the WDK's for Arg1 = 3: the stack's PDO, nt!TRIAGE_9F_POWER, the IRP."""
    system = new_system()
    system.pnp.add_driver_package(spec_from_dict({
        "name": "powerhog", "type": "filter", "position": "lower", "hardware_ids": [JOYSTICK],
        "routines": {
            "AddDevice": ["IoCreateDevice", "IoAttachDeviceToDeviceStack pdo"],
            "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                           "return status"],
            "IRP_MJ_POWER": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                             "return status"],
            "IRP_MN_SET_POWER": ["IoMarkIrpPending", "return STATUS_PENDING"]}},
        "powerhog.toml"))
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), JOYSTICK)
    hog = next(d for d in node.stack() if d.driver.name == "powerhog")
    assert node.service == "HidUsb"  # the function driver, which is not the one to blame
    start = len(system.core.log)
    system.po.set_system_power(S3)
    held = system.po.pending_power[0]
    assert held.holder is hog
    with pytest.raises(SystemHalted) as halt:
        system.ke.step(POWER_WATCHDOG_TICKS)
    blamed = [e.text for e in system.core.log[start:] if e.kind in ("wait", "watchdog")]
    assert len(blamed) == 2 and all("held by powerhog" in t or t.startswith("powerhog holds")
                                    for t in blamed), blamed
    assert not any("HidUsb" in t for t in blamed)
    info = halt.value.info
    assert info.driver == "powerhog.sys" and info.rule.startswith("powerhog held power IRP")
    assert info.parameters == (0x3, node.pdo.header.address, TRIAGE_9F_POWER, held.address)
