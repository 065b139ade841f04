"""Neither I/O, one rule per test: Irp->UserBuffer is the caller's user address, which means
the caller's buffer only in the caller's context. From a DPC it is translated through whatever
process is current: another process's memory, or nothing (0xD1 at DISPATCH_LEVEL)."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import SystemHalted
from kmshell.nt.constants import BugCheck
from kmshell.nt.errors import NtError
from kmshell.nt.io.files import USER_BUFFER_MARK
from kmshell.nt.ps import parse_program


def machine():
    system = new_system(cpus=1, minimal=True)
    system.io.load_driver(load_spec("rawpipe"))
    caller = system.ps.create_process("a.exe", program=parse_program("wait-input"))
    handle = system.files.open_file(caller, "\\Device\\RawPipe")
    return system, caller, handle


def test_in_the_dispatch_routine_the_user_buffer_is_the_callers():
    system, caller, handle = machine()
    system.files.file_io(caller, handle, "IRP_MJ_READ", "NtReadFile")
    address = caller.io_buffer[0]
    assert caller.address_space.memory[address] == USER_BUFFER_MARK


def test_from_a_dpc_the_user_buffer_is_the_current_processs_memory():
    system, caller, handle = machine()
    other = system.ps.create_process("b.exe", program=parse_program("compute 100"))
    theirs = system.files.open_file(other, "\\Device\\RawPipe")
    # b.exe gets a buffer there too
    system.files.file_io(other, theirs, "IRP_MJ_READ", "NtReadFile")
    other.address_space.memory.clear()
    system.files.file_io(caller, handle, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile",
                   code=0x222003)  # METHOD_NEITHER, pended: a.exe waits, b.exe runs
    assert system.core.processors[0].current_thread.process is other
    system.ke.interrupt(system.io.find_device("RawPipe"))
    address = caller.io_buffer[0]
    assert other.io_buffer[0] == address
    assert other.address_space.memory[address] == USER_BUFFER_MARK
    assert address not in caller.address_space.memory  # the caller got nothing


def test_from_a_dpc_with_nothing_mapped_there_the_machine_stops_with_0xd1():
    system, caller, handle = machine()
    system.files.file_io(caller, handle, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile",
                   code=0x222003)
    assert system.core.processors[0].is_idle
    with pytest.raises(SystemHalted):
        system.ke.interrupt(system.io.find_device("RawPipe"))
    info = system.core.bugcheck_info
    assert info.code == BugCheck.DRIVER_IRQL_NOT_LESS_OR_EQUAL
    assert info.parameters[:3] == (caller.io_buffer[0], 2, 1)


def test_only_neither_io_requests_carry_a_user_buffer():
    system = new_system(minimal=True)
    system.io.load_driver(load_spec("rawpipe"))
    with pytest.raises(NtError, match="UserBuffer is set only for neither I/O"):
        system.io.send_irp(system.io.find_device("RawPipe"), "IRP_MJ_READ")
