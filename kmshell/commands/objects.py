"""The object namespace and handles: object ls|show, handle list."""

from __future__ import annotations

from kmshell.commands.names import resolve_object, resolve_process
from kmshell.commands.registry import command
from kmshell.errors import KmsError
from kmshell.language.spec import NUMBER, OBJECT_PATH, PROCESS, Arg, Opt
from kmshell.nt.ob import Directory
from kmshell.views.ob import directory_listing, handle_table, namespace_tree, object_detail


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
         args=(Arg("p", PROCESS, "PID or image name"),), aliases=("!handle",),
         examples=("handle list explorer.exe", "!handle 4"), when_halted=True, component="Ob")
def handle_list(session, cmd):
    return [handle_table(resolve_process(session.system, cmd["p"], cmd.col("p")))]
