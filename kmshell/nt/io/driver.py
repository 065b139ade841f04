"""Driver objects: one per loaded driver, named \\Driver\\<service name>.

The model loads a fixed set of boot drivers at boot. Their dispatch routines, devices and
the loading of driver specs (TOML) are the I/O manager's next step; for now a driver object
is what notify callbacks and work items are registered by, and are blamed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmshell.nt.ob import ObjectHeader

# (service name, image, what it is) for the default machine's boot-start drivers.
BOOT_DRIVERS = (
    ("ACPI", "acpi.sys", "ACPI driver: the bus driver for the motherboard's devices"),
    ("pci", "pci.sys", "PCI bus driver"),
    ("disk", "disk.sys", "disk class driver"),
    ("i8042prt", "i8042prt.sys", "PS/2 keyboard and mouse port driver"),
    ("kbdclass", "kbdclass.sys", "keyboard class driver"),
    ("WdFilter", "WdFilter.sys", "Microsoft Defender's filter: watches processes and images"),
)


@dataclass(eq=False)
class DriverObject:
    header: ObjectHeader
    name: str  # the service name, as in \Driver\<name> and the Services key
    image: str
    description: str = ""
    spec: object | None = None  # the DriverSpec it was loaded from; None for boot drivers
    devices: list = field(default_factory=list)  # DeviceObjects it created, oldest first
    unnamed: int = 0  # how many unnamed devices it created (for labels such as filter#1)
