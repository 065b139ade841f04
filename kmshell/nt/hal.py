"""The hardware abstraction layer (Hal; routines Hal*, and the DMA operations of the adapter
IoGetDmaAdapter returns): interrupt vectors, DMA adapter objects, map registers and
scatter/gather lists.

`Hal` owns `vectors_assigned`, how many blocks of interrupt vectors it has handed out. A DMA
adapter it makes is kept on the device object it serves (`adapter`). System builds it with
the Core and Ke (AdapterListControl runs at DISPATCH_LEVEL), then wires in `io` (the I/O
manager runs the driver's routines). The I/O manager reaches it as `io.hal`
(IoConnectInterruptEx asks it for a vector; a driver's DMA steps).

A bus-master device moves data itself, by physical address. Its driver asks the HAL for a
DMA adapter (IoGetDmaAdapter) that says how the device addresses memory: a 32-bit device
cannot reach pages above 4 GB, so for those the HAL lends it map registers — pages below
4 GB it transfers through (bounce buffers), copied to or from the real pages. For each
transfer the driver calls GetScatterGatherList with the IRP's MDL: the HAL builds the list
of physical (address, length) pieces of the caller's locked pages and calls the driver's
AdapterListControl routine at DISPATCH_LEVEL, which programs the device. The device
interrupts when it is done; the DPC calls PutScatterGatherList (map registers back; for a
read, bounced data copied in) and completes the IRP. Map registers are shared by the
adapter's transfers: a transfer that needs more than are free waits until one is put back.

Simplifications: no interrupt routing or arbitration: each device that connects gets the
next block of 16 vectors (its DIRQL the block's), and once they run out the last block is
shared; every adapter is a bus master with scatter/gather; physical pages are picked
deterministically from an 8 GB machine, not tracked; no common buffers, no DMA remapping
(IOMMU), no system (slave) DMA; AdapterListControl returns KeepObject (the driver frees the
list itself).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.constants import DIRQL_MAX, Irql, NtStatus, irql_name
from kmshell.nt.core import Core
from kmshell.nt.errors import NtError
from kmshell.nt.events import ptr

if TYPE_CHECKING:
    from kmshell.nt.io.irp import DeviceObject, Irp
    from kmshell.nt.io.manager import IoManager
    from kmshell.nt.ke.kernel import Kernel

PAGE = 0x1000
FOUR_GB = 1 << 32
PHYSICAL_PAGES = (8 << 30) // PAGE  # the model machine has 8 GB of memory
FIRST_VECTOR = 0x80  # vectors are handed out from here in blocks of 0x10
MAP_REGISTER_BASE = 0x0200_0000  # where the HAL keeps its bounce pages, below 4 GB


@dataclass
class SgElement:
    """SCATTER_GATHER_ELEMENT: what the device is told; `page` is where the data really is."""

    address: int  # the physical address the device uses
    length: int
    page: int  # the caller's physical page; == address unless bounced through a map register

    @property
    def bounced(self) -> bool:
        return self.address != self.page


@dataclass(eq=False)
class Transfer:
    irp: Irp
    device: DeviceObject
    elements: list[SgElement]
    map_registers: int  # how many of the adapter's map registers it holds
    to_device: bool  # WriteToDevice: data flows from memory to the device


@dataclass(eq=False)
class DmaAdapter:
    address: int
    device: DeviceObject
    bits: int  # 32 or 64: the addresses the device can put on the bus
    maximum_length: int  # DEVICE_DESCRIPTION.MaximumLength: the longest transfer
    map_registers: int  # NumberOfMapRegisters: the most one transfer may use
    transfers: list[Transfer] = field(default_factory=list)
    waiting: list[Transfer] = field(default_factory=list)  # for map registers to come back

    @property
    def in_use(self) -> int:
        return sum(t.map_registers for t in self.transfers)


def physical_page(pid: int, virtual_page: int) -> int:
    """The physical page behind a locked user page: fixed per (process, page), spread over
    the machine's 8 GB (so about half of all pages are above 4 GB)."""
    frame = zlib.crc32(f"{pid}:{virtual_page:x}".encode()) % (PHYSICAL_PAGES - 0x400) + 0x400
    return frame * PAGE


class Hal:
    """Hal. Built with the Core and Ke (a DMA callback runs at DISPATCH_LEVEL); the I/O
    manager, which runs the driver's routines, is wired in by System."""

    io: IoManager

    def __init__(self, core: Core, ke: Kernel) -> None:
        self.core = core
        self.ke = ke
        self.emit = core.emit
        self.vectors_assigned = 0  # blocks of 0x10 vectors handed out, from FIRST_VECTOR

    # ------------------------------------------------------------------ interrupt vectors

    def assign_vector(self) -> int:
        """HalGetInterruptVector: the next block of vectors (a device's messages share it,
        so one DIRQL); on x64 a vector's IRQL is its high nibble."""
        vector = min(FIRST_VECTOR + 0x10 * self.vectors_assigned, DIRQL_MAX << 4)
        self.vectors_assigned += 1
        return vector

    # ------------------------------------------------------------------ DMA adapters

    def get_dma_adapter(self, device: DeviceObject, bits: int, maximum_length: int) -> DmaAdapter:
        """IoGetDmaAdapter: a bus-master, scatter/gather DEVICE_DESCRIPTION."""
        registers = maximum_length // PAGE + 1  # BYTES_TO_PAGES(MaximumLength) + 1
        device.adapter = DmaAdapter(self.core.allocate_address(0x80), device, bits, maximum_length,
                                    registers)
        self.emit("Hal", "dma", f"IoGetDmaAdapter: the HAL gives {device.label} a DMA adapter "
                  f"at {ptr(device.adapter.address)} ({bits}-bit addresses, scatter/gather, "
                  f"transfers up to {maximum_length:,} bytes): NumberOfMapRegisters = "
                  f"{registers}", "A bus-master device reads and writes memory itself, by "
                  "physical address; the adapter object is how its driver asks the HAL for "
                  "the addresses." + (" A 32-bit device cannot reach memory above 4 GB: "
                                      "the HAL lends it map registers, pages below 4 GB to "
                                      "transfer through." if bits == 32 else ""))
        return device.adapter

    def _adapter(self, device: DeviceObject) -> DmaAdapter:
        adapter = device.adapter
        if adapter is None:
            raise NtError(NtStatus.STATUS_INVALID_DEVICE_STATE, f"{device.label} has no DMA "
                          "adapter: call IoGetDmaAdapter (in DriverEntry or AddDevice) first")
        return adapter

    def get_scatter_gather_list(self, device: DeviceObject, irp: Irp | None) -> int:
        """GetScatterGatherList: the physical pieces of the IRP's MDL, then AdapterListControl
        (now, or when enough map registers are free)."""
        adapter = self._adapter(device)
        if irp is None or irp.mdl is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, "GetScatterGatherList needs the "
                          "IRP's MDL: a read or write from user mode (read P H) to a device "
                          "with io = \"direct\"")
        pid, start, length = irp.mdl
        to_device = irp.stack[-1].major == "IRP_MJ_WRITE"
        elements: list[SgElement] = []
        bounce, offset = 0, start & (PAGE - 1)
        for page in range(start - offset, start + length, PAGE):
            piece = min(PAGE - offset, start + length - page - offset)
            real = physical_page(pid, page // PAGE) + offset
            if adapter.bits == 32 and real + piece > FOUR_GB:
                address = MAP_REGISTER_BASE + (adapter.in_use + bounce) * PAGE + offset
                bounce += 1
            else:
                address = real
            elements.append(SgElement(address, piece, real))
            offset = 0
        if len(elements) > adapter.map_registers:
            self.emit("Hal", "dma", f"GetScatterGatherList: IRP {irp.number}'s {length:,} bytes "
                      f"span {len(elements)} pages, more than the adapter's "
                      f"{adapter.map_registers} map registers allow: "
                      "STATUS_INSUFFICIENT_RESOURCES", "A driver splits a transfer longer "
                      "than its adapter's MaximumLength into several.")
            return NtStatus.STATUS_INSUFFICIENT_RESOURCES
        transfer = Transfer(irp, device, elements, bounce, to_device)
        listing = ", ".join(f"{e.address:#x}+{e.length:#x}" + (" (map register)" if e.bounced
                                                                else "") for e in elements)
        self.emit("Hal", "dma", f"GetScatterGatherList: IRP {irp.number}'s {length:,} bytes at "
                  f"{start:#x} are {len(elements)} piece(s) of physical memory: {listing}",
                  "The caller's pages are locked but scattered in physical memory: the device "
                  "gets a list of (address, length) pieces instead of one buffer.")
        if adapter.in_use + bounce > adapter.map_registers:
            adapter.waiting.append(transfer)
            self.emit("Hal", "dma", f"IRP {irp.number} needs {bounce} map register(s); "
                      f"{adapter.map_registers - adapter.in_use} of {adapter.map_registers} "
                      "are free: it waits for a PutScatterGatherList",
                      "Map registers are a shared, limited resource; the HAL queues the "
                      "request and calls AdapterListControl when they come back.")
            return NtStatus.STATUS_SUCCESS
        self._start_transfer(adapter, transfer)
        return NtStatus.STATUS_SUCCESS

    def _start_transfer(self, adapter: DmaAdapter, transfer: Transfer) -> None:
        adapter.transfers.append(transfer)
        irp, device = transfer.irp, transfer.device
        bounced = [e for e in transfer.elements if e.bounced]
        if bounced and transfer.to_device:
            self.emit("Hal", "dma", f"the HAL copies {sum(e.length for e in bounced):,} bytes "
                      f"from the pages above 4 GB into {len(bounced)} map register page(s), "
                      "where the device can reach them")
        cpu = self.core.processor()
        before = self.ke.raise_irql(Irql.DISPATCH_LEVEL)
        self.emit("Hal", "dma", f"{device.driver.name}!AdapterListControl runs at "
                  f"{irql_name(cpu.irql)} with the {len(transfer.elements)}-element list: it "
                  "programs the device, which moves the data by itself and interrupts when "
                  "it is done", "While the device transfers, no processor copies anything.")
        irp.record(f"IRP {irp.number} → {device.driver.name}!AdapterListControl "
                   f"({len(transfer.elements)} S/G element(s)) at {irql_name(cpu.irql)}")
        self.io.run_routine_at(before, device.driver, "AdapterListControl", irp, device)
        self.ke.lower_irql(before)

    def put_scatter_gather_list(self, device: DeviceObject) -> None:
        """PutScatterGatherList: the transfer is over; map registers go back to the adapter."""
        adapter = self._adapter(device)
        transfer = next((t for t in adapter.transfers if t.device is device), None)
        if transfer is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, f"{device.label} has no "
                          "scatter/gather list to put back")
        adapter.transfers.remove(transfer)
        bounced = [e for e in transfer.elements if e.bounced]
        if bounced and not transfer.to_device:
            self.emit("Hal", "dma", f"PutScatterGatherList: the HAL copies "
                      f"{sum(e.length for e in bounced):,} bytes from {len(bounced)} map "
                      "register page(s) to the caller's pages above 4 GB")
        self.emit("Hal", "dma", f"PutScatterGatherList: IRP {transfer.irp.number}'s list is "
                  f"freed; {transfer.map_registers} map register(s) back "
                  f"({adapter.map_registers - adapter.in_use} of {adapter.map_registers} free)")
        while adapter.waiting and adapter.in_use + adapter.waiting[0].map_registers <= \
                adapter.map_registers:
            self._start_transfer(adapter, adapter.waiting.pop(0))
