"""`record FILE`: the session's journal, kept as a scenario that reproduces it.

The file always holds a valid scenario: it is written atomically (kmshell.files) when the
recording starts and whenever the journal is rewound, and each new line is appended as it is
typed (cut back if the disk is full), so an interrupted session keeps what it typed and a
long replay while recording costs one write a line, not one rewrite of the whole file.

It starts with the commands typed before `record` (and a `boot` line when the session did
not start on the default machine), then follows the journal: a command that
`undo` or `goto` takes back leaves the recording too, and `load` puts the loaded commands in.
Failed commands and expectations that did not hold are written commented out, with control
characters escaped, so every line of the file parses back as one line. A file name in a line
(`driver load mine.toml`) is written relative to the recording's folder, which is where a
scenario's lines take their file names from when it is replayed.
"""

from __future__ import annotations

import os
from pathlib import Path

from kmshell import files
from kmshell.errors import KmsError
from kmshell.language import split_words
from kmshell.nt.rtl import printable

# The journal's lines that name a file to read: `driver load|install FILE.toml` (a catalog
# name is no file). save, load, record, export and replay are not journalled.
FILE_COMMANDS = (("driver", "load"), ("driver", "install"))

HEADER = ("title Recorded session\n# Written by kmshell's record command; failed commands and "
          "expectations are commented out.\n")


def _commented(line: str, why: str = "") -> str:
    text = f"# failed: {printable(line)}"
    return text + (f"\n#   {printable(why)}" if why else "")


def _word_end(line: str, start: int) -> int:
    """Where the word starting at index start ends, quotes included, as the lexer splits."""
    i = start
    while i < len(line) and not line[i].isspace():
        if line[i] in "\"'":
            close = line.find(line[i], i + 1)
            i = close + 1 if close >= 0 else len(line)
        else:
            i += 1
    return i


def relocate(line: str, folder: Path | None, target: Path) -> str:
    """line as a file in folder `target` must say it: a relative file name the line took from
    `folder` (None: the working directory) is rewritten relative to target. A line that names
    no file, or an absolute one, is kept as it is."""
    if ".toml" not in line.lower().replace('"', "").replace("'", ""):
        return line  # names no spec file (quotes only join a word's parts): `save` is fast
    try:
        words = split_words(line)
    except KmsError:
        return line
    if len(words) < 3 or (words[0].text.lower(), words[1].text.lower()) not in FILE_COMMANDS:
        return line
    name = words[2].text
    if not name.lower().endswith(".toml") or os.path.isabs(name):
        return line
    try:
        where = Path(os.path.realpath(os.path.join(folder or os.getcwd(), name)))
        moved = os.path.relpath(where, target)
    except (OSError, ValueError):  # another drive, a NUL in the name
        return line
    if Path(moved) == Path(name):
        return line
    if any(c.isspace() or c in "\"'#" for c in moved):
        moved = f"'{moved}'" if '"' in moved else f'"{moved}"'
    start = words[2].col - 1
    return line[:start] + moved + line[_word_end(line, start):]


class Recorder:
    def __init__(self, path: str, boot_line: str, history) -> None:
        self.path = path
        self.target = Path(path)  # the regular file written, once a link is followed
        self.folder = Path(os.path.realpath(path)).parent  # its file names are relative to it
        self.boot_line = boot_line  # "" for the default machine
        self.items: list[tuple[int, str]] = []  # (journal length when written, text)
        self.follow([], history)

    @property
    def lines(self) -> int:
        return len(self.items)

    def text(self) -> str:
        body = [self.boot_line] if self.boot_line else []
        return HEADER + "".join(line + "\n" for line in body + [text for _, text in self.items])

    def _save(self) -> None:
        self.target = files.write_text(self.path, self.text())

    def _add(self, at: int, text: str) -> None:
        files.append_text(self.target, text + "\n")
        self.items.append((at, text))

    def write(self, entry, outcome) -> None:
        """A line the session ran (entry is its journal entry); FileError if it cannot be
        written."""
        why = "" if outcome.ok else outcome.error.message
        self._add(entry.number, relocate(entry.line, entry.folder, self.folder) if outcome.ok
                  else _commented(entry.line, why))

    def write_directive(self, line: str, held: bool, journal_length: int) -> None:
        """say, expect and the other directives are kept as typed; an expectation that did
        not hold is commented out, so the recording replays cleanly."""
        self._add(journal_length, line if held else _commented(line))

    def follow(self, before: list[str], history) -> None:
        """The journal changed under the recording (undo, goto, load): keep what both
        journals share, drop the rest, and add the new journal's later commands."""
        now = [entry.line for entry in history]
        shared = next((i for i, (a, b) in enumerate(zip(before, now)) if a != b),
                      min(len(before), len(now)))
        self.items = [(at, text) for at, text in self.items if at <= shared]
        self.items += [(entry.number, relocate(entry.line, entry.folder, self.folder)
                        if entry.ok else _commented(entry.line)) for entry in history[shared:]]
        self._save()
