"""Plug and Play manager (Pnp, "the PnP manager"): the device tree of devnodes, enumeration,
AddDevice, start and removal (orderly and surprise).

Each devnode stands for one piece of hardware: its instance path, hardware IDs, its PDO
(created by the parent's bus driver), the state (PNP_DEVNODE_STATE, with the values the
public symbols give) and the history of its states. Hardware is what each bus has attached
(`present`); `device plug` attaches more, and the bus driver reports it
(IoInvalidateDeviceRelations → IRP_MN_QUERY_DEVICE_RELATIONS).

Drivers are found as an INF install would find them: by hardware ID in the driver store;
what was found is written under HKLM\\SYSTEM\\CurrentControlSet\\Enum\\<instance> (Service,
LowerFilters, UpperFilters), and the PnP manager reads the stack's drivers back from there.

State (`PlugAndPlayManager`): `device_root`, the root devnode (HTREE\\ROOT\\0) and through it
the tree; `driver_store`, the driver packages devices find their drivers among;
`pdo_names`, the count that names PDOs by number; `device_name`, the name `device plug
--name` gives the function device being built.

Reached: System builds it with the Core, the I/O manager (it loads drivers, calls AddDevice
and sends the PnP IRPs), Cm (the Enum keys), Ps (open handles veto a removal) and the driver
store, and gives it to the I/O manager and FileIo as their `pnp`; Po walks its tree.

Simplifications: one instance ID per hardware ID (`HWID\\N`), no resource arbitration
(resources are simply assigned), no rebalancing, no stop/restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from kmshell.nt.constants import NtStatus, format_status, nt_success
from kmshell.nt.errors import NtError
from kmshell.nt.io.irp import DeviceObject, FileObject, Irp
from kmshell.nt.io.spec import DriverSpec, spec_from_dict
from kmshell.nt.po import DevicePowerState

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from kmshell.nt.cm import ConfigurationManager, RegData
    from kmshell.nt.core import Core
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.ps import Process, ProcessManager

ENUM_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Enum"
# A device setup class's key, which lists its class filters (UpperFilters, LowerFilters).
# Windows names it by the class GUID (Control\Class\{4d36e96b-...}); the model by its name.
CLASS_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Class"
CM_PROB_FAILED_START = 10  # "This device cannot start. (Code 10)"
CM_PROB_FAILED_INSTALL = 28  # "The drivers for this device are not installed. (Code 28)"
# After IRP_MN_SURPRISE_REMOVAL a driver "must fail any subsequent IRPs that the driver would
# have handled if the device were present, besides close, clean-up, and PnP IRPs", and goes on
# handling power IRPs; the usual status is STATUS_NO_SUCH_DEVICE (STATUS_DELETE_PENDING is
# what IoAcquireRemoveLock returns once IRP_MN_REMOVE_DEVICE is under way, which the model
# sends only after the last handle closed, when no new request can come).
# https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/handling-an-irp-mn-surprise-removal-request
SERVED_AFTER_SURPRISE_REMOVAL = frozenset({"IRP_MJ_CLEANUP", "IRP_MJ_CLOSE", "IRP_MJ_POWER",
                                           "IRP_MJ_PNP"})
# The PnP IRPs that change a device's state: each one's WDK page says "Reserved for system
# use. Drivers must not send this IRP." (e.g. https://learn.microsoft.com/en-us/
# windows-hardware/drivers/kernel/irp-mn-remove-device); only the PnP manager sends them, as
# part of the state changes it tracks in the devnode. Queries (capabilities, IDs, interfaces,
# TargetDeviceRelation, ...) a driver may send.
# https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/plug-and-play-minor-irps
SENT_ONLY_BY_PNP_MANAGER = frozenset({
    "IRP_MN_START_DEVICE", "IRP_MN_QUERY_REMOVE_DEVICE", "IRP_MN_REMOVE_DEVICE",
    "IRP_MN_CANCEL_REMOVE_DEVICE", "IRP_MN_STOP_DEVICE", "IRP_MN_QUERY_STOP_DEVICE",
    "IRP_MN_CANCEL_STOP_DEVICE", "IRP_MN_SURPRISE_REMOVAL"})
PROBLEMS = {CM_PROB_FAILED_START: "CM_PROB_FAILED_START (Code 10): the device cannot start",
            CM_PROB_FAILED_INSTALL: "CM_PROB_FAILED_INSTALL (Code 28): no driver is installed "
                                    "for it"}

# The default machine's hardware: what each bus has attached at boot, by hardware ID.
BOOT_HARDWARE = {
    "HTREE\\ROOT": ["ACPI_HAL\\PNP0C08"],
    "ACPI_HAL\\PNP0C08": ["ACPI\\PNP0A08", "ACPI\\PNP0303"],
    "ACPI\\PNP0A08": ["PCI\\VEN_8086&DEV_A36D&CC_0C0330", "PCI\\VEN_8086&DEV_A352&CC_010601"],
    "PCI\\VEN_8086&DEV_A36D&CC_0C0330": ["USB\\ROOT_HUB30"],
    "PCI\\VEN_8086&DEV_A352&CC_010601": ["SCSI\\DISK&VEN_WDC&PROD_WD10EZEX"],
}

# The PnP manager's own driver: it owns the root devnode's PDO and the PDOs of
# root-enumerated devices, and completes the PnP IRPs that reach them.
PNP_MANAGER = {"name": "PnpManager", "type": "bus",
               "description": "the PnP manager's driver: owns the root of the device tree",
               "pdo": {"IRP_MN_START_DEVICE": ["IoCompleteRequest STATUS_SUCCESS",
                                               "return STATUS_SUCCESS"],
                       "IRP_MJ_POWER": ["IoCompleteRequest STATUS_SUCCESS",
                                        "return STATUS_SUCCESS"]}}


class DevnodeState(IntEnum):
    """PNP_DEVNODE_STATE (the states `!devnode` prints, e.g. DeviceNodeStarted (0x308))."""

    DeviceNodeUninitialized = 0x301
    DeviceNodeInitialized = 0x302
    DeviceNodeDriversAdded = 0x303
    DeviceNodeResourcesAssigned = 0x304
    DeviceNodeStartPending = 0x305
    DeviceNodeStarted = 0x308
    DeviceNodeQueryRemoved = 0x310
    DeviceNodeRemovePendingCloses = 0x311
    DeviceNodeRemoved = 0x312
    DeviceNodeDeleted = 0x314

    @property
    def short(self) -> str:
        return self.name.removeprefix("DeviceNode")


@dataclass(eq=False)
class Devnode:
    instance_path: str
    hardware_ids: tuple[str, ...]
    parent: Devnode | None
    pdo: DeviceObject | None = None
    children: list[Devnode] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # hardware IDs attached to this bus
    state: DevnodeState = DevnodeState.DeviceNodeUninitialized
    history: list[tuple[int, DevnodeState]] = field(default_factory=list)  # (tick, state)
    problem: int = 0
    service: str = ""  # the function driver, from the Enum key
    power: DevicePowerState = DevicePowerState.PowerDeviceD0
    wake_armed: bool = False  # may wake the machine (power arm DEV)
    wait_wake: Irp | None = None  # the IRP_MN_WAIT_WAKE its bus driver holds while asleep
    # IRP_MN_SURPRISE_REMOVAL came: the "device removed" bit a WDM function driver sets in
    # its device extension, kept here for the model's drivers (specs have no extension)
    surprise_removed: bool = False

    def __repr__(self) -> str:
        return f"<Devnode {self.instance_path} {self.state.short}>"

    def walk(self) -> Iterator[Devnode]:
        """This devnode and its descendants, parents first. A devnode met twice means the
        tree's links loop (or a devnode has two parents): an error, not an endless walk."""
        seen: set[int] = set()
        pending = [self]
        while pending:
            node = pending.pop()
            if id(node) in seen:
                raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"the device tree under "
                              f"{self.instance_path} reaches {node.instance_path} twice: its "
                              "parent and child links form a cycle")
            seen.add(id(node))
            yield node
            pending.extend(reversed(node.children))

    def stack(self) -> list[DeviceObject]:
        return self.pdo.stack() if self.pdo is not None else []

    @property
    def physical_device(self) -> DeviceObject:
        """Its PDO (PhysicalDeviceObject), which a devnode in the tree has from the moment
        its bus driver reports it; only `pdo` is None before that."""
        assert self.pdo is not None, f"{self.instance_path} has no PDO yet"
        return self.pdo

    @property
    def is_bus(self) -> bool:
        """Its function driver (the top of its stack's driver) also enumerates children."""
        spec = self.stack()[0].driver.spec
        return spec is not None and spec.type == "bus"


class PlugAndPlayManager:
    """Pnp. Built with the Core, the I/O manager (it loads drivers, calls AddDevice and
    sends PnP IRPs), Cm (the Enum keys), Ps (open handles veto a removal) and the driver
    store: the specs, read by the command layer, among which devices find their drivers."""

    def __init__(self, core: Core, io: IoManager, cm: ConfigurationManager, ps: ProcessManager,
                 driver_store: Sequence[DriverSpec]) -> None:
        self.core = core
        self.io = io
        self.cm = cm
        self.ps = ps
        self.emit = core.emit
        self.driver_store = list(driver_store)  # where drivers are found by hardware ID
        self.device_name = ""  # `device plug --name`: the function device's name
        self.pdo_names = 0  # PDOs named by number (FILE_AUTOGENERATED_DEVICE_NAME)
        self.device_root = Devnode("HTREE\\ROOT\\0", ("HTREE\\ROOT",), None)
        # a devnode was ever surprise-removed: only then may a dispatch be refused for it (a
        # cheap test every IRP makes before walking a stack)
        self.surprise_removals = False

    def devnodes(self) -> Iterator[Devnode]:
        """Every devnode of the tree, parents first (what `device tree` shows)."""
        return self.device_root.walk()

    def function_device_name(self) -> str:
        """The name `device plug --name` asked for the function device being added ("": the
        driver names it itself), read by IoCreateDevice in AddDevice."""
        return self.device_name

    def add_driver_package(self, spec: DriverSpec) -> bool:
        """pnputil /add-driver: the package joins the driver store (in place of one with the
        same service name), where devices plugged from now on find it by hardware ID, or a
        class filter by their setup class, whose Class key lists it. False: the store holds
        this package already."""
        if any(s is spec or s == spec for s in self.driver_store):
            return False
        self.driver_store = [s for s in self.driver_store if s.name.lower() != spec.name.lower()]
        self.driver_store.append(spec)
        if spec.type == "filter" and spec.device_class and not spec.hardware_ids:
            key, value = f"{CLASS_KEY}\\{spec.device_class}", f"{spec.position.title()}Filters"
            listed = self.cm.query_value(key, value)
            names = list(listed.data) if listed is not None and isinstance(listed.data, list) \
                else []
            if spec.name.lower() not in (n.lower() for n in names):
                self.cm.write_value(key, value, "REG_MULTI_SZ", [*names, spec.name])
        return True

    def install_driver_package(self, spec: DriverSpec,
                               caller: Process | None = None) -> list[Devnode]:
        """pnputil /add-driver FILE.inf /install, run by caller (an administrator: its token
        must hold SeLoadDriverPrivilege): stage the package in the driver store, then install
        it on the devices present that it serves and that have no driver (problem Code 28);
        returns those devnodes. A started device keeps its stack: the new package is used
        when the device arrives again (the model restarts no stack)."""
        self.core.require_running()
        token = caller.token if caller is not None else None
        if token is not None and not token.has("SeLoadDriverPrivilege"):
            raise NtError(NtStatus.STATUS_PRIVILEGE_NOT_HELD, f"{token.user} may not install a "
                          "driver package: pnputil needs an administrator, whose token holds "
                          "SeLoadDriverPrivilege; login teacher, then driver install again")
        if not spec.plug_and_play:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{spec.name} ({spec.source}) "
                          "serves no device: a driver package for Plug and Play names "
                          "hardware_ids, or, a class filter, a class")
        loaded = self.io.find_driver(spec.name)
        if loaded is not None and loaded.spec is not spec and loaded.spec != spec:
            raise NtError(NtStatus.STATUS_IMAGE_ALREADY_LOADED, f"a driver named {spec.name} "
                          "is loaded from another spec: its package cannot be replaced while "
                          "it runs (unload it, unplug its devices, or rename this one)")
        added = self.add_driver_package(spec)
        serves = f"hardware IDs {', '.join(spec.hardware_ids)}" if spec.hardware_ids else \
            f"every device of class {spec.device_class}"
        role = self._role(spec, None)
        self.emit("Pnp", "driver-store", f"driver package {spec.name} ({spec.source}, {role}) "
                  + ("added to" if added else "already in") + f" the driver store: it serves "
                  f"{serves}", "pnputil /add-driver stages a package in the driver store; "
                  "the PnP manager looks a device's hardware ID (and setup class, for class "
                  "filters) up there when the device arrives.")
        installed = []
        for node in self.devnodes():
            if node.state is not DevnodeState.DeviceNodeInitialized or \
                    node.problem != CM_PROB_FAILED_INSTALL:
                if node.state is DevnodeState.DeviceNodeStarted and self._serves(spec, node):
                    self.emit("Pnp", "driver-store", f"{node.instance_path} is started with "
                              f"{node.service}: {spec.name} joins its stack when the device "
                              "arrives again (device unplug, then device plug)")
                continue
            if not self._serves(spec, node) or self._function_driver(node) is None:
                continue  # a filter alone gives a device no driver
            self.emit("Pnp", "install", f"{node.instance_path} had no driver (Code 28); "
                      f"{spec.name} serves {node.hardware_ids[0]}: installing it",
                      "pnputil /install installs the package on the matching devices already "
                      "present.")
            node.problem = 0
            self._build_stack(node)
            installed.append(node)
            if node.state is DevnodeState.DeviceNodeStarted and node.is_bus:
                self._enumerate(node, {})
        return installed

    def _serves(self, spec: DriverSpec, node: Devnode) -> bool:
        if set(spec.hardware_ids) & set(node.hardware_ids):
            return True
        return spec.type == "filter" and not spec.hardware_ids and bool(spec.device_class) \
            and spec.device_class.lower() == self._class_of(node).lower()

    def _class_of(self, node: Devnode) -> str:
        function = self._function_driver(node)
        return function.device_class if function is not None else ""

    def _function_driver(self, node: Devnode) -> DriverSpec | None:
        return next((s for s in self.driver_store if s.type not in ("filter", "filesystem")
                     and set(s.hardware_ids) & set(node.hardware_ids)), None)

    # ------------------------------------------------------------- the tree at boot

    def boot_device_tree(self) -> None:
        """Enumerate the default machine's hardware, then fold the trace into a summary."""
        start = self.core.events_emitted
        manager = self.io.load_driver(spec_from_dict(PNP_MANAGER, "(built in)"))
        self.device_root.pdo = self._create_pdo(manager, self.device_root)
        self._set_state(self.device_root, DevnodeState.DeviceNodeStarted)
        self._enumerate(self.device_root, {} if self.core.minimal else BOOT_HARDWARE)
        if not self.core.minimal:  # a boot-start file system: it mounts C: at its first use
            self.io.load_driver(next(s for s in self.driver_store if s.type == "filesystem"))
        self.core.forget_events_since(start)
        self.io.forget_boot_irps()
        nodes = list(self.device_root.walk())
        started = sum(n.state is DevnodeState.DeviceNodeStarted for n in nodes)
        self.emit("Pnp", "boot", f"PnP manager enumerated the device tree from the root: "
                  f"{len(nodes)} devnodes, {started} started (ACPI → PCI bus → USB host "
                  "controller → USB root hub; a keyboard; a disk); `device tree` shows it",
                  "Each bus driver reports its children; for each the PnP manager loads the "
                  "drivers, calls their AddDevice and starts the stack, parents first.")

    def _set_state(self, node: Devnode, state: DevnodeState) -> None:
        node.state = state
        node.history.append((self.core.tick, state))

    def devnode_of(self, device: DeviceObject) -> Devnode:
        node = device.stack()[-1].devnode
        if node is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{device.label} is not in a Plug and Play device stack (a legacy "
                          "driver created it in DriverEntry)")
        return node

    # ------------------------------------------------------------- arrival

    def plug(self, parent_device: DeviceObject, hardware_id: str, name: str = "") -> Devnode:
        """Attach hardware to a bus; its bus driver reports it and PnP builds its stack."""
        self.core.require_running()
        parent = self.devnode_of(parent_device)
        if parent.state is not DevnodeState.DeviceNodeStarted or not parent.is_bus:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{parent.instance_path} is not a started bus: nothing can be "
                          "plugged into it")
        hardware_id = hardware_id.upper()
        parent.present.append(hardware_id)
        bus = parent.stack()[0].driver
        self.emit("Pnp", "plug", f"hardware {hardware_id} appears on {parent.instance_path}: "
                  f"{bus.name} calls IoInvalidateDeviceRelations(BusRelations)",
                  "A bus driver cannot add a device itself: it tells the PnP manager that "
                  "its children changed, and the PnP manager asks it for the new list.")
        self.device_name = name
        try:
            new = self._enumerate(parent, {})
        finally:
            self.device_name = ""
        if not new:
            raise NtError(NtStatus.STATUS_UNSUCCESSFUL, f"{bus.name} reported no new child for "
                          f"{hardware_id}")
        return new[0]

    def _enumerate(self, parent: Devnode, hardware: dict[str, list[str]]) -> list[Devnode]:
        """IRP_MN_QUERY_DEVICE_RELATIONS to the bus; a devnode and a stack for each new child."""
        parent.present.extend(hardware.get(parent.hardware_ids[0], []))
        bus = parent.stack()[0].driver
        if parent is not self.device_root:
            self._pnp_irp(parent, "IRP_MN_QUERY_DEVICE_RELATIONS")
        known = [child.hardware_ids[0] for child in parent.children  # a surprise-removed
                 if child.state is not DevnodeState.DeviceNodeRemovePendingCloses]  # one is gone
        new = []
        for hardware_id in parent.present:
            if hardware_id in known:
                known.remove(hardware_id)
                continue
            node = Devnode(self._instance_path(hardware_id), (hardware_id,), parent)
            parent.children.append(node)
            node.pdo = self._create_pdo(bus, node)
            self.emit("Pnp", "enumerate", f"{bus.name} reports a new child: PDO "
                      f"{node.pdo.label} for {node.instance_path}")
            self._set_state(node, DevnodeState.DeviceNodeInitialized)
            new.append(node)
        for node in new:
            self._build_stack(node)
            if node.state is DevnodeState.DeviceNodeStarted and node.is_bus:
                self._enumerate(node, hardware)
        return new

    def _instance_path(self, hardware_id: str) -> str:
        paths = {node.instance_path for node in self.device_root.walk()}
        number = 0
        while f"{hardware_id}\\{number}" in paths:
            number += 1
        return f"{hardware_id}\\{number}"

    def _create_pdo(self, bus: DriverObject, node: Devnode) -> DeviceObject:
        """The bus driver's IoCreateDevice for a child: a named PDO (FILE_AUTOGENERATED_DEVICE_NAME
        names it \\Device\\%08lx; USB names its PDOs USBPDO-N)."""
        prefix = bus.spec.child_names if bus.spec else ""
        number = 0
        while True:
            name = f"{prefix}{number}" if prefix else f"{self._next_pdo_number():08x}"
            if self.io.device_named(f"\\Device\\{name}") is None:
                break
            number += 1
        pdo = self.io.create_device(bus, name)
        pdo.devnode, pdo.is_pdo = node, True
        fdo = next((d for d in node.parent.stack() if d.driver is bus), None) \
            if node.parent is not None else None
        if fdo is not None and bus.spec is not None and bus.spec.forwards_to_parent:
            pdo.stack_size = fdo.stack_size + 1  # room to pass its IRPs on down the parent
        return pdo

    def _next_pdo_number(self) -> int:
        self.pdo_names += 1
        return self.pdo_names

    def _build_stack(self, node: Devnode) -> None:
        """QUERY_ID, install (the Enum key), AddDevice lower filters → function → upper
        filters, resources, then IRP_MN_START_DEVICE."""
        self._pnp_irp(node, "IRP_MN_QUERY_ID")
        specs = self._install(node)
        if specs is None:
            node.problem = CM_PROB_FAILED_INSTALL
            self.emit("Pnp", "problem", f"no driver serves {node.hardware_ids[0]}: "
                      f"{node.instance_path} gets problem {PROBLEMS[node.problem]}",
                      "No package in the driver store names this hardware ID, so the device "
                      "gets a devnode and a PDO but no function driver; `driver install "
                      "FILE.toml` (pnputil /add-driver /install) adds one and installs it "
                      "here.")
            return
        for spec in specs:
            driver = self.io.find_driver(spec.name) or self.io.load_driver(spec)
            self.emit("Pnp", "add-device", f"AddDevice of {driver.name} for "
                      f"{node.instance_path} ({self._role(spec, node)})",
                      "AddDevice is called bottom-up: lower filters, the function driver, "
                      "upper filters; each attaches its device to the top of the stack.")
            self.io.call_routine(driver, "AddDevice", None, node.pdo)
        self._set_state(node, DevnodeState.DeviceNodeDriversAdded)
        self._set_state(node, DevnodeState.DeviceNodeResourcesAssigned)
        self.emit("Pnp", "resources", f"resources assigned to {node.instance_path}; the stack "
                  "is " + " → ".join(d.label for d in node.stack()))
        self._set_state(node, DevnodeState.DeviceNodeStartPending)
        irp = self._pnp_irp(node, "IRP_MN_START_DEVICE")
        if not irp.completed:
            return  # a driver pended it: the devnode stays StartPending
        if nt_success(irp.status):
            self._set_state(node, DevnodeState.DeviceNodeStarted)
            self.emit("Pnp", "started", f"{node.instance_path} started: DeviceNodeStarted")
        else:
            node.problem = CM_PROB_FAILED_START
            self.emit("Pnp", "problem", f"IRP_MN_START_DEVICE failed with "
                      f"{format_status(irp.status)}: {PROBLEMS[node.problem]}")

    @staticmethod
    def _role(spec: DriverSpec, node: Devnode | None) -> str:
        if spec.type == "filter":
            return f"{spec.position} " + ("class filter" if not spec.hardware_ids else "filter")
        return "function driver" + (", a bus driver for its children" if spec.type == "bus"
                                    else "")

    def _install(self, node: Devnode) -> list[DriverSpec] | None:
        """Match the hardware ID in the driver store (the INF's job), write the Enum key, and
        return the drivers in AddDevice order: lower device filters, lower class filters, the
        function driver, upper device filters, upper class filters (the order Windows
        Internals gives for the values of the Enum and Class keys)."""
        function = self._function_driver(node)
        if function is None:
            return None
        setup_class = function.device_class
        device = [s for s in self.driver_store
                  if s.type == "filter" and set(s.hardware_ids) & set(node.hardware_ids)]
        by_class = [s for s in self.driver_store if s.type == "filter" and not s.hardware_ids
                    and setup_class and s.device_class.lower() == setup_class.lower()]
        key = f"{ENUM_KEY}\\{node.instance_path}"
        self.cm.registry_key(key)
        values: dict[str, tuple[str, RegData]] = {
            "HardwareID": ("REG_MULTI_SZ", list(node.hardware_ids)),
            "Service": ("REG_SZ", function.name)}
        if setup_class:
            values["Class"] = ("REG_SZ", setup_class)
        for position in ("lower", "upper"):
            names = [s.name for s in device if s.position == position]
            if names:
                values[f"{position.title()}Filters"] = ("REG_MULTI_SZ", names)
        for name, (kind, data) in values.items():
            self.cm.write_value(key, name, kind, data)
        node.service = function.name

        def at(specs: list[DriverSpec], position: str) -> list[DriverSpec]:
            return [s for s in specs if s.position == position]

        def listed(specs: list[DriverSpec], what: str) -> str:
            return f", {what}={','.join(s.name for s in specs)}" if specs else ""

        self.emit("Pnp", "install", f"{key}: Service={function.name}"
                  + listed(at(device, "lower"), "LowerFilters")
                  + listed(at(device, "upper"), "UpperFilters")
                  + (f"; class {setup_class}" if setup_class else "")
                  + listed(at(by_class, "lower"), " class LowerFilters")
                  + listed(at(by_class, "upper"), " class UpperFilters"))
        return [*at(device, "lower"), *at(by_class, "lower"), function, *at(device, "upper"),
                *at(by_class, "upper")]

    def _pnp_irp(self, node: Devnode, minor: str) -> Irp:
        """An IRP_MJ_PNP from the PnP manager to the top of the node's stack."""
        pdo = node.physical_device
        irp = self.io.build_irp(pdo, "IRP_MJ_PNP", minor)  # status: STATUS_NOT_SUPPORTED
        self.io.call_driver(pdo.top(), irp)
        return irp

    # ------------------------------------------------------------- removal

    def unplug(self, device: DeviceObject, surprise: bool = False) -> None:
        """Orderly removal (query, then remove, children first) or surprise removal."""
        self.core.require_running()
        node = self.devnode_of(device)
        on_board = node.parent is self.device_root and \
            not node.hardware_ids[0].startswith("ROOT\\")  # root-enumerated ones can go
        if node.parent is None or on_board:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{node.instance_path} is part of the machine's board: it cannot "
                          "be unplugged")
        subtree = list(node.walk())[::-1]  # children first
        node.parent.present.remove(node.hardware_ids[0])
        if surprise:
            self._surprise_remove(node, subtree)
            return
        queried: list[Devnode] = []
        for each in subtree:
            veto = self._query_remove(each)
            if veto:
                for done in queried:
                    self._pnp_irp(done, "IRP_MN_CANCEL_REMOVE_DEVICE")
                    self._set_state(done, DevnodeState.DeviceNodeStarted)
                node.parent.present.append(node.hardware_ids[0])
                raise NtError(NtStatus.STATUS_PLUGPLAY_QUERY_VETOED, veto)
            queried.append(each)
        for each in subtree:
            self._remove(each)

    def _open_handles(self, node: Devnode) -> int:
        stack = set(map(id, node.stack()))
        return sum(1 for p in self.ps.live_processes() for e in p.handle_table.entries.values()
                   if isinstance(e.object, FileObject) and id(e.object.device) in stack)

    def _query_remove(self, node: Devnode) -> str:
        """IRP_MN_QUERY_REMOVE_DEVICE; returns the veto, or "" when every driver agrees."""
        handles = self._open_handles(node)
        if handles:
            self.emit("Pnp", "veto", f"{node.instance_path} has {handles} open handle(s): "
                      "PNP_VetoOutstandingOpen — the removal is refused",
                      "A device with open handles cannot be removed in an orderly way; "
                      "close them (or pull it out: that is surprise removal).")
            return (f"{node.instance_path}: PNP_VetoOutstandingOpen, {handles} handle(s) "
                    "still open")
        irp = self._pnp_irp(node, "IRP_MN_QUERY_REMOVE_DEVICE")
        if not nt_success(irp.status) and irp.status != NtStatus.STATUS_NOT_SUPPORTED:
            blamed = node.stack()[0].driver.name
            self.emit("Pnp", "veto", f"a driver of {node.instance_path} fails "
                      f"IRP_MN_QUERY_REMOVE_DEVICE with {format_status(irp.status)}: "
                      "PNP_VetoDevice — IRP_MN_CANCEL_REMOVE_DEVICE follows")
            return f"{node.instance_path}: PNP_VetoDevice by the {blamed} stack " \
                   f"({format_status(irp.status)})"
        self._set_state(node, DevnodeState.DeviceNodeQueryRemoved)
        return ""

    def _remove(self, node: Devnode) -> None:
        """IRP_MN_REMOVE_DEVICE: each driver detaches and deletes its device; the bus driver
        deletes the PDO, since the hardware is gone."""
        drivers = list(dict.fromkeys(d.driver for d in node.stack()))  # top first, once
        self._pnp_irp(node, "IRP_MN_REMOVE_DEVICE")
        self._set_state(node, DevnodeState.DeviceNodeRemoved)
        for device in node.stack():  # what a driver forgot to delete goes with the devnode
            self.io.delete_device(device)
        assert node.parent is not None  # unplug refuses the root, the one devnode without
        node.parent.children.remove(node)
        self._set_state(node, DevnodeState.DeviceNodeDeleted)
        self.emit("Pnp", "removed", f"{node.instance_path} removed: DeviceNodeDeleted")
        for driver in drivers:
            if not driver.devices and driver.spec is not None and driver.spec.plug_and_play:
                self.io.unload_driver(driver)

    def _surprise_remove(self, node: Devnode, subtree: list[Devnode]) -> None:
        """IRP_MN_SURPRISE_REMOVAL (no query, no veto); REMOVE_DEVICE waits for the last
        handle. The drivers fail the IRPs they hold: a driver whose spec has its own
        IRP_MN_SURPRISE_REMOVAL routine does it there; for the others (the catalog's) the
        model fails them on the driver's behalf. An IRP a completion routine took back
        belongs to that driver, which finishes it."""
        self.emit("Pnp", "surprise", f"{node.instance_path} is gone without warning: the bus "
                  "driver stops reporting it", "Surprise removal cannot be vetoed: the "
                  "hardware is already gone. Drivers fail their pending I/O and wait for "
                  "the handles to close.")
        for each in subtree:
            self._pnp_irp(each, "IRP_MN_SURPRISE_REMOVAL")
            each.surprise_removed = True  # its drivers fail new I/O from now on
            self.surprise_removals = True
            stack = each.stack()
            masters = {id(i.master) for i in self.io.irps_in_progress() if i.master is not None}
            for irp in [i for i in self.io.irps_in_progress()  # held in this stack, or below it;
                        if any(device in stack for device in i.reached)  # a request served by
                        and id(i) not in masters]:  # its own IRP is completed by its driver
                if irp.completed:  # finished meanwhile, by another one's completion
                    continue
                if irp.location is None or irp.taken_back:  # taken back by a completion
                    continue  # routine (MORE_PROCESSING_REQUIRED): the driver that took it
                    # back finishes it, as its own IRP or after its wait
                holder = irp.location.device
                assert holder is not None  # an IRP at a location was sent to its device
                spec = holder.driver.spec
                if spec is not None and "IRP_MN_SURPRISE_REMOVAL" in spec.routines:
                    continue  # a driver that handles surprise removal drains its own queue
                self.emit("Io", "irp", f"{holder.driver.name} fails IRP "
                          f"{irp.number}: {each.instance_path} is gone")
                self.io.complete_pending(irp, NtStatus.STATUS_NO_SUCH_DEVICE)
            if self._open_handles(each):
                self._set_state(each, DevnodeState.DeviceNodeRemovePendingCloses)
                self.emit("Pnp", "pending-closes", f"{each.instance_path}: "
                          f"{self._open_handles(each)} handle(s) still open — "
                          "IRP_MN_REMOVE_DEVICE waits until they are closed "
                          "(DeviceNodeRemovePendingCloses)")
            else:
                self._remove(each)

    def fails_new_request(self, device: DeviceObject, major: str) -> tuple[int, str] | None:
        """What the function driver of a surprise-removed device does with a new request that
        reaches its device: fails it at once, STATUS_NO_SUCH_DEVICE and the reason for the
        trace (its dispatch routine checks the "removed" bit). None: it serves the request
        (not removed, one of CLEANUP/CLOSE/POWER/PNP, or another driver of the stack: a
        filter passes it on down to the function driver)."""
        if not self.surprise_removals or device.is_pdo or \
                major in SERVED_AFTER_SURPRISE_REMOVAL:
            return None
        node = device.stack()[-1].devnode
        if node is None or not node.surprise_removed or device.driver.name != node.service:
            return None
        return NtStatus.STATUS_NO_SUCH_DEVICE, (
            f"{device.driver.name} fails {major} with STATUS_NO_SUCH_DEVICE: "
            f"{node.instance_path} was surprise-removed, and after IRP_MN_SURPRISE_REMOVAL a "
            "driver fails every new request but CLEANUP, CLOSE, POWER and PNP")

    def handle_closed(self, device: DeviceObject) -> None:
        """After NtClose: a surprise-removed device's last handle lets the removal finish."""
        node = device.stack()[-1].devnode
        if node is not None and node.state is DevnodeState.DeviceNodeRemovePendingCloses \
                and not self._open_handles(node):
            self._remove(node)
