"""Session commands and what is printed after a line: explain, view, history, help, halting."""

from __future__ import annotations

import io

import pytest
from sessions import printed

from kmshell.commands import TABLE
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome


def test_explain_on_adds_a_why_line_under_events():
    session = Session()
    assert "why:" not in printed(session, "process create a.exe")
    session.execute("explain on")
    assert "why: PspAllocateProcess builds the process object" in printed(session,
                                                                          "process create b.exe")


def test_view_quiet_prints_one_line_after_a_state_change_but_all_of_a_query():
    session = Session()
    session.execute("view quiet")
    out = printed(session, "process create a.exe")
    assert "CPU0: idle → a.exe" in out and "EPROCESS" not in out
    assert "explorer.exe (164)" in printed(session, "ps")


def test_view_auto_folds_a_long_trace_and_view_full_does_not():
    session = Session()
    session.execute("process create busy.exe --program \"compute 200; exit\"")
    assert "more events (view full shows them all)" in printed(session, "step 100")
    session.execute("view full")
    out = printed(session, "step 50")
    assert "more events" not in out and "tick 150:" in out


def test_history_lists_every_line_with_its_starting_tick_and_failures():
    session = Session()
    for line in ("step 2", "procss", "ps"):
        session.execute(line)
    assert [(h.number, h.tick, h.line, h.ok) for h in session.history] == [
        (1, 0, "step 2", True), (2, 2, "procss", False), (3, 2, "ps", True)]
    assert "failed" in printed(session, "history")


def test_help_all_lists_every_command_in_the_table():
    out = printed(Session(), "help all")
    for spec in TABLE.specs:
        assert spec.name in out


def test_help_for_a_noun_shows_each_verb_usage():
    out = printed(Session(), "help process")
    for verb in ("create", "list", "show", "kill", "crash"):
        assert f"usage: process {verb}" in out


def test_help_for_an_unknown_command_suggests_the_closest():
    outcome = Session().execute("help thred")
    assert "did you mean 'thread'?" in outcome.error.message


def test_after_a_bugcheck_only_inspection_commands_run():
    session = Session()
    session.execute("process crash System")
    assert session.execute("process create a.exe").error.message.startswith(
        "the system is halted by bugcheck 0x7E")
    for line in ("ps", "status", "!analyze", "thread list", "object ls", "timeline"):
        assert session.execute(line).ok, line
    assert session.execute("reboot").ok and not session.system.halted


def test_ambiguous_process_name_is_an_error_listing_the_pids():
    outcome = Session().execute("process show csrss.exe")
    assert "ambiguous" in outcome.error.message
    assert outcome.error.hint == "name one by PID: 116, 148"


@pytest.mark.parametrize("line, at", [("power arm Nope", "Nope"), ("interrupt Nope", "Nope"),
                                      ("device stack Nope", "Nope"),
                                      ("power wake --by Nope", "--by")])  # an option: its word
def test_an_unknown_device_is_an_error_at_its_column_naming_the_devices(line, at):
    outcome = Session().execute(line)
    assert outcome.error.col == line.index(at) + 1
    assert "no device 'Nope'" in outcome.error.message and "USBPDO-0" in outcome.error.message


def test_analyze_without_a_bugcheck_says_the_machine_is_running():
    assert "no bugcheck" in Session().execute("!analyze").error.message


def test_a_narrow_terminal_gets_each_events_text_on_its_own_indented_lines():
    session = Session()
    outcome = session.execute("process create notepad.exe")
    buffer = io.StringIO()
    console = make_console(no_color=True, file=buffer, width=60)
    for part in render_outcome(outcome, session.settings):
        console.print(part)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "t0 cpu0 0 PASSIVE user Ps"
    assert lines[1].startswith("  explorer.exe (PID 164) calls CreateProcess")
    assert all(len(line) <= 60 for line in lines)


def test_irql_shows_each_processor_and_follows_a_held_spin_lock():
    session = Session()
    session.execute("spinlock create L")
    session.execute("process create h.exe --program \"acquire L; compute 5; release L\"")
    session.execute("step")
    out = printed(session, "!irql 0")
    assert "DISPATCH_LEVEL" in out and "no thread switches here" in out
    assert "no processor 7" in session.execute("irql 7").error.message


def test_semaphore_release_from_the_shell_lets_a_waiter_in():
    session = Session()
    session.execute("semaphore create S --count 0 --limit 1")
    session.execute("process create w.exe --program \"wait S; compute 1; exit\"")
    session.execute("step")
    waiter = session.system.ps.processes[172].threads[0]
    assert waiter.state.name == "Waiting"
    session.execute("semaphore release S")
    assert waiter.state.name in ("Ready", "Running")


def test_the_trace_keeps_the_latest_events_and_counts_the_ones_it_let_go(monkeypatch):
    monkeypatch.setattr("kmshell.nt.core.TRACE_KEEP", 50)
    session = Session()
    session.execute("driver load nullsink")
    for number in range(1, 41):
        outcome = session.execute("irp send NullSink IRP_MJ_READ")
        assert outcome.events[0].text.startswith(f"IRP {number} allocated")  # each line, whole
    system = session.system
    assert 50 <= len(system.core.log) < 100
    assert system.core.events_dropped > 0 and system.core.events_dropped % 50 == 0
    assert system.core.log[-1] == outcome.events[-1]


@pytest.mark.parametrize("line, hint", [
    ("irp send Harddisk0 IRP_MJ_PNP IRP_MN_BOGUS", "IRP_MN_QUERY_CAPABILITIES"),
    ("irp send Harddisk0 IRP_MJ_READ IRP_MN_START_DEVICE", "has no minor functions"),
])
def test_irp_send_refuses_a_minor_its_major_does_not_have_at_the_minors_column(line, hint):
    outcome = Session().execute(line)
    assert outcome.error.col == line.index("IRP_MN_") + 1
    assert "is not a minor function of" in outcome.error.message and hint in outcome.error.hint


@pytest.mark.parametrize("minor", ["IRP_MN_REMOVE_DEVICE", "irp_mn_start_device",
                                   "IRP_MN_SURPRISE_REMOVAL", "IRP_MN_QUERY_STOP_DEVICE"])
def test_only_the_pnp_manager_sends_state_changing_pnp_irps_irp_send_refuses_them(minor):
    session = Session()
    line = f"irp send Harddisk0 IRP_MJ_PNP {minor}"
    outcome = session.execute(line)
    assert outcome.error is not None and outcome.error.col == line.index(minor) + 1
    assert "sent only by the PnP manager" in outcome.error.message
    assert "device unplug" in outcome.error.hint
    system = session.system
    node = system.pnp.devnode_of(system.io.find_device("Harddisk0"))  # the tree is untouched
    assert node.state.name == "DeviceNodeStarted" and not system.io.finished_irps
    assert session.execute("irp send Harddisk0 IRP_MJ_PNP IRP_MN_QUERY_ID").error is None


def test_a_pnp_irp_a_client_sends_starts_as_status_not_supported():
    session = Session()
    session.execute("irp send Harddisk0 IRP_MJ_PNP irp_mn_query_capabilities")
    assert session.system.io.finished_irps[1].status == 0xC00000BB  # the bus driver left it so


def test_clear_clears_a_terminal_and_leaves_other_output_alone():
    import io

    from rich.console import Console

    for terminal in (True, False):
        session, buffer = Session(), io.StringIO()
        session.console = Console(file=buffer, force_terminal=terminal)
        assert session.execute("clear").ok
        assert ("\x1b[2J" in buffer.getvalue()) is terminal
    assert Session().execute("clear").ok  # no front end's console: nothing to clear
