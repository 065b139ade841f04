"""The two ways the model refuses: an NTSTATUS failure, or a bugcheck that stops it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

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


class HardFault(Exception):
    """Kernel code (a driver routine) touched a pageable page that is only on disk: Mm has
    taken a frame for it, and the page must be read from `path` at `offset` (IoPageRead)
    before the code can go on; `done` takes the read's status. The I/O manager sends the
    read and suspends the routine until it completes, then runs the access again."""

    def __init__(self, path: str, offset: int, done: Callable[[int], None], what: str):
        super().__init__(what)
        self.path, self.offset, self.done, self.what = path, offset, done, what
