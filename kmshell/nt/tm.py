"""Kernel Transaction Manager (Tm): registry changes that happen all together or not at all.

`tx begin` starts a transaction (a TmTx object); registry changes made while it is open are
recorded in it and applied together at `tx commit`, or thrown away at `tx rollback`.
Simplification: one transaction at a time, owned by the shell; only the registry takes part
(no transacted files, no resource managers of drivers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmshell.nt.cm import RegistryOperation
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError


@dataclass
class Transaction:
    number: int
    operations: list[RegistryOperation] = field(default_factory=list)


class TransactionManager:
    """Mixed into `System`."""

    def tx_begin(self) -> Transaction:
        self._require_running()
        if self.transaction is not None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER,
                          f"transaction {self.transaction.number} is still open; commit or "
                          "roll it back first")
        self.transactions_started += 1
        self.transaction = Transaction(self.transactions_started)
        self.emit("Tm", "tx-begin", f"transaction {self.transaction.number} begins "
                  "(NtCreateTransaction); registry changes now wait for commit")
        return self.transaction

    def tx_end(self, commit: bool) -> Transaction:
        self._require_running()
        tx = self.transaction
        if tx is None:
            raise NtError(NtStatus.STATUS_INVALID_PARAMETER, "no transaction is open; start "
                          "one with tx begin")
        self.transaction = None
        if not commit:
            self.emit("Tm", "tx-rollback", f"transaction {tx.number} rolled back: "
                      f"{len(tx.operations)} change(s) thrown away; the registry is as before")
            return tx
        self.emit("Tm", "tx-commit", f"transaction {tx.number} commits: {len(tx.operations)} "
                  "change(s) applied together", "Either every change of a transaction "
                  "happens or none does: nobody ever sees half of it.")
        for op in tx.operations:
            self.reg_apply(op, transacted=True)
        return tx
