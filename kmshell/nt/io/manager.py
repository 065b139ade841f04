"""The I/O manager (Io; routines Io*, internally Iop*): driver objects, device objects and
their stacks, and IRPs going down a stack (IoCallDriver) and back up (IoCompleteRequest,
completion routines).

`IoManager` owns `drivers`, the loaded driver objects by service name; `devices`, every
device object in creation order; `irps`, the IRPs in progress by number, with `irp_count`,
the last number given; `finished_irps`, the final status of the latest completed ones; the
cancel spin lock (the IRQL its holder came from); and `nested_calls` and `nested_routines`,
how many IoCallDriver calls and driver routines are running inside one another.

System builds it with the Core and the components a driver's routines use: Ob (driver and
device objects are named there), Ke (IRQL, DPCs, StartIo at DISPATCH_LEVEL), Mm (pool,
Driver Verifier), Cm (the Services keys), the HAL (DMA) and WMI; then it wires in `files`
(FileIo, io/files.py: the file-system half and the system-call path) and `pnp` (the Plug
and Play manager). Ke, Mm, the HAL and WMI reach it through their own `io` back-edge.

A driver routine's steps are interpreted by steps.py, which calls back into the work here:
IoCallDriver, IoCompleteRequest, IRPs a driver builds, StartIo and the device queue,
cancel and IRQL bookkeeping, IoConnectInterruptEx (the HAL hands out the vector, Ke delivers
the interrupt), and controller objects (IoCreateController, IoAllocateController,
IoFreeController: they serialize devices that share one piece of hardware, such as two
drives on one disk controller; the device that holds it runs its ControllerControl routine,
another asking meanwhile waits in the controller's queue; a driver has one, and
ControllerControl returns KeepObject). Legacy drivers create their devices in DriverEntry; Plug and
Play drivers in AddDevice (pnp.py); file systems in their mount routine (files.py). IRPs
come from the system-call path (files.py), from the PnP and power managers, or from a
kernel-mode test client (`irp send`, at PASSIVE_LEVEL).

Simplifications: a driver is a spec (TOML) whose routines are lists of DDI steps, not code;
an IRP is freed when it completes and only its final status is kept; IoCallDriver calls
nested too deep stop the request with an error where Windows would overflow the kernel stack
and bugcheck (0x7F); a completion routine that sends the IRP down again without returning
STATUS_MORE_PROCESSING_REQUIRED stops the completion (Windows would complete it twice).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from kmshell.nt.constants import (
    IRQL_NAMES,
    KERNEL_LARGE_STACK_SIZE,
    KERNEL_STACK_SIZE,
    VPB_DEVICE_TYPES,
    BugCheck,
    Irql,
    NtStatus,
    describe_ioctl,
    format_status,
    irql_name,
    nt_success,
    status_name,
)
from kmshell.nt.errors import HardFault, NtError
from kmshell.nt.events import ptr
from kmshell.nt.io.driver import BOOT_DRIVERS, DriverObject
from kmshell.nt.io.irp import (
    MAX_STACK_SIZE,
    Completion,
    ControllerObject,
    DeviceObject,
    FinishedIrp,
    IoStackLocation,
    Irp,
    RemoveLock,
    Vpb,
)
from kmshell.nt.io.spec import Call, DriverSpec
from kmshell.nt.io.steps import DDIS, DIRQL, Frame, condition_holds, no_irp, step_limit
from kmshell.nt.ke.apc import Apc, ApcKind
from kmshell.nt.ke.kernel import RoutineWaits
from kmshell.nt.ke.sync import KEvent
from kmshell.nt.ke.thread_state import ThreadState
from kmshell.nt.mm import routine_address
from kmshell.nt.ob import ObjectPathError
from kmshell.nt.pool import VERIFIER_UNLOAD_LEAKS
from kmshell.nt.ps import Step, Thread
from kmshell.nt.se import DEFAULT_DEVICE_SDDL, parse_sddl

if TYPE_CHECKING:
    from kmshell.nt.cm import ConfigurationManager
    from kmshell.nt.core import Core
    from kmshell.nt.ex import Executive
    from kmshell.nt.hal import Hal
    from kmshell.nt.io.files import FileIo
    from kmshell.nt.ke.kernel import Kernel
    from kmshell.nt.mm import MemoryManager
    from kmshell.nt.ob import ObjectManager
    from kmshell.nt.pnp import PlugAndPlayManager
    from kmshell.nt.po import PowerManager
    from kmshell.nt.ps import Process
    from kmshell.nt.wmi import Wmi

STATUS_PENDING = NtStatus.STATUS_PENDING
IOPF_COMPLETE_REQUEST = 0xFFFFF805_1A2B6C20  # and nt!IopfCompleteRequest
PAGEABLE_KERNEL_DATA = 0xFFFFF805_1A700000  # a pageable page of ntoskrnl in the model
STATUS_MORE_PROCESSING_REQUIRED = NtStatus.STATUS_MORE_PROCESSING_REQUIRED
CSQ_CANCEL = "IoCsqCancel"  # the cancel routine a cancel-safe queue sets: the queue's own
# `irp send`'s client: a work item (and its routine) that a System worker thread runs
TEST_CLIENT_ROUTINE, TEST_CLIENT_WORK_ITEM = 0xFFFFF805_1A6F1000, 0xFFFFC50F_0A0F0000
FINISHED_KEEP = 10_000  # completed IRPs whose final status `irp N status` can still answer
# Guards for the interpreter, not rules of the model: a kernel stack overflows (0x7F, see
# push_stack) long before a chain of driver routines on a 24 KB stack is this deep; only a
# callout's 72 KB segment lets one get here, and Python's own recursion limit would otherwise
# end it in a traceback. IoCallDriver calls inside one another (dispatch → lower dispatch,
# completion routine → IoCallDriver, ...), and driver routines of any kind (a completion
# routine that starts the next packet from inside the last one, whose IoCallDriver returned).
MAX_NESTED_CALLS = 64
MAX_NESTED_ROUTINES = 2 * MAX_NESTED_CALLS
# Kernel stack use, in bytes: the model's estimates of x64 frames (none is documented; a real
# one depends on the compiler): a driver routine's frame (return address, saved nonvolatile
# registers, the home space of its callees' arguments) with the frame of whatever called it
# (IofCallDriver, IopfCompleteRequest, the DPC dispatcher), before its declared locals
# ([stack]); what is already on a stack when driver code starts: a system call's trap frame
# and service dispatch on a thread's stack, the DPC dispatcher's frames on a processor's DPC
# stack, an interrupt's trap frame on its interrupt stack. Every kernel stack is
# KERNEL_STACK_SIZE (24 KB on x64); past it is a guard page.
ROUTINE_FRAME = 0x1C0
STACK_BASE = {"thread": 0x600, "DPC": 0x100, "interrupt": 0x200}
INTERRUPT_ROUTINES, DPC_ROUTINES = ("ISR", "SynchCritSection"), ("DPC", "AdapterListControl")
OWN_STACK_ROUTINES = frozenset((*INTERRUPT_ROUTINES, *DPC_ROUTINES))
DEFAULT_DEVICE_SD = parse_sddl(DEFAULT_DEVICE_SDDL)  # what IoCreateDevice gives a device


@dataclass
class KernelStack:
    """The kernel stack driver code runs on: `owner` names it (None: the current thread's,
    as outermost driver code runs), `base` is what was on it when driver code entered it and
    `depth0` nested_routines then, `locals` the declared locals of the routines on it now,
    `watch` the depth up to which its use has been measured (deeper, or a routine with
    locals, is measured again: run_routine's one comparison), `limit` its size."""

    owner: str | None = None
    base: int = STACK_BASE["thread"]
    depth0: int = 0
    locals: int = 0
    watch: int = 0
    limit: int = KERNEL_STACK_SIZE


class IoManager:
    """Io. Built with the Core and the components a driver's routines use: the object
    manager (driver and device objects), Ke (IRQL, DPCs, spin locks), Mm (pool), Cm (the
    Services keys), the HAL (DMA) and WMI. The file-system half (files.py), the PnP
    manager and the power manager are wired in by System."""

    files: FileIo
    pnp: PlugAndPlayManager
    ex: Executive  # work items
    po: PowerManager  # PoRequestPowerIrp and PoSetPowerState steps

    def __init__(self, core: Core, ob: ObjectManager, ke: Kernel, mm: MemoryManager,
                 cm: ConfigurationManager, hal: Hal, wmi: Wmi) -> None:
        self.core = core
        self.ob = ob
        self.ke = ke
        self.mm = mm
        self.cm = cm
        self.hal = hal
        self.wmi = wmi
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        self.drivers: dict[str, DriverObject] = {}  # lower-cased service name -> object
        self.devices: list[DeviceObject] = []  # every device object, in creation order
        self.irps: dict[int, Irp] = {}  # IRP number -> IRP in progress (completed ones freed)
        # IRP number -> FinishedIrp: the latest completed ones, oldest first. An OrderedDict
        # drops its oldest in O(1); a dict's first key is found by scanning past the holes
        # that earlier deletions left, microseconds each once it holds thousands.
        self.finished_irps: OrderedDict[int, FinishedIrp] = OrderedDict()
        self.irp_count = 0
        self._cancel_lock: int | None = None  # held: the IRQL IoAcquireCancelSpinLock saved
        self.nested_calls = 0  # IoCallDriver calls running now, inside one another (all IRPs)
        self.nested_routines = 0  # driver routines running now, inside one another
        self.stack = KernelStack()  # the kernel stack driver code runs on now
        self.csqs: dict[DeviceObject, list[Irp]] = {}  # a device -> its cancel-safe queue
        self.work_item_count: dict[str, int] = {}  # driver -> IO_WORKITEMs it holds
        # what each IoQueueWorkItem asked for: (driver, routine, device, IRP as context)
        self.work_requests: list[tuple[DriverObject, str, DeviceObject | None, Irp | None]] = []

    def load_boot_drivers(self) -> None:
        """The boot loader's drivers: in memory before the I/O manager starts, each with its
        driver object and Services key (their device objects come from Plug and Play)."""
        for name, image, description in BOOT_DRIVERS:
            driver = DriverObject(self.ob.header("Driver", permanent=True), name, image,
                                  description)
            self.ob.insert(f"\\Driver\\{name}", driver)
            self.drivers[name.lower()] = driver
            self.cm.install_service(name, image, "boot")
        self.emit("Io", "boot", f"boot drivers loaded: {', '.join(self.drivers_names())}; "
                  "each has its key under HKLM\\SYSTEM\\CurrentControlSet\\Services")

    def find_driver(self, name: str) -> DriverObject | None:
        """The loaded driver with this service name (any case), or None."""
        return self.drivers.get(name.lower())

    def drivers_names(self) -> list[str]:
        return [d.name for d in self.drivers.values()]

    def device_named(self, path: str) -> DeviceObject | None:
        """The device object named path (\\Device\\X, any case), or None."""
        return next((d for d in self.devices if d.label.lower() == path.lower()), None)

    def irps_in_progress(self) -> list[Irp]:
        return list(self.irps.values())

    def forget_boot_irps(self) -> None:
        """Boot's IRPs are all finished: the ones a user sees are numbered from 1."""
        self.irp_count = 0
        self.finished_irps.clear()

    # ------------------------------------------------------------- drivers and devices

    def load_driver(self, spec: DriverSpec, caller: Process | None = None) -> DriverObject:
        """IopLoadDriver: the driver object, its Services key, then DriverEntry. With a
        caller, NtLoadDriver from that process: its token must hold SeLoadDriverPrivilege
        (the Plug and Play manager loads drivers from the System process, unchecked)."""
        self.core.require_running()
        self._check_load_privilege(caller, "NtLoadDriver", spec.name)
        if spec.name.lower() in self.drivers:
            raise NtError(NtStatus.STATUS_IMAGE_ALREADY_LOADED,
                          f"driver {spec.name} is already loaded")
        driver = DriverObject(self.ob.header("Driver", permanent=True), spec.name, spec.image,
                              spec.description, spec=spec)
        driver.verified = spec.image.lower() in (n.lower() for n in self.mm.verify_drivers())
        self.ob.insert(f"{spec.directory}\\{spec.name}", driver)
        self.drivers[spec.name.lower()] = driver
        self.mm.map_driver_image(driver)
        self.cm.install_service(spec.name, spec.image, spec.start)
        self.emit("Io", "driver-load", f"{spec.image} loaded: {spec.directory}\\{spec.name} "
                  "created, Services key written; calling DriverEntry",
                  "Every driver gets a driver object; its dispatch table says which routine "
                  "handles each IRP_MJ_ code.")
        try:
            self.call_routine(driver, "DriverEntry", None, None)
        except NtError as error:
            self._unload_failed(driver, error)
            raise
        self._syscall_return(caller, "NtLoadDriver")
        return driver

    def _check_load_privilege(self, caller: Process | None, api: str, name: str) -> None:
        """NtLoadDriver/NtUnloadDriver: SeSinglePrivilegeCheck(SeLoadDriverPrivilege)."""
        if caller is None:
            return
        self.emit("Io", "syscall", f"{caller.image} ({caller.pid}) calls {api}(\\Registry\\"
                  f"Machine\\System\\CurrentControlSet\\Services\\{name}): system call, "
                  "user → kernel", mode="U")
        if caller.token.has("SeLoadDriverPrivilege"):
            self.emit("Se", "privilege", f"{caller.token.user}'s token holds "
                      "SeLoadDriverPrivilege: the load may go on")
            return
        self.emit("Se", "privilege", f"{caller.token.user}'s token lacks SeLoadDriverPrivilege: "
                  f"{api} fails", "Loading or unloading a driver puts code into the kernel, "
                  "where nothing protects the machine from it; only accounts granted "
                  "SeLoadDriverPrivilege (Administrators by default) may do it.")
        self._syscall_return(caller, api, NtStatus.STATUS_PRIVILEGE_NOT_HELD)
        raise NtError(NtStatus.STATUS_PRIVILEGE_NOT_HELD, f"{caller.token.user} does not hold "
                      f"SeLoadDriverPrivilege, which {api} requires; log on as an "
                      "administrator (login teacher)")

    def _syscall_return(self, caller: Process | None, api: str,
                        status: int = NtStatus.STATUS_SUCCESS) -> None:
        if caller is not None:
            self.emit("Io", "syscall", f"{api} returns {format_status(status)} to "
                      f"{caller.image}: kernel → user", mode="U")

    def _unload_failed(self, driver: DriverObject, error: NtError) -> None:
        """DriverEntry failed: the I/O manager deletes the driver object and unloads the image.
        Its devices go too (a correct driver deletes them itself before failing)."""
        for device in reversed(driver.devices):
            if device.attached_to is not None:
                device.attached_to.attached_device = None
            if device.header.directory is not None:
                self.ob.remove(device)
            device.header.pointer_count = 0
            self.devices.remove(device)
        self._retire_driver(driver)
        self.emit("Io", "driver-unload", f"DriverEntry of {driver.name} failed with "
                  f"{format_status(error.status)}: the I/O manager deletes \\Driver\\"
                  f"{driver.name}" + (f" and its {len(driver.devices)} device(s)"
                                       if driver.devices else "") + " and unloads "
                  f"{driver.image}", "A driver that fails DriverEntry must undo what it did "
                  "(IoDeleteDevice for each device it created) before it returns the failure.")
        driver.devices.clear()

    def create_device(self, driver: DriverObject, name: str | None) -> DeviceObject:
        """IoCreateDevice."""
        driver.unnamed += 0 if name else 1
        if name and name.endswith("#"):  # one per device instance: Joystick0, Joystick1, ...
            name = next(f"{name[:-1]}{n}" for n in range(len(self.devices) + 1)
                        if not any(d.label.lower() == f"\\device\\{name[:-1]}{n}".lower()
                                   for d in self.devices))
        label = f"\\Device\\{name}" if name else f"{driver.name}#{driver.unnamed}"
        device = DeviceObject(self.ob.header("Device"), driver, label)
        # The I/O manager's default security descriptor (se.DEFAULT_DEVICE_SDDL); a driver
        # that wants another calls IoCreateDeviceSecure.
        device.header.security = DEFAULT_DEVICE_SD
        if driver.spec is not None:
            device.io = driver.spec.io or "neither"
            device.device_type = driver.spec.device_type
        if device.device_type in VPB_DEVICE_TYPES:
            device.vpb = Vpb(device)  # IopCreateVpb: it holds a volume a file system can mount
        if name:
            try:
                self.ob.insert(label, device)
            except ObjectPathError:
                raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION,
                              f"{label} already exists") from None
        driver.devices.append(device)
        self.devices.append(device)
        self.emit("Io", "device", f"IoCreateDevice: {driver.name} creates {label}")
        return device

    def attach_device(self, device: DeviceObject, target: DeviceObject) -> DeviceObject:
        """IoAttachDeviceToDeviceStack: on top of the highest device of target's stack.

        SourceDevice is the caller's own device, not yet attached, and TargetDevice another
        driver's device:
        https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-ioattachdevicetodevicestack
        (IoAttachDeviceToDeviceStackSafe's page asks that the AttachedToDeviceObject it fills
        in be NULL on input). A device attached twice, or onto its own stack, would make the
        stack a cycle that IoGetAttachedDevice never gets out of, so the model refuses it."""
        if device.attached_to is not None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{device.label} is already "
                          f"attached to {device.attached_to.label}: a device is attached once "
                          "(IoDetachDevice first); attaching it again would make its stack a "
                          "cycle")
        if device in target.stack():
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{device.label} is in the stack "
                          f"of {target.label} already: a device cannot attach onto its own "
                          "stack (the stack would become a cycle)")
        top = target.top()
        if top.stack_size >= MAX_STACK_SIZE:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"the stack of {target.label} "
                          f"needs {top.stack_size} stack locations already: StackSize is a "
                          f"CCHAR, and an IRP has at most {MAX_STACK_SIZE}")
        device.attached_to, top.attached_device = top, device
        device.stack_size = top.stack_size + 1
        if device.driver.spec is not None and device.driver.spec.type == "filter" and \
                not device.driver.spec.io:
            device.io = top.io  # a filter copies DO_BUFFERED_IO / DO_DIRECT_IO from below
        self.emit("Io", "attach", f"{device.label} attaches above {top.label}: the stack is now "
                  f"{len(device.stack())} deep; StackSize {device.stack_size}",
                  "An IRP sent to the stack now reaches this device first.")
        return top

    def detach_device(self, device: DeviceObject) -> None:
        """IoDetachDevice: the device below forgets this one."""
        lower = device.attached_to
        if lower is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{device.label} is not attached")
        lower.attached_device, device.attached_to = None, None
        self.emit("Io", "detach", f"{device.label} detaches from {lower.label}")

    def delete_device(self, device: DeviceObject) -> None:
        """IoDeleteDevice: its name goes, and the driver's and the I/O manager's lists drop it."""
        if device not in self.devices:
            return
        if device.vpb is not None and device.vpb.mounted:
            self.files.dismount(device.vpb)
        self.files.forget_file_system(device)  # deleted without IoUnregisterFileSystem
        if device.header.directory is not None:
            self.ob.remove(device)
        device.header.pointer_count = 0
        self.devices.remove(device)
        device.driver.devices.remove(device)
        self.emit("Io", "delete", f"IoDeleteDevice: {device.label} deleted")
        self.wmi.wmi_forget(device)

    def detach_and_delete(self, device: DeviceObject) -> None:
        """IoDetachDevice (if it is attached), then IoDeleteDevice: what a driver does to a
        device it is done with."""
        if device.attached_to is not None:
            self.detach_device(device)
        self.delete_device(device)

    def stop_driver(self, driver: DriverObject, caller: Process | None = None) -> None:
        """driver unload NAME (NtUnloadDriver): a legacy driver's Unload runs and its devices
        go. A Plug and Play driver unloads only when its last device is removed."""
        self.core.require_running()
        self._check_load_privilege(caller, "NtUnloadDriver", driver.name)
        if driver.spec is None or any(d.stack()[-1].devnode is not None for d in driver.devices):
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{driver.name} is a boot "
                          "driver or serves Plug and Play devices: it unloads when its last "
                          "device is removed (device unplug DEV)")
        mounted = [(d, d.target_device) for d in driver.devices if d.target_device is not None]
        if mounted:
            volume, target = mounted[0]
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{driver.name} has "
                          f"{len(mounted)} volume(s) mounted ({volume.label} for "
                          f"{target.label}): a file system stays loaded while it serves a "
                          "volume")
        above = [d.attached_device for d in driver.devices
                 if d.attached_device is not None and d.attached_device.driver is not driver]
        if above:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{above[0].label} "
                          f"({above[0].driver.name}) is attached above {driver.name}'s device: "
                          f"unload {above[0].driver.name} first")
        held = [i for i in self.irps.values()
                if any(loc.device is not None and loc.device.driver is driver for loc in i.stack)]
        self.emit("Io", "unload", f"{driver.name} is stopped: the I/O manager calls its Unload "
                  "routine" + (f"; {len(held)} IRP(s) it has seen are still pending — it does "
                               "not cancel them" if held else ""),
                  "Unload must undo everything DriverEntry did: delete devices, free pool, "
                  "cancel pending IRPs, timers and DPCs. Whatever it leaves points into code "
                  "that is about to disappear.")
        self.call_routine(driver, "Unload", None, None)
        for device in list(driver.devices):  # what its Unload would do: IoDeleteDevice
            self.detach_and_delete(device)
        self._retire_driver(driver)
        self.emit("Io", "driver-unload", f"{driver.image} is unloaded")
        self._syscall_return(caller, "NtUnloadDriver")

    def unload_driver(self, driver: DriverObject) -> None:
        """A PnP driver whose last device is gone: Unload runs and the image is unloaded."""
        self.call_routine(driver, "Unload", None, None)
        self._retire_driver(driver)
        self.emit("Io", "driver-unload", f"{driver.name} has no device left: its Unload "
                  f"routine runs and {driver.image} is unloaded")

    def _retire_driver(self, driver: DriverObject) -> None:
        """The image goes: a timer left set in it stops the machine (0xC7), leaks are reported,
        \\Driver\\NAME deleted, calls into it now fault."""
        self.ke.check_for_timer(driver)
        self._report_leaks(driver)
        self.mm.unmap_driver_image(driver)
        self.ob.remove(driver)
        driver.header.pointer_count = 0
        driver.unloaded = True
        del self.drivers[driver.name.lower()]

    def newest_device(self, driver: DriverObject, ddi: str) -> DeviceObject:
        """The device a DriverEntry step works on: the one IoCreateDevice made last."""
        if not driver.devices:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{ddi} before IoCreateDevice")
        return driver.devices[-1]

    def find_device(self, text: str) -> DeviceObject:
        for device in self.devices:
            if text.lower() in (device.label.lower(), device.label.lower().rsplit("\\", 1)[-1]):
                return device
        for node in self.pnp.devnodes():  # a devnode's instance path names its PDO
            if node.instance_path.lower() == text.lower():
                assert node.pdo is not None  # its bus driver made it when it reported the node
                return node.pdo
        raise NtError(NtStatus.STATUS_NO_SUCH_DEVICE, f"no device '{text}'; devices: "
                      + (", ".join(d.label for d in self.devices) or "none"))

    # ------------------------------------------------------------- interrupts and controllers

    def connect_interrupt(self, device: DeviceObject) -> None:
        """IoConnectInterruptEx: the HAL picks a vector (one per message for MSI and MSI-X);
        its high nibble is the DIRQL."""
        spec = device.driver.spec
        kind, messages = (spec.interrupt, spec.messages) if spec is not None else ("line", 1)
        vector = self.hal.assign_vector()
        device.vectors = [vector + n for n in range(messages)]
        device.vector, device.dirql = vector, vector >> 4
        if kind == "line":
            self.emit("Hal", "interrupt", f"IoConnectInterruptEx (line-based): {device.label} "
                      f"gets vector {vector:#x}, so its ISR runs at DIRQL {device.dirql}",
                      "On x64 an interrupt's IRQL is its vector divided by 16.")
            return
        name = "MSI" if kind == "msi" else "MSI-X"
        self.emit("Hal", "interrupt", f"IoConnectInterruptEx (CONNECT_MESSAGE_BASED, {name}): "
                  f"{device.label} gets {messages} message(s), vectors {vector:#x}.."
                  f"{device.vectors[-1]:#x}, its ISR at DIRQL {device.dirql}",
                  "A message-signaled interrupt is a memory write by the device, not a wire: "
                  "it is never shared, each message has its own vector, and with MSI-X each "
                  "message can go to its own processor.")

    def create_controller(self, driver: DriverObject) -> ControllerObject:
        """IoCreateController: one per driver here, shared by all its devices."""
        driver.controller = ControllerObject(self.core.allocate_address(0x50), driver)
        self.emit("Io", "controller", f"IoCreateController: {driver.name} gets a controller "
                  f"object at {ptr(driver.controller.address)}, shared by its devices",
                  "A controller object stands for hardware several devices share; holding "
                  "it means owning that hardware.")
        return driver.controller

    def _controller(self, driver: DriverObject) -> ControllerObject:
        controller = driver.controller
        if controller is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{driver.name} has no "
                          "controller object: call IoCreateController in DriverEntry first")
        return controller

    def allocate_controller(self, driver: DriverObject, device: DeviceObject,
                            irp: Irp | None) -> None:
        """IoAllocateController: ControllerControl runs now if the controller is free, or
        when the device holding it calls IoFreeController."""
        controller = self._controller(driver)
        if controller.owner is not None:
            controller.waiting.append((device, irp))
            self.emit("Io", "controller", f"IoAllocateController: the controller is busy with "
                      f"{controller.owner.label}; {device.label} waits "
                      f"({len(controller.waiting)} waiting)", "Two devices on one controller "
                      "cannot both use it: the second waits its turn.")
            return
        self._grant_controller(controller, device, irp)

    def _grant_controller(self, controller: ControllerObject, device: DeviceObject,
                          irp: Irp | None) -> None:
        controller.owner = device
        self.emit("Io", "controller", f"{device.label} holds the controller: "
                  f"{device.driver.name}!ControllerControl runs"
                  + (f" for IRP {irp.number}" if irp is not None else ""))
        if irp is not None:
            irp.record(f"IRP {irp.number} → {device.driver.name}!ControllerControl "
                       f"(holds the controller) at {self.irql_here()}")
        self.call_routine(device.driver, "ControllerControl", irp, device)

    def free_controller(self, driver: DriverObject, device: DeviceObject) -> None:
        """IoFreeController: the next waiting device gets the controller."""
        controller = self._controller(driver)
        if controller.owner is not device:
            holder = controller.owner.label if controller.owner else "no device"
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{device.label} frees "
                          f"{driver.name}'s controller, which {holder} holds")
        self.emit("Io", "controller", f"IoFreeController: {device.label} releases "
                  "the controller" + (f"; {controller.waiting[0][0].label} is next"
                                      if controller.waiting else ""))
        controller.owner = None
        if controller.waiting:
            self._grant_controller(controller, *controller.waiting.pop(0))

    # ------------------------------------------------------------- IRPs

    def send_irp(self, device: DeviceObject, major: str, minor: str | None = None) -> Irp:
        """A kernel-mode client builds an IRP (IoAllocateIrp) and calls the top of the stack.
        The client is a work item in a System worker thread, at PASSIVE_LEVEL: if a driver
        returns to it at a raised IRQL, the worker stops the machine with 0xE1
        WORKER_THREAD_RETURNED_AT_BAD_IRQL (the routine, the IRQL, its parameter, the work
        item; https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xe1--worker-thread-returned-at-bad-irql)."""
        self.core.require_running()
        top = device.top()
        irp = self.build_irp(top, major, minor)
        status = self.call_driver(top, irp)
        irql = self.core.processors[self.core.cpu_context].irql
        if irql > Irql.PASSIVE_LEVEL:
            self.bugcheck(BugCheck.WORKER_THREAD_RETURNED_AT_BAD_IRQL,
                          (TEST_CLIENT_ROUTINE, irql, irp.address, TEST_CLIENT_WORK_ITEM),
                          driver=self.ke.irql_raised_by or "ntoskrnl.exe",
                          routine="ExpWorkerThread",
                          rule=f"The test client's work item returned at IRQL {irql} "
                          f"({irql_name(irql)}): a driver it called returned without lowering "
                          "the IRQL it raised (a spin lock still held?). A worker thread must "
                          "be back at PASSIVE_LEVEL after each work item.",
                          fix="On every path out of a dispatch routine, release each spin lock "
                          "and undo each KeRaiseIrql.")
        self.emit("Io", "irp", "IoCallDriver returns {} to the client{}", args=(
            format_status(status), "; the IRP is still in progress"
            if status == STATUS_PENDING and not irp.completed else ""))
        self.ke.dispatch()  # a requester readied by a completion APC (another IRP's) runs
        return irp

    def build_irp(self, device: DeviceObject, major: str, minor: str | None = None) -> Irp:
        """IoAllocateIrp(StackSize of the top device) with the first location filled in. A
        PnP or power IRP starts as STATUS_NOT_SUPPORTED, as whoever sends one must set it: a
        driver that does nothing with it then passes that on unchanged."""
        top = device.top()
        irp = self._allocate_irp(top.stack_size)
        if major in ("IRP_MJ_PNP", "IRP_MJ_POWER"):
            irp.status = NtStatus.STATUS_NOT_SUPPORTED
        first = irp.stack[-1]
        first.major, first.minor = major, minor
        self.emit("Io", "irp", "IRP {} allocated: {}{}, {} stack location(s)",
                  "An IRP has one stack location for each device it will pass through.",
                  args=(irp.number, major, f"/{minor}" if minor else "", top.stack_size))
        return irp

    def _allocate_irp(self, stack_size: int, *, master: Irp | None = None,
                      owner: DriverObject | None = None, code: int | None = None) -> Irp:
        """IoAllocateIrp: a numbered IRP with StackSize empty locations, in progress."""
        self.irp_count += 1
        irp = Irp(self.irp_count, self.core.allocate_address(0x118),
                  [IoStackLocation() for _ in range(stack_size)], stack_size,
                  created_tick=self.core.tick, master=master, owner=owner, code=code)
        self.irps[irp.number] = irp
        return irp

    def free_irp(self, irp: Irp, status: int) -> None:
        """IoFreeIrp: the IRP is gone; only its number and final status are remembered, for
        the latest FINISHED_KEEP of them (`expect irp N status`)."""
        irp.completed = True
        self.irps.pop(irp.number, None)
        major = irp.stack[-1].major
        assert major is not None  # whoever allocates an IRP fills in its first location
        # tuple.__new__ makes the record without the NamedTuple's Python-level __new__
        self.finished_irps[irp.number] = tuple.__new__(FinishedIrp, (irp.number, major, status,
                                                                     True))
        if len(self.finished_irps) > FINISHED_KEEP:
            self.finished_irps.popitem(last=False)

    def call_driver(self, device: DeviceObject, irp: Irp) -> int:
        """IoCallDriver: move to the next stack location and call that device's driver."""
        if self.nested_calls >= MAX_NESTED_CALLS:
            self._too_deep(device, irp)
        irp.current -= 1
        if irp.current < 0:
            self._no_location_left(irp)
        location = irp.stack[irp.current]
        location.device = device
        irp.reached.append(device)
        irp.taken_back = False
        if location.major is None:
            self._next_location_not_set(irp, location)
        driver = device.driver
        irp.record("IRP {} ↓ {} ({} {}) at {}", irp.number, device.label, driver.image,
                   location.major, self.irql_here())
        self.emit("Io", "irp-down", "IRP {} ↓ {} ({} {})", "Going down the stack, each driver "
                  "sees the IRP in its own stack location.",
                  args=(irp.number, device.label, driver.image, location.major))
        irp.calls += 1
        self.nested_calls += 1
        try:
            status = self._dispatch(driver, device, location, irp)
        finally:
            irp.calls -= 1
            self.nested_calls -= 1
        irp.record("IRP {} ← {}: {} returns {}", irp.number, device.label, driver.name,
                   status_name(status))
        return status

    def _no_location_left(self, irp: Irp) -> NoReturn:
        """IoCallDriver with CurrentLocation already at the last location: 0x35."""
        upper = irp.stack[0] if irp.stack else None  # the caller's location
        self.bugcheck(BugCheck.NO_MORE_IRP_STACK_LOCATIONS, (irp.address, 0, 0, 0),
                      driver=upper.device.driver.image if upper and upper.device else "",
                      routine="IoCallDriver",
                      rule="The IRP had no stack location left for the lower device: the "
                      "stack is deeper than the StackSize the IRP was allocated with.",
                      fix="Allocate IRPs with the StackSize of the top device; a filter "
                      "must attach before IRPs are built for the stack.")

    def _next_location_not_set(self, irp: Irp, location: IoStackLocation) -> None:
        """IoCallDriver moved to a location the caller did not fill in: the lower driver
        reads what the caller's own location says (the model copies it down)."""
        upper = irp.stack[irp.current + 1] if irp.current + 1 < len(irp.stack) else None
        if upper is None:
            return
        assert upper.device is not None  # the IRP came down through upper: it is set
        self.emit("Io", "rule", f"{upper.device.driver.name} called IoCallDriver without "
                  "setting up the next stack location (IoSkipCurrentIrpStackLocation or "
                  "IoCopyCurrentIrpStackLocationToNext): the lower driver sees garbage",
                  irql=Irql.PASSIVE_LEVEL)
        location.major, location.minor = upper.major, upper.minor

    def _too_deep(self, device: DeviceObject, irp: Irp) -> None:
        """One IoCallDriver too many inside the others: the kernel stack would overflow.
        The model stops the request with an error (the step that called is named by _run).
        Windows would stop the machine: a kernel stack overflow is a double fault, bugcheck
        0x7F UNEXPECTED_KERNEL_MODE_TRAP with Arg1 8 (EXCEPTION_DOUBLE_FAULT); a later
        change is to bugcheck here instead."""
        self.emit("Io", "rule", f"IRP {irp.number} to {device.label}: {MAX_NESTED_CALLS} "
                  "IoCallDriver calls are already running inside one another; the kernel "
                  "stack would overflow, so the model stops this request",
                  "A completion routine that sends the IRP down again (IoCallDriver) runs "
                  "inside the IoCompleteRequest of the driver below: do it again and again and "
                  "the kernel stack runs out. Retry from a work item, or return "
                  "STATUS_MORE_PROCESSING_REQUIRED and send it from the dispatch routine.")
        raise NtError(NtStatus.STATUS_STACK_OVERFLOW, f"IoCallDriver(IRP {irp.number}) would "
                      f"nest {MAX_NESTED_CALLS + 1} calls deep: kernel stack overflow; the "
                      "request is stopped")

    def _dispatch(self, driver: DriverObject, device: DeviceObject, location: IoStackLocation,
                  irp: Irp) -> int:
        """The driver's dispatch routine for the location's major (or minor) function."""
        major = location.major
        assert major is not None  # set by who built the IRP, or copied down by call_driver
        calls = None
        switch = False  # its [ioctl] table decides (after the checks below)
        spec = driver.spec
        if spec is not None:
            table = spec.pdo_routines if device.is_pdo else spec.routines
            calls = (table.get(location.minor) if location.minor else None) or table.get(major)
            switch = major == "IRP_MJ_DEVICE_CONTROL" and bool(spec.ioctls) and \
                not device.is_pdo
        if calls is None and device.is_pdo and location.major in ("IRP_MJ_PNP", "IRP_MJ_POWER"):
            self.emit("Io", "irp", f"{driver.name} (the bus driver) has nothing to do for "
                      f"{location.minor} at its PDO: it completes the IRP as it is")
            self.complete_request(irp, irp.status, driver)
            return irp.status
        if calls is None and not switch:
            self.emit("Io", "irp", f"{driver.name} has no {location.major} routine: "
                      "IopInvalidDeviceRequest completes it")
            self.complete_request(irp, NtStatus.STATUS_INVALID_DEVICE_REQUEST, driver)
            return NtStatus.STATUS_INVALID_DEVICE_REQUEST
        refused = self.pnp.fails_new_request(device, major)  # a surprise-removed device
        if refused is not None:
            status, reason = refused
            self.emit("Io", "irp", reason)
            self.complete_request(irp, status, driver)
            return status
        if switch:
            calls = self._ioctl_case(driver, irp, calls)
        if calls is None:  # the switch has neither a case nor a default for the code
            self.complete_request(irp, NtStatus.STATUS_INVALID_DEVICE_REQUEST, driver)
            return NtStatus.STATUS_INVALID_DEVICE_REQUEST
        return self.run_routine(driver, major, calls, irp, device)

    def _ioctl_case(self, driver: DriverObject, irp: Irp,
                    default: list[Call] | None) -> list[Call] | None:
        """The driver's switch on IoControlCode: its [ioctl] case for the code, else its
        IRP_MJ_DEVICE_CONTROL routine (the default: case); None: neither, and the driver
        gives a code it does not know the usual answer, STATUS_INVALID_DEVICE_REQUEST."""
        assert driver.spec is not None  # the caller looked at its [ioctl] table
        code = irp.code
        case = driver.spec.ioctls.get(code) if code is not None else None
        what = (f"IoControlCode {code:#x} = {describe_ioctl(code)}" if code is not None
                else "no IoControlCode")
        if case is not None:
            self.emit("Io", "ioctl", f"{driver.name}: switch on {what}: its case for {code:#x} "
                      "runs", "The control code's two low bits are the transfer method and "
                      "bits 14-15 the access the caller's handle needs.")
            return case
        if default is not None:
            self.emit("Io", "ioctl", f"{driver.name}: switch on {what}: no case for it; the "
                      "default branch runs")
            return default
        self.emit("Io", "ioctl", f"{driver.name}: switch on {what}: no case for it, no "
                  "default: it completes the IRP with STATUS_INVALID_DEVICE_REQUEST")
        return None

    # ------------------------------------------------------------- cancel-safe queues

    def csq_initialize(self, driver: DriverObject, device: DeviceObject) -> None:
        """IoCsqInitialize: the device's cancel-safe queue (its callbacks are the I/O
        manager's here: insert at the tail, remove from the head, complete a cancelled IRP
        with STATUS_CANCELLED)."""
        self.csqs[device] = []
        self.emit("Io", "csq", f"{driver.name}: IoCsqInitialize for {device.label}: a "
                  "cancel-safe queue", "The queue sets and clears the cancel routine itself, "
                  "under its lock: the races of IoSetCancelRoutine cannot happen.")

    def _csq(self, driver: DriverObject, device: DeviceObject | None) -> list[Irp]:
        queue = self.csqs.get(device) if device is not None else None
        if queue is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} has no cancel-safe "
                          "queue on this device: call IoCsqInitialize first")
        return queue

    def csq_insert(self, driver: DriverObject, device: DeviceObject | None, irp: Irp) -> None:
        """IoCsqInsertIrp: marks the IRP pending, queues it, makes it cancelable (the caller
        returns STATUS_PENDING)."""
        queue = self._csq(driver, device)
        assert device is not None  # _csq found its queue
        location = irp.location
        if location is not None:
            location.pending = True
        irp.cancel_routine = Completion(driver, CSQ_CANCEL, device)
        queue.append(irp)
        self.emit("Io", "csq", f"{driver.name}: IoCsqInsertIrp(IRP {irp.number}): marked pending "
                  f"and queued ({len(queue)} in {device.label}'s queue), cancelable")

    def csq_remove_next(self, driver: DriverObject, device: DeviceObject | None) -> Irp | None:
        """IoCsqRemoveNextIrp: the next IRP not cancelled, its cancel routine cleared; None
        when the queue is empty."""
        queue = self._csq(driver, device)
        if not queue:
            self.emit("Io", "csq", f"{driver.name}: IoCsqRemoveNextIrp returns NULL: the queue "
                      "is empty")
            return None
        irp = queue.pop(0)
        irp.cancel_routine = None
        self.emit("Io", "csq", f"{driver.name}: IoCsqRemoveNextIrp returns IRP {irp.number} "
                  f"({len(queue)} left): no longer cancelable, the driver finishes it")
        return irp

    def _csq_cancel(self, owner: Completion, irp: Irp) -> None:
        """The queue's own cancel routine: out of the queue, then CsqCompleteCanceledIrp."""
        queue = self.csqs.get(owner.device, [])
        if irp in queue:
            queue.remove(irp)
        self.release_cancel_spin_lock(owner.driver, "IoCsqCancel")
        self.emit("Io", "cancel", f"the cancel-safe queue of {owner.device.label} removes IRP "
                  f"{irp.number} and calls {owner.driver.name}'s CsqCompleteCanceledIrp, which "
                  "completes it with STATUS_CANCELLED")
        self.complete_request(irp, NtStatus.STATUS_CANCELLED, owner.driver)
        self.ke.dispatch()

    # ------------------------------------------------------------- remove locks

    def initialize_remove_lock(self, driver: DriverObject, device: DeviceObject) -> None:
        """IoInitializeRemoveLock: in AddDevice, for the device the driver just created."""
        device.remove_lock = RemoveLock()
        self.emit("Io", "remove-lock", f"{driver.name}: IoInitializeRemoveLock for "
                  f"{device.label} (count 1)", "A remove lock counts the requests a driver is "
                  "working on, so that IRP_MN_REMOVE_DEVICE can wait for them before the device "
                  "goes.")

    def _remove_lock(self, driver: DriverObject, device: DeviceObject | None) -> RemoveLock:
        lock = device.remove_lock if device is not None else None
        if device is None or lock is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} has no remove lock "
                          "on this device: call IoInitializeRemoveLock in AddDevice first")
        return lock

    def acquire_remove_lock(self, driver: DriverObject, device: DeviceObject | None) -> int:
        """IoAcquireRemoveLock: STATUS_SUCCESS and one more holder, or STATUS_DELETE_PENDING
        once IoReleaseRemoveLockAndWait was called (ReactOS ntoskrnl/io/iomgr/remlock.c)."""
        lock = self._remove_lock(driver, device)
        assert device is not None  # _remove_lock found its lock
        if lock.removed:
            self.emit("Io", "remove-lock", f"{driver.name}: IoAcquireRemoveLock on "
                      f"{device.label} fails: STATUS_DELETE_PENDING, the device is being "
                      "removed")
            return NtStatus.STATUS_DELETE_PENDING
        lock.count += 1
        self.emit("Io", "remove-lock", f"{driver.name}: IoAcquireRemoveLock on {device.label} "
                  f"(count {lock.count})")
        return NtStatus.STATUS_SUCCESS

    def release_remove_lock(self, driver: DriverObject, device: DeviceObject | None,
                            wait: bool = False) -> None:
        """IoReleaseRemoveLock, or IoReleaseRemoveLockAndWait: marks the lock removed, drops
        the caller's hold and the initial bias, and waits until no one holds it."""
        lock = self._remove_lock(driver, device)
        assert device is not None  # _remove_lock found its lock
        # the initial bias of 1 stays until IoReleaseRemoveLockAndWait takes it
        left = lock.count - (2 if wait else 1)
        if (wait and lock.removed) or left < (0 if lock.removed or wait else 1):
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} releases the remove "
                          f"lock of {device.label} more often than it acquired it")
        lock.count -= 2 if wait else 1
        lock.removed = lock.removed or wait
        api = "IoReleaseRemoveLockAndWait" if wait else "IoReleaseRemoveLock"
        self.emit("Io", "remove-lock", f"{driver.name}: {api} on {device.label} (count "
                  f"{lock.count})" + (": no request holds it, the removal goes on"
                                      if wait and lock.count == 0 else ""))
        if wait and lock.count:
            raise NtError(NtStatus.STATUS_NOT_IMPLEMENTED, f"{driver.name}: "
                          f"IoReleaseRemoveLockAndWait would wait for {lock.count} request(s) "
                          f"still holding the remove lock of {device.label}; a driver routine in "
                          "the model runs to its end, so complete them first")

    # ------------------------------------------------------------- work items

    def allocate_work_item(self, driver: DriverObject, routine: str) -> None:
        """IoAllocateWorkItem: one more IO_WORKITEM the driver holds."""
        self.work_item_count[driver.name] = self.work_item_count.get(driver.name, 0) + 1
        self.emit("Io", "work-item", f"{driver.name}!{routine}: IoAllocateWorkItem "
                  f"({self.work_item_count[driver.name]} allocated)")

    def queue_work_item(self, driver: DriverObject, routine: str, work: str,
                        device: DeviceObject | None, irp: Irp | None) -> None:
        """IoQueueWorkItem: Ex queues it; a System worker thread calls the driver's routine
        at PASSIVE_LEVEL (the I/O manager holds a reference on the device until then)."""
        if not self.work_item_count.get(driver.name):
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} queues a work "
                          "item it never allocated: call IoAllocateWorkItem first")
        self.work_requests.append((driver, work, device, irp))
        number = len(self.work_requests)
        self.ex.queue_work_item(driver, [Step("io-work", number, f"{driver.name}!{work}")],
                                by=f"{driver.name}!{routine} (IoQueueWorkItem {work})")

    def run_work_item(self, number: int) -> None:
        """A System worker thread runs the driver's work routine, at PASSIVE_LEVEL."""
        driver, work, device, irp = self.work_requests[number - 1]
        if driver.unloaded:  # its image is gone: the worker calls into nothing
            self.bugcheck(BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
                          (routine_address(driver, work), 0, 0, 0), driver=driver.image,
                          routine=work, rule=f"{driver.name} queued work item routine {work} "
                          "and unloaded before a worker thread ran it: the worker called into "
                          "memory that no longer holds the driver.",
                          fix="Wait for your work items to finish before unloading "
                          "(IoQueueWorkItem holds a reference on the device object for this).")
        assert driver.spec is not None  # it queued the routine from a step of its spec
        context = irp if irp is not None and not irp.completed else None
        self.emit("Io", "work-item", f"the worker thread calls {driver.name}!{work} at "
                  "PASSIVE_LEVEL" + (f" for IRP {context.number}" if context else ""))
        self.run_routine(driver, work, driver.spec.work_routines[work], context, device)

    def free_work_item(self, driver: DriverObject, routine: str) -> None:
        """IoFreeWorkItem."""
        if not self.work_item_count.get(driver.name):
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{driver.name} frees a work item "
                          "it does not hold")
        self.work_item_count[driver.name] -= 1
        self.emit("Io", "work-item", f"{driver.name}!{routine}: IoFreeWorkItem")

    def call_routine(self, driver: DriverObject, routine: str, irp: Irp | None,
                     device: DeviceObject | None) -> int:
        """Run the driver's routine of that name (DriverEntry, AddDevice, StartIo, ISR, ...);
        a driver whose spec has none does nothing there."""
        steps = driver.spec.routines.get(routine, []) if driver.spec is not None else []
        return self.run_routine(driver, routine, steps, irp, device)

    def run_routine_at(self, before: int, driver: DriverObject, routine: str,
                       irp: Irp | None, device: DeviceObject | None) -> None:
        """Run the driver's routine at the IRQL its caller raised to (an ISR, a DPC,
        StartIo, ...); a step that fails (an error, not a bugcheck) leaves the processor at
        the IRQL it had before, as the routine's return would."""
        outer = self.stack
        if routine in OWN_STACK_ROUTINES:  # an ISR or a DPC: its processor's own stack
            kind = "interrupt" if routine in INTERRUPT_ROUTINES else "DPC"
            cpu = self.core.processors[self.core.cpu_context].number
            self.stack = KernelStack(f"the {kind} stack of CPU{cpu}", STACK_BASE[kind],
                                     self.nested_routines, watch=self.nested_routines)
        try:
            self.call_routine(driver, routine, irp, device)
        except NtError:
            self.ke.lower_irql(before)
            raise
        finally:
            self.stack = outer

    def run_routine(self, driver: DriverObject, routine: str, calls: list[Call], irp: Irp | None,
                    device: DeviceObject | None, last: int = NtStatus.STATUS_SUCCESS,
                    frame: Frame | None = None, taken: bool = False) -> int:
        """Interpret a routine's DDI steps (steps.py); returns the routine's NTSTATUS. Each
        step is checked against its DDI's IRQL limit, and one that works on an IRP needs one;
        it returns what the routine would return if it ended there (None: as it was).
        `last`: what the last step that returns a status returned (a callback given a status,
        such as a PowerCompletion routine, starts with it); `frame` and `taken` (whether the
        last `if` step's condition held): a routine going on after a wait (_suspend) keeps
        its own."""
        if self.nested_routines >= MAX_NESTED_ROUTINES:
            raise NtError(NtStatus.STATUS_STACK_OVERFLOW, f"{driver.name}!{routine} would run "
                          f"inside {MAX_NESTED_ROUTINES} other driver routines (a completion "
                          "routine starting the next packet, which completes and starts the "
                          "next ...): kernel stack overflow; the request is stopped")
        fresh = frame is None
        if frame is None:
            frame = Frame(driver, routine, irp, device, irp, 0 if irp is None else irp.current)
        core = self.core
        self.nested_routines += 1
        spec = driver.spec
        locals_ = spec.stack.get(routine, 0) if spec is not None and spec.stack else 0
        try:
            if locals_ or self.nested_routines > self.stack.watch:
                self.push_stack(driver, routine, locals_)
            if fresh and driver.spec is not None and routine in driver.spec.pageable:
                try:  # the processor fetches its first instruction: the page may fault
                    self.mm.system_fault(routine_address(driver, routine),
                                         core.processors[core.cpu_context].irql, driver,
                                         routine, 8)
                except HardFault as fault:
                    self._suspend(frame, calls, last, taken, self._page_in(fault))
                    return STATUS_PENDING
            for number, call in enumerate(calls, start=1):
                try:
                    if call.condition is not None:
                        taken = condition_holds(call.condition, frame, last)
                        self.emit("Io", "branch", f"{driver.name}!{routine}: "
                                  f"{call.text.partition(':')[0]} → {'yes' if taken else 'no'}")
                        if not taken:
                            continue
                    elif call.otherwise and taken:
                        continue
                    ddi = DDIS[call.ddi]
                    limit = call.limit
                    if limit is not None:
                        if limit == DIRQL:
                            limit = step_limit(limit, device)
                        if limit is not None and core.processors[core.cpu_context].irql > limit:
                            if ddi.irql_check is not None:  # its own bugcheck comes first
                                ddi.irql_check(self, frame, call, last)
                            self.irql_too_high(driver, routine, call, limit)
                    if ddi.needs_irp and frame.irp is None:
                        raise no_irp(frame)
                    result = ddi.run(self, frame, call, last)
                except RoutineWaits as wait:
                    self._suspend(frame, calls[number - 1 if wait.restart else number:], last,
                                  taken, wait)
                    return STATUS_PENDING
                except HardFault as fault:  # the step runs again once its page is in
                    self._suspend(frame, calls[number - 1:], last, taken, self._page_in(fault))
                    return STATUS_PENDING
                except NtError as error:
                    error.where = error.where or f"{driver.name}!{routine}, step {number} '{call}'"
                    raise
                if result is not None:
                    last = result
                if call.ddi == "return":
                    return last
            return last
        finally:
            self.nested_routines -= 1
            self.stack.locals -= locals_

    @property
    def stack_used(self) -> int:
        """Bytes of the current kernel stack in use: what was there, a frame per routine
        running on it, and their declared locals."""
        stack = self.stack
        return stack.base + (self.nested_routines - stack.depth0) * ROUTINE_FRAME + stack.locals

    def push_stack(self, driver: DriverObject, routine: str, locals_: int) -> None:
        """A routine deeper than any before on this stack, or one with declared locals: the
        stack's use is measured. Past KERNEL_STACK_SIZE the push that made it so landed on
        the guard page below the stack, and the trap that follows cannot even push its own
        frame: a double fault, bug check 0x7F with parameter 1 = 8
        (https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x7f--unexpected-kernel-mode-trap:
        "A kernel stack overflow. This overflow occurs when a guard page is hit, and the
        kernel tries to push a trap frame")."""
        stack = self.stack
        stack.locals += locals_
        stack.watch = max(stack.watch, self.nested_routines)
        used = self.stack_used
        owner = self.current_stack()
        if isinstance(owner, Thread):
            owner.kernel_stack_peak = max(owner.kernel_stack_peak, used)
        if used <= stack.limit:
            return
        size = ROUTINE_FRAME + locals_
        where = owner.label if isinstance(owner, Thread) else owner
        self.bugcheck(BugCheck.UNEXPECTED_KERNEL_MODE_TRAP, (8, 0, 0, 0),
                      driver=driver.image, routine=routine,
                      rule=f"{driver.name}!{routine} needed {size} more bytes of "
                      f"{where}'s kernel stack" + (f" ({locals_} of them its own locals)"
                                                    if locals_ else "")
                      + f", which was full: {used - size} of {stack.limit} bytes in use, "
                      f"{self.nested_routines} driver routines deep. The push hit the guard "
                      "page; the trap that followed had no stack to push its own frame on: a "
                      "double fault.",
                      fix="Kernel stacks are small (24 KB on x64) and shared by every driver "
                      "in the call chain: keep locals small and allocate buffers from pool; do "
                      "not recurse (a completion routine that sends the IRP again, a filter "
                      "that calls back into its own stack); hand deep work to a work item; "
                      "check IoGetRemainingStackSize, or use KeExpandKernelStackAndCallout.")

    def expand_stack_and_callout(self, driver: DriverObject, routine: str, callout: str,
                                 size: int, irp: Irp | None,
                                 device: DeviceObject | None) -> int:
        """KeExpandKernelStackAndCallout(Callout, Parameter, Size): with Size bytes left on
        the current stack the callout runs there; otherwise on a new kernel stack segment of
        KERNEL_LARGE_STACK_SIZE ("If there is not enough space available on the stack,
        KeExpandKernelStackAndCallout allocates a new kernel stack segment", its WDK page)."""
        assert driver.spec is not None  # a step of its spec names the callout
        left = self.stack.limit - self.stack_used
        owner = self.current_stack()
        where = owner.label if isinstance(owner, Thread) else owner
        if left >= size:
            self.emit("Io", "stack", f"{driver.name}!{routine}: KeExpandKernelStackAndCallout"
                      f"({callout}, {size}): {left} bytes are left on {where}, enough: the "
                      "callout runs there")
            self.run_routine(driver, callout, driver.spec.callouts[callout], irp, device)
            return NtStatus.STATUS_SUCCESS
        self.emit("Io", "stack", f"{driver.name}!{routine}: KeExpandKernelStackAndCallout"
                  f"({callout}, {size}): only {left} bytes are left on {where}: a new kernel "
                  f"stack segment of {KERNEL_LARGE_STACK_SIZE} bytes, and {callout} runs on it",
                  "The callout gets a stack of its own; when it returns, the thread goes back "
                  "to its own stack, where it left off.")
        outer, self.stack = self.stack, KernelStack(
            f"a large stack segment of {where}", 0, self.nested_routines,
            watch=self.nested_routines, limit=KERNEL_LARGE_STACK_SIZE)
        try:
            self.run_routine(driver, callout, driver.spec.callouts[callout], irp, device)
        finally:
            self.stack = outer
        return NtStatus.STATUS_SUCCESS

    def current_stack(self) -> object:
        """Whose kernel stack driver code runs on now: a processor's DPC or interrupt stack,
        or the thread's whose system call it serves, or else the current thread's."""
        if self.stack.owner is not None:
            return self.stack.owner
        cpu = self.core.processors[self.core.cpu_context]
        return self.files.syscall_thread or cpu.current_thread

    def thread_stack_entered(self) -> None:
        """A system call enters the kernel on its thread's stack: measure it afresh."""
        self.stack.watch = 0

    def remaining_stack(self, driver: DriverObject, routine: str) -> None:
        """IoGetRemainingStackSize: the bytes left on the current kernel stack."""
        owner, used, limit = self.current_stack(), self.stack_used, self.stack.limit
        where = owner.label if isinstance(owner, Thread) else owner
        self.emit("Io", "stack", f"{driver.name}!{routine}: IoGetRemainingStackSize → "
                  f"{limit - used} bytes ({used} of {limit} in use on {where})",
                  "A driver that recurses, or calls down a deep stack, checks first and takes "
                  "another path (a work item) when little is left.")

    def _page_in(self, fault: HardFault) -> RoutineWaits:
        """A routine's hard fault: the paging read goes down the disk stack (IoPageRead), and
        the routine waits for it (MiWaitForInPageComplete) on an event its completion sets."""
        event = KEvent(self.ob.header("Event"), 0)

        def done(status: int) -> None:
            fault.done(status)
            self.ke.set_event(event, by_label="the paging read's completion")

        # the routine's thread waits in the routine, as any of its waits is modelled (_suspend)
        number = self.files.page_read(None, fault.path, fault.offset, done)
        event.header.name = f"the in-page event of IRP {number}"
        return RoutineWaits(event, f"IRP {number}", text=f"{fault.what}: a hard fault; the "
                            f"paging read is IRP {number}", restart=True)

    def _suspend(self, frame: Frame, rest: list[Call], last: int, taken: bool,
                 wait: RoutineWaits) -> None:
        """KeWaitForSingleObject in a routine, below DISPATCH_LEVEL, on an object not yet
        signaled: the thread the routine runs in waits there (Executive) until the object is
        signaled, then the routine goes on. Simplified: the interpreter cannot stop in the
        middle of a routine, so to the caller the routine returns STATUS_PENDING with its
        stack location marked pending — what a driver above, and the I/O manager, would see
        of a request still in progress — and the rest of its steps run once the object is
        signaled, in the next dispatch."""
        driver, routine = frame.driver, frame.routine
        given = frame.given
        if given is not None and frame.here < len(given.stack):
            given.stack[frame.here].pending = True
        thread = self.files.syscall_thread
        who = thread.label if thread is not None else "its thread"
        what = wait.text or f"KeWaitForSingleObject({wait.name}): not signaled"
        self.emit("Ke", "wait", f"{driver.name}!{routine}: {what}; {who} waits in the "
                  "routine (Executive) until it is done",
                  "A dispatch routine at PASSIVE_LEVEL may wait: its caller's thread blocks "
                  "there. (The model hands its caller STATUS_PENDING meanwhile, and runs the "
                  "rest of the routine when the object is signaled.)")

        def resume() -> None:
            done = f"the paging read ({wait.name}) is done" if wait.restart else \
                f"{wait.name} is signaled"
            after = "where it faulted" if wait.restart else "after its KeWaitForSingleObject"
            self.emit("Ke", "wake", f"{done}: {driver.name}!{routine} goes on {after}, in "
                      f"{who}, at PASSIVE_LEVEL")
            status = self.run_routine(driver, routine, rest, frame.irp, frame.device, last,
                                      frame, taken)
            self.emit("Io", "irp", f"{driver.name}!{routine} ends, returning "
                      f"{status_name(status)} (its caller was handed STATUS_PENDING)")

        self.ke.suspend_routine(wait.obj, resume)

    def held_irp(self, driver: DriverObject, device: DeviceObject | None) -> Irp | None:
        """In a DPC (no IRP at hand): the one the device is working on, or the oldest this
        driver holds pended."""
        if device is None:
            return None
        held = [i for i in self.irps.values() if (at := i.holder) is not None
                and at.driver is driver and i not in at.queue]  # queued: not started
        return device.current_irp or next(
            (i for i in held if i.holder is device), held[0] if held else None)

    def start_packet(self, device: DeviceObject, irp: Irp) -> None:
        """IoStartPacket: StartIo at once if the device is idle, else into its device queue."""
        if device.current_irp is not None:
            device.queue.append(irp)
            self.emit("Io", "queue", f"{device.label} is busy with IRP {device.current_irp.number}:"
                      f" IoStartPacket queues IRP {irp.number} in its device queue "
                      f"({len(device.queue)} waiting)", "System-queued I/O: the I/O manager "
                      "keeps the IRPs a device cannot take yet and feeds StartIo one at a time.")
            return
        self._start_io(device, irp)

    def start_next_packet(self, device: DeviceObject) -> None:
        """IoStartNextPacket: the next queued IRP to StartIo, or the device goes idle."""
        device.current_irp = None
        if not device.queue:
            self.emit("Io", "queue", f"IoStartNextPacket: {device.label}'s device queue is "
                      "empty; the device is idle")
            return
        self._start_io(device, device.queue.pop(0))

    def _start_io(self, device: DeviceObject, irp: Irp) -> None:
        device.current_irp = irp
        before = self.ke.raise_irql(Irql.DISPATCH_LEVEL)
        self.emit("Io", "start-io", f"{device.driver.name}!StartIo starts IRP {irp.number} on "
                  f"{device.label} at DISPATCH_LEVEL", "StartIo runs one request at a time: it "
                  "programs the device, which interrupts when it is done.")
        irp.record(f"IRP {irp.number} → {device.driver.name}!StartIo at DISPATCH_LEVEL")
        self.run_routine_at(before, device.driver, "StartIo", irp, device)
        self.ke.lower_irql(before)

    def _call_unloaded(self, driver: DriverObject, routine: str, irp: Irp,
                       held: bool = False) -> None:
        """Code of a driver whose image is gone is called: the call faults."""
        what = (f"IRP {irp.number} was still held by {driver.name} when it unloaded. When the "
                f"device finished it, its {routine} ran" if held else
                f"IRP {irp.number} was still pending below {driver.name} when {driver.name} "
                f"unloaded, with its completion routine {routine} set. When the IRP "
                "completed, the I/O manager called that routine")
        self.bugcheck(BugCheck.DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
                      (routine_address(driver, routine), 0, IOPF_COMPLETE_REQUEST, 0),
                      driver=driver.image, routine=routine,
                      rule=what + " — in memory that no longer holds the driver.",
                      fix="Before unloading (on IRP_MN_REMOVE_DEVICE), cancel the IRPs you "
                      "sent down (IoCancelIrp) and wait for them to complete; likewise stop "
                      "timers, DPCs and work items.")

    def _report_leaks(self, driver: DriverObject) -> None:
        leaked = self.mm.pool_leaks(driver)
        if leaked and driver.verified:
            self.mm.verifier_stop(driver, "Unload", VERIFIER_UNLOAD_LEAKS,
                                (driver.header.address + 0x38, 0, len(leaked)),
                                f"{driver.name} unloaded with {len(leaked)} pool block(s) it "
                                "never freed.", "Free everything you allocated in Unload (or "
                                "when the device is removed).")
        if leaked:
            tags = ", ".join(sorted({f"'{b.tag}'" for b in leaked}))
            self.emit("Mm", "leak", f"{driver.name} unloads without freeing {len(leaked)} pool "
                      f"block(s), {sum(b.size for b in leaked)} bytes (tag {tags}): that memory "
                      "is lost until the machine restarts", "Pool a driver forgets is never "
                      "given back; Driver Verifier turns this into bugcheck 0xC4 at unload.")

    def irql_here(self) -> str:
        """The name of the IRQL the processor running now is at."""
        core = self.core
        return IRQL_NAMES[core.processors[core.cpu_context].irql]

    def build_device_io_control_request(self, driver: DriverObject, device: DeviceObject | None,
                                        master: Irp, code: int, completion: str) -> int:
        """IoBuildDeviceIoControlRequest(internal) for the device below, a completion routine
        on it, IoCallDriver: the driver's own IRP, serving the one it was given."""
        lower = device.attached_to if device is not None else None
        if device is None or lower is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{driver.name} has no "
                          "device below it to send an IRP to")
        irp = self._allocate_irp(lower.stack_size, master=master, code=code)
        irp.stack[-1] = IoStackLocation("IRP_MJ_INTERNAL_DEVICE_CONTROL", None, None,
                                        Completion(driver, completion, device))
        self.emit("Io", "irp", f"IoBuildDeviceIoControlRequest: {driver.name} builds IRP "
                  f"{irp.number} (IRP_MJ_INTERNAL_DEVICE_CONTROL, {code:#x}) for {lower.label}, "
                  f"{lower.stack_size} stack location(s), with completion routine "
                  f"{driver.name}!{completion}; IRP {master.number} waits for it",
                  "A driver that needs something from the device below often builds an IRP "
                  "of its own rather than passing the one it got.")
        return self.call_driver(lower, irp)

    def allocate_irp(self, driver: DriverObject, device: DeviceObject | None,
                     master: Irp | None, args: tuple[str, ...]) -> Irp:
        """IoAllocateIrp(StackSize, FALSE), then IoGetNextIrpStackLocation(Irp)->MajorFunction:
        no thread owns the IRP, so its driver must take it back in a completion routine
        (STATUS_MORE_PROCESSING_REQUIRED) and free it."""
        lower = device.attached_to if device is not None else None
        if lower is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{driver.name} has no "
                          "device below it to allocate an IRP for")
        size = int(args[1]) if len(args) > 1 else lower.stack_size
        irp = self._allocate_irp(size, master=master, owner=driver)
        irp.stack[-1].major = args[0]
        self.emit("Io", "irp", f"IoAllocateIrp: {driver.name} allocates IRP {irp.number} "
                  f"({args[0]}) with {size} stack location(s) for {lower.label}"
                  + (f", whose stack needs {lower.stack_size}" if size < lower.stack_size
                     else "") + (f"; IRP {master.number} waits for it" if master else ""),
                  "An IRP a driver allocates itself belongs to no thread: the driver sets a "
                  "completion routine, and that routine frees it (IoFreeIrp) and returns "
                  "STATUS_MORE_PROCESSING_REQUIRED so the I/O manager leaves it alone.")
        return irp

    def build_synchronous_fsd_request(self, driver: DriverObject, device: DeviceObject | None,
                                      routine: str, major: str, event: str) -> int:
        """IoBuildSynchronousFsdRequest(MAJOR, the device below, ..., &Event, &IoStatus) and
        IoCallDriver: an IRP for the device below whose completion the I/O manager reports
        by setting the driver's event; returns what IoCallDriver returned (the driver waits
        on the event if that is STATUS_PENDING). Simplified: Windows queues the IRP to the
        caller's thread and sets the event from IopCompleteRequest there."""
        lower = device.attached_to if device is not None else None
        if lower is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST, f"{driver.name} has no "
                          "device below it to build an IRP for")
        self.ke.driver_event(driver, event)  # initialized first (KeInitializeEvent)
        irp = self._allocate_irp(lower.stack_size)
        irp.stack[-1].major = major

        def done(status: int) -> None:
            self.emit("Io", "irp", f"IRP {irp.number} is done: the I/O manager writes "
                      f"{format_status(status)} to {driver.name}'s IO_STATUS_BLOCK and sets "
                      f"its event {event}")
            self.ke.set_driver_event(driver, routine, event)

        irp.on_done = done
        self.emit("Io", "irp", f"IoBuildSynchronousFsdRequest: {driver.name} builds IRP "
                  f"{irp.number} ({major}) for {lower.label}; the I/O manager will set event "
                  f"{event} when it completes; IoCallDriver sends it", "The synchronous "
                  "pattern: send it down and, if IoCallDriver returns STATUS_PENDING, wait on "
                  "the event.")
        return self.call_driver(lower, irp)

    def parent_target(self, driver: DriverObject, pdo: DeviceObject | None) -> DeviceObject:
        """`IoCallDriver parent` from a PDO: the device below the bus driver's own FDO (what
        IoAttachDeviceToDeviceStack returned it: the hub's TopOfStackDeviceObject)."""
        parent = pdo.devnode.parent if pdo is not None and pdo.devnode is not None else None
        fdo = next((d for d in parent.stack() if d.driver is driver), None) if parent else None
        if fdo is None or fdo.attached_to is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{driver.name} has no stack of its own below a PDO to pass this to")
        return fdo.attached_to

    def irql_too_high(self, driver: DriverObject, routine: str, call: Call, limit: int) -> None:
        """Every DDI has a highest IRQL it may be called at (its WDK page's Requirements):
        called above it, the machine stops. `limit` is the step's, DIRQL resolved."""
        cpu = self.core.processor()
        name = f"the device's DIRQL {limit}" if call.limit == DIRQL else irql_name(limit)
        if routine == "ISR":
            fix = ("Do only the minimum in an ISR: acknowledge the device and queue a DPC "
                   "(IoRequestDpc); complete the IRP in the DPC, at DISPATCH_LEVEL.")
        elif limit < Irql.DISPATCH_LEVEL <= cpu.irql:
            fix = (f"Call {call.ddi} at {name} or below: from a DPC or with a spin lock held, "
                   "queue a work item (IoQueueWorkItem), which runs at PASSIVE_LEVEL.")
        else:
            fix = f"Call {call.ddi} only where the IRQL is {name} or lower."
        # Arg4: the address of the code that made the access — the routine (0xA's page,
        # https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xa--irql-not-less-or-equal)
        self.bugcheck(BugCheck.IRQL_NOT_LESS_OR_EQUAL,
                      (PAGEABLE_KERNEL_DATA, cpu.irql, 0, routine_address(driver, routine)),
                      driver=driver.image, routine=routine,
                      rule=f"{call.ddi} may be called at IRQL {limit} ({name}) at most; "
                      f"{driver.name}!{routine} called it at {cpu.irql} ({irql_name(cpu.irql)}). "
                      "Code that runs at too high an IRQL touches memory or locks that need a "
                      "lower one, and the system stops.", fix=fix)

    def io_verifier_stop(self, driver: DriverObject, routine: str, code: int, irp: Irp,
                         problem: str) -> None:
        """Driver Verifier's I/O Verification, for a verified driver: 0xC9
        DRIVER_VERIFIER_IOMANAGER_VIOLATION with the WDM DRIVER ERROR code, the address in the
        driver's code, the IRP and the device (bug check 0xC9's page, "I/O Verification
        errors", https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc9--driver-verifier-iomanager-violation)."""
        if not driver.verified:
            return
        holder = irp.holder
        self.bugcheck(BugCheck.DRIVER_VERIFIER_IOMANAGER_VIOLATION,
                      (code, routine_address(driver, routine), irp.address,
                       holder.header.address if holder is not None else 0),
                      driver=driver.image, routine=routine,
                      rule=f"Driver Verifier's I/O Verification stops the machine (WDM DRIVER "
                      f"ERROR {code:#x}): {driver.name}!{routine} handled IRP {irp.number} "
                      f"wrongly: {problem}",
                      fix="Mark an IRP pending exactly when you return STATUS_PENDING; in a "
                      "completion routine that lets completion go on, call IoMarkIrpPending "
                      "if Irp->PendingReturned is set.")

    def unhandled_exception(self, driver: DriverObject, routine: str, at: int, write: bool,
                            address: int, rule: str, fix: str) -> NoReturn:
        """A driver's access violation that no __try handles. Inside a system service (a
        thread's system call is being carried out) it is 0x3B SYSTEM_SERVICE_EXCEPTION
        (exception code, the faulting instruction, its context record, 0); elsewhere 0x1E
        KMODE_EXCEPTION_NOT_HANDLED (exception code, the instruction, read 0 / write 1, the
        address referenced) — bug check pages 0x3B and 0x1E,
        https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x3b--system-service-exception
        and .../bug-check-0x1e--kmode-exception-not-handled."""
        thread = self.files.syscall_thread
        if thread is not None:
            self.bugcheck(BugCheck.SYSTEM_SERVICE_EXCEPTION,
                          (NtStatus.STATUS_ACCESS_VIOLATION, at,
                           self.core.allocate_address(0x4D0), 0),
                          driver=driver.image, routine=routine,
                          rule=rule + f" It happened inside {thread.label}'s system call, so "
                          "the stop is SYSTEM_SERVICE_EXCEPTION.", fix=fix)
        self.bugcheck(BugCheck.KMODE_EXCEPTION_NOT_HANDLED,
                      (NtStatus.STATUS_ACCESS_VIOLATION, at, int(write), address),
                      driver=driver.image, routine=routine, rule=rule, fix=fix)

    def complete_request(self, irp: Irp, status: int, by: DriverObject) -> None:
        """IoCompleteRequest: walk the stack upward, calling completion routines."""
        if irp.cancel_routine is not None and not irp.completed:
            owner = irp.cancel_routine
            self.bugcheck(BugCheck.CANCEL_STATE_IN_COMPLETED_IRP,
                          (irp.address, routine_address(owner.driver, owner.routine), 0, 0),
                          driver=by.image, routine="IoCompleteRequest",
                          rule=f"IRP {irp.number} was completed with its cancel routine "
                          f"{owner.driver.name}!{owner.routine} still set: a cancel now would "
                          "run it on an IRP that no longer exists.",
                          fix="Clear the cancel routine (IoSetCancelRoutine NULL) before "
                          "completing an IRP you made cancelable; if it returns NULL, the "
                          "cancel routine is already running and will complete the IRP.")
        if irp.completed:
            self.bugcheck(BugCheck.MULTIPLE_IRP_COMPLETE_REQUESTS, (irp.address, 0, 0, 0),
                          driver=by.image, routine="IoCompleteRequest",
                          rule="An IRP was completed twice: after the first completion it "
                          "belongs to the I/O manager (or is freed).",
                          fix="Complete each IRP exactly once; a driver that forwards an IRP "
                          "must not complete it too (unless its completion routine returned "
                          "STATUS_MORE_PROCESSING_REQUIRED).")
        if status == STATUS_PENDING:  # 0xC9's page: parameter 1 = 0x06
            self.emit("Io", "rule", f"{by.name} completes IRP {irp.number} with STATUS_PENDING: "
                      "a completed IRP needs its final status; the requester would be told "
                      "the request is still running", "Rule: IoCompleteRequest takes the final "
                      "status, never STATUS_PENDING.")
            if by.verified:
                self.bugcheck(BugCheck.DRIVER_VERIFIER_IOMANAGER_VIOLATION,
                              (0x06, status, irp.address, 0), driver=by.image,
                              routine="IoCompleteRequest", rule=f"Driver Verifier: {by.name} "
                              "called IoCompleteRequest with a status marked as pending.",
                              fix="Set Irp->IoStatus.Status to the final status first.")
        irp.status = status
        irp.record("IRP {} ✓ {} completes it with {} at {}", irp.number, by.name,
                   status_name(status), self.irql_here())
        self.emit("Io", "irp-complete", "{} completes IRP {} with {}", "Completion runs "
                  "bottom-up: each completion routine set by a driver above runs in turn.",
                  args=(by.name, irp.number, format_status(status)))
        while irp.current < len(irp.stack):
            location = irp.stack[irp.current]
            irp.pending_returned = location.pending
            irp.current += 1
            completion = location.completion
            # IofCompleteRequest reads Irp->IoStatus.Status afresh at every level: a completion
            # routine below may have changed it, and InvokeOnSuccess / InvokeOnError are
            # tested against the status as it is now (ReactOS ntoskrnl/io/iomgr/irp.c,
            # IofCompleteRequest).
            if completion is None or not (
                    (completion.on_success if nt_success(irp.status) else completion.on_error)
                    or (irp.cancel and completion.on_cancel)):
                if irp.pending_returned and irp.current < len(irp.stack):
                    irp.stack[irp.current].pending = True  # propagated for the driver above
                continue
            hop = (f"IRP {irp.number} ↑ {completion.device.label}: completion routine "
                   f"{completion.driver.name}!{completion.routine}"
                   + (" (PendingReturned)" if irp.pending_returned else ""))
            self.emit("Io", "irp-up", hop)  # at the IRQL IoCompleteRequest was called at
            if completion.driver.unloaded:
                self._call_unloaded(completion.driver, completion.routine, irp)
            # the setter ran IoSetCompletionRoutine, a step: it was loaded from a spec
            assert completion.driver.spec is not None
            calls = completion.driver.spec.completions[completion.routine]
            sent, seen, pending = len(irp.reached), irp.status, irp.pending_returned
            result = self.run_routine(completion.driver, completion.routine, calls, irp,
                                      completion.device)
            irp.record(f"{hop} at {self.irql_here()}, returns {status_name(result)}")
            if irp.status != seen:
                self.emit("Io", "irp-status", f"{completion.driver.name}!{completion.routine} "
                          f"changed IRP {irp.number}'s IoStatus.Status from "
                          f"{status_name(seen)} to {status_name(irp.status)}: the completion "
                          "routines above, and the requester, see the new status",
                          "A completion routine may change the outcome on the way up: that is "
                          "one reason drivers set them.")
            if result == STATUS_MORE_PROCESSING_REQUIRED:
                irp.taken_back = True
                self.emit("Io", "irp", f"{completion.driver.name}!{completion.routine} returns "
                          "STATUS_MORE_PROCESSING_REQUIRED: completion stops, the driver owns "
                          f"IRP {irp.number} again")
                return  # CurrentLocation stays the owner's: its IoCompleteRequest goes on up
            if len(irp.reached) != sent:
                # IoCallDriver is the only step that moves CurrentLocation down; without this
                # stop the walk would climb the same locations again, forever if the lower
                # driver pends the IRP each time.
                self.emit("Io", "rule", f"{completion.driver.name}!{completion.routine} sent "
                          f"IRP {irp.number} down again but returned {status_name(result)}: "
                          "a completion routine that reuses the IRP must return "
                          "STATUS_MORE_PROCESSING_REQUIRED. The model stops completing it here; "
                          "Windows would go on up the stack too, and the IRP would be completed "
                          "twice (bugcheck 0x44).",
                          "Rule: once a completion routine passes the IRP on, it is not done "
                          "with it: it must keep the I/O manager from finishing it.")
                return
            if pending and irp.current < len(irp.stack) and not irp.stack[irp.current].pending:
                self._pending_not_propagated(completion, irp)
        if irp.owner is not None:
            self.emit("Io", "rule", f"IRP {irp.number} reached the top of its stack, but "
                      f"{irp.owner.name} allocated it (IoAllocateIrp) and no thread waits for "
                      "it: its completion routine should have freed it (IoFreeIrp) and returned "
                      "STATUS_MORE_PROCESSING_REQUIRED. Windows would now post completion to "
                      "a thread that does not exist.", "Rule: who allocates an IRP frees it.")
        status = irp.status  # the final IoStatus, whatever the routines above made of it
        irp.completed = True
        thread = irp.requester
        if irp.mdl is not None:  # IofCompleteRequest: "Unlock MDL Pages" (ReactOS irp.c)
            self.emit("Io", "buffer", f"IRP {irp.number}: IofCompleteRequest unlocks the "
                      "pages its MDL locked (MmUnlockPages)")
            self.mm.unmap_locked_pages(irp)
            self.mm.unlock_pages(irp.mdl_frames)
            irp.mdl_frames = ()
        if thread is None:  # no thread asked (a kernel client, PnP, power): freed here
            self.finish_request(irp)
            return
        if irp.deferred and not irp.pending_returned:
            # IofCompleteRequest: "Check if we should exit because of a Deferred I/O"
            # (ReactOS ntoskrnl/io/iomgr/irp.c)
            if self.files.syscall_thread is not thread:  # the service returned long ago
                irp.record(f"IRP {irp.number} completed, but nobody finishes it")
                self.emit("Io", "rule", f"IRP {irp.number} is complete, but PendingReturned is "
                          "clear at the top of its stack: a completion routine did not pass "
                          "the pending mark up. IofCompleteRequest leaves the rest to the "
                          "system service — which is past that point: it returned "
                          "STATUS_PENDING, or waits for the file object's event. Nobody "
                          f"copies the data, writes the status or wakes {thread.label}. It "
                          "hangs.", "Rule: every completion routine that lets completion go "
                          "on must call IoMarkIrpPending when Irp->PendingReturned is set.")
                return
            irp.record(f"IRP {irp.number} completed inside its dispatch path: the system "
                       "service finishes it")
            self.emit("Io", "irp", f"IRP {irp.number} was completed before any driver returned "
                      f"STATUS_PENDING: IofCompleteRequest leaves the rest to {thread.label}'s "
                      "system service (IRP_DEFER_IO_COMPLETION), which is still running",
                      "No APC is needed when the requester's own thread is still inside the "
                      "call: the system service finishes the request itself.")
            return
        if thread.state is ThreadState.Terminated:
            self.emit("Io", "irp", f"IRP {irp.number}: the thread that asked for it has ended; "
                      "IopCleanupIrp frees it")
            self.finish_request(irp, requester_gone=True)
            return
        # IofCompleteRequest queues IopCompleteRequest as a special kernel APC to the thread
        # that asked (ReactOS ntoskrnl/io/iomgr/irp.c, IofCompleteRequest)
        irp.record(f"IRP {irp.number} completed with {status_name(status)}: APC "
                   f"IopCompleteRequest queued to {thread.label}")
        self.emit("Io", "irp-apc", f"IRP {irp.number} completed with {format_status(status)} "
                  f"at {self.irql_here()}: IofCompleteRequest queues the special kernel APC "
                  f"IopCompleteRequest to {thread.label}, the thread that asked",
                  "The last part of completion (copying data back to the caller's buffer, "
                  "writing its IO_STATUS_BLOCK, signaling its event) must run in the "
                  "requester's own thread: only there do its user addresses mean its memory.")
        irp.apc_to = thread
        self.ke.insert_queue_apc(
            thread, Apc(ApcKind.SPECIAL_KERNEL, "nt!IopCompleteRequest", f"IRP {irp.number}",
                        lambda: self.finish_request(irp),
                        rundown=lambda: self.finish_request(irp, requester_gone=True)),
            irp.boost, current=thread is self.files.syscall_thread)

    def finish_request(self, irp: Irp, requester_gone: bool = False) -> None:
        """IopCompleteRequest for the thread that asked (in that thread: the completion APC,
        or the system service itself), or the end of an IRP no thread asked for: the
        requester's part is done and the IRP is freed (ReactOS ntoskrnl/io/iomgr/irp.c,
        IopCompleteRequest; IopCleanupIrp when the thread is gone)."""
        status = irp.status
        thread = irp.requester
        self.free_irp(irp, status)  # the model keeps no completed IRP
        if thread is None:
            irp.record("IRP {} done: {} back to the requester", irp.number, status_name(status))
            self.emit("Io", "irp-done", "IRP {} finished: {} goes back to the requester; the "
                      "IRP is freed", args=(irp.number, format_status(status)))
        elif requester_gone:
            self.emit("Io", "irp-done", f"IRP {irp.number} finished: {thread.label} has ended, "
                      "so nobody is told; the IRP is freed")
            return
        else:
            irp.record(f"IRP {irp.number} done in {thread.label}: {status_name(status)} back "
                       "to the caller")
            self.emit("Io", "irp-done", f"IRP {irp.number}: IopCompleteRequest runs in "
                      f"{thread.label} at {self.irql_here()} with {format_status(status)}: it "
                      "finishes the request for the caller and frees the IRP")
        if irp.on_done is not None:
            irp.on_done(status)

    def _pending_not_propagated(self, completion: Completion, irp: Irp) -> None:
        """IoMarkIrpPending's page: a completion routine that does not return
        STATUS_MORE_PROCESSING_REQUIRED must call IoMarkIrpPending when Irp->PendingReturned is
        set. Without it the levels above, and the I/O manager, believe the IRP was finished
        before anyone returned STATUS_PENDING (Driver Verifier: WDM DRIVER ERROR 0x228)."""
        who = f"{completion.driver.name}!{completion.routine}"
        self.emit("Io", "rule", f"{who} let completion of IRP {irp.number} go on with "
                  "Irp->PendingReturned set but did not call IoMarkIrpPending: the pending mark "
                  "stops here, and the levels above see an IRP that seems never to have pended",
                  "Rule: if (Irp->PendingReturned) IoMarkIrpPending(Irp); in every completion "
                  "routine that does not return STATUS_MORE_PROCESSING_REQUIRED.")
        self.io_verifier_stop(completion.driver, completion.routine, 0x228, irp,
                              "its completion routine did not mark the IRP pending though "
                              "PendingReturned was set.")

    def complete_pending(self, irp: Irp, status: int) -> None:
        """The device finished a pended request: its driver completes the IRP now (clearing
        its cancel routine first, as a correct driver does)."""
        self.core.require_running()
        device = irp.holder
        if device is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"IRP {irp.number} is at no "
                          "device's stack location: it has not been sent down yet "
                          "(IoCallDriver), or a completion routine took it back "
                          "(STATUS_MORE_PROCESSING_REQUIRED); no device is working on it, so "
                          "none can finish it")
        served_by = next((i for i in self.irps.values() if i.master is irp), None)
        if served_by is not None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"IRP {irp.number} waits at "
                          f"{device.label} for IRP {served_by.number}, which "
                          f"{device.driver.name} sent down for it: the device finishes "
                          f"that one (irp complete {served_by.number} STATUS), and "
                          f"{device.driver.name}'s completion routine completes this")
        if device.driver.unloaded:  # the device finished, but its driver is gone
            self._call_unloaded(device.driver, "DPC", irp, held=True)
        if irp.cancel_routine is not None:
            self.emit("Io", "cancel", f"{device.driver.name} clears the cancel "
                      f"routine of IRP {irp.number} (IoSetCancelRoutine NULL) to complete it")
            irp.cancel_routine = None
        if irp in device.queue:  # never started: it leaves the device queue
            device.queue.remove(irp)
        self.complete_request(irp, status, device.driver)
        if device.current_irp is irp:  # as its DPC would: the next one to StartIo
            self.start_next_packet(device)
        self.ke.dispatch()  # a requester readied by its completion APC gets a processor

    def cancel_irp(self, irp: Irp) -> bool:
        """IoCancelIrp: take the cancel spin lock, set Irp->Cancel, call the cancel routine
        (which must release the lock). False when the IRP had none: it stays where it is."""
        self.core.require_running()
        # IoAcquireCancelSpinLock: the IRQL to go back to is kept with the lock
        self._cancel_lock = self.ke.raise_irql(Irql.DISPATCH_LEVEL)
        irp.cancel = True
        holder = irp.holder
        where = holder.label if holder is not None else "the I/O manager"
        self.emit("Io", "cancel", f"IoCancelIrp(IRP {irp.number}): the cancel spin lock is "
                  "taken (IRQL → DISPATCH_LEVEL) and Irp->Cancel set", "Only the driver that "
                  "holds an IRP can finish it; cancelling asks that driver, through the cancel "
                  "routine it registered.")
        owner, irp.cancel_routine = irp.cancel_routine, None
        if owner is None:
            self.release_cancel_spin_lock(None, "IoCancelIrp")
            self.emit("Io", "cancel", f"IRP {irp.number} has no cancel routine: IoCancelIrp "
                      f"returns FALSE and the IRP stays at {where} until its driver finishes it",
                      "A driver that holds IRPs without a cancel routine cannot be hurried: "
                      "the thread that asked waits on, and its process cannot finish exiting.")
            return False
        if owner.routine == CSQ_CANCEL:
            self._csq_cancel(owner, irp)
            return True
        self.emit("Io", "cancel", f"{owner.driver.name}!{owner.routine} runs for IRP "
                  f"{irp.number}, holding the cancel spin lock")
        assert owner.driver.spec is not None  # it set the cancel routine in a step of its spec
        try:
            self.run_routine(owner.driver, owner.routine,
                             owner.driver.spec.cancels[owner.routine], irp, owner.device)
        except NtError:  # a step failed: the routine ends there, and the lock is let go
            if self._cancel_lock is not None:
                self.ke.lower_irql(self._cancel_lock)
                self._cancel_lock = None
            raise
        if self._cancel_lock is not None:
            self.bugcheck(BugCheck.DRIVER_RETURNED_HOLDING_CANCEL_LOCK,
                          (irp.address, routine_address(owner.driver, owner.routine), 0, 0),
                          driver=owner.driver.image, routine=owner.routine,
                          rule=f"{owner.driver.name}!{owner.routine} returned still holding "
                          "the cancel spin lock: every later cancel would spin forever at "
                          "DISPATCH_LEVEL.",
                          fix="Call IoReleaseCancelSpinLock(Irp->CancelIrql) in the cancel "
                          "routine, before completing the IRP with STATUS_CANCELLED.")
        self.ke.dispatch()  # a requester readied by its completion APC gets a processor
        return True

    def release_cancel_spin_lock(self, driver: DriverObject | None, routine: str) -> None:
        if self._cancel_lock is None:
            self.emit("Io", "rule", f"{driver.name if driver else 'IoCancelIrp'}!{routine} "
                      "releases the cancel spin lock, which it does not hold")
            return
        self.ke.lower_irql(self._cancel_lock)
        self._cancel_lock = None
