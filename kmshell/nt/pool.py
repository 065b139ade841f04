"""Pool: the kernel's heap, one for every driver — which is why one driver's bug is another's.

NT's pool is allocated through Ex (ExAllocatePool2, ExFreePoolWithTag) and managed by Mm;
here MemoryManager (mm.py) owns the blocks (`mm.pool`) and carries out those routines. This
module holds what they share with the I/O manager's spec checks and DDI steps: the pool's
numbers (bases, header size, the bugcheck and Driver Verifier parameters), `PoolBlock`, and
the string routines' rules (`STRING_ROUTINES`, `format_string`). It keeps no state.

Drivers allocate with ExAllocatePool2 (nonpaged or paged, with a four-character tag) and free
with ExFreePoolWithTag; RtlFillMemory writes into memory. Blocks of each kind sit one after
another, each behind a 16-byte pool header, so a write past the end of one block lands on the
header of the next — another driver's, often. Nothing notices until the pool next looks at
that header: when its owner frees it, the machine stops with BAD_POOL_HEADER, naming the
victim. A write to an address no pool block covers faults at once
(PAGE_FAULT_IN_NONPAGED_AREA); touching paged pool at DISPATCH_LEVEL or above while its
page is not valid is DRIVER_IRQL_NOT_LESS_OR_EQUAL (Mm places blocks on pages: paged pool's
are in the system working set, and trimming takes them).

Simplifications: blocks are never reused, and a freed block stays in the list, marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.rtl import U64, is_number, parse_number

POOL_HEADER = 0x10  # POOL_HEADER on x64: 16 bytes before every block
POOL_BASE = {False: 0xFFFF_A50F_0B00_0000, True: 0xFFFF_B30C_4E00_0000}  # nonpaged, paged
POOL_TYPE = {False: 0, True: 1}  # NonPagedPool, PagedPool (POOL_TYPE in wdm.h)
BAD_POOL_CALLER_ALLOCATE_IRQL, BAD_POOL_CALLER_FREE_IRQL = 0x08, 0x09
BAD_POOL_CALLER_DOUBLE_FREE = 0x07
BAD_POOL_HEADER_SIZE_CORRUPT = 0x20
# Driver Verifier (bugcheck 0xC4, parameter 1): the checks the model makes for a verified driver.
VERIFIER_ALLOCATE_PAGED_IRQL, VERIFIER_ALLOCATE_NONPAGED_IRQL = 0x01, 0x02
VERIFIER_FREE_PAGED_IRQL, VERIFIER_FREE_NONPAGED_IRQL = 0x11, 0x12
VERIFIER_DOUBLE_FREE = 0x13
VERIFIER_UNLOAD_LEAKS = 0x62
SPECIAL_POOL_BASE = 0xFFFF_C30F_8000_0000  # special pool: one block per page, at its end
VERIFY_DRIVERS_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management"
CONVERSIONS = ("s", "d", "u", "x")  # what the model's printf formats: text, then numbers


@dataclass(eq=False)
class PoolBlock:
    address: int  # what ExAllocatePool2 returned: just past the pool header
    size: int
    tag: str
    paged: bool
    driver: str
    freed: bool = False
    overwritten_by: str = ""  # who wrote over its header: the corruption the pool will find
    special: bool = False  # Driver Verifier's special pool: the block ends at a page's end
    text: str = ""  # the string a string routine left in it (strcpy's may run past its end)

    @property
    def kind(self) -> str:
        return "paged" if self.paged else "nonpaged"

    @property
    def overrun(self) -> bool:
        """Its string (strcpy's) ran past the block's end: the NUL does not fit."""
        return len(self.text) + 1 > self.size

    @property
    def end(self) -> int:  # the next block's header starts here
        return self.address + (self.size + 0xF & ~0xF)


@dataclass(frozen=True)
class StringRoutine:
    """What a string routine knows and does: the ntstrsafe ones are told the buffer's size."""

    checked: bool  # RtlString*: never writes past the size; the C library does not know it
    append: bool = False  # Cat: after the string already there
    unit: int = 1  # bytes a character: 2 for the W (WCHAR) forms
    printf: bool = False  # the source is a format and its arguments


STRING_ROUTINES = {
    "RtlStringCbCopyA": StringRoutine(checked=True),
    "RtlStringCbCatA": StringRoutine(checked=True, append=True),
    "RtlStringCchCopyW": StringRoutine(checked=True, unit=2),
    "RtlStringCbPrintfA": StringRoutine(checked=True, printf=True),
    "strcpy": StringRoutine(checked=False),
    "strcat": StringRoutine(checked=False, append=True),
}


def _conversions(fmt: str) -> list[str]:
    """The conversion letters of a format, in order (%% is a percent sign)."""
    return [part[:1] for part in fmt.replace("%%", "").split("%")[1:]]


def format_problem(fmt: str, args: tuple[str, ...]) -> str | None:
    """Why a printf step cannot run (None when it can), checked when the spec loads."""
    letters = _conversions(fmt)
    bad = next((c for c in letters if c not in CONVERSIONS), None)
    if bad is not None:
        return f"'%{bad}' is not a conversion the model knows; use %s, %d, %u, %x or %% for a " \
               "percent sign"
    if len(letters) != len(args):
        return f"the format takes {len(letters)} argument(s), the step gives {len(args)}"
    for letter, arg in zip(letters, args, strict=True):
        if letter != "s" and not _is_number(arg):
            return "%d, %u and %x take a number such as 7 or 0x1F"
    return None


def _is_number(text: str) -> bool:
    """What format_string can print with %d/%u/%x: a non-negative Python-style literal."""
    return is_number(text, 0, U64)


def format_string(fmt: str, args: tuple[str, ...]) -> str:
    """What a printf-style routine writes: each conversion takes the next argument."""
    out, rest, i = [], list(args), 0
    while i < len(fmt):
        if fmt.startswith("%%", i):
            out.append("%")
        elif fmt[i] == "%":
            arg = rest.pop(0)
            out.append(format(parse_number(arg), "x") if fmt[i + 1] == "x" else arg)
        else:
            out.append(fmt[i])
            i -= 1
        i += 2
    return "".join(out)
