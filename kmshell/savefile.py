"""`save FILE` / `load FILE`: the session as versioned JSON.

A save holds the boot options and the lines typed since, plus a snapshot of the state.
Loading replays the lines into a fresh machine — the model is deterministic, so that gives
back exactly the saved state — and then checks the result against the snapshot: a damaged
or edited file is refused and the current session is kept. Nothing in the file is executed
except as kmshell command lines, which go through the same parser as typed ones, and the
whole file is checked before any of them runs: its lines may only be machine commands (no
save, record, export, load or replay), so loading a file never writes one, and reads no
other file than the driver specs its `driver load` lines name.
"""

from __future__ import annotations

import json
from pathlib import Path

from kmshell import __version__, files
from kmshell.errors import KmsError
from kmshell.nt.rtl import U64, printable

FORMAT = "kmshell-session"
VERSION = 1


def save(session, path: str) -> Path:
    """Write atomically (kmshell.files): the old file stays whole until the new one is."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "kmshell": __version__,
        "boot": vars(session.initial_options),
        "lines": session.lines(),
        "state": session.system.to_json(),
    }
    try:
        return files.write_text(session.writes.check(path), json.dumps(data, indent=1))
    except files.FileError as error:
        raise KmsError(str(error)) from None


def _is_whole(value: object, low: int, high: int) -> bool:
    """A JSON whole number in low..high: not a bool (True is an int in Python), not "1"."""
    return type(value) is int and low <= value <= high


def load(session, path: str) -> int:
    """Replace the session with the saved one; returns the number of lines replayed."""
    from kmshell.session import Session  # the session module imports the command table

    shown = printable(path)
    try:
        data = json.loads(files.read_text(path, "save file"))
    except files.FileError as error:
        raise KmsError(str(error)) from None
    except RecursionError:
        raise KmsError(f"{shown} is not a kmshell save file: its JSON is nested too deeply") \
            from None
    except ValueError as error:  # bad JSON
        raise KmsError(f"{shown} is not a kmshell save file: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KmsError(f"{shown} is not a kmshell save file (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if _is_whole(version, VERSION + 1, U64):
        raise KmsError(f"{shown} was saved by a newer kmshell (format version {version}); "
                       f"this one ({__version__}) reads version {VERSION}",
                       hint="upgrade kmshell to load it")
    if not _is_whole(version, 1, VERSION):
        raise KmsError(f"{shown} is damaged: \"version\" must be a whole number from 1 to "
                       f"{VERSION}, not {printable(json.dumps(version))[:40]}")
    boot, lines = data.get("boot"), data.get("lines")
    if not isinstance(boot, dict) or not _is_whole(boot.get("cpus"), 1, 64) or \
            type(boot.get("minimal")) is not bool or not _is_whole(boot.get("seed"), 0, U64):
        raise KmsError(f"{shown} is damaged: \"boot\" must hold cpus (1..64), minimal (true "
                       "or false) and seed (0..2**64-1)")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise KmsError(f"{shown} is damaged: \"lines\" must be a list of command lines")
    _check_lines(shown, lines)
    with session.opening(Path(path), "load"):
        fresh = Session(boot["cpus"], boot["minimal"], boot["seed"])
        fresh.opened, fresh.writes = session.opened, session.writes
        for line in lines:
            fresh.execute(line)
            session.raise_if_interrupted("load", shown)
    if fresh.system.to_json() != data.get("state"):
        raise KmsError(f"{path} is damaged: replaying its {len(lines)} lines does not give the "
                       "state it recorded", hint="the current session is unchanged")
    session.adopt(fresh)
    return len(lines)


def _check_lines(shown: str, lines: list[str]) -> None:
    """The whole file before any line runs: a saved line is a machine command, or a line
    that failed to parse when it was typed. A session command (save, record, export, load,
    replay and the like) was never saved, so one here means the file was edited."""
    from kmshell.commands import TABLE
    from kmshell.language import parse_words, split_words

    for number, line in enumerate(lines, start=1):
        try:
            command = parse_words(split_words(line), TABLE)
        except KmsError:
            continue  # typed and failed then; it fails the same way now
        if command is not None and command.spec.meta:
            raise KmsError(f"{shown} is damaged: line {number} is '{command.spec.name}', a "
                           "session command that a save file never holds",
                           hint="nothing was run; the current session is unchanged")
