"""Driver specs: a driver is data — its routines are lists of DDI steps with real names.

A spec is a TOML table (read by the command layer with tomllib; nothing in it is executed as
Python). `spec_from_dict` checks every routine name, IRP major and step here, so a mistake is
a load-time error naming the file, the routine and the step.

    name = "nullsink"
    type = "function"                       # bus | function | filter
    description = "..."
    [routines]
    DriverEntry = ["IoCreateDevice NullSink"]
    IRP_MJ_READ = ["IoCompleteRequest STATUS_END_OF_FILE", "return STATUS_END_OF_FILE"]
    [completion]
    ReadDone = ["return STATUS_SUCCESS"]
    [cancel]
    CancelRead = ["IoReleaseCancelSpinLock", "IoCompleteRequest STATUS_CANCELLED"]

A Plug and Play driver also has `hardware_ids` (the devices it serves; a filter says
`position = "upper"` or `"lower"`; `class` names the device setup class a function driver's
devices belong to, or, on a filter without hardware_ids, the class it filters), an
`AddDevice` routine that creates its device and attaches it to the PDO
(`IoAttachDeviceToDeviceStack pdo`), and routines for IRP_MJ_PNP and IRP_MJ_POWER minors by
their IRP_MN_ names (what its dispatch routine's switch does for each). A bus driver has a
`[pdo]` table too: what it does with IRPs that reach the PDOs it created for its children
(it is the bottom of their stacks), and `child_names`, how those PDOs are named (`USBPDO-`
gives \\Device\\USBPDO-0, -1, ...). `io = "buffered"|"direct"` is the flag a driver sets on
its devices (DO_BUFFERED_IO, DO_DIRECT_IO): how the I/O manager hands it the caller's data
for reads and writes; without it, neither I/O (the caller's own address). A filter takes the
flag of the device it attaches to. A driver that holds IRPs makes them cancelable with
`IoSetCancelRoutine NAME`, NAME a routine of its `[cancel]` table (entered holding the
cancel spin lock, at DISPATCH_LEVEL; it returns nothing).
The notify and registry callbacks a driver registers (PsSetCreateProcessNotifyRoutineEx
NAME, CmRegisterCallbackEx NAME ALTITUDE, ...) are routines of its `[notify]` table, written
in the steps `callback register --steps` takes (compute, CreationStatus, DenyAccess, ...):
the process manager runs them as it runs any notify routine.

`device_type` is the DeviceType of the devices it creates (FILE_DEVICE_UNKNOWN unless said):
a FILE_DEVICE_DISK device gets a VPB, a volume a file system can mount. A file system is
`type = "filesystem"` (its driver object is named in \\FileSystem) with `device_type =
"FILE_DEVICE_DISK_FILE_SYSTEM"`: its DriverEntry creates a control device and calls
IoRegisterFileSystem, its IRP_MN_MOUNT_VOLUME routine creates the volume device (IoCreateDevice
there), and its volume device passes requests to the volume with `IoCallDriver volume`.

Part of the I/O manager (Io): a spec stands for what Windows loads for a driver, its image
(MmLoadSystemImage) and its Services key. This module holds no state: a `DriverSpec` is one
spec's content and a `Call` one step as written. What a step may be is in steps.py, one
record per DDI (`DDIS`): `_call` finds the record, counts the arguments against its synopsis
and runs its check. Specs reach it as parsed TOML from the command layer (kmshell.drivers:
`driver load`, the catalog) and from the PnP manager's built-in driver; the DriverSpec goes
to `IoManager.load_driver`. Simplified: a real driver's routines are compiled code and its
mistakes show when they run; here a routine is a list of DDI names, checked before it loads.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from kmshell.nt.constants import FILE_DEVICE, IRP_MJ, MINORS_OF
from kmshell.nt.io.steps import (
    CONDITIONS,
    DDIS,
    DDIS_BY_LOWER_NAME,
    MAX_NAME,
    NAME_CHARACTERS,
    Condition,
    Names,
    parse_condition,
)
from kmshell.nt.ps import Step, parse_callback_steps
from kmshell.nt.rtl import control_character, number_or_none, printable

DRIVER_TYPES = ("bus", "function", "filter", "filesystem")
START_TYPES = ("boot", "system", "auto", "demand", "disabled")
FIXED_ROUTINES = ("DriverEntry", "AddDevice", "Unload", "ISR", "DPC", "StartIo",
                  "SynchCritSection", "AdapterListControl", "ControllerControl")
MINORS = {name: code for minors in MINORS_OF.values() for name, code in minors.items()}
FILTER_POSITIONS = ("upper", "lower")
IO_METHODS = ("buffered", "direct", "neither")  # DO_BUFFERED_IO, DO_DIRECT_IO, neither flag
INTERRUPT_KINDS = ("line", "msi", "msi-x")  # line-based, or message-signaled (MSI, MSI-X)

# The keys a spec may have and what each says (docs/drivers.md is generated from this).
SPEC_KEYS = {
    "name": "the service name: \\Driver\\NAME (\\FileSystem\\NAME for a file system), the "
            "Services key, the image NAME.sys",
    "type": "bus, function, filter or filesystem",
    "description": "one line, shown by driver list",
    "start": "the Services key's Start: boot, system, auto, demand (the default) or disabled",
    "hardware_ids": "the devices it serves: Plug and Play finds it by these, e.g. "
                    "[\"USB\\\\VID_045E&PID_0008\"]",
    "position": "for a filter: upper (the default) or lower, above or below the function driver",
    "class": "the device setup class (the INF's Class=), e.g. Toaster: for a function or bus "
             "driver, the class of the devices it serves; for a filter without hardware_ids, "
             "the class it filters (a class filter, on every device of that class)",
    "io": "buffered or direct: DO_BUFFERED_IO or DO_DIRECT_IO on its devices (without it, "
          "neither I/O; a filter takes the flag of the device below)",
    "device_type": "the DeviceType of its devices, e.g. FILE_DEVICE_DISK (which gets a VPB); "
                   "FILE_DEVICE_UNKNOWN unless said",
    "interrupt": "line (the default), msi or msi-x: what IoConnectInterruptEx connects",
    "messages": "for msi and msi-x: how many messages (vectors) it asks for, 1 to 16",
    "child_names": "a bus driver's prefix for its PDOs' names, e.g. USBPDO- (without it, "
                   "\\Device\\0000000N)",
    "pageable": "the routines in its PAGE section, as #pragma alloc_text(PAGE, ...) puts "
                "them, e.g. [\"IRP_MJ_READ\"]: their code can be trimmed and paged out, so "
                "they must run below DISPATCH_LEVEL",
    "stack": "[stack]: bytes of locals a routine keeps on the kernel stack, e.g. IRP_MJ_READ "
             "= 2048 (a routine not named uses only its frame); the stack is 24 KB",
    "routines": "[routines]: DriverEntry, AddDevice, Unload, ISR, DPC, StartIo, ... and one "
                "routine per IRP_MJ_* or IRP_MN_* name, each a list of steps",
    "pdo": "[pdo]: a bus driver's routines for the IRPs that reach its children's PDOs",
    "completion": "[completion]: completion routines, named by IoSetCompletionRoutine",
    "cancel": "[cancel]: cancel routines, named by IoSetCancelRoutine",
    "power_completion": "[power_completion]: PowerCompletion routines, named by "
                        "PoRequestPowerIrp: each runs when the device power IRP it asked for "
                        "is complete, with `status` its final status; they return nothing",
    "workitem": "[workitem]: work item routines, named by IoQueueWorkItem; a System worker "
                "thread runs one at PASSIVE_LEVEL",
    "callout": "[callout]: ExpandedStackCall routines, named by KeExpandKernelStackAndCallout, "
               "which runs one at once with the stack it asked for; they return nothing",
    "ioctl": "[ioctl]: IRP_MJ_DEVICE_CONTROL dispatched by control code, \"0x222003\" = "
             "[steps], as the C code's switch on IoControlCode; other codes go to the "
             "IRP_MJ_DEVICE_CONTROL routine, or fail with STATUS_INVALID_DEVICE_REQUEST",
    "notify": "[notify]: notify and registry callbacks, named by "
              "PsSetCreateProcessNotifyRoutineEx, PsSetCreateThreadNotifyRoutine, "
              "PsSetLoadImageNotifyRoutine and CmRegisterCallbackEx; their steps are those of "
              "`callback register --steps`, e.g. [\"compute 1\", "
              "\"CreationStatus STATUS_ACCESS_DENIED\"]",
    "wmi": "[wmi.CLASS]: a WMI data block it provides, property = number or string",
}


class SpecError(ValueError):
    """A spec mistake; the message already names the file, the routine and the step.

    `at` is where in the TOML it is, as keys (and a step's 1-based number): ("routines",
    "IRP_MJ_READ", 2) is the second step of [routines] IRP_MJ_READ, ("type",) the key type.
    The loader, which has the file's text, turns it into a line and column."""

    def __init__(self, message: str, at: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.at = at


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" — did you mean 'X'?" for the choice closest to word (case ignored), or ""."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), by_lower, n=1)
    return f" — did you mean '{by_lower[close[0]]}'?" if close else ""


# What an `if` may test: the first word of each CONDITIONS entry (PendingReturned, status, ...)
CONDITION_SUBJECTS = tuple(dict.fromkeys(key.split()[0] for key in CONDITIONS))


@dataclass(frozen=True)
class Call:
    """One DDI step as written, with its parsed arguments."""

    ddi: str
    args: tuple[str, ...]
    text: str
    status: int | None = None  # for IoCompleteRequest and `return STATUS`
    limit: int | None = None  # its record's limit: the highest IRQL, or DIRQL (the device's)
    condition: Condition | None = None  # `if COND: STEP`: runs only when COND holds
    otherwise: bool = False  # `else: STEP`: runs only when the `if` before it did not

    @property
    def always(self) -> bool:
        """It runs whatever happened before: neither guarded by an if nor an else."""
        return self.condition is None and not self.otherwise

    def __str__(self) -> str:
        return self.text


@dataclass
class DriverSpec:
    name: str
    type: str
    description: str
    source: str  # file name, for messages
    start: str = "demand"
    routines: dict[str, list[Call]] = field(default_factory=dict)
    completions: dict[str, list[Call]] = field(default_factory=dict)
    cancels: dict[str, list[Call]] = field(default_factory=dict)  # cancel routines (VOID)
    power_completions: dict[str, list[Call]] = field(default_factory=dict)  # VOID as well
    ioctls: dict[int, list[Call]] = field(default_factory=dict)  # control code -> its case
    work_routines: dict[str, list[Call]] = field(default_factory=dict)  # [workitem]
    callouts: dict[str, list[Call]] = field(default_factory=dict)  # [callout]
    notify: dict[str, list[Step]] = field(default_factory=dict)  # notify/registry callbacks
    hardware_ids: tuple[str, ...] = ()
    position: str = "upper"  # for a filter: above (upper) or below (lower) the function driver
    device_class: str = ""  # the setup class (INF Class=) it serves; a filter's: it filters it
    pdo_routines: dict[str, list[Call]] = field(default_factory=dict)  # a bus driver's PDOs
    child_names: str = ""  # a bus driver's PDO name prefix; "" gives \Device\0000001a names
    io: str = ""  # the flag it sets on its devices; "" = neither (a filter copies the lower's)
    interrupt: str = "line"  # how IoConnectInterruptEx connects it: line, msi or msi-x
    messages: int = 1  # message-signaled: how many messages (vectors) it asks for
    wmi: dict[str, dict[str, int | str]] = field(default_factory=dict)  # WMI class -> data
    device_type: str = "FILE_DEVICE_UNKNOWN"  # DeviceType of the devices it creates
    pageable: tuple[str, ...] = ()  # the routines in its PAGE section (alloc_text(PAGE))
    stack: dict[str, int] = field(default_factory=dict)  # routine -> bytes of locals

    @property
    def directory(self) -> str:
        """Where its driver object is named: \\FileSystem for a file system, else \\Driver."""
        return "\\FileSystem" if self.type == "filesystem" else "\\Driver"

    @property
    def image(self) -> str:
        return f"{self.name}.sys"

    @property
    def plug_and_play(self) -> bool:
        """Plug and Play finds it for devices: by hardware ID, or, a class filter, by the
        devices' setup class."""
        return bool(self.hardware_ids) or (self.type == "filter" and bool(self.device_class))

    @property
    def forwards_to_parent(self) -> bool:
        """Its PDOs pass IRPs on to its own stack: they need a stack location more."""
        return any(c.ddi == "IoCallDriver" and c.args[0].lower() == "parent"
                   for calls in self.pdo_routines.values() for c in calls)


def _call(text: str, where: str, names: Names) -> Call:
    """One step; `if COND: STEP` and `else: STEP` guard the step after the colon."""
    head, colon, rest = text.partition(":")
    words = head.split()
    if colon and words and words[0] in ("if", "else"):
        if words[0] == "else" and len(words) > 1:
            raise SpecError(f"{where}: write 'else: STEP' (else takes no condition)")
        try:
            condition = parse_condition(" ".join(words[1:])) if words[0] == "if" else None
        except ValueError as error:
            subject = words[1].lstrip("!").split("=")[0].split("!")[0] if len(words) > 1 else ""
            hint = "" if subject in CONDITION_SUBJECTS else \
                did_you_mean(subject, CONDITION_SUBJECTS)
            if hint:  # a misspelt subject: the one meant, rather than the list of all
                raise SpecError(f"{where}: '{' '.join(words[1:])}' is not a condition{hint}") \
                    from None
            raise SpecError(f"{where}: {error}") from None
        call = _call(rest.strip(), where, names)
        if not call.always:
            raise SpecError(f"{where}: one condition per step: 'if COND: STEP'")
        return replace(call, text=text, condition=condition, otherwise=condition is None)
    words = text.split()
    if not words:
        raise SpecError(f"{where}: an empty step")
    ddi = DDIS_BY_LOWER_NAME.get(words[0].lower())
    if ddi is None:
        hint = did_you_mean(words[0], DDIS) or f"; known: {', '.join(DDIS)}"
        raise SpecError(f"{where}: unknown step '{words[0]}'{hint}")
    args = tuple(words[1:])
    needed = len([a for a in ddi.synopsis.split() if not a.startswith("[")])
    if not needed <= len(args) <= len(ddi.synopsis.split()):
        raise SpecError(f"{where}: {ddi.name} takes '{ddi.synopsis}', got {len(args)} "
                        "argument(s)")
    try:
        status = ddi.check(args, names) if ddi.check is not None else None
    except ValueError as error:
        raise SpecError(f"{where}: {error}") from None
    return Call(ddi.name, args, text, status, ddi.limit)


def _steps(value: object, where: str, names: Names, at: tuple[str, ...]) -> list[Call]:
    """A routine's steps; `at` is its place in the TOML, as SpecError takes it."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: a routine is a list of steps (strings)", at)
    calls = []
    for n, text in enumerate(value, start=1):
        try:
            calls.append(_call(text, f"{where}, step {n} '{text}'", names))
        except SpecError as error:
            raise SpecError(str(error), (*at, n)) from None
    for n, call in enumerate(calls, start=1):
        if call.otherwise and (n == 1 or calls[n - 2].condition is None):
            raise SpecError(f"{where}, step {n} '{call}': an else step follows an 'if COND: "
                            "STEP' step", (*at, n))
        if n < len(calls) and call.ddi == "return" and _ends(calls, n):
            raise SpecError(f"{where}, step {n} '{call}': steps after a return never run",
                            (*at, n))
    return calls


def _ends(calls: list[Call], n: int) -> bool:
    """Step n (1-based) is a return every path reaches: unguarded, or an else whose if
    returns too."""
    call = calls[n - 1]
    if call.ddi != "return":
        return False
    return call.always or (call.otherwise and calls[n - 2].ddi == "return")


def _ioctls(table: object, source: str, names: Names) -> dict[int, list[Call]]:
    """[ioctl]: "0x222003" = [steps], one case of the IRP_MJ_DEVICE_CONTROL switch each."""
    if not isinstance(table, dict):
        raise SpecError(f"{source}: [ioctl] is a table of control codes, e.g. "
                        "\"0x222003\" = [\"IoCompleteRequest STATUS_SUCCESS\", ...]",
                        ("ioctl",))
    cases: dict[int, list[Call]] = {}
    for key, steps in table.items():
        code = number_or_none(key)
        if code is None or not 0 < code <= 0xFFFFFFFF:
            raise SpecError(f"{source}: [ioctl] '{key}' is not a control code; write it in "
                            "hex, e.g. \"0x222003\" (CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, "
                            "METHOD_NEITHER, FILE_ANY_ACCESS))", ("ioctl", key))
        where = f"{source}: [ioctl] case {code:#x}"
        cases[code] = _steps(steps, where, names, ("ioctl", key))
        if not _ends(cases[code], len(cases[code])):
            raise SpecError(f"{where} must end with a return step, e.g. 'return STATUS_SUCCESS'",
                            ("ioctl", key))
    return cases


def _wmi_blocks(table: object, source: str) -> dict[str, dict[str, int | str]]:
    """[wmi.CLASS] tables: the data blocks the driver provides, property = number or text."""
    example = "e.g. [wmi.ToasterDeviceInformation] with Capacity = 2000"
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise SpecError(f"{source}: [wmi] holds one table per WMI class, {example}", ("wmi",))
    for name, block in table.items():
        if not name.isidentifier() or not name.isascii():
            raise SpecError(f"{source}: '{name}' is not a WMI class name (letters, digits, _)",
                            ("wmi", name))
        for prop, value in block.items():
            if not prop.isidentifier() or isinstance(value, bool) or \
                    not isinstance(value, (int, str)):
                raise SpecError(f"{source}: [wmi.{name}] {prop}: a property is a name with a "
                                f"number or a string, {example}", ("wmi", name, prop))
    return table


def _refuse_control_characters(data: dict, source: str) -> None:
    """No string in a spec (a name, a description, a step) may hold a control character:
    it would reach the terminal as an escape sequence when the spec is shown."""
    pending: list[object] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and (at := control_character(value)) is not None:
            raise SpecError(f"{source}: the string '{printable(value)[:60]}' holds control "
                            f"character U+{ord(value[at]):04X}; spec strings are printable text")


def _setup_class(value: object, spec: DriverSpec, source: str) -> str:
    """A setup class name as an INF's Class= gives it (letters, digits, '_'); a filter names
    the class it filters by it or the devices by hardware_ids, not both."""
    if not isinstance(value, str) or not value or len(value) > 32 or \
            not all(c.isascii() and (c.isalnum() or c == "_") for c in value):
        raise SpecError(f"{source}: class = {printable(repr(value))[:60]} is not a device "
                        "setup class name: 1 to 32 letters, digits or '_', e.g. \"Toaster\"",
                        ("class",))
    if spec.type == "filter" and spec.hardware_ids:
        raise SpecError(f"{source}: a filter has hardware_ids (a device filter, on those "
                        "devices) or class (a class filter, on every device of the class), "
                        "not both", ("class",))
    if spec.type == "filesystem":
        raise SpecError(f"{source}: a file system has no device setup class; class is for "
                        "bus, function and filter drivers", ("class",))
    return value


def spec_from_dict(data: dict, source: str) -> DriverSpec:
    """Validate a parsed TOML table into a DriverSpec, or raise SpecError."""
    def need(key: str, choices: tuple[str, ...] | None = None,
             default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise SpecError(f"{source}: '{key}' must be a string", (key,))
        if choices and value not in choices:
            raise SpecError(f"{source}: {key} = '{value}' is not one of {', '.join(choices)}"
                            + did_you_mean(value, choices), (key,))
        return value

    _refuse_control_characters(data, source)
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(f"{source}: unknown key '{unknown[0]}'"
                        + (did_you_mean(unknown[0], SPEC_KEYS)
                           or f"; known: {', '.join(sorted(SPEC_KEYS))}"), (unknown[0],))
    name = need("name")
    if not set(name) <= NAME_CHARACTERS or len(name) > MAX_NAME or name.strip(".") == "":
        raise SpecError(f"{source}: name = '{name}' is not a driver name: 1 to {MAX_NAME} "
                        "letters, digits, '_', '-' or '.', not only dots (it becomes "
                        "\\Driver\\NAME and a Services key)", ("name",))
    spec = DriverSpec(name, need("type", DRIVER_TYPES), need("description", None, "-"),
                      source, need("start", START_TYPES, "demand"),
                      position=need("position", FILTER_POSITIONS, "upper"))
    if "io" in data:
        spec.io = need("io", IO_METHODS)
    spec.interrupt = need("interrupt", INTERRUPT_KINDS, "line")
    spec.device_type = need("device_type", tuple(FILE_DEVICE), "FILE_DEVICE_UNKNOWN")
    messages = data.get("messages", 1)
    limit = 1 if spec.interrupt == "line" else 16  # MSI allows 32, MSI-X 2048; the model
    # grants one block of 16 vectors (one DIRQL) at most
    if not isinstance(messages, int) or isinstance(messages, bool) or not 1 <= messages <= limit \
            or (spec.interrupt == "msi" and messages & (messages - 1)):
        raise SpecError(f"{source}: messages = {messages!r}: a {spec.interrupt} interrupt has "
                        + ("one message" if limit == 1 else f"1 to {limit} messages in the "
                           "model" + (", a power of two" if spec.interrupt == "msi" else "")),
                        ("messages",))
    spec.messages = messages
    ids, prefix = data.get("hardware_ids", []), data.get("child_names", "")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise SpecError(f"{source}: hardware_ids must be a list of strings, e.g. "
                        "[\"USB\\\\VID_045E&PID_0040\"]", ("hardware_ids",))
    if not isinstance(prefix, str) or "\\" in prefix:
        raise SpecError(f"{source}: child_names is a name prefix such as \"USBPDO-\"",
                        ("child_names",))
    spec.hardware_ids, spec.child_names = tuple(i.upper() for i in ids), prefix
    if "class" in data:
        spec.device_class = _setup_class(data["class"], spec, source)
    spec.wmi = _wmi_blocks(data.get("wmi", {}), source)
    completion, cancel = data.get("completion", {}), data.get("cancel", {})
    work, power = data.get("workitem", {}), data.get("power_completion", {})
    callout = data.get("callout", {})
    tables = {"routines": data.get("routines", {}), "pdo": data.get("pdo", {})}
    if not all(isinstance(t, dict) for t in (completion, cancel, work, power, callout,
                                             *tables.values())):
        raise SpecError(f"{source}: [routines], [pdo], [completion], [cancel], [workitem], "
                        "[callout] and [power_completion] must be tables")
    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        raise SpecError(f"{source}: [notify] must be a table of routines", ("notify",))
    for name, steps in notify.items():
        if not isinstance(steps, list) or not all(isinstance(v, str) for v in steps):
            raise SpecError(f"{source}: notify routine {name}: a routine is a list of steps "
                            "(strings)", ("notify", name))
        try:
            spec.notify[name] = parse_callback_steps(";".join(steps))
        except ValueError as error:
            raise SpecError(f"{source}: notify routine {name}: {error}", ("notify", name)) \
                from None
    names = {"completion": set(completion), "cancel": set(cancel), "workitem": set(work),
             "notify": set(notify), "power_completion": set(power), "callout": set(callout)}
    for name, steps in work.items():
        spec.work_routines[name] = _steps(steps, f"{source}: work item routine {name}", names,
                                          ("workitem", name))
    for name, steps in callout.items():
        spec.callouts[name] = _steps(steps, f"{source}: callout routine {name}", names,
                                     ("callout", name))
    for name, steps in completion.items():
        spec.completions[name] = _steps(steps, f"{source}: completion routine {name}", names,
                                        ("completion", name))
    for name, steps in cancel.items():
        spec.cancels[name] = _steps(steps, f"{source}: cancel routine {name}", names,
                                    ("cancel", name))
    for name, steps in power.items():
        spec.power_completions[name] = _steps(steps, f"{source}: power completion routine "
                                              f"{name}", names, ("power_completion", name))
    spec.ioctls = _ioctls(data.get("ioctl", {}), source, names)
    for table, target in (("routines", spec.routines), ("pdo", spec.pdo_routines)):
        for name, steps in tables[table].items():
            if name not in FIXED_ROUTINES and name not in IRP_MJ and name not in MINORS:
                hint = did_you_mean(name, (*FIXED_ROUTINES, *IRP_MJ, *MINORS))
                raise SpecError(f"{source}: unknown routine '{name}' in [{table}]{hint}; use "
                                "DriverEntry, AddDevice, Unload, an IRP_MJ_* name such as "
                                "IRP_MJ_READ or an IRP_MN_* name such as IRP_MN_START_DEVICE",
                                (table, name))
            where = f"{source}: routine {name}" + (" of its PDOs" if table == "pdo" else "")
            target[name] = _steps(steps, where, names, (table, name))
    registers = any(c.ddi == "IoWMIRegistrationControl" and c.args[0] == "REGISTER"
                    for calls in spec.routines.values() for c in calls)
    if registers and not spec.wmi:
        raise SpecError(f"{source}: IoWMIRegistrationControl REGISTER, but no [wmi.CLASS] table "
                        "says which data blocks it provides, e.g. [wmi.ToasterDeviceInformation]")
    if any(c.ddi == "IoRegisterFileSystem" for calls in spec.routines.values() for c in calls) \
            and spec.device_type != "FILE_DEVICE_DISK_FILE_SYSTEM":
        raise SpecError(f"{source}: IoRegisterFileSystem registers a disk file system, whose "
                        "devices are device_type = \"FILE_DEVICE_DISK_FILE_SYSTEM\"")
    pageable = data.get("pageable", [])
    if not isinstance(pageable, list) or not all(isinstance(n, str) for n in pageable):
        raise SpecError(f"{source}: pageable must be a list of routine names, e.g. "
                        "[\"IRP_MJ_READ\"]", ("pageable",))
    for name in pageable:
        if name not in spec.routines:
            raise SpecError(f"{source}: pageable names '{name}', which is not in [routines]"
                            + (did_you_mean(name, tuple(spec.routines)) or
                               f"; its routines: {', '.join(spec.routines) or 'none'}"),
                            ("pageable",))
    spec.pageable = tuple(pageable)
    stack = data.get("stack", {})
    if not isinstance(stack, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0x10_0000
            for v in stack.values()):
        raise SpecError(f"{source}: [stack] gives each routine its bytes of locals, 0 to "
                        "1048576, e.g. IRP_MJ_READ = 2048", ("stack",))
    known = {*spec.routines, *spec.completions, *spec.cancels, *spec.work_routines,
             *spec.callouts}
    for name in stack:
        if name not in known:
            raise SpecError(f"{source}: [stack] names '{name}', which is no routine of the "
                            "spec" + did_you_mean(name, tuple(known)), ("stack", name))
    spec.stack = dict(stack)
    for name, calls in spec.routines.items():
        if any(c.ddi == "IoCallDriver" and c.args[0].lower() == "parent" for c in calls):
            raise SpecError(f"{source}: routine {name}: 'IoCallDriver parent' is for a bus "
                            "driver's [pdo] routines (its children's PDOs pass IRPs on to the "
                            "stack it sits on); use 'IoCallDriver lower'", ("routines", name))
    for kind, table, routines in (("routine", "routines", spec.routines),
                                  ("PDO routine", "pdo", spec.pdo_routines),
                                  ("completion routine", "completion", spec.completions)):
        for name, calls in routines.items():
            if name not in FIXED_ROUTINES and (not calls or not _ends(calls, len(calls))):
                raise SpecError(f"{source}: {kind} {name} must end with a return step, e.g. "
                                "'return STATUS_SUCCESS' or 'return status'", (table, name))
    return spec
