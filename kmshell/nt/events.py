"""Events: every change of model state is announced by one, in order, on the system's log."""

from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    """Immutable and cheap to make: a long run emits hundreds of thousands of these."""

    tick: int
    cpu: int
    irql: int
    mode: str  # "U" user mode or "K" kernel mode: the processor mode the code ran in
    component: str  # NT routine prefix of who acted: Ke, Ps, Ob, Mm, Io, ...
    kind: str  # a stable machine-readable label, e.g. "process-create"
    text: str
    why: str = ""  # one plain sentence for explain mode

    def to_json(self) -> dict:
        return self._asdict()


def ptr(address: int) -> str:
    """A 64-bit address as WinDbg prints it: ffffc50f`0a002980."""
    text = f"{address:016x}"
    return f"{text[:8]}`{text[8:]}"
