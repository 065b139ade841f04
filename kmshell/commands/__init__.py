"""Commands: one module per noun. Each validates names against the model and calls it.

Importing this package registers every command in `TABLE`.
"""

from kmshell.commands import (  # noqa: F401  (importing registers the commands)
    callbacks,
    config,
    interrupts,
    io,
    machine,
    memory,
    objects,
    pool,
    power,
    processes,
    security,
    session_commands,
    sync,
    verifier,
    wmi,
)
from kmshell.commands.registry import TABLE, command

__all__ = ["TABLE", "command"]
