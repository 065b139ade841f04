"""The DDIs a driver spec may call and what runs them: the I/O manager's (Io's) interpreter
of driver code. Each DDI is one record (`Ddi`) in one table (`DDIS`).

A driver routine in the model is a list of steps, each a DDI with its real name and its
arguments. A DDI's record says: its arguments (`synopsis`; [ARG] is optional), the highest
IRQL the real routine may be called at (`limit`, from the Requirements of its WDK page; None:
any; DIRQL: the device's), that page's address (`source`), what it does (`help`, for
docs/drivers.md), its argument rules (`check`) and what it does (`run`). When a spec loads,
spec.py finds each step's record, counts the arguments against the synopsis and calls `check`:
it raises ValueError saying what is wrong (spec.py adds the file, routine and step) and
returns the NTSTATUS the step names, if it names one. When a routine runs
(`IoManager.run_routine`), a step above its limit stops the machine with 0xA, one that works
on an IRP (`needs_irp`) is refused in a routine without one, and `run` gets the I/O manager,
the routine's `Frame` and the step, and returns the status the routine would return if it
ended there (None: as it was). Each run keeps to its DDI's WDK page; the I/O manager's own
work (IoCallDriver, IoCompleteRequest, ...) is in manager.py and the other components, which
the runs call.

State: only the constant table; a `Frame` is one running routine's driver, IRP and device.

Simplified: a real driver is compiled code that calls these routines with pointers and
structures, and branches and loops between the calls; here a routine is its DDI calls alone,
in order, with words for arguments (a pool tag for a pointer, `lower` for the device below),
and `status` stands for the variable holding the NTSTATUS the last call returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmshell.nt.constants import (
    IRP_MJ,
    MAXIMUM_EXPANSION_SIZE,
    MM_SYSTEM_RANGE_START,
    Irql,
    NtStatus,
    parse_irql,
    parse_status,
    status_name,
)
from kmshell.nt.errors import NtError
from kmshell.nt.io.irp import Completion, DeviceObject, IoStackLocation, Irp
from kmshell.nt.ob import PROCESS_RIGHTS, ObjectPathError, SymbolicLink
from kmshell.nt.pool import format_problem
from kmshell.nt.ps import Step
from kmshell.nt.rtl import U32, is_number, number_or_none
from kmshell.nt.se import SDDL_DEVOBJ, SddlError, parse_sddl

if TYPE_CHECKING:
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.io.spec import Call

STATUS_PENDING = NtStatus.STATUS_PENDING
IOF_CALL_DRIVER = 0xFFFFF805_1A2B4F10  # where nt!IofCallDriver sits in the model's kernel
COMPLETION_FLAGS = ("Success", "Error", "Cancel")
MAX_COPY = 1 << 20  # RtlCopyMemory/RtlFillMemory lengths: a megabyte is more than a lesson needs
# A driver's name becomes \Driver\NAME and a registry key name, a device's \Device\NAME: one
# plain path component.
NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
MAX_NAME = 64
WDK = "https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/"  # the WDK's DDI pages
# A limit that is no one level: "<= DIRQL", the DIRQL of the device the routine runs for (the
# SynchronizeIrql its interrupt was connected with). Not an IRQL: `step_limit` resolves it.
DIRQL = -1


@dataclass(slots=True)
class Frame:
    """What a driver routine runs with. After an IoAllocateIrp step `irp` is the new IRP (a
    second variable in the C code) while `given` stays the one the routine was called with:
    IoMarkIrpPending and return are about that one. `here` is given's CurrentLocation on entry:
    the routine's own stack location (irpSp in the C code), which stays its own even after
    the IRP was completed under it."""

    driver: DriverObject
    routine: str
    irp: Irp | None
    device: DeviceObject | None
    given: Irp | None
    here: int
    marked: bool = False  # it called IoMarkIrpPending on `given`


Args = tuple[str, ...]
Names = dict[str, set[str]]  # the routines a spec defines, by table: "completion", "cancel"
# A DDI's argument rules: raises ValueError (what is wrong); returns the NTSTATUS the step
# names, for the steps that name one.
Check = Callable[[Args, Names], "int | None"]
# A DDI's execution: the status the routine would return if it ended here (None: as it was).
Run = Callable[["IoManager", Frame, "Call", int], "int | None"]


@dataclass(frozen=True)
class Ddi:
    """One DDI a spec may call, all of it: synopsis, IRQL limit, help, checks and execution."""

    name: str
    synopsis: str  # its arguments as the spec writes them; [ARG] is optional
    limit: int | None  # the highest IRQL it may be called at (its WDK page); None: any
    source: str  # the address of its WDK page; "": a step of the model with no page of its own
    help: str  # what it does, for docs/drivers.md
    run: Run
    check: Check | None = None  # argument rules beyond their number
    needs_irp: bool = False  # works on an IRP: refused in a routine that has none
    # its own IRQL check, with its own bugcheck (pool: 0xC2; Driver Verifier: 0xC4), made
    # before the generic 0xA for a step above `limit`
    irql_check: Run | None = None


def step_limit(limit: int | None, device: DeviceObject | None) -> int | None:
    """The highest IRQL a step may run at: its DDI's limit, DIRQL resolved to the device's
    (None, no check, for a device with no interrupt connected: the step itself says so)."""
    if limit != DIRQL:
        return limit
    return device.dirql if device is not None else None


# The runs.

def _irp(f: Frame) -> Irp:
    """The IRP a `needs_irp` step works on."""
    assert f.irp is not None  # IoManager.run_routine refused the step in a routine without one
    return f.irp


def _device(f: Frame) -> DeviceObject:
    """The device the routine runs for. A routine given an IRP is given its device too (and
    IoAllocateIrp needs one), so only a step in DriverEntry, Unload and the like finds none."""
    if f.device is None:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                      f"this step needs a device, and {f.routine} has none")
    return f.device


# Conditions a step may be guarded by (`if COND: STEP`, then optionally `else: STEP`), as the
# C code of a driver routine tests them. Each is (what it reads, the operator, the value).
CONDITIONS = {
    "PendingReturned": "Irp->PendingReturned: a driver below returned STATUS_PENDING",
    "Cancel": "Irp->Cancel: IoCancelIrp was called for the IRP",
    "NT_SUCCESS(status)": "what the last call returned is a success or an information status",
    "status == STATUS": "what the last call returned is STATUS (status != STATUS: is not)",
    "IoStatus.Status == STATUS": "the IRP's Irp->IoStatus.Status is STATUS (in a completion "
                                 "routine: how the driver below completed it)",
    "IoControlCode == CODE": "the IOCTL's control code is CODE, e.g. 0x222003",
    "Parameters.Power.Type == SystemPowerState": "a power IRP is about a system state (an "
        "S-IRP); == DevicePowerState: a device state (a D-IRP)",
}
POWER_TYPES = ("SystemPowerState", "DevicePowerState")  # POWER_STATE_TYPE's values
Condition = tuple[str, str, int]  # (subject, operator, value): ("status", "==", 0x103)


def parse_condition(text: str) -> Condition:
    """`PendingReturned`, `!Cancel`, `NT_SUCCESS(status)`, `status == STATUS_PENDING`,
    `IoControlCode != 0x222003` -> a Condition; ValueError says what is valid."""
    words = text.replace("==", " == ").replace("!=", " != ").split()
    negated = len(words) == 1 and words[0].startswith("!")
    word = words[0].lstrip("!") if words else ""
    if len(words) == 1 and word in ("PendingReturned", "Cancel", "NT_SUCCESS(status)"):
        return (word, "!=" if negated else "==", 1)
    if len(words) == 3 and words[0] == "Parameters.Power.Type" and words[1] in ("==", "!=") \
            and words[2] in POWER_TYPES:
        return (words[0], words[1], POWER_TYPES.index(words[2]))
    if len(words) == 3 and words[0] in ("status", "IoStatus.Status", "IoControlCode") and \
            words[1] in ("==", "!="):
        value = number_or_none(words[2]) if words[0] == "IoControlCode" else \
            parse_status(words[2])
        if value is not None and 0 <= value <= U32:
            return (words[0], words[1], value)
    raise ValueError(f"'{text}' is not a condition; write one of: " + ", ".join(CONDITIONS)
                     + " (or its negation: !PendingReturned, status != STATUS)")


def condition_holds(condition: Condition, f: Frame, last: int) -> bool:
    subject, operator, value = condition
    if subject == "status":
        actual = last
    elif subject == "NT_SUCCESS(status)":
        actual = int(last < 0x80000000)
    else:  # a field of the IRP the routine was given
        irp = f.given if f.given is not None else f.irp
        if irp is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"'{subject}' is a field of the "
                          f"IRP, and {f.routine} has none")
        state = irp.power_state  # an S state or a D state (po.py's enums), or none
        fields = {"PendingReturned": int(irp.pending_returned), "Cancel": int(irp.cancel),
                  "IoControlCode": -1 if irp.code is None else irp.code,
                  "IoStatus.Status": irp.status,
                  "Parameters.Power.Type": -1 if state is None else
                  POWER_TYPES.index(f"{type(state).__name__}")}
        actual = fields[subject]
    return (actual == value) == (operator == "==")


def no_irp(f: Frame) -> NtError:
    """The error for a step that works on an IRP, in a routine given none."""
    return NtError(NtStatus.STATUS_INVALID_PARAMETER,
                   f"this step needs an IRP, and {f.routine} has none")


def _return(io: IoManager, f: Frame, call: Call, last: int) -> int | None:
    # Checked on the routine's own location, not the IRP's current one: a completion routine
    # may already have completed the IRP (CurrentLocation past the top). That is legal once it
    # was marked pending: the requester learns the result from the completion, not this return.
    given = f.given
    if call.status == STATUS_PENDING and given is not None and \
            f.here < len(given.stack) and not given.stack[f.here].pending:
        io.emit("Io", "rule", f"{f.driver.name}!{f.routine} returns STATUS_PENDING without "
                "IoMarkIrpPending: the I/O manager may finish the IRP twice or never",
                "Rule: a routine that returns STATUS_PENDING must have marked the IRP "
                "pending first.")
        io.io_verifier_stop(f.driver, f.routine, 0x23D, given, "it returned STATUS_PENDING "
                            "but did not mark the IRP pending (IoMarkIrpPending).")
    # IoMarkIrpPending's page: "the dispatch routine must return STATUS_PENDING"
    if f.marked and given is not None and f.routine.startswith("IRP_M") and \
            call.status is not None and call.status != STATUS_PENDING:
        io.emit("Io", "rule", f"{f.driver.name}!{f.routine} marked IRP {given.number} pending "
                f"but returns {status_name(call.status)}: after IoMarkIrpPending a dispatch "
                "routine must return STATUS_PENDING, even if the IRP is already complete")
        io.io_verifier_stop(f.driver, f.routine, 0x23E, given, "it marked the IRP pending but "
                            f"returned {status_name(call.status)}, not STATUS_PENDING.")
    return last if call.args[0] == "status" else call.status


def _create_device(io: IoManager, f: Frame, call: Call, last: int) -> None:
    spec = f.driver.spec
    assert spec is not None  # a driver that runs routines was loaded from a spec
    adding_function = f.routine == "AddDevice" and spec.type != "filter"
    named = io.pnp.function_device_name() if adding_function else ""
    created = io.create_device(f.driver, named or (call.args[0] if call.args else None))
    if f.irp is not None and f.irp.vpb is not None and not f.irp.vpb.mounted:
        io.files.volume_device_created(f.irp.vpb, created)  # in IRP_MN_MOUNT_VOLUME


def _attach(io: IoManager, f: Frame, call: Call, last: int) -> None:
    mine = io.newest_device(f.driver, call.ddi)
    to_pdo = call.args[0].lower() == "pdo"
    if to_pdo and f.routine != "AddDevice":
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                      "only AddDevice is given a PDO to attach to")
    io.attach_device(mine, _device(f) if to_pdo else io.find_device(call.args[0]))


def _own_device(f: Frame, ddi: str) -> DeviceObject:
    if f.device is None or f.device.driver is not f.driver:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{ddi} needs this driver's own device")
    return f.device


def _allocate_irp(io: IoManager, f: Frame, call: Call, last: int) -> None:
    f.irp = io.allocate_irp(f.driver, f.device, f.given, call.args)


def _complete_request(io: IoManager, f: Frame, call: Call, last: int) -> None:
    irp = f.irp
    if irp is None:  # in a DPC: the IRP the device was working on
        if f.device is None:
            raise no_irp(f)
        pending = io.held_irp(f.driver, f.device)
        if pending is None:
            io.emit("Io", "irp", f"{f.driver.name}!{f.routine}: no IRP is pending at "
                    f"{f.device.label}; nothing to complete")
            return
        pending.boost = int(call.args[1]) if len(call.args) > 1 else 0
        status = pending.status if call.status is None else call.status
        io.complete_request(pending, status, f.driver)
    elif call.args[0] == "master":
        if irp.master is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IRP {irp.number} was not built "
                          "by a driver: it has no master request to complete")
        io.emit("Io", "irp", f"{f.driver.name}!{f.routine}: IRP {irp.number} is done, so "
                f"{f.driver.name} completes IRP {irp.master.number}, the request it served")
        io.complete_request(irp.master, irp.status, f.driver)
    else:
        irp.boost = int(call.args[1]) if len(call.args) > 1 else 0
        io.complete_request(irp, irp.status if call.status is None else call.status, f.driver)


def _skip(io: IoManager, f: Frame, call: Call, last: int) -> None:
    irp = f.irp
    assert irp is not None  # IoManager.run_routine refused the step in a routine without one
    irp.current += 1  # the lower driver gets this very location


def _past_the_last_location(io: IoManager, f: Frame, call: Call) -> bool:
    """Writing the next stack location of an IRP that has none left."""
    irp = _irp(f)
    if irp.current > 0:
        return False
    io.emit("Io", "rule", f"{f.driver.name}!{f.routine}: {call.ddi} writes the next stack "
            f"location, but IRP {irp.number} has none left: the write lands past the IRP's "
            "last location", "Each driver that passes an IRP on needs a location below its "
            "own: the IRP must have StackSize locations.")
    return True


def _no_location(irp: Irp, what: str, advice: str = "") -> NtError:
    """A step that needs the IRP's current stack location, when it has none."""
    return NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IRP {irp.number} has no current stack "
                   f"location {what}: " + ("it was already completed (and freed)" if irp.completed
                                           else "IoSkipCurrentIrpStackLocation moved it past the "
                                           "top") + advice)


def _copy_to_next(io: IoManager, f: Frame, call: Call, last: int) -> None:
    if not _past_the_last_location(io, f, call):
        irp = _irp(f)
        here = irp.location
        if here is None:
            raise _no_location(irp, "to copy")
        irp.stack[irp.current - 1] = IoStackLocation(here.major, here.minor)


def _set_completion(io: IoManager, f: Frame, call: Call, last: int) -> None:
    if not _past_the_last_location(io, f, call):
        irp = _irp(f)
        flags = set(call.args[1:]) or set(COMPLETION_FLAGS)
        irp.stack[irp.current - 1].completion = Completion(
            f.driver, call.args[0], _device(f), "Success" in flags, "Error" in flags,
            "Cancel" in flags)


def _io_status(io: IoManager, f: Frame, call: Call, last: int) -> None:
    _irp(f).status = last if call.status is None else call.status  # `IoStatus status`: last's


def _current_location(io: IoManager, f: Frame, call: Call, last: int) -> None:
    irp = _irp(f)
    here = irp.location
    if here is None:
        raise _no_location(irp, "to look at")
    parameters = [f"IoControlCode {irp.code:#x}"] if irp.code is not None else []
    parameters += [irp.buffer] if irp.buffer else []
    io.emit("Io", "stack-location", f"{f.driver.name}!{f.routine}: IoGetCurrentIrpStackLocation"
            f" → location {irp.current + 1} of {len(irp.stack)} of IRP {irp.number}: "
            + "/".join(filter(None, (here.major, here.minor)))
            + (f"; {', '.join(parameters)}" if parameters else ""),
            "Each driver finds its own instructions in its own stack location: the major "
            "and minor function and the parameters the driver above set for it.")


def _mark_pending(io: IoManager, f: Frame, call: Call, last: int) -> None:
    given = f.given  # the IRP the routine was called with, not one it allocated
    if given is None:
        raise no_irp(f)
    location = given.location  # IoGetCurrentIrpStackLocation, as the C macro does
    if location is None:
        raise _no_location(given, "to mark",
                           "; call IoMarkIrpPending first, before passing the IRP on")
    location.pending, f.marked = True, True
    spec = f.driver.spec
    if spec is not None and f.routine in spec.completions:
        why = ("Irp->PendingReturned is set, so it marks" if given.pending_returned else
               "Irp->PendingReturned is clear, yet it marks")
        io.emit("Io", "pending", f"{f.driver.name}!{f.routine}: {why} IRP {given.number} pending "
                "in its own stack location (IoMarkIrpPending): the pending mark goes on up",
                "A completion routine that lets completion go on must pass the lower driver's "
                "pending mark up: if (Irp->PendingReturned) IoMarkIrpPending(Irp).")
    else:
        io.emit("Io", "pending", f"{f.driver.name}!{f.routine}: IoMarkIrpPending(IRP "
                f"{given.number}): SL_PENDING_RETURNED in its stack location; it will return "
                "STATUS_PENDING and finish the IRP later")


def _set_cancel_routine(io: IoManager, f: Frame, call: Call, last: int) -> None:
    name, irp = call.args[0], _irp(f)
    irp.cancel_routine = None if name == "NULL" else Completion(f.driver, name, _device(f))
    io.emit("Io", "cancel", f"{f.driver.name}: IRP {irp.number} is "
            + (f"cancelable: IoSetCancelRoutine({name})" if name != "NULL"
               else "no longer cancelable: IoSetCancelRoutine(NULL)"))


def _call_driver(io: IoManager, f: Frame, call: Call, last: int) -> int:
    where = call.args[0].lower()
    if where == "parent":
        return io.call_driver(io.parent_target(f.driver, _device(f)), _irp(f))
    if where == "volume":
        if f.device is None or f.device.target_device is None:
            name = f.device.label if f.device is not None else f.driver.name
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{name} is not a file "
                          "system's volume device: it has no mounted volume to send this to")
        return io.call_driver(f.device.target_device, _irp(f))
    device = _device(f)
    lower = device.attached_to
    if lower is None:
        # IofCallDriver reads DeviceObject->DriverObject (offset 0x8 on x64) through the
        # NULL pointer: a read (Arg3 0) of address 0x8 (Arg4).
        io.unhandled_exception(f.driver, f.routine, IOF_CALL_DRIVER, False, 0x8,
                               f"{device.label} is at the bottom of its stack: there is no "
                               "lower device, and IoCallDriver got a NULL pointer.",
                               "Only forward an IRP when the device is attached to one.")
    return io.call_driver(lower, _irp(f))


def _free_irp(io: IoManager, f: Frame, call: Call, last: int) -> None:
    irp = _irp(f)
    if irp.master is None and irp.owner is not f.driver:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IoFreeIrp: IRP {irp.number} was not "
                      "built by this driver; the I/O manager frees it")
    io.free_irp(irp, irp.status)
    io.emit("Io", "irp", f"IoFreeIrp: {f.driver.name} frees IRP {irp.number}, which it built")


def _csq_remove_next(io: IoManager, f: Frame, call: Call, last: int) -> int:
    irp = io.csq_remove_next(f.driver, _device(f))
    if irp is None:
        return NtStatus.STATUS_NOT_FOUND
    f.irp = irp  # the steps after it work on the IRP it returned
    return NtStatus.STATUS_SUCCESS


def _held(io: IoManager, f: Frame) -> Irp | None:
    """The IRP a step works on: the routine's, or in a DPC the one its device holds."""
    return f.irp or io.held_irp(f.driver, f.device)


def _copy_string(io: IoManager, f: Frame, call: Call, last: int) -> int | None:
    return io.mm.copy_string(f.driver, call.ddi, call.args[0], call.args[1:], f.routine)


# These return a pointer, not a status: `return status` after them is what came before.
def _allocate_pool(io: IoManager, f: Frame, call: Call, last: int) -> None:
    io.mm.allocate_pool(f.driver, call.args[0].upper() == "PAGED", int(call.args[1]),
                        call.args[2], f.routine)


def _get_dma_adapter(io: IoManager, f: Frame, call: Call, last: int) -> None:
    io.hal.get_dma_adapter(io.newest_device(f.driver, call.ddi), int(call.args[0]),
                           int(call.args[1]))


def _create_controller(io: IoManager, f: Frame, call: Call, last: int) -> None:
    io.create_controller(f.driver)


def _change_irql(io: IoManager, f: Frame, call: Call, last: int) -> None:
    io.ke.change_irql(f.driver, f.routine, call.ddi, parse_irql(call.args[0]))


# The checks, run when a spec loads. The number of arguments is already right (the synopsis).

def _defined(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _completion_routine(name: str, names: Names) -> None:
    if name not in names["completion"]:
        raise ValueError(f"no completion routine '{name}' in [completion]; defined: "
                         f"{_defined(names['completion'])}")


def _pool_tag(tag: str) -> None:
    if not 1 <= len(tag) <= 4 or not tag.isascii() or not tag.isalnum():
        raise ValueError("a pool tag is one to four letters or digits, e.g. Tidy")


def _check_device_name(args: Args, names: Names) -> None:
    if args and (not set(args[0]) <= NAME_CHARACTERS | {"#"} or args[0].strip(".") == ""
                 or len(args[0]) > MAX_NAME):
        raise ValueError(f"'{args[0]}' is not a device name: 1 to {MAX_NAME} letters, digits, "
                         "'_', '-', '.' or '#' (numbered 0, 1, ...), not only dots; it becomes "
                         "\\Device\\NAME, one name in one directory")


def _check_completion(args: Args, names: Names) -> None:
    _completion_routine(args[0], names)
    bad = [a for a in args[1:] if a not in COMPLETION_FLAGS]
    if bad:
        raise ValueError(f"'{bad[0]}' is not a flag; use Success, Error, Cancel")


def _check_call_target(args: Args, names: Names) -> None:
    if args[0].lower() not in ("lower", "parent", "volume"):
        raise ValueError("IoCallDriver sends to 'lower' (the next-lower device), from a bus "
                         "driver's PDO to 'parent', or from a file system's volume device to "
                         "'volume'")


def _check_allocate_pool(args: Args, names: Names) -> None:
    if args[0].upper() not in ("NONPAGED", "PAGED") or not is_number(args[1], 1, U32):
        raise ValueError("ExAllocatePool2 takes NONPAGED or PAGED, a size in bytes "
                         "(1..2**32-1) and a tag, e.g. 'ExAllocatePool2 NONPAGED 64 Tidy'")
    _pool_tag(args[2])


def _check_fill_memory(args: Args, names: Names) -> None:
    if not is_number(args[1], 1, MAX_COPY):
        raise ValueError(f"RtlFillMemory's LENGTH is a number of bytes, 1..{MAX_COPY}")
    if args[0].lower().startswith("0x"):
        address = number_or_none(args[0])
        if address is None or address < MM_SYSTEM_RANGE_START:
            raise ValueError(f"'{args[0]}' is not a kernel address (from "
                             f"{MM_SYSTEM_RANGE_START:#x})")


def _check_pool_tag(args: Args, names: Names) -> None:
    _pool_tag(args[0])


def _check_printf(args: Args, names: Names) -> None:
    problem = format_problem(args[1], args[2:])
    if problem:
        raise ValueError(problem)
    _pool_tag(args[0])


def _check_copy_memory(args: Args, names: Names) -> None:
    if args[0] != "UserBuffer" or not is_number(args[1], 0, MAX_COPY):
        raise ValueError("RtlCopyMemory copies to UserBuffer (Irp->UserBuffer) a number of "
                         f"bytes (0..{MAX_COPY}), e.g. 'RtlCopyMemory UserBuffer 64'")


def _check_stall(args: Args, names: Names) -> None:
    if not is_number(args[0], 0, U32):
        raise ValueError("KeStallExecutionProcessor takes a number of microseconds "
                         "(0..2**32-1, a ULONG)")


def _check_control_request(args: Args, names: Names) -> None:
    if not args[0].lower().startswith("0x") or not is_number(args[0], 0, U32):
        raise ValueError("the control code is 32-bit hex, e.g. 0x220003 "
                         "(IOCTL_INTERNAL_USB_SUBMIT_URB)")
    _completion_routine(args[1], names)


def _check_allocate_irp(args: Args, names: Names) -> None:
    if args[0] not in IRP_MJ:
        raise ValueError(f"'{args[0]}' is not an IRP major function; e.g. IRP_MJ_READ, "
                         "IRP_MJ_INTERNAL_DEVICE_CONTROL")
    if len(args) > 1 and not is_number(args[1], 1, 127):
        raise ValueError("the StackSize is a number of stack locations, 1 to 127 (a CCHAR)")


def _check_fsd_request(args: Args, names: Names) -> None:
    if args[0] not in ("IRP_MJ_READ", "IRP_MJ_WRITE", "IRP_MJ_FLUSH_BUFFERS",
                       "IRP_MJ_SHUTDOWN", "IRP_MJ_PNP"):
        raise ValueError(f"IoBuildSynchronousFsdRequest builds IRP_MJ_READ, IRP_MJ_WRITE, "
                         f"IRP_MJ_FLUSH_BUFFERS, IRP_MJ_SHUTDOWN or IRP_MJ_PNP, not '{args[0]}'")


def _check_irql(args: Args, names: Names) -> None:
    parse_irql(args[0])


def _check_cancel_routine(args: Args, names: Names) -> None:
    if args[0] != "NULL" and args[0] not in names["cancel"]:
        raise ValueError(f"no cancel routine '{args[0]}' in [cancel] (or NULL to clear it); "
                         f"defined: {_defined(names['cancel'])}")


def _check_work_routine(args: Args, names: Names) -> None:
    if args[0] not in names.get("workitem", set()):
        raise ValueError(f"no work item routine '{args[0]}' in [workitem]; defined: "
                         f"{_defined(names.get('workitem', set()))}")


def _check_callout(args: Args, names: Names) -> None:
    if args[0] not in names.get("callout", set()):
        raise ValueError(f"no callout routine '{args[0]}' in [callout]; defined: "
                         f"{_defined(names.get('callout', set()))}")
    if not args[1].isdigit() or not 0 < int(args[1]) <= MAXIMUM_EXPANSION_SIZE:
        raise ValueError(f"SIZE is the bytes of stack the callout needs, 1 to "
                         f"{MAXIMUM_EXPANSION_SIZE} (MAXIMUM_EXPANSION_SIZE)")


def _check_initialize_event(args: Args, names: Names) -> None:
    if args[1] not in ("NotificationEvent", "SynchronizationEvent") or \
            args[2:] not in ((), ("TRUE",), ("FALSE",)):
        raise ValueError("write 'KeInitializeEvent NAME NotificationEvent' (or "
                         "SynchronizationEvent), then TRUE for an event that starts signaled")


def _check_status(args: Args, names: Names) -> int | None:
    """STATUS, or `status`: what the last call returned (known only when the routine runs)."""
    return None if args[0] == "status" else parse_status(args[0])


def _check_complete(args: Args, names: Names) -> int | None:
    if args[0] in ("status", "master"):  # the boost after them is not checked
        return None
    status = parse_status(args[0])
    if len(args) > 1 and not is_number(args[1], 0, 31):
        raise ValueError("the priority boost is a number such as 0 or 2 (a CCHAR added to a "
                         "priority of at most 31)")
    return status


def _check_wmi_action(args: Args, names: Names) -> None:
    if args[0] not in ("REGISTER", "DEREGISTER"):
        raise ValueError("IoWMIRegistrationControl takes REGISTER (WMIREG_ACTION_REGISTER) or "
                         "DEREGISTER (WMIREG_ACTION_DEREGISTER)")


def _check_dma_adapter(args: Args, names: Names) -> None:
    if args[0] not in ("32", "64") or not is_number(args[1], 1, 1 << 24):
        raise ValueError("IoGetDmaAdapter takes 32 or 64 (address bits) and the longest "
                         "transfer in bytes (1 to 16 MB), e.g. 'IoGetDmaAdapter 32 65536'")


# -- registrations, symbolic links and device security (issue 19): checks and runs

# The notify and registry callback DDIs: DDI -> the kind of routine (ps.NOTIFY_KINDS).
NOTIFY_DDIS = {
    "PsSetCreateProcessNotifyRoutineEx": "process", "PsSetCreateThreadNotifyRoutine": "thread",
    "PsRemoveCreateThreadNotifyRoutine": "thread", "PsSetLoadImageNotifyRoutine": "image",
    "PsRemoveLoadImageNotifyRoutine": "image", "CmRegisterCallbackEx": "registry",
    "CmUnRegisterCallback": "registry",
}
WORK_ITEM = [Step("compute", 3)]  # what a [notify] routine's ExQueueWorkItem queues
LINK_PREFIXES = ("\\??\\", "\\DosDevices\\", "\\GLOBAL??\\")  # where a driver names a DOS device


def _check_notify(args: Args, names: Names) -> None:
    routines = names.get("notify", set())
    if args[0] not in routines:
        raise ValueError(f"'{args[0]}' is not a routine of the spec's [notify] table; "
                         + (f"it has {', '.join(sorted(routines))}" if routines else
                            "add one, e.g. [notify] OnProcess = [\"compute 1\"]"))
    if len(args) > 1 and args[1].upper() not in ("TRUE", "FALSE"):
        raise ValueError(f"Remove is TRUE (remove the routine) or FALSE (register it), not "
                         f"'{args[1]}'")


def _check_altitude(text: str) -> None:
    if not re.fullmatch(r"\d{1,6}(\.\d{1,6})?", text):
        raise ValueError(f"'{text}' is not an altitude: a number such as 320000 or 385200.5 "
                         "(Microsoft assigns drivers their altitudes)")


def _check_registry_callback(args: Args, names: Names) -> None:
    _check_notify(args[:1], names)
    _check_altitude(args[1])


def _notify(io: IoManager, f: Frame, call: Call, last: int) -> None:
    kind, name, ps = NOTIFY_DDIS[call.ddi], call.args[0], io.files.ps
    remove = call.ddi.startswith(("PsRemove", "CmUnRegister")) or \
        (len(call.args) > 1 and call.args[1].upper() == "TRUE")
    if remove:
        ps.remove_routine(kind, f.driver, name, call.ddi)
        return
    spec = f.driver.spec
    assert spec is not None  # a driver that runs routines was loaded from a spec
    ps.register_callback(kind, f.driver, spec.notify[name], WORK_ITEM, name=name, api=call.ddi,
                         altitude=call.args[1] if kind == "registry" else "")


def _check_object_callbacks(args: Args, names: Names) -> None:
    _check_altitude(args[0])
    if not set(args[1]) <= NAME_CHARACTERS or len(args[1]) > MAX_NAME:
        raise ValueError(f"'{args[1]}' is not an image name such as MsMpEng.exe")
    bad = [r for r in args[2].split("|") if r not in PROCESS_RIGHTS]
    if bad:
        raise ValueError(f"'{bad[0]}' is not a process access right; use "
                         f"{', '.join(PROCESS_RIGHTS)}, joined with |")


def _register_object_callbacks(io: IoManager, f: Frame, call: Call, last: int) -> None:
    rights = 0
    for right in call.args[2].split("|"):
        rights |= PROCESS_RIGHTS[right]
    io.ob.register_callbacks(f.driver, call.args[0], call.args[1], rights)


def _link_name(text: str) -> str | None:
    """\\??\\NAME, \\DosDevices\\NAME or \\GLOBAL??\\NAME -> NAME (None: not such a name)."""
    prefix = next((p for p in LINK_PREFIXES if text.upper().startswith(p.upper())), None)
    name = text[len(prefix):] if prefix else ""
    ok = name and set(name) <= NAME_CHARACTERS | {":"} and len(name) <= MAX_NAME
    return name if ok else None


def _check_link(args: Args, names: Names) -> None:
    if _link_name(args[0]) is None:
        raise ValueError(f"'{args[0]}' is not a DOS device name: \\??\\NAME (or "
                         "\\DosDevices\\NAME), which is \\GLOBAL??\\NAME")
    if len(args) > 1 and not re.fullmatch(r"\\Device\\[A-Za-z0-9_.\-]{1,64}", args[1]):
        raise ValueError(f"'{args[1]}' is not a device name: \\Device\\NAME, the name "
                         "IoCreateDevice gave the device")


def _create_link(io: IoManager, f: Frame, call: Call, last: int) -> None:
    path = f"\\GLOBAL??\\{_link_name(call.args[0])}"
    try:
        io.ob.create_symbolic_link(path, call.args[1], permanent=False)
    except ObjectPathError:
        raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION, f"{path} already exists (did a "
                      "driver unload without IoDeleteSymbolicLink?)") from None
    io.emit("Io", "symlink", f"IoCreateSymbolicLink: {path} → {call.args[1]}; user mode can "
            f"now open \\\\.\\{path.rsplit(chr(92), 1)[1]}",
            "Win32 names (\\\\.\\NAME, C:) are symbolic links in \\GLOBAL??; a device is "
            "reachable from user mode only through one.")


def _delete_link(io: IoManager, f: Frame, call: Call, last: int) -> None:
    path = f"\\GLOBAL??\\{_link_name(call.args[0])}"
    try:
        link = io.ob.lookup(path)
    except ObjectPathError:
        link = None
    if not isinstance(link, SymbolicLink):
        raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND, f"no symbolic link {path}")
    io.ob.remove(link)
    io.emit("Io", "symlink", f"IoDeleteSymbolicLink: {path} deleted")


def _device_sddl(text: str) -> str:
    """An SDDL_DEVOBJ_* name, or an SDDL string, -> the SDDL string."""
    return SDDL_DEVOBJ.get(text.upper(), text)


def _check_device_secure(args: Args, names: Names) -> None:
    _check_device_name(args[:1], names)
    sddl = _device_sddl(args[1])
    subset = ("IoCreateDeviceSecure takes \"D:P\" and allow ACEs (A;;ACCESS;;;SID), or one "
              f"of {', '.join(SDDL_DEVOBJ)}")
    if not sddl.upper().startswith("D:P"):
        raise ValueError(f"'{args[1]}': {subset}")
    try:
        descriptor = parse_sddl(sddl)
    except SddlError as error:
        raise ValueError(f"'{args[1]}': {error}; {subset}") from None
    if descriptor.owner or descriptor.group or not all(a.allow for a in descriptor.dacl or ()):
        raise ValueError(f"'{args[1]}': {subset}")


def _create_device_secure(io: IoManager, f: Frame, call: Call, last: int) -> None:
    _create_device(io, f, call, last)
    sddl = _device_sddl(call.args[1])
    named = f"{call.args[1].upper()} = {sddl}" if sddl != call.args[1] else sddl
    io.ob.set_security(io.newest_device(f.driver, call.ddi), parse_sddl(sddl),
                       f"{named} (IoCreateDeviceSecure)")


# -- timers and power (issue 19): checks and runs

DEVICE_STATES = ("D0", "D1", "D2", "D3")  # DEVICE_POWER_STATE: PowerDeviceD0 ... D3


def _check_timer(args: Args, names: Names) -> None:
    if not set(args[0]) <= NAME_CHARACTERS or len(args[0]) > MAX_NAME:
        raise ValueError(f"'{args[0]}' is not a timer name: 1 to {MAX_NAME} letters, digits, "
                         "'_', '-' or '.' (the name of the KTIMER variable in the driver)")
    if len(args) > 1 and args[1] not in ("NotificationTimer", "SynchronizationTimer"):
        raise ValueError(f"'{args[1]}' is not a timer type: NotificationTimer or "
                         "SynchronizationTimer")


def _check_set_timer(args: Args, names: Names) -> None:
    _check_timer(args[:1], names)
    if not is_number(args[1], 1, U32) or (len(args) > 2 and not is_number(args[2], 0, U32)):
        raise ValueError("the due time is a number of clock ticks from now, 1 or more, and "
                         "KeSetTimerEx's period a number of ticks, 0 (not periodic) or more, "
                         "e.g. 'KeSetTimerEx Poll 2 5'")


def _timer_dpc(io: IoManager, f: Frame, ddi: str) -> DeviceObject:
    """The device whose DPC a timer queues: the routine's own device, or the driver's newest
    (KeInitializeDpc(&Extension->Dpc, DpcRoutine, DeviceObject), implied)."""
    spec = f.driver.spec
    if spec is None or "DPC" not in spec.routines:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{ddi}: the timer's DPC is the "
                      f"driver's DPC routine, and {f.driver.name} has none: add DPC to "
                      "[routines]")
    if f.device is not None and f.device.driver is f.driver:
        return f.device
    return io.newest_device(f.driver, ddi)


def _set_timer(io: IoManager, f: Frame, call: Call, last: int) -> None:
    period = int(call.args[2]) if len(call.args) > 2 else 0
    io.ke.set_timer(f.driver, f.routine, call.args[0], _timer_dpc(io, f, call.ddi),
                    int(call.args[1]), period)


def _check_device_state(args: Args, names: Names) -> None:
    if args[0] not in DEVICE_STATES:
        raise ValueError(f"'{args[0]}' is not a device power state; use "
                         f"{', '.join(DEVICE_STATES)}")
    routines = names.get("power_completion", set())
    if len(args) > 1 and args[1] not in routines:
        raise ValueError(f"no power completion routine '{args[1]}' in [power_completion]; "
                         f"defined: {_defined(routines)}")


def _check_lower(args: Args, names: Names) -> None:
    if args[0].lower() != "lower":
        raise ValueError("PoCallDriver sends the power IRP to 'lower', the next-lower device")


def _request_power_irp(io: IoManager, f: Frame, call: Call, last: int) -> None:
    given, device = f.given, _device(f)
    if given is not None and given.power_state is not None and given.power_state.name \
            .startswith("PowerDevice"):
        raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{f.driver.name}!{f.routine} "
                      f"is handling IRP {given.number}, a device power IRP: asking for another "
                      "here would send IRPs without end. A power policy owner requests a "
                      "device power IRP from elsewhere (an idle timer's DPC, an IOCTL), or in "
                      "C only when Parameters.Power.Type is SystemPowerState")
    driver, name = f.driver, call.args[1] if len(call.args) > 1 else ""

    def power_completion(status: int) -> None:
        assert driver.spec is not None  # the check found NAME in its [power_completion]
        io.emit("Po", "power-completion", f"the device power IRP is complete "
                f"({status_name(status)}): the power manager calls {driver.name}!{name}")
        io.run_routine(driver, name, driver.spec.power_completions[name], None, device, status)

    io.po.request_power_irp(driver, f.routine, device, call.args[0],
                            power_completion if name else None)


def _start_next_power_irp(io: IoManager, f: Frame, call: Call, last: int) -> None:
    io.emit("Po", "power", f"{f.driver.name}!{f.routine}: PoStartNextPowerIrp does nothing since "
            "Windows Vista")


def _set_power_state(io: IoManager, f: Frame, call: Call, last: int) -> None:
    # The page: at most APC_LEVEL, except for D0: at most DISPATCH_LEVEL (the record's limit).
    if call.args[0] != "D0" and io.core.processor().irql > Irql.APC_LEVEL:
        io.irql_too_high(f.driver, f.routine, call, Irql.APC_LEVEL)
    io.po.set_power_state(f.driver, f.routine, _device(f), call.args[0])


def _records() -> tuple[Ddi, ...]:
    """Every DDI a spec may call, in the order docs/drivers.md lists them (and a mistake's
    "known:" list). The limits are the IRQLs in the Requirements of each routine's WDK page,
    whose address stands beside each (`source`).
    (Built in a function because mypy checks a function's body after the modules in its
    import cycle: the runs' lambdas then see the types of IoManager's attributes.)"""
    return (
        Ddi("IoCreateDevice", "[NAME]",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-iocreatedevice",
            "create a device object (named \\Device\\NAME, or unnamed)",
            _create_device, check=_check_device_name),
        Ddi("IoAttachDeviceToDeviceStack", "PATH|pdo",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioattachdevicetodevicestack",
            "attach this driver's newest device on top of the stack that holds PATH (in "
            "AddDevice: pdo, the device's PDO)",
            _attach),
        Ddi("IoDetachDevice", "",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-iodetachdevice",
            "detach this driver's device from the device below it",
            lambda io, f, call, last: io.detach_device(_own_device(f, call.ddi))),
        Ddi("IoDeleteDevice", "",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-iodeletedevice",
            "delete this driver's device object",
            lambda io, f, call, last: io.delete_device(_own_device(f, call.ddi))),
        Ddi("IoSkipCurrentIrpStackLocation", "",
            None, WDK + "wdm/nf-wdm-ioskipcurrentirpstacklocation",
            "let the next driver use this stack location",
            _skip, needs_irp=True),
        Ddi("IoCopyCurrentIrpStackLocationToNext", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iocopycurrentirpstacklocationtonext",
            "copy this stack location to the next, without the completion routine",
            _copy_to_next, needs_irp=True),
        Ddi("IoSetCompletionRoutine", "ROUTINE [Success] [Error] [Cancel]",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iosetcompletionroutine",
            "run ROUTINE when a lower driver completes the IRP",
            _set_completion, check=_check_completion, needs_irp=True),
        Ddi("IoCallDriver", "lower|parent|volume",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iocalldriver",
            "send the IRP to the next-lower device; from a bus driver's PDO, `parent`: to the "
            "device below its own FDO, in the parent stack (as the USB hub passes its children's "
            "transfers on); from a file system's volume device, `volume`: to the top of the stack "
            "of the volume it mounted (Vcb->TargetDeviceObject)",
            _call_driver, check=_check_call_target, needs_irp=True),
        Ddi("IoRegisterFileSystem", "",
            Irql.APC_LEVEL, WDK + "ntifs/nf-ntifs-ioregisterfilesystem",
            "register this driver's newest device, its control device object (device_type "
            "FILE_DEVICE_DISK_FILE_SYSTEM): the I/O manager then offers it every disk volume to "
            "mount (IRP_MN_MOUNT_VOLUME), the most recently registered file system first",
            lambda io, f, call, last:
                io.files.register_file_system(io.newest_device(f.driver, call.ddi))),
        Ddi("IoUnregisterFileSystem", "",
            Irql.APC_LEVEL, WDK + "ntifs/nf-ntifs-iounregisterfilesystem",
            "take this driver's control device off the I/O manager's list of file systems (in "
            "Unload)",
            lambda io, f, call, last: io.files.unregister_file_system(f.driver)),
        Ddi("KeExpandKernelStackAndCallout", "ROUTINE SIZE",
            Irql.APC_LEVEL, WDK + "ntddk/nf-ntddk-keexpandkernelstackandcallout",
            "call the [callout] ROUTINE now with SIZE bytes of stack guaranteed: on a new "
            "large kernel stack segment (72 KB) when the current one has too little left "
            "(returns STATUS_SUCCESS; the callout returns nothing)",
            lambda io, f, call, last: io.expand_stack_and_callout(
                f.driver, f.routine, call.args[0], int(call.args[1]), f.irp, f.device),
            check=_check_callout),
        Ddi("IoGetRemainingStackSize", "",
            None, WDK + "wdm/nf-wdm-iogetremainingstacksize",
            "how many bytes are left on the kernel stack the routine runs on (any IRQL since "
            "Windows Server 2003 SP1): the trace shows it",
            lambda io, f, call, last: io.remaining_stack(f.driver, f.routine)),
        Ddi("MmGetSystemAddressForMdlSafe", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-mmgetsystemaddressformdlsafe",
            "map the locked pages of the IRP's MDL (direct I/O) into system space, so that the "
            "caller's buffer can be reached from any context (a DPC, another thread); "
            "completion unmaps them",
            lambda io, f, call, last: io.mm.map_locked_pages(_irp(f), f.driver, f.routine),
            needs_irp=True),
        Ddi("IoMarkIrpPending", "",
            None, WDK + "wdm/nf-wdm-iomarkirppending",
            "mark the IRP pending before returning STATUS_PENDING",
            _mark_pending, needs_irp=True),
        Ddi("IoGetCurrentIrpStackLocation", "",
            None, WDK + "wdm/nf-wdm-iogetcurrentirpstacklocation",
            "look at this driver's stack location of the IRP: its major and minor function and "
            "parameters (the trace shows them; every step works on this location)",
            _current_location, needs_irp=True),
        Ddi("IoStartPacket", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iostartpacket",
            "hand the IRP to StartIo now, or queue it in the device queue while the device is "
            "busy (System-queued I/O)",
            lambda io, f, call, last: io.start_packet(_device(f), _irp(f)), needs_irp=True),
        Ddi("IoStartNextPacket", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iostartnextpacket",
            "in the DPC, after completing the current IRP: start the next queued one (StartIo), "
            "or mark the device idle",
            lambda io, f, call, last: io.start_next_packet(_device(f))),
        Ddi("ExAllocatePool2", "NONPAGED|PAGED SIZE TAG",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-exallocatepool2",
            "allocate SIZE bytes of nonpaged or paged pool (POOL_FLAG_NON_PAGED / "
            "POOL_FLAG_PAGED) tagged TAG",
            _allocate_pool, check=_check_allocate_pool,
            irql_check=lambda io, f, call, last: io.mm.check_allocate_irql(
                f.driver, call.args[0].upper() == "PAGED", int(call.args[1]), f.routine)),
        Ddi("ExFreePoolWithTag", "TAG",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-exfreepoolwithtag",
            "free the driver's latest pool block tagged TAG",
            lambda io, f, call, last: io.mm.free_pool(f.driver, call.args[0], f.routine),
            check=_check_pool_tag,
            irql_check=lambda io, f, call, last:
                io.mm.check_free_irql(f.driver, call.args[0], f.routine)),
        Ddi("RtlFillMemory", "TAG|ADDRESS LENGTH",
            None, WDK + "wdm/nf-wdm-rtlfillmemory",
            "write LENGTH bytes at the start of the driver's TAG block, or at a raw kernel "
            "ADDRESS (a wild pointer)",
            lambda io, f, call, last:
                io.mm.fill_memory(f.driver, call.args[0], int(call.args[1]), f.routine),
            check=_check_fill_memory),
        Ddi("RtlStringCbCopyA", "TAG SOURCE",
            Irql.PASSIVE_LEVEL, WDK + "ntstrsafe/nf-ntstrsafe-rtlstringcbcopya",
            "copy the string SOURCE into the driver's TAG block, told its size in bytes: a string "
            "that does not fit is cut and terminated, and the call returns STATUS_BUFFER_OVERFLOW",
            _copy_string, check=_check_pool_tag),
        Ddi("RtlStringCbCatA", "TAG SOURCE",
            Irql.PASSIVE_LEVEL, WDK + "ntstrsafe/nf-ntstrsafe-rtlstringcbcata",
            "append SOURCE to the string in the TAG block, within its size "
            "(STATUS_BUFFER_OVERFLOW if cut)",
            _copy_string, check=_check_pool_tag),
        Ddi("RtlStringCchCopyW", "TAG SOURCE",
            Irql.PASSIVE_LEVEL, WDK + "ntstrsafe/nf-ntstrsafe-rtlstringcchcopyw",
            "copy a wide (WCHAR) string: the TAG block holds half its size in characters, the NUL "
            "included",
            _copy_string, check=_check_pool_tag),
        Ddi("RtlStringCbPrintfA", "TAG FORMAT [ARG] [ARG] [ARG]",
            Irql.PASSIVE_LEVEL, WDK + "ntstrsafe/nf-ntstrsafe-rtlstringcbprintfa",
            "format into the TAG block (%s %d %u %x take the next ARG), within its size",
            _copy_string, check=_check_printf),
        # strcpy and strcat are the C library's, not DDIs: no WDK page, no IRQL of their own.
        Ddi("strcpy", "TAG SOURCE",
            None, "",
            "the C library's copy: writes SOURCE and its NUL into the TAG block whatever its size "
            "(ntstrsafe.h deprecates it)",
            _copy_string, check=_check_pool_tag),
        Ddi("strcat", "TAG SOURCE",
            None, "",
            "the C library's append: unchecked, like strcpy",
            _copy_string, check=_check_pool_tag),
        Ddi("RtlCopyMemory", "UserBuffer LENGTH",
            None, WDK + "wdm/nf-wdm-rtlcopymemory",
            "copy LENGTH bytes to Irp->UserBuffer (neither I/O): a user address, meaningful only "
            "in the caller's process",
            lambda io, f, call, last:
                io.files.copy_to_user_buffer(f.driver, _held(io, f), int(call.args[1]), f.routine),
            check=_check_copy_memory),
        # The page: <= DISPATCH_LEVEL, and <= APC_LEVEL for a wait with no timeout (this one).
        # The run enforces the second itself: a wait at DISPATCH_LEVEL on an object that is not
        # signaled stops with 0xB8 ATTEMPTED_SWITCH_FROM_DPC, what Windows does, not 0xA.
        Ddi("KeWaitForSingleObject", "OBJECT",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kewaitforsingleobject",
            "wait for an event, mutex, semaphore or timer (no timeout): only at APC_LEVEL or "
            "below, never in a DPC",
            lambda io, f, call, last:
                io.ke.wait_for_single_object(f.driver, f.routine, call.args[0])),
        Ddi("KeInitializeEvent", "NAME NotificationEvent|SynchronizationEvent [TRUE|FALSE]",
            None, WDK + "wdm/nf-wdm-keinitializeevent",
            "initialize an event in the driver's own memory, named NAME in the spec, not "
            "signaled (or TRUE: signaled)",
            lambda io, f, call, last: io.ke.initialize_event(
                f.driver, f.routine, call.args[0], call.args[1] == "NotificationEvent",
                len(call.args) > 2 and call.args[2] == "TRUE"),
            check=_check_initialize_event),
        # KeSetEvent's page: "See Remarks": with Wait FALSE (as here), <= DISPATCH_LEVEL
        Ddi("KeSetEvent", "NAME",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kesetevent",
            "signal the driver's event NAME (KeSetEvent(&Event, IO_NO_INCREMENT, FALSE)): its "
            "waiters wake",
            lambda io, f, call, last: io.ke.set_driver_event(f.driver, f.routine, call.args[0])),
        Ddi("KeClearEvent", "NAME",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-keclearevent",
            "set the driver's event NAME to not signaled",
            lambda io, f, call, last:
                io.ke.clear_driver_event(f.driver, f.routine, call.args[0])),
        Ddi("IoCsqInitialize", "",
            None, WDK + "wdm/nf-wdm-iocsqinitialize",
            "give the device a cancel-safe queue (in AddDevice or DriverEntry)",
            lambda io, f, call, last: io.csq_initialize(
                f.driver, f.device if f.device is not None and f.device.driver is f.driver
                else io.newest_device(f.driver, call.ddi))),
        Ddi("IoCsqInsertIrp", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iocsqinsertirp",
            "mark the IRP pending and queue it, cancelable (then return STATUS_PENDING); "
            "cancelled while queued, the queue completes it with STATUS_CANCELLED",
            lambda io, f, call, last: io.csq_insert(f.driver, f.device, _irp(f)),
            needs_irp=True),
        Ddi("IoCsqRemoveNextIrp", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iocsqremovenextirp",
            "take the next queued IRP (no longer cancelable): the steps after it work on it; "
            "`status` is STATUS_SUCCESS, or STATUS_NOT_FOUND when the queue is empty (NULL)",
            _csq_remove_next),
        Ddi("IoInitializeRemoveLock", "",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-ioinitializeremovelock",
            "in AddDevice: initialize the remove lock in the new device's extension",
            lambda io, f, call, last: io.initialize_remove_lock(
                f.driver, f.device if f.device is not None and f.device.driver is f.driver
                else io.newest_device(f.driver, call.ddi))),
        Ddi("IoAcquireRemoveLock", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioacquireremovelock",
            "at the start of a dispatch routine: hold the device's remove lock; `status` is "
            "STATUS_DELETE_PENDING once the device is being removed (then fail the IRP)",
            lambda io, f, call, last: io.acquire_remove_lock(f.driver, f.device)),
        Ddi("IoReleaseRemoveLock", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioreleaseremovelock",
            "when done with the request (often in the completion routine): let go of the "
            "remove lock",
            lambda io, f, call, last: io.release_remove_lock(f.driver, f.device)),
        Ddi("IoReleaseRemoveLockAndWait", "",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-ioreleaseremovelockandwait",
            "in IRP_MN_REMOVE_DEVICE: release it, refuse new acquires, and wait until no "
            "request holds it",
            lambda io, f, call, last: io.release_remove_lock(f.driver, f.device, wait=True)),
        Ddi("IoAllocateWorkItem", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioallocateworkitem",
            "allocate an IO_WORKITEM for the device (freed with IoFreeWorkItem)",
            lambda io, f, call, last: io.allocate_work_item(f.driver, f.routine)),
        Ddi("IoQueueWorkItem", "ROUTINE",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioqueueworkitem",
            "queue the allocated work item: a System worker thread runs the driver's "
            "[workitem] ROUTINE later, at PASSIVE_LEVEL, with the IRP being handled as context",
            lambda io, f, call, last: io.queue_work_item(
                f.driver, f.routine, call.args[0], f.device, f.given),
            check=_check_work_routine),
        Ddi("IoFreeWorkItem", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iofreeworkitem",
            "free a work item this driver allocated (in its work routine, when it is done)",
            lambda io, f, call, last: io.free_work_item(f.driver, f.routine)),
        Ddi("KeStallExecutionProcessor", "MICROSECONDS",
            None, WDK + "wdm/nf-wdm-kestallexecutionprocessor",
            "busy-wait on this processor; keep it under 50 microseconds",
            lambda io, f, call, last:
                io.ke.stall_execution_processor(f.driver, f.routine, int(call.args[0])),
            check=_check_stall),
        # <= DIRQL: at most the SynchronizeIrql the device's interrupt was connected with.
        Ddi("KeSynchronizeExecution", "",
            DIRQL, WDK + "wdm/nf-wdm-kesynchronizeexecution",
            "run the driver's SynchCritSection routine at the device's DIRQL, holding its "
            "interrupt spin lock",
            lambda io, f, call, last: io.ke.synchronize_execution(f.driver, f.device)),
        Ddi("IoBuildDeviceIoControlRequest", "CODE COMPLETION",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-iobuilddeviceiocontrolrequest",
            "build an IRP_MJ_INTERNAL_DEVICE_CONTROL IRP for the device below, set this driver's "
            "COMPLETION routine on it and IoCallDriver it; the IRP being handled becomes its "
            "master",
            lambda io, f, call, last: io.build_device_io_control_request(
                f.driver, _device(f), _irp(f), int(call.args[0], 16), call.args[1]),
            check=_check_control_request, needs_irp=True),
        Ddi("IoAllocateIrp", "MAJOR [STACKSIZE]",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioallocateirp",
            "allocate an IRP of this driver's own for the device below, with STACKSIZE locations "
            "(default: that device's StackSize) and MAJOR in its first one; the "
            "IoSetCompletionRoutine, IoStatus and IoCallDriver steps after it work on the new "
            "IRP, and the IRP being handled becomes its master",
            _allocate_irp, check=_check_allocate_irp),
        Ddi("IoBuildSynchronousFsdRequest", "MAJOR EVENT",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-iobuildsynchronousfsdrequest",
            "build an IRP (MAJOR) for the device below whose completion sets the driver's "
            "EVENT (KeInitializeEvent first), and IoCallDriver it: `status` is what that "
            "returned; then 'if status == STATUS_PENDING: KeWaitForSingleObject EVENT'",
            lambda io, f, call, last: io.build_synchronous_fsd_request(
                f.driver, f.device, f.routine, call.args[0], call.args[1]),
            check=_check_fsd_request),
        Ddi("IoFreeIrp", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iofreeirp",
            "in the completion routine of an IRP this driver built: free it (then return "
            "STATUS_MORE_PROCESSING_REQUIRED)",
            _free_irp, needs_irp=True),
        Ddi("KeRaiseIrql", "LEVEL",
            None, WDK + "wdm/nf-wdm-keraiseirql",
            "raise this processor's IRQL to LEVEL (not lower)",
            _change_irql, check=_check_irql),
        Ddi("KeLowerIrql", "LEVEL",
            None, WDK + "wdm/nf-wdm-kelowerirql",
            "back to LEVEL: the IRQL the matching KeRaiseIrql returned",
            _change_irql, check=_check_irql),
        Ddi("KeAcquireSpinLock", "LOCK",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-keacquirespinlock",
            "take a spin lock (spinlock create LOCK): IRQL to DISPATCH_LEVEL, the old IRQL saved",
            lambda io, f, call, last:
                io.ke.acquire_driver_spin_lock(f.driver, f.routine, call.args[0]),
            irql_check=lambda io, f, call, last:
                io.ke.verify_spin_lock_irql(f.driver, f.routine, call.args[0])),
        Ddi("KeReleaseSpinLock", "LOCK",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kereleasespinlock",
            "release a spin lock this code holds: IRQL back to the saved one",
            lambda io, f, call, last:
                io.ke.release_driver_spin_lock(f.driver, f.routine, call.args[0])),
        Ddi("IoSetCancelRoutine", "ROUTINE|NULL",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iosetcancelroutine",
            "make the IRP it holds cancelable with a [cancel] ROUTINE, or no longer (NULL) before "
            "completing it",
            _set_cancel_routine, check=_check_cancel_routine, needs_irp=True),
        Ddi("IoReleaseCancelSpinLock", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-ioreleasecancelspinlock",
            "in a cancel routine: release the cancel spin lock IoCancelIrp took (the routine is "
            "entered holding it)",
            lambda io, f, call, last: io.release_cancel_spin_lock(f.driver, f.routine),
            needs_irp=True),
        # A write of Irp->IoStatus.Status, not a call: no page, any IRQL.
        Ddi("IoStatus", "STATUS|status",
            None, "",
            "Irp->IoStatus.Status = STATUS (e.g. before passing it down), or `status`: what the "
            "last call returned",
            _io_status, check=_check_status, needs_irp=True),
        Ddi("IoCompleteRequest", "STATUS|status|master [BOOST]",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-iocompleterequest",
            "complete the IRP with STATUS, or with `status`: what its IoStatus holds; `master`: "
            "in the completion routine of an IRP this driver built, complete the request it "
            "worked for with that IRP's status",
            _complete_request, check=_check_complete),
        # C's return statement: no page, any IRQL.
        Ddi("ReadIoStatus", "",
            None, "",
            "status = Irp->IoStatus.Status: after waiting for a request sent down, `status` "
            "holds how the driver below completed it (then IoCompleteRequest status; return "
            "status)",
            lambda io, f, call, last: _irp(f).status, needs_irp=True),
        Ddi("return", "STATUS|status",
            None, "",
            "return STATUS, or `status`: what the last call that returns one returned "
            "(IoCallDriver, a safe string routine)",
            _return, check=_check_status),
        Ddi("IoWMIRegistrationControl", "REGISTER|DEREGISTER",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-iowmiregistrationcontrol",
            "WMIREG_ACTION_REGISTER: make this device a WMI provider of the data blocks in the "
            "spec's [wmi] table (WMI asks with IRP_MN_REGINFO_EX at once); DEREGISTER before the "
            "device is deleted",
            lambda io, f, call, last: io.wmi.wmi_register(
                f.device if f.device is not None and f.device.driver is f.driver
                else io.newest_device(f.driver, call.ddi), call.args[0] == "REGISTER"),
            check=_check_wmi_action),
        Ddi("IoGetDmaAdapter", "32|64 MAXLENGTH",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-iogetdmaadapter",
            "get a DMA adapter for this driver's newest device: a bus master with 32- or 64-bit "
            "addresses, transfers up to MAXLENGTH bytes",
            _get_dma_adapter, check=_check_dma_adapter),
        # The DMA adapter's DMA_OPERATIONS members, called through the adapter IoGetDmaAdapter
        # returned: their pages are the callback types' (PGET_/PPUT_SCATTER_GATHER_LIST).
        Ddi("GetScatterGatherList", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nc-wdm-pget_scatter_gather_list",
            "the physical pieces of the IRP's MDL (map registers for pages a 32-bit device cannot "
            "reach); the HAL then calls the driver's AdapterListControl, which programs the "
            "device",
            lambda io, f, call, last:
                io.hal.get_scatter_gather_list(_device(f), _held(io, f))),
        Ddi("PutScatterGatherList", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nc-wdm-pput_scatter_gather_list",
            "after the transfer (in the DPC): free the device's oldest scatter/gather list and its "
            "map registers",
            lambda io, f, call, last:
                io.hal.put_scatter_gather_list(_device(f))),
        Ddi("IoCreateController", "",
            Irql.PASSIVE_LEVEL, WDK + "ntddk/nf-ntddk-iocreatecontroller",
            "create the driver's controller object, shared by its devices",
            _create_controller),
        Ddi("IoAllocateController", "",
            Irql.DISPATCH_LEVEL, WDK + "ntddk/nf-ntddk-ioallocatecontroller",
            "ask for the controller: the driver's ControllerControl runs now, or when the device "
            "holding it frees it",
            lambda io, f, call, last:
                io.allocate_controller(f.driver, _device(f), _held(io, f))),
        Ddi("IoFreeController", "",
            Irql.DISPATCH_LEVEL, WDK + "ntddk/nf-ntddk-iofreecontroller",
            "release the controller to the next waiting device",
            lambda io, f, call, last: io.free_controller(f.driver, _device(f))),
        Ddi("IoConnectInterruptEx", "",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-ioconnectinterruptex",
            "connect the device's ISR to an interrupt vector",
            lambda io, f, call, last:
                io.connect_interrupt(io.newest_device(f.driver, call.ddi))),
        # The page: called at DIRQL, from the ISR; here at most the device's DIRQL.
        Ddi("IoRequestDpc", "",
            DIRQL, WDK + "wdm/nf-wdm-iorequestdpc",
            "from the ISR: queue the device's DPC on this processor",
            lambda io, f, call, last: io.ke.request_dpc(_device(f))),
        Ddi("KeInsertQueueDpc", "",
            None, WDK + "wdm/nf-wdm-keinsertqueuedpc",
            "queue the device's DPC on this processor, unless it is queued already (then "
            "FALSE: it runs once); below DISPATCH_LEVEL it runs at once",
            lambda io, f, call, last: io.ke.insert_queue_dpc(f.driver, f.routine, _device(f))),
        # -- registrations, symbolic links and device security (issue 19)
        Ddi("PsSetCreateProcessNotifyRoutineEx", "ROUTINE [TRUE|FALSE]",
            Irql.PASSIVE_LEVEL, WDK + "ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex",
            "register the [notify] ROUTINE as a process notify routine (Remove = FALSE); TRUE "
            "removes it, which Unload must do: a routine left behind faults (0xCE) at the next "
            "process creation or exit",
            _notify, check=_check_notify),
        Ddi("PsSetCreateThreadNotifyRoutine", "ROUTINE",
            Irql.PASSIVE_LEVEL, WDK + "ntddk/nf-ntddk-pssetcreatethreadnotifyroutine",
            "register the [notify] ROUTINE as a thread notify routine",
            _notify, check=_check_notify),
        Ddi("PsRemoveCreateThreadNotifyRoutine", "ROUTINE",
            Irql.APC_LEVEL, WDK + "ntddk/nf-ntddk-psremovecreatethreadnotifyroutine",
            "remove the thread notify routine (in Unload); STATUS_PROCEDURE_NOT_FOUND if it is "
            "not registered",
            _notify, check=_check_notify),
        Ddi("PsSetLoadImageNotifyRoutine", "ROUTINE",
            Irql.PASSIVE_LEVEL, WDK + "ntddk/nf-ntddk-pssetloadimagenotifyroutine",
            "register the [notify] ROUTINE as an image-load notify routine",
            _notify, check=_check_notify),
        Ddi("PsRemoveLoadImageNotifyRoutine", "ROUTINE",
            Irql.APC_LEVEL, WDK + "ntddk/nf-ntddk-psremoveloadimagenotifyroutine",
            "remove the image-load notify routine (in Unload)",
            _notify, check=_check_notify),
        Ddi("CmRegisterCallbackEx", "ROUTINE ALTITUDE",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-cmregistercallbackex",
            "register the [notify] ROUTINE as a registry callback at ALTITUDE (one driver per "
            "altitude: STATUS_FLT_INSTANCE_ALTITUDE_COLLISION); DenyAccess in it blocks "
            "registry writes",
            _notify, check=_check_registry_callback),
        Ddi("CmUnRegisterCallback", "ROUTINE",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-cmunregistercallback",
            "remove the registry callback (in Unload); STATUS_INVALID_PARAMETER if it is not "
            "registered",
            _notify, check=_check_notify),
        Ddi("ObRegisterCallbacks", "ALTITUDE IMAGE RIGHT[|RIGHT...]",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-obregistercallbacks",
            "register a pre-operation callback on process handle creation and duplication that "
            "strips the RIGHTs (PROCESS_TERMINATE|PROCESS_VM_WRITE ...) from user-mode handles "
            "opened to IMAGE, as anti-malware drivers protect their service",
            _register_object_callbacks, check=_check_object_callbacks),
        Ddi("ObUnRegisterCallbacks", "",
            Irql.APC_LEVEL, WDK + "wdm/nf-wdm-obunregistercallbacks",
            "remove the driver's ObRegisterCallbacks registration (in Unload)",
            lambda io, f, call, last: io.ob.unregister_callbacks(f.driver)),
        Ddi("IoCreateSymbolicLink", "\\??\\NAME \\Device\\DEVICE",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-iocreatesymboliclink",
            "name the device for user mode: \\GLOBAL??\\NAME → \\Device\\DEVICE, which CreateFile "
            "opens as \\\\.\\NAME; STATUS_OBJECT_NAME_COLLISION if the name exists",
            _create_link, check=_check_link),
        Ddi("IoDeleteSymbolicLink", "\\??\\NAME",
            Irql.PASSIVE_LEVEL, WDK + "wdm/nf-wdm-iodeletesymboliclink",
            "delete the link (in Unload): a link left behind names a device that is gone",
            _delete_link, check=_check_link),
        Ddi("IoCreateDeviceSecure", "NAME SDDL",
            Irql.PASSIVE_LEVEL, WDK + "wdmsec/nf-wdmsec-wdmlibiocreatedevicesecure",
            "create the device \\Device\\NAME with its own security descriptor: an SDDL_DEVOBJ_* "
            "name (e.g. SDDL_DEVOBJ_SYS_ALL_ADM_ALL) or a \"D:P(A;;GA;;;SY)...\" string",
            _create_device_secure, check=_check_device_secure),
        # -- timers and power (issue 19)
        # KeInitializeTimer(Ex)'s page: <= DISPATCH_LEVEL (best at PASSIVE_LEVEL).
        Ddi("KeInitializeTimer", "NAME",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-keinitializetimer",
            "initialize a notification timer in the driver's own memory (a global of its "
            "image), named NAME in the spec: not signaled, not set",
            lambda io, f, call, last:
                io.ke.initialize_timer(f.driver, f.routine, call.args[0], True),
            check=_check_timer),
        Ddi("KeInitializeTimerEx", "NAME NotificationTimer|SynchronizationTimer",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-keinitializetimerex",
            "initialize a notification or synchronization timer NAME",
            lambda io, f, call, last: io.ke.initialize_timer(
                f.driver, f.routine, call.args[0], call.args[1] == "NotificationTimer"),
            check=_check_timer),
        Ddi("KeSetTimer", "NAME TICKS",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kesettimer",
            "set the timer to expire TICKS clock ticks from now (a relative DueTime), with the "
            "driver's DPC routine as its DPC for this device (KeInitializeDpc is implied): when "
            "the clock interrupt finds it due, the DPC runs at DISPATCH_LEVEL in whatever "
            "thread is running; returns TRUE if it was set already (it is set anew)",
            _set_timer, check=_check_set_timer),
        Ddi("KeSetTimerEx", "NAME TICKS PERIOD",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kesettimerex",
            "KeSetTimer with a period: after the first expiry the timer is set again every "
            "PERIOD ticks (the page's Period is in milliseconds; the model counts ticks), until "
            "KeCancelTimer",
            _set_timer, check=_check_set_timer),
        Ddi("KeCancelTimer", "NAME",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-kecanceltimer",
            "take the timer out of the timer queue, and its DPC with it: TRUE if it was in the "
            "queue (a periodic timer always is). Unload must cancel every timer: one left set "
            "is bugcheck 0xC7 TIMER_OR_DPC_INVALID when the image is freed",
            lambda io, f, call, last: io.ke.cancel_timer(f.driver, f.routine, call.args[0]),
            check=_check_timer),
        # PoCallDriver's page: "See Remarks": PASSIVE_LEVEL for a DO_POWER_PAGABLE device,
        # else up to DISPATCH_LEVEL; the model's devices are not pageable.
        Ddi("PoCallDriver", "lower",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-pocalldriver",
            "pass a power IRP to the next-lower device: since Windows Vista the same as "
            "IoCallDriver (which drivers should call instead)",
            _call_driver, check=_check_lower, needs_irp=True),
        Ddi("PoStartNextPowerIrp", "",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-postartnextpowerirp",
            "does nothing since Windows Vista (its page says so); Windows Server 2003, XP and "
            "2000 needed it once per driver for every power IRP, before completing or passing "
            "it on",
            _start_next_power_irp, needs_irp=True),
        Ddi("PoRequestPowerIrp", "D0|D1|D2|D3 [ROUTINE]",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-porequestpowerirp",
            "as the device's power policy owner, ask the power manager for a device power IRP "
            "(IRP_MN_SET_POWER, Dx) sent to the top of the device's stack; when it is complete "
            "the [power_completion] ROUTINE runs, `status` its final status",
            _request_power_irp, check=_check_device_state),
        # PoSetPowerState's page: <= APC_LEVEL, but <= DISPATCH_LEVEL when setting D0.
        Ddi("PoSetPowerState", "D0|D1|D2|D3",
            Irql.DISPATCH_LEVEL, WDK + "wdm/nf-wdm-posetpowerstate",
            "tell the power manager the device's new power state (before leaving D0, after "
            "reaching it); `power` and `!devnode` show it. Above APC_LEVEL only for D0",
            _set_power_state, check=_check_device_state),
    )


DDIS = {ddi.name: ddi for ddi in _records()}
DDIS_BY_LOWER_NAME = {name.lower(): ddi for name, ddi in DDIS.items()}  # steps match any case
