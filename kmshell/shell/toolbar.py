"""The bottom toolbar: the clock, each processor's IRQL, and whether the machine is halted.

It fits the terminal's width by shortening itself, field by field, never by cutting a word
(a terminal cuts the line at its edge): first the key hint goes, then the IRQL names (the
levels stay, one for each processor in order: `IRQL 2/0`, CPU0 at DISPATCH_LEVEL and CPU1
at PASSIVE_LEVEL; `IRQL 2 0` read as two numbers of one thing), the process count, the
processors, and last the bugcheck's name (its code stays).
"""

from __future__ import annotations

from collections.abc import Iterator

from prompt_toolkit.application import get_app_or_none
from prompt_toolkit.formatted_text import StyleAndTextTuples, fragment_list_width

from kmshell.views.theme import irql_label

SHOWN_CPUS = 8
HINTS = ("  Tab completes · help · Ctrl-D quits", "  help · Ctrl-D quits", "")


def toolbar_text(system, width: int | None = None) -> StyleAndTextTuples:
    """The longest toolbar that fits `width` columns (by default the shell's terminal's;
    outside the shell, the whole toolbar)."""
    if width is None:
        app = get_app_or_none()
        width = app.output.get_size().columns if app is not None else None
    for parts in _shortened(system):
        # one column spare: a line as wide as the terminal may wrap on some terminals
        if width is None or fragment_list_width(parts) < width:
            return parts
    return parts  # the shortest: what is left of it the terminal cuts


def _shortened(system) -> Iterator[StyleAndTextTuples]:
    for hint in HINTS:
        yield _toolbar(system, hint, names=True, processes=True, cpus=True, reason=True)
    yield _toolbar(system, "", names=False, processes=True, cpus=True, reason=True)
    yield _toolbar(system, "", names=False, processes=False, cpus=True, reason=True)
    yield _toolbar(system, "", names=False, processes=False, cpus=False, reason=True)
    yield _toolbar(system, "", names=False, processes=False, cpus=False, reason=False)


def _toolbar(system, hint: str, *, names: bool, processes: bool, cpus: bool,
             reason: bool) -> StyleAndTextTuples:
    parts: StyleAndTextTuples = [("class:toolbar", f" tick {system.core.tick} │ ")]
    shown = system.core.processors[:SHOWN_CPUS]
    hidden = len(system.core.processors) - SHOWN_CPUS
    if cpus and names:
        for cpu in shown:
            parts.append(("class:toolbar", f"CPU{cpu.number} {irql_label(cpu.irql)}  "))
    elif cpus:  # each processor's IRQL, in processor order
        parts.append(("class:toolbar", "IRQL " + "/".join(str(c.irql) for c in shown) + "  "))
    if cpus and hidden > 0:
        parts.append(("class:toolbar", f"+{hidden} more  "))
    if cpus:
        parts.append(("class:toolbar", "│ "))
    if processes:
        parts.append(("class:toolbar", f"{len(system.ps.live_processes())} processes │ "))
    if system.halted:
        info = system.core.bugcheck_info
        parts.append(("class:toolbar.halted",
                      f" HALTED 0x{info.code:X}{' ' + info.name if reason else ''} "))
    else:
        parts.append(("class:toolbar.running", " running "))
    if hint:
        parts.append(("class:toolbar", hint))
    return parts
