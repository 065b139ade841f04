"""The one way to make a console: colour only where it helps, plain text everywhere else.

Colour is off with --no-color, with the NO_COLOR environment variable (rich honours it), and
when the output is not a terminal (a pipe or a file).

Output that is not a terminal is laid out PLAIN_WIDTH columns wide whatever the terminal
setting (COLUMNS), so a transcript, a diff against it, or a grader's copy is the same on
every machine; a terminal gets its own width.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console

PLAIN_WIDTH = 100


def make_console(*, no_color: bool = False, file: IO[str] | None = None,
                 width: int | None = None, record: bool = False) -> Console:
    console = Console(file=file, no_color=no_color, color_system=None if no_color else "auto",
                      highlight=False, emoji=False, width=width, record=record)
    if width is None and not console.is_terminal:
        console.width = PLAIN_WIDTH
    return console
