"""The two ways the model refuses: an NTSTATUS failure, or a bugcheck that stops it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmshell.nt.ke.bugcheck import BugcheckInfo


class SystemHalted(Exception):
    """Raised through the model when KeBugCheckEx stops the machine."""

    def __init__(self, info: BugcheckInfo):
        super().__init__(f"bugcheck 0x{info.code:X}")
        self.info = info


class NtError(Exception):
    """An operation the kernel refuses, with the NTSTATUS it would return."""

    def __init__(self, status: int, message: str, where: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.where = where  # the driver, routine and step that made the call, when one did

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message
