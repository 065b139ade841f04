"""Colours that carry meaning, the same everywhere: processor mode, IRQL band, thread state.

Every style degrades to plain text: no information is carried by colour alone.
"""

from __future__ import annotations

from kmshell.nt.constants import DIRQL_MAX, DIRQL_MIN, Irql, irql_name

MODE_STYLE = {"U": "cyan", "K": "magenta"}
MODE_NAME = {"U": "user", "K": "kernel"}


def irql_style(level: int) -> str:
    if level == Irql.PASSIVE_LEVEL:
        return "green"
    if level == Irql.APC_LEVEL:
        return "bright_green"
    if level == Irql.DISPATCH_LEVEL:
        return "yellow"
    if DIRQL_MIN <= level <= DIRQL_MAX:
        return "dark_orange"
    return "red"


def irql_label(level: int) -> str:
    """`2 DISPATCH`, `13 CLOCK`, `5 DIRQL`: short, with the number first."""
    name = irql_name(level).removesuffix("_LEVEL")
    return f"{level} {name}" if not name.startswith("DIRQL") else f"{level} DIRQL"


COMPONENT_STYLE = {
    "Ke": "bold blue",
    "Ps": "bold green",
    "Ob": "bold cyan",
    "Mm": "bold magenta",
    "Io": "bold yellow",
    "Hal": "bold",
}

THREAD_STATE_STYLE = {
    "Running": "bold green",
    "Ready": "yellow",
    "Waiting": "blue",
    "Terminated": "dim",
    "Initialized": "dim",
}
