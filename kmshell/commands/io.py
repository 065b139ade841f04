"""The I/O manager: driver load|show, device list|stack|show, irp send|list|show|complete."""

from __future__ import annotations

from rich import box
from rich.table import Table

from kmshell.commands.names import resolve_driver
from kmshell.commands.registry import command
from kmshell.drivers import catalog, load_spec
from kmshell.errors import KmsError
from kmshell.language.spec import DRIVER, NUMBER, TEXT, Arg, Kind, choice
from kmshell.nt.constants import IRP_MJ, parse_status
from kmshell.nt.io.spec import SpecError
from kmshell.views.io import device_detail, device_stack, driver_detail, irp_detail, irp_table

DEVICE = Kind("DEV", complete="device", description="a device path or its last part")
MAJOR = choice(*IRP_MJ, metavar="MAJOR")


def _device(session, cmd, name: str = "dev"):
    return session.system.find_device(cmd[name])


@command("driver load", "load a driver from the catalog or a FILE.toml spec; runs DriverEntry",
         args=(Arg("name", TEXT, "a catalog name such as nullsink, or FILE.toml"),),
         details="Catalog: " + ", ".join(catalog()) + ". A spec is data: its routines are "
                 "lists of DDI steps; a mistake is reported with the file, routine and step.",
         examples=("driver load nullsink", "driver load mydriver.toml"))
def driver_load(session, cmd):
    try:
        spec = load_spec(cmd["name"])
    except SpecError as error:
        raise KmsError(str(error), col=cmd.col("name")) from None
    driver = session.system.load_driver(spec)
    return [device_stack(driver.devices[-1])] if driver.devices else [driver_detail(driver)]


@command("driver show", "a driver object: its devices and dispatch table",
         args=(Arg("name", DRIVER, "a loaded driver"),), aliases=("!drvobj",),
         when_halted=True, examples=("driver show nullsink", "!drvobj slowdisk"))
def driver_show(session, cmd):
    return [driver_detail(resolve_driver(session.system, cmd["name"], cmd.col("name")))]


@command("device list", "every device object and its driver", when_halted=True)
def device_list(session, cmd):
    table = Table(title="devices", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for column in ("device", "driver", "stack (top first)"):
        table.add_column(column)
    for device in session.system.devices:
        table.add_row(device.label, device.driver.name,
                      " → ".join(d.label for d in device.stack()))
    return [table]


@command("device stack", "the device stack a device belongs to, top first",
         args=(Arg("dev", DEVICE, "a device"),), aliases=("!devstack",), when_halted=True,
         examples=("device stack SlowDisk",))
def device_stack_(session, cmd):
    return [device_stack(_device(session, cmd))]


@command("device show", "one device object: driver, attachments, StackSize",
         args=(Arg("dev", DEVICE, "a device"),), aliases=("!devobj",), when_halted=True)
def device_show(session, cmd):
    return [device_detail(_device(session, cmd))]


@command("irp send", "a kernel-mode client sends an IRP to the top of a device's stack",
         args=(Arg("dev", DEVICE, "a device"), Arg("major", MAJOR, "IRP_MJ_READ, ..."),
               Arg("minor", TEXT, "a minor function, for IRP_MJ_PNP/POWER", optional=True)),
         examples=("irp send SlowDisk IRP_MJ_READ",))
def irp_send(session, cmd):
    irp = session.system.send_irp(_device(session, cmd), cmd["major"], cmd["minor"])
    return [irp_detail(irp)]


@command("irp list", "IRPs still in progress: where each sits and for how long",
         when_halted=True)
def irp_list(session, cmd):
    return [irp_table(session.system)]


@command("irp show", "one IRP in progress: stack locations and the path it took",
         args=(Arg("n", NUMBER, "the IRP's number"),), aliases=("!irp",), when_halted=True)
def irp_show(session, cmd):
    return [irp_detail(_irp(session, cmd))]


@command("irp complete", "the device finishes a pended IRP: its driver completes it",
         args=(Arg("n", NUMBER, "the IRP's number"), Arg("status", TEXT, "e.g. STATUS_SUCCESS")),
         examples=("irp complete 1 STATUS_SUCCESS",))
def irp_complete(session, cmd):
    irp = _irp(session, cmd)
    try:
        status = parse_status(cmd["status"])
    except ValueError as error:
        raise KmsError(str(error), col=cmd.col("status")) from None
    session.system.complete_pending(irp, status)
    return [irp_table(session.system)]


def _irp(session, cmd):
    irp = session.system.irps.get(cmd["n"])
    if irp is None:
        live = ", ".join(str(n) for n in session.system.irps) or "none"
        raise KmsError(f"no IRP {cmd['n']} in progress (completed IRPs are freed)",
                       col=cmd.col("n"), hint=f"in progress: {live}")
    return irp
