"""The I/O manager (Io): driver objects (driver.py); device objects, IRPs, VPBs and file
objects (irp.py); the I/O manager itself (manager.py) and its file-system half and
system-call path (files.py); driver specs (spec.py) and the interpreter of their steps
(steps.py)."""

from kmshell.nt.io.driver import BOOT_DRIVERS, DriverObject

__all__ = ["BOOT_DRIVERS", "DriverObject"]
