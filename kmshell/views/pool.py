"""The pool by tag, as !poolused shows it: who holds how much, and what has been damaged."""

from __future__ import annotations

from fnmatch import fnmatchcase

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.nt.events import ptr
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


# !poolused's flags (Debugger Reference, "!poolused"): bit 0 verbose, bit 1 sort by
# nonpaged use, bit 2 by paged use, bit 3 the session pool.
POOLUSED_VERBOSE, POOLUSED_NONPAGED, POOLUSED_PAGED, POOLUSED_SESSION = 0x1, 0x2, 0x4, 0x8


@deferred
def poolused_table(system, flags: int = 0, tag: str | None = None) -> Group:
    """`!poolused FLAGS TAG` in WinDbg's columns: per tag, allocations and bytes in nonpaged
    and in paged pool, and the driver (WinDbg's "Binary:"); the damage kmshell knows of."""
    by_tag: dict[str, list] = {}
    for block in system.mm.pool:
        if block.freed or (tag is not None and not fnmatchcase(block.tag, tag)):
            continue
        row = by_tag.setdefault(block.tag, [0, 0, 0, 0, set(), [], ""])
        row[2 if block.paged else 0] += 1
        row[3 if block.paged else 1] += block.size
        row[4].add(block.driver)
        row[5].append(block.address)
        if block.overwritten_by:
            row[6] = f"header overwritten by {block.overwritten_by}"
    order = "Tag"
    items = sorted(by_tag.items())
    if flags & POOLUSED_NONPAGED:
        order, items = "NonPaged Pool Consumed", sorted(items, key=lambda i: -i[1][1])
    elif flags & POOLUSED_PAGED:
        order, items = "Paged Pool Consumed", sorted(items, key=lambda i: -i[1][3])
    table = titled(f"Sorting by {order}", "Tag")
    for column in ("NonPaged Allocs", "NonPaged Used", "Paged Allocs", "Paged Used"):
        table.add_column(column, justify="right")
    table.add_column("driver", overflow="fold")  # WinDbg: "Binary:", from pooltag.txt
    if flags & POOLUSED_VERBOSE:
        table.add_column("blocks", no_wrap=True, min_width=17)  # an address a line
    for name, (np_count, np_bytes, p_count, p_bytes, drivers, addresses, damage) in \
            capped(table, items, "name a tag: !poolused 0 TAG"):
        cells = [name, str(np_count), str(np_bytes), str(p_count), str(p_bytes),
                 Text(", ".join(sorted(drivers)) + (f" — {damage}" if damage else ""),
                      style="red" if damage else "")]
        if flags & POOLUSED_VERBOSE:
            cells.append("\n".join([ptr(a) for a in addresses[:4]]
                                    + ([f"… {len(addresses)} in all"] if len(addresses) > 4
                                       else [])))
        table.add_row(*cells)
    if not items:
        table.caption = f"no pool in use tagged {tag}" if tag else "no driver holds pool"
        table.caption_justify = "left"
    parts: list = [table]
    if flags & POOLUSED_SESSION:
        parts.append(Text("bit 3 (0x8), the session pool: not modelled; the standard pool "
                          "is shown", style="dim"))
    return Group(*parts)
