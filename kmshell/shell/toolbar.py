"""The bottom toolbar: the clock, each processor's IRQL, and whether the machine is halted."""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples

from kmshell.views.theme import irql_label

SHOWN_CPUS = 8


def toolbar_text(system) -> StyleAndTextTuples:
    parts: StyleAndTextTuples = [("class:toolbar", f" tick {system.core.tick} │ ")]
    for cpu in system.core.processors[:SHOWN_CPUS]:
        parts.append(("class:toolbar", f"CPU{cpu.number} {irql_label(cpu.irql)}  "))
    hidden = len(system.core.processors) - SHOWN_CPUS
    if hidden > 0:
        parts.append(("class:toolbar", f"+{hidden} more  "))
    processes = len(system.ps.live_processes())
    parts.append(("class:toolbar", f"│ {processes} processes │ "))
    if system.halted:
        info = system.core.bugcheck_info
        parts.append(("class:toolbar.halted", f" HALTED 0x{info.code:X} {info.name} "))
    else:
        parts.append(("class:toolbar.running", " running "))
    parts.append(("class:toolbar", "  Tab completes · help · Ctrl-D quits"))
    return parts
