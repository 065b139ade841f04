"""Physical memory: the page lists as !vm counts them, and one frame as !pfn shows it."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from kmshell.nt.mm import is_kernel_address
from kmshell.nt.pfn import AVAILABLE_LISTS, USES, MmList
from kmshell.nt.pte import LEVELS, MM_READWRITE, PAGEFILE_HIGH_SHIFT, flags, form, frame_of
from kmshell.views.layout import deferred, fields, titled

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


@deferred
def memory_stats(system, per_process: bool = True) -> Group:
    """memory stats (!vm): the totals !vm prints that the model keeps, then every list, then
    the working sets (left out as !vm 1 leaves out the per-process figures)."""
    pfn = system.mm.pfn
    totals = fields([
        ("Physical Memory:", _pages(pfn.frames)),
        ("Available Pages:", _pages(pfn.available)),
        ("Modified Pages:", _pages(pfn.count(MmList.ModifiedPageList))),
        ("Committed pages:", _pages(system.mm.committed)),
        ("Commit limit:", _pages(system.mm.commit_limit)),
        ("Paging file used:", _pages(system.mm.paging_file.count(1))),
        ("Page faults:", ", ".join(f"{count} {kind}" for kind, count in
                                   system.mm.faults.items())),
    ])
    sets = titled("working sets", "process", "pages", "Kb")
    for process in system.ps.live_processes():
        space = process.address_space
        if space is not None and space.tables.working_set:
            size = len(space.tables.working_set)
            sets.add_row(f"{process.image} ({process.pid})", str(size), str(size * PAGE_KB))
    system_set = len(system.mm.system_tables.working_set)
    sets.add_row("system", str(system_set), str(system_set * PAGE_KB))
    if system.mm.pressure:
        held = len(system.mm.pressure)
        sets.add_row("memory pressure (locked)", str(held), str(held * PAGE_KB))
    table = titled("page lists and states (MMLISTS)", "value", "name", "pages", "Kb",
                   "available")
    for name in MmList:
        count = pfn.count(name)
        table.add_row(str(int(name)), name.name, str(count), str(count * PAGE_KB),
                      "yes" if name in AVAILABLE_LISTS else "")
    table.caption = ("available = zeroed + free + standby; the commit limit is memory plus "
                     f"the paging file ({system.mm.paging_file_pages * PAGE_KB // 1024} MB)")
    return Group(totals, table, sets) if per_process else Group(totals, table)


@deferred
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


@deferred
def pte_walk(system, address: int, process, steps) -> Group:
    """pte ADDRESS (!pte): each level's entry as the processor reads it — where it is (in
    the self-map), what it contains, the frame it names and !pte's flag letters — then what
    the last one means."""
    owner = "system space, the same in every process" if process is None or \
        is_kernel_address(address) else f"{process.image} (PID {process.pid})"
    table = titled(f"VA {address:016x}: {owner}", "entry", "at", "contains", "pfn", "flags")
    for level, (at, contents, _) in enumerate(steps):
        valid = contents & 1
        table.add_row(LEVELS[level], f"{at:016X}", f"{contents:016X}",
                      f"{frame_of(contents):x}" if valid else "", flags(contents) if valid
                      else "not valid")
    return Group(table, Text(_meaning(steps, address)))


def _meaning(steps, address: int) -> str:
    level, (_, pte, _) = len(steps) - 1, steps[-1]
    if not pte & 1 and level < 3:
        return (f"The {LEVELS[level]} is not valid: no page table below it exists yet. The "
                "first touch of a committed page here makes one (from the zeroed list).")
    kind = form(pte)
    if kind == "valid":
        frame = frame_of(pte)
        return (f"valid: {address:#x} is in frame {frame:#x}, at physical address "
                f"{frame << 12 | address & 0xFFF:#x}.")
    if kind == "transition":
        return (f"not valid, Transition: the page is still in frame {frame_of(pte):#x}, on a "
                "standby or modified list; a touch takes it back at once (a soft fault).")
    if kind == "paged out":
        return (f"not valid, in the paging file at page {(pte >> PAGEFILE_HIGH_SHIFT) - 1:#x} "
                "(PageFileHigh holds the page's offset plus one: 0 would mean no page): a "
                "touch reads it back (a hard fault).")
    if kind == "image":
        return ("not valid, Prototype: the page is in its image file (a driver's .sys, "
                "MI_PTE_LOOKUP_NEEDED in ProtoAddress); a touch reads it back from the file "
                "(a hard fault).")
    if kind == "demand zero":
        return f"not valid, DemandZero (Protect: {MM_READWRITE} - ReadWrite)."
    return ("not valid, zero: nothing here yet. Where a committed region covers the address, "
            "the first touch takes a zeroed page (a demand-zero fault); elsewhere it is an "
            "access violation.")
