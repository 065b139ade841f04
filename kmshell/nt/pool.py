"""Pool: the kernel's heap, one for every driver — which is why one driver's bug is another's.

`Pool` is mixed into `System`. Drivers allocate with ExAllocatePool2 (nonpaged or paged,
with a four-character tag) and free with ExFreePoolWithTag; RtlFillMemory writes into
memory. Blocks of each kind sit one after another, each behind a 16-byte pool header, so a
write past the end of one block lands on the header of the next — another driver's, often.
Nothing notices until the pool next looks at that header: when its owner frees it, the
machine stops with BAD_POOL_HEADER, naming the victim. A write to an address no pool block
covers faults at once (PAGE_FAULT_IN_NONPAGED_AREA); touching paged pool at DISPATCH_LEVEL
or above is DRIVER_IRQL_NOT_LESS_OR_EQUAL. Simplification: paged pool is taken to be paged
out whenever it is touched at DISPATCH_LEVEL or above (as Driver Verifier forces), so that
mistake fails every time instead of now and then.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.cm import RegValue
from kmshell.nt.constants import BugCheck, Irql, NtStatus, irql_name
from kmshell.nt.errors import NtError
from kmshell.nt.events import ptr
from kmshell.nt.io.driver import routine_address
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
CONVERSIONS = ("s", "d", "u", "x")  # what the model's printf formats: text, then numbers


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


class Pool:
    """Mixed into `System`."""

    def _pool_init(self) -> None:
        self.pool: list[PoolBlock] = []  # every block since boot, in address order per kind
        self._pool_next = dict(POOL_BASE)
        self._special_next = SPECIAL_POOL_BASE

    # ----------------------------------------------------------------- Driver Verifier

    def verified(self, driver) -> bool:
        """Is the driver on the VerifyDrivers list (read when it loaded)?"""
        return getattr(driver, "verified", False)

    def verify_drivers(self) -> list[str]:
        key = self.registry.create(VERIFY_DRIVERS_KEY)
        value = key.values.get("VERIFYDRIVERS")
        return value.data.split() if value is not None else []

    def set_verifier(self, name: str, on: bool) -> None:
        """verifier on|off DRIVER: the VerifyDrivers registry value, as verifier.exe writes
        it; like Windows, it takes effect when the driver next loads."""
        image = name if name.lower().endswith(".sys") else f"{name}.sys"
        names = [n for n in self.verify_drivers() if n.lower() != image.lower()]
        names += [image] if on else []
        self.registry.create(VERIFY_DRIVERS_KEY).values["VERIFYDRIVERS"] = \
            RegValue("VerifyDrivers", "REG_SZ", " ".join(names))
        loaded = self.drivers.get(image.lower().removesuffix(".sys"))
        when = ("now: it is not loaded, and is verified when it loads" if loaded is None
                else "when it next loads (a reboot, as on Windows): it is loaded now")
        self.emit("Vf", "verifier", f"Driver Verifier {'on' if on else 'off'} for {image}: "
                  f"VerifyDrivers = \"{' '.join(names)}\"; takes effect {when}",
                  "Driver Verifier watches the drivers on its list: special pool for their "
                  "allocations, pool tracking, IRQL checks. It stops at the first rule broken, "
                  "with bugcheck 0xC4 and the rule in parameter 1.")

    def _verifier_stop(self, driver, routine: str, code: int, parameters: tuple, rule: str,
                       fix: str) -> None:
        self.bugcheck(BugCheck.DRIVER_VERIFIER_DETECTED_VIOLATION, (code, *parameters),
                      driver=driver.image, routine=routine,
                      rule=f"Driver Verifier caught it at once (0xC4, parameter 1 = {code:#x}): "
                      + rule, fix=fix)

    def allocate_pool(self, driver, paged: bool, size: int, tag: str, routine: str) -> PoolBlock:
        """ExAllocatePool2(POOL_FLAG_PAGED or POOL_FLAG_NON_PAGED, size, tag)."""
        irql = self.processors[self.cpu_context].irql
        limit = Irql.APC_LEVEL if paged else Irql.DISPATCH_LEVEL
        if irql > limit and self.verified(driver):
            self._verifier_stop(driver, routine, VERIFIER_ALLOCATE_PAGED_IRQL if paged else
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
        if self.verified(driver):  # special pool: the block ends where its page ends
            pages = (size + POOL_HEADER + 0xFFF) // 0x1000
            address = self._special_next + pages * 0x1000 - size
            self._special_next += (pages + 1) * 0x1000  # and a no-access guard page after
            block = PoolBlock(address, size, tag, paged, driver.name, special=True)
            self.pool.append(block)
            self.emit("Vf", "pool", f"ExAllocatePool2: {driver.name} (verified) gets {size} "
                      f"bytes of special pool, tag '{tag}', at {ptr(address)}: the block ends "
                      "at the end of its page, and the next page is a no-access guard page",
                      "Special pool makes an overrun fault on the very write that does it.")
            return block
        address = self._pool_next[paged] + POOL_HEADER
        block = PoolBlock(address, size, tag, paged, driver.name)
        self._pool_next[paged] = block.end
        self.pool.append(block)
        self.emit("Mm", "pool", f"ExAllocatePool2: {driver.name} gets {size} bytes of "
                  f"{block.kind} pool, tag '{tag}', at {ptr(address)}", "Every driver "
                  "allocates from the same pool: blocks of different drivers sit side by side.")
        return block

    def _pool_block(self, driver, tag: str, routine: str, live: bool = True) -> PoolBlock | None:
        return next((b for b in reversed(self.pool) if b.driver == driver.name and b.tag == tag
                     and b.freed is not live), None)

    def free_pool(self, driver, tag: str, routine: str) -> None:
        """ExFreePoolWithTag: the driver's latest block with this tag goes back to the pool."""
        block = self._pool_block(driver, tag, routine)
        if block is None:
            freed = self._pool_block(driver, tag, routine, live=False)
            if freed is None:
                raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                              f"{driver.name} has no pool block tagged '{tag}' to free")
            header = int.from_bytes(tag.encode(), "little")
            if self.verified(driver):
                self._verifier_stop(driver, routine, VERIFIER_DOUBLE_FREE,
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
        irql = self.processors[self.cpu_context].irql
        limit = Irql.APC_LEVEL if block.paged else Irql.DISPATCH_LEVEL
        if irql > limit and self.verified(driver):
            self._verifier_stop(driver, routine, VERIFIER_FREE_PAGED_IRQL if block.paged else
                                VERIFIER_FREE_NONPAGED_IRQL,
                                (irql, POOL_TYPE[block.paged], block.address),
                                f"{driver.name} freed pool at IRQL {irql}.",
                                "Free pool below the IRQL it may be freed at.")
        if irql > limit:
            self.bugcheck(BugCheck.BAD_POOL_CALLER,
                          (BAD_POOL_CALLER_FREE_IRQL, irql, POOL_TYPE[block.paged], block.address),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} freed {block.kind} pool at IRQL {irql}; it may be "
                          f"freed at {irql_name(limit)} at most.",
                          fix="Free pool where you could allocate it, below that IRQL.")
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
        block.freed = True
        self.emit("Mm", "pool", f"ExFreePoolWithTag: {driver.name} frees its '{tag}' block at "
                  f"{ptr(block.address)}")

    def fill_memory(self, driver, target: str, length: int, routine: str,
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
        irql = self.processors[self.cpu_context].irql
        where = routine_address(driver, routine)
        if block is None:
            self.bugcheck(BugCheck.PAGE_FAULT_IN_NONPAGED_AREA, (address, 1, where, 0),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} wrote to {ptr(address)}, which no pool block and "
                          "no mapping covers. In kernel mode there is no process to end: a bad "
                          "pointer stops the whole machine.",
                          fix="Write only to memory you allocated, and check pointers before "
                          "use; a freed or uninitialised pointer looks like this.")
        if block.paged and irql >= Irql.DISPATCH_LEVEL:
            self.bugcheck(BugCheck.DRIVER_IRQL_NOT_LESS_OR_EQUAL, (address, irql, 1, where),
                          driver=driver.image, routine=routine,
                          rule=f"{driver.name} touched paged pool at IRQL {irql} "
                          f"({irql_name(irql)}). Paged memory may be on disk, and bringing it "
                          "back needs the memory manager to wait: impossible at DISPATCH_LEVEL "
                          "or above.",
                          fix="Use nonpaged pool for anything a DPC, an ISR or code holding a "
                          "spin lock touches.")
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

    def copy_string(self, driver, api: str, tag: str, words: tuple[str, ...],
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

    def pool_leaks(self, driver) -> list[PoolBlock]:
        return [b for b in self.pool if b.driver == driver.name and not b.freed]
