"""Driver objects (DRIVER_OBJECT): one per loaded driver, named \\Driver\\<service name>
(\\FileSystem\\<name> for a file system). Not a component of their own: the I/O manager
(manager.py) creates them and keeps them by service name (`io.drivers`).

A driver object is made when a spec (TOML) is loaded, by `driver load` or by Plug and Play;
a few boot drivers that own no device (WdFilter) are plain objects that notify callbacks and
work items are registered by, and blamed on.

Simplifications: no dispatch table of entry points and no image in memory: a driver's
routines are the step lists of its spec, and a routine's address (for bugcheck parameters)
is a stable one made up from the driver object's address and the routine's name
(`mm.routine_address`: Mm's loader places images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.ob import ObjectHeader

if TYPE_CHECKING:
    from kmshell.nt.io.irp import ControllerObject, DeviceObject
    from kmshell.nt.io.spec import DriverSpec

# (service name, image, what it is) for the default machine's boot-start drivers.
# The device drivers (ACPI, pci, disk, ...) come from the catalog's specs when Plug and Play
# enumerates the device tree at boot.
BOOT_DRIVERS = (
    ("WdFilter", "WdFilter.sys", "Microsoft Defender's filter: watches processes and images"),
)


@dataclass(eq=False)
class DriverObject:
    header: ObjectHeader
    name: str  # the service name, as in \Driver\<name> and the Services key
    image: str
    description: str = ""
    spec: DriverSpec | None = None  # the spec it was loaded from; None for boot drivers
    devices: list[DeviceObject] = field(default_factory=list)  # the ones it created, oldest first
    unnamed: int = 0  # how many unnamed devices it created (for labels such as filter#1)
    verified: bool = False  # on Driver Verifier's list when it loaded
    unloaded: bool = False  # its image is gone: a call into it faults (0xCE)
    controller: ControllerObject | None = None  # its controller object (IoCreateController)

    def __repr__(self) -> str:
        return f"<DriverObject \\Driver\\{self.name}>"
