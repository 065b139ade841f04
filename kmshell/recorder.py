"""`record FILE`: what the student types, written as it happens as a valid scenario."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


class Recorder:
    def __init__(self, path: str):
        self.path = Path(path)
        self.file: TextIO = self.path.open("w", encoding="utf-8")
        self.file.write("title Recorded session\n# Written by kmshell's record command; failed "
                        "commands and expectations are commented out.\n")
        self.file.flush()
        self.lines = 0

    def write(self, line: str, outcome) -> None:
        """Each line at once (flushed), so an interrupted session keeps what it typed."""
        if outcome.ok:
            self.file.write(line + "\n")
        else:
            self.file.write(f"# failed: {line}\n#   {outcome.error.message}\n")
        self.file.flush()
        self.lines += 1

    def write_directive(self, line: str, held: bool) -> None:
        """say, expect and the other directives are kept as typed; an expectation that did
        not hold is commented out, so the recording replays cleanly."""
        self.file.write(line + "\n" if held else f"# failed: {line}\n")
        self.file.flush()
        self.lines += 1

    def close(self) -> None:
        self.file.close()
