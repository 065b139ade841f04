"""The driver language's control flow and kernel objects (issue 19, item 3): `if COND:` and
`else:` steps, the switch on IoControlCode ([ioctl]), a driver's own events
(KeInitializeEvent, KeSetEvent, KeClearEvent, KeWaitForSingleObject) and work items
(IoAllocateWorkItem, IoQueueWorkItem, IoFreeWorkItem)."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import NtStatus, describe_ioctl
from kmshell.nt.errors import NtError
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.ps import parse_program


def _filter(**tables) -> dict:
    """An upper filter over NullSink (which answers reads at once with STATUS_END_OF_FILE)."""
    routines = {"DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"],
                "IRP_MJ_CREATE": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                                  "return status"]}
    routines.update(tables.pop("routines", {}))
    return {"name": "lab", "type": "filter", "routines": routines, **tables}


def _system(spec: dict) -> System:
    system = new_system()
    system.io.load_driver(load_spec("nullsink"))
    system.io.load_driver(spec_from_dict(spec, "lab.toml"))
    return system


def _caller(system: System, access: str = "all"):
    process = system.ps.create_process("app.exe", program=parse_program("wait-input"))
    system.ke.step(1)
    return process, system.files.open_file(process, "\\Device\\NullSink", access)


def _texts(system: System, kind: str) -> list[str]:
    return [e.text for e in system.core.log if e.kind == kind]


def test_an_if_step_runs_only_when_its_condition_holds_and_else_otherwise():
    system = _system(_filter(routines={"IRP_MJ_READ": [
        "IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
        "if status == STATUS_END_OF_FILE: KeInitializeEvent Eof NotificationEvent",
        "else: KeInitializeEvent Data NotificationEvent",
        "if NT_SUCCESS(status): KeInitializeEvent Good NotificationEvent",
        "return status"]}))
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    assert set(system.ke.driver_events) == {("lab", "eof")}  # not Data, not Good
    assert any("if status == STATUS_END_OF_FILE → yes" in t for t in _texts(system, "branch"))


@pytest.mark.parametrize("step, error", [
    ("if Pending: return STATUS_SUCCESS", "is not a condition"),
    ("else: return STATUS_SUCCESS", "an else step follows"),
    ("if status == 7 9: return status", "is not a condition"),
    ("if Cancel: if Cancel: return status", "one condition per step"),
])
def test_a_malformed_condition_is_a_load_error_naming_the_step(step, error):
    spec = _filter(routines={"IRP_MJ_READ": [step, "return status"]})
    with pytest.raises(SpecError, match=error):
        spec_from_dict(spec, "lab.toml")


def test_a_routine_may_end_with_an_if_return_and_an_else_return():
    spec = spec_from_dict(_filter(routines={"IRP_MJ_READ": [
        "IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
        "if status == STATUS_PENDING: return STATUS_PENDING", "else: return status"]}),
        "lab.toml")
    assert [c.otherwise for c in spec.routines["IRP_MJ_READ"]][-1] is True


def test_the_ioctl_table_runs_the_case_for_the_control_code_and_decodes_it():
    done = ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]
    system = _system(_filter(ioctl={"0x222003": ["KeInitializeEvent Case3 NotificationEvent",
                                                 *done]}))
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile", 8,
                         0x222003)
    assert ("lab", "case3") in system.ke.driver_events
    assert describe_ioctl(0x222003) == ("CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_NEITHER, "
                                        "FILE_ANY_ACCESS)")
    assert any(describe_ioctl(0x222003) in t for t in _texts(system, "ioctl"))
    system.files.file_io(process, handle, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile", 8,
                         0x222007)  # no case, no IRP_MJ_DEVICE_CONTROL routine
    assert system.io.finished_irps[max(system.io.finished_irps)].status == \
        NtStatus.STATUS_INVALID_DEVICE_REQUEST


def test_an_ioctl_needing_write_access_is_refused_on_a_read_only_handle():
    system = _system(_filter())
    process, handle = _caller(system, access="read")
    with pytest.raises(NtError) as error:  # 0x22A004: FILE_WRITE_ACCESS (bits 14-15 = 2)
        system.files.file_io(process, handle, "IRP_MJ_DEVICE_CONTROL",
                             "NtDeviceIoControlFile", 8, 0x22A004)
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED


def test_the_synchronous_forward_pattern_sets_the_event_in_the_completion_routine():
    system = _system(_filter(routines={"IRP_MJ_READ": [
        "KeInitializeEvent Done NotificationEvent", "IoCopyCurrentIrpStackLocationToNext",
        "IoSetCompletionRoutine ReadDone", "IoCallDriver lower",
        "if status == STATUS_PENDING: KeWaitForSingleObject Done",
        "IoCompleteRequest status", "return status"]},
        completion={"ReadDone": ["KeSetEvent Done", "return STATUS_MORE_PROCESSING_REQUIRED"]}))
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    assert system.ke.driver_events[("lab", "done")].signaled
    assert system.io.irps == {}
    assert any("NtReadFile returns 0xC0000011" in e.text for e in system.core.log)


def test_a_driver_event_must_be_initialized_before_it_is_set():
    system = _system(_filter(routines={"IRP_MJ_READ": ["KeSetEvent Nope",
                                                       "IoCompleteRequest STATUS_SUCCESS",
                                                       "return STATUS_SUCCESS"]}))
    process, handle = _caller(system)
    with pytest.raises(NtError, match="KeInitializeEvent Nope"):
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)


def test_a_work_item_runs_later_in_a_system_worker_thread_at_passive_level():
    system = _system(_filter(routines={"IRP_MJ_READ": [
        "IoAllocateWorkItem", "IoMarkIrpPending", "IoQueueWorkItem Later",
        "return STATUS_PENDING"]},
        workitem={"Later": ["IoFreeWorkItem", "IoCompleteRequest STATUS_SUCCESS",
                            "return STATUS_SUCCESS"]}))
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    thread = process.threads[0]
    assert thread.wait_reason is WaitReason.Executive and system.io.irps  # not yet run
    system.ke.step(2)
    called = next(e for e in system.core.log if "calls lab!Later" in e.text)
    assert called.irql == 0 and system.io.irps == {} and system.io.work_item_count["lab"] == 0
    assert any("NtReadFile returns 0x00000000 STATUS_SUCCESS" in e.text for e in system.core.log)


def test_a_work_item_routine_must_be_in_the_workitem_table():
    spec = _filter(routines={"IRP_MJ_READ": ["IoQueueWorkItem Missing", "return status"]})
    with pytest.raises(SpecError, match="no work item routine 'Missing'"):
        spec_from_dict(spec, "lab.toml")


def _locked(**routines) -> System:
    spec = _filter(routines={"AddDevice": [], **routines})
    spec["routines"]["DriverEntry"] = ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink",
                                       "IoInitializeRemoveLock"]
    return _system(spec)


def test_a_remove_lock_is_held_per_request_and_refused_once_removal_began():
    system = _locked(IRP_MJ_READ=[
        "IoAcquireRemoveLock",
        "if status == STATUS_DELETE_PENDING: IoCompleteRequest STATUS_DELETE_PENDING",
        "if status == STATUS_DELETE_PENDING: return status",
        "IoSkipCurrentIrpStackLocation", "IoCallDriver lower", "IoReleaseRemoveLock",
        "return status"],
        IRP_MJ_CLEANUP=["IoAcquireRemoveLock", "IoReleaseRemoveLockAndWait",
                        "IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"])
    process, handle = _caller(system)
    lab = next(d for d in system.io.devices if d.driver.name == "lab")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    assert lab.remove_lock is not None and lab.remove_lock.count == 1  # the bias only
    system.io.send_irp(lab, "IRP_MJ_CLEANUP")  # stands in for IRP_MN_REMOVE_DEVICE
    assert lab.remove_lock.removed and lab.remove_lock.count == 0
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    assert any("NtReadFile returns 0xC0000056 STATUS_DELETE_PENDING" in e.text
               for e in system.core.log)


def test_releasing_a_remove_lock_more_often_than_acquiring_it_is_an_error():
    system = _locked(IRP_MJ_READ=["IoReleaseRemoveLock", "IoCompleteRequest STATUS_SUCCESS",
                                  "return STATUS_SUCCESS"])
    process, handle = _caller(system)
    with pytest.raises(NtError, match="more often than it acquired it"):
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)


def test_keinsertqueuedpc_below_dispatch_runs_the_dpc_at_once_and_a_second_insert_is_false():
    system = new_system()
    system.io.load_driver(spec_from_dict({"name": "dpcs", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Dpcs"],
        "IRP_MJ_READ": ["KeInsertQueueDpc", "KeRaiseIrql DISPATCH_LEVEL", "KeInsertQueueDpc",
                        "KeInsertQueueDpc", "KeLowerIrql PASSIVE_LEVEL",
                        "IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"],
        "DPC": []}}, "dpcs.toml"))
    system.io.send_irp(system.io.find_device("Dpcs"), "IRP_MJ_READ")
    texts = [e.text for e in system.core.log if e.kind == "dpc"]
    assert sum("KeInsertQueueDpc returns TRUE" in t for t in texts) == 2
    assert sum("KeInsertQueueDpc returns FALSE" in t for t in texts) == 1
    assert sum("'s DPC runs" in t for t in texts) == 2  # once at PASSIVE, once after lowering


def test_completing_an_irp_with_status_pending_is_flagged_and_under_verifier_0xc9_0x06():
    spec = {"name": "pendy", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Pendy"],
        "IRP_MJ_READ": ["IoCompleteRequest STATUS_PENDING", "return STATUS_SUCCESS"]}}
    system = new_system()
    system.io.load_driver(spec_from_dict(spec, "pendy.toml"))
    system.io.send_irp(system.io.find_device("Pendy"), "IRP_MJ_READ")
    assert any("completes IRP 1 with STATUS_PENDING" in t for t in _texts(system, "rule"))
    verified = new_system()
    verified.mm.set_verifier("pendy", True)
    verified.io.load_driver(spec_from_dict(spec, "pendy.toml"))
    with pytest.raises(SystemHalted):
        verified.io.send_irp(verified.io.find_device("Pendy"), "IRP_MJ_READ")
    assert verified.core.bugcheck_info.parameters[:2] == (0x06, 0x103)


def _queued(**routines) -> System:
    spec = _filter(routines={
        "IRP_MJ_READ": ["IoCsqInsertIrp", "return STATUS_PENDING"], **routines})
    spec["routines"]["DriverEntry"] = ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink",
                                       "IoCsqInitialize"]
    return _system(spec)


def test_a_cancel_safe_queue_holds_the_irp_pending_and_remove_next_hands_it_back():
    system = _queued(IRP_MJ_WRITE=["IoCsqRemoveNextIrp",
                                   "if status == STATUS_SUCCESS: IoCompleteRequest STATUS_SUCCESS",
                                   "IoCsqRemoveNextIrp", "return STATUS_SUCCESS"])
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    read = next(iter(system.io.irps.values()))
    assert read.cancel_routine is not None and read.stack[-1].pending  # queued, cancelable
    lab = next(d for d in system.io.devices if d.driver.name == "lab")
    system.io.send_irp(lab, "IRP_MJ_WRITE")  # its routine dequeues the read and completes it
    assert read.completed and read.cancel_routine is None
    assert any("IoCsqRemoveNextIrp returns NULL" in t for t in _texts(system, "csq"))
    assert any("NtReadFile returns 0x00000000 STATUS_SUCCESS" in e.text for e in system.core.log)


def test_an_irp_cancelled_in_a_cancel_safe_queue_is_completed_with_status_cancelled():
    system = _queued()
    process, handle = _caller(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    read = next(iter(system.io.irps.values()))
    assert system.io.cancel_irp(read) is True
    assert system.io.irps == {} and system.core.processors[0].irql == 0
    assert any("NtReadFile returns 0xC0000120 STATUS_CANCELLED" in e.text
               for e in system.core.log)


def test_iobuildsynchronousfsdrequest_sends_an_irp_below_whose_completion_sets_the_event():
    system = _system(_filter(routines={"IRP_MJ_WRITE": [
        "KeInitializeEvent Done NotificationEvent", "IoBuildSynchronousFsdRequest IRP_MJ_READ Done",
        "if status == STATUS_PENDING: KeWaitForSingleObject Done",
        "IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]}))
    lab = next(d for d in system.io.devices if d.driver.name == "lab")
    system.io.send_irp(lab, "IRP_MJ_WRITE")
    assert system.ke.driver_events[("lab", "done")].signaled  # NullSink completed it at once
    assert system.io.irps == {}
    assert any("sets its event Done" in e.text for e in system.core.log)


def test_iobuildsynchronousfsdrequest_builds_only_the_majors_its_page_lists():
    spec = _filter(routines={"IRP_MJ_WRITE": ["IoBuildSynchronousFsdRequest IRP_MJ_CREATE Done",
                                               "return status"]})
    with pytest.raises(SpecError, match="IRP_MJ_FLUSH_BUFFERS"):
        spec_from_dict(spec, "lab.toml")


def test_a_power_irps_type_tells_an_s_irp_from_a_d_irp():
    from kmshell.nt.io.irp import IoStackLocation, Irp
    from kmshell.nt.io.steps import Frame, condition_holds, parse_condition
    from kmshell.nt.po import DevicePowerState, SystemPowerState

    system = new_system()
    driver = system.io.drivers["acpi"]
    is_system = parse_condition("Parameters.Power.Type == SystemPowerState")
    for state, expected in ((SystemPowerState.PowerSystemSleeping3, True),
                            (DevicePowerState.PowerDeviceD3, False), (None, False)):
        irp = Irp(1, 0, [IoStackLocation("IRP_MJ_POWER", "IRP_MN_SET_POWER")], 0,
                  power_state=state)
        frame = Frame(driver, "IRP_MN_SET_POWER", irp, None, irp, 0)
        assert condition_holds(is_system, frame, 0) is expected


def test_a_routine_waiting_on_its_event_goes_on_when_the_completion_routine_sets_it():
    system = new_system()
    system.io.load_driver(load_spec("slowdisk"))  # pends reads until `irp complete`
    spec = _filter(routines={"IRP_MJ_READ": [
        "KeInitializeEvent Done NotificationEvent", "IoCopyCurrentIrpStackLocationToNext",
        "IoSetCompletionRoutine ReadDone", "IoCallDriver lower",
        "if status == STATUS_PENDING: KeWaitForSingleObject Done", "ReadIoStatus",
        "IoCompleteRequest status", "return status"]},
        completion={"ReadDone": ["KeSetEvent Done", "return STATUS_MORE_PROCESSING_REQUIRED"]})
    spec["routines"]["DriverEntry"] = ["IoCreateDevice", "IoAttachDeviceToDeviceStack SlowDisk"]
    system.io.load_driver(spec_from_dict(spec, "lab.toml"))
    process = system.ps.create_process("app.exe", program=parse_program("wait-input"))
    system.ke.step(1)
    handle = system.files.open_file(process, "\\Device\\SlowDisk", "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 16)
    thread = process.threads[0]
    assert thread.wait_reason is WaitReason.Executive and system.ke.suspended
    irp = next(iter(system.io.irps.values()))
    start = len(system.core.log)
    system.io.complete_pending(irp, 0)
    texts = [e.text for e in system.core.log[start:]]
    goes_on = next(i for i, t in enumerate(texts) if "lab!IRP_MJ_READ goes on" in t)
    completes = next(i for i, t in enumerate(texts) if t.startswith("lab completes IRP"))
    returns = next(i for i, t in enumerate(texts) if "NtReadFile returns 0x00000000" in t)
    assert goes_on < completes < returns and system.io.irps == {} and not system.ke.suspended
    assert any("KeSetEvent(Done): 1 waiter(s) released" in t for t in texts)
    assert any("lab!IRP_MJ_READ ends, returning STATUS_SUCCESS" in t for t in texts)



def test_a_correct_filter_keeps_the_irp_it_took_back_through_a_surprise_removal():
    """An instructor's course (tests/data/surprise_course, from a trial run): a read pends in
    the function driver's cancel-safe queue under a filter that forwards it synchronously;
    the device is surprise-removed; the driver drains its own queue, the filter's completion
    routine takes the IRP back and the filter completes it once — no 0x44."""
    from pathlib import Path

    from kmshell.commands import TABLE
    from kmshell.scenario import Replay, load_scenario
    from kmshell.session import Session

    path = Path(__file__).resolve().parents[1] / "data" / "surprise_course" / "lab.kms"
    session = Session()
    with session.opening(path, "replay"):
        result = Replay(load_scenario(path, TABLE), session).run()
    assert result.failures == [] and result.expectations >= 10
    assert not session.system.halted
