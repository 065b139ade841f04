"""Device objects, IRPs and their stack locations, VPBs and file objects: the I/O manager's
data structures (DEVICE_OBJECT, IRP, IO_STACK_LOCATION, VPB, FILE_OBJECT). Not a component
of their own: the I/O manager (manager.py) creates device objects and IRPs and keeps them
(`io.devices`, `io.irps`); its file-system half (files.py) makes file objects and mounts
volumes.

An IRP carries one IO_STACK_LOCATION per device in the stack it is sent to. IoCallDriver
moves to the next (lower) location; IoCompleteRequest walks back up, calling each completion
routine that an upper driver set in the location below its own.

A device that holds a volume (a disk) has a VPB; once a file system has mounted the volume,
the VPB names the file system's volume device object, a stack of its own that opens of
files on the volume go to.

Simplifications: a disk is one volume (no partitions); a stack location holds only its
major and minor function, and the parameters Windows keeps there (an IOCTL's control code,
WMI's ProviderId, the VPB to mount, a power state) are kept once, on the IRP; an IRP's
buffers are descriptions and (process, address, length) triples, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError
from kmshell.nt.events import formatted
from kmshell.nt.io.driver import DriverObject
from kmshell.nt.ob import ObjectHeader

if TYPE_CHECKING:
    from collections.abc import Callable
    from enum import IntEnum

    from kmshell.nt.hal import DmaAdapter
    from kmshell.nt.pnp import Devnode
    from kmshell.nt.ps import Thread

# StackSize is a CCHAR and IoAllocateIrp takes at most 127 locations, so no stack may be deeper
# (IoAttachDeviceToDeviceStack refuses to make one). A walk that goes further has found a cycle
# in the attachment links: it stops with an error rather than loop forever.
MAX_STACK_SIZE = 127


@dataclass(eq=False)
class DeviceObject:
    header: ObjectHeader
    driver: DriverObject  # the driver that created it
    label: str  # \Device\Name, or driver#N for an unnamed device
    attached_device: DeviceObject | None = None  # the device above (AttachedDevice)
    attached_to: DeviceObject | None = None  # the device below (what it attached to)
    stack_size: int = 1  # StackSize: locations an IRP for this device needs
    vectors: list[int] = field(default_factory=list)  # one per message (MSI, MSI-X)
    vector: int | None = None  # the interrupt vector its ISR is connected to (x64: IRQL =
    dirql: int | None = None  # vector >> 4, the device's DIRQL)
    devnode: Devnode | None = None  # for a PDO: the devnode it stands for
    is_pdo: bool = False  # created by a bus driver for a child: the bottom of that stack
    io: str = "neither"  # DO_BUFFERED_IO, DO_DIRECT_IO or neither: how reads/writes reach it
    current_irp: Irp | None = None  # CurrentIrp: the one StartIo is working on (busy)
    queue: list[Irp] = field(default_factory=list)  # DeviceQueue: IoStartPacket's waiting IRPs
    adapter: DmaAdapter | None = None  # its DMA adapter (IoGetDmaAdapter), if it does DMA
    device_type: str = "FILE_DEVICE_UNKNOWN"  # DeviceType, e.g. FILE_DEVICE_DISK
    vpb: Vpb | None = None  # a disk's volume parameter block (IoCreateDevice makes one)
    remove_lock: RemoveLock | None = None  # its IO_REMOVE_LOCK (IoInitializeRemoveLock)
    target_device: DeviceObject | None = None  # a file system's volume device: the top of
    # the mounted volume's stack, where it sends its requests (Vcb->TargetDeviceObject)

    def __repr__(self) -> str:  # the graph of devices, drivers and devnodes is cyclic and big
        return f"<DeviceObject {self.label}>"

    @property
    def mounted_volume(self) -> DeviceObject | None:
        """For a device holding a volume: the file system's volume device that mounted it
        (Vpb->DeviceObject), None while unmounted."""
        return self.vpb.device if self.vpb is not None else None

    @property
    def flags(self) -> list[str]:
        """DEVICE_OBJECT.Flags, by name: how reads and writes reach it, whether it is named,
        whether a bus driver reported it (a PDO)."""
        return [name for name, set_ in (
            ("DO_BUFFERED_IO", self.io == "buffered"), ("DO_DIRECT_IO", self.io == "direct"),
            ("DO_DEVICE_HAS_NAME", self.header.directory is not None),
            ("DO_BUS_ENUMERATED_DEVICE", self.is_pdo)) if set_]

    def top(self) -> DeviceObject:
        """IoGetAttachedDevice: the highest device in this device's stack."""
        device = self
        for _ in range(MAX_STACK_SIZE):  # bounded: called for every IRP, so no visited set
            if device.attached_device is None:
                return device
            device = device.attached_device
        raise _cycle(self, "AttachedDevice")

    def stack(self) -> list[DeviceObject]:
        """The whole stack, top first."""
        devices: list[DeviceObject] = []
        device: DeviceObject | None = self.top()
        while device is not None:
            devices.append(device)
            if len(devices) > MAX_STACK_SIZE:
                raise _cycle(self, "AttachedToDeviceObject")
            device = device.attached_to
        return devices


def _cycle(device: DeviceObject, link: str) -> NtError:
    return NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"the device stack of {device.label} "
                   f"goes on past {MAX_STACK_SIZE} devices following {link}: its attachment "
                   "links form a cycle (a device attached to a stack it was already in)")


@dataclass
class RemoveLock:
    """IO_REMOVE_LOCK in a device extension: IoInitializeRemoveLock sets the count to 1 (a
    bias the final IoReleaseRemoveLockAndWait takes away); each acquire adds one."""

    count: int = 1
    removed: bool = False  # IoReleaseRemoveLockAndWait was called: new acquires fail


@dataclass(eq=False)
class ControllerObject:
    """A CONTROLLER_OBJECT (IoCreateController): hardware several of a driver's devices
    share, held by one device at a time."""

    address: int
    driver: DriverObject
    owner: DeviceObject | None = None  # the device holding it
    # (device, IRP if it has one) in IoAllocateController order
    waiting: list[tuple[DeviceObject, Irp | None]] = field(default_factory=list)


@dataclass(eq=False)
class Vpb:
    """VPB: links a volume (its real device) to the file system volume device that mounted it."""

    real_device: DeviceObject
    device: DeviceObject | None = None  # Vpb->DeviceObject: the file system's volume device

    @property
    def mounted(self) -> bool:  # VPB_MOUNTED
        return self.device is not None


@dataclass(slots=True)
class Completion:
    driver: DriverObject
    routine: str
    device: DeviceObject  # the setter's device: what the routine is called with
    on_success: bool = True
    on_error: bool = True
    on_cancel: bool = True


@dataclass(slots=True)
class IoStackLocation:
    major: str | None = None
    minor: str | None = None
    device: DeviceObject | None = None
    completion: Completion | None = None
    pending: bool = False  # SL_PENDING_RETURNED in Control


@dataclass(eq=False, slots=True)
class Irp:
    number: int
    address: int
    stack: list[IoStackLocation]
    current: int  # CurrentLocation as an index; len(stack) before the first IoCallDriver
    status: int = 0x103  # STATUS_PENDING until completed
    pending_returned: bool = False
    completed: bool = False
    created_tick: int = 0
    # each hop down and up, for the IRP view: (IoCallDriver calls deep, template, arguments),
    # its text formatted only when read (`path`): most IRPs are freed unseen
    hops: list[tuple[int, str, tuple]] = field(default_factory=list)
    calls: int = 0  # IoCallDriver calls for it still running (the depth of a new entry)
    requester: Thread | None = None  # the thread whose system call built it, if any
    # IRP_DEFER_IO_COMPLETION: a system service's IRP; completed before its dispatch routine
    # returned (not pending), the service itself finishes it, with no APC
    deferred: bool = False
    # IopCompleteRequest's work for the requester, given the final status: run in the
    # requester's thread (an APC, or the system service itself), before the IRP is freed
    on_done: Callable[[int], None] | None = None
    power_state: IntEnum | None = None  # an IRP_MJ_POWER's S or D state (po.py's enums)
    cancel: bool = False  # Irp->Cancel: IoCancelIrp was called
    apc_to: Thread | None = None  # completed: the thread its IopCompleteRequest APC waits in
    taken_back: bool = False  # a completion routine returned MORE_PROCESSING_REQUIRED: its
    # driver owns the IRP again until it sends it down or completes it
    cancel_routine: Completion | None = None  # Irp->CancelRoutine: who set it, which routine
    boost: int = 0  # IoCompleteRequest's PriorityBoost for the thread that waited
    master: Irp | None = None  # for an IRP a driver built: the request it works for
    owner: DriverObject | None = None  # who allocated it (IoAllocateIrp); no thread owns it
    reached: list[DeviceObject] = field(default_factory=list)  # every device it was sent to
    code: int | None = None  # an IOCTL's control code
    buffer: str = ""  # where the data is: SystemBuffer, MdlAddress or UserBuffer, described
    provider: DeviceObject | None = None  # a WMI request's Parameters.WMI.ProviderId
    mdl: tuple[int, int, int] | None = None  # MdlAddress: (process id, user address, length)
    mdl_frames: tuple[int, ...] = ()  # the frames MmProbeAndLockPages locked for it
    system_address: int = 0  # MappedSystemVa: where MmGetSystemAddressForMdlSafe mapped them
    user_buffer: tuple[int, int, int] | None = None  # neither I/O's UserBuffer, the same way
    vpb: Vpb | None = None  # IRP_MN_MOUNT_VOLUME: the volume to mount (Parameters.MountVolume)
    flags: int = 0  # Irp->Flags the model sets: IoPageRead's (PAGING_READ_FLAGS)

    @property
    def location(self) -> IoStackLocation | None:
        return self.stack[self.current] if 0 <= self.current < len(self.stack) else None

    @property
    def holder(self) -> DeviceObject | None:
        """The device at CurrentLocation, whose driver has the IRP now; None before the first
        IoCallDriver, and once completion (or IoSkipCurrentIrpStackLocation) went past the top."""
        location = self.location
        if location is None:
            return None
        # IoCallDriver set the device of every location from CurrentLocation up when the IRP
        # came down through it; completion and skipping only move CurrentLocation up again.
        assert location.device is not None
        return location.device

    def record(self, text: str, *args: object) -> None:
        """Add a step to its path, at the depth of the calls running now (0: the requester,
        or a DPC finishing it later). With `args`, `text` is a str.format template for them."""
        self.hops.append((self.calls, text, args))

    @property
    def path(self) -> list[str]:
        """Each hop down and up the stack, in order, as the IRP view shows them."""
        return [formatted(text, args) for _, text, args in self.hops]

    @property
    def depths(self) -> list[int]:
        """Per path entry: how many IoCallDriver calls deep it happened."""
        return [depth for depth, _, _ in self.hops]


@dataclass(eq=False)
class FileObject:
    """FILE_OBJECT: an open instance of a device, what a handle to a device points at."""

    header: ObjectHeader
    device: DeviceObject
    access: int  # the access granted at open
    synchronous: bool = True  # FO_SYNCHRONOUS_IO: opened without FILE_FLAG_OVERLAPPED
    file_name: str = ""  # FileName: the path after the device's name (\\notes.txt)
    vpb: Vpb | None = None  # a file on a mounted volume: its requests go to Vpb->DeviceObject

    @property
    def target(self) -> DeviceObject:
        """Where the I/O manager sends this file's IRPs: the top of the file system's volume
        device stack for a file on a volume, else the top of the device's own stack."""
        volume = self.vpb.device if self.vpb is not None else None  # None once dismounted
        return (volume or self.device).top()


class FinishedIrp(NamedTuple):
    """What is remembered of a completed IRP (the IRP itself is freed): for `irp N status`.
    A NamedTuple: one is made for every IRP completed."""

    number: int
    major: str
    status: int
    completed: bool = True


# Irp->Flags (wdm.h): what IoPageRead sets on a paging read, "IRP_PAGING_IO | IRP_NOCACHE |
# IRP_SYNCHRONOUS_PAGING_IO | IRP_INPUT_OPERATION" (ReactOS ntoskrnl/io/iomgr/iofunc.c);
# IRP_SYNCHRONOUS_PAGING_IO and IRP_INPUT_OPERATION are the same bit, 0x40.
IRP_NOCACHE, IRP_PAGING_IO, IRP_SYNCHRONOUS_PAGING_IO = 0x1, 0x2, 0x40
PAGING_READ_FLAGS = IRP_PAGING_IO | IRP_NOCACHE | IRP_SYNCHRONOUS_PAGING_IO


def flag_names(flags: int) -> str:
    names = [name for name, bit in (("IRP_NOCACHE", IRP_NOCACHE), ("IRP_PAGING_IO", IRP_PAGING_IO),
                                    ("IRP_SYNCHRONOUS_PAGING_IO", IRP_SYNCHRONOUS_PAGING_IO))
             if flags & bit]
    return f"{flags:#x} ({' | '.join(names)})"
