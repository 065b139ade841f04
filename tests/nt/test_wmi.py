"""WMI rules, one per test: registration asks the driver for its data blocks
(IRP_MN_REGINFO_EX); a query is an IRP_MJ_SYSTEM_CONTROL IRP sent to the top of the
provider's stack, which every driver above it must pass down; providers deregister."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict


def with_toaster(*filters: str) -> System:
    system = new_system(minimal=True)
    for name in ("toaster", *filters):
        system.io.load_driver(load_spec(name))
    return system


def test_registering_asks_the_driver_for_its_data_blocks_with_reginfo_ex():
    system = with_toaster()
    assert any("IRP_MJ_SYSTEM_CONTROL/IRP_MN_REGINFO_EX" in e.text for e in system.core.log)
    block = system.wmi.wmi_blocks["toasterdeviceinformation"]
    assert block.device is system.io.find_device("Toaster")
    assert block.values["Capacity"] == 2000


def test_a_query_is_answered_by_the_provider_with_its_data_block():
    system = with_toaster()
    answer = system.wmi.wmi_query("ToasterDeviceInformation")
    assert answer.status == NtStatus.STATUS_SUCCESS
    assert answer.irp.stack[-1].minor == "IRP_MN_QUERY_ALL_DATA"
    assert answer.irp.provider is system.io.find_device("Toaster")
    assert answer.values["ModelName"] == "Toaster Model 1"


def test_a_query_goes_to_the_top_of_the_stack_and_a_filter_passes_it_down():
    system = with_toaster("toasterfilter")
    answer = system.wmi.wmi_query("ToasterDeviceInformation")
    assert [d.label for d in answer.irp.reached] == ["toasterfilter#1", "\\Device\\Toaster"]
    assert answer.status == NtStatus.STATUS_SUCCESS


def test_a_filter_without_a_system_control_routine_hides_the_provider():
    system = with_toaster("sloppyfilter")
    answer = system.wmi.wmi_query("ToasterDeviceInformation")
    assert answer.status == NtStatus.STATUS_INVALID_DEVICE_REQUEST
    assert system.io.find_device("Toaster") not in answer.irp.reached
    assert answer.values == {}


def test_a_class_nobody_registered_is_status_wmi_guid_not_found():
    system = with_toaster()
    with pytest.raises(NtError) as failure:
        system.wmi.wmi_query("Win32_Nothing")
    assert failure.value.status == NtStatus.STATUS_WMI_GUID_NOT_FOUND == 0xC0000295


def test_unload_deregisters_before_the_device_is_deleted():
    system = with_toaster()
    system.io.stop_driver(system.io.drivers["toaster"])
    assert system.wmi.wmi_blocks == {}
    assert not any("still a WMI provider" in e.text for e in system.core.log)


def test_deleting_a_device_still_registered_is_flagged_and_forgotten():
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({
        "name": "forgetwmi", "type": "function",
        "routines": {"DriverEntry": ["IoCreateDevice Forget", "IoWMIRegistrationControl REGISTER"],
                     "IRP_MN_REGINFO_EX": ["IoCompleteRequest STATUS_SUCCESS",
                                           "return STATUS_SUCCESS"]},
        "wmi": {"ForgetData": {"Count": 1}}}, "forgetwmi.toml"))
    assert "forgetdata" in system.wmi.wmi_blocks
    system.io.stop_driver(system.io.drivers["forgetwmi"])
    assert system.wmi.wmi_blocks == {}
    assert any("still a WMI provider" in e.text for e in system.core.log)


@pytest.mark.parametrize("extra, complaint", [
    ({}, "no \\[wmi.CLASS\\] table"),
    ({"wmi": {"Data": {"Flag": True}}}, "a property is a name with a number or a string"),
    ({"wmi": {"Bad Name": {"X": 1}}}, "not a WMI class name"),
])
def test_a_wmi_spec_mistake_is_refused_when_it_loads(extra, complaint):
    with pytest.raises(SpecError, match=complaint):
        spec_from_dict({"name": "w", "type": "function",
                        "routines": {"DriverEntry": ["IoCreateDevice W",
                                                     "IoWMIRegistrationControl REGISTER"]},
                        **extra}, "w.toml")
