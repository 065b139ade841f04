"""Common Log File System (Clfs, CLFS): append-only logs whose flushed records survive a
crash.

Records are appended with increasing LSNs (log sequence numbers) into a marshalling buffer
in memory; ClfsFlushToLsn writes them to stable storage. When the machine restarts, only
flushed records are still there (`recover_logs`, at boot).

State (`LogFileSystem`): `logs`, the logs by lower-cased name. The dict lives on the
machine's `Disk` (system.py), so logs survive a reboot; each record says whether it was
flushed.

Reached: System builds it with the Core and the disk's logs; only the command layer calls it.

Simplification: one container per log, and an LSN is a plain counter rather than
container:block:record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError

if TYPE_CHECKING:
    from kmshell.nt.core import Core


@dataclass
class LogRecord:
    lsn: int
    text: str
    flushed: bool = False


@dataclass
class Log:
    name: str
    records: list[LogRecord] = field(default_factory=list)
    next_lsn: int = 1


class LogFileSystem:
    """CLFS. Built with the Core and the logs on the disk, which a restart keeps."""

    def __init__(self, core: Core, logs: dict[str, Log]) -> None:
        self.core = core
        self.logs = logs  # lower-cased name -> log, on the disk
        self.emit = core.emit

    def clfs_log(self, name: str) -> Log:
        log = self.logs.get(name.lower())
        if log is None:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND, f"no log named '{name}'; "
                          "create it with log create")
        return log

    def log_create(self, name: str) -> Log:
        self.core.require_running()
        if name.lower() in self.logs:
            raise NtError(NtStatus.STATUS_OBJECT_NAME_COLLISION, f"log '{name}' exists")
        log = self.logs[name.lower()] = Log(name)
        self.emit("Clfs", "log", f"log {name} created (ClfsCreateLogFile)")
        return log

    def log_append(self, name: str, text: str) -> LogRecord:
        self.core.require_running()
        log = self.clfs_log(name)
        record = LogRecord(log.next_lsn, text)
        log.next_lsn += 1
        log.records.append(record)
        self.emit("Clfs", "log", f"{name}: record LSN {record.lsn} appended "
                  "(ClfsReserveAndAppendLog) — in memory only until flushed")
        return record

    def log_flush(self, name: str) -> int:
        self.core.require_running()
        log = self.clfs_log(name)
        pending = [r for r in log.records if not r.flushed]
        for record in pending:
            record.flushed = True
        upto = log.records[-1].lsn if log.records else 0
        self.emit("Clfs", "log", f"{name}: ClfsFlushToLsn({upto}) wrote {len(pending)} "
                  "record(s) to stable storage", "A flushed record survives a crash; an "
                  "appended but unflushed one does not.")
        return len(pending)

    def recover_logs(self) -> None:
        """At boot: what reached the disk is all there is."""
        for log in self.logs.values():
            lost = [r for r in log.records if not r.flushed]
            log.records = [r for r in log.records if r.flushed]
            if lost:
                self.emit("Clfs", "recovery", f"log {log.name}: {len(lost)} unflushed record(s) "
                          f"lost in the restart (LSN {lost[0].lsn}..{lost[-1].lsn}); "
                          f"{len(log.records)} flushed record(s) recovered")
