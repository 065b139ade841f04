"""Colour follows the conventions on a real terminal (https://no-color.org, FORCE_COLOR,
TERM=dumb), tested through a pseudo-terminal: CliRunner's output is never a terminal, which
is how NO_COLOR being ignored on one slipped by."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "scenarios/01-user-and-kernel-mode.kms"
# an SGR sequence that sets a colour (foreground, background, 256 or true colour)
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7]|4[0-8]|10[0-7])[;m]")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    # the shell's history goes to XDG_STATE_HOME/kmshell: not the folder it runs in, where a
    # folder named kmshell would be imported as the package
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm-256color", COLUMNS="100")
    env.update(extra)
    return env


def on_a_terminal(tmp_path: Path, *arguments: str, **extra: str) -> str:
    """What `kmshell run SCENARIO ARGUMENTS` writes to a pseudo-terminal."""
    run = pexpect.spawn(sys.executable, ["-m", "kmshell", "run", SCENARIO, *arguments],
                        cwd=str(ROOT), env=environment(tmp_path, **extra), timeout=60,
                        dimensions=(40, 100), encoding="utf-8")
    run.expect(pexpect.EOF)
    return run.before


def first_prompt(tmp_path: Path, *arguments: str, **extra: str) -> str:
    """What the shell draws on a pseudo-terminal up to and with its first prompt (styled bold
    cyan unless colour is off)."""
    shell = pexpect.spawn(sys.executable, ["-m", "kmshell", *arguments], cwd=str(ROOT),
                          env=environment(tmp_path, **extra), timeout=60, dimensions=(40, 120),
                          encoding="utf-8")
    shell.expect("kmshell> ")
    drawn = shell.before + shell.after
    shell.sendcontrol("d")
    shell.expect(pexpect.EOF)
    return drawn


def test_a_terminal_gets_colour_by_default(tmp_path):
    assert COLOUR.search(on_a_terminal(tmp_path))


@pytest.mark.parametrize(("arguments", "extra"), [((), {"NO_COLOR": "1"}), (("--no-color",), {}),
                                                  ((), {"TERM": "dumb"})],
                         ids=["NO_COLOR", "--no-color", "TERM=dumb"])
def test_no_color_no_color_flag_and_a_dumb_terminal_turn_colour_off_on_a_terminal(
        tmp_path, arguments, extra):
    printed = on_a_terminal(tmp_path, *arguments, **extra)
    assert "kmshell>" in printed and not COLOUR.search(printed)


def test_a_dumb_terminal_gets_plain_text_without_any_escape_sequence(tmp_path):
    assert "\x1b[" not in on_a_terminal(tmp_path, TERM="dumb")


def test_a_pipe_gets_plain_text_unless_force_color_asks_for_colour(tmp_path):
    def piped(**extra: str) -> str:
        return subprocess.run([sys.executable, "-m", "kmshell", "run", SCENARIO], cwd=ROOT,
                              env=environment(tmp_path, **extra), capture_output=True,
                              text=True, timeout=60, check=False).stdout
    assert "\x1b[" not in piped()
    assert COLOUR.search(piped(FORCE_COLOR="1"))


@pytest.mark.parametrize(("arguments", "extra"), [((), {"NO_COLOR": "1"}), (("--no-color",), {})],
                         ids=["NO_COLOR", "--no-color"])
def test_the_shells_prompt_has_no_colour_when_colour_is_off(tmp_path, arguments, extra):
    assert COLOUR.search(first_prompt(tmp_path))  # the prompt is coloured by default
    assert not COLOUR.search(first_prompt(tmp_path, *arguments, **extra))
