"""Physical memory and translation: memory stats (WinDbg's !vm), pfn (!pfn), pte (!pte)."""

from __future__ import annotations

from kmshell.commands.names import current_thread, resolve_process
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import ADDRESS, NUMBER, PROCESS, Arg, Kind, number
from kmshell.nt.mm import is_kernel_address
from kmshell.nt.pte import is_canonical
from kmshell.nt.rtl import parse_number
from kmshell.views.mm import memory_stats, pfn_entry, pte_walk
from kmshell.views.ps import memory_map


@command("memory stats", "physical memory as !vm counts it: the page lists, total and available",
         args=(Arg("flags", NUMBER, "as !vm's: bit 0 (1) leaves out the per-process figures "
                   "(the working sets)", optional=True),),
         aliases=("!vm",),
         details="Every 4 KB page frame is on one list (zeroed, free, standby, modified, ...) or "
                 "in use (ActiveAndValid). Available pages are the zeroed, free and standby "
                 "ones. Set the machine's size with boot --memory MB.",
         when_halted=True, examples=("memory stats", "!vm", "!vm 1"), component="Mm")
def stats(session, cmd):
    return [memory_stats(session.system, not (cmd["flags"] or 0) & 1)]


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


@command("pte", "how an address translates: PML4E → PDPTE → PDE → PTE and the frame, as !pte",
         args=(Arg("address", ADDRESS, "a virtual address (in !pte, hex as in WinDbg)"),
               Arg("p", PROCESS, "whose user half (default: the process current on CPU 0)",
                   optional=True)),
         aliases=("!pte",),
         details="Each level's entry is shown at its address in the self-map (PXE, PPE, PDE, "
                 "PTE) with what it contains. A user address translates through one "
                 "process's page tables; a kernel address through the tables every process "
                 "shares. Page tables are made when first needed: a region nobody has touched "
                 "yet has none.",
         when_halted=True, examples=("pte 0x900000 notepad.exe", "!pte fffff80000001000"),
         component="Mm")
def pte(session, cmd):
    system = session.system
    address = cmd["address"]
    if not is_canonical(address):
        raise KmsError(f"{address:#x} is not canonical: x64 addresses are below "
                       "0x800000000000 or from 0xFFFF800000000000", col=cmd.col("address"))
    if cmd["p"] is not None:
        process = resolve_process(system, cmd["p"], cmd.col("p"))
    else:
        process = current_thread(system).process
    if not is_kernel_address(address) and not process.alive:
        raise KmsError(f"{process.image} (PID {process.pid}) has exited: its user half and "
                       "its page tables are gone", col=cmd.col("p") if cmd["p"] is not None
                       else cmd.col("address"))
    if not is_kernel_address(address) and process.address_space is None:
        raise KmsError(f"{process.image} has no user half to translate {address:#x} in: name a "
                       "process, e.g. pte 0x900000 explorer.exe", col=cmd.col("p")
                       if cmd["p"] is not None else cmd.col("address"))
    return [pte_walk(system, address, process, system.mm.walk(address, process))]


@command("memory alloc", "VirtualAlloc in a process: commit a private region; frames come on touch",
         args=(Arg("p", PROCESS, "PID or image name"),
               Arg("size", number(1, 1 << 40, "BYTES", "a size in bytes, rounded up to 4 KB "
                                  "pages"), "how much to commit")),
         details="The region is committed: charged against the commit limit (memory plus the "
                 "paging file), which fails the call with STATUS_COMMITMENT_LIMIT when it "
                 "would pass it. No frame is taken until a page is first touched (a demand-"
                 "zero fault).",
         examples=("memory alloc notepad.exe 0x4000", "memory alloc notepad.exe 0x10000000"),
         component="Mm")
def memory_alloc(session, cmd):
    system = session.system
    process = resolve_process(system, cmd["p"], cmd.col("p"))
    system.mm.virtual_alloc(process, cmd["size"])
    return [memory_map(process)]


@command("memory trim", "empty a working set: its pages go to the standby or modified list",
         args=(Arg("p", PROCESS, "PID or image name, or system for the system working set"),),
         details="Each page leaves the working set; its PTE becomes a transition PTE that "
                 "still names the frame. A page written since it was last saved goes to the "
                 "modified list, a clean one to standby. Touching it again is a soft fault: "
                 "the frame is taken back with no I/O. A locked page (an MDL holds it) "
                 "stays. The modified page writer saves modified pages to the paging file "
                 "when the balance set manager runs (memory pressure).",
         examples=("memory trim notepad.exe", "memory trim system"), component="Mm")
def memory_trim(session, cmd):
    system = session.system
    process = None if cmd["p"].lower() == "system" else \
        resolve_process(system, cmd["p"], cmd.col("p"))
    system.mm.trim_working_set(process)
    return [memory_stats(system)]


def _megabytes_or_max(text: str) -> int | None:
    return None if text.lower() == "max" else parse_number(text, 0, 4096)


MEGABYTES = Kind("MB|max", _megabytes_or_max, ("max",),
                 "megabytes to hold (0..4096, decimal or 0x hex), or max: every page that "
                 "can be freed", number=True)


@command("memory pressure", "hold MB of memory, locked, to squeeze the machine; 0 lets go",
         args=(Arg("mb", MEGABYTES, "how much to hold"),),
         details="The frames are taken as a driver's MmAllocatePagesForMdlEx would take "
                 "them, and never trimmed. When too few pages are available the balance set "
                 "manager runs first: working sets are trimmed, the modified page writer "
                 "saves their modified pages to the paging file, and standby pages are "
                 "repurposed: their PTEs then name the paging file. Each call replaces the "
                 "last; memory pressure 0 gives everything back. memory pressure max holds "
                 "every page that can be freed: after it (and memory pressure 0), every page "
                 "that was in a working set is only in the paging file, and touching it is a "
                 "hard fault.",
         examples=("memory pressure 40", "memory pressure max", "memory pressure 0"),
         component="Mm")
def memory_pressure(session, cmd):
    session.system.mm.apply_pressure(cmd["mb"])
    return [memory_stats(session.system)]
