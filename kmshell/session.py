"""A session: the machine plus the user's settings and history, and the one place lines run.

The REPL, `kmshell run` and `kmshell check` all call `Session.execute`, so a line behaves
the same wherever it is typed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from kmshell import cancel, savefile
from kmshell.commands import TABLE
from kmshell.drivers import new_system
from kmshell.errors import Interrupted, KmsError
from kmshell.files import ANYWHERE, FileError, WriteRule
from kmshell.language import parse_words, split_words
from kmshell.nt.constants import status_name
from kmshell.nt.rtl import printable
from kmshell.nt.system import NtError, Snapshot, System, SystemHalted
from kmshell.recorder import Recorder, relocate
from kmshell.state import BootOptions, HistoryEntry, Outcome, Settings

if TYPE_CHECKING:
    from kmshell.views.progress import Meter

MAX_NESTING = 8  # files replaying or loading other files

# Checkpoints for undo and goto: the machine is snapshotted every CHECKPOINT_EVERY lines of
# the journal, and the snapshots kept thin out with age (checkpoints_kept), so that going
# back a little replays at most CHECKPOINT_EVERY lines and the checkpoints kept never number
# more than 2 × CHECKPOINT_LEVELS, however long the session.
CHECKPOINT_EVERY = 500
CHECKPOINT_LEVELS = 8  # spacings 500, 1,000, 2,000 … 64,000 lines


def checkpoints_kept(length: int, every: int = CHECKPOINT_EVERY) -> set[int]:
    """The journal lengths whose checkpoints are kept once the journal is `length` lines
    long: at each level k, the latest two multiples of every × 2^k. A checkpoint dropped
    is never wanted back: a later length keeps a subset of the older checkpoints."""
    kept = set()
    for level in range(CHECKPOINT_LEVELS):
        spacing = every << level
        latest = length // spacing * spacing
        kept |= {latest, latest - spacing}
    return {n for n in kept if n > 0}


@dataclass(frozen=True)
class Checkpoint:
    """The state the first lines of the journal give, as a fresh replay of them would:
    the machine, the boot options (`boot`, `seed`) and the settings (`view`, `explain`)."""

    machine: Snapshot
    boot_options: BootOptions
    settings: Settings


@dataclass(frozen=True)
class BeforeGoto:
    """The session as it was before a `goto` went back: its machine (untouched since, as a
    rebuild makes a fresh one) and its whole journal, so that `undo` can bring back the
    commands the goto dropped, exactly as they were. Kept until a command changes the
    machine again."""

    system: System
    history: list[HistoryEntry]
    checkpoints: dict[int, Checkpoint]
    checkpoint_every: int | None
    settings: Settings
    boot_options: BootOptions
    initial_options: BootOptions
    length: int  # the journal's length right after the goto


class Session:
    def __init__(self, cpus: int = 2, minimal: bool = False, seed: int = 0,
                 checkpoint_every: int | None = None, memory: int = BootOptions.memory):
        """checkpoint_every: snapshot the machine every so many lines of the journal, so
        that undo and goto replay only the lines since a checkpoint. The interactive shell
        asks for it (CHECKPOINT_EVERY); headless runs, which rarely go back, do not pay for
        the snapshots (one costs about as much as replaying 500 lines)."""
        self.initial_options = BootOptions(cpus, minimal, seed, memory)
        self.boot_options = BootOptions(cpus, minimal, seed, memory)
        self.system = new_system(cpus=cpus, minimal=minimal, seed=seed, memory=memory)
        self.settings = Settings()
        self.history: list[HistoryEntry] = []  # the journal: every non-meta line, in order
        self.checkpoints: dict[int, Checkpoint] = {}  # journal length → the state it gave
        self.checkpoint_every = checkpoint_every
        self.replaying_to: int | None = None  # while undo, goto or load replay: the length
        self.quit_requested = False
        self.recorder: Recorder | None = None  # while `record FILE` is on
        self.console: Console | None = None  # the front end's recording console, for `export`
        self.meter: Meter | None = None  # on a terminal, the front end's meter of long lines
        self.writes: WriteRule = ANYWHERE  # where lines may write files (kmshell.files)
        self.opened: list[Path] = []  # the files being replayed or loaded, outermost first
        self.folder: Path | None = None  # where the running line's file names are taken from
        self.before_goto: BeforeGoto | None = None  # what `undo` of a `goto` brings back

    def boot(self, options: BootOptions) -> None:
        """Restart the machine; its disk (registry, logs) carries over, as a disk does."""
        self.boot_options = options
        self.system = new_system(cpus=options.cpus, minimal=options.minimal, seed=options.seed,
                                 memory=options.memory, disk=self.system.disk)

    def reseed(self, seed: int) -> None:
        """`seed N`: the running machine's generator and every later boot use seed N."""
        self.boot_options.seed = seed
        self.system.core.reseed(seed)

    def lines(self) -> list[str]:
        return [entry.line for entry in self.history]

    def rebuild(self, lines: list[str]) -> None:
        """Time travel: the state after typing only `lines` (the start of the journal) into a
        fresh session. The model is deterministic, so replaying the journal reproduces the
        state exactly; each line takes its file names from where it first did. The replay
        starts at the latest checkpoint within `lines`, not at the first line."""
        first = self.initial_options
        fresh = Session(first.cpus, first.minimal, first.seed, self.checkpoint_every,
                        first.memory)
        start = max((n for n in self.checkpoints if n <= len(lines)), default=0)
        if start and self.lines()[:start] == lines[:start]:
            checkpoint = self.checkpoints[start]
            fresh.system = checkpoint.machine.restore()
            fresh.boot_options = replace(checkpoint.boot_options)
            fresh.settings = replace(checkpoint.settings)
            fresh.history = self.history[:start]
            fresh.checkpoints = {n: c for n, c in self.checkpoints.items() if n <= start}
        else:
            start = 0
        fresh.replaying_to = len(lines)
        for number, line in enumerate(lines[start:], start):
            entry = self.history[number] if number < len(self.history) else None
            fresh.execute(line, entry.folder if entry is not None and entry.line == line
                          else None)
            self.raise_if_interrupted("going back", "its commands")
        self.adopt(fresh)

    def path(self, name: str) -> str:
        """A file name as the running line means it: a relative one is taken from the folder
        of the scenario or save file the line comes from, so a course folder works from any
        working directory; typed at the prompt, from the working directory."""
        if self.folder is None or not name or os.path.isabs(name):
            return name
        return os.path.join(self.folder, name)

    def boot_line(self) -> str:
        """The `boot` line that gives this session's first machine; "" for the default one,
        which a scenario starts on anyway."""
        first = self.initial_options
        if first == BootOptions():
            return ""
        return f"boot --cpus {first.cpus} --seed {first.seed}" + \
            (f" --memory {first.memory}" if first.memory != BootOptions.memory else "") + \
            (" --minimal" if first.minimal else "")

    @contextmanager
    def opening(self, path: Path, verb: str, *, own_writes: WriteRule | None = None,
                shown: str | None = None) -> Iterator[None]:
        """While a file's lines run (replay, load, kmshell run): a file that replays or loads
        itself, at any depth, is refused instead of recursing; and its lines write no files
        (the user did not type them) unless own_writes says where they may."""
        real = path.resolve()
        if real in self.opened or len(self.opened) >= MAX_NESTING:
            chain = " → ".join(printable(p.name) for p in [*self.opened, real])
            raise KmsError(f"{printable(shown or str(path))} would {verb} itself ({chain})"
                           if real in self.opened else
                           f"files nest more than {MAX_NESTING} deep ({chain})",
                           hint="a scenario or save file may not replay or load itself")
        writes, self.writes = self.writes, own_writes or WriteRule(
            False, why="a replayed scenario writes no files; type the command yourself")
        self.opened.append(real)
        try:
            yield
        finally:
            self.opened.pop()
            self.writes = writes

    def save(self, path: str) -> Path:
        """`save FILE`: the first machine's boot options, the journal and the state. File
        names in the journal are written relative to the save file's folder, where `load`
        takes them from."""
        try:
            folder = Path(os.path.realpath(self.path(path))).parent
        except (OSError, ValueError):  # a NUL in the name: the write refuses it below
            folder = Path.cwd()
        return savefile.save(path, self.writes, self.folder, self.initial_options,
                             [relocate(e.line, e.folder, folder) for e in self.history],
                             self.system.to_json())

    def load(self, name: str) -> int:
        """`load FILE`: replace this session with the saved one, replayed into a fresh
        machine; returns the number of lines replayed. A file whose lines do not give the
        state it recorded is refused and this session stays as it was."""
        path = self.path(name)
        saved = savefile.load(path, TABLE, name)
        shown = printable(name)
        with self.opening(Path(path), "load", shown=name):
            fresh = Session(saved.boot.cpus, saved.boot.minimal, saved.boot.seed,
                            self.checkpoint_every, saved.boot.memory)
            fresh.opened, fresh.writes = self.opened, self.writes
            fresh.replaying_to = len(saved.lines)
            for line in saved.lines:
                fresh.execute(line)
                self.raise_if_interrupted("load", shown)
        if fresh.system.to_json() != saved.state:
            raise KmsError(f"{shown} is damaged: replaying its {len(saved.lines)} lines does not "
                           "give the state it recorded", hint="the current session is unchanged")
        self.adopt(fresh)
        return len(saved.lines)

    def replay(self, name: str, step: bool = False, col: int | None = None) -> str:
        """`replay FILE`: play a scenario into this session, as kmshell run does; its commands
        join the history. Returns the summary; an expectation that failed, or Ctrl-C, raises.
        `col` is where the file's name was typed, for the error when it does not parse."""
        # Imported here rather than at the top so that the shell's first prompt does not wait
        # for the scenario runner (docs/performance.md); the runner never imports this module.
        from kmshell.scenario import Replay, ScenarioError, catalog, load_scenario
        from kmshell.scenario.control import step_by_key

        if self.console is None:
            raise KmsError("replay needs the interactive shell", hint="use kmshell run FILE")
        path = Path(self.path(name))
        try:
            found = path.is_file()
        except (OSError, ValueError):  # a name too long for the file system, a NUL in it
            found = False
        if not found:
            path = catalog.find(name) or path
        try:
            scenario = load_scenario(path, TABLE)
        except ScenarioError as error:
            raise KmsError(str(error), col=col) from None
        control = step_by_key if step else None
        with self.opening(path, "replay", shown=name):
            result = Replay(scenario, self, console=self.console, control=control).run()
        if result.interrupted is not None:
            raise Interrupted(str(result.interrupted))
        if not result.ok:
            raise KmsError(result.summary(), hint=f"first: {result.failures[0]}")
        return result.summary()

    def raise_if_interrupted(self, what: str, where: str) -> None:
        """Between the lines a load or an undo replays into a fresh machine: Ctrl-C abandons
        that machine, and this session stays as it was."""
        if cancel.requested():
            raise KmsError(f"{what} interrupted while replaying {where}",
                           hint="nothing changed: the session is as it was before")

    def adopt(self, other: Session | BeforeGoto) -> None:
        """Take over another session's machine and journal (the front end's console and an
        active recording stay; the recording follows the new journal)."""
        self.before_goto = None
        before = self.lines()
        self.initial_options = other.initial_options
        self.system, self.history = other.system, other.history
        self.checkpoints, self.checkpoint_every = other.checkpoints, other.checkpoint_every
        self.settings, self.boot_options = other.settings, other.boot_options
        if self.recorder is not None:
            self.recorder.follow(before, self.history)

    def goto(self, n: int) -> int:
        """`goto N`: the state right after command N of the journal; returns how many later
        commands that drops. `undo` right after brings them back (undo_goto)."""
        kept = BeforeGoto(self.system, self.history, self.checkpoints, self.checkpoint_every,
                          self.settings, self.boot_options, self.initial_options, n)
        self.rebuild(self.lines()[:n])
        self.before_goto = kept
        return len(kept.history) - n

    def goto_undoable(self) -> bool:
        """Whether `undo` now undoes a goto: no command has changed the machine since."""
        kept = self.before_goto
        return kept is not None and not any(e.changed for e in self.history[kept.length:])

    def undo_goto(self) -> int:
        """Undo the last goto: the session as it was before it (queries typed since go);
        returns how many commands came back."""
        kept = self.before_goto
        assert kept is not None  # the caller asked goto_undoable
        self.adopt(kept)
        return len(kept.history) - kept.length

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

    def execute(self, line: str, folder: Path | None = None) -> Outcome:
        """Run one line. Its relative file names are taken from `folder` when given, else
        from the folder of the file being replayed or loaded, else the working directory."""
        outcome = Outcome(line)
        if not line.strip() or line.strip().startswith("#"):
            return outcome
        outer = self.folder
        self.folder = folder if folder is not None else \
            self.opened[-1].parent if self.opened else None
        try:
            with self.meter.line(line.strip()) if self.meter is not None else nullcontext():
                return self._execute(line, outcome)
        finally:
            self.folder = outer

    def ticking(self, total: int) -> Callable[[], bool]:
        """What a command that runs the clock for up to `total` ticks asks between ticks:
        whether Ctrl-C asked it to stop (kmshell.cancel); on a terminal the meter counts them."""
        if self.meter is None:
            return cancel.requested
        return self.meter.ticks(total, cancel.requested)

    def _execute(self, line: str, outcome: Outcome) -> Outcome:
        system, mark = self.system, self.system.core.events_emitted
        entry = HistoryEntry(len(self.history) + 1, self.system.core.tick, line.strip(), ok=True,
                             folder=self.folder)
        try:
            command = parse_words(split_words(line), TABLE)
            assert command is not None  # the line has a word: blank and comment lines returned
            outcome.command = command
            if not command.spec.meta:
                self.history.append(entry)
            if self.system.halted and not command.spec.when_halted:
                info = self.system.core.bugcheck_info
                assert info is not None  # a bugcheck is what halts the machine
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
        except Interrupted as stop:
            outcome.interrupted = stop.message
            if stop.replay_as is not None:
                entry.line = f"{stop.replay_as}  # interrupted: {entry.line}"
        if outcome.command is None:  # it did not parse: still part of what was typed
            self.history.append(entry)
        if self.system is system:
            outcome.events = system.core.events_since(mark)
            outcome.dropped = system.core.events_emitted - mark - len(outcome.events)
        else:  # the line booted or rebuilt the machine: all of its log is this line's
            outcome.events = list(self.system.core.log) if outcome.command and \
                not outcome.command.spec.meta else []
        entry.ok = outcome.ok
        entry.changed = bool(outcome.events) and outcome.command is not None
        if entry.changed:
            self.before_goto = None  # a new branch: what the goto dropped cannot come back
        if self.recorder is not None and (outcome.command is None or not outcome.command.spec.meta):
            self._record(entry, outcome)
        if self.history and self.history[-1] is entry:
            self._checkpoint()
        return outcome

    def _checkpoint(self) -> None:
        """After a journalled line: snapshot the machine every checkpoint_every lines, and
        let the older checkpoints thin out (checkpoints_kept). A replay towards a known
        length (undo, goto, load) takes only the snapshots that length keeps."""
        length, every = len(self.history), self.checkpoint_every
        if every is None or length % every or \
                length not in checkpoints_kept(max(length, self.replaying_to or 0), every):
            return
        self.checkpoints[length] = Checkpoint(self.system.snapshot(), replace(self.boot_options),
                                              replace(self.settings))
        kept = checkpoints_kept(length, every)
        self.checkpoints = {n: c for n, c in self.checkpoints.items() if n in kept}

    def _record(self, entry: HistoryEntry, outcome: Outcome) -> None:
        outcome.warning = self._recording(lambda recorder: recorder.write(entry, outcome))

    def record_directive(self, line: str, held: bool) -> str:
        """A directive typed at the prompt joins the recording; returns a warning, or ""."""
        if self.recorder is None:
            return ""
        return self._recording(
            lambda recorder: recorder.write_directive(line, held, len(self.history)))

    def _recording(self, write: Callable[[Recorder], None]) -> str:
        """Write to the recording; on a full disk stop recording and say so (the file keeps
        the lines written before)."""
        recorder = self.recorder
        assert recorder is not None  # the callers write only while recording
        try:
            write(recorder)
        except FileError as error:
            self.recorder = None
            return f"recording stopped: {error}; {recorder.path} keeps the lines written before"
        return ""
