"""The I/O manager: driver load|show, device list|stack|show, irp send|list|show|complete."""

from __future__ import annotations

from kmshell.commands.names import (
    is_kernel_address,
    resolve_address,
    resolve_device,
    resolve_driver,
    resolve_process,
)
from kmshell.commands.registry import command
from kmshell.drivers import catalog, load_spec
from kmshell.errors import KmsError
from kmshell.language.spec import (
    DEVICE,
    DRIVER,
    DRIVER_SPEC,
    FREE_TEXT,
    HANDLE,
    HARDWARE_ID,
    NUMBER,
    OBJECT_PATH,
    PROCESS,
    TEXT,
    Arg,
    Opt,
    choice,
    masm_number,
    number,
)
from kmshell.nt.constants import IRP_MJ, MINORS_OF, parse_status
from kmshell.nt.io.spec import SpecError
from kmshell.nt.pnp import SENT_ONLY_BY_PNP_MANAGER
from kmshell.nt.rtl import U64
from kmshell.views.io import (
    device_detail,
    device_stack,
    device_table,
    driver_detail,
    irp_detail,
    irp_table,
    windbg_driver,
)
from kmshell.views.ob import handle_table
from kmshell.views.pnp import devnode_tree

MAJOR = choice(*IRP_MJ, metavar="MAJOR")


def _device(session, cmd, name: str = "dev"):
    return resolve_device(session.system, cmd[name], cmd.col(name))


def _spec(session, cmd):
    """The spec a catalog name or a FILE.toml names (a file from the scenario's folder)."""
    name = cmd["name"]
    try:
        return load_spec(session.path(name) if name.lower().endswith(".toml") else name)
    except SpecError as error:
        raise KmsError(str(error), col=cmd.col("name")) from None


@command("driver load", "load a driver from the catalog or a FILE.toml spec; runs DriverEntry",
         args=(Arg("name", DRIVER_SPEC, "a catalog name such as nullsink, or FILE.toml"),),
         details="Catalog: " + ", ".join(catalog()) + ". A spec is data: its routines are "
                 "lists of DDI steps; a mistake is reported with the file, routine and step. "
                 "The logged-on user's shell calls NtLoadDriver: its token must hold "
                 "SeLoadDriverPrivilege (teacher does, student does not). A FILE.toml with "
                 "hardware_ids (or a class filter) is a Plug and Play driver: its package "
                 "also joins the driver store, as driver install does, so the devices it "
                 "serves find it. In a scenario, FILE is taken from the scenario's folder.",
         examples=("driver load nullsink", "driver load mydriver.toml"), component="Io")
def driver_load(session, cmd):
    spec = _spec(session, cmd)
    system = session.system
    driver = system.io.load_driver(spec, caller=system.ps.console_shell())
    views = [device_stack(driver.devices[-1])] if driver.devices else [driver_detail(driver)]
    if spec.plug_and_play and cmd["name"].lower().endswith(".toml"):
        views += [device_stack(node.pdo) for node in
                  system.pnp.install_driver_package(spec, caller=system.ps.console_shell())]
    return views


@command("driver install", "add a Plug and Play driver package to the driver store "
         "(pnputil /add-driver FILE /install)",
         args=(Arg("name", DRIVER_SPEC, "a FILE.toml with hardware_ids, or a class filter; or a "
                   "catalog name"),),
         details="The spec's hardware_ids (a class filter: its class) join the driver store, "
                 "where the PnP manager looks up each device that arrives: `device plug "
                 "PARENT HWID` then builds the stack with it (lower filters, function driver, "
                 "upper filters). A device already present with no driver (Code 28) that it "
                 "serves gets it now; a started device keeps its stack until it arrives again. "
                 "DriverEntry runs when the first device needs the driver, not before. Needs "
                 "an administrator (SeLoadDriverPrivilege). In a scenario, FILE is taken from "
                 "the scenario's folder.",
         examples=("driver install mytoaster.toml", "driver install lab/upper.toml"),
         component="PnP")
def driver_install(session, cmd):
    spec = _spec(session, cmd)
    system = session.system
    installed = system.pnp.install_driver_package(spec, caller=system.ps.console_shell())
    return [device_stack(node.pdo) for node in installed if node.stack()] or \
        [devnode_tree(system.pnp.device_root)]


@command("driver unload", "stop a legacy driver (sc stop): its Unload runs, its devices go",
         args=(Arg("name", DRIVER, "a loaded legacy driver"),),
         details="A Plug and Play driver unloads by itself when its last device is removed. "
                 "IRPs still pending in the driver are not cancelled for it: when they later "
                 "complete into its code, the machine stops with 0xCE.",
         examples=("driver unload nullsink",), component="Io")
def driver_unload(session, cmd):
    system = session.system
    system.io.stop_driver(resolve_driver(system, cmd["name"], cmd.col("name")),
                       caller=system.ps.console_shell())
    return [device_table(system)]


@command("driver show", "a driver object: its devices and dispatch table",
         args=(Arg("name", DRIVER, "a loaded driver"),),
         when_halted=True, examples=("driver show nullsink",),
         component="Io")
def driver_show(session, cmd):
    return [driver_detail(resolve_driver(session.system, cmd["name"], cmd.col("name")))]


def _address(text: str) -> int | None:
    """A DRIVER_OBJECT or DEVICE_OBJECT address typed for a name, as WinDbg's !drvobj and
    !devobj accept one (hex, with or without 0x or the grave accent); None for a name."""
    value = masm_number(text)
    return value if value is not None and is_kernel_address(value) else None


@command("!drvobj", "WinDbg's !drvobj: a driver object, its devices and dispatch routines",
         args=(Arg("name", DRIVER, "a driver's name, \\Driver path or DRIVER_OBJECT address"),
               Arg("flags", number(0, 0x7, "FLAGS", "WinDbg's !drvobj flags"),
                   "bit 0 (0x1) its device objects, bit 1 (0x2) its dispatch routines, bit 2 "
                   "(0x4) the device objects in detail (with bit 0)", optional=True)),
         details="Left out, FLAGS shows what 3 shows (devices and dispatch routines); "
                 "WinDbg's own default is 1.",
         when_halted=True, examples=("!drvobj nullsink", "!drvobj slowdisk 2",
                                     "!drvobj slowdisk 7"), component="Io")
def bang_drvobj(session, cmd):
    system, text = session.system, cmd["name"]
    address = _address(text)
    driver = (resolve_address(system, address, "DRIVER_OBJECT", cmd.col("name"))
              if address is not None else resolve_driver(system, text, cmd.col("name")))
    if cmd["flags"] is None:
        return [driver_detail(driver)]
    return [windbg_driver(driver, cmd["flags"])]


@command("device list", "every device object and its driver", when_halted=True, component="Io")
def device_list(session, cmd):
    return [device_table(session.system)]


@command("device stack", "the device stack a device belongs to, top first",
         args=(Arg("dev", DEVICE, "a device"),), aliases=("!devstack",), when_halted=True,
         examples=("device stack SlowDisk",), component="Io")
def device_stack_(session, cmd):
    return [device_stack(_device(session, cmd))]


@command("device show", "one device object: driver, attachments, StackSize",
         args=(Arg("dev", DEVICE, "a device"),), when_halted=True,
         component="Io")
def device_show(session, cmd):
    return [device_detail(_device(session, cmd))]


@command("!devobj", "WinDbg's !devobj: one device object, by name or DEVICE_OBJECT address",
         args=(Arg("dev", DEVICE, "a device's name or path, or its DEVICE_OBJECT address"),),
         when_halted=True, examples=("!devobj SlowDisk",),
         component="Io")
def bang_devobj(session, cmd):
    address = _address(cmd["dev"])
    if address is None:
        return [device_detail(_device(session, cmd))]
    return [device_detail(resolve_address(session.system, address, "DEVICE_OBJECT",
                                          cmd.col("dev")))]


@command("device tree", "the Plug and Play device tree: every devnode, its state and stack",
         args=(Arg("address", NUMBER, "as in !devnode 0 1: 0 is the root (the one modelled)",
                   optional=True),
               Arg("flags", NUMBER, "as in !devnode 0 1: 1 recurses (always done)",
                   optional=True)),
         aliases=("!devnode",), when_halted=True, examples=("device tree", "!devnode 0 1"),
         details="Parents above children, the root enumerator at the top; each devnode shows "
                 "its instance path, PNP_DEVNODE_STATE, function driver and device stack "
                 "(top first, the PDO its bus driver created last).", component="PnP")
def device_tree(session, cmd):
    if cmd["address"] not in (None, 0):
        raise KmsError(f"!devnode {cmd['address']:#x}: only the whole tree, from the root "
                       "(address 0), is shown", col=cmd.col("address"),
                       hint="device tree, or !devnode 0 1; device show DEV for one device")
    return [devnode_tree(session.system.pnp.device_root)]


@command("device plug", "hardware appears on a bus: PnP enumerates it and builds its stack",
         args=(Arg("parent", DEVICE, "a device of the bus's stack, e.g. USBPDO-0 (root hub), "
                   "or a devnode's instance path, e.g. HTREE\\ROOT\\0 (the root)"),
               Arg("hwid", HARDWARE_ID, "the new device's hardware ID")),
         options=(Opt("name", TEXT, "name for the function driver's device object"),),
         details="The bus driver reports the child (IoInvalidateDeviceRelations); the PnP "
                 "manager creates its devnode, finds the drivers by hardware ID, calls "
                 "AddDevice lower filters → function → upper filters, and sends "
                 "IRP_MN_START_DEVICE. Hardware to try: USB\\VID_045E&PID_0008 (a joystick, "
                 "HidUsb), USB\\VID_05E3&PID_0610 (a hub, USBHUB3), USB\\VID_0BDA&PID_8153 "
                 "(a network adapter whose driver, stubborn, vetoes removal); under "
                 "HTREE\\ROOT\\0, ROOT\\BUSENUM (the WDK's toaster bus, root-enumerated), "
                 "and under its busenum#1, {b85b7c50-6a01-11d2-b841-00c04fad5171}\\MsToaster "
                 "(a toaster: toaster with the upper filter toasterupper); or the hardware ID "
                 "of a driver you added with driver install (or driver load FILE.toml). "
                 "Anything else gets problem code 28: a devnode and a PDO, no driver.",
         examples=("device plug USBPDO-0 USB\\VID_045E&PID_0008",
                   "device plug USBPDO-0 USB\\VID_045E&PID_0008 --name Stick",
                   "device plug HTREE\\ROOT\\0 ROOT\\BUSENUM"), component="PnP")
def device_plug(session, cmd):
    system = session.system
    node = system.pnp.plug(_device(session, cmd, "parent"), cmd["hwid"], cmd["name"] or "")
    return [device_stack(node.pdo) if node.stack() else devnode_tree(system.pnp.device_root)]


@command("device unplug", "take a device away: orderly removal, or --surprise",
         args=(Arg("dev", DEVICE, "any device of its stack"),),
         options=(Opt("surprise", None, "pulled out without warning: no query, no veto"),),
         details="Orderly: IRP_MN_QUERY_REMOVE_DEVICE to the device and its children (an open "
                 "handle or a failing driver vetoes it), then IRP_MN_REMOVE_DEVICE, children "
                 "first. Surprise: IRP_MN_SURPRISE_REMOVAL; each driver fails the IRPs it holds "
                 "(one whose spec has an IRP_MN_SURPRISE_REMOVAL routine does it there, the "
                 "model does it for the others), and the removal finishes when the last "
                 "handle is closed.",
         examples=("device unplug Joystick0", "device unplug Joystick0 --surprise"),
         component="PnP")
def device_unplug(session, cmd):
    system = session.system
    system.pnp.unplug(_device(session, cmd), cmd["surprise"])
    return [devnode_tree(system.pnp.device_root)]


@command("irp send", "a kernel-mode client sends an IRP to the top of a device's stack",
         args=(Arg("dev", DEVICE, "a device"), Arg("major", MAJOR, "IRP_MJ_READ, ..."),
               Arg("minor", TEXT, "a minor function, for IRP_MJ_PNP, IRP_MJ_POWER, "
                   "IRP_MJ_SYSTEM_CONTROL or IRP_MJ_FILE_SYSTEM_CONTROL", optional=True)),
         details="The client is a work item in a System worker thread, at PASSIVE_LEVEL; a "
                 "driver that returns to it at a raised IRQL stops the machine with 0xE1. "
                 "The PnP IRPs that change a device's state (IRP_MN_START_DEVICE, the "
                 "remove, stop and surprise-removal ones) are sent only by the PnP manager "
                 "and are refused here: `device plug` and `device unplug` ask it to send "
                 "them. A client may send the PnP queries.",
         examples=("irp send SlowDisk IRP_MJ_READ",
                   "irp send Harddisk0 IRP_MJ_PNP IRP_MN_QUERY_CAPABILITIES"), component="Io")
def irp_send(session, cmd):
    minors, minor = MINORS_OF.get(cmd["major"], {}), cmd["minor"] and cmd["minor"].upper()
    if minor is not None and minor not in minors:
        raise KmsError(f"'{cmd['minor']}' is not a minor function of {cmd['major']}",
                       col=cmd.col("minor"), hint=", ".join(minors) or
                       f"{cmd['major']} has no minor functions in the model")
    if cmd["major"] == "IRP_MJ_PNP" and minor in SENT_ONLY_BY_PNP_MANAGER:
        raise KmsError(f"{minor} is sent only by the PnP manager (its WDK page: \"Reserved "
                       "for system use. Drivers must not send this IRP.\"): sent by a client, "
                       "the drivers would change the device's state behind the PnP manager's "
                       "back and leave the device tree stale", col=cmd.col("minor"),
                       hint="device plug and device unplug [--surprise] make the PnP manager "
                       "send it; a client may send the queries, such as "
                       "IRP_MN_QUERY_CAPABILITIES, IRP_MN_QUERY_ID, IRP_MN_QUERY_INTERFACE, "
                       "IRP_MN_QUERY_DEVICE_RELATIONS")
    irp = session.system.io.send_irp(_device(session, cmd), cmd["major"], minor)
    return [irp_detail(irp)]


@command("irp list", "IRPs still in progress: where each sits and for how long",
         when_halted=True, component="Io")
def irp_list(session, cmd):
    return [irp_table(session.system)]


@command("irp show", "one IRP in progress: stack locations and the path it took",
         args=(Arg("n", NUMBER, "the IRP's number"),), when_halted=True,
         component="Io")
def irp_show(session, cmd):
    return [irp_detail(_irp(session, cmd))]


@command("!irp", "WinDbg's !irp: an IRP in progress, by its address or its number",
         args=(Arg("n", number(0, U64, "ADDR", "an IRP's address, or its number (hex)"),
                   "the IRP's address as kmshell prints it, or its number (hex: 0n12 is "
                   "IRP 12 of the trace)"),),
         when_halted=True, examples=("!irp 1",),
         component="Io")
def bang_irp(session, cmd):
    value = cmd["n"]
    if is_kernel_address(value):
        return [irp_detail(resolve_address(session.system, value, "IRP", cmd.col("n")))]
    return [irp_detail(_irp(session, cmd))]


@command("irp complete", "the device finishes a pended IRP: its driver completes it",
         args=(Arg("n", NUMBER, "the IRP's number"), Arg("status", TEXT, "e.g. STATUS_SUCCESS")),
         examples=("irp complete 1 STATUS_SUCCESS",), component="Io")
def irp_complete(session, cmd):
    irp = _irp(session, cmd)
    try:
        status = parse_status(cmd["status"])
    except ValueError as error:
        raise KmsError(str(error), col=cmd.col("status")) from None
    session.system.io.complete_pending(irp, status)
    return [irp_detail(irp), irp_table(session.system)]  # its whole path, down and back up


@command("irp cancel", "cancel a pending IRP (IoCancelIrp): its driver's cancel routine runs",
         args=(Arg("n", NUMBER, "the IRP's number"),),
         details="IoCancelIrp takes the cancel spin lock (DISPATCH_LEVEL), sets Irp->Cancel "
                 "and calls the cancel routine the holding driver set with IoSetCancelRoutine; "
                 "that routine releases the lock and completes the IRP with STATUS_CANCELLED. "
                 "An IRP without a cancel routine stays pending.",
         examples=("irp cancel 1",), component="Io")
def irp_cancel(session, cmd):
    irp = _irp(session, cmd)
    session.system.io.cancel_irp(irp)
    return [irp_detail(irp), irp_table(session.system)]


def _irp(session, cmd):
    irp = session.system.io.irps.get(cmd["n"])
    if irp is None:
        live = ", ".join(str(n) for n in session.system.io.irps) or "none"
        raise KmsError(f"no IRP {cmd['n']} in progress (completed IRPs are freed)",
                       col=cmd.col("n"), hint=f"in progress: {live}")
    return irp


@command("open", "a process opens a device or a file (NtCreateFile): access check, "
         "IRP_MJ_CREATE, handle",
         args=(Arg("p", PROCESS, "the process that opens it"),
               Arg("path", OBJECT_PATH, "e.g. \\Device\\SlowDisk, or a file: C:\\notes.txt")),
         options=(Opt("access", choice("read", "write", "all"), "the access wanted", "read"),
                  Opt("overlapped", None, "FILE_FLAG_OVERLAPPED: reads and writes on the "
                      "handle return STATUS_PENDING at once instead of waiting")),
         details="A name that goes on past a device names a file on the volume the device "
                 "holds (C:\\notes.txt follows \\GLOBAL??\\C: to the disk): the first such "
                 "open mounts the volume (IRP_MN_MOUNT_VOLUME to each file system), and the "
                 "file's requests go to the file system's volume device.",
         examples=("open notepad.exe \\Device\\NullSink", "open 172 \\Device\\SlowDisk "
                   "--access all", "open notepad.exe C:\\notes.txt"), component="Io")
def open_(session, cmd):
    process = resolve_process(session.system, cmd["p"], cmd.col("p"))
    session.system.files.open_file(process, cmd["path"], cmd["access"],
                                   overlapped=cmd["overlapped"])
    return [handle_table(process)]


def _file_op(session, cmd, major: str, api: str, length: int, code: int = 0):
    process = resolve_process(session.system, cmd["p"], cmd.col("p"))
    session.system.files.file_io(process, cmd["h"], major, api, length, code,
                                 apc=bool(cmd.values.get("apc")))
    return [irp_table(session.system)] if session.system.io.irps else []


@command("read", "a process reads from an open handle (NtReadFile → IRP_MJ_READ)",
         args=(Arg("p", PROCESS, "the process"), Arg("h", HANDLE, "its handle")),
         options=(Opt("length", NUMBER, "bytes to read", 64),
                  Opt("apc", None, "ReadFileEx: a completion routine, queued to the thread "
                      "as a user APC when the read is done; it runs in the thread's next "
                      "alertable wait (program step sleepex N)")),
         details="The IRP carries the caller's buffer as the device asks: a system buffer "
                 "(DO_BUFFERED_IO), an MDL (DO_DIRECT_IO) or the user address (neither). When "
                 "the driver pends the IRP the calling thread waits (synchronous I/O) until "
                 "it completes — unless the handle was opened --overlapped. The end of the "
                 "request (copy back, IO_STATUS_BLOCK, event) runs in the calling thread, as "
                 "the special kernel APC IopCompleteRequest.",
         examples=("read notepad.exe 0x10", "read notepad.exe 0x10 --length 8192",
                   "read a.exe 0x10 --apc"), component="Io")
def read(session, cmd):
    return _file_op(session, cmd, "IRP_MJ_READ", "NtReadFile", cmd["length"])


@command("write", "a process writes to an open handle (NtWriteFile → IRP_MJ_WRITE)",
         args=(Arg("p", PROCESS, "the process"), Arg("h", HANDLE, "its handle"),
               Arg("text", FREE_TEXT, "what to write", rest=True)),
         examples=("write notepad.exe 0x10 hello",), component="Io")
def write(session, cmd):
    return _file_op(session, cmd, "IRP_MJ_WRITE", "NtWriteFile", len(cmd["text"].encode()))


@command("ioctl", "a device I/O control request (NtDeviceIoControlFile → IRP_MJ_DEVICE_CONTROL)",
         args=(Arg("p", PROCESS, "the process"), Arg("h", HANDLE, "its handle"),
               Arg("code", TEXT, "the control code, e.g. 0x222003")),
         options=(Opt("input", FREE_TEXT, "input buffer text"),),
         details="The code's two low bits are its transfer method (CTL_CODE): 0 "
                 "METHOD_BUFFERED, 1 METHOD_IN_DIRECT, 2 METHOD_OUT_DIRECT, 3 METHOD_NEITHER.",
         examples=("ioctl notepad.exe 0x10 0x222003", "ioctl notepad.exe 0x10 0x222000"),
         component="Io")
def ioctl(session, cmd):
    try:
        code = int(cmd["code"], 0)
    except ValueError:
        raise KmsError(f"'{cmd['code']}' is not a control code", col=cmd.col("code"),
                       hint="a number such as 0x222003 (CTL_CODE: device type, function, "
                       "method, access)") from None
    if not 0 <= code <= 0xFFFFFFFF:
        raise KmsError(f"control code {cmd['code']} does not fit in 32 bits",
                       col=cmd.col("code"), hint="e.g. 0x222003")
    return _file_op(session, cmd, "IRP_MJ_DEVICE_CONTROL", "NtDeviceIoControlFile",
                    len((cmd["input"] or "").encode()) or 64, code)


@command("close", "a process closes a handle (NtClose → IRP_MJ_CLEANUP, IRP_MJ_CLOSE)",
         args=(Arg("p", PROCESS, "the process"), Arg("h", HANDLE, "its handle")),
         examples=("close notepad.exe 0x10",), component="Io")
def close(session, cmd):
    process = resolve_process(session.system, cmd["p"], cmd.col("p"))
    session.system.files.close_handle(process, cmd["h"])
    return [handle_table(process)]
