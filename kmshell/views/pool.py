"""The pool by tag, as !poolused shows it: who holds how much, and what has been damaged."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from kmshell.views.layout import capped, deferred, titled


@deferred
def pool_table(system) -> Table:
    table = titled("pool in use, by tag", "tag", "driver", "type", "blocks", "bytes", "note")
    rows: dict[tuple[str, str, str], list] = {}
    for block in system.mm.pool:
        if not block.freed:
            kind = f"{block.kind}, special pool" if block.special else block.kind
            row = rows.setdefault((block.tag, block.driver, kind), [0, 0, Text("")])
            row[0] += 1
            row[1] += block.size
            if block.overwritten_by:
                row[2] = Text(f"header overwritten by {block.overwritten_by}", style="red")
            elif block.text and row[0] == 1:
                row[2] = Text(f"holds '{block.text}'" + (" — past its end" if block.overrun
                                                         else ""),
                              style="red" if block.overrun else "")
    for (tag, driver, kind), (count, size, note) in capped(table, sorted(rows.items()),
                                                            "the rest are left out"):
        table.add_row(tag, driver, kind, str(count), str(size), note)
    if not rows:
        table.caption = "no driver holds pool"
    return table
