"""Output that is not a terminal (a pipe, a file) is as wide as COLUMNS says, as rich and
most command-line tools read it; without a valid COLUMNS it is 100 columns wide, the same on
every machine (kmshell/views/console.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# !process's THREAD line, 90 columns unwrapped; the device tree's lines, near 100.
LINES = ("process create notepad.exe\nstep 3\n!process 0 7 notepad.exe\ndevice tree\n"
         "thread list notepad.exe\n")  # a table: rich pads its cells


def piped(tmp_path, columns: str | None, colour: str = "NO_COLOR") -> list[str]:
    """The lines `kmshell < file` prints, stdin and stdout not terminals, with COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR",
                                                             "FORCE_COLOR")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), **{colour: "1"})
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "kmshell"], input=LINES, capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("columns", [80, 140])
def test_piped_output_is_as_wide_as_columns_says(tmp_path, columns):
    lines = piped(tmp_path, str(columns))
    assert max(len(line) for line in lines) <= columns
    assert max(len(line) for line in lines) > columns - 10  # the rules and banners fill it


@pytest.mark.parametrize("columns", [None, "", "0", "wide", "-80"])
def test_piped_output_is_100_columns_wide_without_a_valid_columns(tmp_path, columns):
    lines = piped(tmp_path, columns)
    assert max(len(line) for line in lines) == 100


def test_force_color_on_a_pipe_colours_it_but_keeps_the_pipes_width_and_no_trailing_spaces(
        tmp_path):
    """rich takes FORCE_COLOR for a terminal; the output is still a pipe (`| less -R`)."""
    lines = piped(tmp_path, None, colour="FORCE_COLOR")
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert any("\x1b[" in line for line in lines)
    assert max(len(line) for line in plain) == 100
    assert [line for line in plain if line.endswith(" ")] == []
