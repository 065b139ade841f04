"""Tokens and security descriptors: !token, !sd."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from kmshell.nt.se import sid_name
from kmshell.views.layout import deferred, titled


@deferred
def token_view(token, title: str) -> Group:
    table = titled(title)
    table.add_column("what")
    table.add_column("SID or name")
    table.add_column("")
    table.add_row("User", token.sid, sid_name(token.sid))
    for sid in token.groups:
        table.add_row("Group", sid, sid_name(sid))
    for privilege in token.privileges:
        table.add_row("Privilege", privilege, "")
    return Group(table)


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
                          f"{ace.mask:#010x} to {sid_name(ace.sid)}",
                          style="green" if ace.allow else "red"))
    return Group(*lines)
