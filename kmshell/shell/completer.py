"""Tab completion from the command table and the live model (PIDs, names, object paths).

The menu shows each command's one-line help beside it (display_meta), as pgcli shows its
special commands'. Command words, verbs, options and fixed choices also match fuzzily, as
prompt_toolkit's FuzzyCompleter does (the letters in order: `dvc` finds `device`),
after every word that starts with what was typed. `driver load` offers the catalog and .toml
files, `device plug` the driver store's hardware IDs, `replay` the bundled scenarios and
.kms files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

from prompt_toolkit.completion import Completer, Completion

from kmshell.commands import TABLE
from kmshell.commands.names import live_meta, live_values
from kmshell.drivers import catalog
from kmshell.errors import KmsError
from kmshell.language import split_words
from kmshell.language.spec import COMPONENTS, CommandSpec, Kind

MAX_FILES = 200  # entries of one folder offered: a folder of thousands is not read whole


@dataclass(frozen=True)
class Choice:
    value: str
    meta: str = ""  # shown beside the value in the menu


def _words(text: str) -> list[str]:
    try:
        return [w.text for w in split_words(text)]
    except KmsError:  # an open quote: complete on plain whitespace words
        return text.split()


def _first_words() -> list[Choice]:
    """Every word a line may start with, and what it does: a one-word command's help, a
    noun's verbs, an alias's command."""
    nouns = TABLE.nouns()
    choices = []
    for word in TABLE.words():
        spec = TABLE.lookup(word)
        if spec is not None and spec.name != word:  # an alias: ps, !irp, exit
            choices.append(Choice(word, f"{spec.name}: {spec.help}"))
        elif spec is not None:
            choices.append(Choice(word, spec.help))
        else:
            choices.append(Choice(word, " · ".join(s.name.split()[1] for s in nouns[word])))
    return choices


def _help_words() -> list[Choice]:
    """What `help` takes: a first word, a component, all, or a whole command."""
    return (_first_words()
            + [Choice(name, description) for name, description in COMPONENTS.items()]
            + [Choice("all", "every command and what it does")]
            + [Choice(s.name, s.help) for s in TABLE.specs if " " in s.name])


def file_names(current: str, suffix: str) -> list[Choice]:
    """Paths that go on from `current`: folders (to go on into, ending in /) and the files
    whose name ends in `suffix`. Dot files only when their name is begun."""
    cut = current.rfind("/") + 1
    folder, start = current[:cut], current[cut:]
    try:
        with os.scandir(folder or ".") as entries:
            found = sorted((e for e in entries if e.name.startswith(start)),
                           key=lambda e: e.name)[:MAX_FILES]
        names = []
        for entry in found:
            if entry.name.startswith(".") and not start.startswith("."):
                continue
            if entry.is_dir():
                names.append(Choice(folder + entry.name + "/", "folder"))
            elif entry.name.lower().endswith(suffix):
                names.append(Choice(folder + entry.name))
        return names
    except (OSError, ValueError):  # no such folder, no permission, a NUL in the name
        return []


def catalog_drivers(system) -> list[Choice]:
    """The built-in catalog and the packages installed since, each with its description, by
    the name its spec gives (HidUsb, as the trace and \\Driver show it; files are lowercase)."""
    specs = {spec.name.lower(): spec for spec in system.pnp.driver_store}
    return [Choice(specs[name].name, specs[name].description) if name in specs else Choice(name)
            for name in catalog()]


def hardware_ids(system) -> list[Choice]:
    """Every hardware ID of the driver store, with the drivers that serve it: what `device
    plug` builds a stack for (any other ID gets a devnode with no driver, Code 28)."""
    served: dict[str, list[str]] = {}
    for spec in system.pnp.driver_store:
        for hwid in spec.hardware_ids:
            served.setdefault(hwid, []).append(spec.name)
    return [Choice(hwid, ", ".join(names)) for hwid, names in sorted(served.items())]


@cache
def bundled_scenarios() -> tuple[Choice, ...]:
    """The curriculum's names and titles, read once: the files ship with kmshell."""
    from kmshell.scenario import catalog  # at the first Tab, not before the first prompt

    return tuple(Choice(path.stem, title) for path, title in catalog.bundled(TABLE))


def _matches(current: str, choices: list[Choice], fuzzy: bool) -> list[Choice]:
    """Those that start with `current` (any case), in their order; then, for `fuzzy`, those
    that hold its letters in order, the tightest match first (prompt_toolkit's
    FuzzyCompleter ranks by where the match starts and how long it is)."""
    typed = current.lower()
    first = [c for c in choices if c.value.lower().startswith(typed)]
    if not fuzzy or not typed:
        return first
    pattern = re.compile(".*?".join(map(re.escape, typed)))
    ranked = []
    for order, choice in enumerate(choices):
        if choice in first:
            continue
        found = pattern.search(choice.value.lower())
        if found:
            ranked.append((found.start(), found.end() - found.start(), order, choice))
    return first + [choice for *_, choice in sorted(ranked, key=lambda r: r[:3])]


class CommandCompleter(Completer):
    def __init__(self, session):
        self.session = session
        self.windbg = False  # completing a `!` command: its numbers are hex

    def _kind_values(self, kind: Kind, current: str) -> tuple[list[Choice], bool]:
        """What may go where a value of `kind` goes, and whether it may match fuzzily (fixed
        words may; names, numbers and paths of the model only by their start)."""
        system = self.session.system
        if isinstance(kind.complete, tuple):
            return [Choice(value) for value in kind.complete], True
        if kind.complete == "command":
            return _help_words(), True
        if kind.complete == "driver spec":
            return catalog_drivers(system) + file_names(current, ".toml"), False
        if kind.complete == "hardware id":
            return hardware_ids(system), False
        if kind.complete == "scenario":
            return list(bundled_scenarios()) + file_names(current, ".kms"), False
        meta = live_meta(system, kind, self.windbg)
        return [Choice(value, meta.get(value, "")) for value in live_values(system, kind,
                                                                             self.windbg)], False

    def _options(self, spec: CommandSpec) -> tuple[list[Choice], bool]:
        return [Choice(f"--{o.name}", o.help) for o in spec.options], True

    def candidates(self, text: str) -> tuple[str, list[Choice], bool]:
        """The word being completed, what may go there, and whether it matches fuzzily."""
        words = _words(text)
        current = "" if not words or text[-1:].isspace() else words.pop()
        if not words:
            return current, _first_words(), True
        first = words[0].lower()
        self.windbg = first.startswith("!")
        if len(words) == 1 and first in TABLE.nouns():
            return current, [Choice(s.name.split()[1], s.help) for s in TABLE.nouns()[first]], \
                True
        spec = TABLE.lookup(" ".join(words[:2])) if len(words) >= 2 else None
        used = 2 if spec else 1
        spec = spec or TABLE.lookup(first)
        if spec is None:
            return current, [], False
        rest = words[used:]
        if current.startswith("-"):
            return (current, *self._options(spec))
        if rest and rest[-1].startswith("--"):
            option = spec.option(rest[-1][2:])
            if option is not None and option.kind is not None:
                return (current, *self._kind_values(option.kind, current))
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
            return (current, *self._kind_values(args[positional].kind, current))
        if args and args[-1].rest:
            return (current, *self._kind_values(args[-1].kind, current))
        return (current, *self._options(spec))

    def get_completions(self, document, complete_event):
        current, choices, fuzzy = self.candidates(document.text_before_cursor)
        seen = set()
        for choice in _matches(current, choices, fuzzy):
            if choice.value not in seen:
                seen.add(choice.value)
                shown = f'"{choice.value}"' if " " in choice.value else choice.value
                yield Completion(shown, start_position=-len(current), display_meta=choice.meta)
