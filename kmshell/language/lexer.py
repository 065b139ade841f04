"""Shell-style word splitting that remembers where each word started."""

from __future__ import annotations

from dataclasses import dataclass

from kmshell.errors import KmsError
from kmshell.nt.rtl import control_character

QUOTES = "\"'"


@dataclass(frozen=True)
class Word:
    text: str
    col: int  # 1-based column of the word's first character
    quoted: bool = False


def split_words(line: str) -> list[Word]:
    """Split line into words. A quote left open is an error pointing at the opening quote; a
    control character anywhere (an escape sequence, a line separator) is an error too, so no
    name or text typed or read from a file can reach the terminal or a recording as one."""
    bad = control_character(line)
    if bad is not None:
        raise KmsError(f"control character U+{ord(line[bad]):04X} at column {bad + 1} is not "
                       "allowed in a command line", col=bad + 1,
                       hint="names and text are printable characters, spaces and tabs")
    words: list[Word] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] == "#":
            break
        start, text, quoted = i, [], False
        while i < n and not line[i].isspace():
            if line[i] in QUOTES:
                quote, opened = line[i], i
                close = line.find(quote, i + 1)
                if close < 0:
                    raise KmsError(f"unterminated {quote} quote", col=opened + 1,
                                   hint=f"close the quote that opens at column {opened + 1}")
                text.append(line[i + 1:close])
                quoted = True
                i = close + 1
            else:
                text.append(line[i])
                i += 1
        words.append(Word("".join(text), start + 1, quoted))
    return words

