"""The DDI interpreter: one function per driver step, in one table (`STEPS`).

A driver routine is a list of steps (`Call`s, checked at load time by spec.py). The I/O
manager runs them one after another (`IoManager.run_routine`): each step's function gets the
machine, the routine's `Frame` (driver, routine, IRP, device) and the step, and returns the
status the routine would return if it ended there, or None when the step leaves that as it
was. Steps in `NEEDS_IRP` work on an IRP and are refused in a routine that has none.
Each function keeps to what its DDI's WDK page says; the I/O manager's own work (IoCallDriver,
IoCompleteRequest, ...) is in manager.py, which these call.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.nt.constants import BugCheck, NtStatus, parse_irql
from kmshell.nt.errors import NtError
from kmshell.nt.io.irp import Completion, IoStackLocation
from kmshell.nt.pool import STRING_ROUTINES

STATUS_PENDING = NtStatus.STATUS_PENDING
IOF_CALL_DRIVER = 0xFFFFF805_1A2B4F10  # where nt!IofCallDriver sits in the model's kernel


@dataclass(slots=True)
class Frame:
    """What a driver routine runs with. After an IoAllocateIrp step `irp` is the new IRP (a
    second variable in the C code) while `given` stays the one the routine was called with:
    IoMarkIrpPending and return are about that one. `here` is given's CurrentLocation on entry:
    the routine's own stack location (irpSp in the C code), which stays its own even after
    the IRP was completed under it."""

    driver: object
    routine: str
    irp: object | None
    device: object | None
    given: object | None
    here: int


def _return(io, f: Frame, call, last: int) -> int:
    # Checked on the routine's own location, not the IRP's current one: a completion routine
    # may already have completed the IRP (CurrentLocation past the top). That is legal once it
    # was marked pending: the requester learns the result from the completion, not this return.
    if call.status == STATUS_PENDING and f.given is not None and \
            f.here < len(f.given.stack) and not f.given.stack[f.here].pending:
        io.emit("Io", "rule", f"{f.driver.name}!{f.routine} returns STATUS_PENDING without "
                "IoMarkIrpPending: the I/O manager may finish the IRP twice or never",
                "Rule: a routine that returns STATUS_PENDING must have marked the IRP "
                "pending first.")
    return last if call.args[0] == "status" else call.status


def _create_device(io, f: Frame, call, last: int) -> None:
    named = io.pnp.device_name if f.routine == "AddDevice" and f.driver.spec.type != "filter" \
        else ""
    created = io.create_device(f.driver, named or (call.args[0] if call.args else None))
    if f.irp is not None and f.irp.vpb is not None and not f.irp.vpb.mounted:
        io.files.volume_device_created(f.irp.vpb, created)  # in IRP_MN_MOUNT_VOLUME


def _attach(io, f: Frame, call, last: int) -> None:
    mine = io.newest_device(f.driver, call.ddi)
    to_pdo = call.args[0].lower() == "pdo"
    if to_pdo and f.routine != "AddDevice":
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                      "only AddDevice is given a PDO to attach to")
    io.attach_device(mine, f.device if to_pdo else io.find_device(call.args[0]))


def _device(f: Frame):
    """The device the routine runs for. A routine given an IRP is given its device too (and
    IoAllocateIrp needs one), so only a step in DriverEntry, Unload and the like finds none."""
    if f.device is None:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                      f"this step needs a device, and {f.routine} has none")
    return f.device


def _own_device(f: Frame, ddi: str):
    if f.device is None or f.device.driver is not f.driver:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{ddi} needs this driver's own device")
    return f.device


def _allocate_irp(io, f: Frame, call, last: int) -> None:
    f.irp = io.allocate_irp(f.driver, f.device, f.given, call.args)


def _complete_request(io, f: Frame, call, last: int) -> None:
    if f.irp is None and f.device is None:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                      f"this step needs an IRP, and {f.routine} has none")
    if f.irp is None:  # in a DPC: the IRP the device was working on
        pending = io.held_irp(f.driver, f.device)
        if pending is None:
            io.emit("Io", "irp", f"{f.driver.name}!{f.routine}: no IRP is pending at "
                    f"{f.device.label}; nothing to complete")
            return
        pending.boost = int(call.args[1]) if len(call.args) > 1 else 0
        status = pending.status if call.status is None else call.status
        io.complete_request(pending, status, f.driver)
    elif call.args[0] == "master":
        irp = f.irp
        if irp.master is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IRP {irp.number} was not built "
                          "by a driver: it has no master request to complete")
        io.emit("Io", "irp", f"{f.driver.name}!{f.routine}: IRP {irp.number} is done, so "
                f"{f.driver.name} completes IRP {irp.master.number}, the request it served")
        io.complete_request(irp.master, irp.status, f.driver)
    else:
        f.irp.boost = int(call.args[1]) if len(call.args) > 1 else 0
        io.complete_request(f.irp, f.irp.status if call.status is None else call.status, f.driver)


def _skip(io, f: Frame, call, last: int) -> None:
    f.irp.current += 1  # the lower driver gets this very location


def _past_the_last_location(io, f: Frame, call) -> bool:
    """Writing the next stack location of an IRP that has none left."""
    if f.irp.current > 0:
        return False
    io.emit("Io", "rule", f"{f.driver.name}!{f.routine}: {call.ddi} writes the next stack "
            f"location, but IRP {f.irp.number} has none left: the write lands past the IRP's "
            "last location", "Each driver that passes an IRP on needs a location below its "
            "own: the IRP must have StackSize locations.")
    return True


def _no_location(irp, what: str, advice: str = "") -> NtError:
    """A step that needs the IRP's current stack location, when it has none."""
    return NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IRP {irp.number} has no current stack "
                   f"location {what}: " + ("it was already completed (and freed)" if irp.completed
                                           else "IoSkipCurrentIrpStackLocation moved it past the "
                                           "top") + advice)


def _copy_to_next(io, f: Frame, call, last: int) -> None:
    if not _past_the_last_location(io, f, call):
        here = f.irp.location
        if here is None:
            raise _no_location(f.irp, "to copy")
        f.irp.stack[f.irp.current - 1] = IoStackLocation(here.major, here.minor)


def _set_completion(io, f: Frame, call, last: int) -> None:
    if not _past_the_last_location(io, f, call):
        flags = set(call.args[1:]) or {"Success", "Error", "Cancel"}
        f.irp.stack[f.irp.current - 1].completion = Completion(
            f.driver, call.args[0], f.device, "Success" in flags, "Error" in flags,
            "Cancel" in flags)


def _io_status(io, f: Frame, call, last: int) -> None:  # `IoStatus status`: the last call's
    f.irp.status = last if call.status is None else call.status


def _current_location(io, f: Frame, call, last: int) -> None:
    irp = f.irp
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


def _mark_pending(io, f: Frame, call, last: int) -> None:
    location = f.given.location  # IoGetCurrentIrpStackLocation, as the C macro does
    if location is None:
        raise _no_location(f.given, "to mark",
                           "; call IoMarkIrpPending first, before passing the IRP on")
    location.pending = True


def _set_cancel_routine(io, f: Frame, call, last: int) -> None:
    name, irp = call.args[0], f.irp
    irp.cancel_routine = None if name == "NULL" else Completion(f.driver, name, f.device)
    io.emit("Io", "cancel", f"{f.driver.name}: IRP {irp.number} is "
            + (f"cancelable: IoSetCancelRoutine({name})" if name != "NULL"
               else "no longer cancelable: IoSetCancelRoutine(NULL)"))


def _call_driver(io, f: Frame, call, last: int) -> int:
    where = call.args[0].lower()
    if where == "parent":
        return io.call_driver(io.parent_target(f.driver, f.device), f.irp)
    if where == "volume":
        if f.device is None or f.device.target_device is None:
            name = f.device.label if f.device is not None else f.driver.name
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{name} is not a file "
                          "system's volume device: it has no mounted volume to send this to")
        return io.call_driver(f.device.target_device, f.irp)
    lower = f.device.attached_to
    if lower is None:
        # IofCallDriver reads DeviceObject->DriverObject (offset 0x8 on x64) through the
        # NULL pointer: a read (Arg3 0) of address 0x8 (Arg4).
        io.bugcheck(BugCheck.KMODE_EXCEPTION_NOT_HANDLED,
                    (NtStatus.STATUS_ACCESS_VIOLATION, IOF_CALL_DRIVER, 0, 0x8),
                    driver=f.driver.image, routine=f.routine,
                    rule=f"{f.device.label} is at the bottom of its stack: there is no lower "
                    "device, and IoCallDriver got a NULL pointer.",
                    fix="Only forward an IRP when the device is attached to one.")
    return io.call_driver(lower, f.irp)


def _free_irp(io, f: Frame, call, last: int) -> None:
    irp = f.irp
    if irp.master is None and irp.owner is not f.driver:
        raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"IoFreeIrp: IRP {irp.number} was not "
                      "built by this driver; the I/O manager frees it")
    io.free_irp(irp, irp.status)
    io.emit("Io", "irp", f"IoFreeIrp: {f.driver.name} frees IRP {irp.number}, which it built")


def _held(io, f: Frame):
    """The IRP a step works on: the routine's, or in a DPC the one its device holds."""
    return f.irp or io.held_irp(f.driver, f.device)


def _copy_string(io, f: Frame, call, last: int) -> int | None:
    return io.mm.copy_string(f.driver, call.ddi, call.args[0], call.args[1:], f.routine)


# These return a pointer, not a status: `return status` after them is what came before.
def _allocate_pool(io, f: Frame, call, last: int) -> None:
    io.mm.allocate_pool(f.driver, call.args[0].upper() == "PAGED", int(call.args[1]),
                        call.args[2], f.routine)


def _get_dma_adapter(io, f: Frame, call, last: int) -> None:
    io.hal.get_dma_adapter(io.newest_device(f.driver, call.ddi), int(call.args[0]),
                           int(call.args[1]))


def _create_controller(io, f: Frame, call, last: int) -> None:
    io.hal.create_controller(f.driver)


STEPS = {
    "return": _return,
    "IoCreateDevice": _create_device,
    "IoRegisterFileSystem":
        lambda io, f, call, last:
            io.files.register_file_system(io.newest_device(f.driver, call.ddi)),
    "IoUnregisterFileSystem": lambda io, f, call, last: io.files.unregister_file_system(f.driver),
    "IoAttachDeviceToDeviceStack": _attach,
    "IoDetachDevice": lambda io, f, call, last: io.detach_device(_own_device(f, call.ddi)),
    "IoDeleteDevice": lambda io, f, call, last: io.delete_device(_own_device(f, call.ddi)),
    "IoGetDmaAdapter": _get_dma_adapter,
    "GetScatterGatherList": lambda io, f, call, last: io.hal.get_scatter_gather_list(
        f.driver, _device(f), _held(io, f), f.routine),
    "PutScatterGatherList":
        lambda io, f, call, last: io.hal.put_scatter_gather_list(f.driver, _device(f), f.routine),
    "IoCreateController": _create_controller,
    "IoAllocateController":
        lambda io, f, call, last: io.hal.allocate_controller(f.driver, f.device, _held(io, f)),
    "IoFreeController": lambda io, f, call, last: io.hal.free_controller(f.driver, f.device),
    "IoWMIRegistrationControl": lambda io, f, call, last: io.wmi.wmi_register(
        f.device if f.device is not None and f.device.driver is f.driver
        else io.newest_device(f.driver, call.ddi), call.args[0] == "REGISTER"),
    "IoConnectInterruptEx":
        lambda io, f, call, last: io.ke.connect_interrupt(io.newest_device(f.driver, call.ddi)),
    "IoRequestDpc": lambda io, f, call, last: io.ke.request_dpc(_device(f)),
    "ExAllocatePool2": _allocate_pool,
    "ExFreePoolWithTag":
        lambda io, f, call, last: io.mm.free_pool(f.driver, call.args[0], f.routine),
    "RtlFillMemory": lambda io, f, call, last: io.mm.fill_memory(
        f.driver, call.args[0], int(call.args[1]), f.routine),
    **{name: _copy_string for name in STRING_ROUTINES},
    "KeWaitForSingleObject":
        lambda io, f, call, last: io.ke.wait_for_single_object(f.driver, f.routine, call.args[0]),
    "KeStallExecutionProcessor":
        lambda io, f, call, last:
            io.ke.stall_execution_processor(f.driver, f.routine, int(call.args[0])),
    "KeRaiseIrql": lambda io, f, call, last: io.ke.change_irql(
        f.driver, f.routine, call.ddi, parse_irql(call.args[0])),
    "KeLowerIrql": lambda io, f, call, last: io.ke.change_irql(
        f.driver, f.routine, call.ddi, parse_irql(call.args[0])),
    "KeAcquireSpinLock":
        lambda io, f, call, last: io.ke.acquire_driver_spin_lock(f.driver, f.routine, call.args[0]),
    "KeReleaseSpinLock":
        lambda io, f, call, last: io.ke.release_driver_spin_lock(f.driver, f.routine, call.args[0]),
    "KeSynchronizeExecution":
        lambda io, f, call, last: io.ke.synchronize_execution(f.driver, f.device),
    "IoStartNextPacket": lambda io, f, call, last: io.start_next_packet(_device(f)),
    "RtlCopyMemory": lambda io, f, call, last: io.files.copy_to_user_buffer(
        f.driver, _held(io, f), int(call.args[1]), f.routine),
    "IoCompleteRequest": _complete_request,
    "IoSkipCurrentIrpStackLocation": _skip,
    "IoCopyCurrentIrpStackLocationToNext": _copy_to_next,
    "IoSetCompletionRoutine": _set_completion,
    "IoStatus": _io_status,
    "IoMarkIrpPending": _mark_pending,
    "IoGetCurrentIrpStackLocation": _current_location,
    "IoStartPacket": lambda io, f, call, last: io.start_packet(f.device, f.irp),
    "IoSetCancelRoutine": _set_cancel_routine,
    "IoReleaseCancelSpinLock": lambda io, f, call, last: io.release_cancel_spin_lock(f.driver,
                                                                                 f.routine),
    "IoCallDriver": _call_driver,
    "IoBuildDeviceIoControlRequest": lambda io, f, call, last: io.build_device_io_control_request(
        f.driver, f.device, f.irp, int(call.args[0], 16), call.args[1]),
    "IoAllocateIrp": _allocate_irp,
    "IoFreeIrp": _free_irp,
}
# Steps that work on an IRP: a routine without one (DriverEntry, a DPC) cannot run them.
NEEDS_IRP = frozenset({
    "IoSkipCurrentIrpStackLocation", "IoCopyCurrentIrpStackLocationToNext",
    "IoSetCompletionRoutine", "IoStatus", "IoMarkIrpPending", "IoStartPacket",
    "IoGetCurrentIrpStackLocation",
    "IoSetCancelRoutine", "IoReleaseCancelSpinLock", "IoCallDriver",
    "IoBuildDeviceIoControlRequest", "IoFreeIrp"})
