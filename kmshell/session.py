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
    changed: bool = False  # it produced events: undo counts it


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
        self.initial_options = BootOptions(cpus, minimal, seed)
        self.boot_options = BootOptions(cpus, minimal, seed)
        self.system = System(cpus, minimal, seed)
        self.settings = Settings()
        self.history: list[HistoryEntry] = []  # the journal: every non-meta line, in order
        self.quit_requested = False
        self.recorder = None  # a Recorder while `record FILE` is on
        self.console = None  # the front end's recording console, for `export`

    def boot(self, options: BootOptions) -> None:
        """Restart the machine; its disk (registry, logs) carries over, as a disk does."""
        self.boot_options = options
        self.system = System(options.cpus, options.minimal, options.seed, disk=self.system.disk)

    def reseed(self, seed: int) -> None:
        """`seed N`: the running machine's generator and every later boot use seed N."""
        self.boot_options.seed = seed
        self.system.reseed(seed)

    def lines(self) -> list[str]:
        return [entry.line for entry in self.history]

    def rebuild(self, lines: list[str]) -> None:
        """Time travel: the state after typing only `lines` into a fresh session. The model
        is deterministic, so replaying the journal reproduces the state exactly."""
        fresh = Session(self.initial_options.cpus, self.initial_options.minimal,
                        self.initial_options.seed)
        for line in lines:
            fresh.execute(line)
        self.adopt(fresh)

    def adopt(self, other: Session) -> None:
        """Take over another session's machine and journal (the front end's console and an
        active recording stay)."""
        self.initial_options = other.initial_options
        self.system, self.history = other.system, other.history
        self.settings, self.boot_options = other.settings, other.boot_options

    def undo(self, count: int) -> int:
        """Go back `count` state-changing commands (queries after them go too); returns the
        number of history entries kept."""
        changed = [i for i, entry in enumerate(self.history) if entry.changed]
        if not changed:
            raise KmsError("nothing to undo: no command has changed the machine yet")
        if count > len(changed):
            raise KmsError(f"only {len(changed)} command(s) can be undone",
                           hint=f"undo {len(changed)} goes back to the freshly booted machine")
        keep = changed[-count]
        self.rebuild(self.lines()[:keep])
        return keep

    def execute(self, line: str) -> Outcome:
        outcome = Outcome(line)
        if not line.strip() or line.strip().startswith("#"):
            return outcome
        system, mark = self.system, self.system.events_emitted
        entry = HistoryEntry(len(self.history) + 1, self.system.tick, line.strip(), ok=True)
        try:
            command = parse_words(split_words(line), TABLE)
            outcome.command = command
            if not command.spec.meta:
                self.history.append(entry)
            if self.system.halted and not command.spec.when_halted:
                info = self.system.bugcheck_info
                raise KmsError(f"the system is halted by bugcheck 0x{info.code:X} {info.name}",
                               hint="only inspection commands, !analyze, undo, boot and reboot "
                               "work now; type reboot to start again")
            outcome.views = list(command.spec.handler(self, command) or [])
        except KmsError as error:
            outcome.error = error
        except NtError as error:
            outcome.error = KmsError(f"{error} ({status_name(error.status)})")
        except SystemHalted as halt:
            outcome.bugcheck = halt.info
        if outcome.command is None:  # it did not parse: still part of what was typed
            self.history.append(entry)
        if self.system is system:
            outcome.events = system.events_since(mark)
        else:  # the line booted or rebuilt the machine: all of its log is this line's
            outcome.events = list(self.system.log) if outcome.command and \
                not outcome.command.spec.meta else []
        entry.ok = outcome.ok
        entry.changed = bool(outcome.events) and outcome.command is not None
        if self.recorder is not None and (outcome.command is None or not outcome.command.spec.meta):
            self.recorder.write(line.strip(), outcome)
        return outcome
