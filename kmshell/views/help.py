"""Help, generated from the command table so it cannot drift from what the parser accepts."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.language.spec import COMPONENTS, CommandSpec, CommandTable, with_choices
from kmshell.views.layout import LIST_LIMIT, Indented, Packed, deferred, fields, titled
from kmshell.views.outcome import usage_line

HELP_HINT = "help WORD: one command, noun or component (help Ps) · help all: every command"


def help_groups(table: CommandTable) -> dict[str, list[CommandSpec]]:
    """The commands of each component that has any, in the order of COMPONENTS: each command
    is in the one its @command names."""
    groups: dict[str, list[CommandSpec]] = {name: [] for name in COMPONENTS}
    for spec in table.specs:
        groups[spec.component].append(spec)
    return {name: specs for name, specs in groups.items() if specs}


def group_words(table: CommandTable, specs: list[CommandSpec]) -> list[str]:
    """What a group's line names: each noun once, and each one-word command. A noun whose
    commands are split between components (driver, device) names its verbs in each:
    `device tree|plug|unplug`."""
    nouns = table.nouns()
    words: dict[str, None] = {}
    for spec in specs:
        if " " not in spec.name:
            words[spec.name] = None
            continue
        here = [s.name.split(" ", 1)[1] for s in nouns[spec.noun] if s.component == spec.component]
        split = len(here) < len(nouns[spec.noun])
        words[f"{spec.noun} {'|'.join(here)}" if split else spec.noun] = None
    return list(words)


@deferred
def help_by_component(table: CommandTable) -> Group:
    """`help`: one line per component listing its commands' words, fitting a 24-line
    terminal at 80 columns (tests/shell/test_help_screen.py)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for name, specs in help_groups(table).items():
        grid.add_row(name, "  ".join(group_words(table, specs)))
    return Group(Text("commands by NT component", style="bold"), grid,
                 Text(HELP_HINT, style="table.caption"))


@deferred
def help_component(table: CommandTable, name: str) -> Table:
    """`help Ps`: a component's commands and what each does."""
    grid = titled(f"{name} — {COMPONENTS[name]}")
    grid.add_column("command", style="bold", no_wrap=True)
    grid.add_column("what it does", overflow="fold")
    for spec in help_groups(table).get(name, []):
        grid.add_row(_name(spec), spec.help)
    return grid


def _name(spec: CommandSpec) -> str:
    return spec.name + (f"  ({', '.join(spec.aliases)})" if spec.aliases else "")


@dataclass(frozen=True)
class HelpOverview:
    """`help all`: every command and what it does, laid out for the width it is drawn at. The
    command table never changes, so what rich draws is kept for the next help at that width
    (the first takes some 20 ms, 126 lines)."""

    table: CommandTable

    def __rich_console__(self, console, options):
        key = (id(self.table), options.max_width, options.encoding, options.legacy_windows,
               console.color_system, console.no_color)
        if key not in _DRAWN:
            _DRAWN[key] = list(console.render(help_overview(self.table, options.max_width),
                                              options))
        yield from _DRAWN[key]


_DRAWN: dict[tuple, list] = {}  # a few entries: one per width the terminal has had


def help_overview(table: CommandTable, max_width: int | None = None) -> Table:
    """Given the width, the columns get the widths rich would measure (the command as long
    as the longest, the text the rest), so rich measures no cell: 110 rows render a third
    faster."""
    names = [_name(spec) for spec in table.specs]
    grid = titled("commands (help CMD for one)")
    command = max(map(cell_len, [*names, "command"]))
    text = max(map(cell_len, [*(spec.help for spec in table.specs), "what it does"]))
    text = min(text, max_width - command - 5) if max_width else text  # edges, pads, divider
    fixed = max_width is not None and text >= MIN_TEXT
    grid.add_column("command", style="bold", no_wrap=True, width=command if fixed else None)
    grid.add_column("what it does", overflow="fold", width=text if fixed else None)
    for name, spec in zip(names, table.specs):
        grid.add_row(name, spec.help)
    return grid


MIN_TEXT = 20  # narrower than this, rich lays the help out as it can


@deferred
def help_detail(spec: CommandSpec) -> Group:
    parts: list = [usage_line(spec.usage), Text(spec.help)]
    if spec.details:  # its indented lines (a list of steps) wrap under their indent
        parts.append(Indented(Text(spec.details)))
    if spec.aliases:
        parts.append(Text("aliases: " + ", ".join(spec.aliases)))
    if spec.args or spec.options:
        grid = fields()
        for arg in spec.args:
            grid.add_row(arg.usage, with_choices(arg, arg.help))
        for option in spec.options:
            default = "" if option.default in (None, False) else f" (default {option.default})"
            grid.add_row(option.usage.strip("[]"), with_choices(option, option.help + default))
        parts.append(grid)
    if spec.examples:
        parts.append(Text("examples:\n" + "\n".join(f"  {e}" for e in spec.examples)))
    return Group(*parts)


@deferred
def history_table(history: list, text: str | None = None,
                  start: int | None = None) -> Packed | Group | Text:
    """At most LIST_LIMIT commands: the latest, or those from command `start` on; with `text`,
    only the lines that contain it (any case). Rows are built for the shown ones only, so a
    session of 100,000 commands lists as fast as one of 100. When some are left out, a line
    under the table says how many and how to see them (as wide as the screen, not the
    table: a table of short commands is narrow)."""
    found = history if text is None else [e for e in history if text.lower() in e.line.lower()]
    first = max(0, len(found) - LIST_LIMIT) if start is None else \
        bisect_left(found, start, key=lambda entry: entry.number)
    end = min(first + LIST_LIMIT, len(found))
    which = f" containing '{text}'" if text is not None else ""
    if first == end:
        return Text(f"no command{which}" + (f" from {start} on" if start else ""))
    table = titled("history", "#", "tick", "command", "")
    for entry in found[first:end]:
        table.add_row(str(entry.number), str(entry.tick), entry.line,
                      "" if entry.ok else "failed")
    if end - first == len(found):
        return Packed(table)
    left = f"({len(found) - end + first:,} left out)"
    if end == len(found):
        note = (f"the latest {end - first} of {len(found):,}{which} {left}; "
                + (f"history {text} --from N pages" if text is not None else
                   "history --from N or history TEXT narrows"))
    else:
        note = (f"{found[first].number}–{found[end - 1].number} of {len(found):,}{which} "
                f"{left}; next: history --from {found[end].number}")
    return Group(Packed(table), Text(note, style="table.caption"))
