"""Progress on a terminal, plain lines on a pipe: `kmshell check`'s bar of files and -j N,
and the meter of a long step (kmshell/views/progress.py). What depends on being a terminal
is tested through a pseudo-terminal (pexpect): CliRunner's output is never one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner

from kmshell.cli import main

QUICK = "title quick\nprocess create a.exe\nexpect process a.exe state == Active\n"
FAILING = "title failing\nprocess create b.exe\nexpect process b.exe state == Terminated\n"
# a meter shows for a step of at least 200,000 ticks (LONG_TICKS), not for a short one
LONG = "title long\nstep 1000\nstep 200000\n"
METER = r"step {} (?:\x1b\[[0-9;]*m)*━"  # a line's text, then its bar
SLOW = "title slow\n" + 'process create busy.exe --program "compute 1000000"\n' + \
    "step 1000000\n" * 50  # minutes


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm-256color", COLUMNS="100",
               KMSHELL_PAGER="off")  # the shell's tall outputs print, not wait in a pager
    env.update(extra)
    return env


def files(tmp_path: Path, **texts: str) -> list[str]:
    for name, text in texts.items():
        (tmp_path / f"{name}.kms").write_text(text)
    return [f"{name}.kms" for name in texts]


def on_a_terminal(tmp_path: Path, *arguments: str) -> pexpect.spawn:
    # cwd: the test's own folder, which holds no `kmshell` folder to be imported instead
    return pexpect.spawn(sys.executable, ["-m", "kmshell", *arguments], cwd=str(tmp_path),
                         env=environment(tmp_path), timeout=120, dimensions=(30, 120),
                         encoding="utf-8")


def to_the_end(tmp_path: Path, *arguments: str) -> tuple[str, int]:
    """What kmshell ARGUMENTS writes to a pseudo-terminal, and its exit status."""
    terminal = on_a_terminal(tmp_path, *arguments)
    terminal.expect(pexpect.EOF)
    terminal.close()
    return terminal.before, terminal.exitstatus


def piped(tmp_path: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kmshell", *arguments], cwd=tmp_path,
                          env=environment(tmp_path, **extra), capture_output=True, text=True,
                          timeout=120, check=False)


def test_check_on_a_terminal_draws_a_bar_of_files_under_whole_result_lines(tmp_path):
    printed, status = to_the_end(tmp_path, "check", *files(tmp_path, a=QUICK, b=QUICK))
    assert status == 0
    assert re.search(r"checking (?:\x1b\[[0-9;]*m)*━+.*2/2(?:\x1b\[[0-9;]*m)* files", printed)
    # each result is a line of its own, printed above the bar, not into it
    for name in ("a", "b"):
        assert re.search(rf"(?:^|\n|\x1b\[2K)ok   {name}\.kms \(1 expectation\)\r\n", printed)
    assert printed.endswith("2 passed, 0 failed\r\n")  # the bar is gone when it is done


@pytest.mark.parametrize("extra", [{}, {"FORCE_COLOR": "1"}], ids=["pipe", "FORCE_COLOR"])
def test_check_on_a_pipe_prints_plain_lines_only(tmp_path, extra):
    done = piped(tmp_path, "check", *files(tmp_path, a=QUICK, b=FAILING), **extra)
    assert done.stdout == ("ok   a.kms (1 expectation)\n"
                           "FAIL b.kms:3: expected process b.exe state == Terminated, got "
                           "Active\n1 passed, 1 failed\n")
    assert done.returncode == 1 and done.stderr == ""


@pytest.mark.parametrize("jobs", ["2", "0"])
def test_check_with_jobs_gives_the_results_summary_status_and_junit_of_one_job(tmp_path, jobs):
    names = files(tmp_path, a=QUICK, b=FAILING, c=QUICK, d=FAILING)
    one = piped(tmp_path, "check", "--junit", "one.xml", *names)
    many = piped(tmp_path, "check", "-j", jobs, "--junit", "many.xml", *names)
    assert one.returncode == many.returncode == 1  # a failing file fails the check
    assert sorted(many.stdout.splitlines()[:-1]) == sorted(one.stdout.splitlines()[:-1])
    assert many.stdout.splitlines()[-1] == one.stdout.splitlines()[-1] == "2 passed, 2 failed"
    assert (tmp_path / "many.xml").read_bytes() == (tmp_path / "one.xml").read_bytes()


def test_check_with_jobs_passes_when_every_file_passes(tmp_path):
    done = piped(tmp_path, "check", "-j", "2", *files(tmp_path, a=QUICK, b=QUICK))
    assert done.returncode == 0 and done.stdout.endswith("\n2 passed, 0 failed\n")


@pytest.mark.parametrize("jobs", ["-1", "two", ""])
def test_check_jobs_must_be_a_whole_number_from_0(tmp_path, jobs):
    result = CliRunner().invoke(main, ["check", "-j", jobs, "x.kms"])
    assert result.exit_code == 2
    assert "Invalid value for '-j' / '--jobs'" in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_stops_check_with_jobs_with_status_130(tmp_path):
    terminal = on_a_terminal(tmp_path, "check", "-j", "2", *files(tmp_path, s1=SLOW, s2=SLOW,
                                                                    s3=SLOW))
    terminal.expect("checking")  # the bar is up: the files are running or about to
    terminal.sendintr()
    terminal.expect(pexpect.EOF)
    terminal.close()
    assert terminal.exitstatus == 130
    assert re.search(r"s[123]\.kms:\d+: interrupted", terminal.before)
    assert "Traceback" not in terminal.before


def test_a_long_step_shows_a_meter_on_a_terminal_that_the_transcript_does_not_keep(tmp_path):
    printed, status = to_the_end(tmp_path, "run", *files(tmp_path, long=LONG),
                                 "--export-html", "out.html")
    assert status == 0
    assert re.search(METER.format(200000), printed) and "Ctrl-C stops" in printed
    assert not re.search(METER.format(1000), printed)  # a short step shows none
    html = (tmp_path / "out.html").read_text()
    assert "step 200000" in html and "━" not in html and "Ctrl-C stops" not in html


def test_a_long_step_on_a_pipe_shows_no_meter(tmp_path):
    done = piped(tmp_path, "run", *files(tmp_path, long=LONG), FORCE_COLOR="1")
    assert done.returncode == 0 and "kmshell> step 200000" in done.stdout
    assert "━" not in done.stdout + done.stderr and "Ctrl-C stops" not in done.stdout


def test_a_long_step_in_the_shell_shows_a_meter_that_export_does_not_keep(tmp_path):
    shell = on_a_terminal(tmp_path)

    def prompt() -> str:
        """What the shell printed up to its next prompt. The shell asks where the cursor is
        first; it is answered as a terminal would, so that what is typed next is not taken
        for the answer."""
        shell.expect_exact("\x1b[6n")
        printed = shell.before
        shell.send("\x1b[1;1R")
        shell.expect_exact("kmshell> ")
        return printed

    prompt()
    shell.sendline("step 200000")
    assert re.search(METER.format(200000), prompt())
    shell.sendline("export html out.html")
    prompt()
    shell.sendline("quit")
    shell.expect(pexpect.EOF)
    html = (tmp_path / "out.html").read_text()
    assert "tick 200000" in html and "━" not in html and "Ctrl-C stops" not in html
