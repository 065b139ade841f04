"""Memory manager (Mm): processes' address spaces, the kernel pool, and Driver Verifier.

x64 gives each process a private user half (0x10000 .. 0x7FFF'FFFEFFFF) and maps one shared
kernel half (from 0xFFFF8000'00000000) into every process. The model keeps the regions
(VADs) of the user half. The pool (ExAllocatePool2, ExFreePoolWithTag, writes into it with
RtlFillMemory and the string routines) is one heap for every driver; its rules and what a
block is are in pool.py. Driver Verifier's checks of pool and IRQL for the drivers on its
list stop the machine with 0xC4 (`verifier_stop`).

State (`MemoryManager`): `pool`, every pool block since boot (freed ones stay, marked), with
the next free address of each pool and of special pool (`_pool_next`, `_special_next`);
`pfn`, the PFN database (pfn.py): every physical page frame of the machine's `memory_mb`
(`boot --memory`), on its page list or ActiveAndValid; `system_tables`, the kernel half's
page tables and the system working set (pte.py); `committed` and the paging file's slots
(`paging_file`); the frames `memory pressure` holds (`pressure`); MDL mappings in system
space (`mdl_mappings`); fault counts (`faults`). An address space belongs to its process
(Process.address_space, with its page tables and working set); Mm alone changes it.

Physical memory at boot (the model's choices, not Windows' numbers): the boot loader has put
ntoskrnl.exe and hal.dll in frames 0x0-0xFF, the boot drivers in 0x100-0x15F, the kernel's
page tables in 0x160-0x166 and the initial nonpaged pool in 0x167-0x1AC (BOOT_FRAMES), all
ActiveAndValid and mapped (BOOT_MAPPINGS); every other frame is on the zeroed list, in frame
order (NT puts them on the free list, MiInsertPageInFreeList in ReactOS's pfnlist.c, and
MmZeroPageThread zeroes them later; the model zeroes them at boot). A new process's page
directory is the first zeroed frame (MiRemoveZeroPage; a free one when none is zeroed).

Page tables (pte.py): each process's user half has its own, made a page at a time when a
fault first needs them; the kernel half's are Mm's (`system_tables`), the same in every
process. Committing memory (NtAllocateVirtualMemory: the PEB, a thread's TEB and the top of
its stack, `memory alloc`) only charges commit (`committed`, against `commit_limit`: memory
plus a paging file twice its size, PAGING_FILE_TIMES_RAM); the first touch of a page is a
demand-zero fault that takes a zeroed frame. At process exit every frame of the user half,
its page tables and its page directory go to the free list (Windows frees the directory
when the process object is deleted, MmDeleteProcessAddressSpace).

Reached: System builds it with the Core and Cm (Driver Verifier's list is the VerifyDrivers
registry value), and wires in the I/O manager (`io`: is a driver loaded), its file-system
half (`files`: paging reads) and Ps (`ps`: a touch that faults ends the process; whose
page a frame holds). Ps, Ke and the I/O manager (the pool DDIs of driver routines, a
routine's code page, leaks at unload, a caller's I/O buffer and its MDL) call into it.

Working sets and faults: a valid page of a process, of paged pool or of a driver's PAGE
section is in a working set; a trim (`trim`, the balance set manager's `balance`) makes its
PTE a transition PTE and puts its frame on the modified or standby list, where a soft fault
takes it back; the modified page writer (`write_modified_pages`) saves modified pages to the
paging file, so that they are standby; a standby frame taken for something else leaves a
paged-out PTE (or an image PTE for code) behind, and touching that page is a hard fault: a
paging read through the I/O manager (FileIo.page_read) while the thread waits. Kernel code
that touches a page that is not valid above APC_LEVEL stops the machine (`system_fault`,
`access_fault`). MDLs lock frames by raising their reference count (`probe_and_lock`).

Simplifications (README, "What the model simplifies"): no data in pages; trimming oldest
first with no aging; no zero page thread; the modified page writer writes at once, without
IRPs; image regions of processes have no section behind them (their first touch takes a
zeroed frame, where Windows would read the image file through prototype PTEs); driver code
has pages only in drivers with a PAGE section; a collided fault is refused. Frame numbers
are the model's; real ones depend on the firmware's memory map.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from kmshell.nt.constants import (
    MM_SYSTEM_RANGE_START,
    BugCheck,
    Irql,
    NtStatus,
    format_status,
    irql_name,
    nt_success,
)
from kmshell.nt.errors import HardFault, NtError
from kmshell.nt.events import ptr
from kmshell.nt.ke.thread_state import WaitReason
from kmshell.nt.pfn import (
    USE_BOOT_DRIVER,
    USE_DRIVER_CODE,
    USE_KERNEL_IMAGE,
    USE_NONPAGED_POOL,
    USE_PAGE_TABLE,
    USE_PAGEABLE_CODE,
    USE_PAGED_POOL,
    USE_PRESSURE,
    USE_PROCESS_PRIVATE,
    MmList,
    PfnDatabase,
)
from kmshell.nt.pool import (
    BAD_POOL_CALLER_ALLOCATE_IRQL,
    BAD_POOL_CALLER_DOUBLE_FREE,
    BAD_POOL_CALLER_FREE_IRQL,
    BAD_POOL_HEADER_SIZE_CORRUPT,
    POOL_BASE,
    POOL_HEADER,
    POOL_TYPE,
    SPECIAL_POOL_BASE,
    STRING_ROUTINES,
    VERIFIER_ALLOCATE_NONPAGED_IRQL,
    VERIFIER_ALLOCATE_PAGED_IRQL,
    VERIFIER_DOUBLE_FREE,
    VERIFIER_FREE_NONPAGED_IRQL,
    VERIFIER_FREE_PAGED_IRQL,
    VERIFY_DRIVERS_KEY,
    PoolBlock,
    format_string,
)
from kmshell.nt.pte import (
    DIRTY,
    IMAGE,
    PAGEFILE_HIGH_SHIFT,
    PTE_BASE,
    PXE_SELFMAP,
    VALID,
    PageTables,
    entry_address,
    form,
    frame_of,
    is_user_page,
    page_address,
    pagefile_pte,
    prefix,
    table_entry,
    transition_pte,
    valid_pte,
    vpn,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kmshell.nt.cm import ConfigurationManager
    from kmshell.nt.core import Core
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.files import FileIo
    from kmshell.nt.io.irp import Irp
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.ps import Process, ProcessManager, Thread

USER_REGION_BASE = 0x0000_0090_0000  # private regions (PEB, TEBs, stacks) start here
PAGE_SIZE = 0x1000
DEFAULT_MEMORY_MB, MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 16, 4096  # `boot --memory`
# The frames the boot loader uses, in frame order from 0 (the model's choices): what they
# hold and how many. The page-table run holds the kernel's PML4 and the six tables below it
# that map the rest; where the others are mapped is BOOT_MAPPINGS. The first process's page
# directory is the next frame, 0x1AD.
BOOT_FRAMES = ((USE_KERNEL_IMAGE, 0x100), (USE_BOOT_DRIVER, 0x60), (USE_PAGE_TABLE, 7),
               (USE_NONPAGED_POOL, 0x46))
KERNEL_IMAGE_BASE = 0xFFFF_F800_0000_0000  # ntoskrnl.exe, hal.dll, then the boot drivers
BOOT_MAPPINGS = {USE_KERNEL_IMAGE: KERNEL_IMAGE_BASE,
                 USE_BOOT_DRIVER: KERNEL_IMAGE_BASE + 0x100 * PAGE_SIZE,
                 USE_NONPAGED_POOL: POOL_BASE[False]}
PAGING_FILE_TIMES_RAM = 2  # the paging file's size, as a multiple of the machine's memory
PAGING_FILE = "\\??\\C:\\pagefile.sys"
SYSTEM_PTE_BASE = 0xFFFF_D000_0000_0000  # where MDL mappings go (the model's choice)
# MmMinimumFreePages and MmPlentyFreePages, "doubled on systems that have more than 63MB of
# memory" (ReactOS ntoskrnl/mm/ARM3/mminit.c): below the first a fault first has the working
# set manager make room; it trims until available and modified pages reach the second
# (MmWorkingSetManager, ntoskrnl/mm/ARM3/wslist.cpp).
MINIMUM_FREE_PAGES, PLENTY_FREE_PAGES = 26, 400
WHERE_A_PAGE_IS = {"transition": "trimmed: in transition, its frame on a standby or modified list",
                   "image": "in its image file on disk", "paged out": "in the paging file",
                   "demand zero": "never touched", "zero": "never touched", "valid": "valid"}
# The shared kernel half as every process sees it: a simplified map of x64 system space
# (real Windows randomizes most of these bases). The page tables mark these pages
# supervisor-only, so user-mode code cannot touch them.
KERNEL_REGIONS = (
    (0xFFFF_8000_0000_0000, 0xFFFF_F77F_FFFF_FFFF, "system space: pool, system PTEs, cache"),
    (0xFFFF_F780_0000_0000, 0xFFFF_F780_0000_0FFF, "KUSER_SHARED_DATA (kernel view)"),
    (0xFFFF_F800_0000_0000, 0xFFFF_F80F_FFFF_FFFF, "ntoskrnl.exe, hal.dll and boot drivers"),
)


@dataclass
class Vad:
    """A virtual address descriptor: one reserved region of the user half, and how much of
    it, at its top, is committed (`commit`, bytes: all of it but for a thread's stack)."""

    start: int
    end: int
    kind: str  # "Image", "Private", "Mapped"
    protection: str
    description: str
    commit: int = -1  # bytes committed from the top; -1: the whole region

    def __post_init__(self) -> None:
        if self.commit < 0:
            self.commit = self.end + 1 - self.start

    def committed(self, address: int) -> bool:
        return address > self.end - self.commit


@dataclass
class AddressSpace:
    directory_table_base: int  # CR3: the physical address of the top-level page table
    owner: int = 0  # the process ID, which the PFN entries of its pages name
    vads: list[Vad] = field(default_factory=list)  # kept sorted by start address
    next_private: int = USER_REGION_BASE  # where the next private region goes
    memory: dict[int, int] = field(default_factory=dict)  # address -> value written there
    tables: PageTables = field(default_factory=PageTables)  # the user half's

    def vad_for(self, address: int) -> Vad | None:
        return next((v for v in self.vads if v.start <= address <= v.end), None)

    def reserve(self, size: int, description: str, commit: int = -1) -> Vad:
        """A private read/write region below the images, at the next free address, committed
        from its top by `commit` bytes (all of it by default). Mm charges the commit."""
        start = self.next_private
        self.next_private += size
        vad = Vad(start, start + size - 1, "Private", "READWRITE", description, commit)
        bisect.insort(self.vads, vad, key=lambda v: v.start)
        return vad

    @property
    def commit_pages(self) -> int:
        """What the process's private regions charge (images are charged to their file)."""
        return sum(v.commit for v in self.vads if v.kind == "Private") // PAGE_SIZE


def is_kernel_address(address: int) -> bool:
    return address >= MM_SYSTEM_RANGE_START


def create_address_space(dtb: int, owner: int, image: str) -> AddressSpace:
    """A new process's user half: its image and ntdll (the PEB is Mm's to charge)."""
    return AddressSpace(dtb, owner, [
        Vad(0x7FF6_1234_0000, 0x7FF6_1235_FFFF, "Image", "EXECUTE_WRITECOPY", image),
        Vad(0x7FFB_0000_0000, 0x7FFB_001F_FFFF, "Image", "EXECUTE_WRITECOPY", "ntdll.dll"),
    ])


PAGE_SECTION = 0x10_0000  # where a driver image's pageable routines are (its PAGE section)
IMAGE_SIZE = 0x18_0000  # a driver image's extent in the model: code, globals, PAGE section


def image_range(driver: DriverObject) -> tuple[int, int]:
    """Where the loader (MmLoadSystemImage) placed a driver's image: its start and end."""
    start = 0xFFFFF805_2000_0000 + driver.header.address % 0x100_0000 * 0x100
    return start, start + IMAGE_SIZE


def routine_address(driver: DriverObject, routine: str) -> int:
    """Where a driver's routine (or global variable) is: in its image, at a stable offset per
    name (bugcheck parameters name code and data by their address); a pageable routine in
    the image's PAGE section, where `#pragma alloc_text(PAGE, ...)` puts
    it, after the rest, so that no page holds both kinds."""
    crc = zlib.crc32(routine.encode())
    if driver.spec is not None and routine in driver.spec.pageable:
        return image_range(driver)[0] + PAGE_SECTION + crc % 0x8000 * 0x10
    return image_range(driver)[0] + crc % 0x1_0000 * 0x10


def code_pages(driver: DriverObject) -> dict[int, bool]:
    """The pages of a driver's image that hold its routines, each with whether it is in the
    PAGE section (pageable)."""
    routines = driver.spec.routines if driver.spec is not None else {}
    pageable = driver.spec.pageable if driver.spec is not None else ()
    return {vpn(routine_address(driver, name)): name in pageable for name in routines}


class MemoryManager:
    """Mm. Built with the Core and the configuration manager (Driver Verifier's settings
    are registry values); the I/O manager (which drivers are loaded) is wired in by System."""

    io: IoManager
    ps: ProcessManager  # a touch that faults ends the process
    files: FileIo  # paging reads (IoPageRead)

    def __init__(self, core: Core, cm: ConfigurationManager,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
            raise ValueError(f"--memory must be {MIN_MEMORY_MB}..{MAX_MEMORY_MB} MB, "
                             f"got {memory_mb}")
        self.core = core
        self.cm = cm
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        self.memory_mb = memory_mb
        self.pfn = PfnDatabase(memory_mb * 0x10_0000 // PAGE_SIZE)
        self.system_tables = PageTables()  # the kernel half, shared by every process
        self.paging_file_pages = self.pfn.frames * PAGING_FILE_TIMES_RAM
        self.committed = 0  # pages charged (MmTotalCommittedPages)
        self.paging_file = bytearray(self.paging_file_pages)  # 1: the slot holds a page
        self.pressure: list[int] = []  # the frames `memory pressure` holds
        self.plenty_free_pages = PLENTY_FREE_PAGES * (2 if memory_mb > 63 else 1)
        self.faults = {"demand zero": 0, "soft": 0, "hard": 0}  # since boot, for !vm
        self.mdl_mappings: dict[int, int] = {}  # system PTE page -> locked frame it maps
        self.repurposed = 0  # standby frames taken for something else, since boot
        self._system_ptes = SYSTEM_PTE_BASE  # the next system PTE address an MDL gets
        self.pool: list[PoolBlock] = []  # every block since boot, in address order per kind
        self._pool_next = dict(POOL_BASE)
        self._special_next = SPECIAL_POOL_BASE
        self._boot()

    def _boot(self) -> None:
        """What the boot loader leaves: its frames ActiveAndValid, mapped where BOOT_MAPPINGS
        says by the kernel's page tables (which take the page-table run, PML4 first, as
        MiRemoveZeroPage would hand them out), and every other frame on the zeroed list."""
        frame, runs = 0, {}
        for use, count in BOOT_FRAMES:
            runs[use] = (frame, count)
            frame += count
        tables_first, tables = runs[USE_PAGE_TABLE]
        self.pfn.fill(MmList.ZeroedPageList, tables_first, tables_first + tables)
        self.kernel_pml4 = self.remove_zero_page()
        self.pfn.activate(self.kernel_pml4, USE_PAGE_TABLE, 0, PXE_SELFMAP)
        for use, (first, count) in runs.items():
            if use in BOOT_MAPPINGS:
                self.pfn.activate_run(first, first + count, use)
                for i in range(count):
                    self._map(self.system_tables, vpn(BOOT_MAPPINGS[use]) + i, first + i, 0)
        assert self.pfn.heads[MmList.ZeroedPageList].total == 0  # the run was the tables'
        self.pfn.fill(MmList.ZeroedPageList, frame, self.pfn.frames)

    @property
    def commit_limit(self) -> int:
        """MmTotalCommitLimit: physical memory plus the paging file, in pages."""
        return self.pfn.frames + self.paging_file_pages

    def create_address_space(self, image: str, with_peb: bool, pid: int) -> AddressSpace:
        """MmCreateProcessAddressSpace: a new page directory (a frame of its own, mapped by
        the PML4's self-map entry) and the user half's first regions."""
        if with_peb:
            self.charge_commit(1, "the PEB")
        frame = self.remove_zero_page()
        self.pfn.activate(frame, USE_PAGE_TABLE, pid, PXE_SELFMAP)
        space = create_address_space(frame * PAGE_SIZE, pid, image)
        if with_peb:
            space.reserve(PAGE_SIZE, "PEB")
        return space

    def delete_address_space(self, space: AddressSpace) -> None:
        """The user half goes: its regions, their commit, and every frame it held (its pages,
        its page tables and the page directory) to the free list (MiInsertPageInList
        (FreePageList)): their contents are stale, not zero."""
        self.committed -= space.commit_pages
        space.vads.clear()
        frames = list(space.tables.tables.values())
        frames.append(space.directory_table_base // PAGE_SIZE)
        for pte in space.tables.ptes.values():
            kind = form(pte)
            if kind == "paged out":
                self.paging_file[(pte >> PAGEFILE_HIGH_SHIFT) - 1] = 0
            elif kind in ("valid", "transition"):
                frame = frame_of(pte)
                self._release_copy(frame)
                if self.pfn.location[frame] == MmList.TransitionPage:  # a read in progress:
                    self.pfn.pte[frame] = self.pfn.owner[frame] = 0  # freed when it is done
                    continue
                if kind == "transition":
                    self.pfn.unlink(frame)
                frames.append(frame)
        space.tables = PageTables()
        for frame in frames:
            if self.pfn.refs[frame] > 1:  # locked by an MDL: freed when it is unlocked
                self.pfn.refs[frame] -= 1
                self.pfn.pte[frame] = self.pfn.owner[frame] = 0
            elif self.pfn.location[frame] != MmList.FreePageList:  # not freed already
                self.pfn.insert(frame, MmList.FreePageList)

    def allocate_virtual(self, space: AddressSpace, size: int, description: str,
                         commit: int = -1) -> Vad:
        """NtAllocateVirtualMemory(MEM_RESERVE | MEM_COMMIT) in the user half: a private
        region, charged `commit` bytes (all of it by default) against the commit limit."""
        pages = (size if commit < 0 else commit) // PAGE_SIZE
        self.charge_commit(pages, description)
        return space.reserve(size, description, commit)

    def virtual_alloc(self, process: Process, size: int) -> Vad:
        """VirtualAlloc(MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) by the process: a region of
        whole pages, committed now and given frames only when touched."""
        space = self._space(process, " to allocate in")
        size = -(-size // PAGE_SIZE) * PAGE_SIZE
        vad = self.allocate_virtual(space, size, "VirtualAlloc")
        self.emit("Mm", "commit", f"NtAllocateVirtualMemory: {process.image} (PID "
                  f"{process.pid}) commits {size // PAGE_SIZE} page(s) at {vad.start:#x}: the "
                  f"commit charge is {self.committed} of {self.commit_limit} pages; no frame "
                  "is taken yet", "Commit is a promise that each page will have a place, in "
                  "memory or in the paging file; frames are taken only when pages are touched.",
                  mode="K")
        return vad

    def charge_commit(self, pages: int, what: str) -> None:
        """MiChargeCommitment: commit is a promise of a page in memory or in the paging
        file; beyond the limit the allocation fails with STATUS_COMMITMENT_LIMIT."""
        if self.committed + pages > self.commit_limit:
            raise NtError(NtStatus.STATUS_COMMITMENT_LIMIT, f"committing {pages} page(s) for "
                          f"{what} would take the commit charge to {self.committed + pages} "
                          f"pages, past the commit limit of {self.commit_limit} (memory plus "
                          "the paging file)")
        self.committed += pages

    def remove_zero_page(self) -> int:
        """MiRemoveZeroPage: the first frame of the zeroed list, or else of the free list
        (zeroed on the way), or else the oldest standby page, repurposed: its page is then
        only in the paging file, and the PTE that could have taken it back says so
        (MiRemoveAnyPage; the PTE gets the frame's OriginalPte). The frame is on no list
        afterwards, for the caller to activate."""
        for name in (MmList.ZeroedPageList, MmList.FreePageList, MmList.StandbyPageList):
            frame = self.pfn.heads[name].flink
            if frame >= 0:
                self.pfn.unlink(frame)
                if name is MmList.StandbyPageList:
                    self.repurposed += 1
                    self._tables_of(self.pfn.owner[frame]).ptes[
                        (self.pfn.pte[frame] - PTE_BASE) // 8] = (
                            IMAGE if self.pfn.use[frame] == USE_PAGEABLE_CODE
                            else pagefile_pte(self.pfn.original[frame]))
                return frame
        raise NtError(NtStatus.STATUS_INSUFFICIENT_RESOURCES, f"no free page frame is left "
                      f"in {self.memory_mb} MB of physical memory")

    def _tables_of(self, owner: int) -> PageTables:
        """Whose page tables a frame's owner names: a process's, or (0) the system's."""
        space = self.ps.processes[owner].address_space if owner else None
        return space.tables if space is not None else self.system_tables

    # ----------------------------------------------------------------- working sets

    def trim(self, tables: PageTables, limit: int | None = None) -> tuple[int, int, int]:
        """MiTrimWorkingSet's TrimWsList: the oldest pages of a working set leave it (up to
        `limit`): each PTE becomes a transition PTE that still names the frame, and the
        frame goes to the modified list if the page was written since it was last in the
        paging file, else to standby (MiDecrementShareCount → MiDecrementReferenceCount,
        ReactOS ntoskrnl/mm/ARM3/pfnlist.c; ReactOS puts standby pages at the front, the
        model at the tail, so that the oldest is repurposed first). A locked page (its
        reference count above 1: an MDL holds it) stays. Returns the pages sent to the
        modified list, to standby, and the locked ones left."""
        pfn, modified, standby, locked = self.pfn, 0, 0, 0
        for page in list(tables.working_set):
            if limit is not None and modified + standby >= limit:
                break
            pte = tables.ptes[page]
            if self._locked(pte):
                locked += 1
                continue
            frame = frame_of(pte)
            del tables.working_set[page]
            tables.ptes[page] = transition_pte(frame)
            if pte & DIRTY:
                self._release_copy(frame)
                pfn.modified[frame] = 1
            if pfn.modified[frame]:
                pfn.park(frame, MmList.ModifiedPageList)
                modified += 1
            else:
                pfn.park(frame, MmList.StandbyPageList)
                standby += 1
        return modified, standby, locked

    def _locked(self, pte: int) -> bool:
        """A valid page whose frame an MDL holds (reference count above the mapping's 1)."""
        return self.pfn.refs[frame_of(pte)] > 1

    def trim_working_set(self, process: Process | None) -> None:
        """memory trim: empty one working set (EmptyWorkingSet, or the system's)."""
        tables = self.system_tables if process is None else self._space(process).tables
        whose = "the system's" if process is None else f"{process.image}'s (PID {process.pid})"
        modified, standby, locked = self.trim(tables)
        kept = f"{locked} locked page(s) stay" if locked else ""
        if modified + standby == 0:
            self.emit("Mm", "trim", f"MiTrimWorkingSet: no page leaves {whose} working set"
                      + (f": {kept}" if kept else ": it is empty"))
            return
        self.emit("Mm", "trim", f"MiTrimWorkingSet: {modified + standby} page(s) leave "
                  f"{whose} working set: {modified} written since last saved → modified list, "
                  f"{standby} clean → standby list; their PTEs are transition PTEs now"
                  + (f"; {kept}" if kept else ""),
                  "A trimmed page stays in its frame until the frame is needed: touching it "
                  "again is a soft fault, no disk I/O.")

    def balance(self, needed: int = 0) -> None:
        """The balance set manager's pass (MmWorkingSetManager, ReactOS
        ntoskrnl/mm/ARM3/wslist.cpp): while available and modified pages are fewer than
        MmPlentyFreePages (plus `needed`), it trims working sets, oldest pages first, process
        by process; then the modified page writer saves the modified pages to the paging
        file, so that they become standby pages, available to be repurposed."""
        goal = self.plenty_free_pages + needed
        available, modified_pages = self.pfn.available, self.pfn.count(MmList.ModifiedPageList)
        short = goal - available - modified_pages
        if short > 0:
            trimmed = []
            for process in self.ps.live_processes():
                space = process.address_space
                if short <= 0 or space is None or not space.tables.working_set:
                    continue
                modified, standby, _ = self.trim(space.tables, short)
                short -= modified + standby
                if modified + standby:
                    trimmed.append(f"{modified + standby} page(s) of {process.image}'s")
            wanted = f"MmPlentyFreePages ({self.plenty_free_pages})" + (
                f" and the {needed} asked for" if needed else "")
            self.emit("Mm", "balance", f"balance set manager: {available} available and "
                      f"{modified_pages} modified pages are fewer than {wanted}: the working "
                      "set manager trims " + (", ".join(trimmed) + " working set"
                                               if trimmed else "nothing: no working set has "
                                               "a page it may take"),
                      "Memory that was not touched lately is taken from working sets before "
                      "anything fails: the pages stay in memory, on the standby and modified "
                      "lists, until their frames are needed.")
        self.write_modified_pages()

    def write_modified_pages(self) -> int:
        """The modified page writer (MiModifiedPageWriter): each modified page gets a slot
        in the paging file and is written there; the frame goes to standby, clean, with
        OriginalPte naming the slot. Returns how many it wrote."""
        written, frame, slot = 0, self.pfn.heads[MmList.ModifiedPageList].flink, 0
        while frame >= 0:
            after = self.pfn.flink[frame]
            slot = self.paging_file.find(0, slot)  # the first free slot: none before the last
            if slot < 0:
                break
            self.paging_file[slot] = 1
            self.pfn.original[frame] = slot + 1  # PageFileHigh is the offset + 1
            self.pfn.modified[frame] = 0
            self.pfn.unlink(frame)
            self.pfn.park(frame, MmList.StandbyPageList)
            written, frame = written + 1, after
        if written:
            self.emit("Mm", "write", f"modified page writer: {written} page(s) written to "
                      f"{PAGING_FILE} ({self.paging_file.count(1)} of "
                      f"{self.paging_file_pages} slots used); now clean, on the standby list",
                      "A page saved in the paging file can lose its frame: its PTE will name "
                      "the slot instead, and a touch reads it back (a hard fault).")
        return written

    def _dirty(self, tables: PageTables, page: int) -> None:
        """A write sets the PTE's Dirty bit (the processor does); a page read back from
        the paging file loses the copy there, which no longer matches."""
        pte = tables.ptes.get(page, 0)
        if pte & VALID and not pte & DIRTY:
            tables.ptes[page] = pte | DIRTY
            self._release_copy(frame_of(pte))

    def _take_back(self, tables: PageTables, page: int) -> tuple[int, str]:
        """MiResolveTransitionFault: the frame a transition PTE names leaves its standby or
        modified list and is the page again, valid (dirty if it was modified) and in the
        working set. Returns the frame and the list it was on."""
        frame = frame_of(tables.ptes[page])
        listed = MmList(self.pfn.location[frame]).name
        self.pfn.unlink(frame)
        self.pfn.reactivate(frame)
        tables.ptes[page] = valid_pte(frame, is_user_page(page),
                                      dirty=bool(self.pfn.modified[frame]))
        tables.working_set[page] = None
        self.faults["soft"] += 1
        return frame, listed

    def _start_read(self, tables: PageTables, page: int, frame: int) -> None:
        """MiResolvePageFileFault before IoPageRead: the frame is marked ReadInProgress
        (TransitionPage) and the PTE made a transition PTE that names it, so a second fault
        finds the read."""
        self.pfn.location[frame] = MmList.TransitionPage
        tables.ptes[page] = transition_pte(frame)
        tables.working_set.pop(page, None)
        self.faults["hard"] += 1

    def _end_read(self, tables: PageTables, page: int, frame: int, whose: str) -> None:
        """The paging read is done: the PTE is valid, clean (the copy on disk still matches)
        and the page is in its working set again."""
        self.pfn.reactivate(frame)
        tables.ptes[page] = valid_pte(frame, is_user_page(page), dirty=False)
        tables.working_set[page] = None
        self.emit("Mm", "fault", f"the page at {page_address(page):#x} is in: frame "
                  f"{frame:#x}, PTE valid, in {whose} working set", mode="K")

    def _page_in_done(self, process: Process, tables: PageTables, page: int, frame: int,
                      status: int, restart: Callable[[], object] | None
                      ) -> Callable[[], object] | None:
        """The paging read is done (the IRP's completion, in MiResolvePageFileFault after
        IoPageRead returns): the PTE is made valid and the page joins the working set, and
        the access that faulted is returned, to run again once its thread goes on. A read
        that failed is an in-page error: the thread gets STATUS_IN_PAGE_ERROR, which ends
        its process unless handled."""
        if self.pfn.pte[frame] == 0:  # its process ended while the read was in progress
            self.pfn.insert(frame, MmList.FreePageList)
            return None
        if not nt_success(status):
            tables.ptes[page] = pagefile_pte(self.pfn.original[frame])
            self.pfn.insert(frame, MmList.FreePageList)
            self.emit("Mm", "in-page-error", f"the paging read for {page_address(page):#x} "
                      f"failed with {format_status(status)}: an in-page error, "
                      "STATUS_IN_PAGE_ERROR (0xC0000006) for the thread", mode="K")
            self.ps.terminate_process(process, NtStatus.STATUS_IN_PAGE_ERROR,
                                      reason=" after an in-page error")
            return None
        self._end_read(tables, page, frame, f"{process.image}'s")
        return restart if process.alive else None

    def _release_copy(self, frame: int) -> None:
        """The page is written to: its copy in the paging file is stale; the slot is free."""
        if self.pfn.original[frame]:
            self.paging_file[self.pfn.original[frame] - 1] = 0
            self.pfn.original[frame] = 0

    def apply_pressure(self, mb: int | None) -> None:
        """memory pressure: hold `mb` MB of frames (None: every page that can be freed),
        locked, as a driver's MmAllocatePagesForMdlEx would: what was held goes back first.
        When too few pages are available, the balance set manager makes room first."""
        for frame in self.pressure:
            self.pfn.insert(frame, MmList.FreePageList)
        self.pressure.clear()
        spaces = [p.address_space.tables for p in self.ps.live_processes()
                  if p.address_space is not None]
        trimmable = sum(not self._locked(tables.ptes[page])
                        for tables in spaces for page in tables.working_set)
        room = self.pfn.available + self.pfn.count(MmList.ModifiedPageList) + trimmable
        target = room if mb is None else mb * 0x10_0000 // PAGE_SIZE
        if target > room:
            raise NtError(NtStatus.STATUS_INSUFFICIENT_RESOURCES, f"{mb} MB cannot be held: "
                          f"at most {room * PAGE_SIZE >> 20} MB can be freed ({room} pages: "
                          "available, modified and in working sets); memory pressure max "
                          "holds them all")
        if self.pfn.available - target < self.plenty_free_pages:
            self.balance(target)
        repurposed = self.repurposed
        try:
            for _ in range(target):
                frame = self.remove_zero_page()
                self.pfn.activate(frame, USE_PRESSURE, 0)
                self.pressure.append(frame)
        except NtError:  # fewer than counted: hold nothing rather than part
            self.apply_pressure(0)
            raise
        held = f"{target * PAGE_SIZE >> 20} MB, every page that could be freed," if mb is None \
            else f"{mb} MB"
        taken = self.repurposed - repurposed
        if taken:
            held += f" ({taken} of them standby frames repurposed: their pages are now only " \
                "on disk, and their PTEs say where)"
        self.emit("Mm", "pressure", f"memory pressure: {held} ({target} pages) held, "
                  f"locked; {self.pfn.available} pages ({self.pfn.available * PAGE_SIZE >> 20}"
                  " MB) available now")

    def _space(self, process: Process, purpose: str = "") -> AddressSpace:
        """The process's user half; an exited process, or one without (System), refused."""
        space = process.address_space
        if not process.alive or space is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{process.image} "
                          f"(PID {process.pid}) has no user half{purpose}")
        return space

    # ----------------------------------------------------------------- page tables

    def tables_for(self, address: int, process: Process | None) -> PageTables | None:
        """The tables that translate `address`: the shared kernel half's, or the process's
        user half's (None: it has none)."""
        if is_kernel_address(address):
            return self.system_tables
        space = process.address_space if process is not None else None
        return space.tables if space is not None else None

    def _map(self, tables: PageTables, page: int, frame: int, owner: int,
             back_pointer: bool = True) -> int:
        """Make `page` valid on `frame` (already active), with the page tables on the way
        (a zeroed page each, on first use); the frame's PFN names this PTE unless it is a
        second mapping (`back_pointer` False). Returns how many table pages it took."""
        user = is_user_page(page)
        taken = 0
        for level in (1, 2, 3):  # the PDPT, the page directory and the page table
            key = prefix(level, page)
            if key not in tables.tables:
                table = self.remove_zero_page()
                self.pfn.activate(table, USE_PAGE_TABLE, owner, entry_address(level - 1, page))
                tables.tables[key] = table
                taken += 1
        tables.ptes[page] = valid_pte(frame, user)
        if back_pointer:
            self.pfn.pte[frame], self.pfn.owner[frame] = entry_address(3, page), owner
        return taken

    def walk(self, address: int, process: Process | None) -> list[tuple[int, int, int]]:
        """The translation of `address` as the processor makes it: for each level that
        exists, the entry's virtual address, its contents and the frame of the table it is
        in (the PML4's first). It stops at the first entry that is not valid."""
        tables = self.tables_for(address, process)
        page = vpn(address)
        if tables is None:
            return []
        space = process.address_space if process is not None else None
        table = (space.directory_table_base // PAGE_SIZE if space is not None
                 else self.kernel_pml4)
        steps = []
        for level in range(4):
            below = tables.tables.get(prefix(level + 1, page)) if level < 3 else None
            contents = (table_entry(below, is_user_page(page)) if below is not None
                        else tables.ptes.get(page, 0) if level == 3 else 0)
            steps.append((entry_address(level, page), contents, table))
            if below is None:
                break
            table = below
        return steps

    def access_fault(self, process: Process, address: int, write: bool, irql: int,
                     where: str, thread: Thread | None = None,
                     restart: Callable[[], object] | None = None, at_once: bool = False) -> bool:
        """MmAccessFault for an access by `process`'s thread that found the PTE not valid
        (KiPageFault → MmAccessFault). True when the page is valid afterwards, or being read
        in (the PTE says transition, the thread waits; `restart` runs the access again once
        the page is in); False for an access violation (the caller ends the process): a
        kernel-half address from user mode, or one no committed region covers. A zero PTE
        under a committed region is a demand-zero fault (MiCheckVirtualAddress, then
        MiResolveDemandZeroFault, which takes a zeroed page: ReactOS
        ntoskrnl/mm/ARM3/pagfault.c), with a page table for it made the same way where there
        is none yet; a transition PTE a soft fault (MiResolveTransitionFault); a paged-out
        PTE a hard fault (MiResolvePageFileFault: a frame, the PTE made a transition PTE
        while the read is in progress, then the paging read, IoPageRead).

        A fault at IRQL above APC_LEVEL cannot be served, because serving it may need a wait:
        MmArmAccessFault fails it at once ("if (OldIrql > APC_LEVEL) ... return
        STATUS_IN_PAGE_ERROR | 0x10000000", pagfault.c), and Windows stops with 0xA: the
        address, the IRQL, bit 0 set for a write, the instruction pointer
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xa--irql-not-less-or-equal)."""
        space = process.address_space
        assert space is not None
        kernel = is_kernel_address(address)
        if kernel and irql < Irql.DISPATCH_LEVEL:
            return False  # user mode: the kernel half's pages are supervisor-only
        page = vpn(address)
        tables = self.system_tables if kernel else space.tables
        if tables.ptes.get(page, 0) & VALID:
            return True
        if irql > Irql.APC_LEVEL:
            self.bugcheck(BugCheck.IRQL_NOT_LESS_OR_EQUAL,
                          (address, irql, 1 if write else 0, 0), driver=process.image,
                          routine=where,
                          rule=f"{where} runs kernel code at {irql_name(irql)}; it touched "
                          f"{address:#x}, whose page is not valid. Serving the page fault "
                          "may need a wait (for a zeroed page, for the disk), and nothing "
                          "may wait at that IRQL: the trap handler stops the machine.",
                          fix="Touch only nonpaged, valid memory at DISPATCH_LEVEL or above: "
                          "lock user buffers (MmProbeAndLockPages) before acquiring a spin "
                          "lock.")
        pte = tables.ptes.get(page, 0)
        kind = form(pte)
        if kind == "zero":
            vad = space.vad_for(address)
            if vad is None or not vad.committed(address):
                return False
        if self.pfn.available < MINIMUM_FREE_PAGES:  # MiEnsureAvailablePageOrWait
            self.balance()
        fault = f"page fault at {address:#x} in {process.image} (PID {process.pid})"
        if kind == "transition" and self.pfn.location[frame_of(pte)] == MmList.TransitionPage:
            raise NtError(NtStatus.STATUS_DEVICE_NOT_READY, f"the page at {address:#x} is "
                          "being read in already (a collided page fault: the thread would "
                          "wait for that read); complete the paging read first")
        if kind == "transition":
            frame, listed = self._take_back(tables, page)
            self.emit("Mm", "fault", f"{fault}: soft fault, the PTE is a transition PTE: "
                      f"frame {frame:#x} still holds the page, on the {listed}; it is taken "
                      "back into the working set, no I/O", "A soft fault costs microseconds: "
                      "the page never left memory.", mode="K")
            return True
        frame = self.remove_zero_page()
        self.pfn.activate(frame, USE_PROCESS_PRIVATE, process.pid)
        taken = self._map(space.tables, page, frame, process.pid)
        also = f", and {taken} page-table page(s) on the way" if taken else ""
        tables.working_set[page] = None
        if kind == "paged out":
            slot = (pte >> PAGEFILE_HIGH_SHIFT) - 1
            self.pfn.original[frame] = slot + 1  # the copy in the paging file stays good
            self._start_read(tables, page, frame)
            self.emit("Mm", "fault", f"{fault}: hard fault, the page is in the paging file "
                      f"at slot {slot:#x}: frame {frame:#x} is taken for it{also}, and the PTE "
                      "points at it in transition while the read is in progress",
                      "A hard fault waits for the disk: milliseconds, a million times a soft "
                      "fault.", mode="K")

            def done(status: int) -> Callable[[], object] | None:
                return self._page_in_done(process, tables, page, frame, status, restart)

            if at_once or self.files.page_read(thread or process.first_live_thread,
                                               PAGING_FILE, slot * PAGE_SIZE, done) is None:
                self.emit("Mm", "fault", f"{fault}: the model reads the page at once (no "
                          "file system on C:, or a system call building its IRP)", mode="K")
                then = done(NtStatus.STATUS_SUCCESS)
                if then is not None:
                    then()
            return True
        self.faults["demand zero"] += 1
        self.emit("Mm", "fault", f"{fault}: demand zero, the first touch of committed memory: "
                  f"frame {frame:#x} from the zeroed list{also}",
                  "Committing memory only promises it: no frame is taken until the page is "
                  "first touched, and then a zeroed one, so no process sees another's data.",
                  mode="K")
        return True

    # ----------------------------------------------------------------- MDLs

    def probe_and_lock(self, process: Process, address: int, length: int) -> tuple[int, ...]:
        """MmProbeAndLockPages(Mdl, UserMode, ...) in the caller's thread at PASSIVE_LEVEL:
        each page of the buffer is made valid (faulted in) and locked: its PFN reference
        count goes up by one (MiReferenceProbedPageAndBumpLockCount, ReactOS
        ntoskrnl/mm/ARM3/mdlsup.c), so no trim takes it until MmUnlockPages. The IRQL rule
        (<= APC_LEVEL for pageable addresses, the DDI's page
        https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmprobeandlockpages)
        holds: the I/O manager calls it in the system service. A page that must be read
        from the paging file is read at once here (the model does not suspend a system call
        in the middle of building its IRP)."""
        space = self._space(process)
        first, last = vpn(address), vpn(address + max(length, 1) - 1)
        frames = []
        for page in range(first, last + 1):
            if not self.access_fault(process, page_address(page), True, Irql.PASSIVE_LEVEL,
                                     "MmProbeAndLockPages", at_once=True):
                raise NtError(NtStatus.STATUS_ACCESS_VIOLATION, f"MmProbeAndLockPages: "
                              f"{page_address(page):#x} is not committed memory of "
                              f"{process.image}")
            frame = frame_of(space.tables.ptes[page])
            self.pfn.refs[frame] += 1
            frames.append(frame)
        self.emit("Mm", "lock", f"MmProbeAndLockPages: {len(frames)} page(s) of "
                  f"{process.image} locked: frame(s) {', '.join(f'{f:#x}' for f in frames)}, "
                  "each PFN's reference count raised by one; no trim can take them now",
                  "A locked page stays in its frame while a device or a DPC works on it, "
                  "whatever the memory pressure.", mode="K")
        return tuple(frames)

    def map_locked_pages(self, irp: Irp, driver: DriverObject, routine: str) -> None:
        """MmGetSystemAddressForMdlSafe (MmMapLockedPagesSpecifyCache, KernelMode): the MDL's
        locked frames get a second mapping, in system PTE space, which every process sees;
        their PFN entries keep naming the user PTE. IofCompleteRequest's MmUnlockPages
        "releases this mapping before it unlocks the pages"
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmunlockpages)."""
        if not irp.mdl_frames:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IRP {irp.number} has no MDL of "
                          "locked pages: direct I/O (io = \"direct\") from user mode makes one")
        if irp.system_address:
            return  # mapped already: the macro returns MappedSystemVa
        first = vpn(self._system_ptes)
        self._system_ptes += len(irp.mdl_frames) * PAGE_SIZE
        for page, frame in enumerate(irp.mdl_frames, start=first):
            self._map(self.system_tables, page, frame, 0, back_pointer=False)
            self.mdl_mappings[page] = frame
        irp.system_address = page_address(first) | (irp.mdl[1] & 0xFFF if irp.mdl else 0)
        self.emit("Mm", "map", f"{driver.name}!{routine}: MmGetSystemAddressForMdlSafe maps "
                  f"the {len(irp.mdl_frames)} locked page(s) of IRP {irp.number}'s MDL at "
                  f"{ptr(irp.system_address)} in system space: the same frames "
                  f"({', '.join(f'{f:#x}' for f in irp.mdl_frames)}), a second address",
                  "The user address means the caller's pages only in the caller's process; "
                  "the system address means them everywhere, from a DPC or a worker thread.")

    def unmap_locked_pages(self, irp: Irp) -> None:
        """MmUnmapLockedPages, as MmUnlockPages does first for a mapped MDL."""
        if not irp.system_address:
            return
        first = vpn(irp.system_address)
        for page in range(first, first + len(irp.mdl_frames)):
            del self.system_tables.ptes[page]
            del self.mdl_mappings[page]
        self.emit("Mm", "map", f"MmUnmapLockedPages: IRP {irp.number}'s MDL is no longer "
                  f"mapped at {ptr(irp.system_address)}")
        irp.system_address = 0

    def unlock_pages(self, frames: tuple[int, ...]) -> None:
        """MmUnlockPages: each frame's reference count drops by one; a frame whose page is
        gone meanwhile (its process ended) goes to the free list now."""
        for frame in frames:
            self.pfn.refs[frame] -= 1
            if self.pfn.refs[frame] == 0 and self.pfn.location[frame] == MmList.ActiveAndValid:
                self.pfn.insert(frame, MmList.FreePageList)

    # ----------------------------------------------------------------- system space

    def _map_system_page(self, page: int, use: int, pageable: bool) -> int:
        """A frame for a page of system space, valid; in the system working set if pageable.
        Code is clean (the image file has it); pool is dirty (only memory has it)."""
        frame = self.remove_zero_page()
        self.pfn.activate(frame, use, 0)
        self._map(self.system_tables, page, frame, 0)
        if use in (USE_DRIVER_CODE, USE_PAGEABLE_CODE):
            self.system_tables.ptes[page] &= ~DIRTY
        if pageable:
            self.system_tables.working_set[page] = None
        return frame

    def map_driver_image(self, driver: DriverObject) -> None:
        """MmLoadSystemImage, for a driver with a PAGE section: each page that holds its
        routines gets a frame, valid; the PAGE section's are pageable, in the system working
        set (MmPageEntireDriver and trimming can take them), the rest stay resident. (The
        model gives frames to the code of such drivers only.)"""
        if driver.spec is None or not driver.spec.pageable:
            return
        pages = code_pages(driver)
        for page, pageable in pages.items():
            self._map_system_page(page, USE_PAGEABLE_CODE if pageable else USE_DRIVER_CODE,
                                  pageable)
        paged = sum(pages.values())
        self.emit("Mm", "image", f"MmLoadSystemImage: {driver.image}'s code takes "
                  f"{len(pages)} page(s); {paged} of them hold its PAGE section "
                  f"({', '.join(driver.spec.pageable)}), pageable: in the system working set",
                  "#pragma alloc_text(PAGE, Routine) puts a routine in the PAGE section: its "
                  "code may be trimmed and paged out like data, so it must only run at "
                  "PASSIVE_LEVEL or APC_LEVEL.")

    def unmap_driver_image(self, driver: DriverObject) -> None:
        """MmUnloadSystemImage: the frames of the driver's code go to the free list."""
        if driver.spec is None or not driver.spec.pageable:
            return
        tables = self.system_tables
        for page in code_pages(driver):
            pte = tables.ptes.pop(page, 0)
            tables.working_set.pop(page, None)
            if form(pte) in ("valid", "transition"):
                frame = frame_of(pte)
                if self.pfn.location[frame] != MmList.ActiveAndValid:
                    self.pfn.unlink(frame)
                self.pfn.insert(frame, MmList.FreePageList)

    def _map_pool(self, block: PoolBlock) -> None:
        """The pages a new pool block lies on get frames where they have none: paged pool's
        join the system working set; nonpaged pool's stay resident. (A special pool block
        ends where its page ends; the guard page after it gets no frame.)"""
        first = vpn(block.address if block.special else block.address - POOL_HEADER)
        last = vpn(block.address + max(block.size, 1) - 1 if block.special else block.end - 1)
        for page in range(first, last + 1):
            if page not in self.system_tables.ptes:
                self._map_system_page(page, USE_PAGED_POOL if block.paged else USE_NONPAGED_POOL,
                                      block.paged)

    def _touch_pool(self, block: PoolBlock, driver: DriverObject, routine: str) -> None:
        """The pool writes a block's header (allocating, freeing): its page must be valid,
        so a paged-out one faults like any other access."""
        start = block.address if block.special else block.address - POOL_HEADER
        self.system_fault(start, self.core.processor().irql, driver, routine, 1)

    def system_fault(self, address: int, irql: int, driver: DriverObject, routine: str,
                     access: int) -> None:
        """MmAccessFault for kernel code of `driver` touching system space (`access`: 0
        read, 1 write, 8 execute) whose PTE may not be valid. At DISPATCH_LEVEL or above
        nothing may wait, so the fault cannot be served: 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL
        (the address, the IRQL, 0 read, 1 write, 8 execute, the instruction: bug check
        0xD1's page, "Accessing pageable data" or "Executing pageable code at or above
        DISPATCH_LEVEL",
        https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd1--driver-irql-not-less-or-equal).
        Below it a transition page is a soft fault, and a page in the paging file or the
        image file a hard fault: HardFault asks the I/O manager to read it, the routine
        waiting meanwhile. Under Driver Verifier's Force IRQL Checking, a verified driver at
        DISPATCH_LEVEL or above first has every pageable page of the system trimmed
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/force-irql-checking)."""
        tables, page = self.system_tables, vpn(address)
        if driver.verified and irql >= Irql.DISPATCH_LEVEL and tables.working_set:
            modified, standby, _ = self.trim(tables)
            self.emit("Vf", "force-irql", f"Driver Verifier (Force IRQL Checking): "
                      f"{driver.name} runs at {irql_name(irql)}, so every pageable page of "
                      f"the system is trimmed ({modified + standby} page(s))", "Verifier "
                      "makes the page out that would happen one day happen every time.")
        pte = tables.ptes.get(page, 0)
        if pte & VALID:
            return
        where = routine_address(driver, routine)
        verb = {0: "read", 1: "wrote to", 8: "ran code at"}[access]
        if irql > Irql.APC_LEVEL:
            self.bugcheck(BugCheck.DRIVER_IRQL_NOT_LESS_OR_EQUAL, (address, irql, access, where),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name}!{routine} {verb} {address:#x} at IRQL {irql} "
                          f"({irql_name(irql)}), and that page is pageable and not valid now "
                          f"({WHERE_A_PAGE_IS[form(pte)]}). Bringing it back needs the memory "
                          "manager to "
                          "wait — for a frame, for the disk — and nothing may wait at "
                          "DISPATCH_LEVEL or above, however soon the page could come back.",
                          fix="Keep what runs at DISPATCH_LEVEL or above (DPCs, ISRs, code "
                          "holding a spin lock) and the data it touches in nonpaged memory: no "
                          "alloc_text(PAGE) for such routines, nonpaged pool for such data.")
        kind = form(pte)
        if kind == "transition":
            frame, listed = self._take_back(tables, page)
            self.emit("Mm", "fault", f"page fault at {address:#x} ({driver.name}!{routine} "
                      f"{verb} it): soft fault, frame {frame:#x} still holds the page, on the "
                      f"{listed}; back in the system working set", mode="K")
            return
        if kind not in ("paged out", "image"):
            self.bugcheck(BugCheck.PAGE_FAULT_IN_NONPAGED_AREA,
                          (address, 10 if access == 8 else 2 * access, where, 0),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name}!{routine} {verb} {address:#x}, where nothing is "
                          "mapped. In kernel mode there is no process to end: a bad pointer "
                          "stops the whole machine.",
                          fix="Touch only memory you allocated, and check pointers before use.")
        image = kind == "image"
        frame = self.remove_zero_page()
        self.pfn.activate(frame, USE_PAGEABLE_CODE if image else USE_PAGED_POOL, 0,
                          entry_address(3, page))
        self._start_read(tables, page, frame)
        slot = (pte >> PAGEFILE_HIGH_SHIFT) - 1
        path = f"\\SystemRoot\\System32\\drivers\\{driver.image}" if image else PAGING_FILE
        offset = (page_address(page) - image_range(driver)[0]) if image else slot * PAGE_SIZE
        self.emit("Mm", "fault", f"page fault at {address:#x} ({driver.name}!{routine} {verb} "
                  f"it): hard fault, the page is in {path}: frame {frame:#x} is taken for it "
                  "and the read goes to the disk", mode="K")

        def done(status: int) -> None:
            if not nt_success(status):
                self.bugcheck(BugCheck.KERNEL_DATA_INPAGE_ERROR,
                              (entry_address(3, page), status, tables.ptes[page], address),
                              driver=driver.image, routine=routine,
                              rule=f"The paging read for {address:#x}, which "
                              f"{driver.name}!{routine} needed, failed with "
                              f"{format_status(status)}: kernel code cannot go on without "
                              "its page.", fix="Check the disk and its driver.")
            if not image:
                self.pfn.original[frame] = slot + 1
            self._end_read(tables, page, frame, "the system")

        if not self.files.can_page():
            self.emit("Mm", "fault", "this machine has no file system on C: to send the "
                      "paging read to: the model reads the page at once", mode="K")
            done(NtStatus.STATUS_SUCCESS)
            return
        raise HardFault(path, offset, done, f"{driver.name}!{routine} {verb} {address:#x}")

    # ----------------------------------------------------------------- Driver Verifier

    def verify_drivers(self) -> list[str]:
        """The VerifyDrivers list, read as the REG_SZ it is; a value of another type (which
        `reg set` can write) names no driver."""
        value = self.cm.query_value(VERIFY_DRIVERS_KEY, "VerifyDrivers")
        return value.data.split() if value is not None and isinstance(value.data, str) else []

    def set_verifier(self, name: str, on: bool) -> None:
        """verifier on|off DRIVER: the VerifyDrivers registry value, as verifier.exe writes
        it; like Windows, it takes effect when the driver next loads."""
        image = name if name.lower().endswith(".sys") else f"{name}.sys"
        names = [n for n in self.verify_drivers() if n.lower() != image.lower()]
        names += [image] if on else []
        self.cm.write_value(VERIFY_DRIVERS_KEY, "VerifyDrivers", "REG_SZ", " ".join(names))
        loaded = self.io.find_driver(image.removesuffix(".sys"))
        when = ("now: it is not loaded, and is verified when it loads" if loaded is None
                else "when it next loads (a reboot, as on Windows): it is loaded now")
        self.emit("Vf", "verifier", f"Driver Verifier {'on' if on else 'off'} for {image}: "
                  f"VerifyDrivers = \"{' '.join(names)}\"; takes effect {when}",
                  "Driver Verifier watches the drivers on its list: special pool for their "
                  "allocations, pool tracking, IRQL checks. It stops at the first rule broken, "
                  "with bugcheck 0xC4 and the rule in parameter 1.")

    def verifier_stop(self, driver: DriverObject, routine: str, code: int,
                      parameters: tuple[int, ...], rule: str, fix: str) -> NoReturn:
        self.bugcheck(BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION, (code, *parameters),
                      driver=driver.image, routine=routine,
                      rule=f"Driver Verifier caught it at once (0xC4, parameter 1 = {code:#x}): "
                      + rule, fix=fix)

    def check_allocate_irql(self, driver: DriverObject, paged: bool, size: int,
                            routine: str) -> None:
        """ExAllocatePool2's own IRQL check, made before the generic one for every DDI: paged
        pool up to APC_LEVEL, nonpaged up to DISPATCH_LEVEL; above it 0xC4 (parameter 1 = 1
        or 2) under Driver Verifier, else 0xC2 BAD_POOL_CALLER (parameter 1 = 8)
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller,
        .../bug-check-0xc4--driver-verifier-detected-violation)."""
        irql = self.core.processor().irql
        limit = Irql.APC_LEVEL if paged else Irql.DISPATCH_LEVEL
        if irql > limit and driver.verified:
            self.verifier_stop(driver, routine, VERIFIER_ALLOCATE_PAGED_IRQL if paged else
                                VERIFIER_ALLOCATE_NONPAGED_IRQL, (irql, POOL_TYPE[paged], size),
                                f"{driver.name} allocated pool at IRQL {irql}.",
                                "Allocate before raising the IRQL.")
        if irql > limit:
            self.bugcheck(BugCheck.BAD_POOL_CALLER,
                          (BAD_POOL_CALLER_ALLOCATE_IRQL, irql, POOL_TYPE[paged], size),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} asked for {'paged' if paged else 'nonpaged'} pool "
                          f"at IRQL {irql} ({irql_name(irql)}); that pool may be allocated at "
                          f"{irql_name(limit)} at most.",
                          fix="Allocate before raising the IRQL (in DriverEntry, AddDevice or "
                          "a dispatch routine), or use nonpaged pool up to DISPATCH_LEVEL.")

    def allocate_pool(self, driver: DriverObject, paged: bool, size: int, tag: str,
                      routine: str) -> PoolBlock:
        """ExAllocatePool2(POOL_FLAG_PAGED or POOL_FLAG_NON_PAGED, size, tag)."""
        self.check_allocate_irql(driver, paged, size, routine)
        if driver.verified:  # special pool: the block ends where its page ends
            pages = (size + POOL_HEADER + 0xFFF) // 0x1000
            address = self._special_next + pages * 0x1000 - size
            self._special_next += (pages + 1) * 0x1000  # and a no-access guard page after
            block = PoolBlock(address, size, tag, paged, driver.name, special=True)
            self._map_pool(block)
            self._touch_pool(block, driver, routine)
            self.pool.append(block)
            self.emit("Vf", "pool", f"ExAllocatePool2: {driver.name} (verified) gets {size} "
                      f"bytes of special pool, tag '{tag}', at {ptr(address)}: the block ends "
                      "at the end of its page, and the next page is a no-access guard page",
                      "Special pool makes an overrun fault on the very write that does it.")
            return block
        address = self._pool_next[paged] + POOL_HEADER
        block = PoolBlock(address, size, tag, paged, driver.name)
        self._map_pool(block)
        self._touch_pool(block, driver, routine)
        self._pool_next[paged] = block.end
        self.pool.append(block)
        self.emit("Mm", "pool", f"ExAllocatePool2: {driver.name} gets {size} bytes of "
                  f"{block.kind} pool, tag '{tag}', at {ptr(address)}", "Every driver "
                  "allocates from the same pool: blocks of different drivers sit side by side.")
        return block

    def _pool_block(self, driver: DriverObject, tag: str, routine: str,
                    live: bool = True) -> PoolBlock | None:
        return next((b for b in reversed(self.pool) if b.driver == driver.name and b.tag == tag
                     and b.freed is not live), None)

    def check_free_irql(self, driver: DriverObject, tag: str, routine: str) -> None:
        """ExFreePoolWithTag's own IRQL check for the block it would free (none: nothing to
        check), before the generic one: 0xC4 (parameter 1 = 0x11 or 0x12) under Driver
        Verifier, else 0xC2 (parameter 1 = 9)."""
        block = self._pool_block(driver, tag, routine)
        irql = self.core.processor().irql
        limit = Irql.APC_LEVEL if block is not None and block.paged else Irql.DISPATCH_LEVEL
        if block is None or irql <= limit:
            return
        if driver.verified:
            self.verifier_stop(driver, routine, VERIFIER_FREE_PAGED_IRQL if block.paged else
                                VERIFIER_FREE_NONPAGED_IRQL,
                                (irql, POOL_TYPE[block.paged], block.address),
                                f"{driver.name} freed pool at IRQL {irql}.",
                                "Free pool below the IRQL it may be freed at.")
        self.bugcheck(BugCheck.BAD_POOL_CALLER,
                      (BAD_POOL_CALLER_FREE_IRQL, irql, POOL_TYPE[block.paged], block.address),
                      driver=driver.image, routine=routine,
                      rule=f"{driver.name} freed {block.kind} pool at IRQL {irql}; it may be "
                      f"freed at {irql_name(limit)} at most.",
                      fix="Free pool where you could allocate it, below that IRQL.")

    def free_pool(self, driver: DriverObject, tag: str, routine: str) -> None:
        """ExFreePoolWithTag: the driver's latest block with this tag goes back to the pool."""
        block = self._pool_block(driver, tag, routine)
        if block is None:
            freed = self._pool_block(driver, tag, routine, live=False)
            if freed is None:
                raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                              f"{driver.name} has no pool block tagged '{tag}' to free")
            header = int.from_bytes(tag.encode(), "little")
            if driver.verified:
                self.verifier_stop(driver, routine, VERIFIER_DOUBLE_FREE,
                                    (0, freed.address - POOL_HEADER, header),
                                    f"{driver.name} freed its '{tag}' block a second time.",
                                    "Free each allocation once; set the pointer to NULL.")
            self.bugcheck(BugCheck.BAD_POOL_CALLER,
                          (BAD_POOL_CALLER_DOUBLE_FREE, 0, header, freed.address),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} freed its '{tag}' block at {ptr(freed.address)} "
                          "a second time: the pool may already have given that memory to "
                          "someone else.",
                          fix="Free each allocation once, and set the pointer to NULL after "
                          "freeing it.")
        self.check_free_irql(driver, tag, routine)
        if block.overwritten_by:
            following = next((b for b in self.pool if b.paged == block.paged
                              and b.address > block.address), None)
            self.bugcheck(BugCheck.BAD_POOL_HEADER,
                          (BAD_POOL_HEADER_SIZE_CORRUPT, block.address - POOL_HEADER,
                           following.address - POOL_HEADER if following else 0, 0),
                          driver=driver.image, routine=routine,
                          rule=f"When {driver.name} freed its '{tag}' block, the pool found the "
                          "block's header overwritten. The crash names "
                          f"{driver.name}, but the header was overwritten by "
                          f"{block.overwritten_by}, which wrote past the end of its own block "
                          "into this one. Kernel memory is shared: nothing stopped it.",
                          fix=f"Find the driver that overruns its buffer ({block.overwritten_by} "
                          "here): Driver Verifier's special pool puts each of its allocations "
                          "at the end of a page, so the overrunning write itself faults.")
        self._touch_pool(block, driver, routine)
        block.freed = True
        self.emit("Mm", "pool", f"ExFreePoolWithTag: {driver.name} frees its '{tag}' block at "
                  f"{ptr(block.address)}")

    def fill_memory(self, driver: DriverObject, target: str, length: int, routine: str,
                    api: str = "RtlFillMemory", offset: int = 0) -> None:
        """RtlFillMemory: write `length` bytes at the driver's TAG block (from `offset`) or at
        a raw address. strcpy and strcat write this way too: unchecked."""
        if target.lower().startswith("0x"):
            address = int(target, 16)
            block = next((b for b in self.pool if not b.freed
                          and b.address - POOL_HEADER <= address < b.end), None)
        else:
            block = self._pool_block(driver, target, routine)
            if block is None:
                raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                              f"{driver.name} has no live pool block tagged '{target}'")
            address = block.address + offset
        irql = self.core.processor().irql
        where = routine_address(driver, routine)
        if block is None:
            # Arg2 on x64 since Windows 10 1507: 0 read, 2 write, 10 execute (bug check 0x50's
            # page in the WDK debugger docs; before 1507 a write was 1)
            self.bugcheck(BugCheck.PAGE_FAULT_IN_NONPAGED_AREA, (address, 2, where, 0),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} wrote to {ptr(address)}, which no pool block and "
                          "no mapping covers. In kernel mode there is no process to end: a bad "
                          "pointer stops the whole machine.",
                          fix="Write only to memory you allocated, and check pointers before "
                          "use; a freed or uninitialised pointer looks like this.")
        for page in range(vpn(address), vpn(address + max(length, 1) - 1) + 1):
            if page in self.system_tables.ptes:  # each page it writes must be in memory
                self.system_fault(max(address, page_address(page)), irql, driver, routine, 1)
        if block.driver != driver.name:
            block.overwritten_by = driver.name
            self.emit("Mm", "corrupt", f"{api}: {driver.name} writes {length} bytes at "
                      f"{ptr(address)} — inside {block.driver}'s '{block.tag}' block. Nothing "
                      "notices: kernel memory belongs to everyone", "A wild pointer in one "
                      "driver silently damages another's data; the victim fails later.")
            return
        overrun = address + length - (block.address + block.size if block.special else block.end)
        if overrun > 0 and block.special:
            beyond = block.address + block.size
            self.bugcheck(BugCheck.DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION,
                          (beyond, 1, where, 0), driver=driver.image, routine=routine,
                          rule=f"{driver.name} wrote {length} bytes into its {block.size}-byte "
                          f"'{block.tag}' block. Driver Verifier put the block at the end of a "
                          "page with a no-access page after it, so the first byte past the end "
                          "faulted — on the write itself, in the driver that made it.",
                          fix="Write no more than you allocated: check lengths against the "
                          "buffer's size (the safe string functions do).")
        if overrun <= 0:
            self.emit("Mm", "write", f"{api}: {driver.name} writes {length} bytes into "
                      f"its {block.size}-byte '{block.tag}' block")
            return
        victim = next((b for b in self.pool if b.paged == block.paged
                       and b.address - POOL_HEADER >= block.end), None)
        if victim is not None and not victim.freed and \
                victim.address - POOL_HEADER < address + length:
            victim.overwritten_by = driver.name
            self.emit("Mm", "corrupt", f"{api}: {driver.name} writes {length} bytes into "
                      f"its {block.size}-byte '{block.tag}' block: {overrun} bytes past its "
                      f"end, over the pool header of {victim.driver}'s '{victim.tag}' block. "
                      "Nothing notices yet", "A buffer overrun in kernel mode does not fault: "
                      "the next block is valid memory, it just belongs to someone else.")
        else:
            self.emit("Mm", "corrupt", f"{api}: {driver.name} writes {overrun} bytes "
                      f"past the end of its '{block.tag}' block, into free pool")

    def copy_string(self, driver: DriverObject, api: str, tag: str, words: tuple[str, ...],
                    routine: str) -> int | None:
        """The string routines on the driver's TAG block. The ntstrsafe ones (RtlStringCb*,
        RtlStringCch*) know the buffer's size: a string that does not fit is cut, terminated,
        and the call returns STATUS_BUFFER_OVERFLOW. strcpy and strcat write it all (and
        return a pointer, not a status: None)."""
        block = self._pool_block(driver, tag, routine)
        if block is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                          f"{driver.name} has no live pool block tagged '{tag}'")
        kind = STRING_ROUTINES[api]
        source = format_string(words[0], words[1:]) if kind.printf else words[0]
        keep = block.text if kind.append else ""
        wanted = keep + source
        if not kind.checked:  # the C library: no size, only a terminating NUL
            self.fill_memory(driver, tag, len(source) + 1, routine, api, len(keep))
            block.text = wanted
            return None
        unit = kind.unit
        capacity = block.size // unit  # characters, the NUL included
        counted = f"{capacity} characters" if unit > 1 else f"{block.size} bytes"
        if len(keep) + 1 > capacity or capacity == 0:
            self.emit("Rtl", "string", f"{api}: {driver.name}'s '{tag}' block is already full; "
                      "nothing is written, STATUS_INVALID_PARAMETER")
            return NtStatus.STATUS_INVALID_PARAMETER
        needed = (len(wanted) + 1) * unit
        if len(wanted) + 1 <= capacity:
            block.text = wanted
            self.emit("Rtl", "string", f"{api}: '{wanted}' and its NUL ({needed} bytes) fit "
                      f"{driver.name}'s {counted} '{tag}' block: STATUS_SUCCESS")
            return NtStatus.STATUS_SUCCESS
        block.text = wanted[:capacity - 1]
        self.emit("Rtl", "string", f"{api}: '{wanted}' needs {needed} bytes; {driver.name}'s "
                  f"'{tag}' block has {block.size}. It keeps '{block.text}' and a NUL and "
                  "returns STATUS_BUFFER_OVERFLOW",
                  "A safe string function is told the buffer's size: it never writes past "
                  "the end, always terminates the string, and says so when it had to cut. "
                  "STATUS_BUFFER_OVERFLOW is a warning: NT_SUCCESS() is false for it.")
        return NtStatus.STATUS_BUFFER_OVERFLOW

    def pool_leaks(self, driver: DriverObject) -> list[PoolBlock]:
        return [b for b in self.pool if b.driver == driver.name and not b.freed]

    def touch(self, process: Process, address: int, value: int | None = None, *,
              thread: Thread | None = None, irql: int = Irql.PASSIVE_LEVEL,
              where: str = "") -> int | None:
        """A read (or write) by thread (default: the process's first): in user mode, or in
        kernel mode at `irql` when a thread's program holds a spin lock (`where` says who).
        The first touch of
        a committed page is a demand-zero fault; a kernel-half address from user mode, or one
        no committed region covers, is an access violation: the process dies, nothing else
        does. Returns the value read (or written), or None when the access faulted."""
        self.core.require_running()
        space = self._space(process, ": no user-mode address space to touch")
        waiting = process.first_live_thread if thread is None else None
        if waiting is not None and waiting.io_wait is not None \
                and waiting.wait_reason is WaitReason.PageIn:
            raise NtError(NtStatus.STATUS_DEVICE_NOT_READY, f"{waiting.label} waits for a page "
                          f"to be read in (IRP {waiting.io_wait[0].number}): it touches nothing "
                          "else until the read completes (irp complete N STATUS)")
        where = where or (thread.label if thread is not None else
                          f"the thread of {process.image}")
        restart = None if thread is not None else (  # a thread's step restarts by itself
            lambda: self.touch(process, address, value, irql=irql, where=where))
        if not self.access_fault(process, address, value is not None, irql, where, thread,
                                 restart):
            self.ps.crash_process(process, address, thread=thread)
            return None
        if not (self.tables_for(address, process) or space.tables).ptes[vpn(address)] & VALID:
            return None  # being read in: the thread waits, and the access runs again
        vad = space.vad_for(address)
        if value is None:
            value = space.memory.get(address, 0)
            verb = f"reads {value} from"
        else:
            space.memory[address] = value
            verb = f"writes {value} to"
            self._dirty(space.tables if not is_kernel_address(address) else self.system_tables,
                        vpn(address))
        what = vad.description if vad is not None else "system space"
        self.emit("Mm", "touch", f"{process.image} (PID {process.pid}) {verb} {address:#x} "
                  f"({what}): translated through its own page tables (CR3 "
                  f"{space.directory_table_base:#x})", "The same user address in two processes "
                  "maps to two different physical pages: each process has a private user half.",
                  mode="K" if irql >= Irql.DISPATCH_LEVEL else "U")
        return value
