"""Help, generated from the command table so it cannot drift from what the parser accepts."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.language.spec import CommandSpec, CommandTable
from kmshell.views.layout import deferred, fields, titled


@deferred
def help_overview(table: CommandTable) -> Table:
    grid = titled("commands (help CMD for one)")
    grid.add_column("command", style="bold", no_wrap=True)
    grid.add_column("what it does", overflow="fold")
    for spec in table.specs:
        name = spec.name + (f"  ({', '.join(spec.aliases)})" if spec.aliases else "")
        grid.add_row(name, spec.help)
    return grid


@deferred
def help_detail(spec: CommandSpec) -> Group:
    parts: list = [Text(f"usage: {spec.usage}", style="bold"), Text(spec.help)]
    if spec.details:
        parts.append(Text(spec.details))
    if spec.aliases:
        parts.append(Text("aliases: " + ", ".join(spec.aliases)))
    if spec.args or spec.options:
        grid = fields()
        for arg in spec.args:
            grid.add_row(arg.usage, arg.help)
        for option in spec.options:
            default = "" if option.default in (None, False) else f" (default {option.default})"
            grid.add_row(option.usage.strip("[]"), option.help + default)
        parts.append(grid)
    if spec.examples:
        parts.append(Text("examples:\n" + "\n".join(f"  {e}" for e in spec.examples)))
    return Group(*parts)


@deferred
def history_table(history) -> Table:
    table = titled("history", "#", "tick", "command", "")
    for entry in history:
        table.add_row(str(entry.number), str(entry.tick), entry.line,
                      "" if entry.ok else "failed")
    return table
