"""The kernel model: pure Python, no I/O, no rich, no prompt_toolkit.

Modules are named after NT's own components (ke, ps, ob, mm, ...) so that the layout of
the code teaches the layout of the kernel. Everything is reached through `System`.
"""

from kmshell.nt.events import Event
from kmshell.nt.system import System, SystemHalted

__all__ = ["Event", "System", "SystemHalted"]
