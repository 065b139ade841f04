"""The object namespace (`object ls`, `!object`) and handle tables (`handle list`, `!handle`)."""

from __future__ import annotations

from functools import partial

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from kmshell.nt.events import ptr
from kmshell.nt.io.irp import FileObject
from kmshell.nt.ob import Directory, SymbolicLink
from kmshell.nt.ps import Process
from kmshell.views.layout import LIST_LIMIT, Fitted, Indented, deferred, fields, titled
from kmshell.views.ps import process_block, thread_block


def _describe(obj) -> str:
    if isinstance(obj, SymbolicLink):
        return f"→ {obj.target or '(root)'}"
    if isinstance(obj, Directory):
        return obj.description or f"{len(obj.entries)} entries"
    return ""


@deferred
def directory_listing(directory: Directory, focus: str | None = None) -> Fitted:
    """The directory's objects in name order, at most LIST_LIMIT of them: the first, and the
    one named `focus` (just created) in its place if it is further down. Where a long
    description does not fit beside them, the handle and pointer counts go (object show
    PATH gives them)."""
    children = directory.children()
    shown = children[:LIST_LIMIT]
    wanted = directory.entries.get(focus.upper()) if focus else None
    if wanted is not None and wanted not in shown:
        shown = [*shown[:LIST_LIMIT - 1], wanted]
    return Fitted([partial(_directory_table, directory, children, shown, counts)
                   for counts in (True, False)])


def _directory_table(directory: Directory, children: list, shown: list, counts: bool) -> Table:
    table = titled(f"Directory {directory.header.path}")
    columns = ("name", "type", "handles", "pointers", "") if counts else ("name", "type", "")
    for column in columns:
        table.add_column(column, overflow="fold")
    for child in shown:
        header = child.header
        table.add_row(header.name, header.type_name,
                      *((str(header.handle_count), str(header.pointer_count)) if counts else ()),
                      _describe(child))
    count = len(children)
    table.caption = f"{count} object{'' if count == 1 else 's'}" if len(shown) == count else (
        f"{len(shown)} of {len(children):,} objects ({len(children) - len(shown):,} left out); "
        f"object show {directory.header.path}\\NAME shows one")
    table.caption_justify = "left"
    return table


@deferred
def namespace_tree(directory: Directory, depth: int) -> Tree:
    """The namespace below directory as a tree, `depth` levels deep: its first LIST_LIMIT
    lines in name order, depth first; a last line counts the objects left out (counting them
    builds nothing) and says how to narrow."""
    tree = Tree(Text(directory.header.path, style="bold"), guide_style="dim")
    shown = 0

    def add(node: Tree, parent: Directory, level: int) -> int:
        """Adds parent's children while there is room; returns how many were left out."""
        nonlocal shown
        left = 0
        for child in parent.children():
            if shown >= LIST_LIMIT:
                left += 1 + _below(child, depth - level)
                continue
            shown += 1
            label = Text(child.header.name, style="bold" if isinstance(child, Directory) else "")
            label.append(f"  {child.header.type_name}", style="dim")
            if isinstance(child, SymbolicLink):
                label.append(f"  {_describe(child)}")
            branch = node.add(label)
            if isinstance(child, Directory) and level < depth:
                left += add(branch, child, level + 1)
            elif isinstance(child, Directory) and child.entries and shown < LIST_LIMIT:
                shown += 1
                branch.add(Text(f"… {len(child.entries)} more", style="dim"))
        return left

    if left := add(tree, directory, 1):
        tree.add(Text(f"… and {left:,} more: name a directory below (object tree \\Device), "
                      "open fewer levels (--depth 1), or list one directory (object ls DIR) or "
                      "object (object show PATH)", style="dim italic"))
    return tree


def _below(obj, levels: int) -> int:
    """How many objects the tree would list below obj, `levels` more levels deep."""
    if not isinstance(obj, Directory) or levels <= 0:
        return 0
    return len(obj.entries) + sum(_below(child, levels - 1) for child in obj.entries.values()
                                  if isinstance(child, Directory))


@deferred
def object_detail(obj) -> Group:
    header = obj.header
    rows = fields()
    rows.add_row("Object", f"{ptr(header.address)}  Type: {header.type_name}")
    rows.add_row("Name", header.path)
    rows.add_row("PointerCount", str(header.pointer_count))
    rows.add_row("HandleCount", str(header.handle_count))
    rows.add_row("Permanent", "yes" if header.permanent else "no")
    if isinstance(obj, SymbolicLink):
        rows.add_row("Target", obj.target or "(the root of the namespace)")
    parts: list = [rows]
    if isinstance(obj, Directory):
        parts.append(directory_listing(obj))
    return Group(*parts)


@deferred
def handle_table(process: Process) -> Table:
    table = titled(f"handle table of {process.image} ({process.pid})")
    for column in ("handle", "type", "object", "access", "handles", "pointers"):
        table.add_column(column, overflow="fold")
    for entry in process.handle_table.entries.values():
        obj = entry.object
        header = obj.header
        name = header.path or ptr(header.address)
        if not header.path and isinstance(obj, FileObject):  # a file object names its device
            device = obj.device.label  # and a file on a volume, itself
            name = f"{device}{obj.file_name}" if obj.file_name else f"on {device}"
        table.add_row(f"{entry.handle:#x}", header.type_name, name,
                      f"{entry.granted_access:#x}", str(header.handle_count),
                      str(header.pointer_count))
    table.caption = f"{len(process.handle_table.entries)} handle(s)"
    table.caption_justify = "left"
    return table


# !handle's kernel-mode flags (Debugger Reference, "!handle"): bit 0 basic handle
# information, bit 1 the object, bit 2 free entries, bit 4 the kernel handle table, bit 5
# the handle read as a PID or TID.
HANDLE_BASIC, HANDLE_OBJECT, HANDLE_FREE, HANDLE_KERNEL = 0x1, 0x2, 0x4, 0x10


def _matching(process: Process, handle: int, type_name: str | None) -> list:
    return [e for h, e in process.handle_table.entries.items()
            if handle in (0, h) and (type_name is None or
                                     e.object.header.type_name.lower() == type_name.lower())]


def _handle_lines(process: Process, entries: list, handle: int, flags: int,
                  type_name: str | None) -> Text:
    """A PROCESS block, then each handle (or the one asked for) as !handle prints them."""
    text = process_block(process, 0)
    text.append(f"\nHandle table: {len(process.handle_table.entries)} entries in use\n")
    for entry in entries[:LIST_LIMIT]:
        header = entry.object.header
        text.append(f"\n{entry.handle:04x}: Object: {header.address:016x}  "
                    f"GrantedAccess: {entry.granted_access:08x}")
        if flags & HANDLE_OBJECT:
            name = header.path
            if not name and isinstance(entry.object, FileObject):
                device = entry.object.device.label
                name = f"{device}{entry.object.file_name}" if entry.object.file_name \
                    else f"on {device}"
            text.append(f"\n    Type: {header.type_name}  HandleCount: {header.handle_count}"
                        f"  PointerCount: {header.pointer_count}"
                        + (f"  Name: {name}" if name else ""))
    if len(entries) > LIST_LIMIT:
        text.append(f"\n… the first {LIST_LIMIT} of {len(entries):,}: name one handle",
                    style="dim italic")
    if not entries:
        what = f"handle {handle:#x}" if handle else "handle"
        text.append(f"\nno {what}" + (f" of type {type_name}" if type_name else "")
                    + " in this table", style="dim")
    return text


@deferred
def windbg_handles(processes: list[Process], handle: int, flags: int,
                   type_name: str | None) -> Group:
    """`!handle HANDLE FLAGS PROCESS [TYPE]`, and a line for the bits the model cannot show."""
    found = [(p, _matching(p, handle, type_name)) for p in processes]
    if len(found) > 1:  # every process: those that have such handles
        found = [(p, entries) for p, entries in found if entries]
    parts: list = []
    for process, entries in found[:LIST_LIMIT]:
        if parts:
            parts.append(Text(""))
        parts.append(Indented(_handle_lines(process, entries, handle, flags, type_name)))
    if not found:
        parts.append(Text("no process has such a handle", style="dim"))
    if len(found) > LIST_LIMIT:
        parts.append(Text(f"… the first {LIST_LIMIT} of {len(found):,} processes: name "
                          "one", style="dim italic"))
    if flags & HANDLE_FREE:
        parts.append(Text("bit 2 (0x4), free entries: none to show, the model drops an entry "
                          "when its handle is closed", style="dim"))
    if flags & HANDLE_KERNEL:
        parts.append(Text("bit 4 (0x10), the kernel handle table: not modelled; the process's "
                          "own table is shown", style="dim"))
    return Group(*parts)


@deferred
def client_id_object(obj, cid: int) -> Text | Indented:
    """`!handle CID 20`: the process or thread whose client ID the handle value is."""
    if obj is None:
        return Text(f"no process or thread has the client ID {cid:04x}", style="dim")
    return Indented(process_block(obj, 0) if isinstance(obj, Process) else thread_block(obj, 0))
