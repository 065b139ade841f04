"""`kmshell scenarios`: the bundled lessons, a name and a title each."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text


def scenario_list(entries: list[tuple[str, str]]) -> Group:
    """Each lesson's name, then its title, which wraps between words under its own first
    line (a hanging indent), at the width it is printed at."""
    lessons = Table.grid(padding=(0, 0, 0, 2), pad_edge=False)
    lessons.add_column(no_wrap=True)
    lessons.add_column()
    for name, title in entries:
        lessons.add_row(name, title)
    return Group(lessons, Text("\nreplay one with: kmshell run NAME (e.g. kmshell run 01)"))
