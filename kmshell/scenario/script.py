"""Reading a scenario file: every line checked before anything runs.

A scenario is command lines plus directives: title, say, pause, seed, expect. A malformed
line, command or directive, is reported as FILE:LINE:COL with what would be valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kmshell import files
from kmshell.errors import KmsError
from kmshell.language import CommandTable, parse_words, split_words
from kmshell.language.lexer import Word
from kmshell.nt.rtl import U64, control_character, parse_number, printable
from kmshell.scenario.queries import OPERATORS, Query, check_value, parse_query
from kmshell.views.outcome import source_line

DIRECTIVES = ("title", "say", "pause", "seed", "expect")


@dataclass(frozen=True)
class Step:
    """One meaningful line of a scenario."""

    number: int  # 1-based line number in the file
    text: str  # the line as written
    kind: str  # "command", "title", "say", "pause", "seed", "expect", "expect-error",
    #            "expect-output", "expect-order"
    argument: str = ""  # text of title/say, expected text of expect-error/output, or VALUE
    query: Query | None = None
    op: str = ""
    seed: int = 0
    order: tuple[str, ...] = ()  # expect order: the texts, in the order they must appear


@dataclass
class Scenario:
    path: str
    title: str
    steps: list[Step]
    length: int = 0  # lines in the file, for "stopped at line 13 of 40"


@dataclass
class ScenarioError(Exception):
    """One or more malformed lines, each as FILE:LINE:COL: message; `errors` holds each
    line's KmsError, in the same order, for a front end that shows the line with a caret."""

    messages: list[str]
    errors: list[KmsError] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # each malformed line, as written

    def __str__(self) -> str:
        return "\n".join(self.messages)

    def report(self) -> str:
        """As str(), with each malformed line shown under its FILE:LINE:COL, a caret under the
        column, as the prompt shows a malformed command (kmshell run and check)."""
        shown = []
        for message, error, source in zip(self.messages, self.errors, self.sources,
                                          strict=False):
            head, newline, rest = message.partition("\n")
            shown.append(f"{head}\n{source_line(source, error.col or 1)}{newline}{rest}")
        return "\n".join(shown + self.messages[len(shown):])


def _raw_text(line: str, skip: int) -> str:
    """The line after its first `skip` words, as written: apostrophes and # stay. One pair of
    quotes around all of it is removed."""
    rest = line.strip()
    for _ in range(skip):
        parts = rest.split(maxsplit=1)
        rest = parts[1] if len(parts) > 1 else ""
    rest = rest.strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1]
    return rest


def _text_directive(number: int, line: str) -> Step | None:
    """title, say, expect error and expect output take free text: read it raw, not as words."""
    head = line.split()
    name = head[0].lower()
    if name in ("title", "say"):
        kind, skip = name, 1
    elif name == "expect" and len(head) > 1 and head[1].lower() in ("error", "output"):
        kind, skip = f"expect-{head[1].lower()}", 2
    else:
        return None
    text = _raw_text(line, skip)
    if not text:
        col = line.index(head[skip - 1]) + len(head[skip - 1]) + 1
        raise KmsError(f"'{' '.join(head[:skip])}' needs text", col=col)
    return Step(number, line, kind, text)


def _directive(number: int, line: str, words: list[Word]) -> Step:
    name = words[0].text.lower()
    args = words[1:]
    if name == "pause":
        if args:
            raise KmsError("'pause' takes nothing", col=args[0].col)
        return Step(number, line, "pause")
    if name == "seed":
        if len(args) != 1:
            col = args[1].col if args else words[0].col + 4
            raise KmsError("'seed' needs one number", col=col)
        try:
            return Step(number, line, "seed", seed=parse_number(args[0].text, 0, U64))
        except ValueError as error:
            raise KmsError(f"seed: {error}", col=args[0].col) from None
    if args and args[0].text.lower() == "order" and not args[0].quoted:
        return Step(number, line, "expect-order", order=_order(args[0], args[1:]))
    ops = [i for i, w in enumerate(args) if w.text.lower() in OPERATORS and not w.quoted]
    if not ops:
        raise KmsError("expect needs QUERY OP VALUE", col=words[0].col,
                       hint="OP is one of " + " ".join(OPERATORS) + "; or: expect error TEXT, "
                       "expect output TEXT, expect order \"A\" before \"B\"")
    at = ops[0]
    if at + 1 >= len(args):
        raise KmsError(f"'{args[at].text}' needs a value after it", col=args[at].col)
    query = parse_query(args[:at])
    value = " ".join(w.text for w in args[at + 1:])
    op = args[at].text.lower()
    try:
        check_value(query, op, value)
    except ValueError as error:
        raise KmsError(f"{query}: {error}", col=args[at + 1].col) from None
    return Step(number, line, "expect", value, query=query, op=op)


def _order(keyword: Word, words: list[Word]) -> tuple[str, ...]:
    """`"A" before "B" [before "C" ...]`: the texts, checked to alternate with `before`."""
    form = 'expect order "A" before "B": each text appears after the one before it'
    if len(words) < 3:
        raise KmsError("'expect order' needs two texts or more", col=keyword.col, hint=form)
    for i, word in enumerate(words):
        if i % 2 and (word.quoted or word.text.lower() != "before"):
            raise KmsError(f"expected 'before' here, not '{printable(word.text)[:40]}'",
                           col=word.col, hint=form)
        if not i % 2 and not word.text.strip():
            raise KmsError("an empty text matches anywhere", col=word.col, hint=form)
    if len(words) % 2 == 0:
        raise KmsError("'before' needs a text after it", col=words[-1].col, hint=form)
    return tuple(w.text for w in words[::2])


def _located(path: str, number: int, error: KmsError) -> str:
    message = f"{path}:{number}:{error.col or 1}: {error.message}"  # a whole line: column 1
    for extra in (error.hint, f"usage: {error.usage}" if error.usage else ""):
        if extra:
            message += f"\n    {extra}"
    return message


def parse_scenario(text: str, table: CommandTable, path: str = "<scenario>",
                   first: int = 1) -> Scenario:
    """Check every line, its commands against `table`; raise ScenarioError listing all
    malformed ones. `first` is the number of the text's first line (a line typed at the
    prompt is numbered as the shell numbers it).

    A command that does not parse is allowed only when the next line is `expect error`:
    then showing the error is the point of the line, and it runs (and fails) in order.
    """
    steps: list[Step] = []
    # (line number, located message, error, the line)
    errors: list[tuple[int, str, KmsError, str]] = []
    bad_commands: dict[int, tuple[int, str, KmsError, str]] = {}  # index in steps -> the same
    title = ""
    text_lines = lines(text)
    for number, line in enumerate(text_lines, start=first):
        try:
            bad = control_character(line)
            if bad is not None:
                raise KmsError(f"control character U+{ord(line[bad]):04X} is not allowed in a "
                               "scenario line", col=bad + 1,
                               hint="scenario lines are printable characters, spaces and tabs")
            step = parse_directive(number, line, table)
            if step is None:
                words = split_words(line)
                if not words:
                    continue
                step = Step(number, line, "command")
                try:
                    parse_words(words, table)
                except KmsError as error:
                    bad_commands[len(steps)] = (number, _located(path, number, error), error,
                                                line)
            if step.kind == "title" and not title:
                title = step.argument
            steps.append(step)
        except KmsError as error:
            errors.append((number, _located(path, number, error), error, line))
    for index, located in bad_commands.items():
        following = steps[index + 1] if index + 1 < len(steps) else None
        if following is None or following.kind != "expect-error":
            errors.append(located)
    if errors:
        errors.sort(key=lambda e: e[0])
        raise ScenarioError([message for _, message, _, _ in errors],
                            [error for _, _, error, _ in errors],
                            [line for _, _, _, line in errors])
    return Scenario(path, title, steps, len(text_lines) - (text_lines[-1] == ""))


def parse_directive(number: int, line: str, table: CommandTable) -> Step | None:
    """A directive line (title, say, pause, seed, expect) as its Step; None when the line is
    not a directive. A malformed one raises KmsError with the column at fault and the
    directive's usage line, as a malformed command does."""
    try:
        step = _text_directive(number, line) if line.strip() else None
        if step is not None:
            return step
        words = split_words(line)
        if not words or words[0].quoted or words[0].text.lower() not in DIRECTIVES:
            return None
        return _directive(number, line, words)
    except KmsError as error:
        name = line.split()[0].lower() if line.split() else ""
        spec = table.lookup(name) if name in DIRECTIVES else None
        if spec is not None and not error.usage:
            error.usage = spec.usage
        raise


def lines(text: str) -> list[str]:
    """A file's lines: broken at LF (CRLF too) only, after a byte-order mark. Not
    str.splitlines, which also breaks at \v, \f, \x85 and \u2028, so a line would not be
    where an editor (or the FILE:LINE of an error) says it is."""
    return [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]


def load_scenario(path: str | Path, table: CommandTable) -> Scenario:
    try:
        text = files.read_text(path, "scenario")
    except files.FileError as error:
        raise ScenarioError([str(error)]) from None
    return parse_scenario(text, table, printable(str(path)))
