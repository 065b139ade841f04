"""The lexer (str.split, or a compiled regular expression where quotes or `#` appear) splits a
line exactly as a shell-style walk character by character does: the same words, columns and
quoting, and the same error, at the same column, for a quote left open."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmshell.errors import KmsError
from kmshell.language import split_words


def walk(line: str) -> list[tuple[str, int, bool]]:
    """The reference: words as (text, 1-based column, quoted); an open quote raises."""
    words, i = [], 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        if line[i] == "#":
            break
        start, text, quoted = i, "", False
        while i < len(line) and not line[i].isspace():
            if line[i] in "\"'":
                close = line.find(line[i], i + 1)
                if close < 0:
                    raise KmsError(f"unterminated {line[i]} quote", col=i + 1)
                text, quoted, i = text + line[i + 1:close], True, close + 1
            else:
                text, i = text + line[i], i + 1
        words.append((text, start + 1, quoted))
    return words


def outcome(split, line: str):
    try:
        return [tuple(word) if isinstance(word, tuple) else (word.text, word.col, word.quoted)
                for word in split(line)]
    except KmsError as error:
        return error.message, error.col


@given(st.text(alphabet=" \t\u00a0\u3000\"'#ab\\-=.", max_size=16))
def test_the_lexer_splits_every_line_as_the_character_walk_does(line):
    assert outcome(split_words, line) == outcome(walk, line)


def test_an_open_quote_is_an_error_at_its_column_with_how_to_close_it():
    with pytest.raises(KmsError) as raised:
        split_words('read a.exe "abc')
    assert (raised.value.message, raised.value.col) == ('unterminated " quote', 12)
    assert raised.value.hint == "close the quote that opens at column 12"
