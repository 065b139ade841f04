"""WMI's kernel-mode half (routines IoWMI*, internally Wmip*; in NT part of the I/O
manager): drivers as providers of instrumentation data, asked through IRP_MJ_SYSTEM_CONTROL.

`Wmi` owns `wmi_blocks`, the registered data blocks by lower-cased class name, each with the
device that provides it. System builds it with the Core, then wires in `io` (the I/O
manager carries its IRPs); the I/O manager reaches it as `io.wmi` (a driver's
IoWMIRegistrationControl step, and IoDeleteDevice of a device still registered).

A driver calls IoWMIRegistrationControl(device, WMIREG_ACTION_REGISTER); the kernel's WMI
component answers with an IRP_MN_REGINFO_EX request to that device, and once the driver
completes it, the data blocks of its spec's [wmi] table are registered with the device as
their provider. A query from user mode (`wmi query CLASS`: the WMI service on behalf of a
program, through \\Device\\WMIDataDevice) becomes an IRP_MJ_SYSTEM_CONTROL /
IRP_MN_QUERY_ALL_DATA IRP sent to the top of the provider's stack, carrying the provider's
device object (Parameters.WMI.ProviderId): every driver above it must pass the IRP down, and
the provider answers with its data block.

Simplifications: classes are named, not registered by GUID with a MOF resource; one instance
per provider device; data blocks are fixed values from the spec; no events, no methods, no
single-instance or set requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmshell.nt.constants import NtStatus, format_status
from kmshell.nt.errors import NtError

if TYPE_CHECKING:
    from kmshell.nt.core import Core
    from kmshell.nt.io.irp import DeviceObject, Irp
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.ps import Process

WMIREG_ACTION_REGISTER, WMIREG_ACTION_DEREGISTER = 1, 2


@dataclass(eq=False)
class WmiBlock:
    """One registered data block: a WMI class, the device that provides it, its values."""

    name: str
    device: DeviceObject  # the device given to IoWMIRegistrationControl
    values: dict[str, int | str]

    @property
    def instance(self) -> str:
        node = self.device.devnode
        return f"{node.instance_path if node else self.device.label}_0"


@dataclass
class WmiAnswer:
    block: WmiBlock
    status: int
    irp: Irp  # the IRP_MN_QUERY_ALL_DATA request, with its path

    @property
    def values(self) -> dict[str, int | str]:
        return self.block.values if self.status == NtStatus.STATUS_SUCCESS else {}


class Wmi:
    """WMI (IoWMI). Built with the Core; the I/O manager, which carries its IRPs, is wired
    in by System."""

    io: IoManager

    def __init__(self, core: Core) -> None:
        self.core = core
        self.emit = core.emit
        self.wmi_blocks: dict[str, WmiBlock] = {}  # lower-cased class name -> block

    def wmi_register(self, device: DeviceObject, register: bool) -> None:
        """IoWMIRegistrationControl(device, WMIREG_ACTION_REGISTER or _DEREGISTER)."""
        driver = device.driver
        action = "WMIREG_ACTION_REGISTER" if register else "WMIREG_ACTION_DEREGISTER"
        self.emit("Wmi", "wmi", f"IoWMIRegistrationControl({device.label}, {action})")
        if not register:
            gone = self._drop_wmi_blocks(device)
            self.emit("Wmi", "wmi", f"WMI forgets {device.label}'s data blocks: "
                      + (", ".join(gone) or "it had none"))
            return
        irp = self.io.build_irp(device, "IRP_MJ_SYSTEM_CONTROL", "IRP_MN_REGINFO_EX")
        irp.provider = device
        status = self.io.call_driver(device.top(), irp)
        if status != NtStatus.STATUS_SUCCESS:
            self.emit("Wmi", "wmi", f"IRP_MN_REGINFO_EX for {device.label} ended with "
                      f"{format_status(status)}: WMI registers nothing for it")
            return
        assert driver.spec is not None  # it ran IoWMIRegistrationControl, a step of its spec
        for name, values in driver.spec.wmi.items():
            taken = self.wmi_blocks.get(name.lower())
            if taken is not None and taken.device is not device:
                raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION, f"WMI class {name} is "
                              f"already provided by {taken.device.label}")
            self.wmi_blocks[name.lower()] = WmiBlock(name, device, dict(values))
        self.emit("Wmi", "wmi", f"{driver.name} answers IRP_MN_REGINFO_EX: WMI registers "
                  f"{', '.join(driver.spec.wmi) or 'no data block'} provided by {device.label}",
                  "A WMI provider lists its data blocks once; WMI then sends it "
                  "IRP_MJ_SYSTEM_CONTROL requests whenever someone asks for them.")

    def wmi_forget(self, device: DeviceObject) -> None:
        """IoDeleteDevice of a device still registered: the driver broke the rule."""
        gone = self._drop_wmi_blocks(device)
        if not gone:
            return
        self.emit("Wmi", "rule", f"{device.label} is deleted while still a WMI provider of "
                  f"{', '.join(gone)}: WMI would send IRPs to a deleted device object",
                  "Rule: call IoWMIRegistrationControl(WMIREG_ACTION_DEREGISTER) before "
                  "IoDeleteDevice (in IRP_MN_REMOVE_DEVICE or Unload).")

    def _drop_wmi_blocks(self, device: DeviceObject) -> list[str]:
        """WMI unregisters every data block the device provides; returns their names."""
        gone = [b.name for b in self.wmi_blocks.values() if b.device is device]
        for name in gone:
            del self.wmi_blocks[name.lower()]
        return gone

    def wmi_query(self, class_name: str, caller: Process | None = None) -> WmiAnswer:
        """A user-mode query for every instance of a class: IRP_MN_QUERY_ALL_DATA."""
        self.core.require_running()
        who = f"{caller.image} ({caller.pid})" if caller is not None else "a WMI consumer"
        self.emit("Wmi", "syscall", f"{who} asks the WMI service for {class_name}; it calls "
                  "NtDeviceIoControlFile(\\Device\\WMIDataDevice, IOCTL_WMI_QUERY_ALL_DATA): "
                  "system call, user → kernel", mode="U")
        block = self.wmi_blocks.get(class_name.lower())
        if block is None:
            self.emit("Wmi", "syscall", f"no provider registered {class_name}: "
                      "STATUS_WMI_GUID_NOT_FOUND back to user mode: kernel → user", mode="U")
            known = ", ".join(sorted(b.name for b in self.wmi_blocks.values()))
            raise NtError(NtStatus.STATUS_WMI_GUID_NOT_FOUND,
                          f"no WMI provider has registered {class_name}; registered: "
                          f"{known or 'none (a driver registers with IoWMIRegistrationControl)'}")
        irp = self.io.build_irp(block.device, "IRP_MJ_SYSTEM_CONTROL", "IRP_MN_QUERY_ALL_DATA")
        irp.provider = block.device
        self.emit("Wmi", "wmi", f"WMI sends IRP {irp.number} to the top of {block.device.label}'s "
                  f"stack with ProviderId = {block.device.label}: drivers above it pass it on")
        status = self.io.call_driver(block.device.top(), irp)
        if status == NtStatus.STATUS_PENDING:
            status = irp.status if irp.completed else status
        if status != NtStatus.STATUS_SUCCESS and block.device not in irp.reached:
            stopper = irp.reached[-1].driver.name if irp.reached else "nobody"
            self.emit("Wmi", "rule", f"IRP {irp.number} never reached {block.device.label}: "
                      f"{stopper} ended it above the provider", "Rule: a filter driver passes "
                      "down every IRP it does not handle itself — IRP_MJ_SYSTEM_CONTROL "
                      "included, or WMI cannot reach the drivers below it.")
        self.emit("Wmi", "syscall", f"the WMI service gets {format_status(status)}"
                  + (f" and {block.name}'s data block" if status == NtStatus.STATUS_SUCCESS
                     else "") + ": kernel → user", mode="U")
        return WmiAnswer(block, status, irp)
