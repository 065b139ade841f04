"""Physical memory: memory stats (WinDbg's !vm) and pfn (!pfn)."""

from __future__ import annotations

from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import NUMBER, Arg
from kmshell.views.mm import memory_stats, pfn_entry


@command("memory stats", "physical memory as !vm counts it: the page lists, total and available",
         aliases=("!vm",),
         details="Every 4 KB page frame is on one list (zeroed, free, standby, modified, ...) or "
                 "in use (ActiveAndValid). Available pages are the zeroed, free and standby "
                 "ones. Set the machine's size with boot --memory MB.",
         when_halted=True, examples=("memory stats", "!vm"), component="Mm")
def stats(session, cmd):
    return [memory_stats(session.system)]


@command("pfn", "one page frame's PFN database entry, as !pfn shows it: its list, counts, owner",
         args=(Arg("n", NUMBER, "a page frame number (in !pfn, hex as in WinDbg)"),),
         aliases=("!pfn",),
         details="A process's page directory is a frame: its number is the process's CR3 "
                 "(DirBase) divided by 0x1000.",
         when_halted=True, examples=("pfn 0x1ad", "!pfn 1ad"), component="Mm")
def pfn(session, cmd):
    frames = session.system.mm.pfn.frames
    if cmd["n"] >= frames:
        raise KmsError(f"no page frame {cmd['n']:#x}: this machine has frames 0x0.."
                       f"{frames - 1:#x} ({session.system.mm.memory_mb} MB)", col=cmd.col("n"))
    return [pfn_entry(session.system, cmd["n"])]
