"""Driver timers and power steps (issue 19, item 3), one rule per test: KeInitializeTimer,
KeSetTimer(Ex), KeCancelTimer and the timer's DPC; 0xC7 for a timer left set at unload;
PoCallDriver, PoStartNextPowerIrp, PoRequestPowerIrp with its PowerCompletion routine, and
PoSetPowerState. Each step's WDK page is its `source` in nt/io/steps.py."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import BugCheck, Irql
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.mm import image_range, routine_address
from kmshell.nt.po import DevicePowerState, SystemPowerState

D0, D3 = DevicePowerState.PowerDeviceD0, DevicePowerState.PowerDeviceD3
DONE = ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]
PAD = "USB\\VID_046D&PID_C21D"


def _ticker(entry: list[str], unload: list[str] | None = None,
            ioctl: list[str] | None = None) -> System:
    """A legacy driver with a device, a timer and a DPC routine."""
    routines = {"DriverEntry": ["IoCreateDevice Ticker", "KeInitializeTimer Poll", *entry],
                "DPC": ["KeStallExecutionProcessor 1"],
                "IRP_MJ_DEVICE_CONTROL": [*(ioctl or []), *DONE]}
    if unload is not None:
        routines["Unload"] = unload
    system = new_system()
    system.io.load_driver(spec_from_dict({"name": "ticker", "type": "function",
                                          "routines": routines}, "ticker.toml"))
    return system


def _dpc_ticks(system: System) -> list[int]:
    return [e.tick for e in system.core.log if e.kind == "dpc" and "ticker's DPC runs" in e.text]


def _timer_texts(system: System) -> list[str]:
    return [e.text for e in system.core.log if e.kind == "timer"]


def test_a_timer_set_for_n_ticks_runs_the_drivers_dpc_at_dispatch_level_on_the_nth_tick():
    system = _ticker(["KeSetTimer Poll 3"])
    start = system.core.tick
    system.ke.step(5)
    runs = [e for e in system.core.log if e.kind == "dpc" and "ticker's DPC runs" in e.text]
    assert [e.tick for e in runs] == [start + 3]
    assert runs[0].irql == Irql.DISPATCH_LEVEL


def test_a_periodic_timer_runs_its_dpc_every_period_until_kecanceltimer():
    system = _ticker(["KeSetTimerEx Poll 1 2"], ioctl=["KeCancelTimer Poll"])
    start = system.core.tick
    system.ke.step(5)
    assert _dpc_ticks(system) == [start + 1, start + 3, start + 5]
    system.io.send_irp(system.io.find_device("Ticker"), "IRP_MJ_DEVICE_CONTROL")
    system.ke.step(6)
    assert len(_dpc_ticks(system)) == 3
    assert "KeCancelTimer(Poll) returns TRUE" in _timer_texts(system)[-1]


def test_kecanceltimer_returns_true_only_while_the_timer_is_in_the_queue():
    system = _ticker(["KeSetTimer Poll 1"], ioctl=["KeCancelTimer Poll"])
    system.ke.step(1)  # expired: out of the queue, its DPC has run
    system.io.send_irp(system.io.find_device("Ticker"), "IRP_MJ_DEVICE_CONTROL")
    assert "KeCancelTimer(Poll) returns FALSE" in _timer_texts(system)[-1]


def test_kesettimer_on_a_set_timer_returns_true_and_sets_it_anew():
    system = _ticker(["KeSetTimer Poll 2"], ioctl=["KeSetTimer Poll 4"])
    start = system.core.tick
    system.io.send_irp(system.io.find_device("Ticker"), "IRP_MJ_DEVICE_CONTROL")
    assert "returns TRUE" in _timer_texts(system)[-1]
    system.ke.step(6)
    assert _dpc_ticks(system) == [start + 4]


def test_unloading_with_a_timer_set_is_0xc7_naming_the_timer_and_the_freed_image():
    system = _ticker(["KeSetTimer Poll 50"], unload=[])
    driver = system.io.drivers["ticker"]
    with pytest.raises(SystemHalted):
        system.io.stop_driver(driver)
    info = system.core.bugcheck_info
    assert info.code == BugCheck.TIMER_OR_DPC_INVALID == 0xC7
    assert info.parameters == (0, routine_address(driver, "KTIMER Poll"), *image_range(driver))
    assert image_range(driver)[0] <= info.parameters[1] < image_range(driver)[1]


def test_an_unload_that_cancels_its_timer_unloads_cleanly_and_nothing_fires_later():
    system = _ticker(["KeSetTimerEx Poll 2 2"], unload=["KeCancelTimer Poll"])
    system.io.stop_driver(system.io.drivers["ticker"])
    system.ke.step(6)
    assert not system.halted and _dpc_ticks(system) == []


def test_kesettimer_above_dispatch_level_bugchecks_0xa():
    with pytest.raises(SystemHalted) as halt:
        _ticker(["KeRaiseIrql 5", "KeSetTimer Poll 1"])
    assert halt.value.info.code == BugCheck.IRQL_NOT_LESS_OR_EQUAL
    assert halt.value.info.parameters[1] == 5


def test_a_timer_needs_the_drivers_dpc_routine():
    system = new_system()
    spec = spec_from_dict({"name": "nodpc", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice NoDpc", "KeInitializeTimer T", "KeSetTimer T 1"]}},
        "nodpc.toml")
    with pytest.raises(NtError, match="has none: add DPC to \\[routines\\]"):
        system.io.load_driver(spec)


@pytest.mark.parametrize(("step", "says"), [
    ("KeSetTimer Poll 0", "1 or more"),
    ("KeSetTimerEx Poll 1 x", "period"),
    ("KeInitializeTimerEx Poll Periodic", "NotificationTimer or SynchronizationTimer"),
    ("PoSetPowerState D4", "D0, D1, D2, D3"),
    ("PoRequestPowerIrp D3 Nowhere", "no power completion routine 'Nowhere'"),
    ("PoCallDriver parent", "'lower'")])
def test_a_bad_timer_or_power_step_names_file_routine_step_and_what_is_valid(step, says):
    with pytest.raises(SpecError) as error:
        spec_from_dict({"name": "bad", "type": "function",
                        "routines": {"DriverEntry": [step]}}, "bad.toml")
    assert str(error.value).startswith(f"bad.toml: routine DriverEntry, step 1 '{step}': ")
    assert says in str(error.value)


def _pad(routines: dict, power_completion: dict | None = None) -> tuple[System, object]:
    """A PnP function driver for a USB game pad, its own power policy owner."""
    system = new_system()
    base = {"AddDevice": ["IoCreateDevice Pad#", "IoAttachDeviceToDeviceStack pdo"],
            "IRP_MJ_PNP": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                           "return status"],
            "IRP_MJ_POWER": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                             "return status"]}
    system.pnp.add_driver_package(spec_from_dict(
        {"name": "pad", "type": "function", "hardware_ids": [PAD], "routines": base | routines,
         "power_completion": power_completion or {}}, "pad.toml"))
    node = system.pnp.plug(system.io.find_device("USBPDO-0"), PAD)
    return system, node


def test_porequestpowerirp_sends_a_d_irp_down_the_stack_then_runs_its_power_completion():
    system, node = _pad({"IRP_MJ_DEVICE_CONTROL": ["PoRequestPowerIrp D3 PowerDone", *DONE]},
                        {"PowerDone": ["if NT_SUCCESS(status): PoSetPowerState D3"]})
    start = len(system.core.log)
    system.io.send_irp(system.io.find_device("Pad0"), "IRP_MJ_DEVICE_CONTROL")
    kinds = [e.kind for e in system.core.log[start:]]
    sent = next(e.text for e in system.core.log[start:] if e.kind == "power-irp")
    assert "IRP_MN_SET_POWER (PowerDeviceD3)" in sent and sent.endswith(PAD + "\\0")
    assert kinds.index("irp-complete") < kinds.index("power-completion") < \
        kinds.index("power-state")
    assert node.power is D3


def test_an_idle_timers_dpc_can_power_the_device_down():
    system, node = _pad({"AddDevice": ["IoCreateDevice Pad#", "IoAttachDeviceToDeviceStack pdo",
                                       "KeInitializeTimer Idle", "KeSetTimer Idle 3"],
                         "DPC": ["PoRequestPowerIrp D3"]})
    system.ke.step(2)
    assert node.power is D0
    system.ke.step(1)
    assert node.power is D3


def test_porequestpowerirp_while_handling_a_device_power_irp_is_refused():
    system, node = _pad({"IRP_MN_SET_POWER": ["PoRequestPowerIrp D3",
                                              "IoSkipCurrentIrpStackLocation",
                                              "IoCallDriver lower", "return status"]})
    with pytest.raises(NtError, match="a device power IRP: asking for another"):
        system.po.set_device_power(node.physical_device.top(), D3)


def test_posetpowerstate_records_the_new_state_and_returns_the_previous_one():
    system, node = _pad({"IRP_MJ_DEVICE_CONTROL": ["PoSetPowerState D3", *DONE]})
    system.io.send_irp(system.io.find_device("Pad0"), "IRP_MJ_DEVICE_CONTROL")
    said = [e.text for e in system.core.log if e.kind == "power-state"][-1]
    assert "PoSetPowerState(D3) returns D0" in said and node.power is D3


@pytest.mark.parametrize(("state", "halts"), [("D0", False), ("D3", True)])
def test_posetpowerstate_at_dispatch_level_is_legal_only_for_d0(state, halts):
    system, _ = _pad({"IRP_MJ_DEVICE_CONTROL": ["KeRaiseIrql DISPATCH_LEVEL",
                                                f"PoSetPowerState {state}",
                                                "KeLowerIrql PASSIVE_LEVEL", *DONE]})
    device = system.io.find_device("Pad0")
    if halts:
        with pytest.raises(SystemHalted):
            system.io.send_irp(device, "IRP_MJ_DEVICE_CONTROL")
        assert system.core.bugcheck_info.code == BugCheck.IRQL_NOT_LESS_OR_EQUAL
    else:
        system.io.send_irp(device, "IRP_MJ_DEVICE_CONTROL")
        assert not system.halted


def test_pocalldriver_passes_power_irps_down_and_postartnextpowerirp_does_nothing():
    system, node = _pad({"IRP_MJ_POWER": ["PoStartNextPowerIrp", "IoSkipCurrentIrpStackLocation",
                                          "PoCallDriver lower", "return status"]})
    system.po.set_system_power(SystemPowerState.PowerSystemSleeping3)
    assert system.po.system_power is SystemPowerState.PowerSystemSleeping3 and node.power is D3
    assert any("PoStartNextPowerIrp does nothing since Windows Vista" in e.text
               for e in system.core.log)
