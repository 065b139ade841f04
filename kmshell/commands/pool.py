"""The pool: pool (!poolused)."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.views.pool import pool_table


@command("pool", "pool in use by tag and driver, and any block whose header was overwritten",
         aliases=("!poolused",), when_halted=True,
         details="Drivers allocate with ExAllocatePool2 (a four-character tag) and free with "
                 "ExFreePoolWithTag; every driver shares the same pool.", component="Mm")
def pool(session, cmd):
    return [pool_table(session.system)]
