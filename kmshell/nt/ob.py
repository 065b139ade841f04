"""Object manager (Ob): the namespace, object headers, and per-process handle tables.

Every kernel object carries an `ObjectHeader` with a pointer count (references held by
kernel code) and a handle count (references held through handle tables). Named objects live
in directories under `\\`; a path is parsed directory by directory, and an object that is
not a directory (a device, a symbolic link) takes the rest of the path.

State (`ObjectManager`): `root`, the root directory, and through it the whole namespace;
`_allocate`, where object headers get their addresses; `callbacks`, the pre-operation
callbacks drivers registered for process handles (ObRegisterCallbacks), by altitude. A
handle table belongs to its process (Process.handle_table), an object header to its object.

Reached: System builds it first, with the Core (addresses for headers, `emit`), and
`build_namespace` fills it at boot; Ke (named dispatcher objects, opened by the threads that
name them: `open_object`, with the access check), Ps (process and thread objects), the I/O
manager (drivers, devices) and FileIo (opens) are built with it; `sd set` calls
`set_security`.

Simplifications: there are no per-session namespaces (named objects all go to
`\\BaseNamedObjects`), no object types as objects with their own procedures (the types are
a fixed list), no parse procedures beyond a device's (FileIo's), and only dispatcher objects
and devices are checked against their security descriptor. An ObRegisterCallbacks
registration is one pre-operation callback on PsProcessType for handle creation and
duplication, which strips the rights it names from handles opened to one image; handles
are opened in the model only by `process kill --by` (OpenProcess, then TerminateProcess).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.se import SecurityDescriptor, access_check

if TYPE_CHECKING:
    from kmshell.nt.core import Core
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.ps import Process

# Process-specific access rights (winnt.h) that a pre-operation callback may strip.
PROCESS_RIGHTS = {
    "PROCESS_TERMINATE": 0x0001, "PROCESS_CREATE_THREAD": 0x0002,
    "PROCESS_VM_OPERATION": 0x0008, "PROCESS_VM_READ": 0x0010, "PROCESS_VM_WRITE": 0x0020,
    "PROCESS_DUP_HANDLE": 0x0040, "PROCESS_CREATE_PROCESS": 0x0080,
    "PROCESS_SET_QUOTA": 0x0100, "PROCESS_SET_INFORMATION": 0x0200,
    "PROCESS_SUSPEND_RESUME": 0x0800,
}
PROCESS_ALL_ACCESS = 0x001FFFFF

# Windows 10's object types that the model uses or shows (a selection of \ObjectTypes). There
# is no "Port": LPC ports gave way to ALPC ports ("ALPC Port") in Windows Vista.
OBJECT_TYPES = (
    "Type", "Directory", "SymbolicLink", "Token", "Process", "Thread", "Job", "Event",
    "Mutant", "Semaphore", "Timer", "KeyedEvent", "WindowStation", "Desktop", "Section",
    "Key", "ALPC Port", "Callback", "File", "Device", "Driver", "IoCompletion",
    "Controller", "Adapter", "WmiGuid", "TmTm", "TmTx", "TmRm", "TmEn", "EtwRegistration",
)

# The directories a booted Windows has, and what each is for (shown by `object ls`).
NAMESPACE_DIRECTORIES = {
    "\\ObjectTypes": "one Type object per kind of kernel object",
    "\\Device": "device objects created by drivers (IoCreateDevice)",
    "\\Driver": "driver objects, one per loaded driver",
    "\\FileSystem": "file system driver objects and recognizers",
    "\\FileSystem\\Filters": "the filter manager's objects (FltMgr): file system filters",
    "\\GLOBAL??": "DOS device names: symbolic links such as C: to \\Device\\...",
    "\\BaseNamedObjects": "named events, mutexes, semaphores and sections from Win32",
    "\\KernelObjects": "objects the kernel itself names, e.g. LowMemoryCondition",
    "\\Callback": "callback objects (ExCreateCallback), e.g. PowerState",
    "\\KnownDlls": "section objects for DLLs every process maps",
    "\\Sessions": "per-session namespaces",
    "\\Windows": "window stations and the Windows subsystem's objects",
    "\\RPC Control": "ALPC ports for RPC",
    "\\Security": "security-related events and ports",
    "\\ArcName": "ARC names for boot devices",
}

SYMBOLIC_LINKS = {
    "\\GLOBAL??\\C:": "\\Device\\HarddiskVolume1",
    "\\GLOBAL??\\GLOBALROOT": "",
    "\\GLOBAL??\\PhysicalDrive0": "\\Device\\Harddisk0",  # Windows: ...\\Harddisk0\\DR0
    "\\DosDevices": "\\??",
    "\\SystemRoot": "\\Device\\HarddiskVolume1\\Windows",
    # In Windows the volume manager's device for the disk's first partition; the model's disk
    # is one volume, so the name links to the disk itself.
    "\\Device\\HarddiskVolume1": "\\Device\\Harddisk0",
}

KERNEL_OBJECTS = {
    "\\KernelObjects\\LowMemoryCondition": "Event",
    "\\KernelObjects\\HighMemoryCondition": "Event",
    "\\KernelObjects\\CritSecOutOfMemoryEvent": "KeyedEvent",
    "\\Callback\\PowerState": "Callback",
    "\\Callback\\SetSystemTime": "Callback",
    "\\Callback\\ProcessorAdd": "Callback",
    "\\KnownDlls\\kernel32.dll": "Section",
    "\\KnownDlls\\ntdll.dll": "Section",
    "\\KnownDlls\\user32.dll": "Section",
}


@dataclass(eq=False)
class ObjectHeader:
    """OBJECT_HEADER: the part of every object the object manager owns."""

    type_name: str
    name: str = ""
    address: int = 0
    pointer_count: int = 1
    handle_count: int = 0
    directory: Directory | None = None
    permanent: bool = False
    security: SecurityDescriptor | None = None  # None: no DACL, open to everyone

    @property
    def path(self) -> str:
        if self.directory is None:
            return self.name or ""
        parent = self.directory.header.path
        return ("" if parent == "\\" else parent) + "\\" + self.name


class ObjectBody(Protocol):
    """Any object the object manager keeps: the body that follows an OBJECT_HEADER (a process,
    a device, an event, a directory...)."""

    @property
    def header(self) -> ObjectHeader: ...


Body = TypeVar("Body", bound=ObjectBody)


@dataclass(eq=False)
class KernelObject:
    """Any object that has only a header (events in \\KernelObjects, sections, types...)."""

    header: ObjectHeader


@dataclass(eq=False)
class Directory:
    header: ObjectHeader
    entries: dict[str, ObjectBody] = field(default_factory=dict)  # upper-cased name -> object
    description: str = ""

    def children(self) -> list[ObjectBody]:
        return sorted(self.entries.values(), key=lambda o: o.header.name.upper())


@dataclass(eq=False)
class SymbolicLink:
    header: ObjectHeader
    target: str = ""


@dataclass(eq=False)
class ObCallback:
    """One ObRegisterCallbacks registration: its driver's pre-operation callback strips
    `rights` from user-mode handles opened to processes running `image`."""

    driver: DriverObject
    altitude: str
    image: str
    rights: int
    calls: int = 0


def rights_text(mask: int) -> str:
    return "|".join(name for name, bit in PROCESS_RIGHTS.items() if mask & bit) or hex(mask)


@dataclass(eq=False)
class HandleEntry:
    handle: int
    object: ObjectBody
    granted_access: int


@dataclass(eq=False)
class HandleTable:
    """A process's handle table. Handle values are multiples of 4, starting at 4, as in NT."""

    entries: dict[int, HandleEntry] = field(default_factory=dict)
    next_handle: int = 4

    def insert(self, obj: ObjectBody, granted_access: int) -> int:
        handle = self.next_handle
        self.next_handle += 4
        self.entries[handle] = HandleEntry(handle, obj, granted_access)
        obj.header.handle_count += 1
        obj.header.pointer_count += 1
        return handle

    def close(self, handle: int) -> ObjectBody:
        entry = self.entries.pop(handle)
        entry.object.header.handle_count -= 1
        entry.object.header.pointer_count -= 1
        return entry.object

    def close_all(self) -> int:
        count = len(self.entries)
        for handle in list(self.entries):
            self.close(handle)
        return count


class ObjectPathError(LookupError):
    """A path that does not name an object; the message says which part was missing."""


class ObjectManager:
    """The namespace. Lookups are case-insensitive, as NT's are for these directories."""

    def __init__(self, core: Core) -> None:
        self._allocate = core.allocate_address
        self.emit = core.emit
        self.root = Directory(self.header("Directory", "\\", permanent=True))
        self.callbacks: list[ObCallback] = []  # ObRegisterCallbacks, highest altitude first

    def register_callbacks(self, driver: DriverObject, altitude: str, image: str,
                           rights: int) -> ObCallback:
        """ObRegisterCallbacks: one altitude, one registration (WDK nf-wdm-obregistercallbacks:
        STATUS_FLT_INSTANCE_ALTITUDE_COLLISION when a driver already holds that altitude)."""
        taken = next((c for c in self.callbacks if c.altitude == altitude), None)
        if taken is not None:
            raise NtError(NtStatus.STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, f"ObRegisterCallbacks"
                          f": {taken.driver.name} already registered callbacks at altitude "
                          f"{altitude}; each registration needs an altitude of its own")
        callback = ObCallback(driver, altitude, image, rights)
        self.callbacks.append(callback)
        self.callbacks.sort(key=lambda c: -float(c.altitude))
        self.emit("Ob", "callback", f"ObRegisterCallbacks: {driver.name} registers a "
                  f"pre-operation callback on process handles (altitude {altitude}): it strips "
                  f"{rights_text(rights)} from handles opened to {image}",
                  "Ob callbacks see every handle created or duplicated to a process or thread, "
                  "before it is made, and may take rights out of the access it grants.")
        return callback

    def unregister_callbacks(self, driver: DriverObject) -> None:
        """ObUnRegisterCallbacks (its handle: the driver's one registration)."""
        mine = [c for c in self.callbacks if c.driver is driver]
        if not mine:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"ObUnRegisterCallbacks: "
                          f"{driver.name} has no registration to remove (ObRegisterCallbacks "
                          "first; unregistering twice is a double free)")
        self.callbacks.remove(mine[0])
        self.emit("Ob", "callback", f"ObUnRegisterCallbacks: {driver.name}'s pre-operation "
                  "callback is removed")

    def pre_operation_callbacks(self, image: str) -> list[ObCallback]:
        """The registrations whose callback acts on handles to processes running image."""
        return [c for c in self.callbacks if c.image.lower() == image.lower()]

    def open_process(self, opener: Process, target: Process, desired: int) -> tuple[int, int]:
        """NtOpenProcess from user mode: the pre-operation callbacks (at PASSIVE_LEVEL, highest
        altitude first) may clear bits of DesiredAccess (OB_PRE_CREATE_HANDLE_INFORMATION);
        the handle gets what is left. Returns (handle, granted access). A kernel handle
        (OBJ_KERNEL_HANDLE) is not opened here: drivers leave those alone. The process's own
        DACL is not modelled."""
        granted = desired
        for callback in self.pre_operation_callbacks(target.image):
            callback.calls += 1
            stripped = granted & callback.rights
            granted &= ~callback.rights
            self.emit("Ob", "callback", f"ObRegisterCallbacks: {callback.driver.name}'s "
                      "pre-operation callback strips "
                      f"{rights_text(stripped) if stripped else 'nothing'} from the handle "
                      f"{opener.image} ({opener.pid}) opens to {target.image} ({target.pid}): "
                      f"DesiredAccess {desired:#x} → {granted:#x}",
                      "A pre-operation callback may only take rights away: the handle is made "
                      "with the DesiredAccess it leaves, and the caller is not told.")
        handle = opener.handle_table.insert(target, granted)
        return handle, granted

    def open_object(self, process: Process, obj: ObjectBody, desired: int) -> bool:
        """ObOpenObjectByName, the first time a process names an object (OpenEvent...): the
        security reference monitor checks the process's token against the object's DACL
        (SeAccessCheck), and a handle with the granted access goes into its handle table.
        True if the process has a handle now."""
        if any(e.object is obj for e in process.handle_table.entries.values()):
            return True
        granted, mask, why = access_check(obj.header.security, process.token, desired,
                                          obj.header.type_name)
        if obj.header.security is not None:
            self.emit("Se", "access-check", f"{process.image} (as {process.token.user}) opens "
                      f"{obj.header.path} for {desired:#x}: "
                      f"{'granted ' + hex(mask) if granted else 'DENIED'} — {why}",
                      "SeAccessCheck walks the DACL in order: a deny ACE for a wanted right "
                      "ends the check; allow ACEs add rights until all are granted.")
        if granted:
            process.handle_table.insert(obj, mask)
        return granted

    def set_security(self, obj: ObjectBody, descriptor: SecurityDescriptor, sddl: str) -> None:
        """NtSetSecurityObject: the object's security descriptor is replaced; every open from
        now on is checked against it."""
        obj.header.security = descriptor
        self.emit("Se", "security", f"{obj.header.path} gets security descriptor {sddl}")

    def header(self, type_name: str, name: str = "", permanent: bool = False) -> ObjectHeader:
        return ObjectHeader(type_name, name, address=self._allocate(), permanent=permanent)

    def lookup(self, path: str) -> ObjectBody:
        node, rest, walked = self._walk(path)
        if rest:
            raise ObjectPathError(f"{walked} is a {node.header.type_name}, not a directory")
        return node

    def directory(self, path: str) -> Directory:
        """The directory at path; ObjectPathError when path names another kind of object."""
        node = self.lookup(path)
        if not isinstance(node, Directory):
            raise ObjectPathError(f"{path} is not a directory")
        return node

    def parse(self, path: str) -> tuple[ObjectBody, str]:
        """The object the path leads to, and what is left of the path past it: a directory
        is walked, any other object takes the rest of the name (a symbolic link follows it
        with its target; a device's parse routine hands it on as the file name)."""
        node, rest, _ = self._walk(path)
        return node, rest

    def _walk(self, path: str) -> tuple[ObjectBody, str, str]:
        parts = normalize_path(path).strip("\\").split("\\")
        node: ObjectBody = self.root
        walked = ""
        for index, part in enumerate(parts if parts != [""] else []):
            if not isinstance(node, Directory):
                return node, "\\" + "\\".join(parts[index:]), walked
            child = node.entries.get(part.upper())
            if child is None:
                where = walked or "\\"
                raise ObjectPathError(f"no object named '{part}' in {where}")
            node = child
            walked += "\\" + child.header.name
        return node, "", walked

    def insert(self, path: str, obj: Body) -> Body:
        """Give obj the name `path`; its parent directories must exist."""
        path = normalize_path(path)
        parent_path, _, name = path.rpartition("\\")
        parent = self.directory(parent_path or "\\")
        if name.upper() in parent.entries:
            raise ObjectPathError(f"{path} already exists")
        obj.header.name = name
        obj.header.directory = parent
        parent.entries[name.upper()] = obj
        return obj

    def remove(self, obj: ObjectBody) -> None:
        """Take obj's name out of its directory (the object is being deleted)."""
        directory = obj.header.directory
        assert directory is not None, "only a named object is removed (its callers check)"
        del directory.entries[obj.header.name.upper()]
        obj.header.directory = None

    def create_directory(self, path: str, description: str = "") -> Directory:
        directory = Directory(self.header("Directory", permanent=True), description=description)
        return self.insert(path, directory)

    def create_symbolic_link(self, path: str, target: str,
                             permanent: bool = True) -> SymbolicLink:
        """A link made at boot is permanent; a driver's (IoCreateSymbolicLink) is not."""
        return self.insert(path, SymbolicLink(self.header("SymbolicLink", permanent=permanent),
                                              target))

    def create_object(self, path: str, type_name: str) -> KernelObject:
        return self.insert(path, KernelObject(self.header(type_name, permanent=True)))

    def object_count(self) -> int:
        """Every object in the namespace."""
        return sum(1 for _ in self.walk())

    def walk(self, directory: Directory | None = None) -> Iterator[ObjectBody]:
        """Every named object under directory, depth first, in name order."""
        for child in (directory or self.root).children():
            yield child
            if isinstance(child, Directory):
                yield from self.walk(child)


def normalize_path(path: str) -> str:
    path = path.strip()
    if not path.startswith("\\"):
        path = "\\" + path
    if len(path) > 1:
        path = path.rstrip("\\")
    return path


def build_namespace(ob: ObjectManager) -> None:
    """The directories, links and kernel objects a freshly booted system has."""
    for path, description in NAMESPACE_DIRECTORIES.items():
        ob.create_directory(path, description)
    for type_name in OBJECT_TYPES:
        ob.create_object(f"\\ObjectTypes\\{type_name}", "Type")
    for path, type_name in KERNEL_OBJECTS.items():
        ob.create_object(path, type_name)
    for path, target in SYMBOLIC_LINKS.items():
        ob.create_symbolic_link(path, target)
