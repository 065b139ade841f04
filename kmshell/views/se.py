"""Tokens and security descriptors: !token, !sd."""

from __future__ import annotations

from functools import partial

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.nt.se import sid_name
from kmshell.views.layout import Fitted, deferred, titled


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
                          f"{ace.mask:#010x} to {sid_name(ace.sid)}",
                          style="green" if ace.allow else "red"))
    return Group(*lines)
