"""Run-time library (Rtl): the text and number checks every layer shares.

In NT, Rtl routines (RtlCharToInteger, RtlUnicodeStringToInteger) turn text into numbers for
the whole kernel. Here `parse_number` does that for command lines, thread programs and driver
specs alike, so they agree on what a number is: ASCII digits only (`²` is not 2), decimal or
0x hex, within a stated range, and refused by its length before Python's int() ever sees
thousands of digits. `control_character` and `printable` keep text from files and names
from reaching the terminal as escape sequences.

State: none; plain functions, used by the model and by the layers above it alike.

Simplifications: no counted strings (UNICODE_STRING): Python's str stands for them. The
safe string routines (RtlStringCb*, ntstrsafe) work on pool blocks, so they are Mm's
(mm.py `copy_string`, with their rules in pool.py).
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[0-9]+", re.ASCII)
_HEX = re.compile(r"0[xX][0-9a-fA-F]+|[0-9a-fA-F]+", re.ASCII)
MAX_DIGITS = 40  # far more than any 64-bit value needs; longer text is refused unread

U64 = 2**64 - 1
U32 = 2**32 - 1

# What may not appear in a line or a name, and is escaped wherever text from a file is shown:
# - Unicode's Cc (C0 controls, DEL, C1: ESC, CR, \x85 ...), Zl and Zp (U+2028, U+2029, the line
#   and paragraph separators str.splitlines also breaks at); tab is ordinary white space;
# - the invisible marks that reorder or hide text ("Trojan Source", CVE-2021-42574): zero-width
#   spaces and joiners, ALM/LRM/RLM, the bidi embeddings, overrides and isolates, and U+FEFF
#   inside text;
# - lone surrogates (Cs), which is how Python carries bytes that are not UTF-8 in a file
#   name: they cannot be printed or written as UTF-8.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                      "\u2066-\u2069\ufeff\ud800-\udfff]")


def parse_number(text: str, low: int = 0, high: int = U64, *, hex_only: bool = False) -> int:
    """Decimal or 0x hex (hex_only: hex with or without 0x) in low..high; ValueError says why
    in words a user understands."""
    if len(text) > MAX_DIGITS:
        raise ValueError(f"'{printable(text[:12])}…' is {len(text)} characters long; "
                         f"a number here is {low}..{shown(high)}")
    if hex_only:
        if not _HEX.fullmatch(text):
            raise ValueError(f"'{printable(text)}' is not a hex number (digits 0-9, A-F)")
        value = int(text, 16)
    elif _DECIMAL.fullmatch(text):
        value = int(text, 10)
    elif text[:2] in ("0x", "0X") and _HEX.fullmatch(text):
        value = int(text, 16)
    else:
        raise ValueError(f"'{printable(text)}' is not a number (decimal digits 0-9, or hex "
                         "as 0x1F)")
    if not low <= value <= high:
        raise ValueError(f"{text} is out of range: {low}..{shown(high)}")
    return value


def shown(limit: int) -> str:
    """A range's end as a reader takes it in: 2**64-1 rather than twenty digits."""
    return {U64: "2**64-1", U32: "2**32-1"}.get(limit, f"{limit:,}")


def number_or_none(text: str, low: int = 0, high: int = U64, *,
                   hex_only: bool = False) -> int | None:
    """parse_number's value, or None where it would raise."""
    try:
        return parse_number(text, low, high, hex_only=hex_only)
    except ValueError:
        return None


def is_number(text: str, low: int = 0, high: int = U64, *, hex_only: bool = False) -> bool:
    return number_or_none(text, low, high, hex_only=hex_only) is not None


def control_character(text: str) -> int | None:
    """The index of the first control character in text, or None."""
    found = _CONTROL.search(text)
    return None if found is None else found.start()


def printable(text: str) -> str:
    """text with every control character shown as an escape (`\\x1b`, `\\u2028`), so text
    from a file or a name cannot move the cursor, clear the screen or set the title."""
    return _CONTROL.sub(lambda found: _escape(found.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
