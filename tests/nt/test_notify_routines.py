"""Process, thread and image notify routines: when, in which thread, and at what cost (issue 18,
rules 13-15). Each test names the rule; the source is cited beside the code in nt/ps.py."""

from __future__ import annotations

from kmshell.drivers import new_system
from kmshell.nt import System
from kmshell.nt.invariants import violations
from kmshell.nt.ke.thread_state import ThreadState, WaitReason
from kmshell.nt.ps import NotifyRoutine, Subsystem, parse_callback_steps, parse_program


def _routine(system: System, kind: str, steps: str = "DenyAccess",
             subsystems: bool = False) -> NotifyRoutine:
    return system.ps.register_callback(kind, system.io.drivers["wdfilter"],
                                       parse_callback_steps(steps), parse_program("compute 1"),
                                       subsystems)


def _notified(system: System) -> list[str]:
    return [e.text for e in system.core.log if e.kind == "notify"]


def _explorer_thread(system: System):
    return next(p for p in system.ps.live_processes() if p.image == "explorer.exe").threads[0]


def test_process_routine_runs_before_the_initial_threads_routine_and_the_image_routine_last():
    system = new_system()
    for kind in ("image", "thread", "process"):  # registered in the opposite order
        _routine(system, kind)
    system.ps.create_process("notepad.exe")
    kinds = [text.split("'s ")[1].split()[0] for text in _notified(system)]
    assert kinds == ["process", "thread", "image"]


def test_a_nonsystem_thread_routine_runs_on_the_new_thread_and_a_subsystems_one_in_the_creator():
    system = new_system()
    _routine(system, "thread")
    _routine(system, "thread", subsystems=True)
    thread = system.ps.create_thread(system.ps.create_process("notepad.exe"))
    on_new, in_creator = _notified(system)[-2:]
    assert f"runs in the new thread {thread.label} (PsCreateThreadNotifyNonSystem)" in on_new
    assert "runs in notepad.exe's creating thread" in in_creator


def test_thread_routines_run_at_each_threads_exit_then_the_process_routine_before_handles_close():
    system = new_system()
    _routine(system, "thread")
    _routine(system, "process")
    process = system.ps.create_process("notepad.exe", threads=2)
    first, second = process.threads
    system.ps.terminate_process(process, 0)
    log = [e for e in system.core.log if e.kind in ("notify", "process-exit")][-4:]
    assert [e.text.split(": ", 1)[1] for e in log[:3]] == [
        f"ProcessId={process.pid}, ThreadId={first.tid}, Create=FALSE",
        f"ProcessId={process.pid}, ThreadId={second.tid}, Create=FALSE",
        f"ProcessId={process.pid}, CreateInfo=NULL (the process is exiting)"]
    assert f"the exiting thread {first.label}" in log[0].text
    assert f"the last thread of notepad.exe ({second.label})" in log[2].text
    assert log[3].kind == "process-exit"  # handles closed and user half freed after it


def test_inline_compute_in_a_process_routine_costs_the_creating_thread_that_many_kernel_ticks():
    system = new_system()
    _routine(system, "process", steps="compute 12")
    explorer = _explorer_thread(system)
    process = system.ps.create_process("notepad.exe")
    new = process.threads[0]
    system.ke.step(11)
    assert explorer.kernel_ticks == 11 and new.state is ThreadState.Initialized
    system.ke.step(1)
    assert explorer.kernel_ticks == 12 and new.state is not ThreadState.Initialized
    assert explorer.state is ThreadState.Waiting  # back in GetMessage
    assert explorer.wait_reason is WaitReason.UserRequest


def test_a_blocking_wait_in_a_process_routine_blocks_the_creating_thread_until_it_is_signaled():
    system = new_system()
    event = system.ke.create_named("event", "Verdict")
    _routine(system, "process", steps="KeWaitForSingleObject Verdict")
    explorer = _explorer_thread(system)
    process = system.ps.create_process("notepad.exe")
    system.ke.step(5)
    assert (explorer.state, explorer.wait_reason) == (ThreadState.Waiting, WaitReason.Executive)
    assert explorer.waiting_on is event and process.threads[0].state is ThreadState.Initialized
    system.ke.set_event(event)
    system.ke.step(1)
    assert process.threads[0].state is not ThreadState.Initialized
    assert explorer.wait_reason is WaitReason.UserRequest and explorer.detour is None


def test_a_routines_wait_with_a_timeout_ends_and_the_creation_returns():
    system = new_system()
    system.ke.create_named("event", "Verdict")
    _routine(system, "process", steps="KeWaitForSingleObject Verdict 3")
    process = system.ps.create_process("notepad.exe")
    system.ke.step(2)
    assert process.threads[0].state is ThreadState.Initialized
    system.ke.step(3)
    assert process.threads[0].state is not ThreadState.Initialized


def test_a_pico_process_is_created_by_the_pico_provider_not_by_nt_create_user_process():
    system = new_system()
    system.ps.create_process("bash", subsystem=Subsystem.WSL)
    texts = [e.text for e in system.core.log]
    assert not any("→ NtCreateUserProcess" in t for t in texts)
    assert sum("PsRegisterPicoProvider" in t for t in texts) == 1
    assert any("PS_PICO_ROUTINES.CreateProcess (PspCreatePicoProcess)" in t for t in texts)
    system.ps.create_process("ls", subsystem=Subsystem.WSL)
    assert sum("PsRegisterPicoProvider" in e.text for e in system.core.log) == 1  # told once


def test_a_parent_whose_thread_waits_on_an_object_makes_no_call_and_keeps_its_wait():
    system = new_system()
    event = system.ke.create_named("event", "Go")
    parent = system.ps.create_process("waiter.exe", program=parse_program("wait Go; exit"))
    system.ke.step(2)
    waiter = parent.threads[0]
    _routine(system, "process", steps="compute 2")
    system.ps.create_process("child.exe", parent=parent)
    system.ke.step(4)
    assert waiter.waiting_on is event and waiter.kernel_ticks == 0
    assert violations(system) == []
    system.ke.set_event(event)
    system.ke.step(2)
    assert waiter.state is ThreadState.Terminated and violations(system) == []
