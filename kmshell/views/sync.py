"""Locks and shared variables: lock list, var list."""

from __future__ import annotations

from rich.table import Table

from kmshell.views.layout import deferred, titled


@deferred
def locks_table(system) -> Table:
    table = titled("locks")
    for column in ("name", "kind", "owner", "waiters / spins"):
        table.add_column(column)
    for lock in system.ke.spin_locks.values():
        table.add_row(lock.name, "spin lock", lock.holder or "free",
                      f"{lock.spins} tick(s) spun")
    for obj in system.ob.lookup("\\BaseNamedObjects").children():
        if obj.header.type_name == "Mutant":
            table.add_row(obj.header.name, "mutex", obj.owner.label if obj.owner else "free",
                          ", ".join(t.label for t in obj.waiters) or "none")
        elif obj.header.type_name == "Semaphore":
            table.add_row(obj.header.name, "semaphore", f"{obj.signal_state} of {obj.limit} free",
                          ", ".join(t.label for t in obj.waiters) or "none")
    return table


@deferred
def variables_table(system) -> Table:
    table = titled("shared variables")
    for column in ("name", "value", "stores", "lost updates"):
        table.add_column(column)
    for var in system.ke.variables.values():
        table.add_row(var.name, str(var.value), str(var.version), str(var.lost_updates))
    return table
