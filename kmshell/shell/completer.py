"""Tab completion from the command table and the live model (PIDs, names, object paths)."""

from __future__ import annotations

from prompt_toolkit.completion import Completer, Completion

from kmshell.commands import TABLE
from kmshell.commands.names import live_values
from kmshell.errors import KmsError
from kmshell.language import split_words
from kmshell.language.spec import Kind


def _words(text: str) -> list[str]:
    try:
        return [w.text for w in split_words(text)]
    except KmsError:  # an open quote: complete on plain whitespace words
        return text.split()


class CommandCompleter(Completer):
    def __init__(self, session):
        self.session = session
        self.windbg = False  # completing a `!` command: its numbers are hex

    def _kind_values(self, kind: Kind) -> list[str]:
        return live_values(self.session.system, kind, self.windbg)

    def candidates(self, text: str) -> tuple[str, list[str]]:
        """The word being completed and what may go there."""
        words = _words(text)
        current = "" if not words or text[-1:].isspace() else words.pop()
        if not words:
            return current, TABLE.words()
        first = words[0].lower()
        self.windbg = first.startswith("!")
        if len(words) == 1 and first in TABLE.nouns():
            return current, [s.name.split()[1] for s in TABLE.nouns()[first]]
        spec = TABLE.lookup(" ".join(words[:2])) if len(words) >= 2 else None
        used = 2 if spec else 1
        spec = spec or TABLE.lookup(first)
        if spec is None:
            return current, []
        rest = words[used:]
        if current.startswith("-"):
            return current, [f"--{o.name}" for o in spec.options]
        if rest and rest[-1].startswith("--"):
            option = spec.option(rest[-1][2:])
            if option is not None and option.kind is not None:
                return current, self._kind_values(option.kind)
        positional, skip = 0, False
        for word in rest:
            if skip:
                skip = False
            elif word.startswith("--"):
                option = spec.option(word[2:])
                skip = option is not None and option.kind is not None
            else:
                positional += 1
        args = [a for a in spec.args]
        if positional < len(args):
            return current, self._kind_values(args[positional].kind)
        if args and args[-1].rest:
            return current, self._kind_values(args[-1].kind)
        return current, [f"--{o.name}" for o in spec.options]

    def get_completions(self, document, complete_event):
        current, values = self.candidates(document.text_before_cursor)
        seen = set()
        for value in values:
            if value.lower().startswith(current.lower()) and value not in seen:
                seen.add(value)
                shown = f'"{value}"' if " " in value else value
                yield Completion(shown, start_position=-len(current))
