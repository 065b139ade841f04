"""Power manager (Po): system power states S0-S5, device power states D0-D3, power IRPs.

Going to sleep, every devnode is asked first (IRP_MN_QUERY_POWER with the system state,
leaves before their parents — any driver may veto), then told (IRP_MN_SET_POWER, system
state); the power policy owner of each stack (its function driver) maps the S state to a D
state from the device's capabilities and requests a device power IRP for it
(PoRequestPowerIrp → IRP_MN_SET_POWER, device state). Waking goes the other way: parents
first, back to D0. A power IRP that no driver completes is caught by the power watchdog:
bugcheck 0x9F DRIVER_POWER_STATE_FAILURE.
Wait-wake: a device armed to wake the machine (Device Manager's "Allow this device to wake
the computer") gets an IRP_MN_WAIT_WAKE from its power policy owner before the machine
sleeps; its bus driver holds it until the device signals, which completes it and wakes the
machine. An armed device sleeps in its DeviceWake state (D2), from which it can still signal.

State (`PowerManager`): `system_power`, the machine's S state; `pending_power`, the power
IRPs no driver has finished yet, which the watchdog looks at. A device's D state, whether it
may wake the machine and its held IRP_MN_WAIT_WAKE are on its devnode (pnp.py).

Reached: System builds it with the Core, the I/O manager (which carries the power IRPs) and
the PnP manager (whose tree gives the order), and gives it to Ke as its `po`: Ke runs the
power watchdog each clock tick.

Simplifications: one capabilities table for every device (below), no hibernation file, and
the processors go on ticking while the machine "sleeps".
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from kmshell.nt.constants import BugCheck, NtStatus, format_status, nt_success
from kmshell.nt.errors import NtError

if TYPE_CHECKING:
    from kmshell.nt.core import Core
    from kmshell.nt.io.driver import DriverObject
    from kmshell.nt.io.irp import DeviceObject, Irp
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.pnp import Devnode, PlugAndPlayManager


class SystemPowerState(IntEnum):
    """SYSTEM_POWER_STATE (wdm.h)."""

    PowerSystemWorking = 1  # S0
    PowerSystemSleeping1 = 2  # S1
    PowerSystemSleeping2 = 3  # S2
    PowerSystemSleeping3 = 4  # S3: sleep
    PowerSystemHibernate = 5  # S4
    PowerSystemShutdown = 6  # S5

    @property
    def short(self) -> str:
        return f"S{self.value - 1}"


class DevicePowerState(IntEnum):
    """DEVICE_POWER_STATE (wdm.h)."""

    PowerDeviceD0 = 1
    PowerDeviceD1 = 2
    PowerDeviceD2 = 3
    PowerDeviceD3 = 4

    @property
    def short(self) -> str:
        return f"D{self.value - 1}"


PowerState = SystemPowerState | DevicePowerState  # what a power IRP carries (Parameters.Power)

# DEVICE_CAPABILITIES.DeviceState: the highest-powered D state a device may stay in for each
# S state. The model gives every device the same table, that of a device without wake-up.
DEVICE_STATE = {
    SystemPowerState.PowerSystemWorking: DevicePowerState.PowerDeviceD0,
    SystemPowerState.PowerSystemSleeping1: DevicePowerState.PowerDeviceD1,
    SystemPowerState.PowerSystemSleeping2: DevicePowerState.PowerDeviceD2,
    SystemPowerState.PowerSystemSleeping3: DevicePowerState.PowerDeviceD3,
    SystemPowerState.PowerSystemHibernate: DevicePowerState.PowerDeviceD3,
    SystemPowerState.PowerSystemShutdown: DevicePowerState.PowerDeviceD3,
}
# DEVICE_CAPABILITIES.SystemWake and .DeviceWake of a wake-capable device: it can wake the
# machine from S3 or lighter, and must stay in D2 or higher to be able to signal.
SYSTEM_WAKE = SystemPowerState.PowerSystemSleeping3
DEVICE_WAKE = DevicePowerState.PowerDeviceD2
POWER_WATCHDOG_TICKS = 10  # the model's stand-in for the power watchdog's minutes
# Bugcheck 0x9F with Arg1 = 3, "a device object has been blocking an IRP for too long a time":
# Arg2 the physical device object of the stack, Arg3 nt!TRIAGE_9F_POWER (Windows 7 and later;
# the functional device object before), Arg4 the blocked IRP.
# https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x9f--driver-power-state-failure
POWER_IRP_TIMEOUT = 0x3
# Where nt!TRIAGE_9F_POWER sits in the model's ntoskrnl: a global that gives the debugger the
# list of outstanding power IRPs, the power IRP worker threads and the delayed work queue
# (`dt nt!TRIAGE_9F_POWER <Arg3>` on Windows). The model has no such block, only its address.
TRIAGE_9F_POWER = 0xFFFFF805_1AC3_D3D8


class PowerManager:
    """Po. Built with the Core, the I/O manager (which carries the power IRPs) and the PnP
    manager (whose device tree says the order: parents powered up first, down last)."""

    def __init__(self, core: Core, io: IoManager, pnp: PlugAndPlayManager) -> None:
        self.core = core
        self.io = io
        self.pnp = pnp
        self.emit = core.emit
        self.bugcheck = core.bugcheck
        self.system_power = SystemPowerState.PowerSystemWorking
        self.pending_power: list[Irp] = []  # power IRPs no driver has finished yet

    def _power_nodes(self, leaves_first: bool) -> list[Devnode]:
        nodes = [n for n in self.pnp.devnodes() if n.pdo is not None and n.service]
        return nodes[::-1] if leaves_first else nodes

    def _power_irp(self, node: Devnode, minor: str, state: PowerState,
                   on_done: Callable[[int], None] | None = None) -> Irp:
        """A power IRP to the top of node's stack: the state it carries is in the trace;
        `on_done` gets its final status once it is complete (a PowerCompletion routine)."""
        pdo = node.physical_device
        irp = self.io.build_irp(pdo, "IRP_MJ_POWER", minor)  # status: STATUS_NOT_SUPPORTED
        irp.power_state, irp.on_done = state, on_done
        self.emit("Po", "power-irp", f"IRP {irp.number}: {minor} ({state.name}) to "
                  f"{node.instance_path}")
        self.io.call_driver(pdo.top(), irp)
        if not irp.completed and minor != "IRP_MN_WAIT_WAKE":  # that one pends by design
            self.pending_power.append(irp)  # the watchdog keeps an eye on it
        return irp

    def set_system_power(self, target: SystemPowerState) -> None:
        """power sleep|hibernate|shutdown: query every stack, then set, leaves first."""
        self.core.require_running()
        if self.system_power is not SystemPowerState.PowerSystemWorking:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE,
                          f"the machine is already in {self.system_power.short}; "
                          "power wake first")
        self.emit("Po", "power", f"NtSetSystemPowerState({target.name}): the power manager "
                  f"asks every device, leaves first, whether it can go to {target.short}",
                  "Children are powered down before their parents, so that a bus is never "
                  "off while a device on it is still on.")
        for node in self._power_nodes(leaves_first=True):
            irp = self._power_irp(node, "IRP_MN_QUERY_POWER", target)
            if irp.completed and not nt_success(irp.status):
                self.emit("Po", "veto", f"{node.service} fails IRP_MN_QUERY_POWER with "
                          f"{format_status(irp.status)}: the transition to {target.short} is "
                          "vetoed; the machine stays in S0")
                raise NtError(NtStatus.STATUS_CANCELLED, f"{node.service} vetoed "
                              f"{target.short} ({format_status(irp.status)})")
        for node in self._power_nodes(leaves_first=True):
            if node.wake_armed and target <= SYSTEM_WAKE:
                self._arm_wait_wake(node)
        for node in self._power_nodes(leaves_first=True):
            irp = self._power_irp(node, "IRP_MN_SET_POWER", target)
            if not irp.completed:
                holder = self._holder(irp)
                self.emit("Po", "wait", f"{holder.driver.name} holds IRP {irp.number} at "
                          f"{holder.label} and has not finished it: the transition to "
                          f"{target.short} waits for it (the power watchdog fires after "
                          f"{POWER_WATCHDOG_TICKS} ticks)")
                return
            armed = node.wait_wake is not None
            self._device_power(node, DEVICE_WAKE if armed else DEVICE_STATE[target],
                               because=target)
        self.system_power = target
        self.emit("Po", "power", f"the machine is in {target.short} ({target.name})")

    def wake(self, source: DeviceObject | None = None) -> None:
        """power wake: S0 for every stack, parents first, each back to D0. With a source
        device, its bus driver completes the IRP_MN_WAIT_WAKE it held: the device woke us."""
        self.core.require_running()
        if self.system_power is SystemPowerState.PowerSystemWorking:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, "the machine is already awake")
        if source is not None:
            node = self.pnp.devnode_of(source)
            if node.wait_wake is None or node.wait_wake.completed:
                armed = [n.physical_device.top().label for n in self.pnp.devnodes()
                         if n.wait_wake is not None and not n.wait_wake.completed]
                raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE,
                              f"{source.label} holds no IRP_MN_WAIT_WAKE, so it cannot wake "
                              "the machine; armed before this sleep: "
                              + (", ".join(armed) or "none (power arm DEV, then sleep)"))
            self.emit("Po", "wake-signal", f"{source.label} signals wake (USB resume / PME): "
                      f"{node.physical_device.driver.name}, its bus driver, completes "
                      "IRP_MN_WAIT_WAKE",
                      "The wait-wake IRP was held at the PDO the whole sleep; completing it "
                      "tells the power policy owner, and the power manager, that the device "
                      "woke the machine.")
            self.io.complete_pending(node.wait_wake, NtStatus.STATUS_SUCCESS)
            node.wait_wake = None
        working = SystemPowerState.PowerSystemWorking
        self.emit("Po", "power", "wake: the power manager sets S0 on every stack, parents "
                  "first, and each power policy owner asks for D0")
        for node in self._power_nodes(leaves_first=False):
            self._power_irp(node, "IRP_MN_SET_POWER", working)
            self._device_power(node, DevicePowerState.PowerDeviceD0, because=working)
        self.system_power = working
        for node in self._power_nodes(leaves_first=False):
            if node.wait_wake is not None and not node.wait_wake.completed:  # woken otherwise
                self.emit("Po", "cancel", f"{node.service} cancels its IRP_MN_WAIT_WAKE "
                          f"(IRP {node.wait_wake.number}): the machine is awake; it arms "
                          "again at the next sleep")
                self.io.complete_pending(node.wait_wake, NtStatus.STATUS_CANCELLED)
                node.wait_wake = None

    def arm_wake(self, device: DeviceObject, armed: bool = True) -> None:
        """power arm DEV [--off]: may this device wake the machine from sleep?"""
        self.core.require_running()
        node = self.pnp.devnode_of(device)
        bus = node.physical_device.driver
        if armed and (bus.spec is None or "IRP_MN_WAIT_WAKE" not in bus.spec.pdo_routines):
            raise NtError(NtStatus.STATUS_NOT_SUPPORTED,
                          f"{node.instance_path} cannot wake the machine: {bus.name}, its bus "
                          "driver, reports no wake capability (DEVICE_CAPABILITIES.SystemWake "
                          "is PowerSystemUnspecified)")
        if not node.service:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{node.instance_path} has no function driver to own its power")
        node.wake_armed = armed
        self.emit("Po", "arm", f"{node.instance_path} {'may' if armed else 'may not'} wake "
                  f"the machine: {node.service}, its power policy owner, "
                  + ("will send IRP_MN_WAIT_WAKE before each sleep" if armed
                     else "no longer sends IRP_MN_WAIT_WAKE"))

    def _arm_wait_wake(self, node: Devnode) -> None:
        self.emit("Po", "request", f"{node.service}, power policy owner of "
                  f"{node.instance_path}, calls PoRequestPowerIrp(IRP_MN_WAIT_WAKE, "
                  f"{SYSTEM_WAKE.short}) before the sleep, so that the device can wake it")
        irp = self._power_irp(node, "IRP_MN_WAIT_WAKE", SYSTEM_WAKE)
        if irp.completed:
            self.emit("Po", "wake-failed", f"IRP_MN_WAIT_WAKE for {node.instance_path} came "
                      f"back at once with {format_status(irp.status)}: it cannot wake the "
                      "machine this time")
        else:
            node.wait_wake = irp

    def _device_power(self, node: Devnode, state: DevicePowerState,
                      because: SystemPowerState | None = None) -> None:
        """The power policy owner's PoRequestPowerIrp for a D state; node.power follows."""
        if node.power is state:
            return
        reason = f"for {because.short}" if because is not None else "(idle)"
        self._request_device_power(node, state, f"{node.service}, power policy owner of "
                                   f"{node.instance_path}, calls PoRequestPowerIrp("
                                   f"{state.short}) {reason}")

    def _request_device_power(self, node: Devnode, state: DevicePowerState, text: str,
                              on_done: Callable[[int], None] | None = None) -> None:
        """PoRequestPowerIrp(IRP_MN_SET_POWER, state): node.power follows when it succeeds."""
        def done(status: int) -> None:
            if nt_success(status):
                node.power = state
            if on_done is not None:
                on_done(status)
        self.emit("Po", "request", text)
        self._power_irp(node, "IRP_MN_SET_POWER", state, done)

    def request_power_irp(self, driver: DriverObject, routine: str, device: DeviceObject,
                          dx: str, on_done: Callable[[int], None] | None = None) -> None:
        """PoRequestPowerIrp from a driver's step: a device set-power IRP for D state `dx`
        ("D3") to the top of the device's stack; `on_done` (its PowerCompletion routine) runs
        when it is complete."""
        node, state = self.pnp.devnode_of(device), DevicePowerState[f"PowerDevice{dx}"]
        self._request_device_power(node, state, f"{driver.name}!{routine}: PoRequestPowerIrp("
                                   f"IRP_MN_SET_POWER, {state.short}) for "
                                   f"{node.instance_path}: the power manager allocates a "
                                   "device power IRP and sends it to the top of the stack",
                                   on_done)

    def set_power_state(self, driver: DriverObject, routine: str, device: DeviceObject,
                        dx: str) -> None:
        """PoSetPowerState: a driver tells the power manager its device's new D state `dx`."""
        node, state = self.pnp.devnode_of(device), DevicePowerState[f"PowerDevice{dx}"]
        previous, node.power = node.power, state
        self.emit("Po", "power-state", f"{driver.name}!{routine}: PoSetPowerState("
                  f"{state.short}) returns {previous.short}, the previous state: the power "
                  f"manager records {node.instance_path} in {state.short}")

    def set_device_power(self, device: DeviceObject, state: DevicePowerState) -> None:
        """power device DEV Dx: the function driver powers an idle device down (or up)."""
        self.core.require_running()
        node = self.pnp.devnode_of(device)
        if not node.service:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_REQUEST,
                          f"{node.instance_path} has no function driver to own its power")
        self._device_power(node, state)

    @staticmethod
    def _holder(irp: Irp) -> DeviceObject:
        """The device whose driver holds a power IRP it has not finished: the one at its
        CurrentLocation; a driver that skipped past the top of the stack and returned
        STATUS_PENDING holds it with no location of its own: the last device it reached."""
        return irp.holder or irp.reached[-1]

    def power_watchdog(self) -> None:
        """Every tick: a power IRP held longer than the watchdog allows stops the machine."""
        if not self.pending_power:
            return
        self.pending_power = [irp for irp in self.pending_power if not irp.completed]
        for irp in self.pending_power:
            if self.core.tick - irp.created_tick < POWER_WATCHDOG_TICKS:
                continue
            holder = self._holder(irp)
            pdo = irp.reached[0].stack()[-1]  # the PDO of the stack it was sent to
            ticks = self.core.tick - irp.created_tick
            self.emit("Po", "watchdog", f"power watchdog: IRP {irp.number} "
                      f"({irp.stack[-1].minor}) has been held by {holder.driver.name} at "
                      f"{holder.label} for {ticks} ticks",
                      "The power manager times every power IRP it sent; the one to blame is "
                      "the driver whose device holds it now, not the stack's function driver.")
            self.bugcheck(BugCheck.DRIVER_POWER_STATE_FAILURE,
                          (POWER_IRP_TIMEOUT, pdo.header.address, TRIAGE_9F_POWER, irp.address),
                          driver=holder.driver.image, routine="IRP_MJ_POWER",
                          rule=f"{holder.driver.name} held power IRP {irp.number} "
                          f"({irp.stack[-1].minor}) at {holder.label} for {ticks} ticks "
                          "without completing or passing it down: the power watchdog "
                          "stops the machine (0x9F, parameter 1 = 3: Arg2 the stack's PDO, "
                          "Arg3 nt!TRIAGE_9F_POWER, Arg4 the IRP).",
                          fix="Pass every power IRP down (PoCallDriver/IoCallDriver) or "
                          "complete it; a driver that pends one must finish it promptly.")
