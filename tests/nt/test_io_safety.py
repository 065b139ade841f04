"""I/O manager rules that keep a bad driver spec from hanging or crashing the model: no
device stack, devnode tree or IRP walk loops forever, IoCallDriver nesting is bounded, and
a master IRP may be completed before its dispatch routine returns STATUS_PENDING."""

from __future__ import annotations

import threading

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System
from kmshell.nt.constants import Irql, NtStatus
from kmshell.nt.errors import NtError, SystemHalted
from kmshell.nt.invariants import violations
from kmshell.nt.io.spec import spec_from_dict
from kmshell.session import Session


def finishes(call, seconds: float = 20):
    """call(), failing instead of hanging the suite if it never returns: before these rules,
    some of the walks below looped forever. (A thread, as pytest has no timeout here.)"""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as error:  # noqa: BLE001 - re-raised in the test's own thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it loops forever"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def with_nullsink() -> System:
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("nullsink"))
    return system


# ------------------------------------------------------------------ stacks and trees


@pytest.mark.parametrize("attaches, message", [
    (["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink",
      "IoAttachDeviceToDeviceStack NullSink"],
     "looper!DriverEntry, step 3 'IoAttachDeviceToDeviceStack NullSink': looper#1 is already "
     "attached to \\Device\\NullSink"),
    (["IoCreateDevice Looper", "IoAttachDeviceToDeviceStack Looper"],
     "looper!DriverEntry, step 2 'IoAttachDeviceToDeviceStack Looper': \\Device\\Looper is in "
     "the stack of \\Device\\Looper already"),
])
def test_attaching_a_device_to_a_stack_it_is_already_in_is_refused_naming_the_step(
        attaches, message):
    system = with_nullsink()
    spec = spec_from_dict({"name": "looper", "type": "filter",
                           "routines": {"DriverEntry": attaches}}, "looper.toml")
    with pytest.raises(NtError) as error:
        finishes(lambda: system.io.load_driver(spec))
    assert str(error.value).startswith(message) and "cycle" in str(error.value)
    assert error.value.status == NtStatus.STATUS_INVALID_PARAMETER
    assert "looper" not in system.io.drivers  # DriverEntry failed: the driver is unloaded
    assert [d.label for d in system.io.find_device("NullSink").stack()] == ["\\Device\\NullSink"]
    assert violations(system) == []


def test_driver_load_of_a_spec_that_attaches_twice_is_an_error_the_user_sees(tmp_path):
    spec = tmp_path / "twice.toml"
    spec.write_text('name = "twice"\ntype = "filter"\n[routines]\nDriverEntry = '
                    '["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink", '
                    '"IoAttachDeviceToDeviceStack NullSink"]\n', encoding="utf-8")
    session = Session()
    assert session.execute("driver load nullsink").ok
    outcome = finishes(lambda: session.execute(f"driver load {spec}"))
    assert "twice!DriverEntry, step 3 'IoAttachDeviceToDeviceStack NullSink'" in \
        str(outcome.error) and not session.system.halted


def test_a_stack_may_not_grow_past_127_locations_the_most_an_irp_can_have():
    system = with_nullsink()
    system.io.find_device("NullSink").stack_size = 127
    spec = spec_from_dict({"name": "deep", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"]}}, "deep.toml")
    with pytest.raises(NtError, match="StackSize is a CCHAR"):
        system.io.load_driver(spec)


def test_a_device_stack_whose_links_loop_stops_a_walk_with_an_error_instead_of_hanging():
    system = with_nullsink()
    system.io.load_driver(spec_from_dict({"name": "filt", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"]}}, "f.toml"))
    bottom = system.io.find_device("NullSink")
    above = bottom.attached_device
    above.attached_device, bottom.attached_to = bottom, above  # corrupt: a cycle both ways
    for walk in (bottom.top, bottom.stack, above.stack):
        with pytest.raises(NtError, match="form a cycle"):
            finishes(walk)


def test_a_device_tree_whose_links_loop_stops_a_walk_with_an_error_instead_of_recursing():
    system = new_system(minimal=True)
    root = system.pnp.device_root
    child = root.children[0] if root.children else root
    child.children.append(root)  # corrupt: the root is its own descendant
    with pytest.raises(NtError, match="HTREE.ROOT.0 twice"):
        finishes(lambda: list(root.walk()))


# ------------------------------------------------------------------ IoCallDriver nesting


def resender(completion: list[str], lower: str = "NullSink") -> dict:
    """A filter whose completion routine sends the IRP down again."""
    return {"name": "resender", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", f"IoAttachDeviceToDeviceStack {lower}"],
        "IRP_MJ_READ": ["IoCopyCurrentIrpStackLocationToNext", "IoSetCompletionRoutine Again",
                        "IoCallDriver lower", "return status"]},
        "completion": {"Again": completion}}


def test_a_completion_routine_that_resends_the_irp_forever_double_faults_on_the_kernel_stack():
    system = with_nullsink()
    system.io.load_driver(spec_from_dict(
        resender(["IoCallDriver lower", "return STATUS_MORE_PROCESSING_REQUIRED"]), "r.toml"))
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("NullSink"), "IRP_MJ_READ")
    info = system.core.bugcheck_info
    assert info.code == 0x7F and info.parameters == (8, 0, 0, 0)  # a double fault
    # the stop names whoever pushed last, here the driver below: the stack is everybody's
    assert info.driver == "nullsink.sys" and "driver routines deep" in info.rule
    assert violations(system) == []


def test_irp_send_to_a_driver_that_resends_forever_stops_the_machine_with_a_double_fault(tmp_path):
    spec = tmp_path / "resender.toml"
    spec.write_text('name = "resender"\ntype = "filter"\n[routines]\nDriverEntry = '
                    '["IoCreateDevice", "IoAttachDeviceToDeviceStack NullSink"]\nIRP_MJ_READ = '
                    '["IoCopyCurrentIrpStackLocationToNext", "IoSetCompletionRoutine Again", '
                    '"IoCallDriver lower", "return status"]\n[completion]\nAgain = '
                    '["IoCallDriver lower", "return STATUS_MORE_PROCESSING_REQUIRED"]\n',
                    encoding="utf-8")
    session = Session()
    for line in ("driver load nullsink", f"driver load {spec}"):
        assert session.execute(line).ok
    outcome = session.execute("irp send NullSink IRP_MJ_READ")
    assert outcome.bugcheck is not None and outcome.bugcheck.code == 0x7F
    assert "double fault" in outcome.bugcheck.rule


def test_a_completion_routine_that_resends_a_pended_irp_must_return_more_processing_required():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("slowdisk"))  # pends every read
    system.io.load_driver(spec_from_dict(
        resender(["IoCallDriver lower", "return STATUS_SUCCESS"], "SlowDisk"), "r.toml"))
    read = system.io.send_irp(system.io.find_device("SlowDisk"), "IRP_MJ_READ")
    finishes(lambda: system.io.complete_pending(read, NtStatus.STATUS_SUCCESS))
    rules = [e.text for e in system.core.log if e.kind == "rule"]
    assert any("resender!Again sent IRP 1 down again but returned STATUS_SUCCESS" in text
               for text in rules)
    assert not read.completed and read.location.device.label == "\\Device\\SlowDisk"
    assert violations(system) == []


# ------------------------------------------------------------------ a master IRP


def quick_lower() -> dict:
    """A function driver that completes internal device controls at once."""
    return {"name": "quick", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Quick"],
        "IRP_MJ_CREATE": ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"],
        "IRP_MJ_INTERNAL_DEVICE_CONTROL": ["IoCompleteRequest STATUS_SUCCESS",
                                           "return STATUS_SUCCESS"]}}


OWN_IRP = {
    "IoAllocateIrp": (["IoAllocateIrp IRP_MJ_INTERNAL_DEVICE_CONTROL",
                       "IoSetCompletionRoutine Done", "IoCallDriver lower"],
                      ["IoCompleteRequest master", "IoFreeIrp",
                       "return STATUS_MORE_PROCESSING_REQUIRED"]),
    "IoBuildDeviceIoControlRequest": (["IoBuildDeviceIoControlRequest 0x220003 Done"],
                                      ["IoCompleteRequest master", "return STATUS_SUCCESS"]),
}


def master_driver(how: str, read: list[str] | None = None) -> dict:
    sends, completion = OWN_IRP[how]
    return {"name": "master", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack Quick"],
        "IRP_MJ_CREATE": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower", "return status"],
        "IRP_MJ_READ": read or ["IoMarkIrpPending", *sends, "return STATUS_PENDING"]},
        "completion": {"Done": completion}}


def with_master(how: str, read: list[str] | None = None) -> System:
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict(quick_lower(), "quick.toml"))
    system.io.load_driver(spec_from_dict(master_driver(how, read), "master.toml"))
    return system


@pytest.mark.parametrize("how", list(OWN_IRP))
def test_a_master_irp_completed_before_its_dispatch_returns_pending_finishes_once(how):
    system = with_master(how)
    start = len(system.core.log)
    read = system.io.send_irp(system.io.find_device("Quick"), "IRP_MJ_READ")
    assert read.completed and read.status == NtStatus.STATUS_SUCCESS and system.io.irps == {}
    assert system.io.finished_irps[read.number].status == NtStatus.STATUS_SUCCESS
    events = system.core.log[start:]
    assert [e.text.split()[1] for e in events if e.kind == "irp-done"].count("1") == 1
    assert not [e.text for e in events if e.kind == "rule"]  # it marked the IRP: no warning
    assert "still in progress" not in events[-1].text
    assert violations(system) == []


def test_a_thread_whose_read_completes_before_the_dispatch_returns_pending_does_not_wait():
    system = with_master("IoBuildDeviceIoControlRequest")
    process = system.ps.create_process("app.exe")
    system.ke.step(3)
    handle = system.files.open_file(process, "\\Device\\Quick", "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    assert process.threads[0].io_wait is None and system.io.irps == {}
    assert violations(system) == []


def test_marking_an_irp_pending_after_it_was_completed_is_an_error_naming_the_step():
    system = with_master("IoBuildDeviceIoControlRequest", [
        "IoBuildDeviceIoControlRequest 0x220003 Done", "IoMarkIrpPending",
        "return STATUS_PENDING"])
    with pytest.raises(NtError) as error:
        system.io.send_irp(system.io.find_device("Quick"), "IRP_MJ_READ")
    assert str(error.value).startswith("master!IRP_MJ_READ, step 2 'IoMarkIrpPending': IRP 1 "
                                       "has no current stack location to mark: it was already "
                                       "completed")


def test_a_completion_routine_that_starts_packets_from_inside_the_last_one_double_faults():
    """IoCallDriver returns each time (the IRP is queued), so its nesting never grows; the
    routines do, StartIo → IoCompleteRequest → completion routine → IoCallDriver → StartIo."""
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({
        "name": "queuer", "type": "function", "routines": {
            "DriverEntry": ["IoCreateDevice Qd"],
            "IRP_MJ_READ": ["IoMarkIrpPending", "IoStartPacket", "return STATUS_PENDING"],
            "StartIo": ["IoCompleteRequest STATUS_SUCCESS", "IoStartNextPacket"]}}, "q.toml"))
    system.io.load_driver(spec_from_dict({
        "name": "again", "type": "filter", "routines": {
            "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack Qd"],
            "IRP_MJ_READ": ["IoCopyCurrentIrpStackLocationToNext", "IoSetCompletionRoutine Again",
                            "IoCallDriver lower", "return status"]},
        "completion": {"Again": ["IoAllocateIrp IRP_MJ_READ", "IoSetCompletionRoutine Again",
                                 "IoCallDriver lower", "return STATUS_SUCCESS"]}}, "a.toml"))
    with pytest.raises(SystemHalted):
        finishes(lambda: system.io.send_irp(system.io.find_device("Qd"), "IRP_MJ_READ"))
    assert system.core.bugcheck_info.code == 0x7F  # the routines' frames filled the stack
    assert violations(system) == []


def test_a_synchcritsection_step_that_fails_leaves_the_irql_where_it_was():
    """KeSynchronizeExecution raises to the DIRQL around SynchCritSection; a step of it that
    fails ends the routine, and the interrupt spin lock is let go (the IRQL used to stay at
    the DIRQL after the command)."""
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({"name": "syncerr", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice SyncErr", "IoConnectInterruptEx"],
        "IRP_MJ_READ": ["KeSynchronizeExecution", "IoCompleteRequest STATUS_SUCCESS",
                        "return STATUS_SUCCESS"],
        "SynchCritSection": ["IoSkipCurrentIrpStackLocation"]}}, "syncerr.toml"))
    with pytest.raises(NtError, match="SynchCritSection"):
        system.io.send_irp(system.io.find_device("SyncErr"), "IRP_MJ_READ")
    assert [cpu.irql for cpu in system.core.processors] == [Irql.PASSIVE_LEVEL] * 2


def test_a_cancel_routine_step_that_fails_releases_the_cancel_spin_lock():
    """IoCancelIrp calls the cancel routine holding the cancel spin lock; a step of it that
    fails ends the routine, and the lock is let go with the IRQL it saved."""
    system = new_system(minimal=True)
    system.io.load_driver(spec_from_dict({"name": "badcancel", "type": "function",
                                          "routines": {
        "DriverEntry": ["IoCreateDevice BadCancel"],
        "IRP_MJ_READ": ["IoMarkIrpPending", "IoSetCancelRoutine Bad", "return STATUS_PENDING"]},
        "cancel": {"Bad": ["KeReleaseSpinLock NoSuchLock"]}}, "badcancel.toml"))
    irp = system.io.send_irp(system.io.find_device("BadCancel"), "IRP_MJ_READ")
    with pytest.raises(NtError, match="NoSuchLock"):
        system.io.cancel_irp(irp)
    assert [cpu.irql for cpu in system.core.processors] == [Irql.PASSIVE_LEVEL] * 2
