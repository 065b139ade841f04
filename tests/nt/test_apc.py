"""APCs and where an I/O request is finished: in the thread that asked (issue 18, rule 2).

IofCompleteRequest queues IopCompleteRequest as a special kernel APC to the requesting
thread unless the system service is still running and can finish the request itself
(IRP_DEFER_IO_COMPLETION without PendingReturned); the APC runs at APC_LEVEL as soon as that
thread runs below APC_LEVEL (ReactOS ntoskrnl/io/iomgr/irp.c, IofCompleteRequest and
IopCompleteRequest; ntoskrnl/ke/apc.c, KiInsertQueueApc and KiDeliverApc).
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System
from kmshell.nt.constants import Irql
from kmshell.nt.errors import NtError
from kmshell.nt.ke.thread_state import ThreadState
from kmshell.nt.ps import parse_program
from kmshell.views.ps import thread_detail


def loaded(name: str) -> System:
    system = new_system()
    system.io.load_driver(load_spec(name))
    return system


def _open(system: System, path: str, overlapped: bool = False, program: str = "wait-input",
          priority: int = 8):
    process = system.ps.create_process("app.exe", program=parse_program(program),
                                       priority=priority)
    system.ke.step(1)
    return process, system.files.open_file(process, path, "all", overlapped=overlapped)


def _events(system: System, start: int) -> list[tuple[str, int, int, str]]:
    return [(e.kind, e.cpu, e.irql, e.text) for e in system.core.log[start:]]


def test_a_pended_read_is_finished_by_an_apc_in_the_requesting_thread_not_in_the_dpc():
    system = loaded("irqdisk")
    process, handle = _open(system, "\\Device\\IrqDisk")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 8192)
    thread = process.threads[0]
    assert thread.state is ThreadState.Waiting and thread.io_wait is not None
    start = len(system.core.log)
    system.ke.interrupt(system.io.find_device("IrqDisk"), 1)
    events = _events(system, start)
    queued = next(i for i, e in enumerate(events) if e[0] == "irp-apc")
    delivered = next(i for i, e in enumerate(events) if "KiDeliverApc runs" in e[3])
    freed = next(i for i, e in enumerate(events) if "IoFreeMdl" in e[3])
    returned = next(i for i, e in enumerate(events) if "NtReadFile returns" in e[3])
    assert events[queued][1:3] == (1, Irql.DISPATCH_LEVEL)  # queued from the DPC on CPU1
    assert queued < delivered < freed < returned
    assert events[delivered][2] == events[freed][2] == Irql.APC_LEVEL
    assert f"in {thread.label}" in events[delivered][3]
    assert system.io.irps == {} and thread.io_wait is None


def test_a_request_completed_before_its_dispatch_routine_returns_needs_no_apc():
    system = loaded("nullsink")
    process, handle = _open(system, "\\Device\\NullSink")
    start = len(system.core.log)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64)
    events = _events(system, start)
    assert not any(kind in ("apc", "irp-apc") for kind, *_ in events)
    done = next(e for e in events if e[0] == "irp-done")
    assert done[2] == Irql.APC_LEVEL and "IopCompleteRequest runs in app.exe" in done[3]
    assert "NtReadFile returns" in events[-1][3]


def _completed_behind_hogs():
    """app.exe's overlapped read of msixnic, completed while two threads at priority 12 keep
    both processors from it (it computes at 8): its completion APC cannot run yet."""
    system = loaded("msixnic")
    process, handle = _open(system, "\\Device\\MsixNic", overlapped=True, program="compute 40")
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64)
    irp = next(iter(system.io.irps.values()))
    system.ps.create_process("hog.exe", threads=2, priority=12,
                             program=parse_program("compute 3"))
    assert process.threads[0].state is ThreadState.Ready
    system.io.complete_pending(irp, 0)
    return system, process, irp


def test_the_completion_apc_waits_in_the_queue_until_the_requesting_thread_gets_a_processor():
    system, process, irp = _completed_behind_hogs()
    thread = process.threads[0]
    assert [a.routine for a in thread.kernel_apcs] == ["nt!IopCompleteRequest"]
    assert irp.completed and irp.number in system.io.irps  # not freed: the APC has not run
    console = Console(width=120, file=io.StringIO(), color_system=None)
    console.print(thread_detail(thread))  # !thread shows the queue
    assert f"special kernel APC nt!IopCompleteRequest (IRP {irp.number})" in \
        console.file.getvalue()
    system.ke.step(5)  # the hogs finish; the requester runs and takes its APC first
    assert thread.kernel_apcs == [] and system.io.irps == {}
    assert any("sets its OVERLAPPED event" in e.text for e in system.core.log)


def test_an_apc_queued_to_a_thread_that_ends_is_run_down_and_its_irp_freed():
    system, process, irp = _completed_behind_hogs()
    system.ps.terminate_process(process, 1)
    assert system.io.irps == {} and irp.number in system.io.finished_irps
    assert any("has ended, so nobody is told" in e.text for e in system.core.log)


def test_buffered_io_copies_data_back_for_a_warning_status_but_not_for_an_error():
    # STATUS_BUFFER_OVERFLOW is a warning, STATUS_IO_DEVICE_ERROR an error
    for status, copies in ((0x80000005, True), (0xC0000185, False)):
        system = loaded("msixnic")
        process, handle = _open(system, "\\Device\\MsixNic")
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64)
        system.io.complete_pending(next(iter(system.io.irps.values())), status)
        texts = [e.text for e in system.core.log if e.kind == "buffer"]
        assert ("copies 64 bytes to the caller's buffer" in texts[-1]) is copies


def _overlapped_read(program: str, steps: int, apc: bool = True):
    """app.exe runs PROGRAM; after STEPS ticks it reads msixnic overlapped (with ReadFileEx's
    completion routine if APC) and the NIC completes the read at once."""
    system = loaded("msixnic")
    process, handle = _open(system, "\\Device\\MsixNic", overlapped=True, program=program)
    system.ke.step(steps)
    system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64, apc=apc)
    start = len(system.core.log)
    system.io.complete_pending(next(iter(system.io.irps.values())), 0)
    return system, process.threads[0], start


def test_a_user_apc_waits_until_its_thread_enters_an_alertable_wait():
    system, thread, start = _overlapped_read("compute 6; sleepex 50; wait-input", 0)
    assert [a.routine for a in thread.user_apcs] == ["app.exe!FileIOCompletionRoutine"]
    assert not any("completion routine runs" in e.text for e in system.core.log[start:])
    system.ke.step(8)  # it computes, then calls SleepEx(50, TRUE): the APC runs at once
    ran = next(e for e in system.core.log if "completion routine runs" in e.text)
    assert ran.mode == "U" and thread.user_apcs == []
    assert thread.wait_reason is not None and thread.wait_reason.name == "UserRequest"


def test_a_user_apc_ends_an_alertable_sleep_early():
    system, thread, start = _overlapped_read("sleepex 50; wait-input", 1)
    texts = [e.text for e in system.core.log[start:]]
    assert any("alertable wait ends" in t or "ends its alertable wait" in t for t in texts)
    assert any("completion routine runs in user mode" in t for t in texts)
    assert thread.alertable is False and system.core.tick < 50


def test_a_kernel_apc_to_a_sleeping_thread_runs_and_the_thread_sleeps_on():
    system, thread, start = _overlapped_read("sleep 30; wait-input", 1, apc=False)
    texts = [e.text for e in system.core.log[start:]]
    assert any("KiDeliverApc runs the special kernel APC" in t for t in texts)
    assert any("goes back to its wait (DelayExecution)" in t for t in texts)
    assert thread.state is ThreadState.Waiting and system.io.irps == {}
    system.ke.step(40)  # its sleep still ends when it was due
    assert thread.wait_reason is not None and thread.wait_reason.name == "UserRequest"


def test_a_completion_routine_needs_a_handle_opened_for_overlapped_io():
    system = loaded("msixnic")
    process, handle = _open(system, "\\Device\\MsixNic")
    with pytest.raises(NtError) as error:
        system.files.file_io(process, handle, "IRP_MJ_READ", "NtReadFile", 64, apc=True)
    assert error.value.status == 0xC000000D and "--overlapped" in str(error.value)
