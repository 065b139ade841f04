"""The two table shapes every view uses: a titled table, and a grid of named fields."""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from functools import partial, wraps

from rich import box
from rich.cells import cell_len
from rich.measure import Measurement
from rich.table import Column, Table
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


def fixed_cells(cells, widths, gap: str = CELL_GAP) -> Text:
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
            line.append(gap)
        line.append_text(text)
    return line


@dataclass(frozen=True)
class Packed:
    """A titled table whose cells are one line each: when its columns fit the width, drawn
    with one cell per row (fixed_cells at the widths rich would give them, the same
    characters); else as the table itself. rich renders each cell through padding, wrapping
    and cropping: 200 cells for a 50-row listing of four columns, 50 packed."""

    table: Table

    def __rich_console__(self, console, options):
        yield self.packed(options.max_width) or self.table

    def __rich_measure__(self, console, options):
        return Measurement.get(console, options, self.table)

    def packed(self, max_width: int) -> Table | None:
        table = self.table
        top, right, bottom, left = table.padding
        plain = (table.box is box.SIMPLE_HEAD and table.show_edge and not table.pad_edge
                 and not top and not bottom and not table.collapse_padding
                 and not table.expand and table.width is None and table.min_width is None
                 and len(table.columns) > 1 and all(_plain(c) for c in table.columns))
        if not plain:
            return None
        cells = [[_text(cell) for cell in (column.header, *column.cells)]
                 for column in table.columns]
        texts = [[text for text in column if text is not None] for column in cells]
        if any(len(column) != len(table.rows) + 1 for column in texts):
            return None
        widths = [max(cell_len(text.plain) for text in column) for column in texts]
        gap = " " * (right + 1 + left)  # a cell's right padding, the divider, the left one
        width = sum(widths) + len(gap) * (len(widths) - 1)
        if width + 2 > max_width:  # the edges: rich would shrink or wrap columns
            return None
        packed = copy(table)
        packed.columns, packed.rows = [], []
        packed.add_column(fixed_cells([column[0] for column in texts], widths, gap),
                          width=width, no_wrap=True)
        for index, row in enumerate(table.rows):
            packed.add_row(fixed_cells([column[index + 1] for column in texts], widths, gap),
                           style=row.style, end_section=row.end_section)
        return packed


def _plain(column: Column) -> bool:
    return (column.width is None and column.min_width is None and column.max_width is None
            and not column.ratio and column.justify == "left" and not column.style
            and not column.header_style and not column.footer)


def _text(cell) -> Text | None:
    """A cell as rich would draw it, if it is one line: str cells without markup."""
    if isinstance(cell, str) and "[" not in cell:
        cell = Text(cell)
    if isinstance(cell, Text) and "\n" not in cell.plain and "\t" not in cell.plain:
        return cell
    return None


def fields(rows=()) -> Table:
    """Name / value lines, names in bold: the shape of !process, !thread, !devobj..."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value)
    return grid
