"""The kernel stack (kmshell/nt/io/manager.py use_stack): every driver routine and every
IoCallDriver hop takes some of the 24 KB the current stack has (a thread's, or a processor's
DPC or interrupt stack); past it the guard page makes a double fault, bug check 0x7F/8."""

from __future__ import annotations

import pytest
from sessions import printed

from kmshell.drivers import load_spec, new_system
from kmshell.nt.constants import KERNEL_STACK_SIZE
from kmshell.nt.errors import SystemHalted
from kmshell.nt.invariants import violations
from kmshell.nt.io.manager import ROUTINE_FRAME, STACK_BASE
from kmshell.nt.io.spec import SpecError, spec_from_dict
from kmshell.session import Session


def hungry(locals_: int, remaining: bool = False) -> dict:
    """A function driver whose read routine keeps `locals_` bytes on the stack."""
    read = (["IoGetRemainingStackSize"] if remaining else []) + [
        "IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]
    return {"name": "hungry", "type": "function", "stack": {"IRP_MJ_READ": locals_},
            "routines": {"DriverEntry": ["IoCreateDevice Hungry"], "IRP_MJ_READ": read,
                         "IRP_MJ_CREATE": ["IoCompleteRequest STATUS_SUCCESS",
                                           "return STATUS_SUCCESS"]}}


def reader(system):
    process = system.ps.create_process("app.exe")
    handle = system.files.open_file(process, "\\Device\\Hungry")
    return process, handle


def test_the_kernel_stack_is_24_kb_as_wdm_h_defines_it_for_amd64():
    assert KERNEL_STACK_SIZE == 0x6000


def test_a_routine_s_locals_and_frames_count_against_its_thread_s_stack():
    system = new_system()
    system.io.load_driver(spec_from_dict(hungry(4000), "h.toml"))
    process, handle = reader(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    thread = process.threads[0]
    assert thread.kernel_stack_peak == STACK_BASE["thread"] + ROUTINE_FRAME + 4000
    assert system.io.stack.owner is None and system.io.stack.locals == 0  # popped on return


def test_locals_too_big_for_the_stack_double_fault_with_0x7f_parameter_8():
    system = new_system()
    system.io.load_driver(spec_from_dict(hungry(24_000), "h.toml"))
    process, handle = reader(system)
    with pytest.raises(SystemHalted):
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    info = system.core.bugcheck_info
    assert info.code == 0x7F and info.parameters[0] == 8
    assert info.driver == "hungry.sys" and "24000 of them its own locals" in info.rule
    assert "KeExpandKernelStackAndCallout" in info.fix and violations(system) == []


def test_io_get_remaining_stack_size_tells_what_is_left():
    system = new_system()
    system.io.load_driver(spec_from_dict(hungry(1000, remaining=True), "h.toml"))
    process, handle = reader(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    used = STACK_BASE["thread"] + ROUTINE_FRAME + 1000
    said = next(e.text for e in system.core.log if e.kind == "stack")
    assert f"IoGetRemainingStackSize → {KERNEL_STACK_SIZE - used} bytes" in said


def test_a_dpc_runs_on_its_processor_s_dpc_stack_not_on_the_interrupted_thread_s():
    system = new_system()
    system.io.load_driver(load_spec("irqdisk"))
    process = system.ps.create_process("app.exe")
    handle = system.files.open_file(process, "\\Device\\IrqDisk")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    peak = process.threads[0].kernel_stack_peak
    system.ke.interrupt(system.io.find_device("IrqDisk"))
    assert process.threads[0].kernel_stack_peak == peak
    assert any("DPC" in e.text for e in system.core.log[-12:])  # the DPC did run


def test_stack_must_name_the_spec_s_routines_and_give_bytes():
    with pytest.raises(SpecError, match=r"\[stack\] names 'IRP_MJ_RAED'"):
        spec_from_dict({**hungry(10), "stack": {"IRP_MJ_RAED": 10}}, "h.toml")
    with pytest.raises(SpecError, match="bytes of locals, 0 to 1048576"):
        spec_from_dict({**hungry(10), "stack": {"IRP_MJ_READ": -1}}, "h.toml")


def test_windbg_thread_shows_the_stack_size_and_the_most_used():
    session = Session()
    session.execute("driver load bigframe")
    session.execute('process create app.exe --program "wait-input"')
    session.execute("open app.exe \\Device\\BigFrame")
    session.execute("read app.exe 0xc")
    text = printed(session, "!thread b0", width=100)
    assert "Kernel stack    0x6000 bytes; at most 0x5db0 used, 0x250 left then" in text


def callout_driver(size: int) -> dict:
    spec = hungry(0)
    spec["routines"]["IRP_MJ_READ"] = [f"KeExpandKernelStackAndCallout Deep {size}",
                                       "IoCompleteRequest STATUS_SUCCESS", "return STATUS_SUCCESS"]
    spec["stack"] = {"Deep": 22000}
    spec["callout"] = {"Deep": ["IoGetRemainingStackSize"]}
    return spec


def test_a_callout_asking_for_more_than_is_left_runs_on_a_72_kb_stack_segment():
    system = new_system()
    system.io.load_driver(spec_from_dict(callout_driver(24000), "h.toml"))
    process, handle = reader(system)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")  # no 0x7F
    said = [e.text for e in system.core.log if e.kind == "stack"]
    assert "a new kernel stack segment of 73728 bytes, and Deep runs on it" in said[0]
    assert f"({ROUTINE_FRAME + 22000} of 73728 in use on a large stack segment" in said[1]
    assert not system.halted and violations(system) == []


def test_a_callout_with_enough_left_runs_on_the_current_stack():
    system = new_system()
    spec = callout_driver(100)
    spec["stack"] = {"Deep": 22200}
    system.io.load_driver(spec_from_dict(spec, "h.toml"))
    process, handle = reader(system)
    with pytest.raises(SystemHalted):  # it asked for too little: its locals overflow
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile")
    assert "enough: the callout runs there" in next(
        e.text for e in system.core.log if e.kind == "stack")
    assert system.core.bugcheck_info.code == 0x7F


def test_a_callout_must_be_in_callout_and_ask_for_at_most_maximum_expansion_size():
    with pytest.raises(SpecError, match="MAXIMUM_EXPANSION_SIZE"):
        spec_from_dict(callout_driver(0x11801), "h.toml")
    spec = callout_driver(100)
    spec["callout"] = {}
    spec["stack"] = {}
    with pytest.raises(SpecError, match=r"no callout routine 'Deep' in \[callout\]"):
        spec_from_dict(spec, "h.toml")
