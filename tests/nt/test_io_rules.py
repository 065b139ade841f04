"""The I/O manager's rules for pending, for the IRQL a system call returns at, for
exceptions in a system service and for which IRQL check comes first (issue 18, rules 3-6),
each against its WDK page: IoMarkIrpPending, bug checks 0x4A, 0x3B, 0x1E, 0xA, 0xC2, 0xC4
and 0xC9 (I/O Verification errors 0x228, 0x23D)."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System, SystemHalted
from kmshell.nt.constants import BugCheck, Irql
from kmshell.nt.io.spec import spec_from_dict
from kmshell.nt.mm import routine_address
from kmshell.nt.ps import parse_program


def loaded(*names: str, verify: str = "", specs: tuple[dict, ...] = ()) -> System:
    system = new_system()
    if verify:
        system.mm.set_verifier(verify, True)
    for name in names:
        system.io.load_driver(load_spec(name))
    for spec in specs:
        system.io.load_driver(spec_from_dict(spec, "<test>"))
    return system


def _read(system: System, path: str):
    """app.exe opens PATH and reads it; returns the process."""
    process = system.ps.create_process("app.exe", program=parse_program("wait-input"))
    system.ke.step(1)
    handle = system.files.open_file(process, path, "all")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64)
    return process


# A filter over SlowDisk whose completion routine lets completion go on; with `mark`, it
# passes the pending mark up as the WDK asks.
def _lossy(mark: bool) -> dict:
    return {"name": "lossy", "type": "filter", "routines": {
        "DriverEntry": ["IoCreateDevice", "IoAttachDeviceToDeviceStack SlowDisk"],
        "IRP_MJ_CREATE": ["IoSkipCurrentIrpStackLocation", "IoCallDriver lower",
                          "return status"],
        "IRP_MJ_READ": ["IoCopyCurrentIrpStackLocationToNext",
                        "IoSetCompletionRoutine Done Success Error Cancel",
                        "IoCallDriver lower", "return status"]},
        "completion": {"Done": (["IoMarkIrpPending"] if mark else []) + ["return STATUS_SUCCESS"]}}


# rule 3 -----------------------------------------------------------------------------------

def test_iomarkirppending_and_its_propagation_by_a_completion_routine_show_in_the_trace():
    system = loaded("slowdisk", specs=(_lossy(mark=True),))
    process = _read(system, "\\Device\\SlowDisk")
    system.io.complete_pending(next(iter(system.io.irps.values())), 0)
    pending = [e.text for e in system.core.log if e.kind == "pending"]
    assert any("slowdisk!IRP_MJ_READ: IoMarkIrpPending" in t for t in pending)
    assert any("lossy!Done: Irp->PendingReturned is set, so it marks" in t for t in pending)
    assert system.io.irps == {} and process.threads[0].io_wait is None


def test_a_completion_routine_that_loses_the_pending_mark_is_flagged_and_the_caller_hangs():
    system = loaded("slowdisk", specs=(_lossy(mark=False),))
    process = _read(system, "\\Device\\SlowDisk")
    irp = next(iter(system.io.irps.values()))
    system.io.complete_pending(irp, 0)
    rules = [e.text for e in system.core.log if e.kind == "rule"]
    assert any("lossy!Done let completion of IRP" in t and "did not call IoMarkIrpPending" in t
               for t in rules)
    assert any("Nobody copies the data" in t and "It hangs" in t for t in rules)
    assert process.threads[0].io_wait is not None  # never woken: IopCompleteRequest never ran
    assert not system.halted


def test_under_verifier_a_completion_routine_that_loses_the_pending_mark_is_0xc9_0x228():
    system = loaded("slowdisk", verify="lossy", specs=(_lossy(mark=False),))
    _read(system, "\\Device\\SlowDisk")
    irp = next(iter(system.io.irps.values()))
    with pytest.raises(SystemHalted):
        system.io.complete_pending(irp, 0)
    info = system.core.bugcheck_info
    lossy = system.io.drivers["lossy"]
    assert info.code == BugCheck.DRIVER_VERIFIER_IOMANAGER_VIOLATION
    assert info.parameters[:3] == (0x228, routine_address(lossy, "Done"), irp.address)


def test_under_verifier_returning_pending_without_iomarkirppending_is_0xc9_0x23d():
    system = loaded("forgetful", verify="forgetful")
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Forgetful"), "IRP_MJ_READ")
    assert system.core.bugcheck_info.parameters[0] == 0x23D


# rule 4 -----------------------------------------------------------------------------------

GREEDY = {"name": "greedy", "type": "function", "routines": {
    "DriverEntry": ["IoCreateDevice Greedy"],
    "IRP_MJ_CREATE": ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"],
    "IRP_MJ_READ": ["KeAcquireSpinLock GreedyLock", "IoCompleteRequest STATUS_SUCCESS",
                    "return STATUS_SUCCESS"]}}


def test_a_system_call_returning_with_a_spin_lock_held_is_0x4a_with_the_irql():
    system = new_system()
    system.ke.create_named("spinlock", "GreedyLock")
    system.io.load_driver(spec_from_dict(GREEDY, "<test>"))
    with pytest.raises(SystemHalted):
        _read(system, "\\Device\\Greedy")
    info = system.core.bugcheck_info
    assert info.code == BugCheck.IRQL_GT_ZERO_AT_SYSTEM_SERVICE == 0x4A
    assert info.parameters[1:] == (Irql.DISPATCH_LEVEL, 0, 0) and info.driver == "greedy.sys"
    assert "GreedyLock (taken by greedy!IRP_MJ_READ on CPU0) still held" in info.rule
    assert system.ke.spin_locks["greedylock"].holder == "greedy!IRP_MJ_READ on CPU0"
    assert not any("NtReadFile returns" in e.text for e in system.core.log)


# rule 5 -----------------------------------------------------------------------------------

def test_an_access_violation_inside_a_system_service_is_0x3b_and_outside_one_0x1e():
    system = loaded("lonely")
    with pytest.raises(SystemHalted):
        _read(system, "\\Device\\Lonely")  # a thread's NtReadFile reaches lonely's NULL
    info = system.core.bugcheck_info
    assert info.code == BugCheck.SYSTEM_SERVICE_EXCEPTION == 0x3B
    assert info.parameters[0] == 0xC0000005 and info.parameters[3] == 0
    outside = loaded("lonely")
    with pytest.raises(SystemHalted):
        outside.io.send_irp(outside.io.find_device("Lonely"), "IRP_MJ_READ")  # no system call
    assert outside.core.bugcheck_info.code == BugCheck.KMODE_EXCEPTION_NOT_HANDLED == 0x1E


def test_0xa_names_the_routine_that_made_the_access_in_its_fourth_parameter():
    system = loaded("hastyisr")
    system.io.send_irp(system.io.find_device("HastyDisk"), "IRP_MJ_READ")
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("HastyDisk"))
    info = system.core.bugcheck_info
    assert info.code == 0xA
    assert info.parameters[3] == routine_address(system.io.drivers["hastyisr"], "ISR")


# rule 6 -----------------------------------------------------------------------------------

def _isr_does(step: str, verify: bool, lock: bool = False) -> System:
    """A driver whose ISR (at its DIRQL, above DISPATCH_LEVEL) does STEP."""
    system = new_system()
    if verify:
        system.mm.set_verifier("isrbug", True)
    if lock:
        system.ke.create_named("spinlock", "IsrLock")
    system.io.load_driver(spec_from_dict({"name": "isrbug", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice IsrBug", "IoConnectInterruptEx"],
        "ISR": [step]}}, "<test>"))
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("IsrBug"))
    return system


@pytest.mark.parametrize("verify, code, parameter", [(False, 0xC2, 0x08), (True, 0xC4, 0x02)])
def test_nonpaged_pool_above_dispatch_level_is_the_pool_bugcheck_not_the_generic_0xa(
        verify, code, parameter):
    info = _isr_does("ExAllocatePool2 NONPAGED 64 Isr", verify).core.bugcheck_info
    assert (info.code, info.parameters[0]) == (code, parameter)


def test_kespinlock_above_dispatch_level_is_0xc4_0x42_under_verifier_and_0xa_without():
    verified = _isr_does("KeAcquireSpinLock IsrLock", True, lock=True).core.bugcheck_info
    assert (verified.code, verified.parameters[0]) == (0xC4, 0x42)
    assert verified.parameters[1] > Irql.DISPATCH_LEVEL  # the IRQL it was called at
    free = _isr_does("KeAcquireSpinLock IsrLock", False, lock=True).core.bugcheck_info
    assert free.code == 0xA


def test_a_thread_holding_a_spin_lock_runs_kernel_code_and_a_bad_touch_there_is_0xa():
    system = new_system()
    system.ke.create_named("spinlock", "L")
    system.ps.create_process("a.exe", program=parse_program(
        "acquire L; syscall 1; touch 0x10; release L; exit"))
    with pytest.raises(SystemHalted):
        system.ke.step(4)
    held = [e for e in system.core.log if e.text.startswith("a.exe") and e.component == "Ke"
            and e.kind in ("syscall", "spinlock")]
    assert held and all(e.mode == "K" and e.irql == Irql.DISPATCH_LEVEL for e in held)
    info = system.core.bugcheck_info
    assert (info.code, info.parameters[:2]) == (0xA, (0x10, Irql.DISPATCH_LEVEL))


def test_a_driver_returning_to_irp_sends_client_at_dispatch_level_is_0xe1():
    system = new_system()
    system.ke.create_named("spinlock", "GreedyLock")
    system.io.load_driver(spec_from_dict(GREEDY, "<test>"))
    with pytest.raises(SystemHalted):
        system.io.send_irp(system.io.find_device("Greedy"), "IRP_MJ_READ")
    info = system.core.bugcheck_info
    assert info.code == BugCheck.WORKER_THREAD_RETURNED_AT_BAD_IRQL == 0xE1
    assert info.parameters[1] == Irql.DISPATCH_LEVEL and info.driver == "greedy.sys"


def test_a_readfileex_that_fails_without_pending_queues_no_completion_routine():
    # IopCompleteRequest queues the ApcRoutine for a success or a warning, or for an error
    # that followed STATUS_PENDING; an error straight from the dispatch routine skips it.
    mute = {"name": "mute", "type": "function", "routines": {
        "DriverEntry": ["IoCreateDevice Mute"],
        "IRP_MJ_CREATE": ["IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"],
        "IRP_MJ_READ": ["IoCompleteRequest STATUS_BUFFER_OVERFLOW",
                        "return STATUS_BUFFER_OVERFLOW"],
        "IRP_MJ_WRITE": ["IoCompleteRequest STATUS_END_OF_FILE", "return STATUS_END_OF_FILE"]}}
    system = loaded(specs=(mute,))
    process = system.ps.create_process("app.exe", program=parse_program("wait-input"))
    system.ke.step(1)
    handle = system.files.open_file(process, "\\Device\\Mute", "all", overlapped=True)
    thread = process.threads[0]
    system.files.file_io(process, handle, "IRP_MJ_WRITE", "NtWriteFile", 8, apc=True)
    assert thread.user_apcs == []  # an error at once: ReadFileEx/WriteFileEx return FALSE
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 8, apc=True)
    assert len(thread.user_apcs) == 1  # STATUS_BUFFER_OVERFLOW, a warning: the routine runs
