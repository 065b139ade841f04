"""On a real terminal (a pseudo-terminal, 24 rows of 80 columns): `help` fits the screen, and
output taller than the screen goes through the pager, which a pipe, `kmshell run` and
KMSHELL_PAGER=off never use. The pager is a small program of the test's own that keeps what
it was given in tmp_path and says so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLUMNS = 24, 80
MARK = "PAGED BY THE TEST'S PAGER"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def pager(tmp_path: Path) -> tuple[str, Path]:
    """A PAGER command that writes what it is given to a file and prints MARK."""
    kept = tmp_path / "paged.txt"
    script = tmp_path / "pager.py"
    script.write_text("import sys\n"
                      f"open({str(kept)!r}, 'w').write(sys.stdin.read())\n"
                      f"print({MARK!r})\n")
    return f"{sys.executable} {script}", kept


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "KMSHELL_PAGER", "PAGER", "LINES", "COLUMNS")}
    # history under tmp_path, not in the folder the shell runs in; no cursor position
    # request, which pexpect would leave unanswered (prompt_toolkit then waits for it)
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    env.update(extra)
    return env


def shell(tmp_path: Path, **extra: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "kmshell", "--no-color"], cwd=str(ROOT),
                          env=environment(tmp_path, **extra), timeout=60,
                          dimensions=(ROWS, COLUMNS), encoding="utf-8")
    child.expect("kmshell> ")
    return child


def quit_(child: pexpect.spawn) -> None:
    """At the next prompt (a key typed while a command prints may be lost), Ctrl-D."""
    child.expect("kmshell> ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_help_fits_a_24_row_80_column_terminal_without_the_pager(tmp_path):
    command, kept = pager(tmp_path)
    child = shell(tmp_path, PAGER=command)
    child.sendline("help")
    child.expect("commands by NT component")
    child.expect("help all: every command")
    drawn = ESCAPES.sub("", "commands by NT component" + child.before + child.after)
    quit_(child)
    lines = drawn.split("\r\n")
    # with the line typed above it and the prompt and toolbar under it: one screen
    assert len(lines) + 3 <= ROWS
    assert all(len(line.rstrip()) <= COLUMNS for line in lines)
    assert MARK not in drawn and not kept.exists()


def test_output_taller_than_the_terminal_goes_through_the_pager(tmp_path):
    command, kept = pager(tmp_path)
    child = shell(tmp_path, PAGER=command)
    child.sendline("help all")
    child.expect(MARK)
    quit_(child)
    paged = kept.read_text()
    assert "callback register" in paged and "wmi list" in paged  # the whole table


def test_kmshell_pager_comes_before_pager_and_off_switches_paging_off(tmp_path):
    command, kept = pager(tmp_path)
    child = shell(tmp_path, PAGER="no-such-pager", KMSHELL_PAGER=command)
    child.sendline("help all")
    child.expect(MARK)
    quit_(child)
    assert kept.exists()
    kept.unlink()
    child = shell(tmp_path, PAGER=command, KMSHELL_PAGER="off")
    child.sendline("help all")
    child.expect("wmi list")
    quit_(child)
    assert not kept.exists()


def test_a_pager_that_cannot_be_found_leaves_the_output_printed(tmp_path):
    child = shell(tmp_path, PAGER="no-such-pager-anywhere")
    child.sendline("help all")
    child.expect("wmi list")
    quit_(child)


def test_piped_output_and_kmshell_run_never_go_through_the_pager(tmp_path):
    command, kept = pager(tmp_path)
    piped = subprocess.run([sys.executable, "-m", "kmshell"], input="help all\n", cwd=ROOT,
                           env=environment(tmp_path, PAGER=command), capture_output=True,
                           text=True, timeout=60, check=False)
    assert "wmi list" in piped.stdout and MARK not in piped.stdout
    scenario = tmp_path / "tall.kms"
    scenario.write_text("help all\n")
    run = pexpect.spawn(sys.executable, ["-m", "kmshell", "run", str(scenario)], cwd=str(ROOT),
                        env=environment(tmp_path, PAGER=command), timeout=60,
                        dimensions=(ROWS, COLUMNS), encoding="utf-8")
    run.expect(pexpect.EOF)
    assert "wmi list" in run.before and MARK not in run.before
    assert not kept.exists()
