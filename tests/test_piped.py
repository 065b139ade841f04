"""kmshell with its input from a pipe or a file, as other command-line tools take it: plain
lines in, plain output, no prompt or toolbar, and an exit status that says if a line failed;
`kmshell run -` reads a scenario from standard input."""

from __future__ import annotations

import os
import select
import subprocess
import sys


def kmshell(tmp_path, text: str, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "kmshell", *arguments], input=text,
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
                          check=False)


def test_piped_lines_run_as_typed_and_print_plain_text_without_prompt_or_toolbar(tmp_path):
    done = kmshell(tmp_path, "process create notepad.exe\nexpect process notepad.exe state "
                   "== Active\nstatus\n")
    assert done.returncode == 0, done.stderr
    assert "kmshell> process create notepad.exe" in done.stdout
    assert "NtCreateUserProcess" in done.stdout and "✓ process notepad.exe state" in done.stdout
    assert "\x1b[" not in done.stdout + done.stderr  # no colour, no cursor movement
    assert "terminal" not in done.stderr and "Traceback" not in done.stderr


def test_a_piped_session_exits_1_when_any_line_failed_and_goes_on_after_it(tmp_path):
    done = kmshell(tmp_path, "procss\nprocess create a.exe\n")
    assert done.returncode == 1
    assert "unknown command 'procss'" in done.stdout and "a.exe (172)" in done.stdout
    assert kmshell(tmp_path, "process create a.exe\nexpect process a.exe state == "
                   "Terminated\n").returncode == 1


def test_quit_in_a_piped_session_stops_before_the_next_line(tmp_path):
    done = kmshell(tmp_path, "quit\nprocess create a.exe\n")
    assert done.returncode == 0 and "a.exe" not in done.stdout


def test_run_dash_reads_a_scenario_from_standard_input(tmp_path):
    done = kmshell(tmp_path, "title piped\nprocess create a.exe\nexpect process a.exe state "
                   "== Active\n", "run", "-", "--no-color")
    assert done.returncode == 0 and "<stdin>: 1 of 1 expectation(s) held" in done.stdout
    bad = kmshell(tmp_path, "procss\n", "run", "-")
    assert bad.returncode == 2 and bad.stderr.startswith("<stdin>:1:1: unknown command")


def test_check_prints_each_files_result_as_it_finishes(tmp_path):
    (tmp_path / "quick.kms").write_text("title quick\nprocess create a.exe\n"
                                        "expect process a.exe state == Active\n")
    (tmp_path / "endless.kms").write_text(  # some 10 s a step of a million ticks
        "title endless\n" + 'process create busy.exe --program "compute 1000000"\n' * 4
        + "step 1000000\n" * 100)
    env = {**os.environ, "HOME": str(tmp_path)}
    with subprocess.Popen([sys.executable, "-m", "kmshell", "check", "quick.kms",
                           "endless.kms"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          text=True) as checking:
        try:
            # printed at the end, nothing would come for minutes: wait 20 s at most
            assert select.select([checking.stdout], [], [], 20)[0], "nothing printed yet"
            assert checking.stdout.readline().startswith("ok   quick.kms")
            assert checking.poll() is None  # the second file is still running
        finally:
            checking.kill()


def test_lines_piped_into_kmshell_on_a_terminal_draw_no_prompt_toolkit_screen(tmp_path):
    """`echo ... | kmshell` typed at a terminal: stdin is a pipe but stdout the terminal (a
    real pty here). The lines run as typed, with no toolbar, no cursor-position request or
    bracketed-paste switch of prompt_toolkit's, and no 'not a terminal' warning."""
    import shlex

    import pexpect

    env = {**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    line = (f"printf 'process create x.exe\\nprocss\\n' | {shlex.quote(sys.executable)} "
            "-m kmshell; echo status=$?")
    shell = pexpect.spawn("bash", ["-c", line], cwd=str(tmp_path), env=env,
                          dimensions=(24, 80), encoding="utf-8", timeout=60)
    shell.expect(pexpect.EOF)
    screen = shell.before
    assert "kmshell> process create x.exe" in screen.replace("\x1b[0m", "").replace("\x1b[1m", "")
    assert "x.exe (172)" in screen and "unknown command 'procss'" in screen
    for drawn in ("\x1b[6n", "\x1b[?2004h", "\x1b[?25l", "terminal", "Traceback"):
        assert drawn not in screen, repr(drawn)
    assert screen.rstrip().endswith("status=1")
