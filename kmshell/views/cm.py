"""Registry keys and CLFS logs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.nt.clfs import Log
from kmshell.nt.cm import Key, RegistryOperation
from kmshell.views.layout import deferred, titled


@deferred
def key_view(key: Key, pending: Sequence[RegistryOperation] = ()) -> Group:
    table = titled(key.path)
    for column in ("name", "type", "data"):
        table.add_column(column, overflow="fold")
    for sub in sorted(key.subkeys.values(), key=lambda k: k.name.upper()):
        table.add_row(Text(sub.name + "\\", style="bold"), "key", f"{len(sub.subkeys)} subkeys, "
                      f"{len(sub.values)} values")
    for value in sorted(key.values.values(), key=lambda v: v.name.upper()):
        table.add_row(value.name or "(Default)", value.type, value.show())
    parts: list = [table]
    if pending:
        parts.append(Text("in the open transaction, not yet visible to others:\n"
                          + "\n".join(f"  {op}" for op in pending), style="yellow"))
    return Group(*parts)


@deferred
def log_view(log: Log) -> Table:
    table = titled(f"log {log.name}")
    for column in ("LSN", "record", "on disk"):
        table.add_column(column)
    for record in log.records:
        table.add_row(str(record.lsn), record.text,
                      Text("flushed", style="green") if record.flushed
                      else Text("in memory only", style="yellow"))
    return table
