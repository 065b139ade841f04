"""Memory manager (Mm): a process's virtual address space, as a descriptor.

x64 gives each process a private user half (0x10000 .. 0x7FFF'FFFEFFFF) and maps one shared
kernel half (from 0xFFFF8000'00000000) into every process. The model keeps the regions
(VADs) of the user half and does not model pages, working sets or the PFN database yet.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from kmshell.nt.constants import (
    MM_SYSTEM_RANGE_START,
)

USER_REGION_BASE = 0x0000_0090_0000  # private regions (PEB, TEBs, stacks) start here


@dataclass
class Vad:
    """A virtual address descriptor: one reserved or committed region of the user half."""

    start: int
    end: int
    kind: str  # "Image", "Private", "Mapped"
    protection: str
    description: str


@dataclass
class AddressSpace:
    directory_table_base: int  # CR3: the physical address of the top-level page table
    vads: list[Vad] = field(default_factory=list)  # kept sorted by start address
    next_private: int = USER_REGION_BASE  # where the next private region goes
    memory: dict[int, int] = field(default_factory=dict)  # address -> value written there

    def vad_for(self, address: int) -> Vad | None:
        return next((v for v in self.vads if v.start <= address <= v.end), None)

    def reserve(self, size: int, description: str) -> Vad:
        """Commit a private read/write region below the images, at the next free address."""
        start = self.next_private
        self.next_private += size
        vad = Vad(start, start + size - 1, "Private", "READWRITE", description)
        bisect.insort(self.vads, vad, key=lambda v: v.start)
        return vad


def is_kernel_address(address: int) -> bool:
    return address >= MM_SYSTEM_RANGE_START


def create_address_space(dtb: int, image: str, with_peb: bool) -> AddressSpace:
    """A new process's user half: its image, ntdll and (for Win32 processes) the PEB."""
    space = AddressSpace(dtb, [
        Vad(0x7FF6_1234_0000, 0x7FF6_1235_FFFF, "Image", "EXECUTE_WRITECOPY", image),
        Vad(0x7FFB_0000_0000, 0x7FFB_001F_FFFF, "Image", "EXECUTE_WRITECOPY", "ntdll.dll"),
    ])
    if with_peb:
        space.reserve(0x1000, "PEB")
    return space


# The shared kernel half as every process sees it: a simplified map of x64 system space
# (real Windows randomizes most of these bases). The page tables mark these pages
# supervisor-only, so user-mode code cannot touch them.
KERNEL_REGIONS = (
    (0xFFFF_8000_0000_0000, 0xFFFF_F77F_FFFF_FFFF, "system space: pool, system PTEs, cache"),
    (0xFFFF_F780_0000_0000, 0xFFFF_F780_0000_0FFF, "KUSER_SHARED_DATA (kernel view)"),
    (0xFFFF_F800_0000_0000, 0xFFFF_F80F_FFFF_FFFF, "ntoskrnl.exe, hal.dll and boot drivers"),
)
