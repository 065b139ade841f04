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
`position = "upper"` or `"lower"`), an `AddDevice` routine that creates its device and
attaches it to the PDO (`IoAttachDeviceToDeviceStack pdo`), and routines for IRP_MJ_PNP and
IRP_MJ_POWER minors by their IRP_MN_ names (what its dispatch routine's switch does for
each). A bus driver has a `[pdo]` table too: what it does with IRPs that reach the PDOs it
created for its children (it is the bottom of their stacks), and `child_names`, how those
PDOs are named (`USBPDO-` gives \\Device\\USBPDO-0, -1, ...). `io = "buffered"|"direct"`
is the flag a driver sets on its devices (DO_BUFFERED_IO, DO_DIRECT_IO): how the I/O manager
hands it the caller's data for reads and writes; without it, neither I/O (the caller's own
address). A filter takes the flag of the device it attaches to. A driver that holds IRPs
makes them cancelable with `IoSetCancelRoutine NAME`, NAME a routine of its `[cancel]`
table (entered holding the cancel spin lock, at DISPATCH_LEVEL; it returns nothing).

`device_type` is the DeviceType of the devices it creates (FILE_DEVICE_UNKNOWN unless said):
a FILE_DEVICE_DISK device gets a VPB, a volume a file system can mount. A file system is
`type = "filesystem"` (its driver object is named in \\FileSystem) with `device_type =
"FILE_DEVICE_DISK_FILE_SYSTEM"`: its DriverEntry creates a control device and calls
IoRegisterFileSystem, its IRP_MN_MOUNT_VOLUME routine creates the volume device (IoCreateDevice
there), and its volume device passes requests to the volume with `IoCallDriver volume`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmshell.nt.constants import (
    FILE_DEVICE,
    IRP_MJ,
    MINORS_OF,
    MM_SYSTEM_RANGE_START,
    parse_irql,
    parse_status,
)
from kmshell.nt.pool import STRING_ROUTINES, format_problem
from kmshell.nt.rtl import U32, control_character, is_number, number_or_none, printable

DRIVER_TYPES = ("bus", "function", "filter", "filesystem")
START_TYPES = ("boot", "system", "auto", "demand", "disabled")
FIXED_ROUTINES = ("DriverEntry", "AddDevice", "Unload", "ISR", "DPC", "StartIo",
                  "SynchCritSection", "AdapterListControl", "ControllerControl")
MINORS = {name: code for minors in MINORS_OF.values() for name, code in minors.items()}
FILTER_POSITIONS = ("upper", "lower")
IO_METHODS = ("buffered", "direct", "neither")  # DO_BUFFERED_IO, DO_DIRECT_IO, neither flag
INTERRUPT_KINDS = ("line", "msi", "msi-x")  # line-based, or message-signaled (MSI, MSI-X)

# step -> (arguments, maximum IRQL the real routine may be called at (None: any), meaning).
# IRQLs from the Requirements of each routine's WDK reference page.
DDI = {
    "IoCreateDevice": ("[NAME]", 0, "create a device object (named \\Device\\NAME, or unnamed)"),
    "IoAttachDeviceToDeviceStack": ("PATH|pdo", 2, "attach this driver's newest device on top "
                                                   "of the stack that holds PATH (in AddDevice: "
                                                   "pdo, the device's PDO)"),
    "IoDetachDevice": ("", 2, "detach this driver's device from the device below it"),
    "IoDeleteDevice": ("", 2, "delete this driver's device object"),
    "IoSkipCurrentIrpStackLocation": ("", None, "let the next driver use this stack location"),
    "IoCopyCurrentIrpStackLocationToNext": ("", 2, "copy this stack location to the next, "
                                                   "without the completion routine"),
    "IoSetCompletionRoutine": ("ROUTINE [Success] [Error] [Cancel]", None,
                               "run ROUTINE when a lower driver completes the IRP"),
    "IoCallDriver": ("lower|parent|volume", 2, "send the IRP to the next-lower device; from a "
                     "bus driver's PDO, `parent`: to the device below its own FDO, in the "
                     "parent stack (as the USB hub passes its children's transfers on); from a "
                     "file system's volume device, `volume`: to the top of the stack of the "
                     "volume it mounted (Vcb->TargetDeviceObject)"),
    "IoRegisterFileSystem": ("", 0, "register this driver's newest device, its control device "
                             "object (device_type FILE_DEVICE_DISK_FILE_SYSTEM): the I/O manager "
                             "then offers it every disk volume to mount (IRP_MN_MOUNT_VOLUME), "
                             "the most recently registered file system first"),
    "IoUnregisterFileSystem": ("", 0, "take this driver's control device off the I/O manager's "
                               "list of file systems (in Unload)"),
    "IoMarkIrpPending": ("", None, "mark the IRP pending before returning STATUS_PENDING"),
    "IoGetCurrentIrpStackLocation": ("", None, "look at this driver's stack location of the "
                                     "IRP: its major and minor function and parameters (the "
                                     "trace shows them; every step works on this location)"),
    "IoStartPacket": ("", 2, "hand the IRP to StartIo now, or queue it in the device queue "
                      "while the device is busy (System-queued I/O)"),
    "IoStartNextPacket": ("", 2, "in the DPC, after completing the current IRP: start the next "
                          "queued one (StartIo), or mark the device idle"),
    "ExAllocatePool2": ("NONPAGED|PAGED SIZE TAG", 2, "allocate SIZE bytes of nonpaged or "
                        "paged pool (POOL_FLAG_NON_PAGED / POOL_FLAG_PAGED) tagged TAG"),
    "ExFreePoolWithTag": ("TAG", 2, "free the driver's latest pool block tagged TAG"),
    "RtlFillMemory": ("TAG|ADDRESS LENGTH", None, "write LENGTH bytes at the start of the "
                      "driver's TAG block, or at a raw kernel ADDRESS (a wild pointer)"),
    "RtlStringCbCopyA": ("TAG SOURCE", 0, "copy the string SOURCE into the driver's TAG block, "
                         "told its size in bytes: a string that does not fit is cut and "
                         "terminated, and the call returns STATUS_BUFFER_OVERFLOW"),
    "RtlStringCbCatA": ("TAG SOURCE", 0, "append SOURCE to the string in the TAG block, within "
                        "its size (STATUS_BUFFER_OVERFLOW if cut)"),
    "RtlStringCchCopyW": ("TAG SOURCE", 0, "copy a wide (WCHAR) string: the TAG block holds "
                          "half its size in characters, the NUL included"),
    "RtlStringCbPrintfA": ("TAG FORMAT [ARG] [ARG] [ARG]", 0, "format into the TAG block "
                           "(%s %d %u %x take the next ARG), within its size"),
    "strcpy": ("TAG SOURCE", None, "the C library's copy: writes SOURCE and its NUL into the "
               "TAG block whatever its size (ntstrsafe.h deprecates it)"),
    "strcat": ("TAG SOURCE", None, "the C library's append: unchecked, like strcpy"),
    "RtlCopyMemory": ("UserBuffer LENGTH", None, "copy LENGTH bytes to Irp->UserBuffer (neither "
                      "I/O): a user address, meaningful only in the caller's process"),
    "KeWaitForSingleObject": ("OBJECT", None, "wait for an event, mutex, semaphore or timer "
                              "(no timeout): only at APC_LEVEL or below, never in a DPC"),
    "KeStallExecutionProcessor": ("MICROSECONDS", None, "busy-wait on this processor; keep "
                                  "it under 50 microseconds"),
    "KeSynchronizeExecution": ("", 2, "run the driver's SynchCritSection routine at the "
                               "device's DIRQL, holding its interrupt spin lock"),
    "IoBuildDeviceIoControlRequest": ("CODE COMPLETION", 2, "build an IRP_MJ_INTERNAL_DEVICE_"
                                      "CONTROL IRP for the device below, set this driver's "
                                      "COMPLETION routine on it and IoCallDriver it; the IRP "
                                      "being handled becomes its master"),
    "IoAllocateIrp": ("MAJOR [STACKSIZE]", 2, "allocate an IRP of this driver's own for the "
                      "device below, with STACKSIZE locations (default: that device's "
                      "StackSize) and MAJOR in its first one; the IoSetCompletionRoutine, "
                      "IoStatus and IoCallDriver steps after it work on the new IRP, and the "
                      "IRP being handled becomes its master"),
    "IoFreeIrp": ("", 2, "in the completion routine of an IRP this driver built: free it "
                  "(then return STATUS_MORE_PROCESSING_REQUIRED)"),
    "KeRaiseIrql": ("LEVEL", None, "raise this processor's IRQL to LEVEL (not lower)"),
    "KeLowerIrql": ("LEVEL", None, "back to LEVEL: the IRQL the matching KeRaiseIrql returned"),
    "KeAcquireSpinLock": ("LOCK", 2, "take a spin lock (spinlock create LOCK): IRQL to "
                          "DISPATCH_LEVEL, the old IRQL saved"),
    "KeReleaseSpinLock": ("LOCK", 2, "release a spin lock this code holds: IRQL back to the "
                          "saved one"),
    "IoSetCancelRoutine": ("ROUTINE|NULL", 2, "make the IRP it holds cancelable with a [cancel] "
                           "ROUTINE, or no longer (NULL) before completing it"),
    "IoReleaseCancelSpinLock": ("", 2, "in a cancel routine: release the cancel spin lock "
                                "IoCancelIrp took (the routine is entered holding it)"),
    "IoStatus": ("STATUS|status", None, "Irp->IoStatus.Status = STATUS (e.g. before passing "
                 "it down), or `status`: what the last call returned"),
    "IoCompleteRequest": ("STATUS|status|master [BOOST]", 2, "complete the IRP with STATUS, or "
                          "with `status`: what its IoStatus holds; `master`: in the completion "
                          "routine of an IRP this driver built, complete the request it worked "
                          "for with that IRP's status"),
    "return": ("STATUS|status", None, "return STATUS, or `status`: what the last call that "
               "returns one returned (IoCallDriver, a safe string routine)"),
    "IoWMIRegistrationControl": ("REGISTER|DEREGISTER", 0, "WMIREG_ACTION_REGISTER: make this "
                                 "device a WMI provider of the data blocks in the spec's [wmi] "
                                 "table (WMI asks with IRP_MN_REGINFO_EX at once); "
                                 "DEREGISTER before the device is deleted"),
    "IoGetDmaAdapter": ("32|64 MAXLENGTH", 0, "get a DMA adapter for this driver's newest "
                        "device: a bus master with 32- or 64-bit addresses, transfers up to "
                        "MAXLENGTH bytes"),
    "GetScatterGatherList": ("", 2, "the physical pieces of the IRP's MDL (map registers for "
                             "pages a 32-bit device cannot reach); the HAL then calls the "
                             "driver's AdapterListControl, which programs the device"),
    "PutScatterGatherList": ("", 2, "after the transfer (in the DPC): free the device's oldest "
                             "scatter/gather list and its map registers"),
    "IoCreateController": ("", 0, "create the driver's controller object, shared by its "
                           "devices"),
    "IoAllocateController": ("", 2, "ask for the controller: the driver's ControllerControl "
                             "runs now, or when the device holding it frees it"),
    "IoFreeController": ("", 2, "release the controller to the next waiting device"),
    "IoConnectInterruptEx": ("", 0, "connect the device's ISR to an interrupt vector"),
    "IoRequestDpc": ("", None, "from the ISR: queue the device's DPC on this processor"),
}
COMPLETION_FLAGS = ("Success", "Error", "Cancel")
MAX_COPY = 1 << 20  # RtlCopyMemory/RtlFillMemory lengths: a megabyte is more than a lesson needs
# A driver's name becomes \Driver\NAME and a registry key name: one plain path component.
NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
MAX_NAME = 64

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
    "io": "buffered or direct: DO_BUFFERED_IO or DO_DIRECT_IO on its devices (without it, "
          "neither I/O; a filter takes the flag of the device below)",
    "device_type": "the DeviceType of its devices, e.g. FILE_DEVICE_DISK (which gets a VPB); "
                   "FILE_DEVICE_UNKNOWN unless said",
    "interrupt": "line (the default), msi or msi-x: what IoConnectInterruptEx connects",
    "messages": "for msi and msi-x: how many messages (vectors) it asks for, 1 to 16",
    "child_names": "a bus driver's prefix for its PDOs' names, e.g. USBPDO- (without it, "
                   "\\Device\\0000000N)",
    "routines": "[routines]: DriverEntry, AddDevice, Unload, ISR, DPC, StartIo, ... and one "
                "routine per IRP_MJ_* or IRP_MN_* name, each a list of steps",
    "pdo": "[pdo]: a bus driver's routines for the IRPs that reach its children's PDOs",
    "completion": "[completion]: completion routines, named by IoSetCompletionRoutine",
    "cancel": "[cancel]: cancel routines, named by IoSetCancelRoutine",
    "wmi": "[wmi.CLASS]: a WMI data block it provides, property = number or string",
}


class SpecError(ValueError):
    """A spec mistake; the message already names the file, the routine and the step."""


@dataclass(frozen=True)
class Call:
    """One DDI step as written, with its parsed arguments."""

    ddi: str
    args: tuple[str, ...]
    text: str
    status: int | None = None  # for IoCompleteRequest and `return STATUS`
    limit: int | None = None  # the highest IRQL the DDI may be called at (DDI's second item)

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
    hardware_ids: tuple[str, ...] = ()
    position: str = "upper"  # for a filter: above (upper) or below (lower) the function driver
    pdo_routines: dict[str, list[Call]] = field(default_factory=dict)  # a bus driver's PDOs
    child_names: str = ""  # a bus driver's PDO name prefix; "" gives \Device\0000001a names
    io: str = ""  # the flag it sets on its devices; "" = neither (a filter copies the lower's)
    interrupt: str = "line"  # how IoConnectInterruptEx connects it: line, msi or msi-x
    messages: int = 1  # message-signaled: how many messages (vectors) it asks for
    wmi: dict[str, dict[str, int | str]] = field(default_factory=dict)  # WMI class -> data
    device_type: str = "FILE_DEVICE_UNKNOWN"  # DeviceType of the devices it creates

    @property
    def directory(self) -> str:
        """Where its driver object is named: \\FileSystem for a file system, else \\Driver."""
        return "\\FileSystem" if self.type == "filesystem" else "\\Driver"

    @property
    def image(self) -> str:
        return f"{self.name}.sys"

    @property
    def forwards_to_parent(self) -> bool:
        """Its PDOs pass IRPs on to its own stack: they need a stack location more."""
        return any(c.ddi == "IoCallDriver" and c.args[0].lower() == "parent"
                   for calls in self.pdo_routines.values() for c in calls)


def _call(text: str, where: str, names: dict[str, set[str]]) -> Call:
    words = text.split()
    if not words:
        raise SpecError(f"{where}: an empty step")
    ddi = next((name for name in DDI if name.lower() == words[0].lower()), None)
    if ddi is None:
        close = [n for n in DDI if n.lower().startswith(words[0][:4].lower())]
        hint = f" — did you mean {close[0]}?" if close else ""
        raise SpecError(f"{where}: unknown step '{words[0]}'{hint}; known: {', '.join(DDI)}")
    args = tuple(words[1:])
    signature = DDI[ddi][0]
    needed = len([a for a in signature.split() if not a.startswith("[")])
    allowed = len(signature.split())
    if not needed <= len(args) <= allowed:
        raise SpecError(f"{where}: {ddi} takes '{signature}', got {len(args)} argument(s)")
    status = None
    if ddi == "IoGetDmaAdapter" and (args[0] not in ("32", "64")
                                     or not is_number(args[1], 1, 1 << 24)):
        raise SpecError(f"{where}: IoGetDmaAdapter takes 32 or 64 (address bits) and the "
                        "longest transfer in bytes (1 to 16 MB), e.g. 'IoGetDmaAdapter 32 65536'")
    if ddi == "IoCreateDevice" and args and (not set(args[0]) <= NAME_CHARACTERS | {"#"}
                                             or args[0].strip(".") == ""
                                             or len(args[0]) > MAX_NAME):
        raise SpecError(f"{where}: '{args[0]}' is not a device name: 1 to {MAX_NAME} letters, "
                        "digits, '_', '-', '.' or '#' (numbered 0, 1, ...), not only dots; it "
                        "becomes \\Device\\NAME, one name in one directory")
    if ddi == "IoWMIRegistrationControl" and args[0] not in ("REGISTER", "DEREGISTER"):
        raise SpecError(f"{where}: IoWMIRegistrationControl takes REGISTER "
                        "(WMIREG_ACTION_REGISTER) or DEREGISTER (WMIREG_ACTION_DEREGISTER)")
    if ddi == "IoCallDriver" and args[0].lower() not in ("lower", "parent", "volume"):
        raise SpecError(f"{where}: IoCallDriver sends to 'lower' (the next-lower device), from "
                        "a bus driver's PDO to 'parent', or from a file system's volume device "
                        "to 'volume'")
    if ddi == "IoBuildDeviceIoControlRequest":
        if not args[0].lower().startswith("0x") or not is_number(args[0], 0, U32):
            raise SpecError(f"{where}: the control code is 32-bit hex, e.g. 0x220003 "
                            "(IOCTL_INTERNAL_USB_SUBMIT_URB)")
        if args[1] not in names["completion"]:
            raise SpecError(f"{where}: no completion routine '{args[1]}' in [completion]; "
                            f"defined: {', '.join(sorted(names['completion'])) or 'none'}")
    if ddi == "IoAllocateIrp":
        if args[0] not in IRP_MJ:
            raise SpecError(f"{where}: '{args[0]}' is not an IRP major function; e.g. "
                            "IRP_MJ_READ, IRP_MJ_INTERNAL_DEVICE_CONTROL")
        if len(args) > 1 and not is_number(args[1], 1, 127):
            raise SpecError(f"{where}: the StackSize is a number of stack locations, 1 to 127 "
                            "(a CCHAR)")
    if ddi == "IoSetCompletionRoutine":
        if args[0] not in names["completion"]:
            raise SpecError(f"{where}: no completion routine '{args[0]}' in [completion]; "
                            f"defined: {', '.join(sorted(names['completion'])) or 'none'}")
        bad = [a for a in args[1:] if a not in COMPLETION_FLAGS]
        if bad:
            raise SpecError(f"{where}: '{bad[0]}' is not a flag; use Success, Error, Cancel")
    if ddi == "IoSetCancelRoutine" and args[0] != "NULL" and args[0] not in names["cancel"]:
        raise SpecError(f"{where}: no cancel routine '{args[0]}' in [cancel] (or NULL to "
                        f"clear it); defined: {', '.join(sorted(names['cancel'])) or 'none'}")
    if ddi == "ExAllocatePool2" and (args[0].upper() not in ("NONPAGED", "PAGED")
                                     or not is_number(args[1], 1, U32)):
        raise SpecError(f"{where}: ExAllocatePool2 takes NONPAGED or PAGED, a size in bytes "
                        "(1..2**32-1) and a tag, e.g. 'ExAllocatePool2 NONPAGED 64 Tidy'")
    if ddi in STRING_ROUTINES and STRING_ROUTINES[ddi].printf:
        problem = format_problem(args[1], args[2:])
        if problem:
            raise SpecError(f"{where}: {problem}")
    if ddi in ("ExAllocatePool2", "ExFreePoolWithTag") or ddi in STRING_ROUTINES:
        tag = args[0] if ddi in STRING_ROUTINES else args[-1]
        if not 1 <= len(tag) <= 4 or not tag.isascii() or not tag.isalnum():
            raise SpecError(f"{where}: a pool tag is one to four letters or digits, e.g. Tidy")
    if ddi in ("KeRaiseIrql", "KeLowerIrql"):
        try:
            parse_irql(args[0])
        except ValueError as error:
            raise SpecError(f"{where}: {error}") from None
    if ddi == "RtlCopyMemory" and (args[0] != "UserBuffer"
                                   or not is_number(args[1], 0, MAX_COPY)):
        raise SpecError(f"{where}: RtlCopyMemory copies to UserBuffer (Irp->UserBuffer) a number "
                        f"of bytes (0..{MAX_COPY}), e.g. 'RtlCopyMemory UserBuffer 64'")
    if ddi == "KeStallExecutionProcessor" and not is_number(args[0], 0, U32):
        raise SpecError(f"{where}: KeStallExecutionProcessor takes a number of microseconds "
                        "(0..2**32-1, a ULONG)")
    if ddi == "RtlFillMemory":
        if not is_number(args[1], 1, MAX_COPY):
            raise SpecError(f"{where}: RtlFillMemory's LENGTH is a number of bytes, "
                            f"1..{MAX_COPY}")
        if args[0].lower().startswith("0x"):
            address = number_or_none(args[0])
            if address is None or address < MM_SYSTEM_RANGE_START:
                raise SpecError(f"{where}: '{args[0]}' is not a kernel address (from "
                                f"{MM_SYSTEM_RANGE_START:#x})")
    if ddi == "IoCompleteRequest" and args[0] == "master":
        return Call(ddi, args, text, limit=DDI[ddi][1])
    if ddi in ("IoCompleteRequest", "return", "IoStatus") and args[0] != "status":
        try:
            status = parse_status(args[0])
        except ValueError as error:
            raise SpecError(f"{where}: {error}") from None
        if ddi == "IoCompleteRequest" and len(args) > 1 and not is_number(args[1], 0, 31):
            raise SpecError(f"{where}: the priority boost is a number such as 0 or 2 (a "
                            "CCHAR added to a priority of at most 31)")
    return Call(ddi, args, text, status, DDI[ddi][1])


def _steps(value, where: str, names: dict[str, set[str]]) -> list[Call]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: a routine is a list of steps (strings)")
    calls = [_call(text, f"{where}, step {n} '{text}'", names)
             for n, text in enumerate(value, start=1)]
    for n, call in enumerate(calls[:-1], start=1):
        if call.ddi == "return":
            raise SpecError(f"{where}, step {n} '{call}': steps after a return never run")
    return calls


def _wmi_blocks(table, source: str) -> dict[str, dict[str, int | str]]:
    """[wmi.CLASS] tables: the data blocks the driver provides, property = number or text."""
    example = "e.g. [wmi.ToasterDeviceInformation] with Capacity = 2000"
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise SpecError(f"{source}: [wmi] holds one table per WMI class, {example}")
    for name, block in table.items():
        if not name.isidentifier() or not name.isascii():
            raise SpecError(f"{source}: '{name}' is not a WMI class name (letters, digits, _)")
        for prop, value in block.items():
            if not prop.isidentifier() or isinstance(value, bool) or \
                    not isinstance(value, (int, str)):
                raise SpecError(f"{source}: [wmi.{name}] {prop}: a property is a name with a "
                                f"number or a string, {example}")
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


def spec_from_dict(data: dict, source: str) -> DriverSpec:
    """Validate a parsed TOML table into a DriverSpec, or raise SpecError."""
    def need(key: str, choices: tuple[str, ...] | None = None, default=None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise SpecError(f"{source}: '{key}' must be a string")
        if choices and value not in choices:
            raise SpecError(f"{source}: {key} = '{value}' is not one of {', '.join(choices)}")
        return value

    _refuse_control_characters(data, source)
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(f"{source}: unknown key '{unknown[0]}'; known: "
                        f"{', '.join(sorted(SPEC_KEYS))}")
    name = need("name")
    if not set(name) <= NAME_CHARACTERS or len(name) > MAX_NAME or name.strip(".") == "":
        raise SpecError(f"{source}: name = '{name}' is not a driver name: 1 to {MAX_NAME} "
                        "letters, digits, '_', '-' or '.', not only dots (it becomes "
                        "\\Driver\\NAME and a Services key)")
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
                           "model" + (", a power of two" if spec.interrupt == "msi" else "")))
    spec.messages = messages
    ids, prefix = data.get("hardware_ids", []), data.get("child_names", "")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise SpecError(f"{source}: hardware_ids must be a list of strings, e.g. "
                        "[\"USB\\\\VID_045E&PID_0040\"]")
    if not isinstance(prefix, str) or "\\" in prefix:
        raise SpecError(f"{source}: child_names is a name prefix such as \"USBPDO-\"")
    spec.hardware_ids, spec.child_names = tuple(i.upper() for i in ids), prefix
    spec.wmi = _wmi_blocks(data.get("wmi", {}), source)
    completion, cancel = data.get("completion", {}), data.get("cancel", {})
    tables = {"routines": data.get("routines", {}), "pdo": data.get("pdo", {})}
    if not all(isinstance(t, dict) for t in (completion, cancel, *tables.values())):
        raise SpecError(f"{source}: [routines], [pdo], [completion] and [cancel] must be tables")
    names = {"completion": set(completion), "cancel": set(cancel)}
    for name, steps in completion.items():
        spec.completions[name] = _steps(steps, f"{source}: completion routine {name}", names)
    for name, steps in cancel.items():
        spec.cancels[name] = _steps(steps, f"{source}: cancel routine {name}", names)
    for table, target in (("routines", spec.routines), ("pdo", spec.pdo_routines)):
        for name, steps in tables[table].items():
            if name not in FIXED_ROUTINES and name not in IRP_MJ and name not in MINORS:
                raise SpecError(f"{source}: unknown routine '{name}' in [{table}]; use "
                                "DriverEntry, AddDevice, Unload, an IRP_MJ_* name such as "
                                "IRP_MJ_READ or an IRP_MN_* name such as IRP_MN_START_DEVICE")
            where = f"{source}: routine {name}" + (" of its PDOs" if table == "pdo" else "")
            target[name] = _steps(steps, where, names)
    registers = any(c.ddi == "IoWMIRegistrationControl" and c.args[0] == "REGISTER"
                    for calls in spec.routines.values() for c in calls)
    if registers and not spec.wmi:
        raise SpecError(f"{source}: IoWMIRegistrationControl REGISTER, but no [wmi.CLASS] table "
                        "says which data blocks it provides, e.g. [wmi.ToasterDeviceInformation]")
    if any(c.ddi == "IoRegisterFileSystem" for calls in spec.routines.values() for c in calls) \
            and spec.device_type != "FILE_DEVICE_DISK_FILE_SYSTEM":
        raise SpecError(f"{source}: IoRegisterFileSystem registers a disk file system, whose "
                        "devices are device_type = \"FILE_DEVICE_DISK_FILE_SYSTEM\"")
    for name, calls in spec.routines.items():
        if any(c.ddi == "IoCallDriver" and c.args[0].lower() == "parent" for c in calls):
            raise SpecError(f"{source}: routine {name}: 'IoCallDriver parent' is for a bus "
                            "driver's [pdo] routines (its children's PDOs pass IRPs on to the "
                            "stack it sits on); use 'IoCallDriver lower'")
    for kind, table in (("routine", spec.routines), ("PDO routine", spec.pdo_routines),
                        ("completion routine", spec.completions)):
        for name, calls in table.items():
            if name not in FIXED_ROUTINES and (not calls or calls[-1].ddi != "return"):
                raise SpecError(f"{source}: {kind} {name} must end with a return step, e.g. "
                                "'return STATUS_SUCCESS' or 'return status'")
    return spec
