"""Hypothesis strategies that draw command lines from the command table itself.

A valid line names a command from the table and fills each argument from what the live
machine has (PIDs, TIDs, object paths, drivers, devices, handles, registry keys: the same
sources tab completion uses), from the values the command's own examples show, or from a
pool of plausible words. A broken line is a valid one damaged in one way a person or a
careless script might: a misspelt command, a missing or extra argument, a huge or negative
number, unicode, control characters, a 10 KB word, an unbalanced quote.

A command added to the table is covered without touching this file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import strategies as st

from kmshell.commands import TABLE
from kmshell.commands.names import live_values
from kmshell.errors import KmsError
from kmshell.language import parse_words, split_words
from kmshell.language.spec import ADDRESS, NUMBER, CommandSpec, Kind
from kmshell.scenario.script import load_scenario

WORDS = ["notepad.exe", "explorer.exe", "System", "csrss.exe", "a.exe", "bash", "L", "M", "E",
         "S", "T", "x", "log1", "WdFilter", "slowdisk", "nullsink", "irqdisk", "doublecomplete",
         "hastyisr", "toaster", "\\Device", "\\Device\\SlowDisk", "\\", "\\GLOBAL??\\C:",
         "C:\\notes.txt", "\\SystemRoot\\win.ini", "HTREE\\ROOT\\0", "ROOT\\BUSENUM", "Ntfs",
         "busenum", "IRP_MN_MOUNT_VOLUME",
         "HKLM\\SOFTWARE\\Test", "STATUS_SUCCESS", "IRP_MJ_READ", "0x222003", "state.json",
         "out.html", "rec.kms", "D:(A;;GA;;;BU)", "compute 2; exit", "inc x 3; exit",
         "acquire L; inc x; release L; exit", "wait E 2; exit", "sleep 2; touch 0x0",
         "syscall 2; set E", "IoCompleteRequest", "KeWaitForSingleObject E", ""]
ADDRESSES = ["0x0", "0x900000", "0xa01000", "0x7FFFFFFEFFFF", "0xFFFFF80000000000"]
DAMAGE = ["9" * 40, "-1", "-99999999999", "0x", "ñandú漢字🙂", "\x00\x07\x1b[2J\r", "A" * 10240,
          '"unbalanced', "'", "--", "--bogus", "\\\\\\", "…", "\u202e", "NaN", "1e9",
          # issue 16's hidden-corpus kinds: non-ASCII digits, huge numbers, empty words, line
          # separators inside quotes
          "²", "¹⁷⁶", "١٢", str(10**23), "0x" + "f" * 5000, '""', "''", '"a\vb"', '"a\fb"',
          '"a\u2028b"', '"a\x85b"', '"a\rb"', "\ufeff"]


def _quote(text: str) -> str:
    if text and not any(c.isspace() or c in "\"'#" for c in text):
        return text
    return f"'{text}'" if '"' in text else f'"{text}"'


def _example_pools() -> dict[tuple[str, str], list[str]]:
    """(command, value name) -> the words the command's examples give that value."""
    pools: dict[tuple[str, str], list[str]] = defaultdict(list)
    for spec in TABLE.specs:
        for example in spec.examples:
            try:
                words = split_words(example)
                command = parse_words(words, TABLE)
            except KmsError:
                continue
            by_col = {w.col: i for i, w in enumerate(words)}
            for name, col in command.cols.items():
                i = by_col.get(col)
                if i is None:  # --name=value
                    continue
                if words[i].text.startswith("--") and not words[i].quoted:
                    if i + 1 < len(words):
                        pools[(spec.name, name)].append(words[i + 1].text)
                else:
                    arg = next((a for a in spec.args if a.name == name), None)
                    rest = arg is not None and arg.rest
                    pools[(spec.name, name)].append(
                        " ".join(w.text for w in words[i:]) if rest else words[i].text)
    return pools


POOLS = _example_pools()
# The command lines of each bundled scenario: they reach deep states (drivers loaded, IRPs
# pending, locks held, a bugcheck) that random lines alone seldom build.
SCENARIOS = [[step.text.strip() for step in load_scenario(path, TABLE).steps
              if step.kind == "command"]
             for path in sorted(Path(__file__).parent.parent.glob("scenarios/*.kms"))]
SCENARIO_LINES = sorted({line for lines in SCENARIOS for line in lines})


def _value(draw, session, spec: CommandSpec, name: str, kind: Kind) -> str:
    examples = POOLS.get((spec.name, name), [])
    if kind is NUMBER:
        return str(draw(st.one_of(st.integers(0, 70), st.sampled_from(examples or ["1"]))))
    candidates = live_values(session.system, kind) + examples
    if kind.complete and isinstance(kind.complete, tuple):  # fixed choices
        pass
    elif kind is ADDRESS:
        candidates += ADDRESSES
    elif kind.convert is not str:  # a number of another kind (a TID, a handle)
        candidates += ["4", "0x8", "100"]
    else:
        candidates += WORDS
    return draw(st.sampled_from(candidates))


@st.composite
def valid_line(draw, session) -> str:
    """A line for one command of the table, its values taken from the live machine."""
    spec = draw(st.sampled_from(TABLE.specs))
    if spec.examples and draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(spec.examples))
    words = [draw(st.sampled_from([spec.name, *spec.aliases]))]
    for arg in spec.args:
        if arg.optional and draw(st.booleans()):
            break
        words.append(_quote(_value(draw, session, spec, arg.name, arg.kind)))
    for option in spec.options:
        if draw(st.integers(0, 3)) == 0:
            words.append(f"--{option.name}")
            if option.kind is not None:
                words.append(_quote(_value(draw, session, spec, option.name, option.kind)))
    return " ".join(words)


@st.composite
def broken_line(draw, session) -> str:
    """A valid line damaged once."""
    words = draw(valid_line(session)).split(" ")
    how = draw(st.sampled_from(["misspell", "drop", "extra", "replace", "insert"]))
    if how == "misspell":
        words[0] = words[0][:-1] + draw(st.sampled_from(["x", "", "ss", "_", "ß"]))
    elif how == "drop" and len(words) > 1:
        words.pop()
    elif how == "extra":
        words.append(draw(st.sampled_from(DAMAGE + WORDS)))
    else:
        position = draw(st.integers(0, len(words) - (how == "replace")))
        damage = draw(st.sampled_from(DAMAGE))
        if how == "replace":
            words[position] = damage
        else:
            words.insert(position, damage)
    return " ".join(words)


def command_line(session):
    """Mostly valid lines, so that sequences get somewhere; one in five broken."""
    return st.one_of(valid_line(session), valid_line(session), st.sampled_from(SCENARIO_LINES),
                     st.sampled_from(SCENARIO_LINES), broken_line(session))


@st.composite
def scenario_prefix(draw) -> list[str]:
    """The first lines of a bundled scenario: a realistic state to go on from."""
    lines = draw(st.sampled_from(SCENARIOS))
    return lines[:draw(st.integers(0, len(lines)))]


@contextlib.contextmanager
def empty_directory(base):
    """save, record and export write files: each run starts in an empty directory of its own
    below the test's tmp_path (base), so a file one run saved is not there for the next."""
    before = os.getcwd()
    os.chdir(tempfile.mkdtemp(dir=base))
    try:
        yield
    finally:
        os.chdir(before)
