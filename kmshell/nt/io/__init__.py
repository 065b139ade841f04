"""I/O manager (Io): driver objects so far; device objects, IRPs and stacks come next."""

from kmshell.nt.io.driver import BOOT_DRIVERS, DriverObject

__all__ = ["BOOT_DRIVERS", "DriverObject"]
