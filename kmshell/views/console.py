"""The one way to make a console: colour only where it helps, plain text everywhere else.

Colour is off with --no-color, with the NO_COLOR environment variable (rich honours it), and
when the output is not a terminal (a pipe or a file); FORCE_COLOR forces it on a pipe (which
keeps a pipe's width and loses its padding all the same), and TERM=dumb gives plain text.
The shell's prompt and toolbar follow the console (kmshell/shell/app.py).

Output that is not a terminal is laid out as wide as the COLUMNS environment variable says
(a positive whole number, as rich and most tools read it), else PLAIN_WIDTH columns wide, so
a transcript, a diff against it, or a grader's copy is the same on every machine unless
COLUMNS asks otherwise; a terminal gets its own width. Nor does it get the spaces rich pads
a table's cells with at the end of a line: a transcript, a diff or a grep would carry them.
"""

from __future__ import annotations

import os
import re
from typing import IO

from rich.console import Console

PLAIN_WIDTH = 100
# What a recording console keeps for `export`: the latest output, at most this many segments
# (a segment, a run of text in one style, holds about 130 bytes: 50,000 are some 6.5 MB, the
# last few hundred commands of a small machine, a few dozen big listings). A lab-long REPL
# session would otherwise keep all it printed, some 38 KB per command; 200,000 (26 MB) made
# the shell's memory after 10,000 commands 1.55 times that after 100 (benchmarks/bench_repl.py).
TRANSCRIPT_SEGMENTS = 50_000


# The end of a line: spaces, and with FORCE_COLOR on a pipe the style codes among them
LINE_END = re.compile(r"(?: |\x1b\[[0-9;]*m)+(?=\n)")
STYLE_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _without_trailing_spaces(text: str) -> str:
    """Each line's end without its spaces, keeping the style codes there (they close a
    style that a later line would otherwise inherit)."""
    return LINE_END.sub(lambda end: "".join(STYLE_CODE.findall(end.group())), text)


class _Console(Console):
    """rich's Console, whose recording (for `export`) keeps only the latest output, and
    which writes no spaces at the end of a line where the output is not a terminal."""

    def _render_buffer(self, buffer) -> str:
        # Every write goes through here (print, log, a live display's refresh).
        text = super()._render_buffer(buffer)
        return text if on_a_tty(self.file) else _without_trailing_spaces(text)

    def _write_buffer(self) -> None:
        super()._write_buffer()
        if self.record and len(self._record_buffer) > TRANSCRIPT_SEGMENTS:
            with self._record_buffer_lock:
                record = self._record_buffer
                cut = len(record) - TRANSCRIPT_SEGMENTS // 2  # half: trimmed now and then
                while cut < len(record) and not record[cut - 1].text.endswith("\n"):
                    cut += 1  # keep whole lines
                del record[:cut]


def make_console(*, no_color: bool = False, file: IO[str] | None = None,
                 width: int | None = None, record: bool = False) -> Console:
    # no_color=None, not False, unless --no-color: rich then honours NO_COLOR itself (False
    # would override it), as it honours FORCE_COLOR and TERM=dumb (https://no-color.org)
    console = _Console(file=file, no_color=True if no_color else None,
                       color_system=None if no_color else "auto", highlight=False, emoji=False,
                       width=width, record=record)
    if width is None and not on_a_tty(console.file):  # FORCE_COLOR makes rich think it is
        console.width = _columns() or PLAIN_WIDTH
    return console


def on_a_tty(file: IO[str]) -> bool:
    """Whether output really goes to a terminal: rich's is_terminal is also true for a pipe
    that FORCE_COLOR colours, which still wants the pipe's width and no padding, and no
    progress bar or pager."""
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _columns() -> int:
    """The width COLUMNS gives, 0 if it gives none (unset, empty, not a whole number)."""
    columns = os.environ.get("COLUMNS", "").strip()
    return int(columns) if re.fullmatch(r"[0-9]+", columns) else 0
