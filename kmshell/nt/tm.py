"""Kernel Transaction Manager (Tm, KTM): registry changes that happen all together or not at
all.

`tx begin` starts a transaction (NtCreateTransaction, which in NT makes a TmTx object);
registry changes made while it is open are recorded in it (Cm enlists them) and applied
together at `tx commit`, or thrown away at `tx rollback`.

State (`TransactionManager`): `transaction`, the open one, if any; `transactions_started`,
the count that numbers them.

Reached: System builds it with the Core and Cm (whose changes it defers and applies at
commit), and gives it to Cm as its `tm` back-edge.

Simplification: one transaction at a time, owned by the shell; only the registry takes part
(no transacted files, no resource managers of drivers); the transaction is no object of the
object manager and has no handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmshell.nt.cm import RegistryOperation
from kmshell.nt.constants import NtStatus
from kmshell.nt.errors import NtError

if TYPE_CHECKING:
    from kmshell.nt.cm import ConfigurationManager
    from kmshell.nt.core import Core


@dataclass
class Transaction:
    number: int
    operations: list[RegistryOperation] = field(default_factory=list)


class TransactionManager:
    """Tm (KTM). Built with the Core and the configuration manager, whose changes it defers
    and applies at commit."""

    def __init__(self, core: Core, cm: ConfigurationManager) -> None:
        self.core = core
        self.cm = cm
        self.emit = core.emit
        self.transaction: Transaction | None = None  # the open one: one at a time
        self.transactions_started = 0

    def enlist(self, op: RegistryOperation) -> bool:
        """A registry change made while a transaction is open is only recorded, until commit.
        False when none is open: the change happens now."""
        if self.transaction is None:
            return False
        self.transaction.operations.append(op)
        self.emit("Tm", "tx-op", f"transaction {self.transaction.number} records: {op} "
                  "(not visible to others until commit)")
        return True

    def tx_begin(self) -> Transaction:
        self.core.require_running()
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
        self.core.require_running()
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
            self.cm.reg_apply(op, transacted=True)
        return tx
