"""Ctrl-C while a command runs stops it at a consistent point and keeps the session.

In-process tests simulate the key press with kmshell.cancel.request (after N checks, so it
lands part-way); the subprocess and pseudo-terminal tests send a real SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pexpect
import pytest
from commandlines import command_line, empty_directory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmshell import cancel
from kmshell.commands import TABLE
from kmshell.nt.invariants import violations
from kmshell.scenario import Replay, parse_scenario
from kmshell.session import Session


@pytest.fixture(autouse=True)
def no_pending_ctrl_c():
    cancel.clear()
    yield
    cancel.clear()


def state(session: Session) -> str:
    return json.dumps(session.system.to_json(), sort_keys=True)


def replayed(lines: list[str]) -> Session:
    cancel.clear()  # as the shell does before each line
    session = Session()
    for line in lines:
        session.execute(line)
    return session


def test_ctrl_c_stops_step_between_ticks_and_history_keeps_what_ran():
    session = Session()
    session.execute("process create busy.exe --program \"compute 1000000\"")
    cancel.request(after_checks=37)
    outcome = session.execute("step 1000000")
    tick = session.system.core.tick
    assert outcome.interrupted == f"interrupted at tick {tick}: 37 of 1000000 " \
        "ticks ran"
    assert session.system.core.tick == 37 and not violations(session.system)
    assert session.lines()[-1] == "step 37  # interrupted: step 1000000"
    assert state(replayed(session.lines())) == state(session)


def test_undo_takes_an_interrupted_command_back():
    session = Session()
    session.execute("process create a.exe")
    before = state(session)
    cancel.request(after_checks=5)
    session.execute("step 500")
    cancel.clear()
    assert session.execute("undo").ok and state(session) == before


def test_ctrl_c_stops_run_and_the_history_replays_to_the_same_log():
    session = Session()
    session.execute("process create busy.exe --program \"compute 5000\"")
    cancel.request(after_checks=12)
    outcome = session.execute("run --max 100000")
    assert "12 of at most 100000 ticks ran" in outcome.interrupted
    assert session.lines()[-1] == "run --max 12  # interrupted: run --max 100000"
    again = replayed(session.lines())
    assert [e.to_json() for e in again.system.core.log] == \
        [e.to_json() for e in session.system.core.log]


def test_ctrl_c_stops_a_replay_between_lines_and_says_which():
    scenario = parse_scenario("process create a.exe\nstep 2\nprocess create b.exe\n", TABLE,
                              "lab.kms")
    session = Session()
    cancel.request(after_checks=4)  # a check before each line, then one per tick of step 2
    result = Replay(scenario, session).run()
    assert str(result.interrupted) == "lab.kms:3: interrupted before this line ran"
    assert session.lines() == ["process create a.exe", "step 2"] and not result.ok


def test_ctrl_c_while_undo_or_load_replays_keeps_the_session_as_it_was(tmp_path):
    session = Session()
    for line in ("process create a.exe", "step 300", "step 1"):
        session.execute(line)
    session.execute(f"save {tmp_path / 'lab.json'}")
    before, lines = state(session), session.lines()
    for line in ("undo", f"load {tmp_path / 'lab.json'}"):
        cancel.request(after_checks=50)
        outcome = session.execute(line)
        assert not outcome.ok and "interrupted" in outcome.error.message
        assert state(session) == before and session.lines() == lines
        cancel.clear()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_lines_with_ctrl_c_at_random_points_keep_invariants_and_replay(tmp_path, data):
    session = Session()
    with empty_directory(tmp_path):
        for _ in range(data.draw(st.integers(3, 20), label="length")):
            line = data.draw(command_line(session), label="line")
            if data.draw(st.booleans(), label="ctrl-c"):
                cancel.request(after_checks=data.draw(st.integers(0, 30), label="after"))
            session.execute(line)
            cancel.clear()
            problems = violations(session.system)
            assert not problems, "\n".join(problems)
        assert state(replayed(session.lines())) == state(session)


SLOW = "title slow\nprocess create busy.exe --program \"compute 1000000\"\nstep 1000000\n" \
       "say never reached\n"


def start_and_interrupt(arguments: list[str], cwd) -> subprocess.CompletedProcess:
    """Run kmshell, wait until it prints the slow step's prompt line, then send SIGINT."""
    process = subprocess.Popen([sys.executable, "-m", "kmshell", *arguments], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = b""
    deadline = time.monotonic() + 60
    while b"step 1000000" not in seen and time.monotonic() < deadline:
        seen += process.stdout.read1(4096)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(arguments, process.returncode, seen + out, err)


def test_sigint_ends_kmshell_run_with_status_130_one_line_and_the_transcript(tmp_path):
    (tmp_path / "slow.kms").write_text(SLOW)
    result = start_and_interrupt(["run", "slow.kms", "--no-color", "--export-html",
                                  "out.html"], tmp_path)
    assert result.returncode == 130, result.stderr
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slow.kms:3: interrupted at tick ")
    assert b"Traceback" not in result.stdout + result.stderr
    assert "step 1000000" in (tmp_path / "out.html").read_text()


def test_sigint_ends_kmshell_check_with_status_130(tmp_path):
    (tmp_path / "slow.kms").write_text(SLOW)
    # check prints nothing while it runs: interrupt it once it has had time to start
    process = subprocess.Popen([sys.executable, "-m", "kmshell", "check", "slow.kms"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)  # start-up takes under a second; the step runs for minutes
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and b"Traceback" not in out + err
    assert err.decode().startswith("slow.kms:3: interrupted at tick ")


def test_ctrl_c_in_the_shell_stops_the_command_and_the_shell_goes_on(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
           "NO_COLOR": "1", "TERM": "xterm",
           "KMSHELL_PAGER": "off"}  # the step's trace, taller than the terminal, is printed
    shell = pexpect.spawn(sys.executable, ["-m", "kmshell"], cwd=str(tmp_path), env=env,
                          timeout=60, dimensions=(40, 120))
    shell.expect("kmshell> ")
    shell.sendline('process create busy.exe --program "compute 1000000"')
    shell.expect("kmshell> ")
    shell.sendline("step 1000000")
    time.sleep(2)
    shell.sendintr()
    shell.expect(r"interrupted at tick \d+: \d+ of 1000000 ticks ran")
    shell.expect("kmshell> ")
    shell.sendline("history")
    shell.expect(r"step \d+  # interrupted: step 1000000")
    shell.expect("kmshell> ")
    shell.sendline("undo")
    shell.expect("back to the state after command 1")
    shell.expect("kmshell> ")
    shell.sendcontrol("d")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_ctrl_c_cuts_a_delay_short_and_no_line_runs_after_it(tmp_path):
    (tmp_path / "two.kms").write_text("process create a.exe\nprocess create b.exe\n")
    process = subprocess.Popen([sys.executable, "-m", "kmshell", "run", "two.kms", "--delay",
                                "30", "--no-color"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    time.sleep(3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and time.monotonic() - started < 10
    assert err.decode().startswith("two.kms:1: interrupted before this line ran")
    assert b"a.exe" not in out


def test_ctrl_c_pressed_as_a_key_in_step_mode_interrupts_the_replay(monkeypatch):
    import click

    from kmshell.scenario.control import step_by_key

    def ctrl_c():
        raise KeyboardInterrupt  # what click.getchar does for Ctrl-C in raw mode

    monkeypatch.setattr(click, "getchar", ctrl_c)
    scenario = parse_scenario("process create a.exe\n", TABLE, "lab.kms")
    result = Replay(scenario, Session(), control=step_by_key).run()
    assert str(result.interrupted) == "lab.kms:1: interrupted before this line ran"
