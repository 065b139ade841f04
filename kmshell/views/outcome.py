"""What is printed after a line: its trace, the views of what changed, an error, a bugcheck."""

from __future__ import annotations

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.errors import KmsError
from kmshell.nt.rtl import printable
from kmshell.views.ke import bugcheck_screen
from kmshell.views.layout import Indented, Legend, hanging
from kmshell.views.trace import Trace

AUTO_TRACE_LIMIT = 60  # in view auto, longer traces are folded in the middle
USAGE_FIELD = re.compile(r"\[[^\]]*\]|\S+")  # `IMAGE`, `[--parent P]`: kept on one line
LIST_ITEM = re.compile(r"(?<=[,;]) ")  # `use GA GR GW GX, FA FR FW FX, …`
GROUP_WIDTH = 20  # a list's item this short (`FA FR FW FX,`) is kept on one line


def _units(text: str) -> list[str]:
    """What a line of an error breaks between: the short items of a list whole, the words of
    anything longer (prose, which a comma does not end a line for)."""
    return [unit for item in LIST_ITEM.split(text)
            for unit in ([item] if len(item) <= GROUP_WIDTH else item.split(" "))]


def source_line(line: str, col: int) -> str:
    """The line as typed, its control characters escaped, and a caret under column `col`
    (which moves with the escapes); each indented two spaces."""
    caret = len(printable(line[:col - 1]))
    return f"  {printable(line.rstrip())}\n  {' ' * caret}^"


def error_text(error: KmsError, line: str | None = None, where: str = "") -> Group:
    """`error: …`, the line with a caret under the column at fault, then hint and usage: the
    message and the hint break between words, never inside a short item of a list (`GA GR
    GW GX, FA FR FW FX`), the hint goes on under its first word, the usage under its first
    field, whole fields a line."""
    parts: list = [Legend(_units(error.message), separator=" ", style="",
                          lead=f"{where}{': ' if where else ''}error: ",
                          lead_style="bold red")]
    if line is not None and error.col is not None:
        parts.append(Indented(Text(source_line(line, error.col), style="dim")))
    for hint in error.hint.splitlines():
        parts.append(hanging(Text("  "), Legend(_units(hint), separator=" ",
                                                 style="")))
    if error.usage:
        parts.append(usage_line(error.usage, "  usage: "))
    return Group(*parts)


def usage_line(usage: str, label: str = "usage: ") -> Table:
    """A command's usage that wraps under its first field, whole fields a line."""
    return hanging(Text(label, style="bold"),
                   Legend(USAGE_FIELD.findall(usage), separator=" ", style="bold"))


def render_outcome(outcome, settings) -> list:
    """The renderables for one line's outcome, under the session's view and explain settings."""
    parts: list = []
    quiet = settings.view == "quiet"
    if outcome.events and not quiet:
        limit = None if settings.view == "full" else AUTO_TRACE_LIMIT
        parts.append(Trace(outcome.events, explain=settings.explain, limit=limit,
                           dropped=outcome.dropped))
    elif outcome.events and quiet and outcome.ok:
        parts.append(Text(outcome.events[-1].text, style="dim"))
    if outcome.bugcheck is not None:
        parts.append(bugcheck_screen(outcome.bugcheck))
    elif not quiet or not outcome.events:
        parts.extend(outcome.views)
    if outcome.interrupted:
        parts.append(Text(f"^C {outcome.interrupted}; undo takes the command back",
                          style="bold yellow"))
    if outcome.warning:
        parts.append(Text(outcome.warning, style="bold red"))
    if outcome.error is not None:
        parts.append(error_text(outcome.error, outcome.line))
    return parts
