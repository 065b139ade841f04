"""The record of exited processes has a fixed size however many exit (issue 20, item 3), and
an exited process something still references stays until its last reference goes, as
Windows deletes a process object, and frees its PID, only then (ObDereferenceObject; ReactOS
ntoskrnl/ps/kill.c, PspDeleteProcess and PspDeleteThread)."""

from __future__ import annotations

import pytest

from kmshell.drivers import load_spec, new_system
from kmshell.nt import System, ps
from kmshell.nt.invariants import violations
from kmshell.nt.ob import PROCESS_RIGHTS
from kmshell.nt.ps import Process, parse_program

KEEP = 5  # the record's size in these tests: a few exits show the rule as well as thousands


@pytest.fixture(autouse=True)
def small_record(monkeypatch) -> None:
    monkeypatch.setattr(ps, "EXITED_KEEP", KEEP)


def started(system: System, image: str = "app.exe") -> Process:
    process = system.ps.create_process(image, program=parse_program("wait-input"))
    system.ke.step(1)
    return process


def exited_kept(system: System) -> list[int]:
    return [pid for pid, process in system.ps.processes.items() if not process.alive]


def test_the_record_keeps_the_latest_exited_processes_and_no_more_however_many_exit():
    system = new_system()
    ended = []
    for _ in range(4 * KEEP):
        process = started(system)
        system.ps.terminate_process(process, 0)
        ended.append(process)
        assert len(exited_kept(system)) <= KEEP
    assert exited_kept(system) == [p.pid for p in ended[-KEEP:]]
    forgotten = ended[0]
    assert forgotten.pid not in system.ps.processes
    assert all(thread.tid not in system.ps.threads for thread in forgotten.threads)
    assert violations(system) == []


def test_a_process_with_a_handle_open_to_it_stays_until_the_handle_is_closed():
    system = new_system()
    opener, target = started(system, "taskmgr.exe"), started(system)
    handle, _ = system.ob.open_process(opener, target, PROCESS_RIGHTS["PROCESS_TERMINATE"])
    system.ps.terminate_process(target, 0)
    for _ in range(2 * KEEP):
        system.ps.terminate_process(started(system), 0)
    assert system.ps.processes[target.pid] is target  # a zombie: exited, still referenced
    opener.handle_table.close(handle)
    system.ps.terminate_process(started(system), 0)
    assert target.pid not in system.ps.processes
    assert len(exited_kept(system)) == KEEP


def test_a_process_whose_thread_asked_for_an_irp_still_in_progress_stays_until_it_is_done():
    system = new_system()
    system.io.load_driver(load_spec("irqdisk"))  # pends reads until its interrupt; no cancel
    reader = started(system)
    handle = system.files.open_file(reader, "\\Device\\IrqDisk", "all")
    system.files.file_io(reader, handle, "IRP_MJ_READ", "NtReadFile", 64)
    system.ps.terminate_process(reader, 0)
    for _ in range(2 * KEEP):
        system.ps.terminate_process(started(system), 0)
    assert system.ps.processes[reader.pid] is reader
    system.ke.interrupt(system.io.find_device("IrqDisk"), 1)  # the read completes
    assert not system.io.irps
    system.ps.terminate_process(started(system), 0)
    assert reader.pid not in system.ps.processes
    assert violations(system) == []
