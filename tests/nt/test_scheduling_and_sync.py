"""Scheduler and synchronization rules, one per test, driven through the model alone."""

from __future__ import annotations

import pytest

from kmshell.drivers import new_system
from kmshell.nt import System
from kmshell.nt.constants import Irql, NtStatus
from kmshell.nt.ke.thread_state import ThreadState
from kmshell.nt.ps import Subsystem, parse_program
from kmshell.nt.system import NtError, SystemHalted
from kmshell.session import Session


def machine(cpus: int = 1) -> System:
    return new_system(cpus=cpus, minimal=True)


def spawn(system: System, image: str, program: str, *, threads: int = 1, priority: int = 8):
    return system.ps.create_process(image, program=parse_program(program), threads=threads,
                                 priority=priority)


def test_equal_priority_threads_round_robin_at_quantum_end():
    system = machine()
    first, second = spawn(system, "rr.exe", "compute 10; exit", threads=2).threads
    system.ke.step(2)  # one quantum (2 ticks)
    assert first.state is ThreadState.Ready and second.state is ThreadState.Running
    system.ke.step(2)
    assert first.state is ThreadState.Running and second.state is ThreadState.Ready


def test_higher_priority_ready_thread_preempts_running_thread():
    system = machine()
    low = spawn(system, "low.exe", "compute 10; exit", priority=8).threads[0]
    system.ke.step(1)
    high = spawn(system, "high.exe", "compute 3; exit", priority=12).threads[0]
    assert high.state is ThreadState.Running
    assert low.state is ThreadState.Ready


def test_dispatcher_runs_the_highest_priority_ready_thread_first():
    system = machine()
    spawn(system, "busy.exe", "compute 1; exit", priority=8)
    waiting = [spawn(system, f"p{prio}.exe", "compute 1; exit", priority=prio).threads[0]
               for prio in (4, 10, 6)]
    assert system.core.processors[0].current_thread is waiting[1]
    assert [t.priority for t in system.ke.dispatcher.ready_threads()] == [8, 6, 4]


def test_one_cpu_runs_one_thread_at_a_time_and_two_cpus_run_two():
    for cpus, running in ((1, 1), (2, 2)):
        system = machine(cpus)
        spawn(system, "pair.exe", "compute 4; exit", threads=2)
        system.ke.step(1)
        assert sum(1 for c in system.core.processors if not c.is_idle) == running


def test_sleeping_thread_uses_no_processor_and_wakes_after_its_ticks():
    system = machine()
    thread = spawn(system, "nap.exe", "sleep 3; compute 1; exit").threads[0]
    system.ke.step(1)
    assert thread.state is ThreadState.Waiting and system.core.processors[0].is_idle
    system.ke.step(3)
    assert thread.state in (ThreadState.Running, ThreadState.Terminated)


def test_process_ends_when_its_last_thread_exits():
    system = machine()
    process = spawn(system, "short.exe", "compute 1; exit", threads=2)
    system.ke.run_until_idle(50)
    assert not process.alive and process.exit_status == 0


def test_increments_without_a_lock_lose_updates_on_two_cpus():
    system = machine(2)
    spawn(system, "race.exe", "inc x 20; exit", threads=2)
    system.ke.run_until_idle(500)
    assert system.ke.variables["x"].value < 40
    assert system.ke.variables["x"].lost_updates == 40 - system.ke.variables["x"].value


def test_increments_under_a_spin_lock_are_exact():
    system = machine(2)
    system.ke.create_named("spinlock", "L")
    spawn(system, "safe.exe", "acquire L; inc x; release L; repeat 19; exit", threads=2)
    system.ke.run_until_idle(500)
    assert system.ke.variables["x"].value == 40 and system.ke.variables["x"].lost_updates == 0


def test_steps_run_under_a_spin_lock_show_kernel_mode_at_dispatch_level_not_user_mode():
    """User mode is always PASSIVE_LEVEL: a load and store inside the lock are kernel code."""
    system = machine(1)
    system.ke.create_named("spinlock", "L")
    spawn(system, "safe.exe", "acquire L; inc x; release L; inc x; exit")
    system.ke.run_until_idle(50)
    steps = [(e.kind, e.mode, e.irql) for e in system.core.log if e.kind in ("load", "store")]
    assert steps == [("load", "K", Irql.DISPATCH_LEVEL), ("store", "K", Irql.DISPATCH_LEVEL),
                     ("load", "U", Irql.PASSIVE_LEVEL), ("store", "U", Irql.PASSIVE_LEVEL)]


def test_increments_under_a_mutex_are_exact():
    system = machine(2)
    system.ke.create_named("mutex", "M")
    spawn(system, "safe.exe", "acquire M; inc x; release M; repeat 19; exit", threads=2)
    system.ke.run_until_idle(500)
    assert system.ke.variables["x"].value == 40


def test_holding_a_spin_lock_raises_irql_to_dispatch_level_and_release_lowers_it():
    system = machine()
    system.ke.create_named("spinlock", "L")
    spawn(system, "lock.exe", "acquire L; compute 2; release L; compute 1; exit")
    system.ke.step(1)
    assert system.core.processors[0].irql == Irql.DISPATCH_LEVEL
    system.ke.step(2)
    assert system.core.processors[0].irql == Irql.PASSIVE_LEVEL


def test_thread_at_dispatch_level_is_not_preempted():
    system = machine()
    system.ke.create_named("spinlock", "L")
    holder = spawn(system, "hold.exe", "acquire L; compute 5; release L; exit").threads[0]
    system.ke.step(1)
    spawn(system, "urgent.exe", "compute 1; exit", priority=15)
    assert system.core.processors[0].current_thread is holder


def test_opposite_lock_order_is_detected_as_a_deadlock_cycle():
    system = machine(2)
    system.ke.create_named("mutex", "A")
    system.ke.create_named("mutex", "B")
    process = spawn(system, "d.exe", "acquire A; compute 1; acquire B; exit")
    system.ps.create_thread(process, program=parse_program("acquire B; compute 1; acquire A; exit"))
    system.ke.step(3)
    assert len(system.ke.deadlocks) == 1
    assert set(system.ke.deadlocks[0]) == set(process.threads)


def test_mutex_is_recursive_for_its_owner():
    system = machine()
    mutex = system.ke.create_named("mutex", "M")
    thread = spawn(system, "r.exe", "acquire M; acquire M; compute 2; release M; compute 2; "
                                    "release M; exit").threads[0]
    system.ke.step(1)
    assert mutex.owner is thread and mutex.recursion == 2
    system.ke.step(1)
    assert mutex.owner is thread and mutex.recursion == 1
    system.ke.step(2)
    assert mutex.owner is None


def test_notification_event_releases_every_waiter_and_stays_set():
    system = machine(2)
    event = system.ke.create_named("event", "Go")
    waiters = spawn(system, "w.exe", "wait Go; compute 1; exit", threads=3).threads
    system.ke.step(1)
    assert all(t.state is ThreadState.Waiting for t in waiters)
    system.ke.set_event(event)
    assert all(t.state is not ThreadState.Waiting for t in waiters) and event.signaled


def test_synchronization_event_releases_one_waiter_and_resets():
    system = machine(2)
    event = system.ke.create_named("event", "Go", notification=False)
    waiters = spawn(system, "w.exe", "wait Go; compute 1; exit", threads=2).threads
    system.ke.step(1)
    system.ke.set_event(event)
    assert sum(t.state is ThreadState.Waiting for t in waiters) == 1 and not event.signaled


def test_waiting_on_a_named_object_opens_a_handle_to_it():
    system = machine()
    event = system.ke.create_named("event", "Go")
    process = spawn(system, "w.exe", "wait Go; exit")
    system.ke.step(1)
    assert any(e.object is event for e in process.handle_table.entries.values())
    assert event.header.handle_count == 1


def test_program_naming_a_missing_lock_is_refused_before_anything_is_created():
    system = machine()
    before = len(system.ps.processes)
    with pytest.raises(NtError, match="named 'Nope'"):
        spawn(system, "bad.exe", "acquire Nope; exit")
    assert len(system.ps.processes) == before


def test_same_user_address_in_two_processes_holds_different_data():
    system = machine()
    alice, bob = (system.ps.create_process(name) for name in ("alice.exe", "bob.exe"))
    system.mm.touch(alice, 0x900000, 7)
    assert system.mm.touch(bob, 0x900000) == 0
    assert system.mm.touch(alice, 0x900000) == 7


def test_user_mode_touch_of_a_kernel_address_ends_only_that_process():
    system = machine()
    victim, bystander = (system.ps.create_process(name) for name in ("v.exe", "b.exe"))
    assert system.mm.touch(victim, 0xFFFFF800_00001000) is None
    assert not victim.alive and victim.exit_status == 0xC0000005
    assert bystander.alive and not system.halted


def test_thread_that_exits_as_its_quantum_ends_is_not_queued_again():
    system = machine()
    thread = spawn(system, "q.exe", "compute 2; exit").threads[0]
    spawn(system, "other.exe", "compute 6; exit")
    system.ke.step(2)  # q.exe's compute and its quantum end on the same tick
    assert thread.state is ThreadState.Terminated
    assert thread not in system.ke.dispatcher.ready_threads()


def test_semaphore_lets_in_as_many_waiters_as_it_has_units():
    system = machine(4)
    semaphore = system.ke.create_named("semaphore", "Slots", count=2, limit=2)
    threads = spawn(system, "s.exe", "wait Slots; compute 5; release Slots; exit",
                    threads=4).threads
    system.ke.step(1)
    assert sum(t.state is ThreadState.Waiting for t in threads) == 2
    assert semaphore.signal_state == 0


def test_releasing_a_semaphore_past_its_limit_changes_nothing_and_fails():
    system = machine()
    semaphore = system.ke.create_named("semaphore", "S", count=1, limit=1)
    with pytest.raises(NtError) as error:
        system.ke.release_semaphore(semaphore)
    assert error.value.status == NtStatus.STATUS_SEMAPHORE_LIMIT_EXCEEDED
    assert semaphore.signal_state == 1
    assert "STATUS_SEMAPHORE_LIMIT_EXCEEDED" in system.core.log[-1].text


def test_wait_with_a_timeout_ends_with_status_timeout():
    system = machine()
    system.ke.create_named("event", "Never")
    thread = spawn(system, "t.exe", "wait Never 3; compute 1; exit").threads[0]
    system.ke.step(2)
    assert thread.state is ThreadState.Waiting
    system.ke.step(2)
    assert thread.wait_status == 0x102 and thread.waiting_on is None
    assert thread.state is not ThreadState.Waiting


def test_periodic_timer_releases_its_waiters_each_period():
    system = machine()
    system.ke.create_named("timer", "Tick", due=2, period=2, notification=False)
    thread = spawn(system, "w.exe", "wait Tick; inc n; repeat 9; exit").threads[0]
    system.ke.step(9)
    assert system.ke.variables["n"].value == 4  # expiries at ticks 2, 4, 6, 8
    assert thread.state is ThreadState.Waiting


def test_syscall_runs_in_kernel_mode_and_returns_to_user_mode():
    system = machine()
    thread = spawn(system, "c.exe", "compute 1; syscall 2; compute 1; exit").threads[0]
    system.ke.run_until_idle(20)
    assert (thread.user_ticks, thread.kernel_ticks) == (2, 2)
    texts = [e.text for e in system.core.log if e.kind == "syscall"]
    assert "user → kernel" in texts[0] and "kernel → user" in texts[1]


def _callback(system: System, kind: str, steps: str = "compute 1", work: str = "compute 2",
              subsystems: bool = False):
    from kmshell.nt.ps import parse_callback_steps

    return system.ps.register_callback(kind, system.io.drivers["wdfilter"],
                                    parse_callback_steps(steps), parse_program(work), subsystems)


def test_at_most_64_process_notify_routines_can_be_registered():
    system = machine()
    for _ in range(64):
        _callback(system, "process")
    with pytest.raises(NtError, match="all 64 process notify slots are taken") as error:
        _callback(system, "process")
    assert error.value.status == 0xC000000D  # STATUS_INVALID_PARAMETER


def test_process_notify_routine_runs_in_the_creating_threads_context_with_create_info():
    system = new_system()
    _callback(system, "process")
    system.ps.create_process("notepad.exe")
    notify = next(e for e in system.core.log if e.kind == "notify")
    assert "explorer.exe's creating thread" in notify.text
    assert "ParentProcessId=164" in notify.text and "IsSubsystemProcess=FALSE" in notify.text
    assert notify.irql == 0  # PASSIVE_LEVEL


def test_pico_processes_notify_only_routines_registered_for_subsystems():
    system = new_system()
    plain = _callback(system, "thread")
    with_subsystems = _callback(system, "thread", subsystems=True)
    system.ps.create_process("bash", subsystem=Subsystem.WSL)
    assert (plain.calls, with_subsystems.calls) == (0, 1)


def test_queued_work_item_runs_later_in_a_system_worker_thread():
    system = new_system()
    _callback(system, "process", steps="ExQueueWorkItem", work="compute 2")
    system.ps.create_process("calc.exe")
    item = system.ex.work_items[0]
    assert not item.done
    system.ke.step(3)
    assert item.done
    worker = next(e for e in system.core.log if e.kind == "work")
    assert worker.text.startswith("System:")


def test_wsl_process_has_no_peb_and_its_threads_no_teb():
    system = new_system()
    bash = system.ps.create_process("bash", subsystem=Subsystem.WSL, threads=2)
    notepad = system.ps.create_process("notepad.exe")
    assert bash.peb is None and all(t.teb is None for t in bash.threads)
    assert notepad.peb is not None and all(t.teb is not None for t in notepad.threads)
    assert bash.subsystem.value == "SubsystemInformationTypeWSL"


def test_touch_step_of_a_kernel_address_ends_the_process_of_that_thread():
    system = machine()
    process = spawn(system, "t.exe", "compute 1; touch 0xFFFFF80000000000; compute 5; exit")
    system.ke.step(2)
    assert not process.alive and process.exit_status == 0xC0000005
    assert not system.halted


def test_touch_step_in_a_system_thread_is_a_kernel_fault_that_bugchecks():
    system = machine()
    system.ps.create_thread(system.ps.processes[4], program=parse_program("touch 0x0"))
    with pytest.raises(SystemHalted):
        system.ke.step(1)
    assert system.core.bugcheck_info.code == 0x7E


def test_a_thread_of_zero_time_steps_does_a_bounded_number_of_them_each_tick():
    from kmshell.nt.ke.kernel import INSTANT_STEPS_PER_TICK

    system = machine()
    system.ke.create_named("event", "E")
    [thread] = spawn(system, "spin.exe", "set E; repeat 1000000").threads
    system.ke.step(3)
    busy = [e for e in system.core.log if e.kind == "busy"]
    assert len(busy) == 3  # one per tick: the thread goes on next tick, it is not stuck
    assert thread.repeats_done == 3 * INSTANT_STEPS_PER_TICK // 2  # two steps a round
    assert thread.state is ThreadState.Running


def test_a_program_whose_last_step_uses_up_the_ticks_zero_time_steps_exits_next_tick():
    from kmshell.nt.ke.kernel import INSTANT_STEPS_PER_TICK

    system = machine()
    system.ke.create_named("event", "E")
    rounds = INSTANT_STEPS_PER_TICK // 2 - 1  # the final repeat is the tick's last step
    [thread] = spawn(system, "edge.exe", f"set E; repeat {rounds}").threads
    system.ke.step(1)
    assert thread.current_step is None and thread.state is ThreadState.Running  # spun the tick
    system.ke.step(1)
    assert thread.state is ThreadState.Terminated


def test_releasing_a_semaphore_past_its_limit_from_the_shell_fails_with_limit_exceeded():
    """KeReleaseSemaphore raises STATUS_SEMAPHORE_LIMIT_EXCEEDED past the limit and the
    count stays (ReactOS ntoskrnl/ke/semphobj.c): the command fails, so `expect error`
    can test it."""
    session = Session()
    session.execute("semaphore create Slots --count 1 --limit 1")
    outcome = session.execute("semaphore release Slots")
    assert not outcome.ok and outcome.error is not None
    assert "STATUS_SEMAPHORE_LIMIT_EXCEEDED" in outcome.error.message
    slots = session.system.ke.sync_object("Slots")
    assert slots.signal_state == 1


@pytest.mark.parametrize("kind", ["thread", "image"])
def test_a_full_thread_or_image_notify_table_refuses_with_insufficient_resources(kind):
    """PsSetCreateThreadNotifyRoutine[Ex] and PsSetLoadImageNotifyRoutine return
    STATUS_INSUFFICIENT_RESOURCES when registration fails (their WDK pages); only the
    process routines' full array gives STATUS_INVALID_PARAMETER."""
    system = machine()
    for _ in range(64):
        _callback(system, kind)
    with pytest.raises(NtError, match=f"all 64 {kind} notify slots are taken") as error:
        _callback(system, kind)
    assert error.value.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES


def test_a_process_notify_routine_that_sets_creation_status_fails_the_creation():
    """PsSetCreateProcessNotifyRoutineEx/Ex2: a routine that sets
    CreateInfo->CreationStatus to an error fails NtCreateUserProcess with it, and the
    process never runs (PS_CREATE_NOTIFY_INFO in ntddk.h)."""
    system = new_system()
    _callback(system, "process", steps="CreationStatus STATUS_ACCESS_DENIED")
    before = len(system.ps.live_processes())
    with pytest.raises(NtError) as error:
        system.ps.create_process("malware.exe")
    assert error.value.status == NtStatus.STATUS_ACCESS_DENIED
    assert len(system.ps.live_processes()) == before
    refused = next(p for p in system.ps.processes.values() if p.image == "malware.exe")
    assert not refused.alive and refused.exit_status == NtStatus.STATUS_ACCESS_DENIED
    assert all(t.user_ticks == 0 and t.kernel_ticks == 0 for t in refused.threads)


def test_creation_status_takes_an_error_status_and_only_a_creation_can_be_refused():
    from kmshell.nt.ps import parse_callback_steps

    with pytest.raises(ValueError, match="error status"):
        parse_callback_steps("CreationStatus STATUS_SUCCESS")
    system = new_system()
    _callback(system, "thread", steps="CreationStatus STATUS_ACCESS_DENIED")
    process = system.ps.create_process("fine.exe")  # a thread routine cannot refuse
    assert process.alive
