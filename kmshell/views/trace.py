"""The event trace: what ran, when, on which processor, at which IRQL, in which mode."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from kmshell.nt.core import TRACE_KEEP
from kmshell.nt.events import Event
from kmshell.views.theme import COMPONENT_STYLE, MODE_NAME, MODE_STYLE, irql_label, irql_style

NARROW = 90  # below this width the trace puts each event's text on its own lines
# The irql and mode columns are as wide as their widest label (`2 DISPATCH`, `kernel`)
# whatever a trace holds, so that consecutive traces line up.
IRQL_WIDTH = max(len(irql_label(level)) for level in range(16))
MODE_WIDTH = max(map(len, MODE_NAME.values()))


class Trace:
    """The event trace, laid out for the width it is printed at: a table on a normal
    terminal, and on a narrow one a heading line per event with its text indented below."""

    def __init__(self, events: list[Event], *, explain: bool = False, limit: int | None = None,
                 dropped: int = 0):
        self.events, self.explain, self.limit = events, explain, limit
        self.dropped = dropped  # this command's earliest events, gone from the bounded trace

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width >= NARROW:
            yield trace_table(self.events, explain=self.explain, limit=self.limit,
                              dropped=self.dropped)
            return
        if self.dropped:
            yield Text(dropped_note(self.dropped), style="dim")
        for event in _fold_middle(self.events, self.limit):
            if isinstance(event, int):
                yield Text(fold_note(event, self.dropped), style="dim")
                continue
            head = Text(f"t{event.tick} cpu{event.cpu} ")
            head.append(irql_label(event.irql), style=irql_style(event.irql))
            head.append(" ")
            head.append(MODE_NAME[event.mode], style=MODE_STYLE[event.mode])
            head.append(" ")
            head.append(event.component, style=COMPONENT_STYLE.get(event.component, "bold"))
            yield head
            yield Padding(Text(event.text), (0, 0, 0, 2), expand=False)
            if self.explain and event.why:
                yield Padding(Text(f"why: {event.why}", style="italic dim"), (0, 0, 0, 2),
                              expand=False)


def _fold_middle(events: list[Event], limit: int | None) -> list[Event | int]:
    """With a limit, keep the start (the cause) and the end (the result) of a long trace and
    replace the middle with the count of events left out."""
    if limit is None or len(events) <= limit:
        return list(events)
    head, tail = limit * 2 // 3, limit // 3
    return [*events[:head], len(events) - head - tail, *events[-tail:]]


def dropped_note(dropped: int) -> str:
    """Above a trace whose first events the bounded log has let go of."""
    return (f"… {dropped} earlier events of this command are gone: the trace keeps only the "
            f"latest {TRACE_KEEP} to {2 * TRACE_KEEP}")


def fold_note(count: int, dropped: int) -> str:
    """In place of the middle of a long trace (view auto)."""
    return f"… {count} more events (view full shows them" + \
        (")" if dropped else " all)")


def trace_table(events: list[Event], *, explain: bool = False, limit: int | None = None,
                dropped: int = 0) -> Table:
    """One row per event; in explain mode a `why` line follows each event that has one;
    `dropped`: how many of the command's first events the bounded trace no longer has."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("tick", justify="right")
    table.add_column("cpu", justify="right")
    table.add_column("irql", min_width=IRQL_WIDTH)
    table.add_column("mode", min_width=MODE_WIDTH)
    table.add_column("who")
    table.add_column("event", overflow="fold")
    if dropped:
        table.add_row("", "", "", "", "", Text(dropped_note(dropped), style="dim"))
    for event in _fold_middle(events, limit):
        if isinstance(event, int):
            table.add_row("", "", "", "", "", Text(fold_note(event, dropped), style="dim"))
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
