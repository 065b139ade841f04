"""`save FILE` / `load FILE`: the session as versioned JSON.

A save holds the boot options and the lines typed since, plus a snapshot of the state.
This module writes the file, and reads and checks it; loading (Session.load) then replays
the lines into a fresh machine — the model is deterministic, so that gives back exactly the
saved state — and checks the result against the snapshot: a damaged or edited file is
refused and the current session is kept. Nothing in the file is executed
except as kmshell command lines, which go through the same parser as typed ones, and the
whole file is checked before any of them runs: its lines may only be machine commands (no
save, record, export, load or replay), so loading a file never writes one, and reads no
other file than the driver specs its `driver load` lines name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kmshell import __version__, files
from kmshell.errors import KmsError
from kmshell.files import WriteRule
from kmshell.language import CommandTable, parse_words, split_words
from kmshell.nt.rtl import U64, printable
from kmshell.state import BootOptions

FORMAT = "kmshell-session"
VERSION = 1


def save(path: str, writes: WriteRule, folder: Path | None, boot: BootOptions,
         lines: list[str], state: object) -> Path:
    """Write atomically (kmshell.files): the old file stays whole until the new one is. A
    relative path is taken from folder (the scenario's), or the current directory."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "kmshell": __version__,
        "boot": vars(boot),
        "lines": lines,
        "state": state,
    }
    try:
        return files.write_text(writes.check(path, folder), json.dumps(data, indent=1))
    except files.FileError as error:
        raise KmsError(str(error)) from None


def _is_whole(value: object, low: int, high: int) -> bool:
    """A JSON whole number in low..high: not a bool (True is an int in Python), not "1"."""
    return type(value) is int and low <= value <= high


@dataclass
class Saved:
    """A save file, checked: the first machine's boot options, the lines typed since, and
    the state replaying them must give."""

    boot: BootOptions
    lines: list[str]
    state: object


def load(path: str, table: CommandTable, name: str | None = None) -> Saved:
    """Read and check a save file; the session replays it (Session.load). `table` is the
    command table its lines are checked against; `name`, the file as the user gave it (path
    is where it was found: from a scenario's folder), for messages."""
    shown = printable(name or path)
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
            type(boot.get("minimal")) is not bool or not _is_whole(boot.get("seed"), 0, U64) \
            or not _is_whole(boot.get("memory", BootOptions.memory), 16, 4096):
        raise KmsError(f"{shown} is damaged: \"boot\" must hold cpus (1..64), minimal (true "
                       "or false), seed (0..2**64-1) and, if saved, memory (16..4096 MB)")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise KmsError(f"{shown} is damaged: \"lines\" must be a list of command lines")
    _check_lines(shown, lines, table)
    return Saved(BootOptions(boot["cpus"], boot["minimal"], boot["seed"],
                             boot.get("memory", BootOptions.memory)), lines,
                 data.get("state"))


def _check_lines(shown: str, lines: list[str], table: CommandTable) -> None:
    """The whole file before any line runs: a saved line is a machine command, or a line
    that failed to parse when it was typed. A session command (save, record, export, load,
    replay and the like) was never saved, so one here means the file was edited."""
    for number, line in enumerate(lines, start=1):
        try:
            command = parse_words(split_words(line), table)
        except KmsError:
            continue  # typed and failed then; it fails the same way now
        if command is not None and command.spec.meta:
            raise KmsError(f"{shown} is damaged: line {number} is '{command.spec.name}', a "
                           "session command that a save file never holds",
                           hint="nothing was run; the current session is unchanged")
