"""The README's examples are checked: every command it shows in backquotes names a real command
with the arguments it needs, and its session transcript is what kmshell prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kmshell.commands import TABLE
from kmshell.errors import KmsError
from kmshell.language.lexer import split_words
from kmshell.language.parser import parse_words

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.\.\.)?$|^\.\.\.$|^…$|\|")  # N, TEXT..., 0|7
OPTIONAL = re.compile(r"\s*\[[^]]*\]")  # `[--max N]`, `[-v]`: optional, checked as left out
DIRECTIVES = ("expect",)  # parsed by the scenario reader, checked by the directive tests


def _spans() -> list[str]:
    """Backquoted text outside the paragraph on thread programs, whose steps (`touch ADDR`,
    `wait OBJECT`) share some words with commands but are not commands."""
    paragraphs = [p for p in README.split("\n\n") if "Thread programs (`--program`)" not in p]
    return [span.replace("\\|", "|")
            for span in re.findall(r"`([^`\n]+)`", "\n\n".join(paragraphs))]


def _alternatives(span: str) -> list[str]:
    """`process create|list|show` stands for three commands and `export html|svg FILE` for one
    with a choice: each command must exist. The words after such a list belong to some of the
    commands only, so just the names are checked."""
    words = span.split()
    if len(words) > 1 and words[1] == "=":
        return []  # a driver spec's key: `interrupt = "msi"`
    if len(words) < 2 or "|" not in words[1]:
        return [span]
    if TABLE.lookup(words[0]):
        return [words[0]]
    return [f"{words[0]} {verb}" for verb in words[1].split("|")]


def _problem(example: str) -> str | None:
    """What is wrong with a backquoted command, or None. A bare command name, or a command
    and one of its options, is a mention; anything more is an example and must be complete."""
    words = split_words(OPTIONAL.sub("", example))
    texts = [w.text for w in words]
    spec, used = TABLE.lookup(" ".join(texts[:2])) if len(texts) > 1 else None, 2
    if spec is None:
        spec, used = TABLE.lookup(texts[0]), 1
    if spec is None:  # a noun: `wmi`, or a query's subject such as `process notepad.exe state`
        verb_like = len(texts) > 1 and texts[1].isalpha() and texts[1].islower()
        return f"no command '{texts[0]} {texts[1]}'" if verb_like else None
    rest = texts[used:]
    if not rest or spec.noun in DIRECTIVES:
        return None
    if len(rest) == 1 and rest[0].startswith("--"):
        return None if spec.option(rest[0][2:]) else f"no option {rest[0]} on '{spec.name}'"
    if any(PLACEHOLDER.search(word) for word in rest):
        given = [word for word in rest if not word.startswith("--")]
        needed = [arg for arg in spec.args if not arg.optional]
        return None if len(given) >= len(needed) else f"'{spec.name}' needs {spec.usage}"
    try:
        parse_words(words, TABLE)
    except KmsError as error:
        return error.message
    return None


def test_every_command_the_readme_shows_in_backquotes_exists_with_the_arguments_it_needs():
    commands = TABLE.words()
    examples = [example for span in _spans() for example in _alternatives(span)
                if example.split() and example.split()[0] in commands]
    assert len(examples) > 100, "the README shows fewer commands than expected: is the parse off?"
    problems = {example: _problem(example) for example in examples}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_readme_session_transcript_is_what_kmshell_prints(tmp_path):
    block = README.split("## A session", 1)[1].split("```", 2)[1]
    lines = block.splitlines()[2:]  # after "```" and "$ kmshell"
    typed = [line.split("> ", 1)[1] for line in lines if line.startswith("kmshell")]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "HOME": str(tmp_path),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "kmshell"], input="\n".join(typed) + "\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
                          check=False)
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    shown = [line.rstrip() for line in lines if "..." not in line]
    position = 0
    for line in shown:  # in order; the README may leave lines out ("...")
        assert line in printed[position:], f"README shows a line kmshell does not print:\n{line}"
        position = printed.index(line, position) + 1
    assert len(shown) > 40
