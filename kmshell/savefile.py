"""`save FILE` / `load FILE`: the session as versioned JSON.

A save holds the boot options and the lines typed since, plus a snapshot of the state.
Loading replays the lines into a fresh machine — the model is deterministic, so that gives
back exactly the saved state — and then checks the result against the snapshot: a damaged
or edited file is refused and the current session is kept. Nothing in the file is executed
except as kmshell command lines, which go through the same parser as typed ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from kmshell import __version__
from kmshell.errors import KmsError

FORMAT = "kmshell-session"
VERSION = 1


def save(session, path: str) -> Path:
    """Write atomically: a temporary file in the same directory, then a rename."""
    target = Path(path)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "kmshell": __version__,
        "boot": vars(session.initial_options),
        "lines": session.lines(),
        "state": session.system.to_json(),
    }
    directory = target.parent if str(target.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.",
                                             suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, target)
    except (OSError, ValueError) as error:
        raise KmsError.cannot("write", path, error) from None
    return target


def load(session, path: str) -> int:
    """Replace the session with the saved one; returns the number of lines replayed."""
    from kmshell.session import Session  # the session module imports the command table

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KmsError(f"no such file: {path}") from None
    except (OSError, ValueError) as error:  # also bad UTF-8, bad JSON, a NUL in the name
        raise KmsError(f"{path} is not a kmshell save file: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KmsError(f"{path} is not a kmshell save file (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise KmsError(f"{path} was saved by a newer kmshell (format version {version}); "
                       f"this one ({__version__}) reads version {VERSION}",
                       hint="upgrade kmshell to load it")
    boot, lines = data.get("boot"), data.get("lines")
    valid_boot = isinstance(boot, dict) and all(
        isinstance(boot.get(key), kind) for key, kind in
        (("cpus", int), ("minimal", bool), ("seed", int)))
    if not valid_boot or not isinstance(lines, list) or \
            not all(isinstance(line, str) for line in lines):
        raise KmsError(f"{path} is damaged: its boot options or lines are missing or malformed")
    if not 1 <= boot["cpus"] <= 64:
        raise KmsError(f"{path} is damaged: cpus must be 1..64, not {boot['cpus']}")
    fresh = Session(boot["cpus"], boot["minimal"], boot["seed"])
    for line in lines:
        fresh.execute(line)
    if fresh.system.to_json() != data.get("state"):
        raise KmsError(f"{path} is damaged: replaying its {len(lines)} lines does not give the "
                       "state it recorded", hint="the current session is unchanged")
    session.adopt(fresh)
    return len(lines)
