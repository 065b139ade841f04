"""The two table shapes every view uses: a titled table, and a grid of named fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, wraps

from rich import box
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Deferred:
    """A view that rich builds when it renders it (`__rich__`). Every line's outcome is
    rendered as soon as it has run, so the view shows the same state; a line run headless
    (`kmshell check`, `--json`, undo's replay, `load`) never pays for building it."""

    build: Callable

    def __rich__(self):
        return self.build()


def deferred(view: Callable) -> Callable:
    """For the views that commands return: a decorated view function returns a Deferred."""
    @wraps(view)
    def later(*args, **kwargs) -> Deferred:
        return Deferred(partial(view, *args, **kwargs))
    return later


def titled(title: str, *columns: str, **options) -> Table:
    """A left-titled table with a rule under the header, as WinDbg-style listings look."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                  **options)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


LIST_LIMIT = 50  # rows a listing shows: about a screenful, what a student can read anyway


def capped(table: Table, items: list, narrow: str) -> list:
    """The first LIST_LIMIT items; when there are more, the table's caption says how many
    and how to narrow the listing (rendering ten thousand rows takes seconds)."""
    if len(items) > LIST_LIMIT:
        table.caption = f"the first {LIST_LIMIT} of {len(items):,}; {narrow}"
        table.caption_justify = "left"
    return items[:LIST_LIMIT]


CELL_GAP = "  "  # between two columns of a titled table with padding (0, 1, 0, 0)


def fixed_width(widths) -> int:
    """The width of the one column fixed_cells draws for columns of these widths."""
    return sum(widths) + len(CELL_GAP) * (len(widths) - 1)


def fixed_cells(cells, widths) -> Text:
    """Cells (str or Text) in columns of fixed widths, each cut with … as
    rich cuts a no_wrap cell: for a table whose first columns have fixed widths, one cell
    that rich renders once instead of a cell per column, the same characters: CELL_GAP
    apart, a cell's right padding and the box's divider (its width: fixed_width). A 50-row
    listing of 9 columns then renders in a fraction of the time."""
    line = Text()
    for number, (cell, width) in enumerate(zip(cells, widths)):
        text = cell.copy() if isinstance(cell, Text) else Text(cell)
        text.truncate(width, overflow="ellipsis", pad=True)
        if number:
            line.append(CELL_GAP)
        line.append_text(text)
    return line


def fields(rows=()) -> Table:
    """Name / value lines, names in bold: the shape of !process, !thread, !devobj..."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value)
    return grid
