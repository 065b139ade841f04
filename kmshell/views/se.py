"""Tokens and security descriptors: !token, !sd."""

from __future__ import annotations

from functools import partial

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.nt.se import (
    GENERIC_ALL,
    GENERIC_EXECUTE,
    GENERIC_READ,
    GENERIC_WRITE,
    RIGHTS,
    SYNCHRONIZE,
    sid_name,
)
from kmshell.views.layout import Fitted, deferred, titled

# Access rights by the names the headers give them, to show an ACE's mask as a reader of
# winnt.h and wdm.h would write it: 0x001f01ff FILE_ALL_ACCESS. Generic and standard rights
# (winnt.h, "ACCESS_MASK", https://learn.microsoft.com/en-us/windows/win32/secauthz/access-mask)
# apply to every object.
COMMON_RIGHTS = {
    "GENERIC_READ": GENERIC_READ, "GENERIC_WRITE": GENERIC_WRITE,
    "GENERIC_EXECUTE": GENERIC_EXECUTE, "GENERIC_ALL": GENERIC_ALL,
    "MAXIMUM_ALLOWED": 0x02000000, "ACCESS_SYSTEM_SECURITY": 0x01000000,
    "DELETE": RIGHTS["SD"], "READ_CONTROL": RIGHTS["RC"], "WRITE_DAC": RIGHTS["WD"],
    "WRITE_OWNER": RIGHTS["WO"], "SYNCHRONIZE": SYNCHRONIZE,
}
# The specific rights of each object type the model names (winnt.h and wdm.h for files and
# devices, events, mutants, semaphores, timers; wdm.h/ntddk.h for object directories and
# symbolic links), the combined ones (…_ALL_ACCESS, FILE_GENERIC_…) with them.
FILE_RIGHTS = {
    "FILE_ALL_ACCESS": RIGHTS["FA"], "FILE_GENERIC_READ": RIGHTS["FR"],
    "FILE_GENERIC_WRITE": RIGHTS["FW"], "FILE_GENERIC_EXECUTE": RIGHTS["FX"],
    "FILE_READ_DATA": 0x1, "FILE_WRITE_DATA": 0x2, "FILE_APPEND_DATA": 0x4, "FILE_READ_EA": 0x8,
    "FILE_WRITE_EA": 0x10, "FILE_EXECUTE": 0x20, "FILE_DELETE_CHILD": 0x40,
    "FILE_READ_ATTRIBUTES": 0x80, "FILE_WRITE_ATTRIBUTES": 0x100,
}
OBJECT_RIGHTS = {
    "Device": FILE_RIGHTS, "File": FILE_RIGHTS,
    "Event": {"EVENT_ALL_ACCESS": 0x1F0003, "EVENT_QUERY_STATE": 0x1, "EVENT_MODIFY_STATE": 0x2},
    "Mutant": {"MUTANT_ALL_ACCESS": 0x1F0001, "MUTANT_QUERY_STATE": 0x1},
    "Semaphore": {"SEMAPHORE_ALL_ACCESS": 0x1F0003, "SEMAPHORE_QUERY_STATE": 0x1,
                  "SEMAPHORE_MODIFY_STATE": 0x2},
    "Timer": {"TIMER_ALL_ACCESS": 0x1F0003, "TIMER_QUERY_STATE": 0x1, "TIMER_MODIFY_STATE": 0x2},
    "Directory": {"DIRECTORY_ALL_ACCESS": 0xF000F, "DIRECTORY_QUERY": 0x1,
                  "DIRECTORY_TRAVERSE": 0x2, "DIRECTORY_CREATE_OBJECT": 0x4,
                  "DIRECTORY_CREATE_SUBDIRECTORY": 0x8},
    "SymbolicLink": {"SYMBOLIC_LINK_ALL_ACCESS": 0xF0001, "SYMBOLIC_LINK_QUERY": 0x1},
}


def access_names(mask: int, type_name: str) -> str:
    """An ACCESS_MASK in names: the object type's combined rights that the mask holds whole
    (largest first), then the single rights left; bits with no name stay in hex."""
    rights = OBJECT_RIGHTS.get(type_name, {})
    names, covered = [], 0
    for name, value in sorted(((n, v) for n, v in rights.items() if v & (v - 1)),
                              key=lambda item: -item[1].bit_count()):
        if mask & value == value and value & ~covered:
            names.append(name)
            covered |= value
    names.sort(key=list(rights).index)  # in the headers' order: READ before WRITE
    for name, value in [*COMMON_RIGHTS.items(), *rights.items()]:
        if not value & (value - 1) and mask & value & ~covered:
            names.append(name)
            covered |= value
    if mask & ~covered:
        names.append(f"{mask & ~covered:#x}")
    return " | ".join(names)


@deferred
def token_view(token, title: str) -> Group:
    """The SIDs whole (the RID at the end tells two users apart), each with its name beside
    it, or where that does not fit, under it."""
    return Group(Fitted([partial(_token_table, token, title, beside)
                         for beside in (True, False)]))


def _token_table(token, title: str, beside: bool) -> Table:
    table = titled(title)
    table.add_column("what")
    table.add_column("SID or name", no_wrap=True)
    if beside:
        table.add_column("")
    for what, sid in [("User", token.sid), *(("Group", sid) for sid in token.groups)]:
        if beside:
            table.add_row(what, sid, sid_name(sid))
        else:
            table.add_row(what, f"{sid}\n  {sid_name(sid)}")
    for privilege in token.privileges:
        table.add_row("Privilege", privilege, *[""] * beside)
    return table


@deferred
def sd_view(obj) -> Group:
    sd = obj.header.security
    lines = [Text(f"{obj.header.path}  ({obj.header.type_name})", style="bold")]
    if sd is None:
        lines.append(Text("no security descriptor: no DACL, so every access is allowed"))
        return Group(*lines)
    lines.append(Text(f"SDDL: {sd}"))
    if sd.owner:
        lines.append(Text(f"Owner: {sid_name(sd.owner)}"))
    if sd.dacl is None:
        lines.append(Text("no DACL: every access is allowed"))
    elif not sd.dacl:
        lines.append(Text("empty DACL: nobody gets any access"))
    for number, ace in enumerate(sd.dacl or (), start=1):
        lines.append(Text(f"  ACE {number}: {'allow' if ace.allow else 'deny '} "
                          f"{ace.mask:#010x} {access_names(ace.mask, obj.header.type_name)} "
                          f"to {sid_name(ace.sid)}",
                          style="green" if ace.allow else "red"))
    return Group(*lines)
