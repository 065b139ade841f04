"""Configuration manager (Cm): the registry — keys, typed values, and registry callbacks.

Keys live under \\REGISTRY\\MACHINE (HKLM) and \\REGISTRY\\USER (HKU); HKLM\\SYSTEM\\
CurrentControlSet is a link to ControlSet001, as on a real system. Every loaded driver has
its Services key with Type, Start, ErrorControl and ImagePath; Plug and Play writes each
device's Enum key; Driver Verifier's list is a value. A change from user mode
(CmSetValueKey, CmDeleteKey) goes past the drivers' registry callbacks first, which may
refuse it, and inside an open KTM transaction is only recorded until commit.

State (`ConfigurationManager`): `registry`, the keys and values. The `Registry` object lives
on the machine's `Disk` (system.py), so it survives a reboot; Cm itself keeps nothing else.

Reached: System builds it with the Core and the disk's registry, and wires in KTM (`tm`: an
open transaction defers changes) and Ps (`ps`: it holds the registered callbacks). Mm, KTM,
Pnp and the I/O manager are built with it.

Simplifications: no hives or security on keys, no volatile keys; names are matched
case-insensitively, as Windows does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.rtl import U32, U64, parse_number

if TYPE_CHECKING:
    from kmshell.nt.core import Core
    from kmshell.nt.ps import ProcessManager
    from kmshell.nt.tm import TransactionManager

# Value types (winnt.h).
REG_TYPES = {
    "REG_SZ": 1,
    "REG_EXPAND_SZ": 2,
    "REG_BINARY": 3,
    "REG_DWORD": 4,
    "REG_MULTI_SZ": 7,
    "REG_QWORD": 11,
}
ROOTS = {"HKLM": "HKEY_LOCAL_MACHINE", "HKU": "HKEY_USERS"}
ROOT_ALIASES = {"HKLM": "HKLM", "HKEY_LOCAL_MACHINE": "HKLM", "HKU": "HKU",
                "HKEY_USERS": "HKU", "\\REGISTRY\\MACHINE": "HKLM", "\\REGISTRY\\USER": "HKU"}
CONTROL_SET = "ControlSet001"

# SERVICE_* values a Services key holds (winnt.h).
SERVICE_KERNEL_DRIVER = 1
START_TYPES = {"boot": 0, "system": 1, "auto": 2, "demand": 3, "disabled": 4}
SERVICE_ERROR_NORMAL = 1
# A value's data, by type: REG_DWORD and REG_QWORD an int, REG_BINARY bytes, REG_MULTI_SZ a
# list of strings, REG_SZ and REG_EXPAND_SZ a string (parse_data makes each from text).
RegData = str | int | bytes | list[str]
# "A registry tree can be 512 levels deep" (Registry element size limits,
# https://learn.microsoft.com/en-us/windows/win32/sysinfo/registry-element-size-limits).
MAX_DEPTH = 512


@dataclass
class RegValue:
    name: str  # "" is the key's default value
    type: str  # a REG_TYPES name
    data: RegData  # of the type's kind

    def show(self) -> str:
        data = self.data
        if isinstance(data, int):  # REG_DWORD, REG_QWORD
            return f"{data:#x} ({data})"
        if isinstance(data, bytes):  # REG_BINARY
            return " ".join(f"{b:02x}" for b in data)
        if isinstance(data, list):  # REG_MULTI_SZ
            return " | ".join(data)
        return data


@dataclass(eq=False)
class Key:
    name: str
    # (not in repr: a key's repr would print the whole tree above and below it)
    parent: Key | None = field(default=None, repr=False)
    subkeys: dict[str, Key] = field(default_factory=dict, repr=False)  # upper-cased name -> key
    values: dict[str, RegValue] = field(default_factory=dict)

    @property
    def path(self) -> str:
        names: list[str] = []
        key: Key | None = self
        while key is not None:  # a loop, not recursion: a tree may be 512 levels deep
            names.append(key.name)
            key = key.parent
        return "\\".join(reversed(names))


class RegistryError(LookupError):
    """A path or value that does not exist; the message says which part."""


def parse_data(type_name: str, text: str) -> RegData:
    """The text a user types -> the data of a value of that type (ValueError if it cannot)."""
    if type_name in ("REG_DWORD", "REG_QWORD"):
        limit = U32 if type_name == "REG_DWORD" else U64
        try:
            return parse_number(text, 0, limit)
        except ValueError as error:
            raise ValueError(f"{error}; a {type_name} is 0..{limit:#x}") from None
    if type_name == "REG_BINARY":
        return bytes.fromhex(text.replace(" ", "").removeprefix("0x"))
    if type_name == "REG_MULTI_SZ":
        return [part for part in text.split("|")]
    return text


class Registry:
    def __init__(self) -> None:
        self.roots = {name: Key(name) for name in ROOTS}
        for path in ("HKLM\\SYSTEM\\" + CONTROL_SET + "\\Services",
                     "HKLM\\SYSTEM\\" + CONTROL_SET + "\\Enum",
                     "HKLM\\SYSTEM\\" + CONTROL_SET + "\\Control",
                     "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
                     "HKLM\\HARDWARE\\DESCRIPTION\\System",
                     "HKU\\.DEFAULT", "HKU\\S-1-5-18"):
            self.create(path)
        version = self.create("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion")
        version.values["PRODUCTNAME"] = RegValue("ProductName", "REG_SZ", "kmshell model")

    @staticmethod
    def split(path: str) -> tuple[str, list[str]]:
        """`HKLM\\SYSTEM\\CurrentControlSet\\Services` -> ("HKLM", [...]) with the link
        CurrentControlSet resolved to ControlSet001."""
        parts = [p for p in path.strip().strip("\\").split("\\") if p]
        if path.strip().upper().startswith("\\REGISTRY\\") and len(parts) >= 2:
            parts = ["\\REGISTRY\\" + parts[1]] + parts[2:]
        if not parts or parts[0].upper() not in ROOT_ALIASES:
            raise RegistryError(f"'{path}' does not start with a root key; use HKLM\\... or "
                                "HKU\\...")
        if len(parts) > MAX_DEPTH:
            raise RegistryError(f"'{path[:40]}…' is {len(parts)} levels deep; a registry "
                                f"tree can be {MAX_DEPTH} levels deep")
        root = ROOT_ALIASES[parts[0].upper()]
        rest = [CONTROL_SET if p.upper() == "CURRENTCONTROLSET" else p for p in parts[1:]]
        return root, rest

    def open(self, path: str) -> Key:
        root, parts = self.split(path)
        key = self.roots[root]
        for part in parts:
            child = key.subkeys.get(part.upper())
            if child is None:
                raise RegistryError(f"no key '{part}' under {key.path}")
            key = child
        return key

    def create(self, path: str) -> Key:
        """RegCreateKeyEx: open the key, creating any missing part."""
        root, parts = self.split(path)
        key = self.roots[root]
        for part in parts:
            key = key.subkeys.setdefault(part.upper(), Key(part, key))
        return key

    def walk_keys(self) -> Iterator[Key]:
        """Every key, depth first."""
        stack = list(self.roots.values())
        while stack:
            key = stack.pop()
            yield key
            stack.extend(key.subkeys.values())

    def walk_values(self) -> Iterator[tuple[str, RegValue]]:
        """Every (key path, value) pair, for snapshots."""
        for key in self.walk_keys():
            for value in key.values.values():
                yield key.path, value

    def install_service(self, name: str, image: str, start: str) -> Key:
        """What the service control manager writes for a kernel driver."""
        key = self.create(f"HKLM\\SYSTEM\\CurrentControlSet\\Services\\{name}")
        for value in (RegValue("Type", "REG_DWORD", SERVICE_KERNEL_DRIVER),
                      RegValue("Start", "REG_DWORD", START_TYPES[start]),
                      RegValue("ErrorControl", "REG_DWORD", SERVICE_ERROR_NORMAL),
                      RegValue("ImagePath", "REG_EXPAND_SZ",
                               f"\\SystemRoot\\System32\\drivers\\{image}")):
            key.values[value.name.upper()] = value
        return key


@dataclass
class RegistryOperation:
    """One change, as a transaction keeps it until commit."""

    kind: str  # "set" or "delete"
    path: str
    name: str | None = None  # the value; None with "delete" deletes the key
    value: RegValue | None = None

    def __str__(self) -> str:
        if self.kind == "set":
            assert self.value is not None  # a "set" carries the value it sets
            return f"set {self.path} {self.value.name} = {self.value.show()} ({self.value.type})"
        return f"delete {self.path}" + (f" value {self.name}" if self.name is not None else "")


class ConfigurationManager:
    """Cm. Built with the Core and the registry (kept on the disk across restarts); KTM (an
    open transaction defers changes) and Ps (which holds the registered callbacks) are wired
    in by System."""

    tm: TransactionManager
    ps: ProcessManager

    def __init__(self, core: Core, registry: Registry) -> None:
        self.core = core
        self.registry = registry
        self.emit = core.emit

    def registry_key(self, path: str) -> Key:
        """ZwCreateKey: the key at path, created with its parents if missing."""
        return self.registry.create(path)

    def query_value(self, path: str, name: str) -> RegValue | None:
        """ZwCreateKey then ZwQueryValueKey: the value, or None; the key is created if
        missing (Driver Verifier's key is read this way at every driver load)."""
        return self.registry.create(path).values.get(name.upper())

    def write_value(self, path: str, name: str, kind: str, data: RegData) -> None:
        """ZwSetValueKey from the kernel itself (no callbacks: the kernel's own writes)."""
        self.registry.create(path).values[name.upper()] = RegValue(name, kind, data)

    def install_service(self, name: str, image: str, start: str) -> Key:
        """The driver's Services key, as its INF (or sc create) writes it."""
        return self.registry.install_service(name, image, start)

    def reg_apply(self, op: RegistryOperation, *, transacted: bool = False) -> None:
        """CmSetValueKey / CmDeleteKey / CmDeleteValueKey, after the pre-callbacks allow it.
        Inside a transaction the change is only recorded, until commit."""
        self.core.require_running()
        notify = {"set": "RegNtPreSetValueKey", "delete": "RegNtPreDeleteKey"
                  if op.name is None else "RegNtPreDeleteValueKey"}[op.kind]
        self._registry_callbacks(notify, op)
        if op.kind == "delete":
            self.registry.open(op.path)  # refuse a missing key before anything is recorded
            if op.name is not None and op.name.upper() not in self.registry.open(op.path).values:
                raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND,
                              f"no value '{op.name}' in {op.path}")
        if not transacted and self.tm.enlist(op):
            return
        if op.kind == "set":
            assert op.value is not None  # a "set" carries the value it sets
            self.registry.create(op.path).values[op.value.name.upper()] = op.value
        elif op.name is None:
            key = self.registry.open(op.path)
            if key.parent is None:
                raise NtError(NtStatus.STATUS_ACCESS_DENIED, "a root key cannot be deleted")
            del key.parent.subkeys[key.name.upper()]
        else:
            del self.registry.open(op.path).values[op.name.upper()]
        self.emit("Cm", "registry", f"{op}", mode="K")
        self._registry_callbacks(notify.replace("Pre", "Post"), op)

    def _registry_callbacks(self, notify: str, op: RegistryOperation) -> None:
        for routine in self.ps.notify_routines("registry"):
            routine.calls += 1
            if routine.driver.unloaded:
                self.ps.call_unloaded(routine.driver, routine.name or "RegistryCallback",
                                      "registry")
            denies = any(step.op == "DenyAccess" for step in routine.steps)
            pre = "Pre" in notify
            self.emit("Cm", "notify", f"{routine.driver.name}'s registry callback "
                      f"#{routine.number} sees {notify} for {op.path}"
                      + (": returns STATUS_ACCESS_DENIED, the operation is blocked"
                         if denies and pre else ""),
                      "Registry callbacks (CmRegisterCallbackEx) see every operation before "
                      "and after it happens; a pre-callback can refuse it.")
            if denies and pre:
                raise NtError(NtStatus.STATUS_ACCESS_DENIED, f"{routine.driver.name}'s registry "
                              f"callback blocked: {op}")
