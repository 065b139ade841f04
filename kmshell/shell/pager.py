"""The REPL's pager: a command's output taller than the terminal goes through less (or
$KMSHELL_PAGER, $PAGER), as git's does; shorter output, a pipe, `kmshell run` and `check` print
as they always did.

Which pager, as git chooses (pager.c, git_pager): KMSHELL_PAGER, else PAGER, else less; an
empty value, `cat` or `off` means none. It runs through the shell, as git runs it, and gets
LESS=FRX when LESS is not set (git's default: R keeps the colours, X leaves the page on the
screen after q). The output is recorded for `export` as if printed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from kmshell.views.console import on_a_tty

OFF = ("", "cat", "off")
DEFAULT = "less"
ROWS_KEPT = 2  # the prompt's line and the toolbar stay on the screen under the output


def pager_command(environ=os.environ) -> str | None:
    """The pager to run, or None when the user switched paging off."""
    for name in ("KMSHELL_PAGER", "PAGER"):
        if name in environ:
            command = environ[name].strip()
            return None if command in OFF else command
    return DEFAULT if shutil.which(DEFAULT) else None


class _Held(io.StringIO):
    """Holds what is printed while the console still believes it prints to the terminal
    (colours, widths and links are the terminal's)."""

    def __init__(self, terminal) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal.isatty()


@contextmanager
def paging(console: Console, command: str | None) -> Iterator[None]:
    """While the block prints, hold its output; then show it through `command` if it is
    taller than the terminal leaves room for, else print it. No pager, or a console that is
    not a terminal: the block prints straight through."""
    if command is None or not on_a_tty(console.file) or console.is_dumb_terminal:
        yield
        return
    terminal = console.file
    held = console.file = _Held(terminal)
    try:
        yield
    finally:
        console.file = terminal
        text = held.getvalue()
        if text.count("\n") <= console.height - ROWS_KEPT or not show(text, command):
            terminal.write(text)
            terminal.flush()


NOT_RUN = (126, 127)  # the shell's status for a command it cannot run, or cannot find


def show(text: str, command: str) -> bool:
    """Pipe `text` into the pager and wait for the user to leave it (q); False when the
    pager could not be run. Ctrl-C belongs to the pager (less uses it to stop a search), as
    with pydoc's pager."""
    environ = dict(os.environ)
    environ.setdefault("LESS", "FRX")
    try:
        pager = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=environ,
                                 encoding="utf-8", errors="backslashreplace")
    except OSError:
        return False
    assert pager.stdin is not None
    try:
        with pager.stdin:
            pager.stdin.write(text)
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # the user left the pager before the end
    while True:
        try:
            return pager.wait() not in NOT_RUN
        except KeyboardInterrupt:
            continue

