"""The pool: pool, and WinDbg's !poolused [FLAGS [TAG]]."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import TEXT, Arg, number
from kmshell.views.pool import POOLUSED_NONPAGED, POOLUSED_PAGED, pool_table, poolused_table


@command("pool", "pool in use by tag and driver, and any block whose header was overwritten",
         when_halted=True,
         details="Drivers allocate with ExAllocatePool2 (a four-character tag) and free with "
                 "ExFreePoolWithTag; every driver shares the same pool.", component="Mm")
def pool(session, cmd):
    return [pool_table(session.system)]


@command("!poolused", "WinDbg's !poolused: pool use by tag, nonpaged and paged",
         args=(Arg("flags", number(0, 0xF, "FLAGS", "WinDbg's !poolused flags"),
                   "bit 0 (0x1) verbose (each tag's blocks), bit 1 (0x2) sort by nonpaged "
                   "use, bit 2 (0x4) sort by paged use, bit 3 (0x8) the session pool",
                   optional=True, default=0),
               Arg("tag", TEXT, "a pool tag, case-sensitive; * and ? match any characters "
                   "and one", optional=True)),
         details="As in WinDbg, FLAGS is hex and defaults to 0 (sorted by tag); bits 1 and 2 "
                 "cannot be used together; a TAG without * is exactly four characters. The "
                 "session pool (bit 3) is not modelled: the standard pool is shown.",
         when_halted=True, examples=("!poolused", "!poolused 2", "!poolused 1 Tidy",
                                     "!poolused 0 T*"),
         component="Mm")
def bang_poolused(session, cmd):
    flags, tag = cmd["flags"], cmd["tag"]
    if flags & POOLUSED_NONPAGED and flags & POOLUSED_PAGED:
        raise KmsError(f"FLAGS {flags:#x}: bits 1 (0x2) and 2 (0x4) cannot be used together",
                       col=cmd.col("flags"), hint="2 sorts by nonpaged use, 4 by paged use")
    if tag is not None and "*" not in tag and len(tag) != 4:
        raise KmsError(f"TAG '{tag}' is {len(tag)} characters: a pool tag is four, unless "
                       "* stands for some", col=cmd.col("tag"), hint="e.g. Tidy, or T*")
    return [poolused_table(session.system, flags, tag)]
