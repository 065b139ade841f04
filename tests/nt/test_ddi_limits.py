"""The DDI table's IRQL limits are its WDK pages' (issue 18, rule 7), one rule per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import Irql, irql_name
from kmshell.nt.io.spec import spec_from_dict
from kmshell.nt.io.steps import DDIS, DIRQL, WDK

DRIVERS_MD = Path(__file__).resolve().parents[2] / "docs" / "drivers.md"
# not DDIs: no WDK page of their own
MODEL_STEPS = {"IoStatus", "ReadIoStatus", "return", "strcpy", "strcat"}


def loaded(*names: str) -> System:
    system = new_system()
    for name in names:
        system.io.load_driver(load_spec(name))
    return system


def test_every_ddi_names_its_wdk_page_and_only_the_models_own_steps_have_none():
    for ddi in DDIS.values():
        if ddi.name in MODEL_STEPS:
            assert ddi.source == "" and ddi.limit is None, ddi.name
        else:  # the page of that very routine (GetScatterGatherList: PGET_SCATTER_GATHER_LIST)
            assert ddi.source.startswith(WDK), ddi.name
            assert ddi.name.lower() in ddi.source.replace("_", ""), ddi.name


def test_docs_drivers_md_shows_each_steps_limit_linked_to_its_page():
    rows = {row.split("`")[1]: row for row in DRIVERS_MD.read_text(encoding="utf-8").splitlines()
            if row.startswith("| `")}
    for ddi in DDIS.values():
        row = rows[ddi.name]
        if not ddi.source:
            assert "| any (no WDK page" in row, ddi.name
            continue
        limit = "any" if ddi.limit is None else "the device's DIRQL" if ddi.limit == DIRQL \
            else irql_name(ddi.limit)
        assert f"| [{limit}]({ddi.source}) |" in row, ddi.name


def test_iocreatedevice_at_apc_level_is_legal():
    system = new_system()
    system.io.load_driver(spec_from_dict({"name": "apcmaker", "type": "function", "routines": {
        "DriverEntry": ["KeRaiseIrql APC_LEVEL", "IoCreateDevice ApcMaker",
                        "KeLowerIrql PASSIVE_LEVEL"]}}, "apcmaker.toml"))
    assert not system.halted and system.io.find_device("ApcMaker")


def _detacher(level: str) -> dict:
    """An upper device over NullSink that detaches itself when asked (IRP_MJ_DEVICE_CONTROL)."""
    return {"name": "detacher", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Detacher", "IoAttachDeviceToDeviceStack NullSink"],
        "IRP_MJ_DEVICE_CONTROL": [f"KeRaiseIrql {level}", "IoDetachDevice",
                                  "KeLowerIrql PASSIVE_LEVEL", "IoCompleteRequest STATUS_SUCCESS",
                                  "return STATUS_SUCCESS"]}}


def test_iodetachdevice_at_passive_level_detaches():
    system = loaded("nullsink")
    system.io.load_driver(spec_from_dict(_detacher("PASSIVE_LEVEL"), "detacher.toml"))
    detacher = system.io.find_device("Detacher")
    system.io.send_irp(detacher, "IRP_MJ_DEVICE_CONTROL")
    assert not system.halted and detacher.attached_to is None


@pytest.mark.parametrize("level", ["APC_LEVEL", "DISPATCH_LEVEL"])
def test_iodetachdevice_above_passive_level_bugchecks_0xa(level):
    system = loaded("nullsink")
    system.io.load_driver(spec_from_dict(_detacher(level), "detacher.toml"))
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Detacher"), "IRP_MJ_DEVICE_CONTROL")
    info = system.core.bugcheck_info
    assert info.code == 0x0A and info.parameters[1] == Irql[level]
    assert "IoDetachDevice may be called at IRQL 0 (PASSIVE_LEVEL) at most" in info.rule


def _synchronizer(isr: list[str]) -> System:
    """A device whose ISR takes its interrupt spin lock (KeSynchronizeExecution)."""
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({"name": "syncer", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Syncer", "IoConnectInterruptEx"],
        "IRP_MJ_READ": ["IoMarkIrpPending", "return STATUS_PENDING"],
        "ISR": isr, "DPC": ["IoCompleteRequest STATUS_SUCCESS"],
        "SynchCritSection": []}}, "syncer.toml"))
    return system


def test_kesynchronizeexecution_at_the_devices_dirql_is_legal():
    system = _synchronizer(["KeSynchronizeExecution", "IoRequestDpc"])  # the ISR: at DIRQL
    syncer = system.io.find_device("Syncer")
    irp = system.io.send_irp(syncer, "IRP_MJ_READ")
    system.ke.interrupt(syncer)
    assert not system.halted and irp.completed


def test_kesynchronizeexecution_above_the_devices_dirql_bugchecks_0xa():
    system = _synchronizer(["KeRaiseIrql HIGH_LEVEL", "KeSynchronizeExecution"])
    syncer = system.io.find_device("Syncer")
    system.io.send_irp(syncer, "IRP_MJ_READ")
    with pytest.raises(SystemHalted):
        system.ke.interrupt(syncer)
    info = system.core.bugcheck_info
    assert info.code == 0x0A and info.parameters[1] == Irql.HIGH_LEVEL
    assert f"at IRQL {syncer.dirql} (the device's DIRQL {syncer.dirql}) at most" in info.rule


def _watcher(level: str) -> dict:
    """An upper device over NullSink that sets its completion routine at LEVEL."""
    return {"name": "watcher", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Watcher", "IoAttachDeviceToDeviceStack NullSink"],
        "IRP_MJ_READ": ["IoCopyCurrentIrpStackLocationToNext", f"KeRaiseIrql {level}",
                        "IoSetCompletionRoutine Seen", "KeLowerIrql PASSIVE_LEVEL",
                        "IoCallDriver lower", "return status"]},
        "completion": {"Seen": ["return STATUS_SUCCESS"]}}


def test_iosetcompletionroutine_at_dispatch_level_is_legal():
    system = loaded("nullsink")
    system.io.load_driver(spec_from_dict(_watcher("DISPATCH_LEVEL"), "watcher.toml"))
    irp = system.io.send_irp(system.io.find_device("Watcher"), "IRP_MJ_READ")
    assert not system.halted and irp.completed
    assert any("completion routine watcher!Seen" in e.text for e in system.core.log)


def test_iosetcompletionroutine_above_dispatch_level_bugchecks_0xa():
    system = loaded("nullsink")
    system.io.load_driver(spec_from_dict(_watcher("SYNCH_LEVEL"), "watcher.toml"))
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Watcher"), "IRP_MJ_READ")
    assert system.core.bugcheck_info.code == 0x0A
