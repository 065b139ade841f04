"""Page tables: x64 four-level translation, the forms a PTE takes, and where the tables are.

Only the memory manager (mm.py) uses it. An x64 virtual address has four 9-bit indexes above
its 12-bit page offset: PML4 (bits 39-47), PDPT (30-38), page directory (21-29) and page
table (12-20). Each table is one 4 KB page of 512 eight-byte entries. A process's PML4 is
its page directory (CR3); the kernel half's entries are the same in every PML4, so the
tables below them are shared (`PageTables` of the system, kept by Mm).

A PTE is a 64-bit value. Valid (bit 0 set), it is MMPTE_HARDWARE: the frame number in bits
12-47 and the hardware's flags. Not valid, the other 63 bits are the memory manager's own
(ReactOS sdk/include/ndk/amd64/mmtypes.h, MMPTE_SOFTWARE / MMPTE_TRANSITION):
- zero: nothing here yet; the VAD says whether the page is committed (MiCheckVirtualAddress);
- demand zero: only the protection, in bits 5-9 (MM_READWRITE << 5 = 0x80): the first
  access takes a zeroed page (MiResolveDemandZeroFault, ntoskrnl/mm/ARM3/pagfault.c);
- transition (bit 11 set, bit 10 clear): the page is still in a frame, on the standby or
  modified list, with its frame number in bits 12-47; an access takes it back (a soft fault);
- in the image file (bit 10, Prototype, set): a driver's pageable code, to be read back
  from its .sys file (a hard fault);
- paged out: the page is in a paging file, PageFileLow (bits 1-4) names the file and
  PageFileHigh (bits 32-63) the page's offset in it; an access reads it (a hard fault).

The self-map: PML4 entry 0x1ED points at the PML4's own frame, so every table of the current
process is visible at a fixed virtual address and `PTE_BASE + (address >> 9)` is the PTE of
an address (MiAddressToPte and its siblings in ReactOS ntoskrnl/include/internal/amd64/mm.h).
A frame's PFN entry records the virtual address of the PTE that maps it (PteAddress).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE_SHIFT = 12
VA_MASK = (1 << 48) - 1
VPN_MASK = (1 << 36) - 1  # a virtual page number: the 36 bits of the four indexes

# MMPTE_HARDWARE (valid)
VALID = 1 << 0
WRITE = 1 << 1  # the processor's R/W bit ("Dirty1" in mmtypes.h)
OWNER = 1 << 2  # U/S: user-mode code may access it
ACCESSED = 1 << 5
DIRTY = 1 << 6
GLOBAL = 1 << 8
WRITE_SOFTWARE = 1 << 11  # the memory manager's own copy of "writable" (Write in mmtypes.h)
NO_EXECUTE = 1 << 63
FRAME_MASK = ((1 << 36) - 1) << PAGE_SHIFT
# MMPTE_SOFTWARE / MMPTE_TRANSITION (not valid)
PROTECTION_SHIFT = 5
PROTOTYPE = 1 << 10
TRANSITION = 1 << 11
PAGEFILE_LOW_SHIFT, PAGEFILE_HIGH_SHIFT = 1, 32
MM_READWRITE = 4  # the memory manager's protection codes (mm.h): read/write, no execute
MM_EXECUTE_READWRITE = 6
DEMAND_ZERO = MM_READWRITE << PROTECTION_SHIFT
# A page that is in its image file: ReactOS's PrototypePte, "(MM_EXECUTE_READWRITE <<
# MM_PTE_SOFTWARE_PROTECTION_BITS) | PTE_PROTOTYPE | (MI_PTE_LOOKUP_NEEDED << 32)"
# (ntoskrnl/mm/amd64/init.c): the prototype PTE is to be looked up, the page read from the file.
IMAGE = MM_EXECUTE_READWRITE << 5 | 1 << 10 | 0xFFFF_FFFF << 32

# The self-map at PML4 index 0x1ED (ReactOS ntoskrnl/include/internal/amd64/mm.h).
PTE_BASE = 0xFFFF_F680_0000_0000
PDE_BASE = 0xFFFF_F6FB_4000_0000
PPE_BASE = 0xFFFF_F6FB_7DA0_0000
PXE_BASE = 0xFFFF_F6FB_7DBE_D000
PXE_SELFMAP = PXE_BASE + 0x1ED * 8
LEVELS = ("PXE", "PPE", "PDE", "PTE")  # the names !pte gives each level's entry
BASES = (PXE_BASE, PPE_BASE, PDE_BASE, PTE_BASE)


def vpn(address: int) -> int:
    return (address & VA_MASK) >> PAGE_SHIFT


def is_canonical(address: int) -> bool:
    """x64 addresses are 48 bits wide, sign-extended: the user half below 0x8000'00000000,
    the kernel half from 0xFFFF8000'00000000, nothing between."""
    return address < 1 << 47 or address >= 0xFFFF_8000_0000_0000


def is_user_page(page: int) -> bool:
    """Whether a virtual page number is in the user half (bit 47 of its address clear)."""
    return not page >> 35


def page_address(page: int) -> int:
    """The canonical virtual address of a virtual page number (the kernel half's sign-
    extended)."""
    address = page << PAGE_SHIFT
    return address | 0xFFFF_0000_0000_0000 if address >> 47 else address


def entry_address(level: int, page: int) -> int:
    """The virtual address of the entry at `level` (0 PXE .. 3 PTE) on the way to `page`:
    each level up keeps nine fewer bits of the page number (MiAddressToPxe .. MiAddressToPte)."""
    return BASES[level] + (page >> (9 * (3 - level))) * 8


def prefix(level: int, page: int) -> tuple[int, int]:
    """Which table holds the `level` entry of `page`: the level and the upper indexes (the
    PML4 itself is (0, 0))."""
    return level, page >> (9 * (4 - level))


def valid_pte(frame: int, user: bool, dirty: bool = True) -> int:
    """A valid read/write, no-execute PTE for a data page: dirty when it was written or, as
    MiResolveDemandZeroFault makes a writable page, just made (pagfault.c); global for a
    kernel page, which every process maps."""
    return (frame << PAGE_SHIFT | VALID | WRITE | WRITE_SOFTWARE | ACCESSED | NO_EXECUTE
            | (OWNER if user else GLOBAL) | (DIRTY if dirty else 0))


def table_entry(frame: int, user: bool) -> int:
    """A valid entry above the PTEs (a PXE, PPE or PDE): it names a table page, writable,
    and leaves execute and user access to the entries below (WinDbg shows "---DA--UWEV")."""
    return (frame << PAGE_SHIFT | VALID | WRITE | WRITE_SOFTWARE | ACCESSED | DIRTY
            | (OWNER if user else 0))


def transition_pte(frame: int) -> int:
    return frame << PAGE_SHIFT | TRANSITION | DEMAND_ZERO


def pagefile_pte(offset: int, file: int = 0) -> int:
    return offset << PAGEFILE_HIGH_SHIFT | file << PAGEFILE_LOW_SHIFT | DEMAND_ZERO


def frame_of(pte: int) -> int:
    return (pte & FRAME_MASK) >> PAGE_SHIFT


def form(pte: int) -> str:
    """Which of the forms above a PTE is in."""
    if pte & VALID:
        return "valid"
    if pte == 0:
        return "zero"
    if pte & TRANSITION and not pte & PROTOTYPE:
        return "transition"
    if pte & PROTOTYPE:
        return "image"
    if pte >> PAGEFILE_HIGH_SHIFT:
        return "paged out"
    return "demand zero"


def flags(pte: int) -> str:
    """The flag letters !pte prints for a valid entry, in its order: L large page, G global,
    C copy-on-write, D dirty, A accessed, N no-cache, T write-through, U/K user or kernel,
    W/R writable or read-only, E executable (-: not), V valid (Debugger Reference, "!pte")."""
    return "".join((
        "-", "G" if pte & GLOBAL else "-", "-", "D" if pte & DIRTY else "-",
        "A" if pte & ACCESSED else "-", "-", "-", "U" if pte & OWNER else "K",
        "W" if pte & WRITE else "R", "-" if pte & NO_EXECUTE else "E", "V"))


@dataclass
class PageTables:
    """One tree of page tables and its working set: a process's user half, or the system's
    kernel half. `ptes` holds the nonzero PTEs by virtual page number; `tables` the frame of
    each table page below the PML4 by (level, upper indexes), as `prefix` names them;
    `working_set` the pages that are valid and trimmable, oldest first (MMWSL's list: a
    trim takes the oldest)."""

    ptes: dict[int, int] = field(default_factory=dict)
    tables: dict[tuple[int, int], int] = field(default_factory=dict)
    working_set: dict[int, None] = field(default_factory=dict)
