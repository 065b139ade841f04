"""A session: the machine plus the user's settings and history, and the one place lines run.

The REPL, `kmshell run` and `kmshell check` all call `Session.execute`, so a line behaves
the same wherever it is typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmshell.commands import TABLE
from kmshell.errors import KmsError
from kmshell.language import Command, parse_words, split_words
from kmshell.nt.constants import status_name
from kmshell.nt.events import Event
from kmshell.nt.ke.bugcheck import BugcheckInfo
from kmshell.nt.system import NtError, System, SystemHalted

VIEW_MODES = ("full", "auto", "quiet")


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


@dataclass
class Outcome:
    """What one line did: its events, the views to show, or the error."""

    line: str
    command: Command | None = None
    events: list[Event] = field(default_factory=list)
    views: list = field(default_factory=list)
    error: KmsError | None = None
    bugcheck: BugcheckInfo | None = None  # set when this line stopped the machine

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class BootOptions:
    cpus: int = 2
    minimal: bool = False
    seed: int = 0


class Session:
    def __init__(self, cpus: int = 2, minimal: bool = False, seed: int = 0):
        self.boot_options = BootOptions(cpus, minimal, seed)
        self.system = System(cpus, minimal, seed)
        self.settings = Settings()
        self.history: list[HistoryEntry] = []
        self.quit_requested = False

    def boot(self, options: BootOptions) -> None:
        self.boot_options = options
        self.system = System(options.cpus, options.minimal, options.seed)

    def reseed(self, seed: int) -> None:
        """`seed N`: the running machine's generator and every later boot use seed N."""
        self.boot_options.seed = seed
        self.system.reseed(seed)

    def execute(self, line: str) -> Outcome:
        outcome = Outcome(line)
        if not line.strip() or line.strip().startswith("#"):
            return outcome
        log = self.system.log
        start = len(log)
        entry = HistoryEntry(len(self.history) + 1, self.system.tick, line.strip(), ok=True)
        self.history.append(entry)
        try:
            command = parse_words(split_words(line), TABLE)
            outcome.command = command
            if self.system.halted and not command.spec.when_halted:
                info = self.system.bugcheck_info
                raise KmsError(f"the system is halted by bugcheck 0x{info.code:X} {info.name}",
                               hint="only inspection commands, !analyze, boot and reboot work "
                               "now; type reboot to start again")
            outcome.views = list(command.spec.handler(self, command) or [])
        except KmsError as error:
            outcome.error = error
        except NtError as error:
            outcome.error = KmsError(f"{error} ({status_name(error.status)})")
        except SystemHalted as halt:
            outcome.bugcheck = halt.info
        if self.system.log is log:
            outcome.events = log[start:]
        else:  # the line booted a new machine: all of its log is this line's
            outcome.events = list(self.system.log)
        entry.ok = outcome.ok
        return outcome
