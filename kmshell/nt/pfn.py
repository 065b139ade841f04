"""The PFN database (MmPfnDatabase): one entry per physical page frame, and the page lists.

Only the memory manager (mm.py) uses it. The lists are NT's: `MMLISTS` in ReactOS's
sdk/include/ndk/mmtypes.h numbers them ZeroedPageList 0, FreePageList 1, StandbyPageList 2,
ModifiedPageList 3, ModifiedNoWritePageList 4, BadPageList 5, and the two states a frame on
no list has, ActiveAndValid 6 and TransitionPage 7. Each list is doubly linked through the
entries themselves, as `MMPFNLIST {Total, ListName, Flink, Blink}` and the entries'
`u1.Flink` / `u2.Blink` are (ntoskrnl/mm/ARM3/pfnlist.c): here the links are arrays indexed by
frame number, so inserting and unlinking are O(1), the order is deterministic, there is no
object per page, and a snapshot pickles a few flat arrays.

Available pages are the zeroed, free and standby ones: MiInsertPageInList counts a page as
available "if (ListName <= StandbyPageList)" (pfnlist.c); modified pages are not available.

Fields kept per frame: `location` (u3.e1.PageLocation, an MMLISTS value), `flink`/`blink`
(-1 ends a list), `share` (u2.ShareCount), `refs` (u3.e2.ReferenceCount), `pte` (PteAddress,
0 for none), `owner` (the process ID whose page it is, 0 for the system), `use` (an
MMPFNUSE value or the model's own for the loader's pages, see USES), `modified`
(u3.e1.Modified: the page differs from any copy in the paging file) and `original`
(OriginalPte's PageFileHigh: the paging-file slot of its copy plus one, 0 for none). A frame
on the standby or modified list keeps its PteAddress, owner and OriginalPte: its page can
still be taken back. Nothing here emits a trace event: Mm says what a change means.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache


class MmList(IntEnum):
    """MMLISTS (ReactOS sdk/include/ndk/mmtypes.h)."""

    ZeroedPageList = 0
    FreePageList = 1
    StandbyPageList = 2
    ModifiedPageList = 3
    ModifiedNoWritePageList = 4
    BadPageList = 5
    ActiveAndValid = 6
    TransitionPage = 7


LISTS = tuple(MmList)[:MmList.ActiveAndValid]  # the six with a list head
AVAILABLE_LISTS = (MmList.ZeroedPageList, MmList.FreePageList, MmList.StandbyPageList)
# The lists whose frames still hold a page, and keep the PteAddress of the transition PTE
# that can take it back (MiDecrementReferenceCount, ntoskrnl/mm/ARM3/pfnlist.c).
TRANSITION_LISTS = (MmList.StandbyPageList, MmList.ModifiedPageList,
                    MmList.ModifiedNoWritePageList)

# What a frame holds: MMPFNUSE values where NT has one (ReactOS mmtypes.h:
# MMPFNUSE_PROCESSPRIVATE 0, MMPFNUSE_PAGETABLE 3, MMPFNUSE_PAGEDPOOL 4,
# MMPFNUSE_NONPAGEDPOOL 5); 12 and up are the model's own: the pages the boot loader loads
# images into, memory pressure's, and the code pages of drivers loaded later.
USE_PROCESS_PRIVATE = 0
USE_PAGE_TABLE = 3
USE_PAGED_POOL = 4
USE_NONPAGED_POOL = 5
USE_KERNEL_IMAGE = 12
USE_BOOT_DRIVER = 13
USE_PRESSURE = 14
USE_DRIVER_CODE, USE_PAGEABLE_CODE = 15, 16
USES = {USE_PROCESS_PRIVATE: "process private", USE_PAGE_TABLE: "page table",
        USE_NONPAGED_POOL: "nonpaged pool", USE_KERNEL_IMAGE: "ntoskrnl.exe and hal.dll",
        USE_BOOT_DRIVER: "boot drivers", USE_PRESSURE: "memory pressure (locked pages)",
        USE_PAGED_POOL: "paged pool", USE_DRIVER_CODE: "a driver's code",
        USE_PAGEABLE_CODE: "a driver's pageable code (PAGE section)"}

NO_FRAME = -1


@lru_cache(maxsize=2)
def _ramp(frames: int) -> array:
    """-1, 0, 1, ... frames: the links of frames in a row, built once per machine size (a
    boot then copies slices of it, a memcpy, instead of counting 16,384 integers again)."""
    return array("i", range(-1, frames + 1))


@dataclass
class PfnList:
    """MMPFNLIST: the count and both ends of one list."""

    total: int = 0
    flink: int = NO_FRAME  # the first frame
    blink: int = NO_FRAME  # the last frame


@dataclass(eq=False)  # one database a machine: compared, and hashed, by identity
class PfnDatabase:
    """Every frame starts ActiveAndValid, on no list, until boot puts it somewhere.
    `changes` counts the calls that moved a frame between lists or states, so a check of
    the whole database (nt/invariants.py) can skip one that nothing has moved since."""

    frames: int
    location: bytearray = field(init=False)
    use: bytearray = field(init=False)
    flink: array = field(init=False)
    blink: array = field(init=False)
    share: array = field(init=False)
    refs: array = field(init=False)
    owner: array = field(init=False)
    pte: array = field(init=False)
    modified: bytearray = field(init=False)
    original: array = field(init=False)
    heads: list[PfnList] = field(init=False)
    changes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        n = self.frames
        self.location = bytearray([MmList.ActiveAndValid]) * n
        self.use = bytearray(n)
        self.flink = array("i", [NO_FRAME]) * n
        self.blink = array("i", [NO_FRAME]) * n
        self.share = array("H", [0]) * n
        self.refs = array("H", [0]) * n
        self.owner = array("I", [0]) * n
        self.pte = array("Q", [0]) * n
        self.modified = bytearray(n)
        self.original = array("I", [0]) * n
        self.heads = [PfnList() for _ in LISTS]

    def insert(self, frame: int, name: MmList) -> None:
        """MiInsertPageInList: at the tail of list `name`; the frame keeps no mapping."""
        self.park(frame, name)
        self.share[frame] = self.refs[frame] = self.owner[frame] = self.pte[frame] = 0
        self.use[frame] = self.modified[frame] = self.original[frame] = 0

    def park(self, frame: int, name: MmList) -> None:
        """At the tail of list `name`, keeping what the frame holds and who maps it (a
        trimmed page on the standby or modified list)."""
        self.changes += 1
        head = self.heads[name]
        self.location[frame] = name
        self.flink[frame], self.blink[frame] = NO_FRAME, head.blink
        if head.blink == NO_FRAME:
            head.flink = frame
        else:
            self.flink[head.blink] = frame
        head.blink = frame
        head.total += 1
        self.share[frame] = 0
        self.refs[frame] = max(self.refs[frame] - 1, 0)  # the mapping's reference; a lock's stays

    def fill(self, name: MmList, first: int, end: int) -> None:
        """Insert frames first..end-1 at the tail of list `name`, in frame order: what
        `insert` does for each, at array speed (boot fills a list of a million frames)."""
        self.changes += 1
        if first >= end:
            return
        head, count = self.heads[name], end - first
        self.location[first:end] = bytes([name]) * count
        ramp = _ramp(self.frames)  # ramp[i] == i - 1
        self.flink[first:end] = ramp[first + 2:end + 2]
        self.blink[first:end] = ramp[first:end]
        self.flink[end - 1] = NO_FRAME
        self.blink[first] = head.blink
        if head.blink == NO_FRAME:
            head.flink = first
        else:
            self.flink[head.blink] = first
        head.blink = end - 1
        head.total += count

    def unlink(self, frame: int) -> None:
        """MiUnlinkPageFromList: off its list; the caller says where it goes next."""
        self.changes += 1
        head = self.heads[self.location[frame]]
        before, after = self.blink[frame], self.flink[frame]
        if before == NO_FRAME:
            head.flink = after
        else:
            self.flink[before] = after
        if after == NO_FRAME:
            head.blink = before
        else:
            self.blink[after] = before
        self.flink[frame] = self.blink[frame] = NO_FRAME
        head.total -= 1

    def activate(self, frame: int, use: int, owner: int, pte: int = 0) -> None:
        """The frame (on no list) becomes ActiveAndValid: mapped once, referenced once."""
        self.changes += 1
        self.location[frame] = MmList.ActiveAndValid
        self.use[frame], self.owner[frame], self.pte[frame] = use, owner, pte
        self.share[frame] = self.refs[frame] = 1
        self.modified[frame] = self.original[frame] = 0

    def reactivate(self, frame: int) -> None:
        """A frame unlinked from the standby or modified list is its page again (a soft
        fault): ActiveAndValid, mapped once, keeping its owner, PTE and paging-file copy."""
        self.changes += 1
        self.location[frame] = MmList.ActiveAndValid
        self.share[frame] = self.refs[frame] = 1

    def activate_run(self, first: int, end: int, use: int) -> None:
        """`activate` for the system's frames first..end-1 (on no list), at array speed."""
        self.changes += 1
        count = end - first
        self.location[first:end] = bytes([MmList.ActiveAndValid]) * count
        self.use[first:end] = bytes([use]) * count
        self.share[first:end] = self.refs[first:end] = array("H", [1]) * count
        self.owner[first:end] = array("I", [0]) * count
        self.pte[first:end] = array("Q", [0]) * count

    def walk(self, name: MmList) -> list[int]:
        """The frames of one list, head to tail (at most `frames` steps: a loop ends it)."""
        frames: list[int] = []
        frame = self.heads[name].flink
        while frame != NO_FRAME and len(frames) <= self.frames:
            frames.append(frame)
            frame = self.flink[frame]
        return frames

    @property
    def available(self) -> int:
        return sum(self.heads[name].total for name in AVAILABLE_LISTS)

    def count(self, name: MmList) -> int:
        """How many frames are in list or state `name` (the two states are counted)."""
        if name < len(LISTS):
            return self.heads[name].total
        return self.location.count(name)
