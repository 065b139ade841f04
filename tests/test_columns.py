"""Output that is not a terminal (a pipe, a file) is as wide as COLUMNS says, as rich and
most command-line tools read it; without a valid COLUMNS it is 100 columns wide, the same on
every machine (kmshell/views/console.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# !process's THREAD line, 90 columns unwrapped; the device tree's lines, near 100.
LINES = "process create notepad.exe\nstep 3\n!process 0 7 notepad.exe\ndevice tree\n"


def piped(tmp_path, columns: str | None) -> list[str]:
    """The lines `kmshell < file` prints, stdin and stdout not terminals, with COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), NO_COLOR="1")
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
