"""Drivers, devices and IRPs: !drvobj, !devstack, !devobj, !irp and the IRP's path."""

from __future__ import annotations

from functools import partial

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kmshell.nt.constants import DEVICE_FLAGS, FILE_DEVICE, IRP_MJ, MINORS_OF, format_status
from kmshell.nt.events import ptr
from kmshell.nt.io.irp import flag_names
from kmshell.views.layout import (
    LIST_LIMIT,
    Fitted,
    Indented,
    Packed,
    capped,
    deferred,
    fields,
    titled,
)
from kmshell.views.pnp import devnode_rows


@deferred
def driver_detail(driver) -> Group:
    rows = fields()
    rows.add_row("Driver object", f"{ptr(driver.header.address)}  {driver.header.path}")
    rows.add_row("Image", driver.image)
    if driver.spec is not None and driver.spec.hardware_ids:
        rows.add_row("Hardware IDs", ", ".join(driver.spec.hardware_ids))
    rows.add_row("Devices", ", ".join(d.label for d in driver.devices) or "none")
    table = titled("dispatch routines (MajorFunction)")
    table.add_column("code")
    table.add_column("major")
    table.add_column("routine")
    routines = driver.spec.routines if driver.spec else {}
    for name, code in IRP_MJ.items():
        if name in routines or set(MINORS_OF.get(name, ())) & set(routines):
            table.add_row(f"{code:#04x}", name, f"{driver.name}!Dispatch{name[7:].title()}")
    others = len(IRP_MJ) - len(table.rows)
    table.caption = f"the other {others} major functions: nt!IopInvalidDeviceRequest " \
                    "(completes them with STATUS_INVALID_DEVICE_REQUEST)"
    table.caption_justify = "left"
    return Group(rows, table)


@deferred
def device_stack(device) -> Table:
    table = titled(f"device stack of {device.label} (top first)")
    for column in ("", "device", "driver", "StackSize", "AttachedTo"):
        table.add_column(column)
    for entry in device.stack():
        table.add_row("▶" if entry is device else "", entry.label, entry.driver.image,
                      str(entry.stack_size), entry.attached_to.label if entry.attached_to
                      else "(bottom)")
    return table


@deferred
def device_detail(device) -> Table:
    rows = fields()
    rows.add_row("Device object", f"{ptr(device.header.address)}  {device.label}")
    rows.add_row("DriverObject", device.driver.header.path)
    rows.add_row("AttachedDevice", device.attached_device.label if device.attached_device
                 else "(none: top of its stack)")
    rows.add_row("AttachedTo", device.attached_to.label if device.attached_to
                 else "(none: bottom of its stack)")
    rows.add_row("StackSize", str(device.stack_size))
    rows.add_row("DeviceType", f"{device.device_type} ({FILE_DEVICE[device.device_type]:#04x})")
    flags = device.flags
    rows.add_row("Flags", f"{sum(DEVICE_FLAGS[f] for f in flags):#010x}  "
                 + (" | ".join(flags) or "(none)"))
    volume = device.mounted_volume
    if device.vpb is not None:
        rows.add_row("Vpb", f"mounted by {volume.driver.name}: volume device {volume.label}"
                     if volume else "not mounted: the first open of a file on it mounts it")
    if device.target_device is not None:
        rows.add_row("Volume", f"a file system's volume device for "
                     f"{device.target_device.label}'s volume: it sends requests there")
    rows.add_row("Security", str(device.header.security or "(none)"))
    node = device.stack()[-1].devnode
    for name, value in devnode_rows(node) if node is not None else ():
        rows.add_row(name, value)
    return rows


@deferred
def irp_detail(irp) -> Group:
    rows = fields()
    rows.add_row("Irp", f"{ptr(irp.address)}  number {irp.number}")
    rows.add_row("Status", format_status(irp.status) if irp.completed else "in progress")
    rows.add_row("PendingReturned", "yes" if irp.pending_returned else "no")
    if irp.buffer:
        rows.add_row("Buffer", irp.buffer)
    if irp.flags:
        rows.add_row("Flags", flag_names(irp.flags))
    if irp.cancel or irp.cancel_routine:
        rows.add_row("Cancel", ("Irp->Cancel set; " if irp.cancel else "") + (
            f"CancelRoutine {irp.cancel_routine.driver.name}!{irp.cancel_routine.routine}"
            if irp.cancel_routine else "no cancel routine"))
    table = Fitted([partial(_stack_locations, irp, stacked) for stacked in (False, True)],
                   whole_lines=True)
    return Group(rows, table, irp_path(irp))


def _stack_locations(irp, stacked: bool) -> Table:
    """The IRP's stack locations, top first; where they do not fit side by side, each
    location's device goes under its major function, its completion routine under its
    pending mark."""
    table = titled(f"{len(irp.stack)} stack location(s), current marked >")
    columns = ("", "#", "major / device", "pending / completion routine") if stacked else \
        ("", "#", "major", "device", "pending", "completion routine")
    for column in columns:
        table.add_column(column)
    for index in range(len(irp.stack) - 1, -1, -1):
        location = irp.stack[index]
        completion = location.completion
        cells = [location.major or "", location.device.label if location.device else "",
                 "SL_PENDING_RETURNED" if location.pending else "",
                 f"{completion.driver.name}!{completion.routine}" if completion else ""]
        if stacked:
            cells = ["\n".join(pair).strip("\n") for pair in (cells[:2], cells[2:])]
        table.add_row(">" if index == irp.current else "", str(index + 1), *cells)
    return table


def irp_path(irp) -> Indented:
    """Each hop down the stack, each return and each completion back up, in the order they
    happened, indented by how deep in IoCallDriver calls each one ran: a completion inside
    the lowest driver's dispatch routine is drawn there, one from a later DPC at the left."""
    return Indented(Text("path:\n" + "\n".join(f"  {'  ' * depth}{hop}"
                                                 for depth, hop in zip(irp.depths, irp.path))))


def _where(irp) -> str:
    """A completed IRP still held: its completion APC waits for the thread that asked, or
    (a completion routine lost the pending mark) nobody will finish it."""
    if irp.apc_to is not None:
        return f"completed; IopCompleteRequest queued to {irp.apc_to.label}"
    return "completed; nobody finishes it (the pending mark was lost)"


@deferred
def irp_table(system) -> Fitted:
    """The IRPs in progress; where a long major function and where it sits do not fit side
    by side (IRP_MJ_INTERNAL_DEVICE_CONTROL at 80 columns), where it sits goes under it."""
    return Fitted([partial(_irps, system, stacked) for stacked in (False, True)],
                  whole_lines=True, packed=True)


def _irps(system, stacked: bool) -> Table:
    table = titled("IRPs in progress")
    columns = ("IRP", "major / where it sits", "age (ticks)") if stacked else \
        ("IRP", "major", "where it sits", "age (ticks)")
    for column in columns:
        table.add_column(column)
    for irp in capped(table, list(system.io.irps.values()), "irp show N shows one"):
        location = irp.location
        queued = location and location.device and irp in location.device.queue
        cells = [irp.stack[-1].major or "",
                 _where(irp) if irp.completed else
                 f"{location.device.label} ({location.device.driver.name})"
                 + (" device queue" if queued else "")
                 if location and location.device else "not sent"]
        if stacked:
            cells = ["\n".join(cells)]
        table.add_row(str(irp.number), *cells, str(system.core.tick - irp.created_tick))
    if not system.io.irps:
        table.caption = "none: every IRP has been completed"
    return table


@deferred
def device_table(system) -> Packed:
    table = titled("devices")
    for column in ("device", "driver", "stack (top first)"):
        table.add_column(column)
    for device in capped(table, system.io.devices, "name one: device show DEV"):
        table.add_row(device.label, device.driver.name,
                      " → ".join(d.label for d in device.stack()))
    return Packed(table)


# !drvobj's flags (Debugger Reference, "!drvobj"): bit 0 the device objects the driver owns,
# bit 1 its dispatch routines, bit 2 those device objects in detail (it needs bit 0).
DRVOBJ_DEVICES, DRVOBJ_DISPATCH, DRVOBJ_DETAIL = 0x1, 0x2, 0x4


@deferred
def windbg_driver(driver, flags: int) -> Group:
    """`!drvobj DRIVER FLAGS`: what each bit asks for, and a line when bit 2 lacks bit 0."""
    parts: list = []
    if flags & DRVOBJ_DISPATCH:
        parts.append(driver_detail(driver))  # with the device list and the MajorFunction table
    else:
        rows = fields()
        rows.add_row("Driver object", f"{ptr(driver.header.address)}  {driver.header.path}")
        rows.add_row("Image", driver.image)
        if flags & DRVOBJ_DEVICES:
            rows.add_row("Device Object list", "\n".join(
                f"{ptr(d.header.address)}  {d.label}" for d in driver.devices) or "none")
        parts.append(rows)
    if flags & DRVOBJ_DETAIL:
        if flags & DRVOBJ_DEVICES:
            parts += [device_detail(d) for d in driver.devices[:LIST_LIMIT]]
        else:
            parts.append(Text("bit 2 (0x4) lists the device objects in detail only with bit 0 "
                              "(0x1), as in WinDbg: try 5 or 7", style="dim"))
    return Group(*parts)
