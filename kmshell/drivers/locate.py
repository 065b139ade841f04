"""Where a key or a step is in a driver spec's TOML text: the line and column for a message.

tomllib gives positions only for syntax errors. A spec mistake found after parsing (an
unknown step in a routine) comes as keys, SpecError.at, and is found here by scanning the
text: the header or `key =` line of each key outside arrays and inline tables, under the
[table] header above it, then, for a step, its string literal in the array after that key.
Simplified: multi-line strings are not followed, and a key inside an inline table is not
seen; when the exact place is not found, the nearest enclosing key or header is given, and
with none, no position at all.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'')
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SYNTAX = re.compile(r"^(.*) \(at (?:line (\d+), column (\d+)|end of document)\)$", re.DOTALL)


def _dotted(text: str) -> list[str] | None:
    """A dotted key (`wmi."Some Class".Capacity`) as its parts; None if text is not one."""
    parts: list[str] = []
    rest = text.strip()
    while True:
        match = _STRING.match(rest) or _BARE.match(rest)
        if match is None:
            return None
        token = match.group()
        if token[0] in "\"'":
            try:
                token = tomllib.loads(f"k = {token}")["k"]
            except tomllib.TOMLDecodeError:
                return None
        parts.append(token)
        rest = rest[match.end():].lstrip()
        if not rest:
            return parts
        if rest[0] != ".":
            return None
        rest = rest[1:].lstrip()


def _blanked(line: str) -> str:
    """The line with each string's content blanked and its comment cut: the brackets, `=`
    and `#` left are TOML's own. The length is kept, so columns still match."""
    code = _STRING.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[-1],
                       line)
    return code.split("#", 1)[0]


def _entries(text: str) -> Iterator[tuple[list[str], int]]:
    """Each [header] and `key =` outside arrays and inline tables: its full key path and the
    offset in text where it starts."""
    table: list[str] = []
    depth = 0  # open [ and { of a value that spans lines
    offset = 0
    for line in text.split("\n"):
        code = _blanked(line)
        start = offset + len(line) - len(line.lstrip())
        stripped = code.lstrip()
        if depth == 0 and stripped.startswith("["):
            double = stripped.startswith("[[")
            opening = code.index("[") + (2 if double else 1)
            closing = code.find("]]" if double else "]", opening)
            parts = _dotted(line[opening:closing]) if closing > 0 else None
            if parts is not None:
                table = parts
                yield parts, start
        elif depth == 0 and "=" in code:
            parts = _dotted(line[:code.index("=")])
            if parts is not None:
                yield table + parts, start
        depth = max(0, depth + code.count("[") + code.count("{") - code.count("]")
                    - code.count("}"))
        offset += len(line) + 1


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column, as tomllib counts them."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _step_offset(text: str, start: int, end: int, steps: object, number: int) -> int | None:
    """Where step `number` (1-based) of the array in text[start:end] is written."""
    if not isinstance(steps, list) or not 0 < number <= len(steps) or \
            not isinstance(steps[number - 1], str):
        return None
    step = steps[number - 1]
    written = (json.dumps(step, ensure_ascii=False), f"'{step}'")
    found = [m.start() + start for m in re.finditer("|".join(map(re.escape, written)),
                                                   text[start:end])]
    earlier = steps[:number - 1].count(step)  # the same step written before it in the array
    return found[earlier] if earlier < len(found) else None


def locate(text: str, data: dict, at: tuple[str | int, ...]) -> tuple[int, int] | None:
    """The line and column of `at` (SpecError's keys, and a step's number) in text, or of the
    nearest enclosing key found; None when nothing of it is found."""
    keys = [key for key in at if isinstance(key, str)]
    number = at[-1] if at and isinstance(at[-1], int) else None
    entries = list(_entries(text))
    best, score = None, 0.0
    for index, (path, _) in enumerate(entries):
        if path == keys[:len(path)]:
            fit = float(len(path))
        elif keys and keys == path[:len(keys)]:
            fit = len(keys) - 0.5  # inside it ([wmi.CLASS] for wmi): the first such line
        else:
            continue
        if fit > score:
            best, score = index, fit
    if best is None:
        return None
    offset = entries[best][1]
    if number is not None and score == len(keys):
        end = entries[best + 1][1] if best + 1 < len(entries) else len(text)
        value: object = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        step = _step_offset(text, offset, end, value, number)
        offset = offset if step is None else step
    return _position(text, offset)


def syntax_error(error: tomllib.TOMLDecodeError, text: str) -> tuple[str, int, int] | None:
    """tomllib's message without its "(at line L, column C)", and L and C; None if it has
    no position."""
    match = _SYNTAX.match(str(error))
    if match is None:
        return None
    if match.group(2) is None:  # at the end of the document
        return (match.group(1), *_position(text, len(text)))
    return match.group(1), int(match.group(2)), int(match.group(3))
