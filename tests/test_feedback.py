"""Feedback and honesty (issue 21, items 7 and 8): a setting says what it set, a malformed
directive is an error like a command's, goto says what it drops and undo brings it back, a
trace that lost its first events says so, the texts say what kmshell really does."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kmshell.commands import TABLE
from kmshell.nt.constants import NtStatus
from kmshell.scenario import ScenarioError, parse_scenario
from kmshell.scenario.runner import run_typed
from kmshell.session import Session
from kmshell.views.console import make_console
from kmshell.views.outcome import render_outcome
from kmshell.views.se import access_names

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def printed(session: Session, line: str, width: int = 200) -> str:
    """What the shell prints for a line typed at the prompt (a directive or a command)."""
    buffer = io.StringIO()
    run_typed(session, line, None, make_console(no_color=True, file=buffer, width=width), TABLE)
    return buffer.getvalue()


def state(session: Session) -> dict:
    return session.system.to_json()


def test_seed_confirms_the_seed_and_says_the_model_makes_no_random_choices():
    session = Session()
    out = printed(session, "seed 42")
    assert out.startswith("seed 42: kept for this boot and later ones") and out.count("\n") == 1
    assert "the model makes no random choices" in out and session.system.core.seed == 42


@pytest.mark.parametrize("line, said", [
    ("explain on", "explain on: each event gets a plain-language 'why' line"),
    ("explain off", "explain off: events print without their 'why' lines"),
    ("view full", "view full: every event and the views of what changed, no trace folded"),
    ("view auto", "view auto: every event and view, traces over 60 events folded"),
    ("view quiet", "view quiet: only the last event of a command that changes state"),
])
def test_explain_and_view_say_in_one_line_what_they_set(line, said):
    out = printed(Session(), line)
    assert out.startswith(said) and out.count("\n") == 1


@pytest.mark.parametrize("line, col, usage", [
    ("seed", 5, "usage: seed N"),
    ("seed 1 2", 8, "usage: seed N"),
    ("pause 3", 7, "usage: pause"),
    ("say", 4, "usage: say TEXT..."),
    ("expect cpu 0 irql ==", 19, "usage: expect QUERY OP VALUE..."),
])
def test_a_malformed_directive_at_the_prompt_shows_the_line_a_caret_and_the_usage(
        line, col, usage):
    out = printed(Session(), line).splitlines()
    assert out[0].startswith("error: ") and out[1] == f"  {line}"
    assert out[2] == "  " + " " * (col - 1) + "^" and out[-1] == f"  {usage}"


def test_a_malformed_directive_in_a_file_is_file_line_col_with_the_usage():
    with pytest.raises(ScenarioError) as raised:
        parse_scenario("title t\nseed 1 2\n", TABLE, "lab.kms")
    assert str(raised.value) == "lab.kms:2:8: 'seed' needs one number\n    usage: seed N"


LINES = ["process create a.exe", "step 3", "ps", "process create b.exe", "step 2"]


def typed(lines: list[str]) -> Session:
    session = Session()
    for line in lines:
        assert session.execute(line).ok
    return session


def test_goto_says_how_many_later_commands_it_drops():
    out = printed(typed(LINES), "goto 2")
    assert out.startswith("the state after command 2 (tick 3); 3 later command(s) dropped: "
                          "undo brings them back")
    assert "dropped" not in printed(typed(LINES), "goto 5")


def test_undo_right_after_goto_brings_back_the_dropped_commands_and_their_state():
    session = typed(LINES)
    before = state(session)
    session.execute("goto 1")
    session.execute("ps")  # a query since the goto changes nothing: undo still undoes it
    out = printed(session, "undo")
    assert out.startswith("goto undone: 4 command(s) back, the state after command 5 (tick 5)")
    assert session.lines() == LINES and state(session) == before
    assert printed(session, "undo").startswith("back to the state after command 4")  # step 2


def test_after_goto_a_command_that_changes_the_machine_makes_undo_undo_that_command():
    session = typed(LINES)
    session.execute("goto 2")
    session.execute("process create c.exe")
    assert printed(session, "undo").startswith("back to the state after command 2")
    assert session.lines() == LINES[:2] and state(session) == state(typed(LINES[:2]))


def test_goto_and_undo_say_when_going_back_changes_the_view_or_explain_setting():
    session = typed(["process create a.exe", "view quiet", "explain on", "process create b.exe"])
    out = printed(session, "goto 1")
    assert "; view auto and explain off again, as then" in out
    assert (session.settings.view, session.settings.explain) == ("auto", False)
    assert "view quiet and explain on again, as then" in printed(session, "undo")
    assert "again, as then" not in printed(typed(LINES), "goto 2")  # nothing changed: no note


def test_in_view_quiet_undo_and_goto_say_where_they_went_without_the_process_tree():
    session = typed(["view quiet", "process create a.exe", "process create b.exe"])
    for line in ("undo", "goto 1"):
        out = printed(session, line)
        assert out.count("\n") == 1 and "a.exe" not in out, line
    assert "explorer.exe" in printed(typed(LINES), "goto 1")  # other views: the tree


def test_a_trace_that_lost_its_first_events_says_how_many_and_promises_no_all(monkeypatch):
    monkeypatch.setattr("kmshell.nt.core.TRACE_KEEP", 100)
    session = typed(["process create busy.exe --threads 2 --program \"compute 500; exit\""])
    mark = session.system.core.events_emitted
    outcome = session.execute("step 300")
    gone = session.system.core.events_emitted - mark - len(outcome.events)
    assert gone > 0 and outcome.dropped == gone
    for view, fold in (("auto", "more events (view full shows them)"), ("full", "")):
        session.settings.view = view
        buffer = io.StringIO()
        console = make_console(no_color=True, file=buffer, width=200)
        for part in render_outcome(outcome, session.settings):
            console.print(part)
        out = buffer.getvalue()
        assert f"… {gone} earlier events of this command are gone: the trace keeps only" in out
        assert fold in out and "shows them all" not in out


def test_a_folded_trace_that_lost_nothing_still_says_view_full_shows_them_all():
    session = typed(["process create busy.exe --program \"compute 200; exit\""])
    out = printed(session, "step 100")
    assert "more events (view full shows them all)" in out and "earlier events" not in out


def test_timeline_names_the_window_of_ticks_it_shows():
    session = typed(["process create a.exe --program \"compute 50\"", "step 40"])
    # as many ticks as fit the line: 16 at 85 columns (the CPU column and edges, 5 a tick)
    assert "schedule, ticks 25–40 of 40 (TID that ran each tick" in printed(session, "timeline",
                                                                           width=85)
    assert "schedule, ticks 31–40 of 40" in printed(session, "timeline --last 10")


def test_an_image_name_of_max_path_characters_or_more_is_refused_with_status_name_too_long():
    session = Session()
    longest = "a" * 255 + ".exe"  # 259 characters and the terminating NUL: MAX_PATH, 260
    assert session.execute(f"process create {longest}").ok
    outcome = session.execute(f"process create a{longest}")
    assert outcome.error is not None and not outcome.events
    assert outcome.error.message == ("the image name is 260 characters; CreateProcess takes at "
                                     "most 259 (MAX_PATH, 260, counts the terminating NUL) "
                                     "(STATUS_NAME_TOO_LONG)")
    assert NtStatus.STATUS_NAME_TOO_LONG == 0xC0000106  # ntstatus.h


def test_device_tree_shows_each_devnode_state_by_its_pnp_devnode_state_name():
    out = printed(Session(), "device tree")
    assert "ACPI\\PNP0303\\0  DeviceNodeStarted  i8042prt" in out
    assert "DeviceNodeStarted" in README and "0x308" in README


def test_the_readme_gives_irp_complete_its_required_status():
    mentions = re.findall(r"`irp complete[^`]*`", README)
    assert mentions and all(re.fullmatch(r"`irp complete (N|\d+) (STATUS|STATUS_\w+)`", m)
                            for m in mentions), mentions


def test_help_process_crash_explains_without_speaking_of_a_seed():
    out = printed(Session(), "help process crash")
    assert "seed" not in out.lower() and "ends one process and leaves the others running" in out


def test_help_power_device_describes_each_d_state():
    out = " ".join(printed(Session(), "help power device").split())
    for said in ("D0, working, fully on", "D1 and D2, intermediate sleeping states",
                 "D3, off", "STATE D0 on; D1, D2 light sleep; D3 off"):
        assert said in out


def test_sd_names_each_ace_mask_beside_its_hex():
    session = typed(["event create Go"])
    out = printed(session, "sd set \\BaseNamedObjects\\Go "
                           "\"D:P(A;;GA;;;SY)(A;;0x1f0003;;;BA)(D;;0x120001;;;BU)\"")
    assert "ACE 1: allow 0x10000000 GENERIC_ALL to NT AUTHORITY\\SYSTEM" in out
    assert "ACE 2: allow 0x001f0003 EVENT_ALL_ACCESS to BUILTIN\\Administrators" in out
    assert "ACE 3: deny  0x00120001 READ_CONTROL | SYNCHRONIZE | EVENT_QUERY_STATE to" in out
    assert "0xe0000000 GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE to Everyone" in \
        printed(session, "sd \\Device\\Harddisk0")


@pytest.mark.parametrize("mask, type_name, names", [
    (0x001F01FF, "Device", "FILE_ALL_ACCESS"),
    (0x0012019F, "Device", "FILE_GENERIC_READ | FILE_GENERIC_WRITE"),
    (0x00100001, "File", "SYNCHRONIZE | FILE_READ_DATA"),
    (0x000F000F, "Directory", "DIRECTORY_ALL_ACCESS"),
    (0x001F0001, "Event", "DELETE | READ_CONTROL | WRITE_DAC | WRITE_OWNER | SYNCHRONIZE | "
                          "EVENT_QUERY_STATE"),
    (0x001F0001, "Mutant", "MUTANT_ALL_ACCESS"),
    (0x00000201, "Driver", "0x201"),
    (0x02000000, "Timer", "MAXIMUM_ALLOWED"),
])
def test_access_names_take_the_object_types_rights_whole_and_keep_unnamed_bits_in_hex(
        mask, type_name, names):
    assert access_names(mask, type_name) == names
