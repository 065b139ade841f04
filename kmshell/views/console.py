"""The one way to make a console: colour only where it helps, plain text everywhere else.

Colour is off with --no-color, with the NO_COLOR environment variable (rich honours it), and
when the output is not a terminal (a pipe or a file).
"""

from __future__ import annotations

from typing import IO

from rich.console import Console


def make_console(*, no_color: bool = False, file: IO[str] | None = None,
                 width: int | None = None, record: bool = False) -> Console:
    return Console(file=file, no_color=no_color, color_system=None if no_color else "auto",
                   highlight=False, emoji=False, width=width, record=record)
