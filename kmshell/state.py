"""The plain data a session keeps and hands out: settings, history, boot options, outcomes.

A leaf below the session, the commands, the scenario runner and the save file, so that each
of them can use these types without importing the session (which imports all of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kmshell.errors import KmsError
from kmshell.language import Command
from kmshell.nt.events import Event
from kmshell.nt.ke.bugcheck import BugcheckInfo

VIEW_MODES = ("full", "auto", "quiet")


def prompt_text(halted: bool) -> str:
    """The shell's prompt, which a replayed or piped transcript prints too, so both read the
    same as the shell."""
    return "kmshell (halted)> " if halted else "kmshell> "


@dataclass
class Settings:
    explain: bool = False
    view: str = "auto"


@dataclass
class HistoryEntry:
    number: int
    tick: int  # the clock when the command started
    line: str
    ok: bool
    changed: bool = False  # it produced events: undo counts it
    # where its relative file names were taken from: the folder of the scenario or save file
    # it came from; None, the working directory (it was typed at the prompt)
    folder: Path | None = None


@dataclass
class Outcome:
    """What one line did: its events, the views to show, or the error."""

    line: str
    command: Command | None = None
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # its first events, let go of by the bounded trace before it ended
    views: list = field(default_factory=list)
    error: KmsError | None = None
    bugcheck: BugcheckInfo | None = None  # set when this line stopped the machine
    interrupted: str = ""  # where Ctrl-C stopped it, when it did
    warning: str = ""  # something beside the command went wrong (the recording stopped)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BootOptions:
    cpus: int = 2
    minimal: bool = False
    seed: int = 0
    memory: int = 64  # MB of physical memory (DEFAULT_MEMORY_MB in kmshell/nt/mm.py)
