"""The one error type users see: what was wrong, where (column), and what would be valid."""

from __future__ import annotations

import os
import traceback

from kmshell.nt.rtl import printable


class KmsError(Exception):
    def __init__(self, message: str, *, col: int | None = None, hint: str = "",
                 usage: str = ""):
        super().__init__(message)
        self.message = message
        self.col = col  # 1-based column in the line, when the error has a place
        self.hint = hint  # what would have been valid
        self.usage = usage  # the usage line of the command, when one is known

    def describe(self) -> str:
        """The error as one or more plain lines (without file and line)."""
        lines = [self.message]
        if self.hint:
            lines.append(self.hint)
        if self.usage:
            lines.append(f"usage: {self.usage}")
        return "\n".join(lines)


class Interrupted(Exception):
    """Ctrl-C stopped a command part-way, at a consistent point (kmshell.cancel).

    `message` says where it stopped; `replay_as` is the command line that does exactly what
    ran (`step 412` for an interrupted `step 1000000`), which the history keeps so that undo,
    save and record reproduce the machine as it is. None for a command that is not in the
    history itself (replay: the lines it ran are).
    """

    def __init__(self, message: str, replay_as: str | None = None):
        super().__init__(message)
        self.message = message
        self.replay_as = replay_as


def internal_error(error: Exception) -> str:
    """One line for a bug in kmshell itself, in place of a traceback (KMSHELL_TRACEBACK=1 in
    the environment shows the traceback instead, for whoever fixes it)."""
    if os.environ.get("KMSHELL_TRACEBACK"):
        return printable("".join(traceback.format_exception(error)))
    return printable(f"internal error in kmshell: {type(error).__name__}: {error}"[:500]) + \
        " — the session goes on; please report it with the commands that led here " \
        "(KMSHELL_TRACEBACK=1 shows where)"
