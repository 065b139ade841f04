"""Grading a class's files and stepping through a lesson without surprises (issue 21
follow-ups): one malformed file does not stop `kmshell check`, a scenario's parse error shows
the line with a caret, --step's q says where it stopped and its summary counts only what
stands, a failed `expect` at the prompt names its own line, and a lesson name that matches
nothing points at `kmshell scenarios`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pexpect
import pytest
from rich.console import Console

from kmshell.commands import TABLE
from kmshell.scenario import Replay, parse_scenario
from kmshell.scenario.runner import run_directive
from kmshell.session import Session

GOOD = "title good\nprocess create a.exe\nexpect process a.exe state == Active\n"
BAD = "title bad\nboot\nprocss create a.exe\n"  # line 3: a typo
FAILING = "title failing\nexpect system cpus == 3\n"
LESSON = ("title lesson\nprocess create a.exe\nexpect process a.exe state == Active\n"
          "process create b.exe\nexpect process b.exe state == Active\n"
          "process create c.exe\nexpect process c.exe state == Active\n")


def kmshell(tmp_path: Path, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess:
    # cwd: the test's own folder, which holds no `kmshell` folder to be imported instead
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "kmshell", *arguments], input=stdin,
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def files(tmp_path: Path, **texts: str) -> list[str]:
    for name, text in texts.items():
        (tmp_path / f"{name}.kms").write_text(text)
    return [f"{name}.kms" for name in texts]


# ---------------------------------------------------------------- 1. a malformed file in check

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_malformed_file_fails_alone_and_the_other_files_still_run(tmp_path, jobs):
    names = files(tmp_path, good=GOOD, bad=BAD, other=FAILING)
    (tmp_path / "r.xml").write_text("an older report")
    done = kmshell(tmp_path, "check", "-j", jobs, *names, "--junit", "r.xml")
    assert done.returncode == 2  # bad input, though other.kms also failed
    assert done.stderr.startswith("bad.kms:3:1: unknown command 'procss'")
    assert sorted(done.stdout.splitlines()[:-1]) == [
        "FAIL bad.kms: not run: 1 malformed line",
        "FAIL other.kms:2: expected system cpus == 3, got 2",
        "ok   good.kms (1 expectation)"]
    assert done.stdout.splitlines()[-1] == "1 passed, 2 failed (1 malformed, not run)"
    root = ElementTree.parse(tmp_path / "r.xml").getroot()
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["good", "bad", "other"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    (case,) = next(s for s in root.iter("testsuite") if s.get("name") == "bad").iter("testcase")
    error = case.find("error")
    assert error is not None and case.find("failure") is None
    assert error.get("message") == "bad.kms:3:1: unknown command 'procss' — did you mean " \
        "'process'?"


def test_check_with_a_malformed_file_gives_the_same_results_with_jobs(tmp_path):
    names = files(tmp_path, good=GOOD, bad=BAD, other=FAILING, more=GOOD)
    one = kmshell(tmp_path, "check", *names, "--junit", "one.xml")
    two = kmshell(tmp_path, "check", "-j", "2", *names, "--junit", "two.xml")
    assert one.returncode == two.returncode == 2
    assert sorted(one.stdout.splitlines()) == sorted(two.stdout.splitlines())
    assert (tmp_path / "one.xml").read_bytes() == (tmp_path / "two.xml").read_bytes()


def test_check_of_a_missing_file_runs_the_others_and_exits_2(tmp_path):
    done = kmshell(tmp_path, "check", "nosuch.kms", *files(tmp_path, good=GOOD))
    assert done.returncode == 2
    assert done.stdout == ("FAIL nosuch.kms: no such file; not run\n"
                           "ok   good.kms (1 expectation)\n"
                           "1 passed, 1 failed (1 malformed, not run)\n")


def test_check_exits_1_when_files_only_fail_and_0_when_all_pass(tmp_path):
    assert kmshell(tmp_path, "check", *files(tmp_path, good=GOOD, other=FAILING)).returncode == 1
    assert kmshell(tmp_path, "check", *files(tmp_path, good=GOOD)).returncode == 0


# ---------------------------------------------------------------- 2. the line and a caret

@pytest.mark.parametrize("command", ["run", "check"])
def test_a_parse_error_in_a_scenario_shows_the_line_with_a_caret_under_the_column(
        tmp_path, command):
    (tmp_path / "lab.kms").write_text("boot\nprocess lst\nexpect system cpus == \x01 2\n")
    done = kmshell(tmp_path, command, "lab.kms")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    at = lines.index("lab.kms:2:9: unknown verb 'lst' for 'process' — did you mean 'process "
                     "list'?")
    assert lines[at + 1:at + 4] == ["  process lst", "          ^",
                                    "    valid: create, list, show, kill, crash"]
    at = lines.index("lab.kms:3:23: control character U+0001 is not allowed in a scenario line")
    # the control character escaped as at the prompt, the caret moved with it
    assert lines[at + 1:at + 4] == ["  expect system cpus == \\x01 2", "                        ^",
                                    "    scenario lines are printable characters, spaces and tabs"]


# ---------------------------------------------------------------- 3. --step: q and b

def stepped(keys: list[str], text: str = LESSON):
    """A replay whose --step keys are `keys` ("next", "back", "quit"), one per question."""
    answers = iter(keys)
    scenario = parse_scenario(text, TABLE, "lesson.kms")
    return Replay(scenario, Session(), control=lambda prompt: next(answers)).run()


def test_quitting_a_stepped_replay_says_at_which_line_of_how_many_it_stopped():
    result = stepped(["next", "next", "quit"])
    assert result.summary() == ("lesson.kms: 2 of 2 expectation(s) held; "
                                "stopped at line 6 of 7 (q)")
    assert result.ok  # quitting is the user's choice, not a failure: exit status 0


def test_stepping_back_takes_the_undone_commands_checks_out_of_the_summary():
    result = stepped(["next", "next", "back", "quit"])
    assert result.summary() == ("lesson.kms: 1 of 1 expectation(s) held; "
                                "stopped at line 4 of 7 (q)")
    assert [check.line for check in result.checks] == [3]


def test_stepping_back_over_a_failed_check_forgets_the_failure():
    text = "boot\nprocess create a.exe\nexpect process a.exe state == Terminated\nstatus\n"
    result = stepped(["next", "next", "back", "quit"], text)
    assert result.failures == [] and result.checks == [] and result.ok


def test_quitting_at_a_pause_says_where_it_stopped():
    result = stepped(["next", "quit"], "boot\npause\nstatus\n")
    assert result.summary().endswith("stopped at line 2 of 3 (q)")


def test_a_replay_that_runs_to_its_end_says_nothing_of_stopping():
    assert stepped(["next"] * 3).summary() == "lesson.kms: 3 of 3 expectation(s) held"


def test_run_step_on_a_terminal_quits_with_where_it_stopped(tmp_path):
    files(tmp_path, lesson=LESSON)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), TERM="xterm")
    terminal = pexpect.spawn(sys.executable, ["-m", "kmshell", "run", "lesson.kms", "--step",
                                              "--no-color"], cwd=str(tmp_path), env=env,
                             timeout=120, dimensions=(30, 120), encoding="utf-8")
    for key in (" ", " ", "b"):
        terminal.expect(r"q: quit")
        terminal.send(key)
    terminal.expect(r"q: quit")
    terminal.send("q")
    terminal.expect(pexpect.EOF)
    terminal.close()
    assert "lesson.kms: 1 of 1 expectation(s) held; stopped at line 4 of 7 (q)" \
        in terminal.before
    assert terminal.exitstatus == 0


# ---------------------------------------------------------------- 4. <shell>:N

def test_a_failed_expect_piped_in_names_its_line_in_the_input(tmp_path):
    lines = ["process create a.exe", "", "status", "# a comment", "",
             "expect process a.exe state == Terminated"]
    done = kmshell(tmp_path, stdin="\n".join(lines) + "\n")
    assert done.returncode == 1
    assert "✗ <shell>:6: expected process a.exe state == Terminated, got Active" in done.stdout


def test_a_failed_expect_typed_at_the_prompt_names_the_history_number_it_would_have():
    session = Session()
    last = session.execute("process create a.exe")
    session.execute("status")
    out = io.StringIO()
    console = Console(file=out, width=200, no_color=True)
    assert run_directive(session, "expect system cpus == 7", last, console, TABLE) is False
    assert f"✗ <shell>:{len(session.history) + 1}: expected system cpus == 7" in out.getvalue()
    assert "<shell>:1:" not in out.getvalue()


# ---------------------------------------------------------------- 5. a lesson not found

@pytest.mark.parametrize(("command", "name"), [("run", "99"), ("run", "joystick-stack"),
                                               ("check", "99")])
def test_a_lesson_name_that_matches_nothing_points_at_kmshell_scenarios(tmp_path, command,
                                                                        name):
    done = kmshell(tmp_path, command, name)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{name}: no such file\n")
    assert "`kmshell scenarios` lists them (01 to " in done.stderr


@pytest.mark.parametrize("name", ["lab.kms", "labs/one"])
def test_a_missing_file_named_as_a_path_gets_no_lesson_hint(tmp_path, name):
    done = kmshell(tmp_path, "run", name)
    assert done.returncode == 2 and done.stderr == f"{name}: no such file\n"
