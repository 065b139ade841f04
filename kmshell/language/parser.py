"""Match split words against the command table and convert the values they carry."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from kmshell.errors import KmsError
from kmshell.language.lexer import Word
from kmshell.language.spec import CommandSpec, CommandTable, masm_number
from kmshell.nt.rtl import printable


@dataclass
class Command:
    spec: CommandSpec
    values: dict[str, Any] = field(default_factory=dict)
    cols: dict[str, int] = field(default_factory=dict)  # value name -> column of its word
    words: list[Word] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def col(self, name: str) -> int | None:
        """Column of the word that gave the value `name`, for errors found later."""
        return self.cols.get(name)


def _find_spec(words: list[Word], table: CommandTable) -> tuple[CommandSpec, int]:
    """The spec the line names, and how many words the name took."""
    first = words[0].text.lower()
    if len(words) > 1 and words[1].text and not words[1].quoted:  # "" is never a verb
        spec = table.lookup(f"{first} {words[1].text}")
        if spec:
            return spec, 2
    spec = table.lookup(first)
    if spec:
        return spec, 1
    verbs = table.nouns().get(first)
    if verbs:
        valid = ", ".join(s.name.split()[1] for s in verbs)
        if len(words) == 1:
            col = words[0].col + len(words[0].text)
            raise KmsError(f"'{first}' needs a verb", col=col, hint=f"valid: {valid}")
        word = words[1]
        close = difflib.get_close_matches(word.text.lower(), [s.name.split()[1] for s in verbs],
                                          n=1)
        guess = f" — did you mean '{first} {close[0]}'?" if close else ""
        raise KmsError(f"unknown verb '{word.text}' for '{first}'{guess}", col=word.col,
                       hint=f"valid: {valid}")
    suggestion = table.suggest(first)
    message = f"unknown command '{words[0].text}'"
    if suggestion:
        message += f" — did you mean '{suggestion}'?"
    raise KmsError(message, col=words[0].col, hint="type 'help' for the list of commands")


BANG_NUMBERS = "a ! command reads numbers as WinDbg does: hex (a4, 0xa4), 0n for decimal (0n164)"


def _convert(kind, word: Word, spec: CommandSpec, what: str, windbg: bool = False):
    """word's value for kind. In a WinDbg `!` command a number is hex unless 0n marks it
    decimal (masm_number); it reaches the kind's converter as 0x hex, so a range error
    shows the value that was read."""
    if not word.text.strip() and not kind.empty_ok:
        raise KmsError(f"{what} is {'blank' if word.text else 'empty'}", col=word.col,
                       usage=spec.usage,
                       hint=f"give {kind.description or kind.metavar}")
    text = word.text
    bang_number = windbg and kind.number and not word.quoted
    value = masm_number(text) if bang_number else None
    if value is not None:
        text = f"{value:#x}"
    elif bang_number and kind.convert is not str:  # (a P may be a name): say how numbers read
        raise KmsError(f"{what}: '{printable(text)}' is not a number as a ! command reads it",
                       col=word.col, usage=spec.usage, hint=BANG_NUMBERS)
    try:
        return kind.convert(text)
    except ValueError as error:
        raise KmsError(f"{what}: {error}", col=word.col, usage=spec.usage,
                       hint=BANG_NUMBERS if bang_number else "") from None


def parse_words(words: list[Word], table: CommandTable) -> Command | None:
    """Words -> Command; None for an empty line. Raises KmsError with the column at fault."""
    if not words:
        return None
    spec, used = _find_spec(words, table)
    windbg = words[0].text.startswith("!")  # a debugger extension command: hex numbers
    command = Command(spec, words=words)
    positional: list[Word] = []
    rest = words[used:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.text.startswith("--") and not word.quoted and len(word.text) > 2:
            name, eq, inline = word.text[2:].partition("=")
            option = spec.option(name)
            if option is None:
                names = [o.name for o in spec.options]
                close = difflib.get_close_matches(name.lower(), names, n=1)
                guess = f" — did you mean '--{close[0]}'?" if close else ""
                valid = ", ".join(f"--{n}" for n in names) or "none"
                raise KmsError(f"unknown option '--{name}' for '{spec.name}'{guess}",
                               col=word.col, hint=f"options: {valid}", usage=spec.usage)
            if option.kind is None:
                if eq:
                    raise KmsError(f"--{option.name} is a flag and takes no value",
                                   col=word.col, usage=spec.usage)
                command.values[option.name] = True
            else:
                if eq:
                    value_word = Word(inline, word.col + len(name) + 3)
                elif i + 1 < len(rest):
                    i += 1
                    value_word = rest[i]
                else:
                    raise KmsError(f"--{option.name} needs a value ({option.kind.metavar})",
                                   col=word.col + len(word.text), usage=spec.usage)
                command.values[option.name] = _convert(option.kind, value_word, spec,
                                                       f"--{option.name}", windbg)
            command.cols[option.name] = word.col
        else:
            positional.append(word)
        i += 1
    for arg in spec.args:
        if arg.rest and positional:
            first = positional[0]
            joined = Word(" ".join(w.text for w in positional), first.col)
            command.values[arg.name] = _convert(arg.kind, joined, spec, arg.label,
                                                windbg)
            command.cols[arg.name] = first.col
            positional = []
        elif positional:
            word = positional.pop(0)
            command.values[arg.name] = _convert(arg.kind, word, spec, arg.label,
                                                windbg)
            command.cols[arg.name] = word.col
        elif not arg.optional:
            last = words[-1]
            raise KmsError(f"'{spec.name}' needs {arg.usage}", col=last.col + len(last.text),
                           usage=spec.usage)
    if positional:
        raise KmsError(f"unexpected argument '{positional[0].text}'", col=positional[0].col,
                       usage=spec.usage)
    for option in spec.options:
        command.values.setdefault(option.name, option.default if option.kind else False)
    for arg in spec.args:
        command.values.setdefault(arg.name, arg.default)
    return command
