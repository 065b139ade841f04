"""The object namespace and handles: object ls|show, handle list."""

from __future__ import annotations

from kmshell.commands.names import (
    resolve_object,
    resolve_process,
    windbg_process_named,
)
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import NAME, NUMBER, OBJECT_PATH, PROCESS, Arg, Opt, number
from kmshell.nt.ob import Directory
from kmshell.views.ob import (
    client_id_object,
    directory_listing,
    handle_table,
    namespace_tree,
    object_detail,
    windbg_handles,
)


@command("object ls", "list a directory of the object namespace (default \\)",
         args=(Arg("dir", OBJECT_PATH, "a directory such as \\Device", optional=True,
                   default="\\"),),
         aliases=("!object",),
         examples=("object ls", "object ls \\ObjectTypes", "!object \\Device"),
         when_halted=True, component="Ob")
def object_ls(session, cmd):
    obj = resolve_object(session.system, cmd["dir"], cmd.col("dir"))
    if isinstance(obj, Directory):
        return [directory_listing(obj)]
    return [object_detail(obj)]


@command("object tree", "the namespace below a directory as a tree (default \\, 2 levels)",
         args=(Arg("dir", OBJECT_PATH, "a directory", optional=True, default="\\"),),
         options=(Opt("depth", NUMBER, "how many levels to open (1 or more)", 2),),
         examples=("object tree", "object tree \\KernelObjects --depth 1"), when_halted=True,
         component="Ob")
def object_tree(session, cmd):
    obj = resolve_object(session.system, cmd["dir"], cmd.col("dir"))
    if not isinstance(obj, Directory):
        raise KmsError(f"{obj.header.path} is a {obj.header.type_name}, not a directory",
                       col=cmd.col("dir"), hint="use 'object show' for a single object")
    return [namespace_tree(obj, max(1, cmd["depth"]))]


@command("object show", "one object: type, header counts, target of a symbolic link",
         args=(Arg("path", OBJECT_PATH, "object path such as \\GLOBAL??\\C:"),),
         examples=("object show \\KernelObjects\\LowMemoryCondition",), when_halted=True,
         component="Ob")
def object_show(session, cmd):
    return [object_detail(resolve_object(session.system, cmd["path"], cmd.col("path")))]


@command("handle list", "a process's handle table: handle values, objects, access",
         args=(Arg("p", PROCESS, "PID or image name"),),
         examples=("handle list explorer.exe",), when_halted=True,
         component="Ob")
def handle_list(session, cmd):
    return [handle_table(resolve_process(session.system, cmd["p"], cmd.col("p")))]


HANDLE_CID = 0x20  # !handle bit 5: the handle value is a PID or a TID


@command("!handle", "WinDbg's !handle: one process's handles, or !handle 0 f PID [TYPE]",
         args=(Arg("handle", PROCESS, "alone, a process (PID in hex, or image name) as in "
                   "handle list; followed by FLAGS, a handle value, 0 for all"),
               Arg("flags", number(0, 0x3F, "FLAGS", "WinDbg's !handle flags"),
                   "bit 0 (0x1) basic information, bit 1 (0x2) the object, bit 2 (0x4) free "
                   "entries, bit 4 (0x10) the kernel table, bit 5 (0x20) HANDLE is a PID or "
                   "TID", optional=True),
               Arg("process", PROCESS, "a PID (hex), EPROCESS address or image name; 0 for "
                   "every process (left out: processor 0's)", optional=True),
               Arg("type", NAME, "only handles to objects of this type, e.g. File, Event",
                   optional=True)),
         details="As in WinDbg's kernel-mode form !handle [Handle [KMFlags [Process "
                 "[TypeName]]]], numbers are hex. With one argument kmshell reads it as a "
                 "process, as handle list does (the form !handle P). Free entries and the "
                 "kernel handle table are not modelled: those bits say so.",
         examples=("!handle 4", "!handle 0 f explorer.exe", "!handle 0 3 0 File",
                   "!handle a4 20"), when_halted=True,
         component="Ob")
def bang_handle(session, cmd):
    system, text, flags = session.system, cmd["handle"], cmd["flags"]
    if flags is None:
        return [handle_table(resolve_process(system, text, cmd.col("handle")))]
    if not text.startswith("0x"):
        raise KmsError(f"HANDLE: '{text}' is not a handle value", col=cmd.col("handle"),
                       hint="!handle 0 f P shows all of P's handles; !handle P alone, one "
                            "process")
    handle = int(text, 16)
    if flags & HANDLE_CID:
        obj = system.ps.processes.get(handle) or system.ps.threads.get(handle)
        return [client_id_object(obj, handle)]
    where = cmd["process"]
    processes = system.ps.live_processes() if where == "0x0" else \
        [windbg_process_named(system, where, cmd.col("process"))]
    return [windbg_handles(processes, handle, flags, cmd["type"])]
