"""The two table shapes every view uses: a titled table, and a grid of named fields; and how
a view fits the width it is printed at (80 columns is the narrowest we lay out for).

A word is never broken across two lines: a title, caption or legend wraps at the console's
width between words (rich would wrap it to the table's own width, one word a line under a
narrow table), a legend between its entries, and a table too wide for its words drops or
stacks columns (Fitted) instead of folding them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from copy import copy
from dataclasses import dataclass
from functools import partial, wraps

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.rule import Rule
from rich.style import Style
from rich.table import Column, Table
from rich.text import Text, TextType


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


@dataclass(frozen=True)
class Legend:
    """Entries of a legend or a footer (`176 = notepad.exe (prio 8)`), wrapped at the width
    they are printed in between two entries, never inside one (an entry wider than a line
    wraps at its spaces)."""

    entries: Sequence[str]
    separator: str = "  "
    lead: str = ""  # before the first entry: `ready: `
    style: str = "table.caption"
    lead_style: str = ""  # the lead's own, over style: `error: ` in bold red

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines, line = [], self.lead
        for number, entry in enumerate(self.entries):
            joined = line + (self.separator if number else "") + entry
            if number and cell_len(joined) > options.max_width:
                lines.append(line + self.separator.rstrip())
                joined = entry
            line = joined
        text = Text("\n".join([*lines, line]), style=self.style)
        text.stylize(self.lead_style, 0, len(self.lead))
        yield text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((cell_len(entry) for entry in self.entries), default=0)
        return Measurement(widest, cell_len(self.lead) + cell_len(
            self.separator.join(self.entries)))


class Titled(Table):
    """A table whose title, caption and legend (a Legend under the caption) wrap at the
    width the table is printed in, between words. rich wraps a title to the table's own
    width: under a narrow table, one word a line. One that fits the table is laid out as
    rich would (a centred caption centred under the table)."""

    legend: Legend | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not (self.title or self.caption or self.legend):
            yield from super().__rich_console__(console, options)
            return
        body = copy(self)
        body.title = body.caption = body.legend = None
        segments = list(console.render(body, options))
        width = 0  # the table's: its first line's
        for segment in segments:
            if "\n" in segment.text:
                width += cell_len(segment.text.split("\n")[0])
                break
            width += segment.cell_length
        if self.title:
            yield from self._annotation(console, options, width, self.title,
                                        Style.pick_first(self.title_style, "table.title"),
                                        self.title_justify)
        yield from segments
        if self.caption:
            yield from self._annotation(console, options, width, self.caption,
                                        Style.pick_first(self.caption_style, "table.caption"),
                                        self.caption_justify)
        if self.legend:
            yield from console.render(self.legend, options)

    @staticmethod
    def _annotation(console: Console, options: ConsoleOptions, width: int, text: TextType,
                    style, justify) -> RenderResult:
        shown = console.render_str(text, style=style, highlight=False) \
            if isinstance(text, str) else text
        if cell_len(shown.plain) > width:  # wider than the table: from its left edge
            width, justify = options.max_width, "left"
        yield from console.render(shown, options.update(width=width, justify=justify))


def titled(title: str, *columns: str, **options) -> Titled:
    """A left-titled table with a rule under the header, as WinDbg-style listings look."""
    table = Titled(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
                   **options)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


@dataclass(frozen=True)
class Heading:
    """A title on a rule (`─── title ───`, a scenario's first line) when it fits on the line
    with a rule character and a space each side; a longer one wrapped between words above a
    plain rule, where rich's Rule would cut it short with "…"."""

    title: Text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if cell_len(self.title.plain) + 4 <= options.max_width:  # Rule's centred space
            yield Rule(self.title)
        else:
            yield self.title
            yield Rule()


@dataclass(frozen=True)
class Indented:
    """Lines of text, each wrapped at its own indent: a line that starts with spaces (a
    block's fields, `  hint`) goes on under its first word, where rich would wrap it to
    column 0."""

    text: Text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.text.split("\n", allow_blank=True):
            indent = len(line.plain) - len(line.plain.lstrip(" "))
            yield Padding(line[indent:], (0, 0, 0, indent), expand=False) if indent else line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.text)


def hanging(label: Text, body: RenderableType) -> Table:
    """A label and what follows it, which wraps under its own first line (`usage: …`)."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(label, body)
    return grid


@dataclass(frozen=True)
class ByWidth:
    """A view built for the width it is printed at: build(width) gives the renderable."""

    build: Callable[[int], RenderableType]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


@dataclass(frozen=True)
class Fitted:
    """A table laid out for the width it is printed at: the first of its layouts (each
    builds a table; the last is the narrowest) whose columns fit their longest words in
    that width, so that rich need not fold a word; with whole_lines, the first whose cells
    fit on one line each if one does. A layout drops or stacks columns. With packed, the
    table chosen is drawn as a Packed one (a long listing renders faster)."""

    layouts: Sequence[Callable[[], Table]]
    whole_lines: bool = False
    packed: bool = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.fitting(console, options)
        yield Packed(table) if self.packed else table

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.fitting(console, options))

    def fitting(self, console: Console, options: ConsoleOptions) -> Table:
        built: list[tuple[Table, Measurement]] = []
        for build in self.layouts:
            table = build()
            # unclamped, unlike Measurement.get: the sum of the columns' longest words (and
            # of their longest cells)
            built.append((table, table.__rich_measure__(console, options)))
            if built[-1][1].maximum <= options.max_width or (
                    not self.whole_lines and built[-1][1].minimum <= options.max_width):
                return table
        return next((table for table, needs in built if needs.minimum <= options.max_width),
                    built[-1][0])


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
