"""The REPL driven as a person would, through prompt_toolkit's pipe input."""

from __future__ import annotations

import io
import threading
import time

from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from kmshell.session import Session
from kmshell.shell import run_repl
from kmshell.shell.completer import CommandCompleter
from kmshell.shell.toolbar import toolbar_text
from kmshell.views.console import make_console

CTRL_C, CTRL_D, ENTER, TAB = "\x03", "\x04", "\r", "\t"


def type_into_repl(keys: str, session: Session | None = None) -> tuple[int, str, Session]:
    session = session or Session()
    buffer = io.StringIO()
    console = make_console(no_color=True, file=buffer, width=120)
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        code = run_repl(session, console, history=InMemoryHistory(), input=pipe,
                        output=DummyOutput())
    return code, buffer.getvalue(), session


def test_typed_command_runs_and_prints_its_trace_and_views():
    code, out, session = type_into_repl("process create notepad.exe" + ENTER + CTRL_D)
    assert code == 0
    assert "NtCreateUserProcess" in out
    assert "notepad.exe (172)" in out
    assert any(p.image == "notepad.exe" for p in session.system.ps.live_processes())


def test_ctrl_d_on_empty_line_exits_with_status_0():
    code, _out, session = type_into_repl(CTRL_D)
    assert code == 0
    assert session.history == []


def test_typo_gets_did_you_mean_and_no_traceback():
    code, out, _ = type_into_repl("procss list" + ENTER + CTRL_D)
    assert "unknown command 'procss' — did you mean 'process'?" in out
    assert "Traceback" not in out
    assert code == 0


def test_wrong_arguments_print_the_usage_line():
    _, out, _ = type_into_repl("process create" + ENTER + CTRL_D)
    assert "usage: process create IMAGE" in out


def test_ctrl_c_clears_the_line_instead_of_running_it():
    _, _out, session = type_into_repl("process kill explorer.exe" + CTRL_C + "ps" + ENTER + CTRL_D)
    assert [h.line for h in session.history] == ["ps"]
    assert any(p.image == "explorer.exe" for p in session.system.ps.live_processes())


def test_tab_completes_a_command_name():
    # Completion runs asynchronously, so the rest is typed once it has had time to land.
    session = Session()
    console = make_console(no_color=True, file=io.StringIO(), width=120)
    with create_pipe_input() as pipe:
        repl = threading.Thread(target=run_repl, args=(session, console),
                                kwargs={"history": InMemoryHistory(), "input": pipe,
                                        "output": DummyOutput()})
        repl.start()
        pipe.send_text("proc" + TAB)
        time.sleep(0.5)
        pipe.send_text(" create calc.exe" + ENTER + CTRL_D)
        repl.join(timeout=10)
    assert not repl.is_alive()
    assert [h.line for h in session.history] == ["process create calc.exe"]


def test_quit_command_ends_the_loop():
    code, out, session = type_into_repl("quit" + ENTER + "ps" + ENTER)
    assert code == 0 and session.quit_requested
    assert "explorer.exe" not in out  # the ps after quit never ran


def _completions(text: str, session: Session | None = None) -> list[str]:
    from prompt_toolkit.document import Document

    completer = CommandCompleter(session or Session())
    return [c.text for c in completer.get_completions(Document(text), None)]


def test_completion_offers_verbs_after_a_noun():
    assert _completions("process ") == ["create", "list", "show", "kill", "crash"]


def test_completion_offers_options_of_the_command():
    assert _completions("process create calc.exe --par") == ["--parent"]


def test_completion_offers_live_process_names_and_pids():
    names = _completions("process show ")
    assert "explorer.exe" in names and "4" in names


def test_completion_offers_object_paths():
    offered = _completions("object ls \\Dev")
    assert offered[0] == "\\Device" and "\\Device\\Harddisk0" in offered
    assert all(path.startswith("\\Dev") for path in offered)


def test_completion_offers_fixed_choices_for_an_option_value():
    assert _completions("process create bash --subsystem ") == ["win32", "wsl"]


def test_toolbar_shows_tick_irql_and_halted_state():
    session = Session()
    session.execute("step 3")
    running = "".join(text for _, text in toolbar_text(session.system))
    assert "tick 3" in running and "CPU0 0 PASSIVE" in running and "running" in running
    session.execute("process kill wininit.exe")
    halted = "".join(text for _, text in toolbar_text(session.system))
    assert "HALTED 0xEF CRITICAL_PROCESS_DIED" in halted


def test_export_svg_in_the_shell_saves_what_was_shown(tmp_path):
    path = tmp_path / "slide.svg"
    session = Session()
    console = make_console(no_color=False, file=io.StringIO(), width=100, record=True)
    with create_pipe_input() as pipe:
        pipe.send_text("ps" + ENTER + f"export svg {path}" + ENTER + CTRL_D)
        run_repl(session, console, history=InMemoryHistory(), input=pipe, output=DummyOutput())
    svg = path.read_text()
    assert svg.startswith("<svg") and "explorer.exe" in svg


def test_replay_plays_a_scenario_into_the_session_and_undo_reaches_its_commands():
    _, out, session = type_into_repl("replay 03" + ENTER + "undo" + ENTER + CTRL_D)
    assert "6 of 6 expectation(s) held" in out
    assert session.lines()[:2] == ["boot --cpus 1", "view quiet"]
    assert session.lines()[-1] != "run"  # undo took back the scenario's last run


def test_directives_typed_at_the_prompt_check_the_last_command_and_are_recorded(tmp_path):
    path = tmp_path / "mine.kms"
    keys = (f"record {path}" + ENTER + "process create a.exe" + ENTER
            + "expect process a.exe state == Active" + ENTER
            + "expect output NtCreateUserProcess" + ENTER
            + "say a.exe is running" + ENTER + "expect system cpus == 7" + ENTER
            + "record stop" + ENTER + CTRL_D)
    _, out, _ = type_into_repl(keys)
    assert "✓ process a.exe state == Active" in out
    assert "✓ output contains 'NtCreateUserProcess'" in out
    assert "✗ <shell>:2: expected system cpus == 7, got 2" in out  # history number 2
    assert "a.exe is running" in out
    recorded = path.read_text().splitlines()
    assert recorded[2:] == ["process create a.exe", "expect process a.exe state == Active",
                            "expect output NtCreateUserProcess", "say a.exe is running",
                            "# failed: expect system cpus == 7"]


def test_a_bug_in_kmshell_prints_one_line_and_the_shell_goes_on(monkeypatch):
    session = Session()
    real = session.execute

    def buggy(line):
        if line.startswith("status"):
            raise RuntimeError("a model bug")
        return real(line)

    monkeypatch.setattr(session, "execute", buggy)
    code, out, _ = type_into_repl("status" + ENTER + "process create a.exe" + ENTER + CTRL_D,
                                  session)
    assert code == 0 and "Traceback" not in out
    assert "internal error in kmshell: RuntimeError: a model bug — the session goes on" in out
    assert "a.exe" in out  # the next line still ran
