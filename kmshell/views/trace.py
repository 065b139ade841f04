"""The event trace: what ran, when, on which processor, at which IRQL, in which mode."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from kmshell.nt.events import Event
from kmshell.views.theme import COMPONENT_STYLE, MODE_NAME, MODE_STYLE, irql_label, irql_style


def trace_table(events: list[Event], *, explain: bool = False, limit: int | None = None) -> Table:
    """One row per event; in explain mode a `why` line follows each event that has one.

    With a limit, the middle of a long trace is folded into one line so the start (the
    cause) and the end (the result) both stay on screen.
    """
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("tick", justify="right")
    table.add_column("cpu", justify="right")
    table.add_column("irql")
    table.add_column("mode")
    table.add_column("who")
    table.add_column("event", overflow="fold")
    shown: list[Event | int] = list(events)
    if limit is not None and len(events) > limit:
        head, tail = limit * 2 // 3, limit // 3
        shown = [*events[:head], len(events) - head - tail, *events[-tail:]]
    for event in shown:
        if isinstance(event, int):
            table.add_row("", "", "", "", "", Text(f"… {event} more events (view full shows "
                                                   "them all)", style="dim"))
            continue
        table.add_row(
            str(event.tick),
            str(event.cpu),
            Text(irql_label(event.irql), style=irql_style(event.irql)),
            Text(MODE_NAME[event.mode], style=MODE_STYLE[event.mode]),
            Text(event.component, style=COMPONENT_STYLE.get(event.component, "bold")),
            event.text,
        )
        if explain and event.why:
            table.add_row("", "", "", "", "", Text(f"why: {event.why}", style="italic dim"))
    return table
