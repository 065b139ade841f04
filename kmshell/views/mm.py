"""Physical memory: the page lists as !vm counts them, and one frame as !pfn shows it."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from kmshell.nt.pfn import AVAILABLE_LISTS, USES, MmList
from kmshell.views.layout import fields, titled

PAGE_KB = 4


def _pages(count: int) -> str:
    """!vm's form: pages, then kilobytes in parentheses (Debugger Reference, "!vm")."""
    return f"{count:>8} ({count * PAGE_KB:>8} Kb)"


def memory_row(system) -> str:
    """The `status` line: how much memory the machine has and how much is available."""
    pfn = system.mm.pfn
    available = pfn.available
    return (f"{system.mm.memory_mb} MB, {available * PAGE_KB // 1024} MB available "
            f"({available} of {pfn.frames} pages)")


def memory_stats(system) -> Group:
    """memory stats (!vm): the totals !vm prints that the model keeps, then every list."""
    pfn = system.mm.pfn
    totals = fields([
        ("Physical Memory:", _pages(pfn.frames)),
        ("Available Pages:", _pages(pfn.available)),
        ("Modified Pages:", _pages(pfn.count(MmList.ModifiedPageList))),
    ])
    table = titled("page lists and states (MMLISTS)", "value", "name", "pages", "Kb",
                   "available")
    for name in MmList:
        count = pfn.count(name)
        table.add_row(str(int(name)), name.name, str(count), str(count * PAGE_KB),
                      "yes" if name in AVAILABLE_LISTS else "")
    table.caption = ("available = zeroed + free + standby; no paging file, commit or working "
                     "sets are modelled yet")
    return Group(totals, table)


def pfn_entry(system, frame: int) -> Group:
    """pfn N (!pfn): the entry in WinDbg's layout (its pteaddress moved to the second line,
    so that an x64 address fits 80 columns), then what the model knows of it."""
    pfn = system.mm.pfn
    location = MmList(pfn.location[frame])
    listed = location < MmList.ActiveAndValid
    # On a list, u1/u2 hold the links; off one, u2 is the share count (Debugger Reference,
    # "!pfn": "blink / share count").
    flink = max(pfn.flink[frame], 0) if listed else 0
    second = max(pfn.blink[frame], 0) if listed else pfn.share[frame]
    text = Text(
        f"    PFN {frame:08X}\n"
        f"    flink       {flink:08X}  blink / share count {second:08X}\n"
        f"    pteaddress {pfn.pte[frame]:016X}  reference count {pfn.refs[frame]:04X}\n"
        f"    {_state(location)}")
    owner = pfn.owner[frame]
    process = system.ps.processes.get(owner) if owner else None
    about = fields([
        ("list / state", f"{location.name} ({int(location)})"),
        ("physical address", f"{frame * 0x1000:#x}"),
        ("holds", "nothing (it is on a list)" if listed else USES.get(pfn.use[frame], "?")),
        ("owner", "-" if listed else "the system" if not owner
         else f"{process.image} (PID {owner})" if process else f"PID {owner}"),
    ])
    return Group(text, about)


def _state(location: MmList) -> str:
    """The page's location as the last line of !pfn names it: "Active" is the Debugger
    Reference's sample; for the others the model shortens the MMLISTS name the same way."""
    return "Active" if location is MmList.ActiveAndValid else location.name.removesuffix("PageList")
