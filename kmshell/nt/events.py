"""Events: every change of model state is announced by one, in order, on the system's log."""

from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    """Immutable and cheap to make: a long run emits hundreds of thousands of these.

    Its text is read through `text`. Most events are made with the text itself; the busiest
    ones (an IRP's trip down and up a stack) give a `str.format` template and its arguments
    instead, plain values taken when the event happened, and the text is built only if
    something reads it: most events of a long run are never shown."""

    tick: int
    cpu: int
    irql: int  # an int, or an Irql: an IntEnum, which prints and compares as its number
    mode: str  # "U" user mode or "K" kernel mode: the processor mode the code ran in
    component: str  # NT routine prefix of who acted: Ke, Ps, Ob, Mm, Io, ...
    kind: str  # a stable machine-readable label, e.g. "process-create"
    template: str  # the text, or with `args` a str.format template of it
    why: str = ""  # one plain sentence for explain mode
    args: tuple = ()  # the template's arguments (ints and strings)

    @property
    def text(self) -> str:
        return formatted(self.template, self.args)

    def to_json(self) -> dict:
        return {"tick": self.tick, "cpu": self.cpu, "irql": int(self.irql), "mode": self.mode,
                "component": self.component, "kind": self.kind, "text": self.text,
                "why": self.why}


def formatted(template: str, args: tuple) -> str:
    """A text kept as a template and its arguments (an event's, an IRP path entry's); a
    template without arguments is the text itself, braces and all."""
    return template.format(*args) if args else template


def ptr(address: int) -> str:
    """A 64-bit address as WinDbg prints it: ffffc50f`0a002980."""
    text = f"{address:016x}"
    return f"{text[:8]}`{text[8:]}"
