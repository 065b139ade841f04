"""Shell-style word splitting that remembers where each word started."""

from __future__ import annotations

import re
from typing import NamedTuple

from kmshell.errors import KmsError
from kmshell.nt.rtl import control_character

QUOTES = "\"'"

# One match a word, from the start of a line or past spaces: a word (runs of ordinary
# characters and closed quotes; `#` only past its first character), a `#` that begins a
# comment, or a quote left open. Whatever finditer skips between matches is whitespace.
_TOKEN = re.compile(r"""(?P<word>(?:[^\s"'#]|"[^"]*"|'[^']*')(?:[^\s"']+|"[^"]*"|'[^']*')*)"""
                    r"""|(?P<comment>\#)|(?P<open>["'])""")
_PIECE = re.compile(r""""([^"]*)"|'([^']*)'|([^"']+)""")  # of a word that has quotes


class Word(NamedTuple):  # a tuple: made for every word of every line replayed
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
    if '"' not in line and "'" not in line and "#" not in line:  # most lines: plain words
        words, at = [], 0
        for text in line.split():
            at = line.find(text, at)
            words.append(Word(text, at + 1))
            at += len(text)
        return words
    words = []
    for token in _TOKEN.finditer(line):
        text = token.group("word")
        if text is None:
            if token.group("comment"):
                break
            opened = token.start()
            raise KmsError(f"unterminated {line[opened]} quote", col=opened + 1,
                           hint=f"close the quote that opens at column {opened + 1}")
        if '"' in text or "'" in text:
            words.append(Word("".join(a or b or c for a, b, c in _PIECE.findall(text)),
                              token.start() + 1, True))
        else:
            words.append(Word(text, token.start() + 1))
    return words
